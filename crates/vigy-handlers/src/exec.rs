//! `exec`: run an allowed program with allowed arguments, directly (never
//! through a shell), bounded in time and in what is kept of its output.
//!
//! ```toml
//! [exec]
//! timeout = "30s"
//! retry_on_exit = [75]            # EX_TEMPFAIL: try again later
//! [[exec.allow]]
//! program = "/usr/bin/touch"      # the exact absolute path the payload must name
//! args = ["/var/lib/app/flags/[a-z0-9-]+"]
//! # rest = "[a-z]+"               # any number of further arguments, each matching
//! ```
//!
//! Payload: `{"program": "/usr/bin/touch", "args": ["…"]}`. Each pattern
//! must match its whole argument (patterns are anchored); without `rest`
//! the arguments are exactly as many as `args` has patterns. A program may
//! be listed more than once, each entry one allowed shape of its arguments.
//!
//! The program starts in `/` with stdin empty and an environment holding
//! only the server's `PATH`, in a process group of its own; at the timeout
//! the whole group is killed. Its stdout and stderr are read to the end
//! (so it never blocks on a full pipe) but only an excerpt of each is kept.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;
use vigy_runtime::actions::HandlerFuture;
use vigy_runtime::{ActionCall, ActionError, ActionHandler, Handled, HandlerOptions};

use crate::config::{self, Concurrency, Retry, Wait};
use crate::excerpt::Excerpt;

/// The action kind this handler takes.
pub(crate) const KIND: &str = "exec";

/// How long output is still read once the program has exited: a process
/// it left behind may hold its pipes open.
const DRAIN: Duration = Duration::from_secs(1);

/// The `[exec]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// Until the program is killed; default 30 s.
    timeout: Option<Wait>,
    /// Programs running at once; default 4.
    concurrency: Option<Concurrency>,
    #[serde(default)]
    retry: Retry,
    /// Exit codes that mean "try again later" rather than "failed".
    #[serde(default)]
    retry_on_exit: Vec<ExitCode>,
    allow: Vec<Rule>,
}

/// One `[[exec.allow]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    program: Program,
    #[serde(default)]
    args: Vec<Pattern>,
    rest: Option<Pattern>,
}

/// An absolute path, compared as written.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct Program(String);

impl TryFrom<String> for Program {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let path = std::path::Path::new(&text);
        if !path.is_absolute() {
            return Err(format!("`{text}`: a program is an absolute path (no search of PATH)"));
        }
        if path.components().any(|c| matches!(c, std::path::Component::ParentDir | std::path::Component::CurDir)) {
            return Err(format!("`{text}`: a program's path has no `.` or `..`"));
        }
        Ok(Self(text))
    }
}

/// A regular expression matching a whole argument.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct Pattern {
    written: String,
    regex: Regex,
}

impl TryFrom<String> for Pattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match Regex::new(&format!("^(?:{text})$")) {
            Ok(regex) => Ok(Self { written: text, regex }),
            Err(error) => Err(format!("`{text}` is not a valid pattern: {}", one_line(&error))),
        }
    }
}

/// The regex crate's own last line (`error: unclosed group`), not its
/// drawing of the pattern.
fn one_line(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().rev().find_map(|l| l.trim().strip_prefix("error: ").map(str::to_owned));
    last.unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// An exit code, 1 to 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
struct ExitCode(i32);

impl TryFrom<i64> for ExitCode {
    type Error = String;

    fn try_from(n: i64) -> Result<Self, String> {
        match i32::try_from(n) {
            Ok(code @ 1..=255) => Ok(Self(code)),
            _ => Err(format!("{n} is not an exit code that means failure (1 to 255)")),
        }
    }
}

impl Rule {
    /// Why `args` is not an allowed shape for this entry, if it is not.
    fn refuses(&self, args: &[String]) -> Option<String> {
        let n = self.args.len();
        if args.len() < n || (args.len() > n && self.rest.is_none()) {
            let wanted = if self.rest.is_some() { format!("at least {n}") } else { n.to_string() };
            return Some(format!("{wanted} arguments, not {}", args.len()));
        }
        for (i, arg) in args.iter().enumerate() {
            let Some(pattern) = self.args.get(i).or(self.rest.as_ref()) else { continue };
            if !pattern.regex.is_match(arg) {
                return Some(format!("argument {} `{}` does not match `{}`", i + 1, clip(arg), pattern.written));
            }
        }
        None
    }
}

/// At most 64 characters of `text`, for a message.
fn clip(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// What a program asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    program: String,
    #[serde(default)]
    args: Vec<String>,
}

/// The `exec` handler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ExecHandler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: Vec<Rule>,
    timeout: Duration,
    retry_on_exit: Vec<ExitCode>,
    path: Option<OsString>,
    options: HandlerOptions,
}

