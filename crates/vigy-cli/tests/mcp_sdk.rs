//! vigy's MCP server through the official Python SDK (`mcp`, pinned in
//! `scripts/requirements-test.txt`): `mcp_sdk.py` runs the same checks
//! over stdio (a `vigy mcp` child it spawns) and over streamable HTTP (the
//! `/mcp` of a real `vigy serve` started here). It needs the tests' Python
//! environment: `$VIGY_TEST_PYTHON` (what `scripts/test` exports), else
//! `target/python-venv/bin/python`; without either it fails, saying to run
//! `scripts/python-env`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Served;

/// The tests' Python, or a failure that says how to get it.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("VIGY_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-venv/bin/python");
    assert!(
        venv.exists(),
        "no Python for the MCP SDK test: $VIGY_TEST_PYTHON is unset and {} does not exist; run `scripts/python-env` \
         (or `scripts/test`, which runs it and exports $VIGY_TEST_PYTHON)",
        venv.display()
    );
    venv
}

#[test]
fn the_official_python_sdk_should_use_every_tool_resource_and_prompt_over_stdio_and_http() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("http.db"), &[], &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_sdk.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg("--vigy")
        .arg(env!("CARGO_BIN_EXE_vigy"))
        .arg("--db")
        .arg(dir.path().join("stdio.db"))
        .arg("--url")
        .arg(format!("{}/mcp", served.url))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run `scripts/python-env`", python.display()));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "mcp_sdk.py failed ({}):\n{stdout}\n{stderr}", out.status);
    for transport in ["stdio", "http"] {
        assert!(stdout.contains(&format!("{transport}: ")), "no {transport} report in:\n{stdout}\n{stderr}");
    }
    assert!(served.stop().success());
}
