//! The gRPC face of the hub: authenticates each call and hands it to the
//! store. **Architecture Invariant:** only this module knows `tonic::Status`;
//! every store error reaches the wire through the one `From` impl below.

use std::sync::{Arc, Mutex};

use lianfang_proto::pb::sync_server::Sync;
use lianfang_proto::{Lane, pb};
use tonic::{Request, Response, Status};

use crate::store::{Caller, HubError, HubStore};

/// The answer to a call whose request is larger than `max` bytes, refused
/// before its message is decoded (`admit.rs`).
pub(crate) fn request_too_large<B: Default>(max: usize) -> http::Response<B> {
    Status::resource_exhausted(format!("request larger than {max} bytes")).into_http()
}

/// The answer to a call whose request body broke off before it was whole
/// (`admit.rs`).
pub(crate) fn request_not_received<B: Default>(error: impl std::fmt::Display) -> http::Response<B> {
    Status::cancelled(format!("request body not received: {error}")).into_http()
}

impl From<HubError> for Status {
    fn from(e: HubError) -> Status {
        let message = e.to_string();
        match e {
            HubError::BadToken | HubError::TokenCompound { .. } => Status::unauthenticated(message),
            HubError::ForeignRecord { .. } => Status::permission_denied(message),
            HubError::LogMismatch { .. } => Status::failed_precondition(message),
            HubError::Gap { .. } => Status::out_of_range(message),
            HubError::Malformed(_)
            | HubError::UnknownKind { .. }
            | HubError::InvalidCode(_)
            | HubError::Bundle(_)
            | HubError::InvalidUser(_)
            | HubError::InvalidRecord { .. } => Status::invalid_argument(message),
            HubError::UnknownCompound(_) | HubError::UnknownDirective(_) => {
                Status::not_found(message)
            }
            HubError::WrongDirectiveKind { .. } | HubError::InvalidDirective(_) => {
                Status::invalid_argument(message)
            }
            HubError::NotInitialised(_)
            | HubError::CreateDir { .. }
            | HubError::WriteFile { .. }
            | HubError::StoreMismatch(_)
            | HubError::CorruptKey
            | HubError::Tls(_)
            | HubError::Db(_) => {
                tracing::error!(error = %message, "hub store error");
                Status::internal("hub storage error; retry later")
            }
        }
    }
}

/// Calls one node may have in flight at once; a sync needs one.
pub const MAX_CALLS_PER_NODE: usize = 4;
/// Sustained calls per second per node, and the burst above it.
pub const CALLS_PER_SECOND: f64 = 100.0;
pub const CALL_BURST: f64 = 200.0;

/// Per-node admission: a bound on concurrent calls and a token bucket on
/// their rate, so a flood from one node cannot starve the others.
#[derive(Debug)]
struct Gate {
    calls: Arc<tokio::sync::Semaphore>,
    /// (tokens, last refill).
    bucket: Mutex<(f64, std::time::Instant)>,
}

impl Gate {
    fn new() -> Self {
        Gate {
            calls: Arc::new(tokio::sync::Semaphore::new(MAX_CALLS_PER_NODE)),
            bucket: Mutex::new((CALL_BURST, std::time::Instant::now())),
        }
    }

    fn admit(&self, compound: &str) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        {
            let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            let (tokens, last) = *bucket;
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * CALLS_PER_SECOND)
                .min(CALL_BURST);
            if tokens < 1.0 {
                *bucket = (tokens, now);
                return Err(Status::resource_exhausted(format!(
                    "{compound} is calling faster than {CALLS_PER_SECOND} calls/s; retry shortly"
                )));
            }
            *bucket = (tokens - 1.0, now);
        }
        Arc::clone(&self.calls).try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "{compound} already has {MAX_CALLS_PER_NODE} calls in flight; retry shortly"
            ))
        })
    }
}

/// The `Sync` service over a shared store.
#[derive(Debug, Clone)]
pub struct SyncService {
    /// The one writer connection; calls run on blocking threads and queue here.
    store: Arc<Mutex<HubStore>>,
    /// Admission per enrolment (node id).
    gates: Arc<Mutex<std::collections::HashMap<i64, Arc<Gate>>>>,
    /// Told after every exchange or push that a member's call went through:
    /// the upward link's worker (`crate::upstream`), when there is one.
    changed: Option<Arc<tokio::sync::Notify>>,
}

impl SyncService {
    pub fn new(store: HubStore) -> Self {
        SyncService {
            store: Arc::new(Mutex::new(store)),
            gates: Arc::default(),
            changed: None,
        }
    }

    /// Tells `changed` after each exchange or push that went through.
    #[must_use]
    pub fn with_changed(mut self, changed: Arc<tokio::sync::Notify>) -> Self {
        self.changed = Some(changed);
        self
    }

    fn note_change(&self) {
        if let Some(changed) = &self.changed {
            changed.notify_one();
        }
    }

