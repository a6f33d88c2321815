//! Runs the hub's gRPC server on a bound listener until `shutdown` resolves.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use lianfang_proto::pb::sync_server::SyncServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Identity, ServerTlsConfig};

use crate::grpc::SyncService;
use crate::store::HubStore;

/// Largest gRPC message the hub accepts or sends (a full batch of
/// `MAX_BATCH_ENTRIES` records fits with room to spare).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Whether a hub listening on `addr` serves TLS: always off loopback (a
/// plaintext link is refused there), on loopback only when asked.
pub fn requires_tls(addr: std::net::SocketAddr, asked: bool) -> bool {
    asked || !addr.ip().is_loopback()
}

/// Serves the hub whose data lives in `dir` on `listener` until `shutdown`
/// resolves; in-flight calls finish first. Plaintext on loopback unless
/// `tls`; a listener off loopback always uses TLS.
///
/// # Errors
/// Store errors at start-up, or a transport error.
pub async fn run(
    listener: TcpListener,
    dir: &Path,
    tls: bool,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let tls = requires_tls(listener.local_addr()?, tls);
    let store = HubStore::open_or_create(dir)?;
    let service = SyncServer::new(SyncService::new(store))
        .send_compressed(CompressionEncoding::Zstd)
        .accept_compressed(CompressionEncoding::Zstd)
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
    builder
        .timeout(Duration::from_secs(120))
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .max_concurrent_streams(Some(64))
        .concurrency_limit_per_connection(16)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
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
