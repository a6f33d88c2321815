//! The hub's application layer: every operation of the street office, over
//! one shared store handle, with typed results and typed errors.
//!
//! The CLI (`src/main.rs`) parses flags, calls a [`HubApp`] method and
//! prints the result; the coming dashboard holds the same [`HubApp`] (cheap
//! to clone) and calls it through [`HubApp::blocking`]. Neither touches SQL
//! or masks anything itself: personal data leaves through one audited step
//! ([`privacy`]), masked unless a [`Reveal::Unmasked`] is asked for, which
//! is written to the audit log before the output is produced.
//!
//! The methods block (SQLite); from async code call them inside
//! [`HubApp::blocking`] or `tokio::task::spawn_blocking`.

mod privacy;
mod street;
mod tasks;
mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use lianfang_proto::pb;
use lianfang_proto::table::TableConfig;

pub use self::privacy::{Mask, Reveal};
pub use self::street::{
    CHECKLIST, Inspection, InspectionRecorded, MAX_TREND_DAYS, TrendDay, checklist_label,
};
pub use self::tasks::{TaskListError, task_entries, task_entries_uploaded};
pub use self::users::{
    FREE_FAILURES, MIN_PASSWORD, Role, SESSION_HOURS, Session, SessionUser, User, UserError,
    lock_secs,
};
use crate::directives::{DirectiveStatus, ProblemStatus, TaskEntryStatus};
use crate::export::{ExportKind, Row};
use crate::meeting::{self, Cutoff, HubSettings, SettingError};
use crate::report::{LogReport, TableReport, View};
use crate::store::{AuditEntry, BundleImport, HubError, HubStore, SnapshotTaken, Table};
use privacy::Output;

/// Any error of the application layer, for callers that handle them alike
/// (a page shows the message); each method returns its own narrower type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    TaskList(#[from] TaskListError),
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error(transparent)]
    User(#[from] UserError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every setting of the hub: the table's, which every node receives, and
/// the hub's own (the meeting's cut-off, the street's name), which none does.
/// Serialised flat, as `config show` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// Key regions and isolation period, pushed down to the nodes.
    #[serde(flatten)]
    pub table: TableConfig,
    /// Cut-off and street name, kept at the hub.
    #[serde(flatten)]
    pub hub: HubSettings,
}

/// A change of settings (`config set`); `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// New key regions (sent to every node).
    pub key_regions: Option<Vec<String>>,
    /// New isolation period in days (sent to every node).
    pub isolation_days: Option<u32>,
    /// New cut-off (hub only).
    pub cutoff: Option<Cutoff>,
    /// New street name, empty for none (hub only).
    pub street_name: Option<String>,
}

impl SettingsChange {
    /// Whether it changes anything the nodes receive.
    pub fn touches_nodes(&self) -> bool {
        self.key_regions.is_some() || self.isolation_days.is_some()
    }

    /// Whether it changes anything.
    pub fn is_empty(&self) -> bool {
        !self.touches_nodes() && self.cutoff.is_none() && self.street_name.is_none()
    }
}

/// How far a directive has got with its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Compounds it was sent to.
    pub targets: usize,
    /// Compounds whose node has it.
    pub delivered: usize,
    /// Compounds that acknowledged it.
    pub acknowledged: usize,
}

/// The delivery and acknowledgement counts of a directive.
pub fn tally(status: &DirectiveStatus) -> Tally {
    Tally {
        targets: status.targets.len(),
        delivered: status
            .targets
            .iter()
            .filter(|t| t.delivered_at.is_some())
            .count(),
        acknowledged: status.targets.iter().filter(|t| t.acknowledged()).count(),
    }
}

/// The compounds that have not acknowledged a directive yet, in target order
/// (a member hub until every compound under it has).
pub fn not_acknowledged(status: &DirectiveStatus) -> Vec<&str> {
    status
        .targets
        .iter()
        .filter(|t| !t.acknowledged())
        .map(|t| t.compound.as_str())
        .collect()
}

/// Where the store of the hub in `dir` is, for a person to read:
/// `SQLite DIR/hub.db` or `PostgreSQL URL` (any password hidden).
///
/// # Errors
/// When `--store` disagrees with the data directory.
pub fn store_description(dir: &Path) -> Result<String, HubError> {
    Ok(match crate::store::location(dir)? {
        None => format!("SQLite {}", dir.join(crate::store::DB_FILE).display()),
        Some(url) => format!("PostgreSQL {}", crate::db::pg::redact(&url)),
    })
}

/// Keeps this process's hub store in the PostgreSQL database `url`
/// (`--store`) instead of `DIR/hub.db`; `None` keeps SQLite or what the
/// data directory recorded. Call it once, before the first command.
pub fn use_store(url: Option<String>) {
    crate::store::use_store(url);
}

