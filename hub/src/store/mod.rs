//! The hub's store, on SQLite (`DIR/hub.db`) or PostgreSQL (`--store`),
//! through [`crate::db`]: enrolled nodes with their cursors, and the merged
//! records of every compound.
//!
//! **Architecture Invariant:** a pushed batch is applied in one transaction
//! together with its node's cursor: after a crash the hub holds the batch and
//! the cursor past it, or neither. The cursor never moves backwards.
//!
//! **Architecture Invariant:** the merge is last-writer-wins by
//! `(stamp, origin)` (`lianfang_proto::merge::wins`), done here in the
//! `ON CONFLICT … WHERE` clause of each upsert, so applying the same versions
//! in any order, any number of times, gives the same rows.

mod apply;
mod auth;
mod bundle;
mod compounds;
mod day_log;
mod digests;
mod members;
mod settings;
mod snapshot;
mod table;
mod users;

pub use compounds::{CompoundStatus, InspectionItem, LaneState, StoredInspection};
pub use members::{MemberDayRow, MemberDays, log_detail, member_sum, table_detail};
pub use snapshot::{
    MeetingReport, ReportRow, Revisions, SinceCutoff, SnapshotTaken, StoredRows, revisions,
    total_revisions,
};

use std::path::{Path, PathBuf};

use crate::db::{Connection, OptionalExtension as _, TransactionBehavior, params};
use lianfang_proto::digest::{self, Digests};
use lianfang_proto::sync::{Accept, MAX_SEQ, accept, check_batch};
use lianfang_proto::table::{DailyCounts, IsolationFacts, PersonFacts, TableBuilder, TableConfig};
use lianfang_proto::{Kind, Lane, pb};
use prost::Message as _;
use sha2::{Digest as _, Sha256};

/// Most entries one pushed batch may hold.
pub const MAX_BATCH_ENTRIES: usize = 20_000;

/// Prepared statements a connection keeps (rusqlite's LRU cache).
const STATEMENT_CACHE: usize = 128;

