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
//! session resumes at the hub's cursor.
//!
//! Every decision (what to send, when a session is done, what is refused
//! and what retried, how long to wait) is the session machine's,
//! [`lianfang_proto::session::NodeSync`]; this module is its driver: it
//! does the store calls and the calls to the hub the machine asks for,
//! over two seams, [`Transport`] (gRPC here: [`TonicTransport`]) and
//! [`Clock`], so the simulation test runs the same driver and machine over
//! a simulated network and clock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lianfang_proto::pb::sync_client::SyncClient;
use lianfang_proto::session::{
    CallError, CallErrorKind, DownRefusal, Ending, NodeSync, Policy, Sending, Step,
};
use lianfang_proto::sync::Sender;
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
    /// Whether each session first records today's own table as a daily
    /// report (a compound's node); a hub syncing upward sends its members'
    /// days instead and has no table of its own records.
    pub own_report: bool,
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
            own_report: true,
        }
    }
}

/// What a sync did: the session machine's tally, field for field (the
/// tally's fields say what each counts).
pub use lianfang_proto::session::Tally as SyncReport;

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
    /// The member's own work before a sync failed (a hub reading the
    /// figures it sends upward).
    #[error("{0}")]
    Local(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// The exit code of a one-off sync (`lianfang-node sync --once`,
    /// `lianfang-hub sync-up --once`) that ended with this: 1 when the link
    /// failed (run again to resume), 3 when something must be fixed first.
    pub fn exit_code(&self) -> u8 {
        match self {
            SyncError::Link { .. } => 1,
            _ => 3,
        }
    }
}

/// The calls of a session, whatever carries them: the seam between the
/// session machine ([`NodeSync`]) and the network. [`TonicTransport`] is
/// gRPC; the simulation test has one that drops, duplicates and delays.
pub trait Transport: Send {
    /// Opens the link for a session (each session opens it afresh).
    fn connect(&mut self) -> impl Future<Output = Result<(), CallError>> + Send;

    /// One `Exchange` round trip.
    fn exchange(
        &mut self,
        request: pb::EncodedExchangeRequest,
    ) -> impl Future<Output = Result<pb::ExchangeResponse, CallError>> + Send;

    /// One `Verify` round trip.
    fn verify(
        &mut self,
        request: pb::VerifyRequest,
    ) -> impl Future<Output = Result<pb::VerifyResponse, CallError>> + Send;
}

/// The time a sync reads and waits on: the seam that lets the simulation
/// test run many nodes on a clock of its own, deterministically.
pub trait Clock: Send + Sync {
    /// Wall-clock time: when down entries arrived, the sync outcome, the
    /// date and stamps of the daily report.
    fn now(&self) -> chrono::DateTime<chrono::Utc>;

    /// A monotonic reading (from any start), for call latency.
    fn elapsed(&self) -> Duration;

    /// Waits `delay` (the backoff between sessions).
    fn sleep(&self, delay: Duration) -> impl Future<Output = ()> + Send;

    /// A uniform random number in `[0, 1)`, for the backoff's jitter.
    fn jitter(&self) -> f64;
}

/// The machine's own clock: [`crate::now`], tokio's timer, `rand`.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    /// Where [`Clock::elapsed`] counts from.
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        crate::now()
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&self, delay: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(delay)
    }

    fn jitter(&self) -> f64 {
        rand::random::<f64>()
    }
}

/// A gRPC status as the session machine sees it: a kind that decides
/// refusal or retry, and the hub's message.
pub fn call_error(status: &tonic::Status) -> CallError {
    let kind = match status.code() {
        Code::Unauthenticated => CallErrorKind::Unauthenticated,
        Code::PermissionDenied => CallErrorKind::PermissionDenied,
        Code::InvalidArgument => CallErrorKind::InvalidArgument,
        Code::FailedPrecondition => CallErrorKind::FailedPrecondition,
        Code::OutOfRange => CallErrorKind::OutOfRange,
        Code::Unavailable => CallErrorKind::Unavailable,
        Code::DeadlineExceeded => CallErrorKind::DeadlineExceeded,
        Code::ResourceExhausted => CallErrorKind::ResourceExhausted,
        Code::Unimplemented => CallErrorKind::Unimplemented,
        Code::Internal => CallErrorKind::Internal,
        Code::NotFound => CallErrorKind::NotFound,
        // Transport failures arrive as Unknown with a message that says it.
        _ => CallErrorKind::Other,
    };
    CallError::new(kind, status.message())
}

/// The `Sync` service over tonic: TLS pinned to the hub's CA for
/// `https://`, zstd both ways, the token and a deadline on every call.
#[derive(Debug)]
pub struct TonicTransport {
    endpoint: Endpoint,
    /// `Bearer <credential>`.
    token: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    call_timeout: Duration,
    /// The raw client (for `Exchange` with stored bytes) and the generated
    /// one (for `Verify`), once connected.
    clients: Option<(tonic::client::Grpc<Channel>, SyncClient<Channel>)>,
}

