//! Driving the `vigy` binary from tests. Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub(crate) fn vigy(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigy")).arg("--db").arg(db).args(args).output().unwrap()
}

pub(crate) fn ok(db: &Path, args: &[&str]) -> String {
    let out = vigy(db, args);
    assert!(out.status.success(), "vigy {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn json(db: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(db, &all)).unwrap()
}

/// Run and expect failure; returns stderr.
pub(crate) fn fails(db: &Path, args: &[&str]) -> String {
    let out = vigy(db, args);
    assert!(!out.status.success(), "vigy {args:?} should fail");
    assert!(out.stdout.is_empty() || args.contains(&"run"), "nothing on stdout on failure");
    String::from_utf8(out.stderr).unwrap()
}

pub(crate) fn write(dir: &Path, name: &str, program: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, program).unwrap();
    path.display().to_string()
}

pub(crate) struct Server(Child);

impl Server {
    pub(crate) fn start(db: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_vigy"))
            .arg("--db")
            .arg(db)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// Send `signal` (`TERM`, `KILL`) and wait for the exit.
    pub(crate) fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.0.id().to_string()).status().unwrap();
        assert!(sent.success());
        self.0.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < within {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not within {within:?}: {what}");
}

pub(crate) fn runs(db: &Path, vigy: &str) -> Vec<Value> {
    json(db, &["inspect", vigy, "--runs", "1000"])["runs"].as_array().unwrap().clone()
}

/// A `vigy serve` on an ephemeral loopback port, with the URL it printed.
pub(crate) struct Served {
    pub(crate) url: String,
    child: Child,
}

impl Served {
    /// `vigy --db DB serve ARGS...` (on `--bind 127.0.0.1:0` unless ARGS
    /// bind elsewhere) with `env` set.
    pub(crate) fn start(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let bind: &[&str] = if args.contains(&"--bind") { &[] } else { &["--bind", "127.0.0.1:0"] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigy"))
            .arg("--db")
            .arg(db)
            .arg("serve")
            .args(bind)
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("no address in {line:?}")).to_owned();
        Self { url, child }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, and the exit status once it has drained.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
