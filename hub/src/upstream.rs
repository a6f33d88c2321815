//! The upward link: a hub is itself a member of the hub one level up (a
//! street of its district, a district of its city), over the same protocol
//! a compound's node uses, so the same two logs, cursors, lanes, digests
//! and signatures hold one level up.
//!
//! `DIR/upstream/` is a member's store (`lianfang_client::store`, the
//! node's): its identity (the code this hub was enrolled under above, the
//! hub above and the token), its change log and its down log. Before each
//! upward sync, [`prepare`]:
//! 1. passes on what came down from above and was not passed on yet: each
//!    directive to every compound of this hub, signed by this hub
//!    (`HubStore::relay_from_above`; once, with its cursor, in one
//!    transaction);
//! 2. writes a [`pb::DirectiveRollup`] per directive passed on: delivered,
//!    acknowledged and the responses, counted down to the compounds;
//! 3. when anything the figures read changed since the last time
//!    (`HubStore::change_marks`), writes a [`pb::MemberDay`] per compound
//!    and date of the window (today and the `days - 1` before it): the row
//!    of this hub's `table` and `log` for that compound, with its
//!    freshness; when only the members' freshness changed, today's alone.
//!
//! Aggregates only go up, never a personal record. A record that did not
//! change writes nothing (the member store's rule), so only the dates and
//! compounds whose figures changed travel. Everything written is derived
//! from `hub.db` and written again when lost: a crash at any point costs a
//! recomputation, never a figure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lianfang_client::store::{Change, Identity, Store, StoreError};
use lianfang_client::sync::{SyncError, SyncOptions, SyncReport};
use lianfang_client::worker::{OutboxWorker, WorkerOptions};
use lianfang_proto::{Kind, pb};

use crate::store::{HubError, HubStore};

/// The member store's directory inside the hub's data directory.
pub const DIR_NAME: &str = "upstream";

/// Dates sent upward by default: today and the 13 before it (an isolation
/// period).
pub const DEFAULT_DAYS: u32 = 14;

/// Most dates sent upward (as many as the trends page shows).
pub const MAX_DAYS: u32 = 62;

/// The hub setting holding the mark every date's figures were last
/// computed at (`HubStore::change_marks`' first, with the date and window).
const SENT_AT_MARK: &str = "upstream_sent_mark";

/// The hub setting holding the freshness mark today's figures were last
/// computed at (`HubStore::change_marks`' second).
const FRESH_AT_MARK: &str = "upstream_fresh_mark";

/// The hub setting holding how many dates go up (`upstream --days`).
const DAYS: &str = "upstream_days";

/// The hub setting holding the seconds between upward syncs when nothing
/// changed (`upstream --interval`).
const INTERVAL: &str = "upstream_interval";

/// Seconds between upward syncs by default, when nothing changed.
pub const DEFAULT_INTERVAL_SECS: u64 = 30;

/// How the upward link is paced, as `upstream` set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Dates sent up: today and the `days - 1` before it.
    pub days: u32,
    /// Seconds between upward syncs when nothing changed.
    pub interval_secs: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            days: DEFAULT_DAYS,
            interval_secs: DEFAULT_INTERVAL_SECS,
        }
    }
}

/// The pace `upstream` set for the hub in `hub_dir` (defaults when unset).
///
/// # Errors
/// SQLite errors.
pub fn pace(hub: &HubStore) -> Result<Pace, HubError> {
    let default = Pace::default();
    Ok(Pace {
        days: hub
            .setting(DAYS)?
            .and_then(|d| d.parse().ok())
            .unwrap_or(default.days),
        interval_secs: hub
            .setting(INTERVAL)?
            .and_then(|d| d.parse().ok())
            .unwrap_or(default.interval_secs),
    })
}

fn set_pace(hub: &HubStore, pace: Pace) -> Result<(), HubError> {
    hub.set_setting(DAYS, &pace.days.to_string())?;
    hub.set_setting(INTERVAL, &pace.interval_secs.to_string())
}

/// The member store of the hub in `hub_dir`.
pub fn dir(hub_dir: &Path) -> PathBuf {
    hub_dir.join(DIR_NAME)
}

/// Whether the hub in `hub_dir` has a level above.
pub fn is_set(hub_dir: &Path) -> bool {
    dir(hub_dir).join("node.db").exists()
}

