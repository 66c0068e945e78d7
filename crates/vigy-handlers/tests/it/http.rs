use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use vigy_handlers::{EXCERPT_BYTES, HttpHandler};
use vigy_runtime::{ActionError, Handled};

use crate::support::{HUGE, Server, call, config, run};

fn handler(server: &Server, timeout: &str) -> HttpHandler {
    let text = format!(
        r#"
        [http]
        timeout = "{timeout}"
        [[http.allow]]
        prefix = "{}"
        methods = ["GET", "POST"]
        "#,
        server.url("/api/"),
    );
    config(&text).http().unwrap().clone()
}

fn get(url: &str) -> serde_json::Value {
    json!({"method": "GET", "url": url})
}

#[tokio::test]
async fn http_should_carry_out_an_allowed_get_and_record_status_and_body() {
    let server = Server::start().await;
    let handled = run(&handler(&server, "2s"), call("http", get(&server.url("/api/ok")))).await;
    let expected = json!({"status": 200, "body": "hello", "truncated": false});
    assert_eq!(handled, Ok(Handled::ok().with_message("200 OK").with_output(expected)));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].headers["idempotency-key"], "run-1:0");
}

#[tokio::test]
async fn http_should_post_a_json_body_with_the_programs_headers() {
    let server = Server::start().await;
    let payload = json!({
        "method": "post",
        "url": server.url("/api/ok?x=1"),
        "headers": {"X-Thing": "yes"},
        "body": {"a": 1},
    });
    let handled = run(&handler(&server, "2s"), call("http", payload)).await;
    assert!(handled.is_ok(), "{handled:?}");
    let seen = &server.seen()[0];
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/api/ok?x=1"));
    assert_eq!(seen.headers["x-thing"], "yes");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["idempotency-key"], "run-1:0");
    assert_eq!(&seen.body[..], br#"{"a":1}"#);
}

#[tokio::test]
async fn http_should_send_a_string_body_as_it_is() {
    let server = Server::start().await;
    let payload = json!({"method": "POST", "url": server.url("/api/ok"), "body": "plain words"});
    assert!(run(&handler(&server, "2s"), call("http", payload)).await.is_ok());
    let seen = &server.seen()[0];
    assert_eq!(&seen.body[..], b"plain words");
    assert!(seen.headers.get("content-type").is_none());
}

