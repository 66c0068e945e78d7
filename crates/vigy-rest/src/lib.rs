//! vigy over REST: the generated adapter mounted under `/v1`, and the
//! OpenAPI document derived from its handlers at `/openapi.json`.

use std::sync::Arc;

use axum::Json;
use axum::routing::get;
pub use vigy_api_rest::{RestError, SharedService, status_of};

/// The REST surface over `service`.
pub fn router(service: Arc<dyn vigy_api::VigyService>) -> axum::Router {
    let (api, document) = vigy_api_rest::router(service);
    let document = Arc::new(document);
    api.route("/openapi.json", get(move || async move { Json(document.as_ref().clone()) }))
}

/// The OpenAPI document the REST surface serves.
pub fn openapi(service: Arc<dyn vigy_api::VigyService>) -> utoipa::openapi::OpenApi {
    vigy_api_rest::router(service).1
}
