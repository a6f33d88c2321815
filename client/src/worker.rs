//! The member's sync worker: keeps the level above up to date for as long
//! as the process runs (`lianfang-node sync` without `--once`,
//! `lianfang-node serve` beside its page, and `lianfang-hub serve` with an
//! upstream, which gives it a [`Prepare`] step).
//!
//! [`OutboxWorker::run`] loops: one sync ([`crate::sync::sync_once`]), then
//! a wait, until the shutdown signal says stop.
//! - After a sync that caught up it waits for the interval, or less: every
//!   write through the application layer wakes it (the node's `NodeApp`
//!   signals the worker's [`Notify`]), so a change goes up at once.
//! - After a failed sync it waits a backoff (exponential, jittered: between
//!   half and all of a ceiling that doubles from `retry_base` up to
//!   `retry_max`), and writes do not cut that wait short: the link is down.
//! - A refusal (the hub refused this node, or sent something that fails
//!   verification) ends the worker with the error when
//!   `stop_on_refusal` (the CLI exits with it); otherwise it is kept in the
//!   state for the page to show, and retried like a failure.
//! - On shutdown a sync in progress is given `exit_deadline` to finish; one
//!   that takes longer is dropped, which costs at most the batch in flight
//!   (every acknowledgement is stored as it comes).
//!
//! The worker publishes its [`SyncState`] (online or not, changes waiting,
//! last success, last refusal) on a `watch` channel ([`OutboxWorker::state`]).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lianfang_proto::sync::Backoff;
use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::store::Store;
use crate::sync::{Progress, SyncError, SyncOptions, SyncReport, sync_once};

/// How long a sync in progress may take to finish after shutdown.
pub const EXIT_DEADLINE: Duration = Duration::from_secs(8);

/// How the worker paces its syncs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// How each sync behaves on its link.
    pub sync: SyncOptions,
    /// Time between syncs when no write wakes the worker.
    pub interval: Duration,
    /// First backoff ceiling after a failed sync; doubles per failure.
    pub retry_base: Duration,
    /// Largest backoff ceiling.
    pub retry_max: Duration,
    /// Whether a refusal ends the worker with the error (the CLI) or is
    /// kept in the state and retried (a page, which must stay up).
    pub stop_on_refusal: bool,
    /// How long a sync in progress may take to finish after shutdown.
    pub exit_deadline: Duration,
    /// The least time between the end of one sync and the start of the
    /// next, however often writes wake the worker (zero for a node; a hub,
    /// woken by every node's exchange, paces its upward syncs with it).
    pub min_gap: Duration,
}

impl WorkerOptions {
    /// Syncs every `interval` (and on every write), retrying a failure
    /// after about 1 s, 2 s, 4 s, … but never later than `interval`.
    pub fn every(interval: Duration, sync: SyncOptions) -> WorkerOptions {
        let interval = interval.max(Duration::from_millis(1));
        WorkerOptions {
            sync,
            interval,
            retry_base: Duration::from_secs(1).min(interval),
            retry_max: interval,
            stop_on_refusal: false,
            exit_deadline: EXIT_DEADLINE,
            min_gap: Duration::ZERO,
        }
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions::every(Duration::from_secs(30), SyncOptions::default())
    }
}

/// What the worker knows about the link, for a status banner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// Whether the last sync reached the hub and caught up.
    pub online: bool,
    /// Whether a sync is running now.
    pub syncing: bool,
    /// Changes (both lanes) the hub has not acknowledged, as of the
    /// worker's last look (`None` if the store could not be read).
    pub pending: Option<u64>,
    /// When the last sync started (RFC 3339).
    pub last_attempt: Option<String>,
    /// When a sync last caught up (RFC 3339; from the store at start).
    pub last_success: Option<String>,
    /// Why the last sync failed; `None` once one succeeds.
    pub last_error: Option<String>,
    /// The last refusal by the hub, kept after later successes.
    pub last_refusal: Option<Refusal>,
    /// Syncs that caught up since the worker started.
    pub syncs: u64,
}

/// A refusal and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// RFC 3339.
    pub at: String,
    pub reason: String,
}

/// What the worker tells its observer, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A batch was acknowledged during a sync.
    Progress(Progress),
    /// A sync caught up both ways.
    Synced(&'a SyncReport),
    /// A sync failed; the worker tries again after `retry_in` (a refusal
    /// that stops the worker is returned by [`OutboxWorker::run`] instead).
    Failed {
        error: &'a SyncError,
        retry_in: Duration,
    },
}