#[tokio::test]
async fn http_should_skip_a_method_outside_the_allow_list() {
    let server = Server::start().await;
    let url = server.url("/api/ok");
    let payload = json!({"method": "DELETE", "url": url});
    let handled = run(&handler(&server, "2s"), call("http", payload)).await;
    let reason = format!("not allowed: method DELETE for {url} (allowed there: GET, POST)");
    assert_eq!(handled, Ok(Handled::skipped(reason)));
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn http_should_skip_urls_outside_every_prefix_however_they_are_written() {
    let server = Server::start().await;
    let other = Server::start().await;
    let http = handler(&server, "2s");
    let port = server.addr.port();
    let cases = [
        (format!("http://127.0.0.1:{port}/apiary"), "is under no allowed prefix"),
        (format!("http://127.0.0.1:{port}/api"), "is under no allowed prefix"),
        (format!("http://127.0.0.1:{port}/api/../private/secret"), "is under no allowed prefix"),
        (format!("http://127.0.0.1:{port}/api/%2e%2e/private/secret"), "is under no allowed prefix"),
        (format!("http://127.0.0.1:{port}/api/..%2Fprivate/secret"), "has an encoded `/`"),
        (format!("http://localhost:{port}/api/ok"), "is under no allowed prefix"),
        (format!("https://127.0.0.1:{port}/api/ok"), "is under no allowed prefix"),
        (other.url("/api/ok"), "is under no allowed prefix"),
        (format!("http://evil@127.0.0.1:{port}/api/ok"), "carries a user name or password"),
        (format!("http://127.0.0.1:{port}@127.0.0.1:{}/api/ok", other.addr.port()), "carries a user name or password"),
    ];
    for (url, why) in cases {
        let handled = run(&http, call("http", get(&url))).await.unwrap();
        let text = format!("{handled:?}");
        assert!(text.contains("skipped: true") && text.contains(why), "{url}: {text}");
    }
    assert!(server.seen().is_empty(), "{:?}", server.targets());
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn http_should_skip_headers_that_vigy_sets_itself() {
    let server = Server::start().await;
    for name in ["Host", "Content-Length", "Transfer-Encoding", "Idempotency-Key"] {
        let payload = json!({"url": server.url("/api/ok"), "headers": {name: "x"}});
        let handled = run(&handler(&server, "2s"), call("http", payload)).await;
        assert_eq!(handled, Ok(Handled::skipped(format!("not allowed: header `{name}` is set by vigy"))));
    }
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn http_should_fail_a_payload_it_cannot_read_for_good() {
    let server = Server::start().await;
    let http = handler(&server, "2s");
    let no_url = run(&http, call("http", json!({"method": "GET"}))).await.unwrap_err();
    assert!(!no_url.is_retryable());
    assert_eq!(no_url.to_string(), "bad http payload: missing field `url`");
    let typo = run(&http, call("http", json!({"url": server.url("/api/ok"), "header": {}}))).await.unwrap_err();
    assert!(!typo.is_retryable() && typo.to_string().contains("unknown field `header`"), "{typo}");
}

#[tokio::test]
async fn http_should_retry_a_503() {
    let server = Server::start().await;
    let handled = run(&handler(&server, "2s"), call("http", get(&server.url("/api/unavailable")))).await;
    let output = json!({"status": 503, "body": "busy", "truncated": false});
    assert_eq!(handled, Err(ActionError::retryable("503 Service Unavailable").with_output(output)));
}

#[tokio::test]
async fn http_should_fail_a_404_for_good() {
    let server = Server::start().await;
    let handled = run(&handler(&server, "2s"), call("http", get(&server.url("/api/missing")))).await;
    let output = json!({"status": 404, "body": "no such thing", "truncated": false});
    assert_eq!(handled, Err(ActionError::permanent("404 Not Found").with_output(output)));
}

#[tokio::test]
async fn http_should_keep_only_an_excerpt_of_a_huge_body_and_stop_reading_it() {
    let server = Server::start().await;
    let handled = run(&handler(&server, "10s"), call("http", get(&server.url("/api/huge")))).await;
    let output = json!({"status": 200, "body": "x".repeat(EXCERPT_BYTES), "truncated": true});
    assert_eq!(handled, Ok(Handled::ok().with_message("200 OK").with_output(output)));
    // The connection was dropped after the excerpt: the server could hand
    // over little more than what the sockets buffer, nowhere near 50 MiB.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = server.huge_sent.load(Ordering::SeqCst);
    assert!(sent < HUGE / 4, "{sent} bytes were sent");
}

#[tokio::test]
async fn http_should_give_up_on_a_slow_server_at_its_own_timeout_and_retry() {
    let server = Server::start().await;
    let url = server.url("/api/slow");
    let started = Instant::now();
    let handled = run(&handler(&server, "300ms"), call("http", get(&url))).await;
    assert_eq!(handled, Err(ActionError::retryable(format!("{url}: no reply within 300ms"))));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn http_should_retry_when_nothing_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/ok", listener.local_addr().unwrap());
    drop(listener);
    let text = format!("[http]\n[[http.allow]]\nprefix = \"{url}\"\nmethods = [\"GET\"]\n");
    let error = run(config(&text).http().unwrap(), call("http", get(&url))).await.unwrap_err();
    assert!(error.is_retryable() && error.to_string().contains("cannot connect"), "{error}");
}

#[tokio::test]
async fn http_should_report_a_redirect_without_following_it() {
    let server = Server::start().await;
    let handled = run(&handler(&server, "2s"), call("http", get(&server.url("/api/redirect")))).await;
    let output = json!({"status": 302, "body": "", "truncated": false, "location": server.url("/private/secret")});
    let message = "302 Found (redirect not followed)";
    assert_eq!(handled, Ok(Handled::ok().with_message(message).with_output(output)));
    assert_eq!(server.targets(), ["/api/redirect"]);
}
