use std::time::Duration;

use vigy_eval::{EvalLimits, Evaluator, TickError};

use crate::support::{compile, input, run, run_err};

#[test]
fn an_endless_loop_should_fail_on_its_budget() {
    // A generous deadline: a debug build spends 10 M steps slowly.
    let limits = EvalLimits { deadline: Duration::from_secs(60), ..EvalLimits::default() };
    let outcome = Evaluator::new(limits, &[])
        .run(&compile("(define (spin n) (spin (+ n 1))) (spin 0)"), input(1, Default::default()));
    match outcome.result {
        Err(TickError::Budget(m)) => assert!(m.contains("fuel"), "{m}"),
        other => panic!("expected a fuel failure, got {other:?}"),
    }
}

#[test]
fn unbounded_recursion_should_fail_on_its_depth_budget() {
    let outcome = run("(define (down n) (+ 1 (down n))) (down 0)");
    match outcome.result {
        Err(TickError::Budget(m)) => assert!(m.contains("depth"), "{m}"),
        other => panic!("expected a depth failure, got {other:?}"),
    }
}

#[test]
fn a_slow_program_should_fail_at_its_deadline() {
    let limits = EvalLimits { fuel: usize::MAX / 2, deadline: Duration::from_millis(100), ..EvalLimits::default() };
    let mut ev = Evaluator::new(limits, &[]);
    let outcome = ev.run(&compile("(define (spin n) (spin (+ n 1))) (spin 0)"), input(1, Default::default()));
    assert_eq!(outcome.result, Err(TickError::Deadline(Duration::from_millis(100))));
    assert!(outcome.elapsed < Duration::from_secs(2), "{:?}", outcome.elapsed);
    // The next tick on the same evaluator is not halted by the old deadline.
    let next = ev.run(&compile("(vigy-noop)"), input(2, Default::default()));
    assert!(next.result.is_ok(), "{:?}", next.result);
}

#[test]
fn a_huge_string_should_fail_at_the_string_limit() {
    let err = run_err(r#"(define (grow s) (grow (string-append s s))) (grow "xxxxxxxxxxxxxxxx")"#);
    assert!(err.contains("string-append") && err.contains("the limit is 1048576"), "{err}");
}

#[test]
fn millions_of_log_lines_should_be_capped_and_marked() {
    let limits = EvalLimits { deadline: Duration::from_secs(30), ..EvalLimits::default() };
    let mut ev = Evaluator::new(limits, &[]);
    let outcome = ev.run(
        &compile(
            r#"(define (spam n) (if (> n 0) (begin (vigy-log "info" "spam") (spam (- n 1))) '())) (spam 1000000)"#,
        ),
        input(1, Default::default()),
    );
    // Whether the tick completes or runs out of fuel, the log is capped.
    assert!(outcome.logs_truncated);
    assert_eq!(outcome.logs.len(), 1_001);
    assert!(outcome.logs.last().unwrap().message.contains("more log lines were cut"));
}

#[test]
fn deeply_nested_read_string_should_fail_not_crash() {
    let err = run_err(
        r#"(define (nest s n) (if (> n 0) (nest (string-append "(" s ")") (- n 1)) s))
           (read-string (nest "x" 5000))"#,
    );
    assert!(err.contains("nests deeper than the limit"), "{err}");
}
