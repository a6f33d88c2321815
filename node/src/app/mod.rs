//! The node's application layer: every operation a compound worker can do,
//! over one shared store handle, with typed results and typed errors.
//!
//! The CLI (`src/main.rs`) parses flags, calls a [`NodeApp`] method and
//! prints the result; the page (`lianfang-node serve`, [`crate::page`]) holds the same
//! [`NodeApp`] (cheap to clone) and calls it through [`NodeApp::blocking`].
//! Neither touches SQL or masks anything itself.
//!
//! - Every write wakes the sync worker ([`crate::worker::OutboxWorker`],
//!   made by [`NodeApp::worker`]), so a change goes up without waiting for
//!   the interval.
//! - Personal data leaves through one audited step ([`privacy`]): masked
//!   unless a [`Reveal::Unmasked`] is asked for, which is written to the
//!   node's audit log before the output is produced.
//!
//! The methods block (SQLite); from async code call them inside
//! [`NodeApp::blocking`] or `tokio::task::spawn_blocking`.

mod day;
mod privacy;
mod records;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use lianfang_proto::Kind;
use lianfang_proto::log::DailyLog;
use lianfang_proto::pb;
use lianfang_proto::table::DailyCounts;
use serde::Serialize;
use tokio::sync::Notify;

pub use self::day::{BuildingDay, MaskCall, QueueEntry, Unchecked};
pub use self::privacy::{Mask, Reveal};
pub use self::records::{ListPage, PER_PAGE, RecordView, SaveError};
use crate::directives::{self, AnswerError, ProblemItem, Received, TaskEntry};
use crate::import::ImportError;
use crate::store::{Change, Identity, Store, StoreError, WriteSummary};
use crate::worker::{OutboxWorker, WorkerOptions};
use crate::{BundleExportError, BundleSummary, InitError};

/// Errors of deleting records.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// Some ids name no live record; nothing was deleted.
    #[error("no live {kind} with id {}; nothing deleted", .ids.join(", "))]
    Missing {
        kind: &'static str,
        ids: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Any error of the application layer, for callers that handle them alike
/// (a page shows the message); each method returns its own narrower type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Init(#[from] InitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Answer(#[from] AnswerError),
    #[error(transparent)]
    Delete(#[from] DeleteError),
    #[error(transparent)]
    Bundle(#[from] BundleExportError),
    #[error(transparent)]
    Save(#[from] SaveError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The node's sync status as `status` shows it (and the page's
/// `/status.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub compound: String,
    pub node_id: String,
    pub hub: String,
    /// Highest entry of the ledger (bulk) lane.
    pub head: u64,
    /// The hub's acknowledged cursor of that lane, as of the last contact.
    pub acked: u64,
    /// Entries of both lanes the hub has not acknowledged.
    pub pending: u64,
    /// When the last sync caught up (RFC 3339).
    pub last_success: Option<String>,
    /// Why the last sync failed, if it did.
    pub last_error: Option<String>,
}

/// The compound's own daily table for one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTable {
    pub compound: String,
    pub date: chrono::NaiveDate,
    pub counts: DailyCounts,
}

impl DayTable {
    /// `{"compound": .., "date": "YYYY-MM-DD", <every key of the table>}`.
    ///
    /// # Errors
    /// None in practice (the counts are numbers); serde's error otherwise.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut value = serde_json::to_value(self.counts)?;
        value["compound"] = self.compound.clone().into();
        value["date"] = self.date.format("%Y-%m-%d").to_string().into();
        Ok(value)
    }
}

/// The compound's own daily log for one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompoundLog {
    pub compound: String,
    pub date: chrono::NaiveDate,
    pub log: DailyLog,
}

impl CompoundLog {
    /// `{"date": "YYYY-MM-DD", <every key of the log>}`.
    ///
    /// # Errors
    /// None in practice (the figures are numbers); serde's error otherwise.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut value = serde_json::json!({"date": self.date.format("%Y-%m-%d").to_string()});
        if let (Some(out), serde_json::Value::Object(keys)) =
            (value.as_object_mut(), serde_json::to_value(self.log)?)
        {
            out.extend(keys);
        }
        Ok(value)
    }
}

/// One entry of the node's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: String,
    /// e.g. `unmasked_output`.
    pub event: String,
    pub detail: String,
}

/// The node's application: its data directory and one store handle shared
/// by every caller in the process. Clones share both.
#[derive(Debug, Clone)]
pub struct NodeApp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The data directory (`node.db`).
    dir: PathBuf,
    /// One connection for the application's reads and writes; the sync
    /// worker opens its own, so a page never waits for the link.
    store: Mutex<Store>,
    /// Signalled after every write that changed something, to wake the
    /// sync worker.
    written: Arc<Notify>,
}

