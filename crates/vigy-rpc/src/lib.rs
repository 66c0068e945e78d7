//! vigy over gRPC (`pleme.vigy.v1.VigyService`): the generated tonic
//! service over any [`VigyService`](vigy_api::VigyService), and the
//! generated client that implements it, so an app switches between the
//! in-process runtime and a remote one without changing code.

pub use vigy_api_grpc::{GrpcClient, GrpcService, pb, service_error, status};

/// `pleme.vigy.v1.VigyService` as axum routes, to serve gRPC on the same
/// port as the HTTP surfaces (HTTP/2 cleartext).
pub fn router(service: std::sync::Arc<dyn vigy_api::VigyService>) -> axum::Router {
    tonic::service::Routes::new(GrpcService::new(service).into_server()).into_axum_router()
}
