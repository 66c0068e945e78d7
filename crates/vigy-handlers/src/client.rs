//! One HTTP/1.1 exchange on a connection of its own: TCP, or TLS by rustls
//! on ring. Redirects are never followed (a `3xx` is a reply like any
//! other), and of the body only an excerpt is read.
//!
//! hyper directly rather than reqwest: the workspace's reqwest has no TLS,
//! and turning on its `rustls-no-provider` would make every other reqwest
//! client in the same binary panic unless a process-wide crypto provider
//! were installed; its `rustls` brings a second crypto library (aws-lc).
//! This is the same hyper-over-tokio-rustls vigy-server is tested with.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HOST, HeaderName, HeaderValue, LOCATION, USER_AGENT};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use url::{Host, Position, Url};
use vigy_runtime::ActionError;

use crate::excerpt::Excerpt;

/// A request to send.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) body: Excerpt,
}

impl Reply {
    /// `200 OK`.
    pub(crate) fn status_line(&self) -> String {
        let code = self.status.as_u16();
        match self.status.canonical_reason() {
            Some(reason) => format!("{code} {reason}"),
            None => code.to_string(),
        }
    }

    /// `{"status", "body", "truncated"}`, plus `location` on a redirect.
    pub(crate) fn output(&self) -> serde_json::Value {
        let mut output = serde_json::json!({
            "status": self.status.as_u16(),
            "body": self.body.text(),
            "truncated": self.body.is_truncated(),
        });
        if let (Some(location), Some(map)) = (&self.location, output.as_object_mut()) {
            map.insert("location".to_owned(), location.clone().into());
        }
        output
    }

    /// A reply that did not carry the action out, as the error it is:
    /// `429` and `5xx` may pass, anything else will not.
    pub(crate) fn into_error(self, message: String) -> ActionError {
        let output = self.output();
        let error = if self.status == StatusCode::TOO_MANY_REQUESTS || self.status.is_server_error() {
            ActionError::retryable(message)
        } else {
            ActionError::permanent(message)
        };
        error.with_output(output)
    }
}

/// The certificates a TLS connection is checked against: the web's roots
/// (webpki-roots, Mozilla's list), plus those in `ca_file` (PEM) if given.
pub(crate) fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("ca_file: cannot read {shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("ca_file: {shown} holds no certificate"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("ca_file: {shown}: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Send `request` and read the head and up to an excerpt of the body, all
/// within `timeout`. A body still arriving when time runs out is recorded
/// as far as it came (`truncated`): the reply was already given. Failing
/// to reach the server or to get a reply in time is a retryable error.
pub(crate) async fn send(request: Outgoing, tls: &Arc<ClientConfig>, timeout: Duration) -> Result<Reply, ActionError> {
    let deadline = Instant::now() + timeout;
    let shown = request.url[..Position::AfterPath].to_owned();
    let late = || format!("no reply within {}", crate::config::shown(timeout));
    let stream = match tokio::time::timeout_at(deadline, connect(&request.url, tls)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(ActionError::retryable(format!("{shown}: {error}"))),
        Err(_) => return Err(ActionError::retryable(format!("{shown}: {}", late()))),
    };
    let reply = match stream {
        Stream::Plain(tcp) => over(tcp, request, deadline).await,
        Stream::Tls(tls) => over(*tls, request, deadline).await,
    };
    reply.map_err(|error| ActionError::retryable(format!("{shown}: {}", error.unwrap_or_else(late))))
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn connect(url: &Url, tls: &Arc<ClientConfig>) -> Result<Stream, String> {
    let port = url.port_or_known_default().ok_or("no port")?;
    let tcp = match url.host() {
        Some(Host::Domain(name)) => TcpStream::connect((name, port)).await,
        Some(Host::Ipv4(ip)) => TcpStream::connect((ip, port)).await,
        Some(Host::Ipv6(ip)) => TcpStream::connect((ip, port)).await,
        None => return Err("no host".to_owned()),
    }
    .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if url.scheme() != "https" {
        return Ok(Stream::Plain(tcp));
    }
    let name = match url.host() {
        Some(Host::Domain(name)) => ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?,
        Some(Host::Ipv4(ip)) => ServerName::IpAddress(std::net::IpAddr::V4(ip).into()),
        Some(Host::Ipv6(ip)) => ServerName::IpAddress(std::net::IpAddr::V6(ip).into()),
        None => return Err("no host".to_owned()),
    };
    let stream =
        tokio_rustls::TlsConnector::from(Arc::clone(tls)).connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// Aborts the connection's task when the exchange is over, however it ends.
struct Connection(tokio::task::JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The exchange on a connected stream; `Err(None)` when the head did not
/// come by `deadline`.
async fn over<S>(io: S, request: Outgoing, deadline: Instant) -> Result<Reply, Option<String>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| Some(e.to_string());
    let (mut sender, connection) =
        tokio::time::timeout_at(deadline, hyper::client::conn::http1::handshake(TokioIo::new(io)))
            .await
            .map_err(|_| None)?
            .map_err(failed)?;
    let _connection = Connection(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let url = &request.url;
    let target = &url[Position::BeforePath..Position::AfterQuery];
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut builder = hyper::Request::builder()
        .method(request.method.clone())
        .uri(target)
        .header(HOST, host)
        .header(USER_AGENT, concat!("vigy/", env!("CARGO_PKG_VERSION")));
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let outgoing = builder.body(Full::new(request.body)).map_err(|e| Some(e.to_string()))?;
    let response =
        tokio::time::timeout_at(deadline, sender.send_request(outgoing)).await.map_err(|_| None)?.map_err(failed)?;
    let status = response.status();
    let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut body = response.into_body();
    let mut excerpt = Excerpt::default();
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && !excerpt.push(data)
                {
                    break;
                }
            }
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => {
                excerpt.cut_short();
                break;
            }
        }
    }
    Ok(Reply { status, location, body: excerpt })
}
