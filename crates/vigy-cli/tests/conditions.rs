//! Conditions through the `vigy` binary: `list --condition`, `inspect` and
//! `tail`, on a real SQLite file and over `--server`.

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{Served, fails, json, ok, write};

const WAITING: &str = "(vigy-condition \"Ready\" false \"Waiting\" \"waiting for the database\")\n\
    (vigy-push (hash-map \"n\" 1))\n";

/// The names `vigy list ARGS` prints, with `--json`.
fn names(db: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    json(db, &all).as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_bad_condition_filter_should_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let err = fails(&db, &["list", "--condition", "Ready=maybe"]);
    assert_eq!(
        err.trim(),
        "error: invalid argument: invalid condition: status must be true, false or unknown, got `maybe`"
    );
    let err = fails(&db, &["list", "--condition", "Ready=true", "--condition", "Ready"]);
    assert_eq!(
        err.trim(),
        "error: invalid argument: invalid condition: expected TYPE=STATUS (`Ready=false`), got `Ready`"
    );
    let err = fails(&db, &["list", "--condition", "=true"]);
    assert!(err.starts_with("error: invalid argument: invalid condition: type `` must start with a letter"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn list_should_filter_by_condition_and_inspect_should_show_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let waiting = write(dir.path(), "waiting.tatara", WAITING);
    let plain = write(dir.path(), "plain.tatara", "(vigy-noop)");
    ok(&db, &["register", &waiting, "--name", "waiting", "--every", "1000", "--label", "tier=edge"]);
    ok(&db, &["register", &plain, "--name", "plain", "--every", "1000", "--label", "tier=edge"]);
    // Nothing has ticked: no vigy has the condition, so each reads as unknown.
    assert_eq!(names(&db, &["--condition", "Ready=unknown"]), ["plain", "waiting"]);
    assert_eq!(names(&db, &["--condition", "Ready=false"]), Vec::<String>::new());

    ok(&db, &["tick", "waiting"]);
    ok(&db, &["tick", "plain"]);
    assert_eq!(names(&db, &["--condition", "Ready=false"]), ["waiting"]);
    assert_eq!(names(&db, &["--condition", "Ready=true"]), Vec::<String>::new());
    assert_eq!(names(&db, &["--condition", "Ready=unknown"]), ["plain"]);
    // Kubernetes spells statuses `False`; every filter given must hold.
    assert_eq!(names(&db, &["--condition", "Ready=False", "--condition", "Synced=unknown"]), ["waiting"]);
    assert_eq!(names(&db, &["--condition", "Ready=false", "--condition", "Synced=true"]), Vec::<String>::new());
    assert_eq!(names(&db, &["--condition", "Ready=false", "--selector", "tier!=edge"]), Vec::<String>::new());
    let table = ok(&db, &["list", "--condition", "Ready=false"]);
    assert!(table.starts_with("ID") && table.contains("waiting") && !table.contains("plain"), "{table}");

    let text = ok(&db, &["inspect", "waiting"]);
    let conditions = text.split("conditions:\n").nth(1).unwrap_or_else(|| panic!("no conditions in:\n{text}"));
    let mut rows = conditions.lines();
    let header = rows.next().unwrap();
    assert!(header.starts_with("  TYPE") && header.contains("STATUS") && header.contains("SINCE"), "{text}");
    let row: Vec<&str> = rows.next().unwrap().split("  ").filter(|c| !c.is_empty()).map(str::trim).collect();
    assert_eq!(row[..4], ["Ready", "false", "Waiting", "waiting for the database"], "{text}");
    // Each recent action, with what became of it.
    let actions = text.split("actions:\n").nth(1).unwrap_or_else(|| panic!("no actions in:\n{text}"));
    let header: Vec<&str> = actions.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["TICK", "#", "KIND", "RESULT", "ATTEMPTS", "MESSAGE", "OUTPUT"], "{text}");
    let row: Vec<&str> = actions.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..3], ["1", "1", "push"], "{text}");
    assert!(ok(&db, &["inspect", "plain"]).contains("conditions: none"));

    let report = json(&db, &["inspect", "waiting"]);
    let condition = &report["state"]["conditions"][0];
    assert_eq!(condition["type"], "Ready");
    assert_eq!(condition["status"], "false");
    assert_eq!(condition["reason"], "Waiting");
    assert_eq!(condition["message"], "waiting for the database");
    assert!(condition["last_transition_time"].is_string(), "{report}");
    let action = &report["runs"][0]["actions"][0];
    assert_eq!(action["kind"], "push");
    assert!(action["result"].is_string() && action["attempts"].is_u64(), "{report}");

    // `tail` names what became of each action on the run's line.
    let mut tail = Command::new(env!("CARGO_BIN_EXE_vigy"))
        .arg("--db")
        .arg(&db)
        .args(["tail", "--all", "--vigy", "waiting"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(tail.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = tail.kill();
    let _ = tail.wait();
    let event: Value = serde_json::from_str(&line).unwrap();
    let action = &event["actions"][0];
    assert_eq!(action["kind"], "push", "{event}");
    for field in ["result", "message", "attempts", "output", "started_at", "ended_at"] {
        assert!(action.get(field).is_some(), "{field} in {event}");
    }
}

#[test]
fn list_condition_should_filter_and_fail_alike_over_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let waiting = write(dir.path(), "waiting.tatara", WAITING);
    let plain = write(dir.path(), "plain.tatara", "(vigy-noop)");
    ok(&db, &["register", &waiting, "--name", "waiting", "--every", "1000"]);
    ok(&db, &["register", &plain, "--name", "plain", "--every", "1000"]);
    ok(&db, &["tick", "waiting"]);
    // A server that ticks none of them, so the conditions stay as they are.
    let served = Served::start(&db, &["--selector", "conditions=scheduled"], &[]);
    let url = served.url.as_str();
    assert_eq!(names(&db, &["--server", url, "--condition", "Ready=false"]), ["waiting"]);
    assert_eq!(names(&db, &["--server", url, "--condition", "Ready=unknown"]), ["plain"]);
    let err = fails(&db, &["--server", url, "list", "--condition", "Ready=maybe"]);
    assert_eq!(
        err.trim(),
        format!(
            "error: server {url}: invalid argument: invalid condition: status must be true, false or unknown, got `maybe`"
        )
    );
    assert!(served.stop().success());
}