/// Errors of the upward link.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(
        "no level above is set for this hub: run `lianfang-hub upstream --data DIR \
         --hub https://HOST:PORT --token TOKEN` first"
    )]
    NotSet,
    #[error("invalid token: {0} (copy the last line printed by `lianfang-hub enroll` above)")]
    Token(#[from] lianfang_proto::token::TokenError),
    #[error(transparent)]
    Init(#[from] lianfang_client::InitError),
    #[error("--days must be 1 to {MAX_DAYS}, got {0}")]
    Days(u32),
    #[error("--interval must be 1 to 86400 seconds, got {0}")]
    Interval(u64),
    #[error("cannot move the earlier upstream aside: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("upstream store: {0}")]
    Store(#[from] StoreError),
}

/// What [`set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSet {
    pub identity: Identity,
    /// Where an earlier upstream with another token was moved.
    pub replaced: Option<PathBuf>,
    /// Whether the same hub and token were set already (nothing changed).
    pub unchanged: bool,
}

/// Sets the level above of the hub in `hub_dir`: `hub` (its address) and
/// `token` (from `lianfang-hub enroll` there; it names this hub's code).
/// The same token again changes at most the address (and the pace);
/// another token starts a new member store (a token is bound to the first
/// log that syncs with it) and moves the earlier one aside: what it sends is
/// all derived, and sent again.
///
/// # Errors
/// A malformed token or address, or I/O and SQLite errors.
pub fn set(
    hub_dir: &Path,
    hub: &str,
    token: &str,
    pace: Pace,
) -> Result<UpstreamSet, UpstreamError> {
    if !(1..=MAX_DAYS).contains(&pace.days) {
        return Err(UpstreamError::Days(pace.days));
    }
    if !(1..=86_400).contains(&pace.interval_secs) {
        return Err(UpstreamError::Interval(pace.interval_secs));
    }
    let decoded = lianfang_proto::token::decode(token.trim())?;
    let member = dir(hub_dir);
    let mut replaced = None;
    let hub = hub.trim().trim_end_matches('/');
    if is_set(hub_dir) {
        let store = Store::open(&member)?;
        let identity = store.identity()?;
        if identity.token == token.trim() {
            // The same membership: at most the address of the hub above moved.
            let unchanged = identity.hub == hub;
            if !unchanged {
                lianfang_client::check_hub_address(hub)?;
                store.set_hub_address(hub)?;
            }
            set_pace(&HubStore::open_or_create(hub_dir)?, pace)?;
            return Ok(UpstreamSet {
                identity: store.identity()?,
                replaced: None,
                unchanged,
            });
        }
        drop(store);
        let aside = hub_dir.join(format!(
            "{DIR_NAME}.replaced-{}",
            crate::now().format("%Y%m%dT%H%M%S")
        ));
        std::fs::rename(&member, &aside)?;
        replaced = Some(aside);
    }
    let identity = lianfang_client::init(&member, &decoded.compound, hub, token)?;
    // Everything is sent afresh to the new log.
    let store = HubStore::open_or_create(hub_dir)?;
    store.set_setting(SENT_AT_MARK, "")?;
    store.set_setting(FRESH_AT_MARK, "")?;
    set_pace(&store, pace)?;
    Ok(UpstreamSet {
        identity,
        replaced,
        unchanged: false,
    })
}

/// Where the upward link stands (`upstream --data DIR` without flags).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamStatus {
    /// Address of the hub above.
    pub hub: String,
    /// This hub's code there.
    pub code: String,
    pub days: u32,
    pub interval_secs: u64,
    /// Member days and roll-ups written that the hub above has not
    /// acknowledged yet (as of the last contact).
    pub pending: u64,
    /// When an upward sync last caught up (RFC 3339).
    pub last_success: Option<String>,
    /// The last failed upward sync: when, and why.
    pub last_error: Option<String>,
    /// Directives from above passed on to this hub's compounds.
    pub passed_on: u64,
}

/// Where the upward link of the hub in `hub_dir` stands; `None` when no
/// level above is set. Safe while `serve` runs.
///
/// # Errors
/// SQLite errors.
pub fn status(hub_dir: &Path) -> Result<Option<UpstreamStatus>, UpstreamError> {
    if !is_set(hub_dir) {
        return Ok(None);
    }
    let hub = HubStore::open_read_only(hub_dir)?;
    let pace = pace(&hub)?;
    let member = Store::open(&dir(hub_dir))?;
    let identity = member.identity()?;
    Ok(Some(UpstreamStatus {
        hub: identity.hub,
        code: identity.compound,
        days: pace.days,
        interval_secs: pace.interval_secs,
        pending: member.pending()?,
        last_success: member.optional_meta("last_success")?,
        last_error: member.optional_meta("last_error")?,
        passed_on: hub.passed_on()?,
    }))
}

