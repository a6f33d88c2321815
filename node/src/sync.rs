//! The node's sync client: pushes the change log to the hub over gRPC.
//!
//! A session is a loop of `Exchange` calls. Each carries the next entries
//! of both lanes after the hub's last acknowledged cursors (urgent first),
//! acknowledges the down log applied here, and, when it reaches the heads,
//! a digest root of every record; each reply brings the hub's cursors, the
//! next down entries and whether the roots agree. A day's change is one
//! round trip; a backlog is one round trip per batch; differing roots add
//! a `Verify` that names the buckets to send again. Each acknowledgement is
//! stored, so a cut link costs at most the batch in flight, and the next
//! session resumes at the hub's cursor. The decisions (what to send, when
//! to give up, how long to wait) come from [`lianfang_proto::sync`]; this
//! module only does the I/O.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lianfang_proto::pb::sync_client::SyncClient;
use lianfang_proto::sync::{Backoff, BatchSizer, Sender};
use lianfang_proto::{Lane, digest, pb};
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};

use crate::store::{DownError, LANE_ORDER, Store, StoreError};

/// Largest gRPC message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How a sync behaves on its link.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Entries in the first batch; adapts afterwards within `min_batch..=max_batch`.
    pub batch_size: usize,
    pub min_batch: usize,
    pub max_batch: usize,
    /// Deadline of each call.
    pub call_timeout: Duration,
    /// Deadline for establishing a connection.
    pub connect_timeout: Duration,
    /// Sessions tried before giving up (1 = no retry).
    pub attempts: u32,
    /// First backoff ceiling between attempts; doubles up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            batch_size: 2_000,
            min_batch: 16,
            max_batch: 20_000,
            call_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            attempts: 4,
            backoff_base: Duration::from_millis(300),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Highest sequence number in the log when the sync finished.
    pub head: u64,
    /// The hub's cursor when the sync finished.
    pub cursor: u64,
    /// Bulk-lane log entries sent (each at most once per session; a batch
    /// cut in flight is the only thing ever sent twice).
    pub sent: u64,
    /// Entries the hub applied as new.
    pub applied: u64,
    /// Urgent-lane entries sent (receipts, answers, fixes, daily reports);
    /// `sent` and `applied` count the bulk lane (the ledger records).
    pub sent_urgent: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// Sessions started (1 when nothing failed).
    pub sessions: u32,
    /// Down-log entries received and applied.
    pub received: u64,
    /// The node's down cursor when the sync finished.
    pub down_cursor: u64,
    /// The hub's down-log head for this compound.
    pub down_head: u64,
    /// Calls made to the hub (an exchange per round trip, and a `Verify`
    /// when digests differ); 1 for a day's change on a healthy link.
    pub calls: u64,
    /// Whether the hub's digests of this compound's records matched ours at
    /// the end (`None` if the session never got that far).
    pub digests_agree: Option<bool>,
    /// Record versions sent again because their buckets' digests differed.
    pub repaired: u64,
}

/// Progress of a running sync, for the CLI.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub cursor: u64,
    pub head: u64,
}

/// Why a sync ended without catching up.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The hub refused us; retrying will not help.
    #[error("hub refused: {0}")]
    Refused(String),
    /// The link failed on every attempt.
    #[error("link failed after {attempts} attempt(s); last error: {last}")]
    Link { attempts: u32, last: String },
    /// The hub sent something this node must not apply (e.g. a bad signature).
    #[error("{0}")]
    Down(String),
    #[error("bad hub address {hub:?}: {reason}")]
    Address { hub: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How one session ended badly.
enum SessionError {
    Fatal(SyncError),
    Retry(String),
}

impl From<tonic::Status> for SessionError {
    fn from(status: tonic::Status) -> Self {
        let message = match code_name(status.code()) {
            Some(name) => format!("{name}: {}", status.message()),
            None => status.message().to_owned(),
        };
        match status.code() {
            Code::Unauthenticated
            | Code::PermissionDenied
            | Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::Unimplemented => SessionError::Fatal(SyncError::Refused(message)),
            // OutOfRange is a gap: a fresh handshake re-reads the cursor.
            _ => SessionError::Retry(message),
        }
    }
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        SessionError::Fatal(SyncError::Store(e))
    }
}

fn code_name(code: Code) -> Option<&'static str> {
    Some(match code {
        Code::Unauthenticated => "unauthenticated",
        Code::PermissionDenied => "permission denied",
        Code::InvalidArgument => "invalid argument",
        Code::FailedPrecondition => "failed precondition",
        Code::OutOfRange => "out of range",
        Code::Unavailable => "unavailable",
        Code::DeadlineExceeded => "deadline exceeded",
        Code::ResourceExhausted => "resource exhausted",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "hub error",
        Code::NotFound => "not found",
        // Transport failures arrive as Unknown with a message that says it.
        _ => return None,
    })
}