impl NodeApp {
    /// Opens the node set up in `dir`.
    ///
    /// # Errors
    /// [`StoreError::NotInitialised`] when `dir` holds no node.
    pub fn open(dir: &Path) -> Result<NodeApp, StoreError> {
        let store = Store::open(dir)?;
        Ok(NodeApp {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                store: Mutex::new(store),
                written: Arc::new(Notify::new()),
            }),
        })
    }

    /// Sets up a new node in `dir` for `compound`, syncing to `hub` with
    /// `token` (see [`crate::init`]), and opens it.
    ///
    /// # Errors
    /// [`InitError`] for a bad token or address, or a directory in use.
    pub fn init(
        dir: &Path,
        compound: &str,
        hub: &str,
        token: &str,
    ) -> Result<(NodeApp, Identity), InitError> {
        let identity = crate::init(dir, compound, hub, token)?;
        Ok((NodeApp::open(dir)?, identity))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs `f` on a blocking thread with a clone of this app: how async
    /// code (a page handler) calls the methods.
    ///
    /// # Panics
    /// Resumes the panic of `f`.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&NodeApp) -> R + Send + 'static,
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

    /// The sync worker for this node, woken by this app's writes.
    pub fn worker(&self, options: WorkerOptions) -> OutboxWorker {
        OutboxWorker::with_waker(self.dir(), options, Arc::clone(&self.inner.written))
    }

    /// Wakes the sync worker: the app calls it after every write that
    /// changed something.
    fn wrote(&self, summary: &WriteSummary) {
        if summary.written() > 0 {
            self.inner.written.notify_one();
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back), so a poisoned lock is still usable.
        self.inner
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who this node is.
    ///
    /// # Errors
    /// Store errors.
    pub fn identity(&self) -> Result<Identity, StoreError> {
        self.store().identity()
    }

    /// Imports ledger files, all or nothing (see [`crate::import`]).
    ///
    /// # Errors
    /// [`ImportError`] naming file, row, column and reason; nothing written.
    pub fn import(&self, files: &[PathBuf]) -> Result<WriteSummary, ImportError> {
        let summary =
            crate::import::import_files(&mut self.store(), files, crate::today(), crate::now_ms())?;
        self.wrote(&summary);
        Ok(summary)
    }

    /// Imports ledger files uploaded by a page, all or nothing, exactly as
    /// [`NodeApp::import`]: each is `(its own file name, its bytes)`, named
    /// by that name in errors and read by its extension. The bytes are kept
    /// in `DIR/uploads/` while they are read, then removed.
    ///
    /// # Errors
    /// As [`NodeApp::import`]; an upload that cannot be saved is an error
    /// at its file.
    pub fn import_uploads(&self, files: &[(String, Vec<u8>)]) -> Result<WriteSummary, ImportError> {
        if files.is_empty() {
            return Err(ImportError::NoFiles);
        }
        let dir = self
            .dir()
            .join("uploads")
            .join(format!("{:016x}", rand::random::<u64>()));
        let saved = (|| -> std::io::Result<Vec<(String, PathBuf)>> {
            std::fs::create_dir_all(&dir)?;
            files
                .iter()
                .enumerate()
                .map(|(i, (name, bytes))| {
                    // Only the extension of the user's name is used for the
                    // saved file: the name itself is shown, never trusted.
                    let ext = Path::new(name)
                        .extension()
                        .and_then(|e| e.to_str())
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    let path = dir.join(format!("{i}.{ext}"));
                    std::fs::write(&path, bytes)?;
                    Ok((name.clone(), path))
                })
                .collect()
        })();
        let result = match saved {
            Ok(named) => crate::ledger::read_named(&named, crate::today())
                .map_err(ImportError::from)
                .and_then(|ledger| {
                    let mut store = self.store();
                    crate::import::import_ledger(
                        &mut store,
                        ledger,
                        crate::today(),
                        crate::now_ms(),
                    )
                }),
            Err(e) => Err(ImportError::Ledger(crate::ledger::LedgerError {
                file: files[0].0.clone(),
                sheet: None,
                row: None,
                column: None,
                reason: format!("cannot save the upload: {e}"),
                kind: None,
            })),
        };
        let _ = std::fs::remove_dir_all(&dir);
        let summary = result?;
        self.wrote(&summary);
        Ok(summary)
    }

    /// Deletes live records (a tombstone each), all or none.
    ///
    /// # Errors
    /// [`DeleteError::Missing`] when an id names no live record of `kind`.
    pub fn delete(&self, kind: Kind, ids: &[String]) -> Result<WriteSummary, DeleteError> {
        let mut store = self.store();
        let mut missing = Vec::new();
        for id in ids {
            if store.get(kind, id)?.is_none_or(|r| r.deleted) {
                missing.push(id.clone());
            }
        }
        if !missing.is_empty() {
            return Err(DeleteError::Missing {
                kind: kind.name(),
                ids: missing,
            });
        }
        let summary = store.write(
            ids.iter().map(|id| Change {
                kind,
                id: id.clone(),
                body: None,
            }),
            crate::now_ms(),
        )?;
        drop(store);
        self.wrote(&summary);
        Ok(summary)
    }

    /// Pending changes, last success, last error.
    ///
    /// # Errors
    /// Store errors.
    pub fn status(&self) -> Result<Status, StoreError> {
        let store = self.store();
        let identity = store.identity()?;
        Ok(Status {
            compound: identity.compound,
            node_id: identity.node_id,
            hub: identity.hub,
            head: store.head()?,
            acked: store.acked()?,
            pending: store.pending()?,
            last_success: store.optional_meta("last_success")?,
            last_error: store.optional_meta("last_error")?,
        })
    }

    /// The compound's own daily table for `date` (default: today, China
    /// time), under the configuration the hub last sent.
    ///
    /// # Errors
    /// Store errors.
    pub fn table(&self, date: Option<chrono::NaiveDate>) -> Result<DayTable, StoreError> {
        let store = self.store();
        let date = date.unwrap_or_else(crate::today);
        let counts = store.table(date, &store.table_config()?)?;
        Ok(DayTable {
            compound: store.identity()?.compound,
            date,
            counts,
        })
    }

    /// The compound's own daily log for `date` (default: today, China
    /// time), under the configuration the hub last sent.
    ///
    /// # Errors
    /// Store errors.
    pub fn log(&self, date: Option<chrono::NaiveDate>) -> Result<CompoundLog, StoreError> {
        let store = self.store();
        let date = date.unwrap_or_else(crate::today);
        let config = store.table_config()?;
        let counts = store.table(date, &config)?;
        Ok(CompoundLog {
            compound: store.identity()?.compound,
            date,
            log: store.day_log(date, &config, &counts)?,
        })
    }

    /// What the hub has sent this compound, in arrival order.
    ///
    /// # Errors
    /// Store errors.
    pub fn directives(&self) -> Result<Vec<Received>, StoreError> {
        directives::received(&self.store())
    }

    /// Acknowledges a directive; the receipt rides the next sync.
    ///
    /// # Errors
    /// [`AnswerError::Unknown`] when no such directive was received.
    pub fn ack(&self, id: &str, response: &str) -> Result<(), AnswerError> {
        directives::ack(&mut self.store(), id, response)?;
        self.inner.written.notify_one();
        Ok(())
    }

    /// Every entry of every verification task with this compound's answers:
    /// names shown, phones masked unless `reveal` (audited first).
    ///
    /// # Errors
    /// Store errors (an audit that fails shows nothing).
    pub fn tasks(&self, reveal: Reveal) -> Result<Vec<TaskEntry>, StoreError> {
        let store = self.store();
        let privacy = privacy::step(&store, reveal, "task entries")?;
        let mut entries = directives::tasks(&store)?;
        entries.mask(privacy);
        Ok(entries)
    }

    /// Answers one entry of a verification task.
    ///
    /// # Errors
    /// An unknown task or entry.
    pub fn answer(
        &self,
        task: &str,
        entry: &str,
        result: pb::AnswerResult,
        note: &str,
    ) -> Result<(), AnswerError> {
        directives::answer_entry(&mut self.store(), task, entry, result, note)?;
        self.inner.written.notify_one();
        Ok(())
    }

    /// Problems to rectify sent to this compound, and which are fixed.
    ///
    /// # Errors
    /// Store errors.
    pub fn problems(&self) -> Result<Vec<ProblemItem>, StoreError> {
        directives::problems(&self.store())
    }

    /// Reports a problem fixed.
    ///
    /// # Errors
    /// An unknown problem, or a directive that is not one.
    pub fn fix(&self, id: &str, note: &str) -> Result<(), AnswerError> {
        directives::fix(&mut self.store(), id, note)?;
        self.inner.written.notify_one();
        Ok(())
    }

    /// Writes every change the hub has not acknowledged to `file`, sealed
    /// (see [`crate::export_bundle`]).
    ///
    /// # Errors
    /// [`BundleExportError::NothingPending`] when there is nothing to carry.
    pub fn export_bundle(&self, file: &Path) -> Result<BundleSummary, BundleExportError> {
        crate::export_bundle(&self.store(), file)
    }

    /// The node's audit log, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .store()
            .audit_log()?
            .into_iter()
            .map(|(at, event, detail)| AuditEntry { at, event, detail })
            .collect())
    }
}
