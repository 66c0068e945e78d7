//! The `vigy` binary end to end, against temporary databases.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Server, eventually, examples, fails, json, ok, runs, vigy, write};

#[test]
fn the_seed_commands_should_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let hello = examples().join("hello-vigy.tatara").display().to_string();
    let id = ok(&db, &["register", &hello, "--name", "hello", "--every", "1000", "--label", "host=local"]);
    let id = id.trim();
    assert_eq!(id.len(), 32);
    let list = ok(&db, &["list"]);
    assert!(list.starts_with("ID") && list.contains("hello") && list.contains("host=local"), "{list}");
    assert!(ok(&db, &["inspect", id]).contains("name:      hello"));
    let run = json(&db, &["tick", id]);
    assert_eq!(run["result"], "ok");
    assert_eq!(run["actions"][0]["kind"], "noop");
    assert_eq!(run["logs"][0]["message"], "hello from a vigy");
    assert_eq!(json(&db, &["disable", "hello"])["enabled"], false);
    assert_eq!(json(&db, &["enable", id])["enabled"], true);
    // Registering the same name again updates, never duplicates.
    ok(&db, &["register", &hello, "--name", "hello", "--every", "2000", "--label", "host=local"]);
    let list = json(&db, &["list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["tick_interval_ms"], 2000);
    assert_eq!(json(&db, &["list", "--selector", "host!=local"]).as_array().unwrap().len(), 0);
    ok(&db, &["delete", id]);
    // The same error, in the same words, as the API and `--server` give.
    assert!(fails(&db, &["inspect", id]).starts_with(&format!("error: not found: no vigy `{id}`")));
}

/// A row damaged behind vigy's back (here by the sqlite3 shell) is named
/// on stderr and left out; every other vigy stays usable.
#[test]
fn a_damaged_row_should_not_keep_the_others_from_being_managed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let hello = write(dir.path(), "hello.tatara", "(vigy-noop)");
    ok(&db, &["register", &hello, "--name", "good", "--every", "1000"]);
    ok(&db, &["register", &hello, "--name", "bad", "--every", "1000"]);
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE vigies SET program = '(unclosed' WHERE name = 'bad';")
        .output()
        .expect("the sqlite3 shell (installed by .ci/run)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let list =
        Command::new(env!("CARGO_BIN_EXE_vigy")).args(["--db"]).arg(&db).args(["--json", "list"]).output().unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let names: Vec<Value> = serde_json::from_slice::<Value>(&list.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    assert_eq!(names, ["good"]);
    assert!(String::from_utf8_lossy(&list.stderr).contains("corrupt row"), "{}", String::from_utf8_lossy(&list.stderr));
    assert_eq!(json(&db, &["tick", "good"])["result"], "ok");
}

#[test]
fn bad_input_should_fail_with_one_clear_error_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let good = write(dir.path(), "good.tatara", "(vigy-noop)");
    let bad = write(dir.path(), "bad.tatara", "(vigy-noop)\n(vigy-log \"info\" \"x\"))");
    let err = fails(&db, &["register", &good, "--name", "x", "--every", "50"]);
    assert_eq!(err.trim(), "error: invalid argument: tick_interval_ms must be at least 100, got 50");
    let err = fails(&db, &["register", &bad, "--name", "x", "--every", "500"]);
    assert!(err.contains("does not parse") && err.contains("at 2:22"), "{err}");
    assert!(err.contains("^"), "a caret excerpt: {err}");
    let err = fails(&db, &["register", &good, "--name", "x", "--every", "500", "--label", "no-equals"]);
    assert!(err.contains("invalid label"), "{err}");
    let err = fails(&db, &["register", &good, "--name", " padded", "--every", "500"]);
    assert!(err.contains("invalid vigy name"), "{err}");
    let err = fails(&db, &["list", "--selector", "host in (a"]);
    assert!(err.contains("invalid label selector"), "{err}");
    let deep = write(dir.path(), "deep.tatara", &format!("{}{}", "(".repeat(100_000), ")".repeat(100_000)));
    let err = fails(&db, &["register", &deep, "--name", "deep", "--every", "500"]);
    assert!(err.contains("nests deeper than the limit of 200"), "{err}");
    assert!(fails(&db, &["check", &bad]).contains("at 2:22"));
    assert_eq!(json(&db, &["list"]).as_array().unwrap().len(), 0, "nothing stored");
}

/// A cron schedule in a zone, its refusals, and pause/resume from the CLI.
#[test]
fn schedules_should_be_registered_paused_and_resumed_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let noop = write(dir.path(), "noop.tatara", "(vigy-noop)");
    let args = ["register", &noop, "--name", "nightly", "--cron", "0 30 2 * * *", "--tz", "Europe/Berlin"];
    ok(&db, &[&args[..], &["--jitter", "5000", "--catch-up", "3600000", "--pause-after-failures", "3"]].concat());
    let v = &json(&db, &["list"])[0];
    assert_eq!(
        (v["cron"].as_str(), v["tz"].as_str(), v["tick_interval_ms"].as_u64()),
        (Some("0 30 2 * * *"), Some("Europe/Berlin"), None)
    );
    assert_eq!((v["jitter_ms"].as_u64(), v["catch_up_window_ms"].as_u64()), (Some(5000), Some(3_600_000)));
    let inspect = ok(&db, &["inspect", "nightly"]);
    assert!(inspect.contains("0 30 2 * * * (Europe/Berlin)"), "{inspect}");
    let paused = json(&db, &["pause", "nightly", "--reason", "holiday freeze"]);
    assert_eq!(paused["paused_reason"], "holiday freeze");
    assert!(ok(&db, &["inspect", "nightly"]).contains("holiday freeze"));
    assert_eq!(json(&db, &["resume", "nightly"])["paused_reason"], Value::Null);
    for (bad, says) in [
        (&["--cron", "0 * * * *"][..], "has 5 fields"),
        (&["--cron", "0 * * * * *", "--tz", "Mars/Olympus"][..], "unknown time zone `Mars/Olympus`"),
        (&["--every", "1000", "--cron", "0 * * * * *"][..], "cannot be used with"),
        (&["--every", "1000", "--tz", "UTC"][..], "is for a cron pattern, not an interval"),
    ] {
        let err = fails(&db, &[&["register", &noop, "--name", "bad"][..], bad].concat());
        assert!(err.contains(says), "{bad:?}: {err}");
    }
    assert_eq!(json(&db, &["list"]).as_array().unwrap().len(), 1, "nothing stored");
}