impl TonicTransport {
    /// The transport to the hub `identity` names.
    ///
    /// # Errors
    /// [`SyncError::Address`] for an address or certificate that cannot be
    /// used; [`SyncError::Refused`] for a token that is not ASCII.
    pub fn new(
        identity: &crate::store::Identity,
        options: &SyncOptions,
    ) -> Result<Self, SyncError> {
        let endpoint = endpoint(identity, options)?;
        // Each call presents the compound and secret only; a token that does
        // not decode goes as it is, for the hub to refuse with its reason.
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
        Ok(TonicTransport {
            endpoint,
            token,
            call_timeout: options.call_timeout,
            clients: None,
        })
    }

    fn clients(
        &mut self,
    ) -> Result<&mut (tonic::client::Grpc<Channel>, SyncClient<Channel>), CallError> {
        self.clients
            .as_mut()
            .ok_or_else(|| CallError::new(CallErrorKind::Unavailable, "hub connection not ready"))
    }
}

impl Transport for TonicTransport {
    async fn connect(&mut self) -> Result<(), CallError> {
        self.clients = None;
        let channel: Channel = self.endpoint.connect().await.map_err(|e| {
            CallError::new(
                CallErrorKind::Other,
                format!("cannot connect to hub: {}", error_chain(&e)),
            )
        })?;
        let grpc = tonic::client::Grpc::new(channel.clone())
            .send_compressed(CompressionEncoding::Zstd)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let client = SyncClient::new(channel)
            .send_compressed(CompressionEncoding::Zstd)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        self.clients = Some((grpc, client));
        Ok(())
    }

    async fn exchange(
        &mut self,
        request: pb::EncodedExchangeRequest,
    ) -> Result<pb::ExchangeResponse, CallError> {
        let request = authorised(request, &self.token, self.call_timeout);
        let (grpc, _) = self.clients()?;
        exchange(grpc, request).await.map_err(|s| call_error(&s))
    }

    async fn verify(
        &mut self,
        request: pb::VerifyRequest,
    ) -> Result<pb::VerifyResponse, CallError> {
        let request = authorised(request, &self.token, self.call_timeout);
        let (_, client) = self.clients()?;
        Ok(client
            .verify(request)
            .await
            .map_err(|s| call_error(&s))?
            .into_inner())
    }
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
    progress: impl FnMut(Progress) + Send,
) -> Result<SyncReport, SyncError> {
    let dir: PathBuf = dir.to_owned();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .expect("open task panicked")?;
    let identity = store.identity()?;
    let mut transport = TonicTransport::new(&identity, options)?;
    sync_over(
        store,
        &mut transport,
        &SystemClock::default(),
        options,
        progress,
    )
    .await
}