/// What one [`prepare`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Directives passed on to this hub's compounds.
    pub relayed: u64,
    /// Member days written (changed figures); 0 when nothing changed.
    pub member_days: u64,
    /// Roll-ups written (changed).
    pub rollups: u64,
}

/// Writes what the next upward sync sends (see the module's description).
///
/// # Errors
/// [`UpstreamError::NotSet`], or SQLite errors (nothing half-written: each
/// step is one transaction, and a repeated step writes nothing new).
pub fn prepare(hub_dir: &Path) -> Result<Prepared, UpstreamError> {
    if !is_set(hub_dir) {
        return Err(UpstreamError::NotSet);
    }
    let mut hub = HubStore::open_or_create(hub_dir)?;
    let days = pace(&hub)?.days;
    let mut member = Store::open(&dir(hub_dir))?;
    let mut prepared = Prepared::default();
    // 1. What came down, passed on once.
    let relayed_to = hub.relayed_seq()?;
    for (seq, _, message) in member.inbox()? {
        if seq > relayed_to
            && hub
                .relay_from_above(seq, &message)?
                .is_some_and(|id| id != 0)
        {
            prepared.relayed += 1;
        }
    }
    let now = crate::now();
    let wall_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    // 2. The roll-ups.
    let rollups: Vec<Change> = hub
        .rollups()?
        .into_iter()
        .map(|rollup| Change {
            kind: Kind::DirectiveRollup,
            id: rollup.directive_id.clone(),
            body: Some(pb::record::Body::DirectiveRollup(rollup)),
        })
        .collect();
    prepared.rollups = changed(member.write(rollups, wall_ms)?, Kind::DirectiveRollup);
    // 3. The figures: every date of the window when anything they read
    // moved; today alone when only a member's freshness did (a past date's
    // member days keep the freshness of their figures' last change).
    let today = crate::today();
    let (data, fresh) = hub.change_marks()?;
    let mark = format!("{today}|{days}|{data}");
    let dates = if hub.setting(SENT_AT_MARK)?.as_deref() != Some(mark.as_str()) {
        days.max(1)
    } else if hub.setting(FRESH_AT_MARK)?.as_deref() != Some(fresh.as_str()) {
        1
    } else {
        return Ok(prepared);
    };
    let computed_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut changes = Vec::new();
    for back in (0..dates).rev() {
        let Some(date) = today.checked_sub_days(chrono::Days::new(u64::from(back))) else {
            continue;
        };
        let table = hub.table(date)?;
        let log = hub.day_log_beside(&table)?;
        for (row, log_row) in table.compounds.iter().zip(&log.compounds) {
            let id = format!("{}/{}", date.format("%Y-%m-%d"), row.code);
            let day = pb::MemberDay {
                member: row.code.clone(),
                name: row.name.clone(),
                figures: Some(
                    row.counts
                        .to_report(&log_row.log, date, computed_at.clone()),
                ),
                last_sync: row.last_sync.clone().unwrap_or_default(),
                caught_up: row.caught_up,
                source: row.source.as_str().to_owned(),
            };
            if same_figures(member.get(Kind::MemberDay, &id)?, &day) {
                continue;
            }
            changes.push(Change {
                kind: Kind::MemberDay,
                id,
                body: Some(pb::record::Body::MemberDay(day)),
            });
        }
    }
    prepared.member_days = changed(member.write(changes, wall_ms)?, Kind::MemberDay);
    // Only once they are written: a crash before this computes them again.
    hub.set_setting(SENT_AT_MARK, &mark)?;
    hub.set_setting(FRESH_AT_MARK, &fresh)?;
    Ok(prepared)
}

/// Whether `held` is `day` but for the time its figures were computed.
fn same_figures(held: Option<pb::Record>, day: &pb::MemberDay) -> bool {
    let Some(pb::record::Body::MemberDay(mut held)) = held.and_then(|r| r.body) else {
        return false;
    };
    if let (Some(a), Some(b)) = (held.figures.as_mut(), day.figures.as_ref()) {
        a.computed_at.clone_from(&b.computed_at);
    }
    &held == day
}

fn changed(summary: lianfang_client::store::WriteSummary, kind: Kind) -> u64 {
    let counts = summary.kind(kind);
    (counts.added + counts.updated + counts.deleted) as u64
}

