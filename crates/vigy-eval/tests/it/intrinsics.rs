use std::collections::BTreeMap;

use serde_json::json;
use vigy_types::{ActionKind, ActionResult};

use crate::support::{apply, compile, evaluator, input, run, run_err, run_ok};

#[test]
fn hello_vigy_should_log_and_emit_a_noop() {
    let outcome = run_ok(include_str!("../../../../examples/hello-vigy.tatara"));
    assert_eq!(outcome.logs.len(), 1);
    assert_eq!(outcome.logs[0].level, "info");
    assert_eq!(outcome.logs[0].message, "hello from a vigy");
    assert_eq!(outcome.actions.len(), 1);
    assert_eq!(outcome.actions[0].kind, ActionKind::Noop);
    assert_eq!(outcome.actions[0].result, ActionResult::Pending, "what becomes of it is the runtime's to say");
}

#[test]
fn vigy_last_results_should_give_the_previous_ticks_actions_as_maps() {
    let mut pushed = vigy_types::ReconcileAction::emitted(ActionKind::Push, json!({"v": 2}));
    pushed.settle(ActionResult::Failed, Some("503".into()));
    pushed.attempts = 3;
    pushed.output = Some(json!({"status": 503}));
    let mut given = input(2, BTreeMap::new());
    given.last_results = vec![pushed].into();
    let program = compile(
        r#"(define r (first (vigy-last-results)))
           (vigy-set "seen" (list (hash-map-get r "kind") (hash-map-get r "result") (hash-map-get r "message")
                                  (hash-map-get r "attempts") (hash-map-get (hash-map-get r "output") "status")
                                  (hash-map-get (hash-map-get r "payload") "v")))"#,
    );
    let outcome = evaluator().run(&program, given);
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(outcome.kv_changes["seen"], Some(json!(["push", "failed", "503", 3, 503, 2])));
    assert_eq!(run_ok("(vigy-set \"n\" (length (vigy-last-results)))").kv_changes["n"], Some(json!(0)));
}

