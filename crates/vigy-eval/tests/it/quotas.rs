//! Quotas bound what one tick leaves behind: the kv store it writes, the
//! run it records, the source it reads and the symbols that reading interns.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value as Json, json};
use vigy_eval::{EvalLimits, Evaluator, TickOutcome};

use crate::support::{compile, input, run_err};

/// A string of `n` bytes.
fn blob(n: usize) -> Json {
    Json::String("x".repeat(n))
}

fn run_with(kv: BTreeMap<String, Json>, source: &str) -> TickOutcome {
    Evaluator::new(EvalLimits::default(), &[]).run(&compile(source), input(1, kv))
}

/// Bytes of what a run records, as JSON, as the quota counts them.
fn run_bytes(outcome: &TickOutcome) -> usize {
    let logs: usize = outcome.logs.iter().map(|l| serde_json::to_vec(l).unwrap().len()).sum();
    let actions: usize = outcome.actions.iter().map(|a| serde_json::to_vec(a).unwrap().len()).sum();
    logs + actions
}

/// Copies the 60,000-byte `blob` under keys k0, k1, … until `n`.
const FILL: &str = r#"(define (fill i n)
                        (if (< i n) (begin (vigy-set (string-append "k" (pr-str i)) (vigy-get "blob")) (fill (+ i 1) n))))"#;

#[test]
fn kv_should_fail_the_tick_that_would_store_more_than_one_mebibyte() {
    let kv = BTreeMap::from([("blob".to_owned(), blob(60_000))]);
    // 16 copies (plus the blob) fit in 1 MiB, the 17th does not.
    let fits = run_with(kv.clone(), &format!("{FILL} (fill 0 16)"));
    assert!(fits.result.is_ok(), "{:?}", fits.result);
    let outcome = run_with(kv, &format!("{FILL} (fill 0 17)"));
    let err = outcome.result.as_ref().unwrap_err().to_string();
    assert!(err.contains("quota exceeded: kv: storing 60002 bytes under `k16`"), "{err}");
    assert!(err.contains("(keys plus values as JSON), the limit is 1048576"), "{err}");
    assert!(outcome.kv_changes.is_empty(), "a failed tick writes nothing");
}

