//! What the headless Chromium tests share: the browser's path and a wait.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headless_chrome::Tab;
use headless_chrome::browser::tab::RequestPausedDecision;
use headless_chrome::protocol::cdp::Fetch::events::RequestPausedEvent;

/// Debian's Chromium (`scripts/test` installs it), or `$CHROME`.
pub(crate) fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROME").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(path.exists(), "no browser at {} (apt-get install chromium, or set $CHROME)", path.display());
    path
}

/// Poll `check` until it holds, for at most 30 s.
pub(crate) fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("not within 30 s: {what}");
}

/// Record every URL `tab` requests from now on.
#[allow(dead_code, reason = "not every browser test records requests")]
pub(crate) fn record_requests(tab: &Tab) -> Arc<Mutex<Vec<String>>> {
    let requested = Arc::new(Mutex::new(Vec::new()));
    let seen = requested.clone();
    tab.enable_fetch(None, None).unwrap();
    tab.enable_request_interception(Arc::new(move |_transport, _session, event: RequestPausedEvent| {
        seen.lock().unwrap().push(event.params.request.url.clone());
        RequestPausedDecision::Continue(None)
    }))
    .unwrap();
    requested
}
