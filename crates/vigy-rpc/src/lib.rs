//! vigy over gRPC (`pleme.vigy.v1.VigyService`): the generated tonic
//! service over any [`VigyService`](vigy_api::VigyService), with what gRPC
//! tooling expects beside it (server reflection, the standard health
//! service), and the generated client that implements `VigyService`, so an
//! app switches between the in-process runtime and a remote one without
//! changing code.

use std::path::Path;
use std::sync::Arc;

use tonic::service::Routes;
use vigy_api_grpc::pb::vigy_service_server::VigyServiceServer;
pub use vigy_api_grpc::{GrpcClient, GrpcService, pb, service_error, status};

/// The largest request message accepted (a program is at most 256 KiB);
/// a larger one is refused with `OUT_OF_RANGE`, which clients read as
/// `invalid_argument`.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The vigy service, reflection (v1) and health, as tonic routes.
pub async fn routes(service: Arc<dyn vigy_api::VigyService>) -> Routes {
    let vigy = GrpcService::new(service).into_server().max_decoding_message_size(MAX_MESSAGE_BYTES);
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the generated descriptor set decodes");
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<VigyServiceServer<GrpcService>>().await;
    Routes::new(vigy).add_service(reflection).add_service(health_service)
}

/// The same routes as axum routes, to serve gRPC on the port of the HTTP
/// surfaces (HTTP/2 cleartext).
pub async fn router(service: Arc<dyn vigy_api::VigyService>) -> axum::Router {
    routes(service).await.into_axum_router()
}

/// Bind a Unix socket at `path` for [`serve_unix`], replacing a stale
/// socket file.
pub fn bind_unix(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(path)?;
    }
    tokio::net::UnixListener::bind(path)
}

/// Serve gRPC on a bound Unix socket until `shutdown` completes: the
/// cheapest way in for an app on the same host.
pub async fn serve_unix(
    service: Arc<dyn vigy_api::VigyService>,
    listener: tokio::net::UnixListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    tonic::transport::Server::builder()
        .add_routes(routes(service).await)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
