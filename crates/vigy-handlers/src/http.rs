//! `http`: one HTTP request per action, to URLs under an allowed prefix
//! with an allowed method.
//!
//! ```toml
//! [http]
//! timeout = "10s"
//! [[http.allow]]
//! prefix = "http://127.0.0.1:8080/api/"   # a trailing `/`: everything under it
//! methods = ["GET", "POST"]
//! ```
//!
//! Payload: `{"method": "POST", "url": "…", "headers": {…}, "body": "text" or JSON}`
//! (`method` defaults to `GET`). The URL is parsed and normalised first
//! (WHATWG: `..` resolved, host lower-cased, default port dropped), then
//! compared with each prefix by scheme, host, port and path: a prefix
//! ending in `/` allows every path under it, any other allows that one
//! path exactly (`/api` allows `/api?x=1`, not `/apiary` nor `/api/x`).
//! URLs with a user name or password, or with an encoded `/` or `\` in
//! the path (which a server may decode into a traversal), are refused.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value as Json;
use tokio_rustls::rustls::ClientConfig;
use url::Url;
use vigy_runtime::actions::HandlerFuture;
use vigy_runtime::{ActionCall, ActionError, ActionHandler, Handled, HandlerOptions};

use crate::client::{self, Outgoing};
use crate::config::{self, Concurrency, Retry, Wait};

/// The action kind this handler takes.
pub(crate) const KIND: &str = "http";

/// The `[http]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// Connect, send and receive the head; default 10 s.
    timeout: Option<Wait>,
    /// Requests at once; default 16.
    concurrency: Option<Concurrency>,
    #[serde(default)]
    retry: Retry,
    /// Extra CA certificates (PEM) to trust besides the web's roots.
    ca_file: Option<PathBuf>,
    allow: Vec<Rule>,
}

/// One `[[http.allow]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    prefix: Prefix,
    methods: Vec<MethodName>,
}

/// An allowed URL prefix, parsed as any request URL is.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct Prefix(Url);

impl TryFrom<String> for Prefix {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let url = Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{text}`: a prefix is an http:// or https:// URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{text}`: a prefix carries no user name or password"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{text}`: a prefix has no query or fragment"));
        }
        if url.host().is_none() {
            return Err(format!("`{text}`: a prefix names a host"));
        }
        Ok(Self(url))
    }
}

impl Prefix {
    fn covers(&self, url: &Url) -> bool {
        let prefix = &self.0;
        if prefix.scheme() != url.scheme()
            || prefix.host_str() != url.host_str()
            || prefix.port_or_known_default() != url.port_or_known_default()
        {
            return false;
        }
        let path = prefix.path();
        if path.ends_with('/') { url.path().starts_with(path) } else { url.path() == path }
    }
}

/// An HTTP method, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
struct MethodName(Method);

impl TryFrom<String> for MethodName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Method::from_bytes(text.to_ascii_uppercase().as_bytes())
            .map(Self)
            .map_err(|_| format!("`{text}` is not an HTTP method"))
    }
}

/// What a program asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<Json>,
}

fn get() -> String {
    "GET".to_owned()
}

/// Headers a program may not set: vigy sets them (`Host` from the URL,
/// framing from the body, the idempotency key from the action), and
/// hop-by-hop ones would let a request be smuggled past the allow-list.
const REFUSED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "idempotency-key",
];

/// The `http` handler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpHandler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: Vec<Rule>,
    timeout: Duration,
    tls: Arc<ClientConfig>,
    options: HandlerOptions,
}

impl HttpHandler {
    pub(crate) fn from_settings(settings: Settings) -> Result<Self, String> {
        let timeout = settings.timeout.map_or(Duration::from_secs(10), |w| w.0);
        let concurrency = settings.concurrency.map_or(16, |c| c.0);
        let tls = client::tls_config(settings.ca_file.as_deref()).map_err(|e| format!("[http] {e}"))?;
        let options = config::options(timeout, Duration::from_secs(1), concurrency, settings.retry);
        Ok(Self { inner: Arc::new(Inner { rules: settings.allow, timeout, tls, options }) })
    }

    /// How the runtime runs it: the deadline is its timeout plus 1 s.
    pub fn options(&self) -> &HandlerOptions {
        &self.inner.options
    }
}

impl ActionHandler for HttpHandler {
    fn handle(&self, call: ActionCall) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.handle(call).await })
    }
}

