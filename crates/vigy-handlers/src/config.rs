//! The config file (TOML): which handlers are on and what each may do.
//! Everything is checked while it is read, so a server never starts with a
//! handler it would later refuse to run; an error is one line naming the
//! file, the place and the key.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use vigy_runtime::{HandlerOptions, RetryPolicy};

use crate::exec::{self, ExecHandler};
use crate::http::{self, HttpHandler};
use crate::webhook::{self, WebhookHandler};

/// The handlers a config file turns on, built and ready to install with
/// [`crate::install`].
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub(crate) http: Option<HttpHandler>,
    pub(crate) exec: Option<ExecHandler>,
    pub(crate) webhook: Option<WebhookHandler>,
}

/// Why a config file was refused: `FILE:LINE:COLUMN: what`, one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The file as written. Unknown keys are refused everywhere: a misspelt
/// key must not silently leave a handler more open (or shut) than meant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    http: Option<http::Settings>,
    exec: Option<exec::Settings>,
    webhook: Option<webhook::Settings>,
}

impl Config {
    /// Read and check the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{origin}: cannot read it: {e}")))?;
        Self::from_toml(&text, &origin)
    }

    /// Check `text`, naming it `origin` in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError(locate(origin, text, &e)))?;
        let fail = |message: String| ConfigError(format!("{origin}: {message}"));
        let http = file.http.map(HttpHandler::from_settings).transpose().map_err(fail)?;
        let exec = file.exec.map(ExecHandler::from_settings).transpose().map_err(fail)?;
        let webhook = file.webhook.map(WebhookHandler::from_settings).transpose().map_err(fail)?;
        if let Some(kinds) = webhook.as_ref().and_then(WebhookHandler::kinds) {
            let taken = [(http::KIND, http.is_some()), (exec::KIND, exec.is_some())];
            for (kind, on) in taken {
                if on && kinds.iter().any(|k| k == kind) {
                    return Err(fail(format!("[webhook] kinds: `{kind}` is carried out by [{kind}] already")));
                }
            }
        }
        Ok(Self { http, exec, webhook })
    }

    /// The `http` handler, if the file turns it on.
    pub fn http(&self) -> Option<&HttpHandler> {
        self.http.as_ref()
    }

    /// The `exec` handler, if the file turns it on.
    pub fn exec(&self) -> Option<&ExecHandler> {
        self.exec.as_ref()
    }

    /// The webhook, if the file turns it on.
    pub fn webhook(&self) -> Option<&WebhookHandler> {
        self.webhook.as_ref()
    }

    /// Whether no handler is on.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.exec.is_none() && self.webhook.is_none()
    }
}

/// `origin:LINE:COL: [section] key: message` from a parse error, one line.
fn locate(origin: &str, text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    let Some(span) = error.span() else { return format!("{origin}: {message}") };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or_default();
    let section = text
        .lines()
        .take(line)
        .map(str::trim)
        .filter(|l| l.starts_with('['))
        .last()
        .and_then(|l| l.split('#').next())
        .map(str::trim);
    let key = line_text.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('['));
    let place = match (section, key) {
        (Some(section), Some(key)) => format!("{section} {key}: "),
        (None, Some(key)) => format!("{key}: "),
        (Some(_), None) if line_text.trim_start().starts_with('[') => String::new(),
        (Some(section), None) => format!("{section}: "),
        (None, None) => String::new(),
    };
    format!("{origin}:{line}:{column}: {place}{message}")
}

/// A duration written `250ms`, `10s` or `2m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Wait(pub(crate) Duration);

impl TryFrom<String> for Wait {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let trimmed = text.trim();
        let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let bad = || format!("`{text}` is not a duration such as 250ms, 10s or 2m");
        let n: u64 = number.parse().map_err(|_| bad())?;
        let duration = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            _ => return Err(bad()),
        };
        if duration.is_zero() {
            return Err(format!("`{text}`: a duration must be more than zero"));
        }
        Ok(Self(duration))
    }
}

/// `retry = { max_attempts = 5, first_delay = "1s", max_delay = "60s" }`:
/// how the runtime retries a handler's retryable failures.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Retry {
    max_attempts: Attempts,
    first_delay: Wait,
    max_delay: Wait,
}

impl Default for Retry {
    fn default() -> Self {
        let policy = RetryPolicy::default();
        Self {
            max_attempts: Attempts(policy.max_attempts),
            first_delay: Wait(policy.first_delay),
            max_delay: Wait(policy.max_delay),
        }
    }
}

/// At least one attempt.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "u32")]
struct Attempts(u32);

impl TryFrom<u32> for Attempts {
    type Error = String;

    fn try_from(n: u32) -> Result<Self, String> {
        if n == 0 { Err("max_attempts is at least 1 (1 = never retry)".to_owned()) } else { Ok(Self(n)) }
    }
}

/// At least one at a time.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "usize")]
pub(crate) struct Concurrency(pub(crate) usize);

impl TryFrom<usize> for Concurrency {
    type Error = String;

    fn try_from(n: usize) -> Result<Self, String> {
        if n == 0 { Err("concurrency is at least 1".to_owned()) } else { Ok(Self(n)) }
    }
}

/// The runtime's options for a handler whose own attempts end by
/// `timeout`: its deadline is that plus `slack`, a backstop that only a
/// handler failing to stop itself ever meets.
pub(crate) fn options(timeout: Duration, slack: Duration, concurrency: usize, retry: Retry) -> HandlerOptions {
    HandlerOptions {
        deadline: timeout + slack,
        concurrency,
        retry: RetryPolicy {
            max_attempts: retry.max_attempts.0,
            first_delay: retry.first_delay.0,
            max_delay: retry.max_delay.0.max(retry.first_delay.0),
        },
    }
}

/// `250ms`, `10s`, `2m`: a duration as the config file writes it.
pub(crate) fn shown(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}
