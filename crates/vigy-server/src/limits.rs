//! How much one client may hold: connections, the time to send a request's
//! head, long-lived event streams. Per-item limits (1 MiB bodies and
//! messages, GraphQL query shape) live with each transport; these are the
//! totals.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use vigy_api::ServiceError;

/// The server's totals. The defaults suit one machine serving its own
/// operators and apps: far above what they use, far below what exhausts
/// a 2-core host.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From accepting a connection to having read the first request's
    /// head (TLS handshake included); on HTTP/1 also the most a kept-alive
    /// connection may idle or take over a later head. Default 10 s:
    /// a slow client on a real network sends a head in well under a second.
    pub header_timeout: Duration,
    /// Connections open at once; the next one is answered 503 and closed.
    /// Default 512.
    pub max_connections: usize,
    /// Event streams open at once over the server: SSE clients of
    /// `/v1/events` and gRPC `StreamEvents` calls (GraphQL WebSockets have
    /// their own cap in [`vigy_graphql::Limits`]). The next is refused
    /// `unavailable`. Default 64: each holds a runtime subscription fed on
    /// every tick.
    pub max_event_streams: usize,
    /// How long draining connections may take at shutdown before they are
    /// cut. Default 30 s.
    pub drain_timeout: Duration,
    /// GraphQL's own limits: query depth, fields, aliases, batch size,
    /// subscriptions per WebSocket.
    pub graphql: vigy_graphql::Limits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 512,
            max_event_streams: 64,
            drain_timeout: Duration::from_secs(30),
            graphql: vigy_graphql::Limits::default(),
        }
    }
}

/// Paths whose responses are event streams.
fn is_event_stream(request: &Request) -> bool {
    let path = request.uri().path();
    path == "/v1/events" || path == "/pleme.vigy.v1.VigyService/StreamEvents"
}

/// `router` with at most `max` event streams at once: each holds a permit
/// for as long as its response body (or upgraded socket) lives.
pub(crate) fn cap_event_streams(router: axum::Router, max: usize) -> axum::Router {
    let permits = Arc::new(Semaphore::new(max));
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let permits = permits.clone();
        async move {
            if !is_event_stream(&request) {
                return next.run(request).await;
            }
            let Ok(permit) = permits.try_acquire_owned() else {
                let error = ServiceError::Unavailable(format!("too many event streams open (at most {max})"));
                return crate::auth::refusal(&request, error);
            };
            let response = next.run(request).await;
            // The body outlives this function; so must the permit. Frames
            // pass through untouched (gRPC's status is in the trailers).
            let (parts, body) = response.into_parts();
            let body = body.map_frame(move |frame| {
                let _held = &permit;
                frame
            });
            Response::from_parts(parts, axum::body::Body::new(body))
        }
    }))
}
