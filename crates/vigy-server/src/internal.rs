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

/// The incident message of a 500 the panic layer made.
#[derive(Debug, Clone)]
struct Incident(String);

/// `router` answering a panicking handler with a 500 and an incident id
/// instead of dropping the connection: under `/v1/` as REST's problem
/// (`internal`), elsewhere as text.
pub(crate) fn layer(router: axum::Router) -> axum::Router {
    router.layer(CatchPanicLayer::custom(on_panic)).layer(axum::middleware::from_fn(rest_problem))
}

async fn rest_problem(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let rest = request.uri().path().starts_with("/v1/");
    let response = next.run(request).await;
    match response.extensions().get::<Incident>() {
        Some(Incident(message)) if rest => {
            vigy_rest::RestError(vigy_api::ServiceError::Internal(message.clone())).into_response()
        }
        _ => response,
    }
}

fn on_panic(panic: Box<dyn std::any::Any + Send>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    let message = incident(&format_args!("handler panicked: {detail}"));
    let mut response =
        (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message.clone())
            .into_response();
    response.extensions_mut().insert(Incident(message));
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("boom")
    }

    async fn answer(app: &axum::Router, path: &str) -> (u16, String, String) {
        let response = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        (status, content_type, body)
    }

    #[tokio::test]
    async fn a_panicking_rest_handler_should_answer_an_internal_problem_and_others_text() {
        let app = super::layer(
            axum::Router::new().route("/v1/boom", axum::routing::get(boom)).route("/boom", axum::routing::get(boom)),
        );
        let (status, content_type, body) = answer(&app, "/v1/boom").await;
        assert_eq!((status, content_type.as_str()), (500, "application/problem+json"));
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["code"], "internal");
        assert!(problem["detail"].as_str().unwrap().starts_with("internal error (id "), "{problem}");
        assert!(!body.contains("boom"), "the panic stays in the log: {body}");
        let (status, content_type, body) = answer(&app, "/boom").await;
        assert_eq!((status, content_type.as_str()), (500, "text/plain; charset=utf-8"));
        assert!(body.starts_with("internal error (id "), "{body}");
    }
}
