//! Runs the hub's gRPC server on a bound listener until `shutdown` resolves.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use lianfang_proto::pb::sync_server::SyncServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codec::CompressionEncoding;

use crate::grpc::SyncService;
use crate::store::HubStore;

/// Largest gRPC message the hub accepts or sends.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Serves the hub whose data lives in `dir` on `listener` until `shutdown`
/// resolves; in-flight calls finish first.
///
/// # Errors
/// Store errors at start-up, or a transport error.
pub async fn run(
    listener: TcpListener,
    dir: &Path,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let store = HubStore::open_or_create(dir)?;
    let service = SyncServer::new(SyncService::new(store))
        .send_compressed(CompressionEncoding::Zstd)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .timeout(Duration::from_secs(120))
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