/// File name of the hub database inside the data directory.
pub const DB_FILE: &str = "hub.db";

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS setting (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
-- Directives from the level above, passed on here (crate::upstream).
CREATE TABLE IF NOT EXISTS upstream_directive (
    upstream_id TEXT    PRIMARY KEY,
    local_id    INTEGER NOT NULL,  -- directive.id, 0 when nothing was sent
    seq         INTEGER NOT NULL,  -- its entry in this hub's down log above
    received_at TEXT    NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS compound (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS node (
    id         INTEGER PRIMARY KEY,
    compound   TEXT    NOT NULL REFERENCES compound (code),
    token_hash BLOB    NOT NULL UNIQUE,
    issued_at  TEXT    NOT NULL,
    revoked_at TEXT,
    log_id     TEXT,
    last_sync  TEXT
) STRICT;
-- The table's freshness of each compound looks up its nodes.
CREATE INDEX IF NOT EXISTS node_compound ON node (compound);
CREATE TABLE IF NOT EXISTS audit (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    compound TEXT,
    event    TEXT NOT NULL,
    detail   TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS agreement (
    compound   TEXT PRIMARY KEY,
    checked_at TEXT    NOT NULL,
    agree      INTEGER NOT NULL,
    -- Buckets that differed; -1 when only the roots were compared.
    differing  INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS lane_cursor (
    node   INTEGER NOT NULL REFERENCES node (id),
    lane   INTEGER NOT NULL,
    cursor INTEGER NOT NULL DEFAULT 0,
    head   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node, lane)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS directive (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    message    BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS downlog (
    compound     TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    directive    INTEGER NOT NULL REFERENCES directive (id),
    message      BLOB    NOT NULL,
    signature    BLOB    NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (compound, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS downlog_directive ON downlog (directive);
CREATE TABLE IF NOT EXISTS log_note (
    date       TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    written_at TEXT NOT NULL
) STRICT;
";

/// Errors of the hub store. `hub/src/grpc.rs` maps each to a gRPC status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    #[error("unknown or revoked token")]
    BadToken,
    #[error("token was issued for compound {token} but the hub has it for {stored}")]
    TokenCompound { token: String, stored: String },
    #[error(
        "this token is bound to another node database (log {bound}); a node whose data \
         directory was recreated must be enrolled again"
    )]
    LogMismatch { bound: String },
    #[error("record {id} belongs to compound {record}, not to {caller}; the batch was refused")]
    ForeignRecord {
        id: String,
        record: String,
        caller: String,
    },
    #[error("batch starts at {first} but the hub expects {expected}; resume from the hub's cursor")]
    Gap { first: u64, expected: u64 },
    #[error("malformed batch: {0}")]
    Malformed(String),
    /// Version skew: a record whose kind this hub's protocol does not have
    /// (prost leaves the `body` oneof empty for a field it does not know).
    #[error(
        "entry {seq} (record {id:?}) has no body of a record kind this hub (lianfang-hub {}) \
         knows: a node newer than the hub sends kinds it lacks; upgrade lianfang-hub to the \
         node's version (this lane waits until then; nothing of it was written)",
        env!("CARGO_PKG_VERSION")
    )]
    UnknownKind { seq: u64, id: String },
    #[error("unknown compound {0}")]
    UnknownCompound(String),
    #[error("no directive {0}")]
    UnknownDirective(i64),
    #[error("directive {id} is a {kind}, not a {expected}")]
    WrongDirectiveKind {
        id: i64,
        kind: String,
        expected: &'static str,
    },
    #[error("{0}")]
    InvalidDirective(String),
    #[error("the hub's stored signing key is corrupt")]
    CorruptKey,
    #[error("bundle refused: {0}")]
    Bundle(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("entry {seq} (record {id:?}) is invalid: {field}: {reason}; the batch was refused")]
    InvalidRecord {
        seq: u64,
        id: String,
        field: String,
        reason: String,
    },
    #[error("invalid compound code {0:?}: use 1-32 letters, digits, '-' or '_'")]
    InvalidCode(String),
    #[error(
        "no hub in {0}: run `lianfang-hub enroll` or `lianfang-hub serve` with that --data first"
    )]
    NotInitialised(PathBuf),
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A dashboard user that cannot be added, changed or removed so.
    #[error("{0}")]
    InvalidUser(String),
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `--store` disagrees with where the data directory's hub keeps its
    /// store.
    #[error("{0}")]
    StoreMismatch(String),
    #[error(transparent)]
    Db(#[from] crate::db::Error),
}

impl From<rusqlite::Error> for HubError {
    fn from(e: rusqlite::Error) -> HubError {
        HubError::Db(e.into())
    }
}

pub type Result<T, E = HubError> = std::result::Result<T, E>;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Row id of the enrolment (one per issued token).
    pub node: i64,
    pub compound: String,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: String,
    pub compound: Option<String>,
    /// enroll, revoke, foreign_record, invalid_record, unmasked_output, …
    pub event: String,
    pub detail: String,
    /// The dashboard user who did it (`None`: the CLI, or a node).
    pub user: Option<String>,
}

/// What importing a bundle did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleImport {
    pub compound: String,
    /// Per lane in the bundle, urgent first: what was applied.
    pub lanes: Vec<(Lane, Applied)>,
}

/// What a handshake tells the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// The hub's cursor on the node's bulk lane.
    pub bulk_cursor: u64,
    /// The hub's cursor on the node's urgent lane.
    pub urgent_cursor: u64,
    /// Highest entry of the compound's down log.
    pub down_head: u64,
}

/// What an exchange did (see [`HubStore::exchange`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchanged {
    pub urgent_cursor: u64,
    pub bulk_cursor: u64,
    /// Bulk entries that were new to the hub.
    pub applied: u64,
    pub digest: pb::DigestCheck,
    /// Down-log entries after the node's down cursor.
    pub down: Vec<pb::DownEntry>,
    pub down_head: u64,
}

/// Most down-log entries one exchange returns.
pub const MAX_DOWN_PER_EXCHANGE: u32 = 1_000;

/// Outcome of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The node's cursor after the batch.
    pub cursor: u64,
    /// Entries that were new to the hub (the rest were replays).
    pub applied: u64,
}

/// A record version as the hub holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub stamp: u64,
    pub origin: String,
    pub deleted: bool,
    /// The encoded body message of the record's kind.
    pub body: Vec<u8>,
}

/// One compound's row of the daily table, with its freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompoundRow {
    pub code: String,
    pub name: String,
    pub counts: DailyCounts,
    /// When a node of the compound last completed a call, RFC 3339.
    pub last_sync: Option<String>,
    /// Whether the compound's node has synced and the hub has every entry
    /// it last reported (false for a compound that never synced).
    pub caught_up: bool,
    /// Where `counts` come from.
    pub source: Source,
    /// Whether the node's digests of its records matched the hub's at the
    /// last check (`None` before any check).
    pub digests_agree: Option<bool>,
    /// In a detailed table, the member hub this row is a member of (its
    /// figures and freshness are as that hub sent them).
    pub member_of: Option<String>,
}

