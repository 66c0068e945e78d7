//! vigy over gRPC (`pleme.vigy.v1.VigyService`): the generated tonic
//! service over any [`VigyService`](vigy_api::VigyService), and the
//! generated client that implements it, so an app switches between the
//! in-process runtime and a remote one without changing code.

pub use vigy_api_grpc::{GrpcClient, GrpcService, pb, service_error, status};