impl ExecHandler {
    pub(crate) fn from_settings(settings: Settings) -> Result<Self, String> {
        let timeout = settings.timeout.map_or(Duration::from_secs(30), |w| w.0);
        let concurrency = settings.concurrency.map_or(4, |c| c.0);
        // The kill and the drain after a timeout fit in the slack.
        let options = config::options(timeout, DRAIN + Duration::from_secs(1), concurrency, settings.retry);
        let inner = Inner {
            rules: settings.allow,
            timeout,
            retry_on_exit: settings.retry_on_exit,
            path: std::env::var_os("PATH"),
            options,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// How the runtime runs it: the deadline is its timeout plus 2 s.
    pub fn options(&self) -> &HandlerOptions {
        &self.inner.options
    }
}

impl ActionHandler for ExecHandler {
    fn handle(&self, call: ActionCall) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.handle(call).await })
    }
}

/// How a run ended.
enum End {
    Exited(ExitStatus),
    TimedOut,
}

impl Inner {
    async fn handle(&self, call: ActionCall) -> Result<Handled, ActionError> {
        let payload: Payload = serde_json::from_value(call.payload)
            .map_err(|e| ActionError::permanent(format!("bad exec payload: {e}")))?;
        if let Err(reason) = self.allows(&payload) {
            return Ok(Handled::skipped(format!("not allowed: {reason}")));
        }
        let mut command = tokio::process::Command::new(&payload.program);
        command
            .args(&payload.args)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(path) = &self.path {
            command.env("PATH", path);
        }
        let mut child =
            command.spawn().map_err(|e| ActionError::permanent(format!("cannot start {}: {e}", payload.program)))?;
        let group = child.id().and_then(|id| rustix::process::Pid::from_raw(i32::try_from(id).ok()?));
        let (mut stdout, mut stderr) = (Excerpt::default(), Excerpt::default());
        let end = {
            let reading = drain(child.stdout.take(), &mut stdout, child.stderr.take(), &mut stderr);
            let waiting = child.wait();
            tokio::pin!(reading, waiting);
            let deadline = Instant::now() + self.timeout;
            let mut until = deadline;
            let mut exited = None;
            let mut read = false;
            loop {
                tokio::select! {
                    status = &mut waiting, if exited.is_none() => {
                        let status = status.map_err(|e| ActionError::retryable(format!("waiting for {}: {e}", payload.program)))?;
                        exited = Some(status);
                        until = until.min(Instant::now() + DRAIN);
                    }
                    () = &mut reading, if !read => read = true,
                    () = tokio::time::sleep_until(until) => break exited.map_or(End::TimedOut, End::Exited),
                }
                if let (Some(status), true) = (exited, read) {
                    break End::Exited(status);
                }
            }
        };
        let status = match end {
            End::Exited(status) => status,
            End::TimedOut => {
                if let Some(group) = group {
                    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
                let _ = child.kill().await;
                let output = report(None, &stdout, &stderr);
                let message = format!("timed out after {}: killed", config::shown(self.timeout));
                return Err(ActionError::retryable(message).with_output(output));
            }
        };
        let output = report(Some(status), &stdout, &stderr);
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(Handled::ok().with_message("exit code 0").with_output(output)),
            (Some(code), _) if self.retry_on_exit.contains(&ExitCode(code)) => {
                Err(ActionError::retryable(format!("exit code {code}")).with_output(output))
            }
            (Some(code), _) => Err(ActionError::permanent(format!("exit code {code}")).with_output(output)),
            (None, signal) => {
                let signal = signal.map_or_else(|| "?".to_owned(), |s| s.to_string());
                Err(ActionError::permanent(format!("killed by signal {signal}")).with_output(output))
            }
        }
    }

