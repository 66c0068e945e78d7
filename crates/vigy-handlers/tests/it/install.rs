//! `install` on a real runtime: a vigy's actions reach the handlers the
//! config turns on, and the results land on its run.

use std::time::{Duration, Instant};

use vigy_runtime::RuntimeHandle;
use vigy_types::{ActionResult, TickInterval, Vigy};

use crate::support::{Server, config};

#[tokio::test(flavor = "multi_thread")]
async fn install_should_have_a_runtime_carry_a_vigys_actions_out() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[exec]\n[[exec.allow]]\nprogram = \"/bin/echo\"\nargs = [\"[a-z]+\"]\n\
         [webhook]\nurl = \"{}\"\nkinds = [\"push\"]\n",
        server.url("/hook"),
    );
    let handlers = config(&text);
    let rt = vigy_handlers::install(RuntimeHandle::builder(), &handlers)
        .path(dir.path().join("vigy.db"))
        .open()
        .await
        .unwrap();
    let program = r#"
        (vigy-push (hash-map "n" 1))
        (vigy-emit "exec" (hash-map "program" "/bin/echo" "args" (list "hi")))
        (vigy-emit "exec" (hash-map "program" "/bin/sh" "args" (list "-c" "id")))
        (vigy-emit "http" (hash-map "url" "http://127.0.0.1:1/"))
    "#;
    let vigy = Vigy::new("acts", program, TickInterval::from_millis(60_000).unwrap()).unwrap();
    let id = rt.register_or_update(vigy).await.unwrap().id;

    let started = Instant::now();
    let actions = loop {
        let runs = rt.recent_runs(id, 5).await.unwrap();
        if let Some(run) = runs.iter().find(|r| !r.actions.is_empty() && r.actions.iter().all(|a| a.result.is_final()))
        {
            break run.actions.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no resolved run: {runs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let results: Vec<(ActionResult, Option<&str>)> = actions.iter().map(|a| (a.result, a.message.as_deref())).collect();
    assert_eq!(
        results,
        [
            (ActionResult::Ok, Some("200 OK")),
            (ActionResult::Ok, Some("exit code 0")),
            (ActionResult::Skipped, Some("not allowed: program `/bin/sh` is not listed")),
            (ActionResult::Skipped, Some("no handler for http")),
        ]
    );
    assert_eq!(actions[1].output.as_ref().unwrap()["stdout"], "hi\n");
    let hook = &server.seen()[0];
    assert_eq!(hook.target, "/hook");
    let envelope: serde_json::Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(envelope["payload"], serde_json::json!({"n": 1}));
    rt.shutdown().await;
}