/// Whether retrying cannot help until someone fixes something.
pub fn is_refusal(error: &SyncError) -> bool {
    matches!(error, SyncError::Refused(_) | SyncError::Down(_))
}

/// Work a member does before each sync, on a blocking thread: a hub
/// writes the figures it sends upward and passes on what came down.
pub type Prepare = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Drains the node's outbox to the hub whenever there is something to send
/// (garage's queue workers are the model).
pub struct OutboxWorker {
    /// The node's data directory; each sync opens its own connection.
    dir: PathBuf,
    options: WorkerOptions,
    /// Signalled by writes (through the application layer) to sync now.
    wake: Arc<Notify>,
    /// The published state.
    state: watch::Sender<SyncState>,
    /// The wait after consecutive failures.
    backoff: Backoff,
    /// Run before each sync; its failure counts as the sync's.
    prepare: Option<Prepare>,
}

impl std::fmt::Debug for OutboxWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWorker")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .field("backoff", &self.backoff)
            .field("prepare", &self.prepare.is_some())
            .finish_non_exhaustive()
    }
}

enum Wait {
    /// Until the interval passes or a write wakes the worker.
    Interval,
    /// A backoff after a failure.
    Retry(Duration),
}

impl OutboxWorker {
    /// A worker for the node in `dir` with its own waker ([`Self::waker`]);
    /// the node's `NodeApp::worker` makes one that the app's writes wake.
    pub fn new(dir: &Path, options: WorkerOptions) -> OutboxWorker {
        OutboxWorker::with_waker(dir, options, Arc::new(Notify::new()))
    }

    /// A worker that `wake` wakes (the node's app layer shares it with its writes).
    pub fn with_waker(dir: &Path, options: WorkerOptions, wake: Arc<Notify>) -> OutboxWorker {
        let backoff = Backoff::new(options.retry_base, options.retry_max);
        OutboxWorker {
            dir: dir.to_owned(),
            options,
            wake,
            state: watch::Sender::new(SyncState::default()),
            backoff,
            prepare: None,
        }
    }

    /// Runs `prepare` on a blocking thread before each sync; an error from
    /// it fails that round like a failed link (backoff, then again).
    #[must_use]
    pub fn with_prepare(mut self, prepare: Prepare) -> OutboxWorker {
        self.prepare = Some(prepare);
        self
    }

    /// What wakes the worker: `notify_one` makes it sync now (or right after
    /// the sync in progress).
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// The worker's state, updated as it changes.
    pub fn state(&self) -> watch::Receiver<SyncState> {
        self.state.subscribe()
    }

