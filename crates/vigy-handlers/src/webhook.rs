//! `webhook`: POST each action of the configured kinds, as JSON, to one
//! URL; the receiver decides what to do with it.
//!
//! ```toml
//! [webhook]
//! url = "https://hooks.example.com/vigy"
//! kinds = ["push", "deploy"]     # or ["*"]: every kind without a handler of its own
//! headers = { Authorization = "Bearer …" }
//! ```
//!
//! The body is `{"kind", "payload", "vigy_id", "vigy_name", "labels",
//! "run_id", "tick", "index", "idempotency_key", "attempt"}`, sent with
//! `Idempotency-Key`. `2xx` is done; `429`, `5xx`, no connection or no
//! reply in time are retried; anything else (a redirect too: it is not
//! followed) fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde::Deserialize;
use tokio_rustls::rustls::ClientConfig;
use url::Url;
use vigy_runtime::actions::HandlerFuture;
use vigy_runtime::{ActionCall, ActionError, ActionHandler, Handled, HandlerOptions};

use crate::client::{self, Outgoing};
use crate::config::{self, Concurrency, Retry, Wait};
use crate::http::idempotency_key;

/// The `[webhook]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    url: Target,
    kinds: Vec<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Connect, send and receive the head; default 10 s.
    timeout: Option<Wait>,
    /// Posts at once; default 16.
    concurrency: Option<Concurrency>,
    #[serde(default)]
    retry: Retry,
    /// Extra CA certificates (PEM) to trust besides the web's roots.
    ca_file: Option<PathBuf>,
}

/// The receiver's URL.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct Target(Url);

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let url = Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("`{text}`: a webhook is an http:// or https:// URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{text}`: put credentials in `headers`, not in the URL"));
        }
        Ok(Self(url))
    }
}

/// The webhook. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WebhookHandler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: Url,
    /// `None`: the fallback, for every kind without a handler.
    kinds: Option<Vec<String>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    tls: Arc<ClientConfig>,
    options: HandlerOptions,
}

impl WebhookHandler {
    pub(crate) fn from_settings(settings: Settings) -> Result<Self, String> {
        let kinds = match settings.kinds.as_slice() {
            [] => return Err("[webhook] kinds: name at least one kind, or \"*\"".to_owned()),
            [star] if star == "*" => None,
            kinds => {
                for kind in kinds {
                    match kind.as_str() {
                        "*" => return Err("[webhook] kinds: \"*\" stands alone".to_owned()),
                        "" => return Err("[webhook] kinds: a kind is not empty".to_owned()),
                        "noop" => return Err("[webhook] kinds: `noop` actions are never handed out".to_owned()),
                        _ => {}
                    }
                }
                Some(kinds.to_vec())
            }
        };
        let mut headers = Vec::with_capacity(settings.headers.len());
        for (name, value) in &settings.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("[webhook] headers: `{name}` is not a header name"))?;
            if matches!(header.as_str(), "host" | "content-length" | "transfer-encoding" | "idempotency-key") {
                return Err(format!("[webhook] headers: `{name}` is set by vigy"));
            }
            let mut value =
                HeaderValue::from_str(value).map_err(|_| format!("[webhook] headers: `{name}` has a bad value"))?;
            value.set_sensitive(true);
            headers.push((header, value));
        }
        let timeout = settings.timeout.map_or(Duration::from_secs(10), |w| w.0);
        let concurrency = settings.concurrency.map_or(16, |c| c.0);
        let tls = client::tls_config(settings.ca_file.as_deref()).map_err(|e| format!("[webhook] {e}"))?;
        let options = config::options(timeout, Duration::from_secs(1), concurrency, settings.retry);
        let inner = Inner { url: settings.url.0, kinds, headers, timeout, tls, options };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The kinds it takes, or `None` for every kind without a handler.
    pub fn kinds(&self) -> Option<&[String]> {
        self.inner.kinds.as_deref()
    }

    /// How the runtime runs it: the deadline is its timeout plus 1 s.
    pub fn options(&self) -> &HandlerOptions {
        &self.inner.options
    }
}

impl ActionHandler for WebhookHandler {
    fn handle(&self, call: ActionCall) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.handle(call).await })
    }
}

impl Inner {
    async fn handle(&self, call: ActionCall) -> Result<Handled, ActionError> {
        let key = idempotency_key(&call.idempotency_key)?;
        let body = envelope(call).to_string();
        let mut headers = self.headers.clone();
        headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        headers.push(key);
        let request = Outgoing { method: Method::POST, url: self.url.clone(), headers, body: Bytes::from(body) };
        let reply = client::send(request, &self.tls, self.timeout).await?;
        let message = reply.status_line();
        if reply.status.is_success() {
            let output = reply.output();
            Ok(Handled::ok().with_message(message).with_output(output))
        } else {
            Err(reply.into_error(message))
        }
    }
}

/// The action as the receiver gets it.
fn envelope(call: ActionCall) -> serde_json::Value {
    serde_json::json!({
        "kind": call.kind.as_str(),
        "payload": call.payload,
        "vigy_id": call.vigy_id.to_string(),
        "vigy_name": call.vigy_name,
        "labels": serde_json::to_value(&call.labels).unwrap_or_default(),
        "run_id": call.run_id,
        "tick": call.tick,
        "index": call.index,
        "idempotency_key": call.idempotency_key,
        "attempt": call.attempt,
    })
}