    /// Why this program with these arguments is not allowed, if it is not.
    fn allows(&self, payload: &Payload) -> Result<(), String> {
        let entries: Vec<&Rule> = self.rules.iter().filter(|rule| rule.program.0 == payload.program).collect();
        if entries.is_empty() {
            return Err(format!("program `{}` is not listed", clip(&payload.program)));
        }
        let reasons: Vec<String> = entries.iter().filter_map(|rule| rule.refuses(&payload.args)).collect();
        if reasons.len() < entries.len() {
            return Ok(());
        }
        Err(format!("{}: {}", payload.program, reasons.join("; or ")))
    }
}

/// `{"exit_code", "signal", "stdout", "stderr", "stdout_truncated", "stderr_truncated"}`.
fn report(status: Option<ExitStatus>, stdout: &Excerpt, stderr: &Excerpt) -> serde_json::Value {
    serde_json::json!({
        "exit_code": status.and_then(|s| s.code()),
        "signal": status.and_then(|s| s.signal()),
        "stdout": stdout.text(),
        "stderr": stderr.text(),
        "stdout_truncated": stdout.is_truncated(),
        "stderr_truncated": stderr.is_truncated(),
    })
}

/// Read both pipes to their end, keeping an excerpt of each.
async fn drain(
    stdout: Option<impl AsyncRead + Unpin>,
    out: &mut Excerpt,
    stderr: Option<impl AsyncRead + Unpin>,
    err: &mut Excerpt,
) {
    tokio::join!(read_into(stdout, out), read_into(stderr, err));
}

async fn read_into(pipe: Option<impl AsyncRead + Unpin>, excerpt: &mut Excerpt) {
    let Some(mut pipe) = pipe else { return };
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                excerpt.push(&buffer[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(args: &[&str], rest: Option<&str>) -> Rule {
        Rule {
            program: Program::try_from("/bin/echo".to_owned()).unwrap(),
            args: args.iter().map(|a| Pattern::try_from((*a).to_owned()).unwrap()).collect(),
            rest: rest.map(|r| Pattern::try_from(r.to_owned()).unwrap()),
        }
    }

    fn refuses(rule: &Rule, args: &[&str]) -> Option<String> {
        rule.refuses(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn patterns_should_match_whole_arguments_only() {
        let r = rule(&["[a-z]+"], None);
        assert_eq!(refuses(&r, &["hello"]), None);
        assert!(refuses(&r, &["hello world"]).is_some());
        assert!(refuses(&r, &["hello\n"]).is_some());
        assert!(refuses(&r, &["x;rm"]).is_some());
        let alternation = rule(&["a|b"], None);
        assert!(refuses(&alternation, &["ab"]).is_some(), "alternation stays inside the anchors");
    }

    #[test]
    fn an_entry_should_take_exactly_its_arguments_unless_it_has_a_rest() {
        let exact = rule(&["a", "b"], None);
        assert_eq!(refuses(&exact, &["a"]).as_deref(), Some("2 arguments, not 1"));
        assert_eq!(refuses(&exact, &["a", "b", "c"]).as_deref(), Some("2 arguments, not 3"));
        let rest = rule(&["a"], Some("[0-9]+"));
        assert_eq!(refuses(&rest, &["a"]), None);
        assert_eq!(refuses(&rest, &["a", "1", "22"]), None);
        assert_eq!(refuses(&rest, &["a", "1", "x"]).as_deref(), Some("argument 3 `x` does not match `[0-9]+`"));
        assert_eq!(refuses(&rest, &[]).as_deref(), Some("at least 1 arguments, not 0"));
    }
}