/// How the upward link syncs: as a node does, without a daily report of
/// its own (its members' days are what it reports).
pub fn sync_options() -> SyncOptions {
    SyncOptions {
        own_report: false,
        ..SyncOptions::default()
    }
}

/// One upward sync for scripts (`sync-up --once`): prepare, sync; when
/// directives came down, pass them on and sync once more, so their roll-up
/// (passed on to how many compounds) goes up too.
///
/// # Errors
/// As `lianfang_client::sync::sync_once`; a failed preparation is
/// [`SyncError::Local`].
pub async fn sync_up_once(
    hub_dir: &Path,
    mut progress: impl FnMut(lianfang_client::sync::Progress) + Send,
) -> Result<(SyncReport, Prepared), SyncError> {
    let mut prepared = Prepared::default();
    let mut last = None;
    for _ in 0..2 {
        let round = prepare_blocking(hub_dir).await?;
        prepared.relayed += round.relayed;
        prepared.member_days += round.member_days;
        prepared.rollups += round.rollups;
        let report =
            lianfang_client::sync::sync_once(&dir(hub_dir), &sync_options(), &mut progress).await?;
        let received = report.received;
        last = Some(report);
        if received == 0 {
            break;
        }
    }
    let report = last.expect("at least one round ran");
    // Pass on what the last round brought down, so the compounds see it
    // now; its roll-up goes up with the next sync.
    if report.received > 0 {
        prepared.relayed += prepare_blocking(hub_dir).await?.relayed;
    }
    Ok((report, prepared))
}

async fn prepare_blocking(hub_dir: &Path) -> Result<Prepared, SyncError> {
    let hub_dir = hub_dir.to_owned();
    tokio::task::spawn_blocking(move || prepare(&hub_dir))
        .await
        .map_err(|e| SyncError::Local(format!("preparing the upward sync: {e}")))?
        .map_err(|e| SyncError::Local(e.to_string()))
}

/// Least time between upward syncs however often members sync (or the
/// interval, when shorter): recomputing a whole street's window of dates
/// takes about a second of CPU (BENCHMARKS.md, issue 14).
pub const MIN_GAP: Duration = Duration::from_secs(10);

/// How often `serve` looks for a level above set while it runs.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// What `serve` runs beside the service until `shutdown`: nothing until a
/// level above is set (at start, or by `upstream` while it runs), then the
/// upward [`worker`] at the pace `upstream` set, woken by `changed`.
pub async fn run_beside(
    hub_dir: PathBuf,
    changed: Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    while !is_set(&hub_dir) {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
    let look = hub_dir.clone();
    let read = tokio::task::spawn_blocking(move || {
        HubStore::open_or_create(&look)
            .and_then(|hub| pace(&hub))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|read| read);
    let pace = match read {
        Ok(pace) => pace,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the upward link's pace; not syncing upward");
            return;
        }
    };
    let interval = Duration::from_secs(pace.interval_secs);
    tracing::info!(?interval, "syncing upward to the level above");
    let again = Arc::clone(&changed);
    let worker = worker(&hub_dir, interval, MIN_GAP.min(interval), changed);
    let outcome = worker
        .run(shutdown, move |event| match event {
            lianfang_client::worker::Event::Progress(_) => {}
            lianfang_client::worker::Event::Synced(report) => {
                tracing::debug!(?report, "synced upward");
                // What came down is passed on, and its roll-up sent, by the
                // next round: now rather than at the interval.
                if report.received > 0 {
                    again.notify_one();
                }
            }
            lianfang_client::worker::Event::Failed { error, retry_in } => {
                tracing::warn!(%error, ?retry_in, "upward sync failed");
            }
        })
        .await;
    if let Err(e) = outcome {
        tracing::error!(error = %e, "the upward link stopped");
    }
}

/// The background upward link of `serve`: the member's sync worker over
/// `DIR/upstream/` with [`prepare`] before each sync; it syncs at once,
/// then whenever `changed` is told (a member's call went through) but at
/// most every `min_gap`, and every `interval`, backing off after a failure.
pub fn worker(
    hub_dir: &Path,
    interval: Duration,
    min_gap: Duration,
    changed: Arc<tokio::sync::Notify>,
) -> OutboxWorker {
    let mut options = WorkerOptions::every(interval, sync_options());
    options.min_gap = min_gap;
    let prepare_dir = hub_dir.to_owned();
    OutboxWorker::with_waker(&dir(hub_dir), options, changed).with_prepare(Arc::new(move || {
        prepare(&prepare_dir).map(|_| ()).map_err(|e| e.to_string())
    }))
}
