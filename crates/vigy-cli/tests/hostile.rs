//! Hostile programs through the CLI and a live `vigy serve`. A binary of its
//! own: cargo runs test binaries one after another, so the CPU these
//! programs burn cannot disturb the timing of the other CLI tests.

mod support;

use std::time::Duration;

use support::{Server, ok, runs, write};

#[test]
fn hostile_programs_should_fail_their_own_ticks_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let programs = [
        ("loop", "(define (spin n) (spin (+ n 1))) (spin 0)"),
        ("recursion", "(define (down n) (+ 1 (down n))) (down 0)"),
        ("huge-string", r#"(define (grow s) (grow (string-append s s))) (grow "xx")"#),
        (
            "log-spam",
            r#"(define (spam n) (if (> n 0) (begin (vigy-log "info" "x") (spam (- n 1))) '())) (spam 2000000)"#,
        ),
    ];
    for (name, program) in programs {
        let file = write(dir.path(), &format!("{name}.tatara"), program);
        ok(&db, &["register", &file, "--name", name, "--every", "100"]);
    }
    let healthy = write(dir.path(), "healthy.tatara", "(vigy-noop)");
    ok(&db, &["register", &healthy, "--name", "healthy", "--every", "100"]);
    let _server = Server::start(&db);
    std::thread::sleep(Duration::from_secs(4));
    let healthy_runs = runs(&db, "healthy").len();
    assert!(healthy_runs >= 25, "the healthy vigy ticked {healthy_runs} times in 4 s");
    for (name, _) in &programs[..3] {
        let recent = runs(&db, name);
        assert!(!recent.is_empty(), "{name} never ran");
        assert!(recent.iter().all(|r| r["result"] == "failed"), "{name}");
    }
    let spam = &runs(&db, "log-spam")[0];
    assert_eq!(spam["logs_truncated"], true);
    assert_eq!(spam["logs"].as_array().unwrap().len(), 1_001);
}
