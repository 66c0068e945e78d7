//! What a web page can do to a vigy server on loopback, in a real browser
//! (headless Chromium, as in `swagger_browser.rs`): a page from another
//! origin tries every request a browser sends without a preflight, and the
//! server's state is checked afterwards; a rebound name is refused; and
//! GraphiQL renders from the server's own assets alone.

use std::time::Duration;

#[path = "support/browser.rs"]
mod browser;

use browser::wait_for;
use headless_chrome::{Browser, LaunchOptions};
use vigy_api::{GetVigyRequest, ListVigyRunsRequest, RegisterVigy, RegisterVigyRequest, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};

fn browser() -> Browser {
    let path = browser::chromium();
    let options = LaunchOptions::default_builder().path(Some(path)).sandbox(false).headless(true).build().unwrap();
    Browser::new(options).unwrap()
}

async fn serve_vigy() -> (RuntimeHandle, u16) {
    let runtime = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let body = RegisterVigy {
        name: "hello".into(),
        program: "(vigy-noop)".into(),
        tick_interval_ms: Some(60_000),
        labels: None,
        ..Default::default()
    };
    runtime.register_vigy(RegisterVigyRequest { body }).await.unwrap();
    let app = vigy_server::app(&runtime, &Default::default(), Default::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let limits = vigy_server::Limits::default();
    tokio::spawn(async move { vigy_server::serve(listener, app, None, &limits, std::future::pending()).await });
    (runtime, port)
}

/// The attacker's page: every simple (unpreflighted) request against the
/// vigy server at `port`, then `document.title = "done"`.
fn attack_page(port: u16) -> String {
    let base = format!("http://127.0.0.1:{port}");
    format!(
        r#"<!DOCTYPE html><html><body>
<form id="f" method="POST" action="{base}/v1/vigies/hello/tick" target="sink"><input name="x" value="1"></form>
<iframe name="sink"></iframe>
<script>
const results = [];
const register = JSON.stringify({{ query: 'mutation {{ registerVigy(input: {{name: "evil", program: "(vigy-noop)", tickIntervalMs: 1000}}) {{ id }} }}' }});
async function attempt(name, run) {{
  try {{ await run(); results.push(name + ': sent'); }} catch (e) {{ results.push(name + ': ' + e); }}
}}
(async () => {{
  await attempt('graphql text/plain', () => fetch('{base}/graphql', {{ method: 'POST', mode: 'no-cors', headers: {{ 'content-type': 'text/plain' }}, body: register }}));
  await attempt('rest disable', () => fetch('{base}/v1/vigies/hello/disable', {{ method: 'POST', mode: 'no-cors' }}));
  await attempt('rest tick', () => fetch('{base}/v1/vigies/hello/tick', {{ method: 'POST', mode: 'no-cors' }}));
  document.getElementById('f').submit();
  await new Promise(done => {{
    const ws = new WebSocket('ws://127.0.0.1:{port}/graphql', 'graphql-transport-ws');
    ws.onopen = () => {{
      ws.send(JSON.stringify({{ type: 'connection_init' }}));
      ws.send(JSON.stringify({{ type: 'subscribe', id: '1', payload: {{ query: 'mutation {{ tickVigy(id: "hello") {{ id }} }}' }} }}));
      results.push('ws: open');
      setTimeout(done, 1000);
    }};
    ws.onerror = () => {{ results.push('ws: refused'); done(); }};
  }});
  await new Promise(done => setTimeout(done, 1000));
  window.results = results;
  document.title = 'done';
}})();
</script></body></html>"#
    )
}

/// A second server, on another port: another origin.
async fn serve_page(html: String) -> u16 {
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_from_another_origin_should_not_change_any_vigy() {
    let (runtime, port) = serve_vigy().await;
    let page = serve_page(attack_page(port)).await;
    let results = tokio::task::spawn_blocking(move || {
        let browser = browser();
        let tab = browser.new_tab().unwrap();
        tab.navigate_to(&format!("http://localhost:{page}/")).unwrap().wait_until_navigated().unwrap();
        wait_for("the page's attempts", || tab.get_title().is_ok_and(|t| t == "done"));
        let results = tab.evaluate("JSON.stringify(window.results)", false).unwrap().value.unwrap();
        results.as_str().unwrap().to_owned()
    })
    .await
    .unwrap();
    eprintln!("the page's attempts: {results}");
    assert!(results.contains("ws: refused"), "the WebSocket handshake was refused: {results}");

    let hello = runtime.get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap();
    assert!(hello.enabled, "still enabled");
    assert!(runtime.get_vigy(GetVigyRequest { id: "evil".into() }).await.is_err(), "nothing registered");
    let runs =
        runtime.list_vigy_runs(ListVigyRunsRequest { id: "hello".into(), limit: None, cursor: None }).await.unwrap();
    assert!(runs.items.is_empty(), "no tick ran: {:?}", runs.items);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebound_host_name_should_be_refused_in_the_browser() {
    let (_runtime, port) = serve_vigy().await;
    let text = tokio::task::spawn_blocking(move || {
        let browser = browser();
        let tab = browser.new_tab().unwrap();
        // Chromium resolves every *.localhost name to loopback, as a
        // rebinding attacker's name would be.
        tab.navigate_to(&format!("http://rebound.localhost:{port}/v1/vigies")).unwrap().wait_until_navigated().unwrap();
        tab.find_element("body").unwrap().get_inner_text().unwrap()
    })
    .await
    .unwrap();
    assert!(text.contains("not served as `rebound.localhost"), "{text}");
    assert!(!text.contains("hello"), "no data: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn graphiql_should_render_from_the_servers_own_assets_alone() {
    let (_runtime, port) = serve_vigy().await;
    let (requested, rendered) = tokio::task::spawn_blocking(move || {
        let browser = browser();
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(30));
        let requested = browser::record_requests(&tab);
        tab.navigate_to(&format!("http://127.0.0.1:{port}/graphql")).unwrap().wait_until_navigated().unwrap();
        // The editor, and the schema GraphiQL fetched (the docs button
        // works only once introspection succeeded).
        tab.wait_for_element(".graphiql-query-editor .CodeMirror").unwrap();
        let rendered = tab.wait_for_element(".graphiql-container").unwrap().get_inner_text().unwrap_or_default();
        let requested = requested.lock().unwrap().clone();
        (requested, rendered)
    })
    .await
    .unwrap();
    let own = format!("http://127.0.0.1:{port}/");
    let foreign: Vec<_> = requested.iter().filter(|url| !url.starts_with(&own) && !url.starts_with("data:")).collect();
    assert!(foreign.is_empty(), "requests to other hosts: {foreign:?}");
    assert!(requested.iter().any(|u| u.ends_with("/graphql/assets/graphiql.min.js")), "{requested:?}");
    assert!(!rendered.contains("Loading"), "{rendered}");
}
