//! Who may talk to the server at all, checked in front of every route
//! (before tokens, so a probe from a web page learns nothing):
//!
//! - **Host.** Only names the server knows it is reached by: `localhost`,
//!   `127.0.0.1` and `[::1]` on any port, plus each allowed host (the bind
//!   address, `--public-host`; `name` for any port, `name:port` for one).
//!   Anything else is 421: a DNS-rebinding page reaches a loopback server
//!   under its own name, and only this check sees that.
//! - **Origin.** A request carrying an `Origin` must come from the server's
//!   own origin (the scheme, host and port of its `Host`) or one listed with
//!   `--allow-origin`; else 403. `null` is never trusted. Browsers send
//!   `Origin` on every cross-origin request that could change state (POST,
//!   form posts, `fetch` in cors mode, WebSocket handshakes), so a page on
//!   another origin can neither call vigy nor open a subscription. gRPC and
//!   other non-browser clients send none and pass. The rule is the same on
//!   every path and method, which also gives MCP the `Origin` check its
//!   spec requires.
//!
//! No response carries CORS headers: vigy is not meant to be called from
//! other origins' pages; `--allow-origin` lets a trusted front end through
//! this check (its own CORS handling stays its own).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::uri::Authority;
use axum::http::{StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

/// Loopback names every server answers to, on any port.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The hosts and origins a server accepts.
#[derive(Debug, Clone)]
pub struct Allowed {
    hosts: Vec<HostRule>,
    origins: Vec<Origin>,
}

/// Why an allow-list entry was refused at startup.
#[derive(Debug, thiserror::Error)]
pub enum AllowedError {
    /// Not `name` or `name:port`.
    #[error("`{0}` is not a host name or host:port")]
    Host(String),
    /// Not `scheme://host[:port]`, or an untrusted one (`null`, `*`).
    #[error("`{0}` is not an origin (scheme://host[:port]; `null` and `*` are never allowed)")]
    Origin(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    name: String,
    /// `None`: any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    name: String,
    /// Explicit, or the scheme's default.
    port: Option<u16>,
}

impl Allowed {
    /// Loopback names plus `hosts` (`name` or `name:port`), and `origins`
    /// (`scheme://host[:port]`) besides the server's own.
    pub fn new(hosts: &[String], origins: &[String]) -> Result<Self, AllowedError> {
        let mut rules: Vec<HostRule> = LOOPBACK.iter().map(|n| HostRule { name: (*n).into(), port: None }).collect();
        for host in hosts {
            let (name, port) = authority(host).ok_or_else(|| AllowedError::Host(host.clone()))?;
            rules.push(HostRule { name, port });
        }
        let origins = origins
            .iter()
            .map(|o| parse_origin(o).ok_or_else(|| AllowedError::Origin(o.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Self { hosts: rules, origins })
    }

    /// The host list in rmcp's terms (`name` or `name:port`), so `/mcp`
    /// checks the very same list.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| match h.port {
                Some(port) if h.name.contains(':') => format!("[{}]:{port}", h.name),
                Some(port) => format!("{}:{port}", h.name),
                None => h.name.clone(),
            })
            .collect()
    }

    fn host_allowed(&self, host: &str) -> bool {
        authority(host).is_some_and(|(name, port)| {
            self.hosts.iter().any(|rule| rule.name == name && rule.port.is_none_or(|p| Some(p) == port))
        })
    }

    /// Same origin as `host` (the request's own, already allowed), or listed.
    fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let Some(origin) = parse_origin(origin) else { return false };
        let own = authority(host).is_some_and(|(name, port)| {
            // A `Host` without a port (a proxy in front) matches the
            // origin's default port, whatever the scheme.
            name == origin.name
                && (port.is_none() && origin.port == default_port(&origin.scheme) || port == origin.port)
        });
        own || self.origins.contains(&origin)
    }
}

