//! The node's SQLite store: the compound's own records and its change log.
//!
//! **Architecture Invariant:** every change to `record` appends exactly one
//! entry to `outbox` in the same transaction, numbered one above the last
//! of its lane (1, 2, 3, … with no gaps; see [`Kind::lane`]), so a crash
//! keeps both or neither, and the log replays to exactly the records this
//! node holds.
//!
//! The database is `DIR/node.db` in WAL mode with `synchronous = FULL`: a
//! write that returned is on disk.

mod daily;
mod day_log;
mod digests;
mod down;
mod log;
mod records;

use std::path::{Path, PathBuf};

use lianfang_proto::digest::{self, BucketKey, Digests};
use lianfang_proto::hlc::Hlc;
use lianfang_proto::record::encode_body;
use lianfang_proto::sign::{VerifyError, verify_entry};
use lianfang_proto::sync::{Accept, accept, check_batch};
use lianfang_proto::table::{DailyCounts, TableBuilder, TableConfig};
use lianfang_proto::{Kind, Lane, pb, validate};
use prost::Message as _;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

/// File name of the node database inside the data directory.
pub const DB_FILE: &str = "node.db";

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS record (
    kind    INTEGER NOT NULL,
    id      TEXT    NOT NULL,
    stamp   INTEGER NOT NULL,
    origin  TEXT    NOT NULL,
    deleted INTEGER NOT NULL,
    body    BLOB    NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    lane  INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (lane, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    event  TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS inbox (
    seq         INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    message     BLOB NOT NULL
) STRICT;
";

const GET_RECORD_SQL: &str =
    "SELECT stamp, origin, deleted, body FROM record WHERE kind = ?1 AND id = ?2";
const UPSERT_RECORD_SQL: &str = "
INSERT INTO record (kind, id, stamp, origin, deleted, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (kind, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin,
    deleted = excluded.deleted, body = excluded.body";
const APPEND_OUTBOX_SQL: &str = "INSERT INTO outbox (lane, seq, entry) VALUES (?1, ?2, ?3)";
const HEAD_SQL: &str = "SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE lane = ?1";
const OUTBOX_RANGE_SQL: &str =
    "SELECT seq, entry FROM outbox WHERE lane = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq";
const GET_META_SQL: &str = "SELECT value FROM meta WHERE key = ?1";
const SET_META_SQL: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Errors of the node store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("no node in {0}: run `lianfang-node init` first")]
    NotInitialised(PathBuf),
    #[error("a node is already set up in {0}; use another --data directory")]
    AlreadyInitialised(PathBuf),
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{kind} {id}: {field}: {reason}; nothing was written")]
    Invalid {
        kind: &'static str,
        id: String,
        field: String,
        reason: String,
    },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a batch of the hub's down log was refused.
#[derive(Debug, thiserror::Error)]
pub enum DownError {
    #[error("malformed down batch: {0}")]
    Malformed(lianfang_proto::sync::BatchError),
    #[error("down batch starts at {first} but this node expects {expected}")]
    Gap { first: u64, expected: u64 },
    #[error("refused a message from the hub: {0}")]
    Verify(VerifyError),
    #[error("down entry {seq} does not decode: {reason}")]
    Undecodable { seq: u64, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for DownError {
    fn from(e: rusqlite::Error) -> Self {
        DownError::Store(StoreError::Sqlite(e))
    }
}

/// The lanes in the order an exchange carries them.
pub const LANE_ORDER: [Lane; 2] = [Lane::Urgent, Lane::Bulk];

/// What one exchange carries up (see [`Store::outgoing`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub urgent: pb::EncodedLaneEntries,
    pub bulk: pb::EncodedLaneEntries,
    pub down_cursor: u64,
    /// Digest root of every record, when the entries reach both heads.
    pub digest_root: Option<[u8; 32]>,
}

/// Who this node is and where it syncs; fixed at `init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The compound code this node writes for.
    pub compound: String,
    /// Unique writer id of this database, used as the origin of its versions.
    pub node_id: String,
    /// Random id of this database's change log; binds the hub's cursor to it.
    pub log_id: String,
    /// Hub address, e.g. `http://127.0.0.1:7700`.
    pub hub: String,
    /// Enrolment token as issued by `lianfang-hub enroll`.
    pub token: String,
    /// The hub's ed25519 public key (from the token), hex.
    pub hub_key: String,
    /// The hub's CA certificate (from the token), hex of DER; pinned for TLS.
    pub hub_ca: String,
}

/// One change to apply: set a record's body, or delete it (`None`).
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: Kind,
    pub id: String,
    pub body: Option<pb::record::Body>,
}

/// What a write did to the records of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records that did not exist (or were deleted) before.
    pub added: usize,
    /// Records whose body changed.
    pub updated: usize,
    /// Records deleted.
    pub deleted: usize,
    /// Changes that matched what was stored, so nothing was written.
    pub unchanged: usize,
}

/// What a write did, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Counts per kind, indexed by the kind's place in [`Kind::ALL`].
    kinds: [Counts; Kind::ALL.len()],
}

impl WriteSummary {
    fn of_kind(&mut self, kind: Kind) -> &mut Counts {
        &mut self.kinds[slot(kind)]
    }

    /// What the write did to the records of `kind`.
    pub fn kind(&self, kind: Kind) -> Counts {
        self.kinds[slot(kind)]
    }