/// How [`HubStore::counts`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// From the per-compound aggregates (`crate::aggregates`).
    Aggregates,
    /// By scanning every live record.
    Scan,
}

/// Where a compound's row of the table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Computed from the merged records (the hub has the compound's log).
    Records,
    /// The compound's own figures for the date, sent ahead of a backlog
    /// that has not all arrived yet.
    Reported,
    /// The sum of what a hub of the level below sent of its members.
    Members,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Records => "records",
            Source::Reported => "reported",
            Source::Members => "members",
        }
    }

    /// The source named by [`Source::as_str`]; anything else is `Records`.
    pub fn from_name(name: &str) -> Source {
        match name {
            "reported" => Source::Reported,
            "members" => Source::Members,
            _ => Source::Records,
        }
    }
}

/// The daily table for one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub date: chrono::NaiveDate,
    pub compounds: Vec<CompoundRow>,
    pub total: DailyCounts,
}

/// The hub store over one database connection ([`crate::db::Db`]).
#[derive(Debug)]
pub struct HubStore {
    pub(crate) conn: Connection,
    /// The data directory (TLS files live beside the database).
    dir: PathBuf,
    /// When each compound's kept digests were last checked in this process.
    scrubs: digests::Scrubs,
}

use crate::kinds::record_table;
pub use day_log::{DayLog, LogRow};
pub use users::{LoginState, SessionOwner, StoredUser};

/// A TEXT column borrowed from a row.
pub(crate) fn text<'r>(row: impl crate::db::AsRow<'r>, i: usize) -> crate::db::Result<&'r str> {
    row.as_row().get_ref(i)?.as_str()
}

use crate::now_rfc3339;

/// The environment variable `--store` reads when it is not given.
pub const STORE_ENV: &str = "LIANFANG_HUB_STORE";

static STORE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Keeps this process's hub store in the PostgreSQL database `url`
/// (`--store`) instead of `DIR/hub.db`; `None` keeps SQLite. Set once,
/// before the first store is opened; a second call changes nothing.
pub fn use_store(url: Option<String>) {
    let _ = STORE.set(url.filter(|url| !url.is_empty()));
}

/// The PostgreSQL database of [`use_store`], else of [`STORE_ENV`];
/// `None`: SQLite in the data directory.
pub fn store_url() -> Option<&'static str> {
    STORE
        .get_or_init(|| std::env::var(STORE_ENV).ok().filter(|url| !url.is_empty()))
        .as_deref()
}

/// The file in a data directory that records the PostgreSQL database
/// holding that hub's store (written when the store is created there).
pub const STORE_FILE: &str = "store.url";

/// Where the store of the hub in `dir` is: `None` for `dir/hub.db`, else
/// the PostgreSQL database. `--store` ([`store_url`]) must agree with what
/// `dir` recorded when its store was made ([`STORE_FILE`]); without
/// `--store`, the recorded one is used, so a command cannot silently start
/// an empty SQLite hub beside a PostgreSQL one (or the other way).
///
/// # Errors
/// [`HubError::StoreMismatch`].
pub fn location(dir: &Path) -> Result<Option<String>> {
    let recorded = std::fs::read_to_string(dir.join(STORE_FILE))
        .ok()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty());
    match (store_url(), recorded) {
        (Some(given), Some(recorded)) if given != recorded => {
            Err(HubError::StoreMismatch(format!(
                "the hub in {} keeps its store in {} ({}), not in the --store given",
                dir.display(),
                crate::db::pg::redact(&recorded),
                dir.join(STORE_FILE).display()
            )))
        }
        (Some(_), _) if dir.join(DB_FILE).exists() => Err(HubError::StoreMismatch(format!(
            "the hub in {} keeps its store in {}, not in PostgreSQL; \
             use another --data for a hub on PostgreSQL",
            dir.display(),
            dir.join(DB_FILE).display()
        ))),
        (Some(given), _) => Ok(Some(given.to_owned())),
        (None, recorded) => Ok(recorded),
    }
}

/// Opens the hub store in `dir` for a unit test: on a fresh PostgreSQL
/// schema (made on the first open) when the tests run against one
/// ([`crate::db::testing::SERVER_ENV`]), else SQLite.
#[cfg(test)]
pub(crate) fn test_store(dir: &Path) -> HubStore {
    if !dir.join(STORE_FILE).exists()
        && let Some(url) = crate::db::testing::fresh()
    {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(STORE_FILE), url).unwrap();
    }
    HubStore::open_or_create(dir).unwrap()
}

