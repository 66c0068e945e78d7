//! vigy over REST: the generated adapter mounted under `/v1`, the OpenAPI
//! document derived from its handlers at `/openapi.json`, and Swagger UI
//! (vendored, no CDN) at `/swagger` to read and try it.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use utoipa_swagger_ui::SwaggerUi;
pub use vigy_api_rest::{RestError, SharedService, status_of};

/// The largest request body accepted: a program (at most 256 KiB) with
/// room for JSON escaping and labels. A larger body is refused as
/// `invalid_argument`, like any malformed body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The REST surface over `service`.
pub fn router(service: Arc<dyn vigy_api::VigyService>) -> axum::Router {
    let (api, document) = vigy_api_rest::router(service);
    api.layer(DefaultBodyLimit::max(MAX_BODY_BYTES)).merge(SwaggerUi::new("/swagger").url("/openapi.json", document))
}

/// The OpenAPI document the REST surface serves.
pub fn openapi(service: Arc<dyn vigy_api::VigyService>) -> utoipa::openapi::OpenApi {
    vigy_api_rest::router(service).1
}