#[test]
fn check_and_run_should_evaluate_the_examples_locally() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never-created.db");
    let kinds = |file: &str, ticks: &str| -> Vec<String> {
        let path = examples().join(file).display().to_string();
        let report: Value = serde_json::from_str(&ok(&db, &["run", &path, "--ticks", ticks])).unwrap();
        report["ticks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["kind"].as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect()
    };
    assert_eq!(kinds("hello-vigy.tatara", "1"), ["noop"]);
    assert_eq!(kinds("drift-correction.tatara", "5"), ["push", "push", "push", "noop", "noop"]);
    assert_eq!(
        kinds("retry-backoff.tatara", "8"),
        ["retry-scheduled", "noop", "retry-scheduled", "noop", "noop", "noop", "pull", "pull"]
    );
    // Nothing is carried out by `vigy run`, so the setting never reads back:
    // it keeps writing and reading.
    assert_eq!(kinds("converge-http.tatara", "2"), ["http+http", "http+http"]);
    for file in ["hello-vigy.tatara", "drift-correction.tatara", "retry-backoff.tatara", "converge-http.tatara"] {
        ok(&db, &["check", &examples().join(file).display().to_string()]);
    }
    assert!(!db.exists(), "check and run never touch the database");
    let spin = write(dir.path(), "spin.tatara", "(define (spin n) (spin (+ n 1))) (spin 0)");
    let out = vigy(&db, &["run", &spin]);
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = report["ticks"][0]["error"].as_str().unwrap();
    assert!(error.contains("budget exceeded") || error.contains("deadline exceeded"), "{error}");
}