/// Creates every table the hub keeps (idempotent), on either engine.
fn create_schema(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(SCHEMA_SQL)?;
    conn.execute_batch(snapshot::SNAPSHOT_SQL)?;
    conn.execute_batch(users::USERS_SQL)?;
    conn.execute_batch(compounds::INSPECTION_SQL)?;
    users::add_column(conn, "audit", "user", "TEXT")?;
    users::add_column(conn, "compound", "liaison", "TEXT")?;
    users::add_column(conn, "compound", "liaison_phone", "TEXT")?;
    crate::kinds::create_tables(conn)?;
    crate::aggregates::ensure(conn)?;
    digests::ensure(conn)?;
    Ok(())
}

impl HubStore {
    /// Opens (creating if needed) the hub's store: `dir/hub.db`, or the
    /// PostgreSQL database of `--store` ([`store_url`]).
    ///
    /// # Errors
    /// I/O or database errors.
    pub fn open_or_create(dir: &Path) -> Result<HubStore> {
        std::fs::create_dir_all(dir).map_err(|source| HubError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let mut conn = match location(dir)? {
            None => {
                let conn = rusqlite::Connection::open(dir.join(DB_FILE))?;
                conn.busy_timeout(std::time::Duration::from_secs(30))?;
                // A batch of every kind prepares two or three statements per
                // kind (`kinds::Upserts`), besides the digests' and the
                // aggregates': more than rusqlite's default 16, which
                // re-prepared them per batch.
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "FULL")?;
                conn.pragma_update(None, "foreign_keys", "ON")?;
                Connection::sqlite(conn)
            }
            Some(url) => {
                let conn = Connection::postgres(&url, false)?;
                let file = dir.join(STORE_FILE);
                if !file.exists() {
                    std::fs::write(&file, format!("{url}\n")).map_err(|source| {
                        HubError::WriteFile {
                            path: file.clone(),
                            source,
                        }
                    })?;
                }
                conn
            }
        };
        let postgres = conn.dialect() == crate::db::Dialect::Postgres;
        if postgres {
            // Two processes creating one schema at once would collide; the
            // lock is the one every write transaction takes.
            conn.execute_batch(&format!(
                "SELECT pg_advisory_lock({})",
                crate::db::WRITE_LOCK
            ))?;
        }
        let made = create_schema(&mut conn);
        if postgres {
            conn.execute_batch(&format!(
                "SELECT pg_advisory_unlock({})",
                crate::db::WRITE_LOCK
            ))?;
        }
        made?;
        let store = HubStore {
            conn,
            dir: dir.to_owned(),
            scrubs: digests::Scrubs::default(),
        };
        store.signing_key()?;
        Ok(store)
    }

    /// The hub's ed25519 signing key, created on first use and kept in the
    /// database (a lost hub database means re-enrolling every node).
    ///
    /// # Errors
    /// SQLite errors, or a corrupt stored key.
    pub fn signing_key(&self) -> Result<ed25519_dalek::SigningKey> {
        let stored: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM setting WHERE key = 'signing_key'",
                (),
                |row| row.get::<_, String>(0),
            )
            .optional()?
            .map(|hex| lianfang_proto::sign::hex_decode(&hex).unwrap_or_default());
        let secret: [u8; 32] = match stored {
            Some(bytes) => bytes.try_into().map_err(|_| HubError::CorruptKey)?,
            None => {
                let secret: [u8; 32] = rand::random();
                self.conn.execute(
                    "INSERT INTO setting (key, value) VALUES ('signing_key', ?1)
                     ON CONFLICT (key) DO NOTHING",
                    [lianfang_proto::sign::hex_encode(&secret)],
                )?;
                // Another process may have won the race: read back what stuck.
                return self.signing_key();
            }
        };
        Ok(lianfang_proto::sign::signing_key(&secret))
    }

    /// Opens an existing hub store read-only (for `table` while `serve`
    /// runs).
    ///
    /// # Errors
    /// [`HubError::NotInitialised`] when `dir` (or the `--store` database)
    /// holds no hub.
    pub fn open_read_only(dir: &Path) -> Result<HubStore> {
        let conn = match location(dir)? {
            None => {
                let path = dir.join(DB_FILE);
                if !path.exists() {
                    return Err(HubError::NotInitialised(dir.to_owned()));
                }
                let conn = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(std::time::Duration::from_secs(30))?;
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                Connection::sqlite(conn)
            }
            Some(url) => {
                let conn = Connection::postgres(&url, true)?;
                if !conn.table_exists("setting")? {
                    return Err(HubError::NotInitialised(dir.to_owned()));
                }
                conn
            }
        };
        Ok(HubStore {
            conn,
            dir: dir.to_owned(),
            scrubs: digests::Scrubs::default(),
        })
    }
}