#[test]
fn kv_quota_should_not_be_caught_by_try() {
    let kv = BTreeMap::from([("blob".to_owned(), blob(60_000))]);
    let outcome = run_with(kv, &format!(r#"{FILL} (try (fill 0 100) (catch (e) (vigy-set "caught" e)))"#));
    let err = outcome.result.as_ref().unwrap_err().to_string();
    assert!(err.contains("quota exceeded: kv"), "{err}");
    assert!(outcome.kv_changes.is_empty());
}

#[test]
fn kv_over_its_quota_should_still_accept_writes_that_shrink_it() {
    // A store already past the quota (the quota was lowered, say) can be
    // emptied, and a value can be replaced by a smaller one, but not grown.
    let kv: BTreeMap<String, Json> = (0..20).map(|i| (format!("k{i}"), blob(60_000))).collect();
    let shrink = run_with(kv.clone(), r#"(vigy-del "k0") (vigy-set "k1" "small") (vigy-set "k1" "s")"#);
    assert!(shrink.result.is_ok(), "{:?}", shrink.result);
    assert_eq!(shrink.kv_changes.len(), 2);
    let grow = run_with(kv, r#"(vigy-del "k0") (vigy-set "new" "a")"#);
    let err = grow.result.unwrap_err().to_string();
    assert!(err.contains("quota exceeded: kv"), "{err}");
}

#[test]
fn kv_quota_should_count_this_ticks_deletes_and_replacements() {
    // Deleting or overwriting frees room in the same tick: 17 values of
    // 60 KB leave no room for an 18th unless two are deleted or replaced.
    let kv: BTreeMap<String, Json> = (0..17).map(|i| (format!("k{i}"), blob(60_000))).collect();
    let source = r#"(vigy-del "k0") (vigy-set "k1" 1) (vigy-set "n0" (vigy-get "k2")) (vigy-set "n1" (vigy-get "k2"))"#;
    let outcome = run_with(kv.clone(), source);
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    let too_many = format!("{source} (vigy-set \"n2\" (vigy-get \"k2\"))");
    assert!(run_with(kv, &too_many).result.unwrap_err().to_string().contains("quota exceeded: kv"));
}

#[test]
fn a_run_should_fail_when_its_logs_pass_one_mebibyte() {
    // 1,000 lines of 4 KiB would be 4 MiB: the line that crosses 1 MiB fails the tick.
    let limits = EvalLimits { deadline: Duration::from_secs(30), ..EvalLimits::default() };
    let outcome = Evaluator::new(limits, &[]).run(
        &compile(
            r#"(define (spam n) (if (> n 0) (begin (vigy-log "info" (vigy-get "line")) (spam (- n 1)))))
               (try (spam 1000) (catch (e) (vigy-log "info" "caught")))"#,
        ),
        input(1, BTreeMap::from([("line".to_owned(), blob(4_000))])),
    );
    let err = outcome.result.as_ref().unwrap_err().to_string();
    assert!(err.contains("quota exceeded: run: a log line of 4029 bytes would make this run"), "{err}");
    assert!(err.contains("the limit is 1048576"), "{err}");
    assert_eq!(outcome.logs.len(), 260, "the lines up to the quota are kept");
    assert!(run_bytes(&outcome) <= 1024 * 1024);
}

#[test]
fn a_run_should_fail_when_its_actions_pass_one_mebibyte() {
    let outcome = run_with(
        BTreeMap::from([("blob".to_owned(), blob(60_000))]),
        r#"(define (spam n) (if (> n 0) (begin (vigy-pull (vigy-get "blob")) (spam (- n 1))))) (spam 100)"#,
    );
    let err = outcome.result.as_ref().unwrap_err().to_string();
    assert!(err.contains("quota exceeded: run: an action of"), "{err}");
    assert_eq!(outcome.actions.len(), 17);
    assert!(run_bytes(&outcome) <= 1024 * 1024);
}

#[test]
fn a_run_should_count_each_report_key_once_however_often_it_is_set() {
    let again = r#"(define (again n) (if (> n 0) (begin (vigy-desired "k" (vigy-get "blob")) (vigy-observed "k" (vigy-get "blob")) (again (- n 1))))) (again 20)"#;
    let outcome = run_with(BTreeMap::from([("blob".to_owned(), blob(60_000))]), again);
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    // Many keys do add up.
    let many = r#"(define (many n) (if (> n 0) (begin (vigy-desired (pr-str n) (vigy-get "blob")) (many (- n 1))))) (many 100)"#;
    let err = run_with(BTreeMap::from([("blob".to_owned(), blob(60_000))]), many).result.unwrap_err().to_string();
    assert!(err.contains("quota exceeded: run: a desired value of"), "{err}");
}

#[test]
fn a_run_should_bound_a_printed_line_left_open_at_the_end() {
    // `display` without `newline` is flushed after the program ends; it is
    // counted as it grows, so it cannot slip past the quota then.
    let limits = EvalLimits { max_run_bytes: 1_000, ..EvalLimits::default() };
    let outcome = Evaluator::new(limits, &[]).run(
        &compile(r#"(vigy-log "info" (vigy-get "x")) (display (vigy-get "x"))"#),
        input(1, BTreeMap::from([("x".to_owned(), blob(600))])),
    );
    assert!(outcome.result.as_ref().unwrap_err().to_string().contains("quota exceeded: run: a printed line"));
    assert!(run_bytes(&outcome) <= 1_000, "{}", run_bytes(&outcome));
}

#[test]
fn read_string_should_refuse_more_than_256_kib_of_source_a_tick() {
    let kv = BTreeMap::from([("src".to_owned(), Json::String(format!("({})", "a ".repeat(50_000))))]);
    // 100 KB twice fits; the third read crosses 256 KiB.
    let twice = run_with(kv.clone(), r#"(read-all (vigy-get "src")) (read-all (vigy-get "src"))"#);
    assert!(twice.result.is_ok(), "{:?}", twice.result);
    let err = run_with(kv, r#"(try (begin (read-string (vigy-get "src")) (read-string (vigy-get "src")) (read-string (vigy-get "src"))) (catch (e) 1))"#)
        .result
        .unwrap_err()
        .to_string();
    assert!(err.contains("quota exceeded: read: reading 100002 more bytes would make 300006 bytes read this tick, the limit is 262144"), "{err}");
}

#[test]
fn read_string_should_refuse_twenty_thousand_quotes_before_reading_them() {
    let err =
        run_err(r#"(define (q s n) (if (> n 0) (q (string-append "'" s) (- n 1)) s)) (read-string (q "x" 20000))"#);
    assert!(err.contains("nests deeper than the limit of 200"), "{err}");
}

#[test]
fn symbols_interned_by_a_tick_should_not_outlive_it() {
    // Each tick reads (and so interns) 1,000 symbols no tick read before,
    // and `eval` of a quoted `string->symbol` interns a 100 KB one. Kept,
    // 200 ticks would leave 200,000 names and 20 MB in tatara-lisp's
    // thread-local table; the table holds only the current tick's names.
    let mut evaluator = Evaluator::new(EvalLimits::default(), &[]);
    let program = compile(
        r#"(define (names i acc)
             (if (< i 1000) (names (+ i 1) (string-append acc " s" (pr-str (vigy-tick-count)) "-" (pr-str i))) acc))
           (read-all (names 0 ""))
           (eval (list 'quote (string->symbol (string-append (pr-str (vigy-tick-count)) (vigy-get "long")))))"#,
    );
    let long = BTreeMap::from([("long".to_owned(), blob(100_000))]);
    let mut largest = 0;
    for tick in 1..=200 {
        let outcome = evaluator.run(&program, input(tick, long.clone()));
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        let after_tick = tatara_lisp_eval::interner::size();
        assert!(after_tick > 1_000, "the tick interned its names ({after_tick})");
        largest = largest.max(after_tick);
    }
    assert!(largest < 1_100, "the table reached {largest} names");
}

#[test]
fn quotas_should_leave_a_normal_tick_alone() {
    let outcome = run_with(
        BTreeMap::from([("n".to_owned(), json!(1))]),
        r#"(vigy-incr "n") (vigy-log "info" "ok") (vigy-desired "a" 1) (vigy-observed "a" 1) (vigy-noop) (read-string "(+ 1 2)")"#,
    );
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}