    /// Receipts, task answers, problem fixes and daily reports together:
    /// the kinds without a ledger.
    pub fn responses(&self) -> Counts {
        let mut sum = Counts::default();
        for kind in Kind::ALL.into_iter().filter(|k| k.ledger().is_none()) {
            let c = self.kind(kind);
            sum.added += c.added;
            sum.updated += c.updated;
            sum.deleted += c.deleted;
            sum.unchanged += c.unchanged;
        }
        sum
    }

    /// Versions written (everything but the unchanged).
    pub fn written(&self) -> usize {
        self.kinds
            .iter()
            .map(|c| c.added + c.updated + c.deleted)
            .sum()
    }
}

/// A kind's place in [`Kind::ALL`].
fn slot(kind: Kind) -> usize {
    Kind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in Kind::ALL")
}

impl std::fmt::Display for WriteSummary {
    /// One line per ledger, always; then `responses` when there were any.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let responses = self.responses();
        let responses = (responses != Counts::default()).then_some(("responses", responses));
        for (name, c) in Kind::with_ledger()
            .map(|(kind, ledger)| (ledger.name, self.kind(kind)))
            .chain(responses)
        {
            writeln!(
                f,
                "{name:<17} {:>7} added {:>7} updated {:>7} deleted {:>7} unchanged",
                c.added, c.updated, c.deleted, c.unchanged
            )?;
        }
        Ok(())
    }
}

/// The node's store. One per data directory; cheap to open.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    dir: PathBuf,
}

impl Store {
    /// Creates the database for a new node.
    ///
    /// # Errors
    /// [`StoreError::AlreadyInitialised`] when `dir` already holds a node.
    pub fn create(dir: &Path, identity: &Identity) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        if dir.join(DB_FILE).exists() {
            return Err(StoreError::AlreadyInitialised(dir.to_owned()));
        }
        let mut store = Store::connect(dir)?;
        let tx = store.conn.transaction()?;
        for (key, value) in [
            ("compound", identity.compound.as_str()),
            ("node_id", &identity.node_id),
            ("log_id", &identity.log_id),
            ("hub", &identity.hub),
            ("token", &identity.token),
            ("hub_key", &identity.hub_key),
            ("hub_ca", &identity.hub_ca),
            ("hlc", "0"),
            ("acked", "0"),
            ("acked_urgent", "0"),
            ("down_cursor", "0"),
        ] {
            tx.execute(SET_META_SQL, params![key, value])?;
        }
        tx.commit()?;
        Ok(store)
    }

    /// Opens the store of an initialised node.
    ///
    /// # Errors
    /// [`StoreError::NotInitialised`] when `dir` holds no node.
    pub fn open(dir: &Path) -> Result<Store> {
        if !dir.join(DB_FILE).exists() {
            return Err(StoreError::NotInitialised(dir.to_owned()));
        }
        Store::connect(dir)
    }

    pub(super) fn connect(dir: &Path) -> Result<Store> {
        let mut conn = Connection::open(dir.join(DB_FILE))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA_SQL)?;
        digests::ensure(&mut conn)?;
        Ok(Store {
            conn,
            dir: dir.to_owned(),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn meta(&self, key: &'static str) -> Result<String> {
        self.conn
            .query_row(GET_META_SQL, [key], |row| row.get(0))
            .optional()?
            .ok_or(StoreError::Corrupt {
                what: "meta",
                detail: format!("missing key {key}"),
            })
    }

    pub(super) fn meta_u64(&self, key: &'static str) -> Result<u64> {
        parse_meta_u64(key, &self.meta(key)?)
    }

    /// Who this node is.
    ///
    /// # Errors
    /// SQLite errors, or a corrupt meta table.
    pub fn identity(&self) -> Result<Identity> {
        Ok(Identity {
            compound: self.meta("compound")?,
            node_id: self.meta("node_id")?,
            log_id: self.meta("log_id")?,
            hub: self.meta("hub")?,
            token: self.meta("token")?,
            hub_key: self.meta("hub_key")?,
            hub_ca: self.meta("hub_ca")?,
        })
    }

    /// Points the store at another address of the same hub (it moved); the
    /// token, and so the log the hub bound to it, stay. The caller checks
    /// the address (`crate::check_hub_address`).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_hub_address(&self, hub: &str) -> Result<()> {
        self.conn.execute(SET_META_SQL, params!["hub", hub])?;
        Ok(())
    }

    /// The table configuration this node uses for its own view: the hub's
    /// when it has sent one, else the defaults.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table_config(&self) -> Result<TableConfig> {
        let stored: Option<String> = self
            .conn
            .query_row(GET_META_SQL, ["table_config"], |row| row.get(0))
            .optional()?;
        Ok(stored
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default())
    }

    /// A meta value that may be absent (status fields).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn optional_meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(GET_META_SQL, [key], |row| row.get(0))
            .optional()?)
    }

    /// Appends an entry to the node's audit log (e.g. unmasked output).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit(&self, event: &str, detail: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit (at, event, detail) VALUES (?1, ?2, ?3)",
            params![
                crate::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                event,
                detail
            ],
        )?;
        Ok(())
    }

    /// The node's audit log, oldest first: (at, event, detail).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_log(&self) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, event, detail FROM audit ORDER BY id")?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

/// A numeric meta value; anything else means the database is damaged.
pub(super) fn parse_meta_u64(key: &str, value: &str) -> Result<u64> {
    value.parse().map_err(|_| StoreError::Corrupt {
        what: "meta",
        detail: format!("{key} = {value:?} is not a number"),
    })
}

pub(super) fn decode_body(kind: Kind, bytes: &[u8]) -> Result<pb::record::Body> {
    kind.decode_body(bytes).map_err(|e| StoreError::Corrupt {
        what: "record body",
        detail: e.to_string(),
    })
}
