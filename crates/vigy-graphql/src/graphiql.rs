//! GraphiQL served whole by vigy: the page at `/graphql` (GET without a
//! WebSocket upgrade) and its scripts and styles, vendored in
//! `assets/graphiql/` (versions in its README), at `/graphql/assets/*`.
//! The page names only same-origin URLs, so it works offline and no other
//! host learns who opened it.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// Where the assets are served.
pub const ASSETS: &str = "/graphql/assets";

const FILES: [(&str, &str, &[u8]); 4] = [
    ("graphiql.min.js", "text/javascript", include_bytes!("../assets/graphiql/graphiql.min.js")),
    ("graphiql.min.css", "text/css", include_bytes!("../assets/graphiql/graphiql.min.css")),
    ("react.production.min.js", "text/javascript", include_bytes!("../assets/graphiql/react.production.min.js")),
    (
        "react-dom.production.min.js",
        "text/javascript",
        include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    ),
];

/// The page: GraphiQL 3 over `/graphql`, subscriptions on the same path
/// over a WebSocket.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>vigy · GraphiQL</title>
    <link rel="icon" href="data:,">
    <style>body { margin: 0; } #graphiql { height: 100vh; }</style>
    <link rel="stylesheet" href="/graphql/assets/graphiql.min.css">
    <script src="/graphql/assets/react.production.min.js"></script>
    <script src="/graphql/assets/react-dom.production.min.js"></script>
    <script src="/graphql/assets/graphiql.min.js"></script>
  </head>
  <body>
    <div id="graphiql">Loading…</div>
    <script>
      const url = new URL('/graphql', window.location.href);
      const ws = new URL(url);
      ws.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      ReactDOM.createRoot(document.getElementById('graphiql')).render(
        React.createElement(GraphiQL, {
          fetcher: GraphiQL.createFetcher({ url: url.toString(), subscriptionUrl: ws.toString() }),
          defaultEditorToolsVisibility: true,
        }),
      );
    </script>
  </body>
</html>
"#;

/// The page.
pub(crate) fn page() -> Response {
    Html(PAGE).into_response()
}

/// The assets' routes.
pub(crate) fn router() -> axum::Router {
    axum::Router::new().route(&format!("{ASSETS}/{{file}}"), get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, ..)| *name == file) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=86400")], *bytes)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
