//! Subscriptions over a WebSocket (graphql-ws and the older
//! subscriptions-transport-ws), bounded: messages and frames at
//! [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES) like POST bodies (a larger one
//! closes the socket), at most [`max_websockets`](crate::Limits::max_websockets) sockets at once,
//! at most [`max_subscriptions`](crate::Limits::max_subscriptions) running operations on each.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vigy_api::ServiceError;

use crate::{Coded, MAX_BODY_BYTES, refusal};

/// A connection's allowance of running operations, in its session data.
struct Operations(Arc<Semaphore>);

/// The upgrade of a GET on `/graphql` asking for a WebSocket.
pub(crate) async fn upgrade(coded: Coded, sockets: Arc<Semaphore>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(socket_permit) = sockets.try_acquire_owned() else {
        let max = coded.limits.max_websockets;
        return refusal(ServiceError::Unavailable(format!("too many GraphQL WebSockets open (at most {max})")));
    };
    let per_socket = coded.limits.max_subscriptions;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| async move {
            let _socket_permit = socket_permit;
            GraphQLWebSocket::new(socket, coded, protocol)
                .on_connection_init(move |_| async move {
                    let mut data = Data::default();
                    data.insert(Operations(Arc::new(Semaphore::new(per_socket))));
                    Ok(data)
                })
                .serve()
                .await;
        })
}

/// One of the connection's operations, or `None` if it has as many
/// running as it may (or no allowance: not a WebSocket session).
pub(crate) fn admit(session: Option<&Data>) -> Result<Option<OwnedSemaphorePermit>, ()> {
    let Some(operations) =
        session.and_then(|data| data.get(&TypeId::of::<Operations>())).and_then(|any| any.downcast_ref::<Operations>())
    else {
        return Ok(None);
    };
    operations.0.clone().try_acquire_owned().map(Some).map_err(|_| ())
}

/// The one response of an operation refused for the connection's count.
pub(crate) fn too_many(max: usize) -> BoxStream<'static, async_graphql::Response> {
    let error = ServiceError::Unavailable(format!("too many subscriptions on this connection (at most {max})"));
    let error = crate::graphql_error(error).into_server_error(Default::default());
    futures::stream::once(async move { async_graphql::Response::from_errors(vec![error]) }).boxed()
}
