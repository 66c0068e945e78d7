use std::collections::BTreeMap;

use crate::support::{compile, evaluator, input};

#[test]
fn a_define_in_one_tick_should_not_be_seen_by_the_next() {
    let mut ev = evaluator();
    let definer = compile("(define leaked 1) (define (helper) 2) (vigy-noop)");
    let reader = compile("(vigy-log \"info\" leaked)");
    assert!(ev.run(&definer, input(1, BTreeMap::new())).result.is_ok());
    let err = ev.run(&reader, input(2, BTreeMap::new())).result.unwrap_err().to_string();
    assert!(err.contains("unbound symbol `leaked`"), "{err}");
    let err = ev.run(&compile("(helper)"), input(3, BTreeMap::new())).result.unwrap_err().to_string();
    assert!(err.contains("unbound symbol `helper`"), "{err}");
}

#[test]
fn a_tick_should_not_be_able_to_redefine_the_stdlib_for_others() {
    let mut ev = evaluator();
    let vandal = compile("(set! car (lambda (x) 42))");
    assert!(ev.run(&vandal, input(1, BTreeMap::new())).result.is_err());
    let shadow = compile("(define (car x) 42) (vigy-set \"v\" (car (list 1)))");
    let shadowed = ev.run(&shadow, input(1, BTreeMap::new()));
    assert_eq!(shadowed.kv_changes["v"], Some(serde_json::json!(42)));
    let honest = ev.run(&compile("(vigy-set \"v\" (car (list 1)))"), input(2, BTreeMap::new()));
    assert_eq!(honest.kv_changes["v"], Some(serde_json::json!(1)));
}

#[test]
fn eval_of_a_define_should_stay_inside_the_tick() {
    let mut ev = evaluator();
    assert!(ev.run(&compile("(eval (read-string \"(define sneaky 7)\"))"), input(1, BTreeMap::new())).result.is_ok());
    assert!(ev.run(&compile("sneaky"), input(2, BTreeMap::new())).result.is_err());
}

#[test]
fn a_program_with_top_level_macros_should_get_a_fork_per_tick_and_work() {
    let program = compile("(defmacro twice (x) `(begin ,x ,x))\n(define n 0)\n(twice (vigy-noop))");
    assert!(program.needs_fork_per_tick());
    let mut ev = evaluator();
    for tick in 1..=2 {
        let outcome = ev.run(&program, input(tick, BTreeMap::new()));
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(outcome.actions.len(), 2);
    }
    assert!(ev.run(&compile("n"), input(3, BTreeMap::new())).result.is_err());
}

#[test]
fn a_failed_tick_should_not_poison_the_next() {
    let mut ev = evaluator();
    assert!(ev.run(&compile("(define (f) (f)) (f)"), input(1, BTreeMap::new())).result.is_err());
    let ok = ev.run(&compile("(vigy-noop)"), input(2, BTreeMap::new()));
    assert!(ok.result.is_ok(), "{:?}", ok.result);
}