/// The node store shared with blocking tasks.
#[derive(Debug, Clone)]
struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut store = store
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut store)
        })
        .await
        .expect("store task panicked")
    }
}

/// Syncs the node in `dir` until the hub has its whole log, retrying a
/// failed link with backoff up to `options.attempts` sessions.
///
/// # Errors
/// [`SyncError::Refused`] when the hub refuses (wrong token, foreign
/// record, …); [`SyncError::Link`] when every attempt failed.
pub async fn sync_once(
    dir: &Path,
    options: &SyncOptions,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<SyncReport, SyncError> {
    let dir: PathBuf = dir.to_owned();
    let store = SharedStore(Arc::new(Mutex::new(
        tokio::task::spawn_blocking(move || Store::open(&dir))
            .await
            .expect("open task panicked")?,
    )));
    let identity = store.call(|s| s.identity()).await?;
    let endpoint = endpoint(&identity, options)?;
    // Each call presents the compound and secret only; a token that does not
    // decode goes as it is, for the hub to refuse with its reason.
    let presented = lianfang_proto::token::decode(&identity.token)
        .map(|token| lianfang_proto::token::credential(&token))
        .unwrap_or_else(|_| identity.token.trim().to_owned());
    let token = format!("Bearer {presented}")
        .parse::<tonic::metadata::MetadataValue<_>>()
        .map_err(|_| {
            SyncError::Refused(
                "token is not valid ASCII; copy it again from `lianfang-hub enroll`".into(),
            )
        })?;

    let mut report = SyncReport::default();
    let mut backoff = Backoff::new(options.backoff_base, options.backoff_max);
    let mut sizer = BatchSizer::new(options.batch_size, options.min_batch, options.max_batch);
    loop {
        report.sessions += 1;
        let outcome = session(
            &store,
            &endpoint,
            &token,
            &identity.log_id,
            options,
            &mut sizer,
            &mut report,
            &mut progress,
        )
        .await;
        let now = crate::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match outcome {
            Ok(()) => {
                store.call(move |s| s.set_sync_outcome(&now, None)).await?;
                return Ok(report);
            }
            Err(SessionError::Fatal(e)) => {
                let message = e.to_string();
                store
                    .call(move |s| s.set_sync_outcome(&now, Some(&message)))
                    .await?;
                return Err(e);
            }
            Err(SessionError::Retry(last)) => {
                let message = last.clone();
                store
                    .call(move |s| s.set_sync_outcome(&now, Some(&message)))
                    .await?;
                sizer.on_failure();
                if report.sessions >= options.attempts.max(1) {
                    // A plaintext node talking to a hub that serves TLS (any
                    // hub listening off loopback, or started with --tls) sees
                    // only a transport error: say what to try.
                    let last = if identity.hub.starts_with("http://")
                        && !last.starts_with("cannot connect")
                    {
                        format!(
                            "{last} (if the hub listens off loopback or was started with \
                             --tls it speaks TLS: set up this node with --hub {})",
                            identity.hub.replacen("http://", "https://", 1)
                        )
                    } else {
                        last
                    };
                    return Err(SyncError::Link {
                        attempts: report.sessions,
                        last,
                    });
                }
                let delay = backoff.next_delay(rand::random::<f64>());
                tracing::warn!(error = %last, retry_in = ?delay, "sync session failed");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Where this session stands on proving agreement by digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    /// Not yet compared since the log last moved.
    Unknown,
    Agree,
    /// Repair gave up: reported, not retried within the session.
    Disagree,
}

#[allow(clippy::too_many_arguments)]
async fn session(
    store: &SharedStore,
    endpoint: &Endpoint,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    log_id: &str,
    options: &SyncOptions,
    sizer: &mut BatchSizer,
    report: &mut SyncReport,
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<(), SessionError> {
    let channel: Channel = endpoint
        .connect()
        .await
        .map_err(|e| SessionError::Retry(format!("cannot connect to hub: {}", error_chain(&e))))?;
    let mut grpc = tonic::client::Grpc::new(channel.clone())
        .send_compressed(CompressionEncoding::Zstd)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let mut client = SyncClient::new(channel)
        .send_compressed(CompressionEncoding::Zstd)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);

    // Today's own figures ride the urgent lane, ahead of any backlog.
    store.call(|s| s.report_today(crate::today())).await?;
    // Start from what the hub last acknowledged: in the common case the
    // first exchange carries everything, and its reply ends the session.
    let mut lanes = store
        .call(|s| {
            let mut lanes = [Sender { acked: 0, head: 0 }; 2];
            for (sender, lane) in lanes.iter_mut().zip(LANE_ORDER) {
                *sender = Sender {
                    acked: s.acked_of(lane)?,
                    head: s.head_of(lane)?,
                };
            }
            Ok(lanes)
        })
        .await?;
    progress(Progress {
        cursor: lanes[1].acked,
        head: lanes[1].head,
    });
    let mut digest = Digest::Unknown;
    // The hub's cursors are known once this session's first call returns.
    let mut confirmed = false;
    let mut repairs = 0;
    let mut idle = 0;
    loop {
        let max = sizer.size;
        let with_root = digest == Digest::Unknown;
        let out = store
            .call(move |s| s.outgoing(lanes, max, confirmed, with_root))
            .await?;
        let sent = [
            out.urgent.entries.len() as u64,
            out.bulk.entries.len() as u64,
        ];
        lanes[0].head = out.urgent.head;
        lanes[1].head = out.bulk.head;
        let down_cursor = out.down_cursor;
        let started = Instant::now();
        let reply = exchange(
            &mut grpc,
            authorised(
                pb::EncodedExchangeRequest {
                    log_id: log_id.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    urgent: Some(out.urgent),
                    bulk: Some(out.bulk),
                    down_cursor,
                    down_max: DOWN_BATCH,
                    digest_root: out.digest_root.map(|r| r.to_vec()).unwrap_or_default(),
                },
                token,
                options.call_timeout,
            ),
        )
        .await?;
        report.calls += 1;
        confirmed = true;
        if sent.iter().sum::<u64>() > 0 {
            sizer.on_success(started.elapsed(), options.call_timeout);
            report.batches += 1;
        }
        report.sent_urgent += sent[0];
        report.sent += sent[1];
        report.applied += reply.applied;

        // The hub's cursors, as they stand after this call.
        let before = lanes.map(|l| l.acked);
        for ((sender, lane), cursor) in lanes
            .iter_mut()
            .zip(LANE_ORDER)
            .zip([reply.urgent_cursor, reply.bulk_cursor])
        {
            if cursor > sender.head {
                return Err(SessionError::Fatal(SyncError::Refused(format!(
                    "the hub has applied {cursor} entries of this node's {} lane but the log \
                     here ends at {}; this database is older than what the hub holds \
                     (restored from a backup?): enrol again with `lianfang-hub enroll` and \
                     `lianfang-node init` a fresh directory",
                    lane.as_str_name(),
                    sender.head
                ))));
            }
            sender.resume_at(cursor);
        }
        let acked = [
            (Lane::Urgent, reply.urgent_cursor),
            (Lane::Bulk, reply.bulk_cursor),
        ];
        store.call(move |s| s.set_acked(&acked)).await?;
        let mut moved = lanes.map(|l| l.acked) != before;
        progress(Progress {
            cursor: lanes[1].acked,
            head: lanes[1].head,
        });

        // The down log: apply what came back; the next exchange acknowledges it.
        report.down_head = reply.down_head;
        let received = !reply.down.is_empty();
        let mut down_cursor = down_cursor;
        if received {
            let n = reply.down.len() as u64;
            let received_at = crate::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let down = reply.down;
            match store
                .call(move |s| Ok(s.apply_down(&down, &received_at)))
                .await?
            {
                Ok(cursor) => {
                    report.received += n.min(cursor.saturating_sub(down_cursor));
                    moved |= cursor > down_cursor;
                    down_cursor = cursor;
                }
                Err(DownError::Store(e)) => return Err(e.into()),
                Err(e @ DownError::Gap { .. }) => {
                    return Err(SessionError::Retry(format!("down log: {e}")));
                }
                Err(e) => {
                    tracing::error!(error = %e, "refused a message from the hub; it was not applied");
                    return Err(SessionError::Fatal(SyncError::Down(e.to_string())));
                }
            }
        }
        report.down_cursor = down_cursor;

        // Agreement: one root compared in the common case; on a difference,
        // the buckets name what to send again.
        if sent.iter().sum::<u64>() > 0 {
            digest = Digest::Unknown;
        }
        match pb::DigestCheck::try_from(reply.digest).unwrap_or_default() {
            pb::DigestCheck::Agree => digest = Digest::Agree,
            pb::DigestCheck::NotCompared => {}
            pb::DigestCheck::Differ => {
                let buckets = store.call(|s| s.digests()).await?;
                let differing = client
                    .verify(authorised(
                        pb::VerifyRequest {
                            buckets: digest::to_wire(&buckets),
                        },
                        token,
                        options.call_timeout,
                    ))
                    .await?
                    .into_inner()
                    .differing;
                report.calls += 1;
                if differing.is_empty() {
                    // Changed between the two calls; compare again.
                    moved = true;
                } else {
                    let keys: Vec<_> = digest::from_wire(&differing).into_keys().collect();
                    let relogged = if repairs < MAX_REPAIR_ROUNDS {
                        repairs += 1;
                        store.call(move |s| s.relog(&keys)).await?
                    } else {
                        0
                    };
                    tracing::warn!(
                        buckets = differing.len(),
                        relogged,
                        "hub's records differ from ours"
                    );
                    report.repaired += relogged;
                    if relogged == 0 {
                        digest = Digest::Disagree;
                    } else {
                        moved = true;
                    }
                }
            }
        }
        report.digests_agree = match digest {
            Digest::Agree => Some(true),
            Digest::Disagree => Some(false),
            Digest::Unknown => report.digests_agree,
        };

        let caught_up = lanes.iter().all(Sender::caught_up);
        if caught_up && digest != Digest::Unknown && !received && down_cursor >= reply.down_head {
            // Done, unless something was written here meanwhile.
            let heads = store
                .call(|s| Ok([s.head_of(Lane::Urgent)?, s.head_of(Lane::Bulk)?]))
                .await?;
            if heads == lanes.map(|l| l.head) {
                break;
            }
            moved = true;
        }
        if moved || sent.iter().sum::<u64>() > 0 || received {
            idle = 0;
        } else {
            idle += 1;
            if idle >= 3 {
                return Err(SessionError::Retry(format!(
                    "no progress: the hub stays at {} (urgent) and {} (bulk) of {} and {}, \
                     down log at {down_cursor} of {}",
                    lanes[0].acked, lanes[1].acked, lanes[0].head, lanes[1].head, reply.down_head
                )));
            }
        }
    }
    report.head = lanes[1].head;
    report.cursor = lanes[1].acked;
    Ok(())
}

/// The `Exchange` call with the log entries as stored: the generated
/// client would need every record decoded only to encode it again.
async fn exchange(
    grpc: &mut tonic::client::Grpc<Channel>,
    request: tonic::Request<pb::EncodedExchangeRequest>,
) -> Result<pb::ExchangeResponse, tonic::Status> {
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("hub connection not ready: {e}")))?;
    let codec =
        tonic_prost::ProstCodec::<pb::EncodedExchangeRequest, pb::ExchangeResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/lianfang.v1.Sync/Exchange");
    Ok(grpc.unary(request, path, codec).await?.into_inner())
}

/// Rounds of resending differing buckets before a sync reports that node
/// and hub disagree.
const MAX_REPAIR_ROUNDS: u32 = 2;

/// Down-log entries asked for per pull.
const DOWN_BATCH: u32 = 256;

/// The connection settings for the hub: deadlines, keep-alives, and TLS
/// pinned to the hub's own CA (from the token) for `https://`.
fn endpoint(
    identity: &crate::store::Identity,
    options: &SyncOptions,
) -> Result<Endpoint, SyncError> {
    let address = |reason: String| SyncError::Address {
        hub: identity.hub.clone(),
        reason,
    };
    crate::check_hub_address(&identity.hub).map_err(|e| address(e.to_string()))?;
    let mut endpoint = Endpoint::from_shared(identity.hub.clone())
        .map_err(|e| address(e.to_string()))?
        .connect_timeout(options.connect_timeout)
        .timeout(options.call_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(15))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if identity.hub.starts_with("https://") {
        let ca = lianfang_proto::sign::hex_decode(&identity.hub_ca)
            .filter(|der| !der.is_empty())
            .ok_or_else(|| {
                address("the token carried no hub certificate; enrol again to get one".into())
            })?;
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(der_to_pem(&ca)))
            .domain_name(HUB_TLS_NAME);
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| address(error_chain(&e)))?;
    }
    Ok(endpoint)
}

/// The name the hub's certificate carries, checked whatever address is dialled.
pub const HUB_TLS_NAME: &str = "lianfang-hub";

/// PEM text of a DER certificate.
fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// A request carrying the token and the call's deadline.
fn authorised<T>(
    message: T,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    timeout: Duration,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.clone());
    request.set_timeout(timeout);
    request
}

/// An error with its sources, e.g. "transport error: connection refused".
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    out
}
