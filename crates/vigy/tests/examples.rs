//! The facade's examples, run.

#[path = "../examples/handler.rs"]
mod handler;

use vigy::{ActionResult, ConditionStatus};

#[tokio::test(flavor = "multi_thread")]
async fn the_handler_example_should_apply_the_theme_after_a_retry_and_turn_ready() {
    let dir = tempfile::tempdir().unwrap();
    let done = handler::converge(&dir.path().join("app.db"), dir.path().join("theme")).await.unwrap();
    assert_eq!(done.theme, "dark");
    let ready = done.state.conditions.iter().find(|c| c.kind == "Ready").expect("a Ready condition");
    assert_eq!((ready.status, ready.reason.as_deref()), (ConditionStatus::True, Some("Applied")));
    assert_eq!(done.state.observed["theme"], "dark");
    let first = done.runs.last().unwrap();
    assert_eq!(first.tick, 1);
    let applied = &first.actions[0];
    assert_eq!((applied.result, applied.attempts), (ActionResult::Ok, 2), "busy once, then applied: {applied:?}");
    assert_eq!(applied.message.as_deref(), Some("applied dark"));
    assert!(done.runs.iter().filter(|r| r.tick > 1).all(|r| r.actions.is_empty()), "converged: nothing more to do");
}