/// The hub's application: its data directory and one store handle shared
/// by every caller in the process. Clones share both.
#[derive(Debug, Clone)]
pub struct HubApp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The data directory (`hub.db`, `tls/`).
    dir: PathBuf,
    /// One connection for the application's reads and writes (the gRPC
    /// service opens its own).
    store: Mutex<HubStore>,
}

impl HubApp {
    pub(crate) fn new(dir: &Path, store: HubStore) -> HubApp {
        HubApp {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                store: Mutex::new(store),
            }),
        }
    }

    /// Opens the hub in `dir`, creating it if needed.
    ///
    /// # Errors
    /// I/O or SQLite errors.
    pub fn open(dir: &Path) -> Result<HubApp, HubError> {
        Ok(HubApp::new(dir, HubStore::open_or_create(dir)?))
    }

    /// Opens an existing hub read-only: for reading while `serve` runs.
    /// Its writing methods fail.
    ///
    /// # Errors
    /// [`HubError::NotInitialised`] when `dir` holds no hub.
    pub fn open_read_only(dir: &Path) -> Result<HubApp, HubError> {
        Ok(HubApp::new(dir, HubStore::open_read_only(dir)?))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs `f` on a blocking thread with a clone of this app: how async
    /// code (a dashboard handler) calls the methods.
    ///
    /// # Panics
    /// Resumes the panic of `f`.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&HubApp) -> R + Send + 'static,
    ) -> R {
        let app = self.clone();
        match tokio::task::spawn_blocking(move || f(&app)).await {
            Ok(r) => r,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("application task did not finish: {e}"),
            },
        }
    }

    fn store(&self) -> MutexGuard<'_, HubStore> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back), so a poisoned lock is still usable.
        self.inner
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Enrols a compound (again: revoking its earlier token); returns the
    /// new token.
    ///
    /// # Errors
    /// An invalid compound code; SQLite errors.
    pub fn enroll(&self, compound: &str, name: Option<&str>) -> Result<String, HubError> {
        self.store().enroll(compound, name)
    }

    /// Revokes every token of a compound; returns how many.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`].
    pub fn revoke(&self, compound: &str) -> Result<usize, HubError> {
        self.store().revoke(compound)
    }

    /// The daily table for `date` (default: today, China time).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table(&self, date: Option<chrono::NaiveDate>) -> Result<Table, HubError> {
        self.store().table(date.unwrap_or_else(crate::today))
    }

    /// The street's daily log for `date` (default: today, China time), with
    /// the clerk's note and what changed since the date's snapshot.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn log(&self, date: Option<chrono::NaiveDate>) -> Result<LogReport, HubError> {
        let (log, since) = self
            .store()
            .log_since_cutoff(date.unwrap_or_else(crate::today))?;
        let mut report = LogReport::live(log);
        if let Some(since) = since {
            report.snapshot_at = Some(since.taken_at);
            report.since_cutoff = since.rows;
            report.total_since_cutoff = since.total;
        }
        Ok(report)
    }

    /// The daily log of `date` (default: today) as the meeting's snapshot
    /// holds it; `None` when none was taken that day.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn log_snapshot(
        &self,
        date: Option<chrono::NaiveDate>,
    ) -> Result<Option<LogReport>, HubError> {
        let Some((log, taken_at)) = self
            .store()
            .log_snapshot(date.unwrap_or_else(crate::today))?
        else {
            return Ok(None);
        };
        let mut report = LogReport::live(log);
        report.view = View::Snapshot;
        report.snapshot_at = Some(taken_at);
        Ok(Some(report))
    }

    /// Sets the street clerk's note for `date`'s log (an empty text
    /// removes it).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_log_note(&self, date: chrono::NaiveDate, text: &str) -> Result<(), HubError> {
        self.store().set_log_note(date, text)
    }

    /// The live records of a kind (of one compound, or all) as rows with the
    /// ledger's headers: ID numbers, phones and names masked unless
    /// `reveal` (audited first).
    ///
    /// # Errors
    /// SQLite errors (an audit that fails exports nothing).
    pub fn export(
        &self,
        kind: ExportKind,
        compound: Option<&str>,
        reveal: Reveal,
    ) -> Result<Vec<Row>, HubError> {
        let store = self.store();
        let privacy = privacy::step(&store, reveal, Output::Export { kind, compound })?;
        crate::export::export(&store, kind, compound, privacy)
    }

    /// The audit log, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>, HubError> {
        self.store().audit_log()
    }

    /// Applies a bundle a compound carried in (its bytes).
    ///
    /// # Errors
    /// [`HubError::Bundle`] for a bundle refused as a sync would be.
    pub fn import_bundle(&self, bytes: &[u8]) -> Result<BundleImport, HubError> {
        self.store().import_bundle(bytes)
    }

    /// Sends a notice to `to` (every compound when `None`); returns its id.
    ///
    /// # Errors
    /// An unknown compound, an empty title, or no compounds at all.
    pub fn send_notice(&self, notice: pb::Notice, to: Option<&[String]>) -> Result<i64, HubError> {
        self.store().send_notice(notice, to)
    }

    /// One directive with its delivery and acknowledgement per target
    /// ([`tally`], [`not_acknowledged`]).
    ///
    /// # Errors
    /// [`HubError::UnknownDirective`].
    pub fn directive_status(&self, id: i64) -> Result<DirectiveStatus, HubError> {
        self.store().directive_status(id)
    }

    /// Every directive with its targets.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn directives(&self) -> Result<Vec<DirectiveStatus>, HubError> {
        self.store().directives()
    }

    /// Sends a verification list ([`task_entries`]) to one compound;
    /// returns its id.
    ///
    /// # Errors
    /// An unknown compound or an empty list.
    pub fn send_task(
        &self,
        compound: &str,
        title: String,
        entries: Vec<pb::VerificationEntry>,
    ) -> Result<i64, HubError> {
        self.store()
            .send_task(compound, pb::VerificationTask { title, entries })
    }

    /// The entries of one task with the compound's answers: names shown,
    /// phones masked unless `reveal` (audited first).
    ///
    /// # Errors
    /// An unknown directive or one that is not a task.
    pub fn task_status(&self, id: i64, reveal: Reveal) -> Result<Vec<TaskEntryStatus>, HubError> {
        let store = self.store();
        let privacy = privacy::step(&store, reveal, Output::Task(id))?;
        let mut entries = store.task_entries(Some(id), None)?;
        entries.mask(privacy);
        Ok(entries)
    }

    /// Entries of every task (of one compound, or all) that are not yet
    /// answered, masked as [`Self::task_status`].
    ///
    /// # Errors
    /// SQLite errors.
    pub fn outstanding(
        &self,
        compound: Option<&str>,
        reveal: Reveal,
    ) -> Result<Vec<TaskEntryStatus>, HubError> {
        let store = self.store();
        let privacy = privacy::step(&store, reveal, Output::Outstanding)?;
        let mut entries: Vec<TaskEntryStatus> = store
            .task_entries(None, compound)?
            .into_iter()
            .filter(|e| e.result.is_none())
            .collect();
        entries.mask(privacy);
        Ok(entries)
    }

    /// Records a problem to rectify for a compound, found on `found_on`
    /// (default: today), and sends it down; returns its id.
    ///
    /// # Errors
    /// An unknown compound or an empty description.
    pub fn add_problem(
        &self,
        compound: &str,
        what: String,
        location: String,
        found_at: pb::FoundAt,
        found_on: Option<chrono::NaiveDate>,
    ) -> Result<i64, HubError> {
        let found_on = found_on.unwrap_or_else(crate::today);
        let problem = pb::Problem {
            what,
            location,
            found_at: found_at as i32,
            found_on: found_on.format("%Y-%m-%d").to_string(),
        };
        self.store().add_problem(compound, problem)
    }

    /// Problems as they stand on `day` (default: today), open ones only
    /// when `open_only`; an open one past the day it was found is overdue.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn problems(
        &self,
        day: Option<chrono::NaiveDate>,
        open_only: bool,
    ) -> Result<Vec<ProblemStatus>, HubError> {
        Ok(self
            .store()
            .problems(day.unwrap_or_else(crate::today))?
            .into_iter()
            .filter(|p| !open_only || p.open)
            .collect())
    }

    /// Changes the settings given: the table's are sent to every compound
    /// (one configuration directive, only when one of them is given), the
    /// hub's own are stored and sent nowhere. Returns every setting and the
    /// directive's id (0 when none was sent). Everything is checked before
    /// anything is written.
    ///
    /// # Errors
    /// An empty region list, an isolation period out of range, or a bad
    /// street name; nothing is changed then.
    pub fn set_config(&self, change: SettingsChange) -> Result<(Settings, i64)> {
        let street_name = change
            .street_name
            .as_deref()
            .map(meeting::street_name)
            .transpose()?;
        let mut store = self.store();
        let id = if change.touches_nodes() {
            store
                .set_config(change.key_regions, change.isolation_days)?
                .1
        } else {
            0
        };
        if change.cutoff.is_some() || street_name.is_some() {
            store.set_hub_settings(change.cutoff, street_name)?;
        }
        let settings = Settings {
            table: store.table_config()?,
            hub: store.hub_settings()?,
        };
        Ok((settings, id))
    }

    /// Every setting: the table's and the hub's own.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn config(&self) -> Result<Settings, HubError> {
        let store = self.store();
        Ok(Settings {
            table: store.table_config()?,
            hub: store.hub_settings()?,
        })
    }

    /// The live daily table for `date` (default: today, China time), with
    /// what changed since that date's snapshot when there is one.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table_report(&self, date: Option<chrono::NaiveDate>) -> Result<TableReport, HubError> {
        let store = self.store();
        let settings = store.hub_settings()?;
        let (table, since) = store.table_since_cutoff(date.unwrap_or_else(crate::today))?;
        let mut report = TableReport::live(table);
        report.settings = settings;
        if let Some(since) = since {
            report.snapshot_at = Some(since.taken_at);
            report.since_cutoff = since.rows;
            report.total_since_cutoff = since.total;
        }
        Ok(report)
    }

    /// Sets the level above this hub (`crate::upstream::set`).
    ///
    /// # Errors
    /// A malformed token or address, a pace out of range, I/O or SQLite.
    pub fn set_upstream(
        &self,
        hub: &str,
        token: &str,
        pace: crate::upstream::Pace,
    ) -> Result<crate::upstream::UpstreamSet, crate::upstream::UpstreamError> {
        crate::upstream::set(&self.inner.dir, hub, token, pace)
    }

    /// Where the upward link stands; `None` when no level above is set.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn upstream_status(
        &self,
    ) -> Result<Option<crate::upstream::UpstreamStatus>, crate::upstream::UpstreamError> {
        crate::upstream::status(&self.inner.dir)
    }

    /// The live table of `date` (default: today) with each member hub's row
    /// (a street at its district) replaced by the rows of its members as
    /// that hub sent them (`member_of`); the total is the same.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table_detail(&self, date: Option<chrono::NaiveDate>) -> Result<TableReport, HubError> {
        let store = self.store();
        let date = date.unwrap_or_else(crate::today);
        let table = store.table(date)?;
        let members = store.member_days(date)?;
        let mut report = TableReport::live(crate::store::table_detail(table, &members));
        report.settings = store.hub_settings()?;
        Ok(report)
    }

    /// The live log of `date` (default: today), detailed as
    /// [`HubApp::table_detail`] details the table.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn log_detail(&self, date: Option<chrono::NaiveDate>) -> Result<LogReport, HubError> {
        let store = self.store();
        let date = date.unwrap_or_else(crate::today);
        let log = store.day_log(date)?;
        let members = store.member_days(date)?;
        let log = crate::store::log_detail(log, &members);
        Ok(LogReport::live(log))
    }

    /// The snapshot of the daily table for `date` (default: today), exactly
    /// as it was taken; `None` when none was taken that day.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table_snapshot(
        &self,
        date: Option<chrono::NaiveDate>,
    ) -> Result<Option<TableReport>, HubError> {
        let store = self.store();
        let settings = store.hub_settings()?;
        let Some((table, taken_at)) = store.table_snapshot(date.unwrap_or_else(crate::today))?
        else {
            return Ok(None);
        };
        let mut report = TableReport::live(table);
        report.view = View::Snapshot;
        report.settings = settings;
        report.snapshot_at = Some(taken_at);
        Ok(Some(report))
    }

    /// Takes the meeting's snapshot of today now (the hub's clock),
    /// replacing an earlier one of today.
    ///
    /// # Errors
    /// SQLite errors; nothing is written then.
    pub fn take_snapshot(&self) -> Result<SnapshotTaken, HubError> {
        let now = crate::now();
        let taken = self
            .store()
            .take_snapshot(meeting::date_at(now), now, true)?;
        Ok(taken.expect("a snapshot that replaces is always taken"))
    }

    /// What the cut-off worker does at `now`: take today's snapshot (the
    /// cut-off has passed and none exists) or wait.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn cutoff_due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<meeting::Next, HubError> {
        let store = self.store();
        let cutoff = store.hub_settings()?.cutoff;
        let taken = store.snapshot_taken_at(meeting::date_at(now))?.is_some();
        Ok(meeting::next(now, cutoff, taken))
    }

    /// Takes the snapshot of `date` now unless one of `date` exists
    /// (decided inside the write transaction); `None` when one did.
    ///
    /// # Errors
    /// SQLite errors; nothing is written then.
    pub fn take_due_snapshot(
        &self,
        date: chrono::NaiveDate,
    ) -> Result<Option<SnapshotTaken>, HubError> {
        self.store().take_snapshot(date, crate::now(), false)
    }
}
