//! Swagger UI in a real browser: headless Chromium (Debian's `chromium`,
//! which `.ci/run` installs) loads `/swagger`, every operation of the spec
//! is listed, and "Try it out" on listing vigies gets a 200 with the
//! registered vigy in it.

use std::time::Duration;

#[path = "support/browser.rs"]
mod browser;

use browser::{chromium, wait_for};
use headless_chrome::{Browser, LaunchOptions, Tab};
use vigy_api::{RegisterVigy, RegisterVigyRequest, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};

async fn serve() -> String {
    let runtime = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let body = RegisterVigy {
        name: "hello".into(),
        program: "(vigy-noop)".into(),
        tick_interval_ms: Some(1000),
        labels: None,
        ..Default::default()
    };
    runtime.register_vigy(RegisterVigyRequest { body }).await.unwrap();
    let app = vigy_server::app(&runtime, &Default::default(), Default::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The text of every element matching `selector`.
fn texts(tab: &Tab, selector: &str) -> Vec<String> {
    tab.find_elements(selector)
        .map(|found| found.iter().filter_map(|e| e.get_inner_text().ok()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_should_list_the_operations_and_try_one_out() {
    let url = serve().await;
    let browser_path = chromium();
    tokio::task::spawn_blocking(move || {
        let options = LaunchOptions::default_builder()
            .path(Some(browser_path))
            .sandbox(false)
            .headless(true)
            .window_size(Some((1400, 1000)))
            .build()
            .unwrap();
        let browser = Browser::new(options).unwrap();
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(20));
        tab.navigate_to(&format!("{url}/swagger/")).unwrap().wait_until_navigated().unwrap();

        tab.wait_for_element(".opblock").unwrap();
        // Each operation's block is `operations-<tag>-<operationId>`.
        let script = "JSON.stringify(Array.from(document.querySelectorAll('.opblock')).map(e => e.id))";
        let ids = tab.evaluate(script, false).unwrap().value.unwrap();
        let ids: Vec<String> = serde_json::from_str(ids.as_str().unwrap()).unwrap();
        let mut listed: Vec<&str> = ids.iter().filter_map(|id| id.rsplit('-').next()).collect();
        listed.sort_unstable();
        let mut expected: Vec<&str> = vigy_api::OPERATIONS.iter().map(|op| op.id).collect();
        expected.sort_unstable();
        assert_eq!(listed, expected, "every operation of the spec is listed");

        let list = tab.wait_for_element("[id$='-listVigies'] .opblock-summary").unwrap();
        list.click().unwrap();
        tab.wait_for_element("[id$='-listVigies'] .try-out__btn").unwrap().click().unwrap();
        tab.wait_for_element("[id$='-listVigies'] .execute").unwrap().click().unwrap();
        wait_for("a response to Try it out", || {
            texts(&tab, "[id$='-listVigies'] .live-responses-table .response-col_status")
                .iter()
                .any(|s| s.trim() == "200")
        });
        let body = texts(&tab, "[id$='-listVigies'] .live-responses-table .response-col_description").join("\n");
        assert!(body.contains("\"hello\""), "the response shows the vigy: {body}");
    })
    .await
    .unwrap();
}
