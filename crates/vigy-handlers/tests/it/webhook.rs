use serde_json::json;
use vigy_handlers::WebhookHandler;
use vigy_runtime::{ActionError, Handled};

use crate::support::{Server, call, config, run};

fn webhook(url: &str) -> WebhookHandler {
    let text = format!(
        "[webhook]\nurl = \"{url}\"\nkinds = [\"push\", \"deploy\"]\nheaders = {{ Authorization = \"Bearer s3cret\" }}\n"
    );
    config(&text).webhook().unwrap().clone()
}

#[tokio::test]
async fn webhook_should_post_the_action_as_a_json_envelope() {
    let server = Server::start().await;
    let handled = run(&webhook(&server.url("/hook")), call("push", json!({"branch": "main"}))).await;
    let output = json!({"status": 200, "body": "other", "truncated": false});
    assert_eq!(handled, Ok(Handled::ok().with_message("200 OK").with_output(output)));
    let seen = &server.seen()[0];
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/hook"));
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["idempotency-key"], "run-1:0");
    assert_eq!(seen.headers["authorization"], "Bearer s3cret");
    let envelope: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    let hello = vigy_types::VigyId::for_name(&vigy_types::VigyName::new("hello").unwrap()).to_string();
    assert_eq!(
        envelope,
        json!({
            "kind": "push",
            "payload": {"branch": "main"},
            "vigy_id": hello,
            "vigy_name": "hello",
            "labels": {"team": "ops"},
            "run_id": "run-1",
            "tick": 7,
            "index": 0,
            "idempotency_key": "run-1:0",
            "attempt": 1,
        })
    );
}

#[tokio::test]
async fn webhook_should_retry_a_503_and_fail_a_redirect_for_good() {
    let server = Server::start().await;
    let busy = run(&webhook(&server.url("/api/unavailable")), call("push", json!(null))).await;
    let output = json!({"status": 503, "body": "busy", "truncated": false});
    assert_eq!(busy, Err(ActionError::retryable("503 Service Unavailable").with_output(output)));
    let moved = run(&webhook(&server.url("/api/redirect")), call("push", json!(null))).await.unwrap_err();
    assert!(!moved.is_retryable());
    assert_eq!(moved.to_string(), "302 Found");
    assert_eq!(server.targets(), ["/api/unavailable", "/api/redirect"]);
}

#[test]
fn webhook_should_take_its_kinds_or_every_kind_without_a_handler() {
    let some = config("[webhook]\nurl = \"http://127.0.0.1:9/hook\"\nkinds = [\"push\", \"deploy\"]\n");
    assert_eq!(some.webhook().unwrap().kinds(), Some(&["push".to_owned(), "deploy".to_owned()][..]));
    let all = config("[webhook]\nurl = \"http://127.0.0.1:9/hook\"\nkinds = [\"*\"]\n");
    assert_eq!(all.webhook().unwrap().kinds(), None);
}