    /// Syncs until `shutdown` holds `true` (or its sender is dropped),
    /// telling `observe` what happens.
    ///
    /// # Errors
    /// A refusal when `stop_on_refusal`; otherwise it returns `Ok` at shutdown.
    pub async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        mut observe: impl FnMut(Event<'_>) + Send,
    ) -> Result<(), SyncError> {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            // What waits now (a write may have woken us), and, at the
            // start, when the node last caught up.
            if let Some((pending, last_success)) = self.look().await {
                self.state.send_modify(|s| {
                    s.pending = Some(pending);
                    if s.last_success.is_none() {
                        s.last_success = last_success;
                    }
                });
            }
            let started = now();
            self.state.send_modify(|s| {
                s.syncing = true;
                s.last_attempt = Some(started);
            });
            let prepare = self.prepare.clone();
            let dir = self.dir.clone();
            let options = self.options.sync.clone();
            let observe_ref = &mut observe;
            let outcome = finish_or_abandon(
                async move {
                    if let Some(prepare) = prepare {
                        tokio::task::spawn_blocking(move || prepare())
                            .await
                            .map_err(|e| SyncError::Local(format!("preparing the sync: {e}")))?
                            .map_err(SyncError::Local)?;
                    }
                    sync_once(&dir, &options, |p| {
                        observe_ref(Event::Progress(p));
                    })
                    .await
                },
                &mut shutdown,
                self.options.exit_deadline,
            )
            .await;
            self.state.send_modify(|s| s.syncing = false);
            let Some(outcome) = outcome else {
                tracing::warn!(
                    "the sync in progress did not finish within {:?} of shutdown; stopped it",
                    self.options.exit_deadline
                );
                return Ok(());
            };
            let wait = match outcome {
                Ok(report) => {
                    self.backoff.reset();
                    let at = now();
                    self.state.send_modify(|s| {
                        s.online = true;
                        s.last_success = Some(at);
                        s.last_error = None;
                        s.syncs += 1;
                    });
                    observe(Event::Synced(&report));
                    Wait::Interval
                }
                Err(error) => {
                    let refusal = is_refusal(&error);
                    let (at, reason) = (now(), error.to_string());
                    self.state.send_modify(|s| {
                        s.online = false;
                        s.last_error = Some(reason.clone());
                        if refusal {
                            s.last_refusal = Some(Refusal { at, reason });
                        }
                    });
                    if refusal && self.options.stop_on_refusal {
                        return Err(error);
                    }
                    // Between half and all of the ceiling: jittered, never
                    // a busy loop.
                    let retry_in = self.backoff.next_delay(0.5 + rand::random::<f64>() / 2.0);
                    observe(Event::Failed {
                        error: &error,
                        retry_in,
                    });
                    Wait::Retry(retry_in)
                }
            };
            if let Some((pending, _)) = self.look().await {
                self.state.send_modify(|s| s.pending = Some(pending));
            }
            if !self.wait(wait, &mut shutdown).await {
                return Ok(());
            }
        }
    }

    /// Waits before the next sync; `false` when shutdown came first.
    async fn wait(&self, wait: Wait, shutdown: &mut watch::Receiver<bool>) -> bool {
        match wait {
            Wait::Interval => {
                let gap = self.options.min_gap.min(self.options.interval);
                if !gap.is_zero() {
                    tokio::select! {
                        () = stopped(shutdown) => return false,
                        () = tokio::time::sleep(gap) => {}
                    }
                }
                tokio::select! {
                    () = stopped(shutdown) => false,
                    () = tokio::time::sleep(self.options.interval - gap) => true,
                    () = self.wake.notified() => true,
                }
            }
            Wait::Retry(delay) => tokio::select! {
                () = stopped(shutdown) => false,
                () = tokio::time::sleep(delay) => true,
            },
        }
    }

    /// Pending changes and the last success as the store has them, or
    /// `None` when it cannot be read (e.g. not initialised yet).
    async fn look(&self) -> Option<(u64, Option<String>)> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let store = Store::open(&dir)?;
            Ok::<_, crate::store::StoreError>((
                store.pending()?,
                store.optional_meta("last_success")?,
            ))
        })
        .await
        .ok()?
        .ok()
    }
}

fn now() -> String {
    crate::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Resolves when `shutdown` holds `true`, or can no longer change.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Runs `work` to the end, or, once shutdown is asked for, for at most
/// `deadline` more; `None` when it was dropped unfinished.
async fn finish_or_abandon<T>(
    work: impl Future<Output = T>,
    shutdown: &mut watch::Receiver<bool>,
    deadline: Duration,
) -> Option<T> {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        out = &mut work => return Some(out),
        () = stopped(shutdown) => {}
    }
    tracing::info!("shutting down: finishing the sync in progress");
    tokio::time::timeout(deadline, work).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_in_progress_finishes_within_the_deadline_after_shutdown() {
        let (stop, mut shutdown) = watch::channel(false);
        stop.send_replace(true);
        let work = tokio::time::sleep(Duration::from_millis(20));
        let done = finish_or_abandon(
            async move {
                work.await;
                7
            },
            &mut shutdown,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(done, Some(7));
    }

    #[tokio::test]
    async fn work_past_the_deadline_is_dropped() {
        let (stop, mut shutdown) = watch::channel(false);
        stop.send_replace(true);
        let done = finish_or_abandon(
            std::future::pending::<()>(),
            &mut shutdown,
            Duration::from_millis(20),
        )
        .await;
        assert_eq!(done, None);
    }

    #[tokio::test]
    async fn a_dropped_sender_means_stop() {
        let (stop, mut shutdown) = watch::channel(false);
        drop(stop);
        tokio::time::timeout(Duration::from_secs(5), stopped(&mut shutdown))
            .await
            .expect("stopped at once");
    }

    #[tokio::test]
    async fn a_worker_without_a_node_retries_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = WorkerOptions::every(Duration::from_secs(3600), SyncOptions::default());
        let worker = OutboxWorker::new(&dir.path().join("none"), options);
        let mut state = worker.state();
        let (stop, shutdown) = watch::channel(false);
        let failures = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = Arc::clone(&failures);
        let task = tokio::spawn(worker.run(shutdown, move |event| {
            if let Event::Failed { .. } = event {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
        tokio::time::timeout(
            Duration::from_secs(10),
            state.wait_for(|s| s.last_error.is_some()),
        )
        .await
        .expect("a failure within 10 s")
        .expect("worker alive");
        assert!(!state.borrow().online);
        assert_eq!(state.borrow().pending, None);
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops within 5 s")
            .expect("no panic")
            .expect("no refusal");
        assert!(failures.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }
}
