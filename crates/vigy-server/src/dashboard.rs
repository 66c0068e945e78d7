//! The dashboard at `/`: one page and its script and styles, embedded in
//! the binary (`assets/dashboard/`, plain ES modules, no build step). It
//! speaks to the server only through the public GraphQL API (queries,
//! mutations, the `streamEvents` subscription) and reads `/metrics` for its
//! overview, so it shows what any client could do. The page is public, the
//! API calls carry the bearer token the page asks for; the content
//! security policy keeps every request on this origin.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Where the script and styles are served.
pub(crate) const ASSETS: &str = "/dashboard";

const PAGE: &str = include_str!("../assets/dashboard/index.html");

const FILES: [(&str, &str, &str); 2] = [
    ("dashboard.js", "text/javascript", include_str!("../assets/dashboard/dashboard.js")),
    ("dashboard.css", "text/css", include_str!("../assets/dashboard/dashboard.css")),
];

/// Same origin only, WebSockets included (`'self'` covers `ws:` to this
/// host in CSP 3); no inline script.
const POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

/// The page's routes.
pub(crate) fn router() -> axum::Router {
    axum::Router::new().route("/", get(page)).route(&format!("{ASSETS}/{{file}}"), get(asset))
}

async fn page() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    response
}

async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, ..)| *name == file) {
        Some((_, content_type, text)) => ([(header::CONTENT_TYPE, *content_type)], *text).into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