/// Syncs the node in `store` over any transport and clock, as
/// [`sync_once`] does over gRPC: the driver of [`NodeSync`], which decides;
/// this only does the store calls, the calls to the hub and the waits it
/// asks for.
///
/// # Errors
/// As [`sync_once`].
pub async fn sync_over(
    store: Store,
    transport: &mut impl Transport,
    clock: &impl Clock,
    options: &SyncOptions,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<SyncReport, SyncError> {
    let store = SharedStore(Arc::new(Mutex::new(store)));
    let identity = store.call(|s| s.identity()).await?;
    let mut machine = NodeSync::new(Policy {
        batch_size: options.batch_size,
        min_batch: options.min_batch,
        max_batch: options.max_batch,
        call_timeout: options.call_timeout,
        attempts: options.attempts,
        backoff_base: options.backoff_base,
        backoff_max: options.backoff_max,
    });
    loop {
        let outcome = session(
            &mut machine,
            &store,
            transport,
            clock,
            &identity.log_id,
            options.own_report,
            &mut progress,
        )
        .await;
        let now = rfc3339(clock.now());
        let ending = match outcome {
            Ok(()) => machine.end(|| clock.jitter()),
            Err(e) => {
                let message = e.to_string();
                store
                    .call(move |s| s.set_sync_outcome(&now, Some(&message)))
                    .await?;
                return Err(SyncError::Store(e));
            }
        };
        // What `status` shows of this session, and then either the wait
        // before the next session or the error that ends the sync.
        let (message, next) = match ending {
            Ending::Finished => {
                store.call(move |s| s.set_sync_outcome(&now, None)).await?;
                return Ok(machine.tally().clone());
            }
            Ending::Refused(message) => {
                let e = SyncError::Refused(message);
                (e.to_string(), Err(e))
            }
            Ending::Down(message) => {
                let e = SyncError::Down(message);
                (e.to_string(), Err(e))
            }
            Ending::Wait { delay, last } => {
                tracing::warn!(error = %last, retry_in = ?delay, "sync session failed");
                (last, Ok(delay))
            }
            Ending::GiveUp { attempts, last } => {
                // A plaintext node talking to a hub that serves TLS (any hub
                // listening off loopback, or started with --tls) sees only a
                // transport error: say what to try.
                let hinted =
                    if identity.hub.starts_with("http://") && !last.starts_with("cannot connect") {
                        format!(
                            "{last} (if the hub listens off loopback or was started with \
                         --tls it speaks TLS: set up this node with --hub {})",
                            identity.hub.replacen("http://", "https://", 1)
                        )
                    } else {
                        last.clone()
                    };
                (
                    last,
                    Err(SyncError::Link {
                        attempts,
                        last: hinted,
                    }),
                )
            }
        };
        store
            .call(move |s| s.set_sync_outcome(&now, Some(&message)))
            .await?;
        clock.sleep(next?).await;
    }
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One session: does what each [`Step`] of the machine names and feeds the
/// result back, until the machine says `Done` or `Failed`.
///
/// # Errors
/// Store errors, which end the sync.
async fn session(
    machine: &mut NodeSync,
    store: &SharedStore,
    transport: &mut impl Transport,
    clock: &impl Clock,
    log_id: &str,
    own_report: bool,
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<(), StoreError> {
    let mut step = machine.begin();
    loop {
        step = match step {
            Step::Connect => machine.connected(transport.connect().await),
            Step::Start => {
                let now = clock.now();
                let lanes = store
                    .call(move |s| {
                        // Today's own figures ride the urgent lane, ahead of
                        // any backlog.
                        if own_report {
                            s.report_at(crate::today_at(now), now)?;
                        }
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
                let step = machine.started(lanes);
                progress(progress_of(machine.bulk()));
                step
            }
            Step::Exchange(plan) => {
                let out = store
                    .call(move |s| s.outgoing(plan.lanes, plan.max, plan.confirmed, plan.with_root))
                    .await?;
                machine.sending(Sending {
                    entries: [
                        out.urgent.entries.len() as u64,
                        out.bulk.entries.len() as u64,
                    ],
                    heads: [out.urgent.head, out.bulk.head],
                    down_cursor: out.down_cursor,
                });
                let request = pb::EncodedExchangeRequest {
                    log_id: log_id.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    urgent: Some(out.urgent),
                    bulk: Some(out.bulk),
                    down_cursor: out.down_cursor,
                    down_max: plan.down_max,
                    digest_root: out.digest_root.map(|r| r.to_vec()).unwrap_or_default(),
                };
                let started = clock.elapsed();
                let reply = transport.exchange(request).await;
                machine.exchanged(reply, clock.elapsed().saturating_sub(started))
            }
            Step::StoreAcked(acked) => {
                store.call(move |s| s.set_acked(&acked)).await?;
                progress(progress_of(machine.bulk()));
                machine.acked()
            }
            Step::ApplyDown(down) => {
                let n = down.len() as u64;
                let received_at = rfc3339(clock.now());
                let applied = match store
                    .call(move |s| Ok(s.apply_down(&down, &received_at)))
                    .await?
                {
                    Ok(cursor) => Ok(cursor),
                    Err(DownError::Store(e)) => return Err(e),
                    Err(e @ DownError::Gap { .. }) => Err(DownRefusal::Gap(e.to_string())),
                    Err(e) => {
                        tracing::error!(error = %e, "refused a message from the hub; it was not applied");
                        Err(DownRefusal::Refused(e.to_string()))
                    }
                };
                machine.down_applied(n, applied)
            }
            Step::Verify => {
                let buckets = store.call(|s| s.digests()).await?;
                let reply = transport
                    .verify(pb::VerifyRequest {
                        buckets: digest::to_wire(&buckets),
                    })
                    .await;
                let differing = reply.as_ref().map_or(0, |r| r.differing.len());
                if differing > 0 {
                    tracing::warn!(buckets = differing, "hub's records differ from ours");
                }
                machine.verified(reply.map(|r| r.differing))
            }
            Step::Relog(keys) => {
                let relogged = store.call(move |s| s.relog(&keys)).await?;
                machine.relogged(relogged)
            }
            Step::ReadHeads => {
                let heads = store
                    .call(|s| Ok([s.head_of(Lane::Urgent)?, s.head_of(Lane::Bulk)?]))
                    .await?;
                machine.heads(heads)
            }
            Step::Done | Step::Failed(_) => return Ok(()),
        };
    }
}

fn progress_of(bulk: Sender) -> Progress {
    Progress {
        cursor: bulk.acked,
        head: bulk.head,
    }
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