/// `host[:port]`, lowercased, brackets and a trailing dot removed.
fn authority(value: &str) -> Option<(String, Option<u16>)> {
    let parsed: Authority = value.trim().parse().ok()?;
    if parsed.as_str().contains('@') || parsed.host().is_empty() {
        return None;
    }
    let name = parsed.host().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    Some((name, parsed.port_u16()))
}

fn parse_origin(value: &str) -> Option<Origin> {
    let uri: Uri = value.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return None;
    }
    let (name, port) = authority(uri.authority()?.as_str())?;
    let port = port.or_else(|| default_port(&scheme));
    Some(Origin { scheme, name, port })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `router` with the Host and Origin rules in front of every route.
pub fn layer(router: axum::Router, allowed: Arc<Allowed>) -> axum::Router {
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let allowed = allowed.clone();
        async move {
            match check(&allowed, &request) {
                Ok(()) => next.run(request).await,
                Err((status, reason)) => refuse(&request, status, &reason),
            }
        }
    }))
}

fn check(allowed: &Allowed, request: &Request) -> Result<(), (StatusCode, String)> {
    // HTTP/1 names the host in `Host`, HTTP/2 in `:authority` (the URI);
    // when both are present both must be allowed.
    let header = request.headers().get(header::HOST).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let uri = request.uri().authority().map(Authority::as_str);
    let Some(host) = header.or(uri) else {
        return Err((StatusCode::BAD_REQUEST, "vigy: a request must name its host".into()));
    };
    for name in [header, uri].into_iter().flatten() {
        if !allowed.host_allowed(name) {
            return Err((
                StatusCode::MISDIRECTED_REQUEST,
                format!("vigy: this server is not served as `{name}` (allowed: loopback names and each --public-host)"),
            ));
        }
    }
    for origin in request.headers().get_all(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("\u{fffd}");
        if !allowed.origin_allowed(origin, host) {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "vigy: requests from the origin `{origin}` are refused (allowed: the server's own and each --allow-origin)"
                ),
            ));
        }
    }
    Ok(())
}

/// gRPC clients read a status; everyone else plain text.
fn refuse(request: &Request, status: StatusCode, reason: &str) -> Response {
    tracing::info!(%status, reason, "refused a request");
    let is_grpc =
        request.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if is_grpc {
        tonic::Status::permission_denied(reason).into_http::<axum::body::Body>().into_response()
    } else {
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], reason.to_owned()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Allowed {
        Allowed::new(&["vigy.example.com".into(), "10.0.0.7:9000".into()], &["https://ui.example.com".into()]).unwrap()
    }

    #[test]
    fn hosts_should_be_loopback_names_on_any_port_and_the_listed_ones() {
        let a = allowed();
        for ok in ["localhost", "LOCALHOST:1", "127.0.0.1:38821", "[::1]:80", "vigy.example.com.", "10.0.0.7:9000"] {
            assert!(a.host_allowed(ok), "{ok}");
        }
        for refused in ["evil.com", "evil.com:38821", "127.0.0.2", "10.0.0.7:9001", "10.0.0.7", "user@localhost", ""] {
            assert!(!a.host_allowed(refused), "{refused}");
        }
    }

    #[test]
    fn origins_should_be_the_servers_own_or_listed_never_null() {
        let a = allowed();
        assert!(a.origin_allowed("http://127.0.0.1:38821", "127.0.0.1:38821"));
        assert!(a.origin_allowed("https://vigy.example.com", "vigy.example.com"));
        assert!(a.origin_allowed("https://ui.example.com:443", "127.0.0.1:38821"));
        for refused in ["http://127.0.0.1:9999", "http://localhost:38821", "null", "*", "http://127.0.0.1:38821/x"] {
            assert!(!a.origin_allowed(refused, "127.0.0.1:38821"), "{refused}");
        }
        assert!(Allowed::new(&[], &["null".into()]).is_err());
        assert!(Allowed::new(&[], &["*".into()]).is_err());
    }
}
