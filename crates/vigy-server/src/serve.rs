//! Serving the router on a TCP listener: HTTP/1 and HTTP/2 (gRPC) on one
//! port, TLS when configured, with the totals of [`Limits`]: a deadline for
//! each connection's first request head, HTTP/1's header timeout after
//! it, and a cap on open connections.

use std::future::Future;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::Limits;

/// What a connection refused at the cap is told (HTTP/1; a TLS or HTTP/2
/// client sees the connection close).
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 39\r\n\r\nvigy: too many connections, try later\r\n";

/// Serve `app` on `listener` until `shutdown` completes, then let open
/// connections finish for up to `limits.drain_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let tls = tls.map(TlsAcceptor::from);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let header_timeout = limits.header_timeout;
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait, don't spin.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY the tail of a multi-segment response waits
        // for the client's delayed ACK (~40 ms on every gRPC list).
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "refused a connection: too many open");
            tokio::spawn(refuse(tcp, tls.is_some()));
            continue;
        };
        let deadline = Instant::now() + header_timeout;
        let (app, builder, tls, watcher) = (app.clone(), builder.clone(), tls.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _permit = permit;
            let served = match tls {
                None => connection(tcp, app, &builder, deadline, watcher).await,
                Some(tls) => match tokio::time::timeout_at(deadline, tls.accept(tcp)).await {
                    Ok(Ok(stream)) => connection(stream, app, &builder, deadline, watcher).await,
                    Ok(Err(error)) => Err(format!("TLS handshake: {error}")),
                    Err(_) => Err("no TLS handshake in time".into()),
                },
            };
            if let Err(why) = served {
                tracing::debug!(%peer, why, "connection closed");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout) => tracing::warn!("connections still open after draining; closing them"),
    }
    Ok(())
}

/// One connection: closed if no request head arrived by `deadline`.
async fn connection<I>(
    io: I,
    app: axum::Router,
    builder: &auto::Builder<TokioExecutor>,
    deadline: Instant,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let first = Arc::new(Notify::new());
    let service = {
        let first = first.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            first.notify_one();
            app.clone().oneshot(request.map(axum::body::Body::new))
        })
    };
    let connection = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned());
    tokio::pin!(connection);
    // Until a first head is read, hyper has no timer running on HTTP/2's
    // preface nor on the bytes it reads to tell the versions apart.
    let started = tokio::time::timeout_at(deadline, async {
        tokio::select! {
            served = &mut connection => Some(served),
            () = first.notified() => None,
        }
    });
    match started.await {
        Err(_) => Err("no request head in time".into()),
        Ok(Some(served)) => served.map_err(|e| e.to_string()),
        Ok(None) => connection.await.map_err(|e| e.to_string()),
    }
}

/// Tell an HTTP/1 client over the cap why, then close.
async fn refuse(mut tcp: TcpStream, tls: bool) {
    if !tls {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), tcp.write_all(TOO_MANY)).await;
    }
}
