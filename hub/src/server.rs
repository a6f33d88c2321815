//! Runs the hub's gRPC server on a bound listener until `shutdown` resolves.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use lianfang_proto::pb::sync_server::SyncServer;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpListener;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::transport::{Identity, ServerTlsConfig};

use crate::app::HubApp;
use crate::grpc::SyncService;
use crate::meeting::CutoffWorker;
use crate::store::HubStore;

/// Largest gRPC message the hub accepts or sends (a full batch of
/// `MAX_BATCH_ENTRIES` records fits with room to spare).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Connections the hub holds open at once (167 compounds and then some);
/// beyond that, new ones wait in the listen backlog until one closes.
pub const MAX_CONNECTIONS: usize = 512;

/// A connection holding one of the hub's connection permits until it closes.
#[derive(Debug)]
struct Limited {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Limited {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepts connections while fewer than [`MAX_CONNECTIONS`] are open.
fn limited_incoming(listener: TcpListener) -> ReceiverStream<std::io::Result<Limited>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                return;
            };
            // The server has stopped when nobody receives any more: then
            // the listener is closed at once, not at the next connection.
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            let accepted = accepted.map(|(stream, _)| {
                let _ = stream.set_nodelay(true);
                Limited {
                    stream,
                    _permit: permit,
                }
            });
            if let Err(e) = &accepted {
                // Out of file descriptors and the like: back off, don't spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            // The server has stopped when nobody receives any more.
            if tx.send(accepted).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Why the server could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] crate::store::HubError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("dashboard: {0}")]
    Dashboard(String),
}

/// Whether a hub listening on `addr` serves TLS: always off loopback (a
/// plaintext link is refused there), on loopback only when asked.
pub fn requires_tls(addr: std::net::SocketAddr, asked: bool) -> bool {
    asked || !addr.ip().is_loopback()
}

/// Serves the hub whose data lives in `dir` on `listener` until `shutdown`
/// resolves; in-flight calls finish first. Plaintext on loopback unless
/// `tls`; a listener off loopback always uses TLS.
///
/// Beside the service runs the cut-off worker (`meeting::CutoffWorker`, on
/// its own connection): it takes the meeting's snapshot of each day at the
/// cut-off when none exists, and stops with the server (a snapshot in
/// progress, one transaction, finishes first).
///
/// # Errors
/// Store errors at start-up, or a transport error.
pub async fn run(
    listener: TcpListener,
    dir: &Path,
    tls: bool,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let tls = requires_tls(listener.local_addr()?, tls);
    let store = HubStore::open_or_create(dir)?;
    let (exit, must_exit) = tokio::sync::watch::channel(false);
    let cutoff_app = HubApp::open(dir)?;
    // The worker hears of the shutdown when the service does; if serving
    // fails instead, `exit` is dropped with this future, which stops it too.
    let shutdown = async move {
        shutdown.await;
        let _ = exit.send(true);
    };
    // With a level above (set now or later by `upstream`), the upward link
    // runs beside the service, woken by every member's call that went
    // through (`crate::upstream`).
    let changed = Arc::new(tokio::sync::Notify::new());
    let upward = tokio::spawn(crate::upstream::run_beside(
        dir.to_owned(),
        Arc::clone(&changed),
        must_exit.clone(),
    ));
    // Nodes send zstd; other gRPC clients (grpcio, grpc-go, …) commonly
    // offer only gzip. A request may come in either or uncompressed, and the
    // reply takes the first encoding in the caller's `grpc-accept-encoding`
    // that is enabled here, or none when it names neither.
    let service = SyncServer::new(SyncService::new(store).with_changed(changed))
        .send_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let mut builder = tonic::transport::Server::builder();
    if tls {
        let files = crate::tls::ensure(dir)?;
        builder = builder.tls_config(ServerTlsConfig::new().identity(Identity::from_pem(
            files.server_cert_pem,
            files.server_key_pem,
        )))?;
    }
    let cutoff_worker = tokio::spawn(CutoffWorker::new(cutoff_app).run(must_exit));
    let served = builder
        .timeout(Duration::from_secs(120))
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .max_concurrent_streams(Some(64))
        .concurrency_limit_per_connection(16)
        .layer(crate::admit::AdmitLayer::new(
            crate::admit::CALLS_AT_ONCE,
            MAX_MESSAGE_BYTES + 64 * 1024,
        ))
        .add_service(service)
        .serve_with_incoming_shutdown(limited_incoming(listener), shutdown)
        .await;
    if let Err(e) = cutoff_worker.await {
        tracing::error!(error = %e, "the cut-off worker failed");
    }
    if let Err(e) = upward.await {
        tracing::error!(error = %e, "the upward link failed");
    }
    served?;
    Ok(())
}

/// Serves the gRPC service on `listener` and, when given, the dashboard on
/// `web` (same data directory, its own `HubApp`), until `shutdown`; both
/// stop together, and a failure of either stops the other.
///
/// # Errors
/// As [`run`], or the dashboard's start-up errors.
pub async fn run_with_dashboard(
    listener: TcpListener,
    web: Option<TcpListener>,
    dir: &Path,
    tls: bool,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let Some(web) = web else {
        return run(listener, dir, tls, shutdown).await;
    };
    let app = HubApp::open(dir)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let dashboard = crate::dashboard::run(web, app, tls, wait(stopped.clone()));
    let grpc = run(listener, dir, tls, wait(stopped));
    let signal = async {
        shutdown.await;
        let _ = stop.send(true);
    };
    tokio::pin!(dashboard, grpc, signal);
    let mut signalled = false;
    let mut grpc_done: Option<Result<(), ServeError>> = None;
    let mut web_done: Option<Result<(), crate::dashboard::DashboardError>> = None;
    while grpc_done.is_none() || web_done.is_none() {
        tokio::select! {
            () = &mut signal, if !signalled => signalled = true,
            r = &mut grpc, if grpc_done.is_none() => {
                let _ = stop.send(true);
                grpc_done = Some(r);
            }
            r = &mut dashboard, if web_done.is_none() => {
                let _ = stop.send(true);
                web_done = Some(r);
            }
        }
    }
    grpc_done.unwrap_or(Ok(()))?;
    web_done
        .unwrap_or(Ok(()))
        .map_err(|e| ServeError::Dashboard(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_required_off_loopback() {
        for (addr, asked, tls) in [
            ("127.0.0.1:7700", false, false),
            ("127.0.0.1:7700", true, true),
            ("[::1]:7700", false, false),
            ("0.0.0.0:7700", false, true),
            ("10.0.0.5:7700", false, true),
            ("[::]:7700", false, true),
        ] {
            assert_eq!(requires_tls(addr.parse().unwrap(), asked), tls, "{addr}");
        }
    }
}
