//! schemathesis, the standard schema-driven fuzzer, against a real `vigy
//! serve` and the document it serves at `/openapi.json` (the checks are
//! named in `fuzz_rest/schemathesis.toml`): every response
//! must be what the document says (status, content type, body schema), no
//! request may cause a server error, requests the document forbids must be
//! refused and requests it allows accepted (see
//! `fuzz_rest/schemathesis.toml` for the one scoped exception and
//! `fuzz_rest/vigy_checks.py` for the check that keeps it narrow).
//!
//! Runs with the pinned schemathesis of `scripts/requirements-test.txt`:
//! `$VIGY_TEST_PYTHON` (set by `scripts/test`), else
//! `target/python-venv/bin/python`; without either it fails, naming
//! `scripts/python-env`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Served;

/// Examples per operation and phase: about 1,500 requests, well under a
/// minute on two cores.
const MAX_EXAMPLES: &str = "40";

/// Fixed, so a run is reproducible (`st` prints it with any failure).
const SEED: &str = "20261202";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let python = match std::env::var_os("VIGY_TEST_PYTHON") {
        Some(python) => PathBuf::from(python),
        None => workspace().join("target/python-venv/bin/python"),
    };
    assert!(
        python.exists(),
        "no Python for the fuzzer at {}: run `scripts/python-env` (it installs the pinned schemathesis into \
         target/python-venv), or set $VIGY_TEST_PYTHON",
        python.display()
    );
    let found = Command::new(&python).args(["-c", "import schemathesis"]).status().unwrap();
    assert!(
        found.success(),
        "{} has no schemathesis: run `scripts/python-env` (scripts/requirements-test.txt pins it)",
        python.display()
    );
    python
}

#[test]
fn schemathesis_should_find_nothing_against_a_real_server() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    // Fuzzed programs fail their ticks by the hundred: keep their warnings
    // out of the test output.
    let server = Served::start(&dir.path().join("vigy.db"), &[], &[("RUST_LOG", "error")]);
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_rest");
    let out = Command::new(&python)
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(here.join("schemathesis.toml"))
        .args(["run", &format!("{}/openapi.json", server.url)])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "2"])
        .args(["--generation-database", "none", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "vigy_checks")
        .env("PYTHONPATH", &here)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems ({}):\n{report}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("Specification:    Open API 3.0.3"), "{report}");
    drop(server);
}
