//! Internal failures stay in the server's log. A client is told
//! `internal error (id …)`; the log line carries the same id and the
//! detail, so an operator can find one from the other. The runtime does
//! this for store errors behind a service call (`vigy-runtime`'s
//! `service.rs`); here, for a handler that panics and for the probes.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

/// Log `detail` under a new id, and return what a client may see.
pub fn incident(detail: &dyn std::fmt::Display) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    tracing::error!(incident = %id, %detail, "internal error");
    format!("internal error (id {id})")
}

/// `router` answering a panicking handler with a 500 and an incident id
/// instead of dropping the connection.
pub(crate) fn layer(router: axum::Router) -> axum::Router {
    router.layer(CatchPanicLayer::custom(|panic: Box<dyn std::any::Any + Send>| -> Response {
        let detail = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        let message = incident(&format_args!("handler panicked: {detail}"));
        (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message)
            .into_response()
    }))
}