#[test]
fn serve_should_tick_what_another_process_registers_and_stop_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    ok(&db, &["list"]); // create and migrate before two processes race for it
    let mut server = Server::start(&db);
    let counter = write(dir.path(), "counter.tatara", r#"(vigy-incr "n") (vigy-pull (vigy-get "n"))"#);
    ok(&db, &["register", &counter, "--name", "counter", "--every", "100"]);
    eventually(Duration::from_secs(3), "the server ticks it", || runs(&db, "counter").len() >= 3);

    let mut tail = Command::new(env!("CARGO_BIN_EXE_vigy"))
        .arg("--db")
        .arg(&db)
        .args(["tail", "--vigy", "counter"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(tail.stdout.take().unwrap()));
    for _ in 0..3 {
        let event: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(event["vigy"], "counter");
        assert_eq!(event["result"], "ok");
        assert_eq!(event["actions"][0]["kind"], "pull");
    }
    let _ = tail.kill();
    let _ = tail.wait();

    ok(&db, &["disable", "counter"]);
    std::thread::sleep(Duration::from_millis(800));
    let frozen = runs(&db, "counter").len();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs(&db, "counter").len(), frozen, "disabled elsewhere, still ticking");

    let status = server.signal("TERM");
    assert!(status.success(), "graceful shutdown: {status:?}");
    let state = json(&db, &["inspect", "counter"]);
    assert_eq!(state["kv"]["n"], state["state"]["tick_count"]);
}

/// A process killed hard while ticking loses no committed run, and the
/// database stays sound.
#[test]
fn a_hard_kill_while_ticking_should_lose_no_committed_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let counter = write(dir.path(), "counter.tatara", r#"(vigy-incr "n") (vigy-noop)"#);
    for n in 0..20 {
        ok(&db, &["register", &counter, "--name", &format!("c{n}"), "--every", "100"]);
    }
    let mut server = Server::start(&db);
    let mut tail = Command::new(env!("CARGO_BIN_EXE_vigy"))
        .arg("--db")
        .arg(&db)
        .args(["tail"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(tail.stdout.take().unwrap()));
    let mut seen = Vec::new();
    while seen.len() < 150 {
        let event: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        seen.push(event["run_id"].as_str().unwrap().to_owned());
    }
    server.signal("KILL");
    let _ = tail.kill();
    let _ = tail.wait();

    let out = Command::new("sqlite3")
        .arg(&db)
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("the sqlite3 shell (installed by .ci/run)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    let mut kept = std::collections::HashSet::new();
    for n in 0..20 {
        for run in runs(&db, &format!("c{n}")) {
            kept.insert(run["id"].as_str().unwrap().to_owned());
        }
        // kv and tick count were committed with the runs, atomically.
        let state = json(&db, &["inspect", &format!("c{n}")]);
        assert_eq!(state["kv"]["n"], state["state"]["tick_count"], "c{n}");
    }
    let lost: Vec<_> = seen.iter().filter(|id| !kept.contains(*id)).collect();
    assert!(lost.is_empty(), "committed runs lost: {lost:?}");
}

#[test]
fn check_should_validate_a_schedule_and_show_its_next_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let noop = write(dir.path(), "nightly.tatara", "(vigy-noop)");
    // Without a schedule, the program alone.
    assert_eq!(json(&db, &["check", &noop])["next_ticks"], Value::Null);
    let report = json(&db, &["check", &noop, "--cron", "0 30 2 * * *", "--tz", "Europe/Berlin"]);
    let next: Vec<&str> = report["next_ticks"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(next.len(), 5);
    // 02:30 in Berlin is 00:30 or 01:30 UTC, depending on the season.
    assert!(next.iter().all(|t| t.ends_with("T00:30:00.000Z") || t.ends_with("T01:30:00.000Z")), "{next:?}");
    // The domain's own errors, and nothing registered.
    for (args, says) in [
        (&["--cron", "*/5 * * * *"][..], "has 5 fields"),
        (&["--cron", "* * * * * *", "--tz", "Mars/Olympus"][..], "unknown time zone `Mars/Olympus`"),
        (&["--every", "500", "--cron", "* * * * * *"][..], "not both"),
        (&["--jitter", "5"][..], "give an interval or a cron pattern"),
    ] {
        let out = vigy(&db, &[&["check", &noop][..], args].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(json(&db, &["list"]), serde_json::json!([]));
}