#[test]
fn vigy_condition_should_keep_the_last_call_per_type_and_drop_all_on_failure() {
    let outcome = run_ok(
        r#"(vigy-condition "Ready" false "Waiting")
           (vigy-condition "Ready" "True" "Done" "all good")
           (vigy-condition 'Synced :unknown)"#,
    );
    let got: Vec<_> =
        outcome.conditions.iter().map(|c| (c.kind.as_str(), c.status.as_str(), c.reason.as_deref())).collect();
    assert_eq!(got, [("Ready", "true", Some("Done")), ("Synced", "unknown", None)]);
    assert_eq!(outcome.conditions[0].message.as_deref(), Some("all good"));
    let failed = run(r#"(vigy-condition "Ready" true) (car 1)"#);
    assert!(failed.result.is_err() && failed.conditions.is_empty(), "a failed tick sets no condition");
}

#[test]
fn vigy_emit_should_keep_kind_and_payload() {
    let outcome = run_ok(
        r#"(vigy-emit "pull" (list 1 2))
           (vigy-emit "mado-tear-resync" (hash-map "pane" 3))
           (vigy-emit 'push)
           (vigy-pull "a") (vigy-push :b) (vigy-pull)"#,
    );
    let got: Vec<_> = outcome.actions.iter().map(|a| (a.kind.clone(), a.payload.clone())).collect();
    assert_eq!(
        got,
        vec![
            (ActionKind::Pull, json!([1, 2])),
            (ActionKind::Custom("mado-tear-resync".into()), json!({"pane": 3})),
            (ActionKind::Push, json!(null)),
            (ActionKind::Pull, json!("a")),
            (ActionKind::Push, json!("b")),
            (ActionKind::Pull, json!(null)),
        ]
    );
}

#[test]
fn vigy_emit_should_refuse_bad_kinds_and_payloads() {
    assert!(run_err(r#"(vigy-emit 42)"#).contains("kind must be a string"));
    assert!(run_err(r#"(vigy-emit "")"#).contains("kind must be 1 to 64"));
    assert!(run_err(r#"(vigy-emit "pull" (lambda (x) x))"#).contains("cannot be stored or sent"));
    let arity = run_err(r#"(vigy-noop 1)"#);
    assert!(arity.contains("vigy-noop") && arity.contains("expected"), "{arity}");
}

#[test]
fn vigy_log_should_check_its_level() {
    let outcome = run_ok(r#"(vigy-log "warn" "careful") (vigy-log 'debug 42)"#);
    let lines: Vec<_> = outcome.logs.iter().map(|l| (l.level.as_str(), l.message.as_str())).collect();
    assert_eq!(lines, vec![("warn", "careful"), ("debug", "42")]);
    assert!(run_err(r#"(vigy-log "loud" "x")"#).contains("level must be one of"));
}

#[test]
fn vigy_tick_and_tick_count_should_report_the_input() {
    let mut ev = evaluator();
    let program =
        compile(r#"(vigy-set "t" (vigy-tick)) (vigy-set "n" (vigy-tick-count)) (vigy-set "who" (vigy-name))"#);
    let outcome = ev.run(&program, input(7, BTreeMap::new()));
    assert_eq!(outcome.kv_changes["t"], Some(json!(1_764_000_000_000i64)));
    assert_eq!(outcome.kv_changes["n"], Some(json!(7)));
    assert_eq!(outcome.kv_changes["who"], Some(json!("test")));
}

#[test]
fn kv_intrinsics_should_read_their_own_writes_and_persist_through_the_runtime() {
    let mut ev = evaluator();
    let program = compile(
        r#"(vigy-incr "count")
           (vigy-incr "count" 10)
           (vigy-set "seen" (vigy-get "count"))
           (vigy-set "dflt" (vigy-get "missing" "fallback"))
           (vigy-set "nil" (vigy-get "missing"))
           (vigy-set "gone" 1)
           (vigy-set "existed" (vigy-del "gone"))
           (vigy-set "again" (vigy-del "gone"))"#,
    );
    let mut kv = BTreeMap::new();
    let first = ev.run(&program, input(1, kv.clone()));
    apply(&mut kv, &first);
    assert_eq!(kv["count"], json!(11));
    assert_eq!(kv["seen"], json!(11));
    assert_eq!(kv["dflt"], json!("fallback"));
    assert_eq!(kv["nil"], json!(null));
    assert_eq!(kv["existed"], json!(true));
    assert_eq!(kv["again"], json!(false));
    assert!(!kv.contains_key("gone"));
    let second = ev.run(&program, input(2, kv.clone()));
    apply(&mut kv, &second);
    assert_eq!(kv["count"], json!(22));
}

#[test]
fn vigy_incr_should_refuse_a_non_integer() {
    let mut kv = BTreeMap::new();
    kv.insert("name".to_owned(), json!("x"));
    let outcome = evaluator().run(&compile(r#"(vigy-incr "name")"#), input(1, kv));
    assert!(outcome.result.unwrap_err().to_string().contains("not an integer"));
}

#[test]
fn desired_and_observed_should_be_reported_only_by_a_successful_tick() {
    let ok = run_ok(r#"(vigy-desired "replicas" 3) (vigy-observed "replicas" 2)"#);
    assert_eq!(ok.desired["replicas"], json!(3));
    assert_eq!(ok.observed["replicas"], json!(2));
    let failed = run(r#"(vigy-desired "replicas" 3) (vigy-set "k" 1) (vigy-noop) (car 1)"#);
    assert!(failed.result.is_err());
    assert!(failed.desired.is_empty());
    assert!(failed.kv_changes.is_empty());
    assert_eq!(failed.actions[0].result, ActionResult::Skipped);
}

#[test]
fn display_and_print_should_go_to_the_run_log_not_stdout() {
    let outcome = run_ok(r#"(display "a") (display 1) (newline) (println "x" 2) (print "p") (display "tail")"#);
    let lines: Vec<_> = outcome.logs.iter().map(|l| (l.level.as_str(), l.message.as_str())).collect();
    assert_eq!(lines, vec![("print", "a1"), ("print", "x 2"), ("print", "p"), ("print", "tail")]);
}

#[test]
fn program_errors_should_be_located_in_the_source() {
    let err = run_err("(vigy-noop)\n(undefined-thing 1)");
    assert!(err.contains("undefined-thing"), "{err}");
    assert!(err.contains("at line 2, column 2"), "{err}");
}

#[test]
fn an_extension_should_add_its_own_intrinsics() {
    use std::sync::Arc;
    use vigy_eval::{Arity, EvalLimits, Evaluator, Extension, Intrinsics, Value};

    struct Mado;
    impl Extension for Mado {
        fn name(&self) -> &str {
            "mado"
        }
        fn install(&self, intrinsics: &mut Intrinsics<'_>) {
            intrinsics.add("mado-tear-panes", Arity::Exact(0), |_, _| Ok(Value::Int(4)));
            intrinsics.add("mado-tear-resync", Arity::Exact(1), |args, host| {
                let pane = match &args[0] {
                    Value::Int(n) => *n,
                    _ => return Err("pane must be an integer".into()),
                };
                host.emit("mado-tear-resync".into(), serde_json::json!({ "pane": pane }))?;
                Ok(Value::Nil)
            });
        }
    }
    let mut ev = Evaluator::new(EvalLimits::default(), &[Arc::new(Mado)]);
    let outcome = ev.run(&compile("(mado-tear-resync (mado-tear-panes))"), input(1, BTreeMap::new()));
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(outcome.actions[0].payload, json!({"pane": 4}));
    let failed = ev.run(&compile(r#"(mado-tear-resync "x")"#), input(1, BTreeMap::new()));
    assert!(failed.result.unwrap_err().to_string().contains("pane must be an integer"));
}
