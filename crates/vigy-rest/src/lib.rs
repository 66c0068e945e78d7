//! vigy over REST: the generated adapter mounted under `/v1`, the spec's
//! OpenAPI 3.0.3 document at `/openapi.json` (the document the adapter was
//! generated from, every constraint included), and Swagger UI (vendored, no
//! CDN) at `/swagger` to read and try it. Every error is an RFC 9457
//! problem (`application/problem+json`) carrying the error code as `code`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use utoipa_swagger_ui::SwaggerUi;
pub use vigy_api_rest::{OPENAPI_JSON, PROBLEM_JSON, Problem, RestError, SharedService, status_of};

/// The largest request body accepted: a program (at most 256 KiB) with
/// room for JSON escaping and labels. A larger body is refused as
/// `invalid_argument`, like any malformed body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The REST surface over `service`.
pub fn router(service: Arc<dyn vigy_api::VigyService>) -> axum::Router {
    let api = vigy_api_rest::router(service);
    api.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .merge(SwaggerUi::new("/swagger").external_url_unchecked("/openapi.json", openapi()))
}

/// The OpenAPI document the REST surface serves: `spec/vigy.openapi.yaml`.
pub fn openapi() -> serde_json::Value {
    serde_json::from_str(OPENAPI_JSON).expect("the generated document is JSON")
}