impl Inner {
    async fn handle(&self, call: ActionCall) -> Result<Handled, ActionError> {
        let payload: Payload = serde_json::from_value(call.payload)
            .map_err(|e| ActionError::permanent(format!("bad http payload: {e}")))?;
        let url = Url::parse(&payload.url)
            .map_err(|e| ActionError::permanent(format!("bad http payload: `{}` is not a URL: {e}", payload.url)))?;
        let method = Method::from_bytes(payload.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| ActionError::permanent(format!("bad http payload: `{}` is not a method", payload.method)))?;
        if let Err(reason) = self.allows(&method, &url) {
            return Ok(Handled::skipped(format!("not allowed: {reason}")));
        }
        let mut headers = Vec::with_capacity(payload.headers.len() + 2);
        for (name, value) in &payload.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ActionError::permanent(format!("bad http payload: `{name}` is not a header name")))?;
            if REFUSED_HEADERS.contains(&header.as_str()) {
                return Ok(Handled::skipped(format!("not allowed: header `{name}` is set by vigy")));
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| ActionError::permanent(format!("bad http payload: header `{name}` has a bad value")))?;
            headers.push((header, value));
        }
        let body = match payload.body {
            None | Some(Json::Null) => Bytes::new(),
            Some(Json::String(text)) => Bytes::from(text),
            Some(json) => {
                if !headers.iter().any(|(name, _)| name == CONTENT_TYPE) {
                    headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
                }
                Bytes::from(json.to_string())
            }
        };
        headers.push(idempotency_key(&call.idempotency_key)?);
        let reply = client::send(Outgoing { method, url, headers, body }, &self.tls, self.timeout).await?;
        let mut message = reply.status_line();
        if reply.status.is_redirection() {
            message.push_str(" (redirect not followed)");
        }
        if reply.status.is_success() || reply.status.is_redirection() {
            let output = reply.output();
            Ok(Handled::ok().with_message(message).with_output(output))
        } else {
            Err(reply.into_error(message))
        }
    }

    /// Why `method url` is not allowed, if it is not.
    fn allows(&self, method: &Method, url: &Url) -> Result<(), String> {
        let shown = &url[..url::Position::AfterPath];
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{shown} carries a user name or password"));
        }
        let path = url.path().to_ascii_lowercase();
        if path.contains("%2f") || path.contains("%5c") {
            return Err(format!("{shown} has an encoded `/` or `\\` in its path"));
        }
        let covering: Vec<&Rule> = self.rules.iter().filter(|rule| rule.prefix.covers(url)).collect();
        if covering.is_empty() {
            return Err(format!("{shown} is under no allowed prefix"));
        }
        if covering.iter().any(|rule| rule.methods.iter().any(|m| m.0 == *method)) {
            return Ok(());
        }
        let mut methods: Vec<&str> = covering.iter().flat_map(|r| r.methods.iter().map(|m| m.0.as_str())).collect();
        methods.sort_unstable();
        methods.dedup();
        Err(format!("method {method} for {shown} (allowed there: {})", methods.join(", ")))
    }
}

/// `Idempotency-Key: RUN_ID:INDEX`, the same on every attempt.
pub(crate) fn idempotency_key(key: &str) -> Result<(HeaderName, HeaderValue), ActionError> {
    let value = HeaderValue::from_str(key)
        .map_err(|_| ActionError::permanent(format!("idempotency key `{key}` is not a header value")))?;
    Ok((HeaderName::from_static("idempotency-key"), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(prefix: &str, methods: &[&str]) -> Inner {
        let rule = Rule {
            prefix: Prefix::try_from(prefix.to_owned()).unwrap(),
            methods: methods.iter().map(|m| MethodName::try_from((*m).to_owned()).unwrap()).collect(),
        };
        let tls = client::tls_config(None).unwrap();
        Inner { rules: vec![rule], timeout: Duration::from_secs(1), tls, options: HandlerOptions::default() }
    }

    fn allowed(inner: &Inner, method: &str, url: &str) -> bool {
        inner.allows(&Method::from_bytes(method.as_bytes()).unwrap(), &Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn a_prefix_ending_in_a_slash_should_allow_every_path_under_it_and_no_other() {
        let h = handler("http://127.0.0.1:8080/api/", &["GET"]);
        assert!(allowed(&h, "GET", "http://127.0.0.1:8080/api/"));
        assert!(allowed(&h, "GET", "http://127.0.0.1:8080/api/a/b?c=d"));
        assert!(allowed(&h, "GET", "HTTP://127.0.0.1:8080/api/x"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/api"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/apiary"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8081/api/x"));
        assert!(!allowed(&h, "GET", "https://127.0.0.1:8080/api/x"));
        assert!(!allowed(&h, "GET", "http://localhost:8080/api/x"));
    }

    #[test]
    fn a_prefix_without_a_trailing_slash_should_allow_that_path_only() {
        let h = handler("http://127.0.0.1:8080/api", &["GET"]);
        assert!(allowed(&h, "GET", "http://127.0.0.1:8080/api"));
        assert!(allowed(&h, "GET", "http://127.0.0.1:8080/api?x=1"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/apiary"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/api/x"));
    }

    #[test]
    fn a_bare_origin_should_allow_the_whole_origin() {
        let h = handler("https://Example.COM:443", &["GET"]);
        assert!(allowed(&h, "GET", "https://example.com/anything"));
        assert!(!allowed(&h, "GET", "https://example.com.evil.net/"));
    }

    #[test]
    fn traversal_and_encoding_tricks_should_not_leave_a_prefix() {
        let h = handler("http://127.0.0.1:8080/api/", &["GET"]);
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/api/../admin"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/api/%2e%2e/admin"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/api/.%2E/admin"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/api\\..\\admin"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/api/..%2fadmin"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080/api/..%5Cadmin"));
        assert!(!allowed(&h, "GET", "http://evil@127.0.0.1:8080/api/x"));
        assert!(!allowed(&h, "GET", "http://u:p@127.0.0.1:8080/api/x"));
        assert!(!allowed(&h, "GET", "http://127.0.0.1:8080@evil.net/api/x"));
        // The same address written another way is the same address.
        assert!(allowed(&h, "GET", "http://2130706433:8080/api/x"));
    }

    #[test]
    fn methods_should_be_compared_upper_cased() {
        let h = handler("http://h/", &["get", "POST"]);
        assert!(allowed(&h, "GET", "http://h/x"));
        assert!(allowed(&h, "POST", "http://h/x"));
        assert!(!allowed(&h, "DELETE", "http://h/x"));
    }
}