    /// Runs `f` on the store in a blocking thread.
    async fn with_store<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut HubStore) -> Result<R, HubError> + Send + 'static,
    ) -> Result<R, Status> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            let mut store = store
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut store)
        })
        .await
        .map_err(|_| Status::internal("hub task failed"))?
        .map_err(Status::from)
    }

    /// Authenticates the call and admits it under the caller's limits; the
    /// permit is held for the call's duration.
    async fn admitted<T>(
        &self,
        request: &Request<T>,
    ) -> Result<(Caller, tokio::sync::OwnedSemaphorePermit), Status> {
        let caller = self.caller(request).await?;
        let gate = Arc::clone(
            self.gates
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(caller.node)
                .or_insert_with(|| Arc::new(Gate::new())),
        );
        let permit = gate.admit(&caller.compound)?;
        Ok((caller, permit))
    }

    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing `authorization: Bearer <token>`"))?
            .to_owned();
        self.with_store(move |store| store.authenticate(&token))
            .await
    }
}

#[tonic::async_trait]
impl Sync for SyncService {
    async fn handshake(
        &self,
        request: Request<pb::HandshakeRequest>,
    ) -> Result<Response<pb::HandshakeResponse>, Status> {
        let (caller, _permit) = self.admitted(&request).await?;
        let message = request.into_inner();
        let compound = caller.compound.clone();
        let handshake = self
            .with_store(move |store| {
                store.handshake(
                    &caller,
                    &message.log_id,
                    [
                        (Lane::Bulk, message.head),
                        (Lane::Urgent, message.urgent_head),
                    ],
                    message.down_cursor,
                )
            })
            .await?;
        tracing::debug!(%compound, ?handshake, "handshake");
        Ok(Response::new(pb::HandshakeResponse {
            compound,
            cursor: handshake.bulk_cursor,
            hub_time_ms: u64::try_from(crate::now().timestamp_millis()).unwrap_or(0),
            down_head: handshake.down_head,
            urgent_cursor: handshake.urgent_cursor,
        }))
    }

    async fn push(
        &self,
        request: Request<pb::PushRequest>,
    ) -> Result<Response<pb::PushResponse>, Status> {
        let (caller, _permit) = self.admitted(&request).await?;
        let message = request.into_inner();
        let compound = caller.compound.clone();
        let n = message.entries.len();
        let lane = Lane::try_from(message.lane)
            .map_err(|_| Status::invalid_argument(format!("unknown lane {}", message.lane)))?;
        let applied = self
            .with_store(move |store| {
                store.apply_batch(
                    &caller,
                    &message.log_id,
                    lane,
                    message.head,
                    &message.entries,
                )
            })
            .await
            .inspect_err(|status| {
                tracing::warn!(%compound, entries = n, status = %status.message(), "push refused");
            })?;
        tracing::debug!(%compound, entries = n, cursor = applied.cursor, applied = applied.applied, "push");
        self.note_change();
        Ok(Response::new(pb::PushResponse {
            cursor: applied.cursor,
            applied: applied.applied,
        }))
    }

    async fn exchange(
        &self,
        request: Request<pb::ExchangeRequest>,
    ) -> Result<Response<pb::ExchangeResponse>, Status> {
        let (caller, _permit) = self.admitted(&request).await?;
        let message = request.into_inner();
        let compound = caller.compound.clone();
        let exchanged = self
            .with_store(move |store| store.exchange(&caller, &message))
            .await
            .inspect_err(|status| {
                tracing::warn!(%compound, status = %status.message(), "exchange refused");
            })?;
        self.note_change();
        tracing::debug!(
            %compound,
            urgent_cursor = exchanged.urgent_cursor,
            bulk_cursor = exchanged.bulk_cursor,
            applied = exchanged.applied,
            digest = ?exchanged.digest,
            down = exchanged.down.len(),
            "exchange"
        );
        if exchanged.digest == pb::DigestCheck::Differ {
            tracing::warn!(%compound, "digest roots differ");
        }
        Ok(Response::new(HubStore::exchange_reply(
            exchanged,
            compound,
            u64::try_from(crate::now().timestamp_millis()).unwrap_or(0),
        )))
    }

    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<pb::PullResponse>, Status> {
        let (caller, _permit) = self.admitted(&request).await?;
        let message = request.into_inner();
        let (entries, head) = self
            .with_store(move |store| store.pull(&caller, message.after, message.max))
            .await?;
        Ok(Response::new(pb::PullResponse { entries, head }))
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let (caller, _permit) = self.admitted(&request).await?;
        let compound = caller.compound.clone();
        let message = request.into_inner();
        let differing = self
            .with_store(move |store| store.verify(&caller, &message.buckets))
            .await?;
        if !differing.is_empty() {
            tracing::warn!(%compound, buckets = differing.len(), "digests differ");
        }
        Ok(Response::new(pb::VerifyResponse { differing }))
    }
}
