//! The dashboard at `/` in headless Chromium, against a real server on
//! 127.0.0.1 over a real runtime: it lists the fleet, follows ticks that
//! land after it loaded, shows failures with their error, changes state
//! through its buttons, asks for the bearer token when one is required,
//! and requests nothing from any other host. Screenshots of both views at
//! 1400 and 400 pixels go to `target/dashboard-screenshots/`.

use std::time::Duration;

#[path = "support/browser.rs"]
mod browser;

use browser::{record_requests, wait_for};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use vigy_api::{GetVigyRequest, ListVigyRunsRequest, RegisterVigy, RegisterVigyRequest, TickVigyRequest, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};
use vigy_server::ServeOptions;

fn browser(width: u32) -> Browser {
    let options = LaunchOptions::default_builder()
        .path(Some(browser::chromium()))
        .sandbox(false)
        .headless(true)
        .window_size(Some((width, 1000)))
        .build()
        .unwrap();
    Browser::new(options).unwrap()
}

/// A runtime that ticks nothing on its own (ticks are forced), served on
/// an ephemeral port with `options`.
async fn serve(options: ServeOptions, vigies: &[(&str, &str)]) -> (RuntimeHandle, u16) {
    let runtime = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    for (name, program) in vigies {
        let body = RegisterVigy {
            name: (*name).into(),
            program: (*program).into(),
            tick_interval_ms: Some(60_000),
            labels: Some([("team".to_owned(), "infra".to_owned())].into()),
            ..Default::default()
        };
        runtime.register_vigy(RegisterVigyRequest { body }).await.unwrap();
    }
    let app = vigy_server::app(&runtime, &options, Default::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let limits = vigy_server::Limits::default();
    tokio::spawn(async move { vigy_server::serve(listener, app, None, &limits, std::future::pending()).await });
    (runtime, port)
}

fn text_of(tab: &Tab, selector: &str) -> String {
    tab.find_element(selector).and_then(|e| e.get_inner_text()).unwrap_or_default()
}

fn screenshot(tab: &Tab, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = tab.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Handle::current().block_on(future)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_should_show_the_fleet_follow_ticks_and_change_state_from_this_origin_alone() {
    let vigies = [
        ("hello", r#"(vigy-set "n" (+ 1 (or (vigy-get "n") 0))) (vigy-noop)"#),
        ("broken", r#"(vigy-log "info" "about to fail") (throw "the upstream said no")"#),
    ];
    let (runtime, port) = serve(ServeOptions::default(), &vigies).await;
    runtime.tick_vigy(TickVigyRequest { id: "broken".into() }).await.unwrap();
    let origin = format!("http://127.0.0.1:{port}/");
    let (requested, runtime) = tokio::task::spawn_blocking(move || {
        let browser = browser(1400);
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(30));
        let requested = record_requests(&tab);
        tab.navigate_to(&origin).unwrap().wait_until_navigated().unwrap();

        // No token asked for where none is required.
        tab.wait_for_element("tr[data-vigy=hello]").unwrap();
        let asks = tab.evaluate("getComputedStyle(document.getElementById('login')).display", false).unwrap();
        assert_eq!(asks.value.unwrap(), serde_json::json!("none"), "the sign-in form shows without a token");

        // The fleet, with the failure in red and its error.
        tab.wait_for_element("tr[data-vigy=hello]").unwrap();
        let broken = tab.wait_for_element("tr[data-vigy=broken]").unwrap();
        let class = broken.get_attribute_value("class").unwrap().unwrap_or_default();
        assert!(class.contains("result-failed"), "{class}");
        assert!(text_of(&tab, "tr[data-vigy=broken]").contains("the upstream said no"));
        assert!(text_of(&tab, "tr[data-vigy=hello]").contains("no run yet"));

        // A tick after the page loaded appears without a reload.
        tab.evaluate("window.notReloaded = true", false).unwrap();
        wait_for("the subscription", || text_of(&tab, "#live") == "live");
        block_on(runtime.tick_vigy(TickVigyRequest { id: "hello".into() })).unwrap();
        wait_for("hello's tick on the page", || text_of(&tab, "tr[data-vigy=hello]").contains("ok (tick 1)"));
        let same_page = tab.evaluate("window.notReloaded === true", false).unwrap().value.unwrap();
        assert_eq!(same_page, serde_json::json!(true), "the page was reloaded");
        screenshot(&tab, "fleet-1400");

        // The vigy view; disable and tick now change the server's state.
        tab.find_element("tr[data-vigy=hello] a").unwrap().click().unwrap();
        wait_for("the vigy view", || text_of(&tab, "main h1") == "hello");
        assert!(text_of(&tab, "main").contains("\"n\": 1"), "kv shown: {}", text_of(&tab, "main"));
        tab.find_element_by_xpath("//button[text()='Disable']").unwrap().click().unwrap();
        wait_for("disabled on the server", || {
            !block_on(runtime.get_vigy(GetVigyRequest { id: "hello".into() })).unwrap().enabled
        });
        wait_for("the Enable button", || tab.find_element_by_xpath("//button[text()='Enable']").is_ok());
        tab.find_element_by_xpath("//button[text()='Tick now']").unwrap().click().unwrap();
        wait_for("a second run on the server", || {
            let runs =
                block_on(runtime.list_vigy_runs(ListVigyRunsRequest { id: "hello".into(), limit: None, cursor: None }))
                    .unwrap();
            runs.items.len() == 2
        });
        wait_for("tick 2 on the page", || text_of(&tab, "main").contains("tick 2 · ok"));
        screenshot(&tab, "vigy-1400");

        tab.navigate_to(&format!("{origin}#/vigy/broken")).unwrap();
        wait_for("broken's view", || text_of(&tab, "main h1") == "broken");
        tab.find_element(".run summary").unwrap().click().unwrap();
        assert!(text_of(&tab, "main").contains("the upstream said no"));
        (requested.lock().unwrap().clone(), runtime)
    })
    .await
    .unwrap();
    let own = format!("http://127.0.0.1:{port}/");
    let foreign: Vec<_> = requested.iter().filter(|url| !url.starts_with(&own)).collect();
    assert!(foreign.is_empty(), "requests to other hosts: {foreign:?}");
    assert!(requested.iter().any(|u| u.ends_with("/dashboard/dashboard.js")), "{requested:?}");

    // At a phone's width.
    tokio::task::spawn_blocking(move || {
        let browser = browser(400);
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(30));
        tab.navigate_to(&format!("http://127.0.0.1:{port}/")).unwrap().wait_until_navigated().unwrap();
        tab.wait_for_element("tr[data-vigy=broken]").unwrap();
        screenshot(&tab, "fleet-400");
        tab.navigate_to(&format!("http://127.0.0.1:{port}/#/vigy/hello")).unwrap();
        wait_for("hello's view", || text_of(&tab, "main h1") == "hello");
        screenshot(&tab, "vigy-400");
    })
    .await
    .unwrap();
    drop(runtime);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_required_the_dashboard_should_work_after_signing_in_and_not_before() {
    let options = ServeOptions { token: Some("s3cret".into()), ..Default::default() };
    let (_runtime, port) = serve(options, &[("hello", "(vigy-noop)")]).await;
    tokio::task::spawn_blocking(move || {
        let browser = browser(1400);
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(30));
        tab.navigate_to(&format!("http://127.0.0.1:{port}/")).unwrap().wait_until_navigated().unwrap();
        tab.wait_for_element("#login:not([hidden])").unwrap();
        assert!(!text_of(&tab, "body").contains("hello"), "no data before signing in");

        tab.find_element("#token").unwrap().click().unwrap().type_into("wrong").unwrap();
        tab.find_element("#login button").unwrap().click().unwrap();
        wait_for("the refusal", || text_of(&tab, "#login-error").contains("refused"));
        assert!(!text_of(&tab, "body").contains("hello"));

        let token = tab.find_element("#token").unwrap();
        token.call_js_fn("function () { this.value = ''; }", vec![], false).unwrap();
        token.click().unwrap().type_into("s3cret").unwrap();
        tab.find_element("#login button").unwrap().click().unwrap();
        tab.wait_for_element("tr[data-vigy=hello]").unwrap();
    })
    .await
    .unwrap();
}

/// Time to first render of the fleet view over 10,000 vigies, and the
/// page's JavaScript heap: a measurement, not a check (run with
/// `cargo test -p vigy-server --test dashboard_browser -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: registers 10,000 vigies"]
async fn measure_the_fleet_view_over_ten_thousand_vigies() {
    let (runtime, port) = serve(ServeOptions::default(), &[]).await;
    for i in 0..10_000 {
        let body = RegisterVigy {
            name: format!("vigy-{i:05}"),
            program: "(vigy-noop)".into(),
            tick_interval_ms: Some(60_000),
            labels: Some([("shard".to_owned(), (i % 10).to_string())].into()),
            ..Default::default()
        };
        runtime.register_vigy(RegisterVigyRequest { body }).await.unwrap();
    }
    let (render_ms, heap) = tokio::task::spawn_blocking(move || {
        let browser = browser(1400);
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(60));
        tab.navigate_to(&format!("http://127.0.0.1:{port}/")).unwrap().wait_until_navigated().unwrap();
        tab.wait_for_element("tr[data-vigy=vigy-00000]").unwrap();
        let render = tab.evaluate("window.vigyRendered", false).unwrap().value.unwrap();
        let heap = tab.evaluate("performance.memory.usedJSHeapSize", false).unwrap().value.unwrap();
        (render.as_f64().unwrap(), heap.as_f64().unwrap())
    })
    .await
    .unwrap();
    eprintln!("fleet view over 10,000 vigies: first render {render_ms:.0} ms, JS heap {:.1} MiB", heap / 1048576.0);
}
