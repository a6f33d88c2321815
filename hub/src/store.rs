//! The hub's SQLite store: enrolled nodes with their cursors, and the merged
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

use std::path::{Path, PathBuf};

use lianfang_proto::digest::{self, Digests};
use lianfang_proto::sync::{Accept, MAX_SEQ, accept, check_batch};
use lianfang_proto::table::{DailyCounts, IsolationFacts, PersonFacts, TableBuilder, TableConfig};
use lianfang_proto::{Kind, Lane, pb};
use prost::Message as _;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};
use sha2::{Digest as _, Sha256};

/// Most entries one pushed batch may hold.
pub const MAX_BATCH_ENTRIES: usize = 20_000;

/// File name of the hub database inside the data directory.
pub const DB_FILE: &str = "hub.db";

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS setting (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
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
CREATE TABLE IF NOT EXISTS household (
    compound TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    stamp    INTEGER NOT NULL,
    origin   TEXT    NOT NULL,
    deleted  INTEGER NOT NULL,
    housing  INTEGER NOT NULL,
    body     BLOB    NOT NULL,
    PRIMARY KEY (compound, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS person (
    compound    TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    stamp       INTEGER NOT NULL,
    origin      TEXT    NOT NULL,
    deleted     INTEGER NOT NULL,
    nationality TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    return_date TEXT    NOT NULL,
    registered  INTEGER NOT NULL,
    body        BLOB    NOT NULL,
    PRIMARY KEY (compound, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS response (
    compound TEXT    NOT NULL,
    kind     INTEGER NOT NULL,
    id       TEXT    NOT NULL,
    stamp    INTEGER NOT NULL,
    origin   TEXT    NOT NULL,
    deleted  INTEGER NOT NULL,
    body     BLOB    NOT NULL,
    PRIMARY KEY (compound, kind, id)
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
CREATE TABLE IF NOT EXISTS isolation (
    compound TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    stamp    INTEGER NOT NULL,
    origin   TEXT    NOT NULL,
    deleted  INTEGER NOT NULL,
    kind     INTEGER NOT NULL,
    start    TEXT    NOT NULL,
    release  TEXT    NOT NULL,
    body     BLOB    NOT NULL,
    PRIMARY KEY (compound, id)
) STRICT, WITHOUT ROWID;
";

// The `WHERE (excluded.stamp, excluded.origin) >= (stamp, origin)` clause is
// `merge::wins`: an older version never replaces a newer one; the same
// version rewrites the row (no change, or a repair of a damaged copy).
const UPSERT_HOUSEHOLD_SQL: &str = "
INSERT INTO household (compound, id, stamp, origin, deleted, housing, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (compound, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted,
    housing = excluded.housing, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (household.stamp, household.origin)";
const UPSERT_PERSON_SQL: &str = "
INSERT INTO person (compound, id, stamp, origin, deleted, nationality, region, return_date, registered, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (compound, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted,
    nationality = excluded.nationality, region = excluded.region,
    return_date = excluded.return_date, registered = excluded.registered, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (person.stamp, person.origin)";
const UPSERT_ISOLATION_SQL: &str = "
INSERT INTO isolation (compound, id, stamp, origin, deleted, kind, start, release, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (compound, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted,
    kind = excluded.kind, start = excluded.start, release = excluded.release, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (isolation.stamp, isolation.origin)";
const UPSERT_RESPONSE_SQL: &str = "
INSERT INTO response (compound, kind, id, stamp, origin, deleted, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (compound, kind, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (response.stamp, response.origin)";

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
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
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
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Records => "records",
            Source::Reported => "reported",
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

/// The hub store over one SQLite connection.
#[derive(Debug)]
pub struct HubStore {
    pub(crate) conn: Connection,
    /// The data directory (TLS files live beside the database).
    dir: PathBuf,
}

/// Applies a checked batch (see `HubStore::check_entries`) inside `tx`:
/// the log binding, the accept decision, the upserts and the cursor.
fn apply_checked(
    tx: &Connection,
    caller: &Caller,
    log_id: &str,
    lane: Lane,
    head: u64,
    (first, len): (u64, usize),
    entries: &[pb::LogEntry],
) -> Result<Applied> {
    let bound = bound_log(tx, caller.node)?;
    if bound.as_deref() != Some(log_id) {
        return Err(HubError::LogMismatch {
            bound: bound.unwrap_or_else(|| "none: handshake first".into()),
        });
    }
    let cursor = lane_cursor(tx, caller.node, lane)?;
    let skip = match accept(cursor, first, len) {
        Accept::Gap { expected } => return Err(HubError::Gap { first, expected }),
        Accept::Replay => {
            return Ok(Applied { cursor, applied: 0 });
        }
        Accept::Apply { skip } => skip,
    };
    {
        let mut households = tx.prepare_cached(UPSERT_HOUSEHOLD_SQL)?;
        let mut persons = tx.prepare_cached(UPSERT_PERSON_SQL)?;
        let mut isolations = tx.prepare_cached(UPSERT_ISOLATION_SQL)?;
        let mut responses = tx.prepare_cached(UPSERT_RESPONSE_SQL)?;
        for entry in &entries[skip..] {
            let record = entry.record.as_ref().expect("checked above");
            let stamp = record.stamp as i64;
            match record.body.as_ref().expect("checked above") {
                pb::record::Body::Household(h) => households.execute(params![
                    record.compound,
                    record.id,
                    stamp,
                    record.origin,
                    record.deleted,
                    h.housing,
                    h.encode_to_vec()
                ])?,
                pb::record::Body::Person(p) => persons.execute(params![
                    record.compound,
                    record.id,
                    stamp,
                    record.origin,
                    record.deleted,
                    p.nationality,
                    p.origin,
                    p.return_date,
                    p.registered,
                    p.encode_to_vec()
                ])?,
                pb::record::Body::Isolation(i) => isolations.execute(params![
                    record.compound,
                    record.id,
                    stamp,
                    record.origin,
                    record.deleted,
                    i.kind,
                    i.start,
                    i.release,
                    i.encode_to_vec()
                ])?,
                body @ (pb::record::Body::Receipt(_)
                | pb::record::Body::TaskAnswer(_)
                | pb::record::Body::ProblemFix(_)
                | pb::record::Body::DailyReport(_)) => responses.execute(params![
                    record.compound,
                    Kind::of(body) as i64,
                    record.id,
                    stamp,
                    record.origin,
                    record.deleted,
                    lianfang_proto::record::encode_body(body)
                ])?,
            };
        }
    }
    let new_cursor = first + len as u64 - 1;
    tx.execute(
        "INSERT INTO lane_cursor (node, lane, cursor, head) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (node, lane) DO UPDATE SET
             cursor = excluded.cursor, head = MAX(lane_cursor.head, excluded.head)",
        params![caller.node, lane as i64, new_cursor as i64, head as i64],
    )?;
    tx.execute(
        "UPDATE node SET last_sync = ?2 WHERE id = ?1",
        params![caller.node, now_rfc3339()],
    )?;
    Ok(Applied {
        cursor: new_cursor,
        applied: (len - skip) as u64,
    })
}

/// Starts a session inside `tx`: binds the enrolment to `log_id` on first
/// contact (refusing another log), notes the call, and records the node's
/// lane heads (for the table's "caught up").
fn open_session(
    tx: &Connection,
    caller: &Caller,
    log_id: &str,
    heads: &[(Lane, u64)],
) -> Result<()> {
    // Refused before anything is kept: the caller drops `tx` on an error.
    bind_log(tx, caller, log_id)?;
    if let Some((lane, head)) = heads.iter().find(|(_, head)| *head > MAX_SEQ) {
        return Err(HubError::Malformed(format!(
            "{} head {head} is beyond the largest a log may reach ({MAX_SEQ})",
            lane.as_str_name()
        )));
    }
    for &(lane, head) in heads {
        tx.execute(
            "INSERT INTO lane_cursor (node, lane, head) VALUES (?1, ?2, ?3)
             ON CONFLICT (node, lane) DO UPDATE SET head = excluded.head",
            params![caller.node, lane as i64, head as i64],
        )?;
    }
    Ok(())
}

/// Binds the enrolment to `log_id` inside `tx` if it is not bound yet
/// (a first sync, or a first bundle), refusing any other log, and notes the
/// contact. The one place an enrolment gets its log.
fn bind_log(tx: &Connection, caller: &Caller, log_id: &str) -> Result<()> {
    match bound_log(tx, caller.node)? {
        Some(bound) if bound != log_id => return Err(HubError::LogMismatch { bound }),
        _ => {}
    }
    tx.execute(
        "UPDATE node SET log_id = ?2, last_sync = ?3 WHERE id = ?1",
        params![caller.node, log_id, now_rfc3339()],
    )?;
    Ok(())
}

/// The log id an enrolment is bound to (`None` before its first handshake).
fn bound_log(conn: &Connection, node: i64) -> Result<Option<String>> {
    Ok(
        conn.query_row("SELECT log_id FROM node WHERE id = ?1", [node], |row| {
            row.get(0)
        })?,
    )
}

/// The hub's cursor on one lane of a node's log (0 before any push).
fn lane_cursor(conn: &Connection, node: i64, lane: Lane) -> Result<u64> {
    Ok(conn
        .query_row(
            "SELECT cursor FROM lane_cursor WHERE node = ?1 AND lane = ?2",
            params![node, lane as i64],
            |row| row.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0) as u64)
}

/// The table (or filtered view) holding records of a kind.
fn record_table(kind: Kind) -> String {
    match kind {
        Kind::Household => "household".into(),
        Kind::Person => "person".into(),
        Kind::Isolation => "isolation".into(),
        Kind::Receipt | Kind::TaskAnswer | Kind::ProblemFix | Kind::DailyReport => {
            format!("(SELECT * FROM response WHERE kind = {})", kind as i64)
        }
    }
}

/// A TEXT column borrowed from a row.
pub(crate) fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn token_hash(secret: &[u8]) -> Vec<u8> {
    Sha256::digest(secret).to_vec()
}

use crate::now_rfc3339;

impl HubStore {
    /// Opens (creating if needed) the hub database in `dir`.
    ///
    /// # Errors
    /// I/O or SQLite errors.
    pub fn open_or_create(dir: &Path) -> Result<HubStore> {
        std::fs::create_dir_all(dir).map_err(|source| HubError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let mut conn = Connection::open(dir.join(DB_FILE))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA_SQL)?;
        crate::aggregates::ensure(&mut conn)?;
        let store = HubStore {
            conn,
            dir: dir.to_owned(),
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
                [],
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

    /// Opens an existing hub database read-only (for `table` while `serve` runs).
    ///
    /// # Errors
    /// [`HubError::NotInitialised`] when `dir` holds no hub.
    pub fn open_read_only(dir: &Path) -> Result<HubStore> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(HubError::NotInitialised(dir.to_owned()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        Ok(HubStore {
            conn,
            dir: dir.to_owned(),
        })
    }

    /// Enrols a compound (creating or renaming it) and issues a new token;
    /// earlier tokens of the compound are revoked. Returns the token.
    ///
    /// # Errors
    /// [`HubError::InvalidCode`] for a bad code; SQLite errors.
    pub fn enroll(&mut self, code: &str, name: Option<&str>) -> Result<String> {
        let code = code.trim();
        let valid = !code.is_empty()
            && code.len() <= 32
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(HubError::InvalidCode(code.to_owned()));
        }
        let secret: [u8; 32] = rand::random();
        let now = now_rfc3339();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        match name {
            Some(name) => tx.execute(
                "INSERT INTO compound (code, name) VALUES (?1, ?2)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name",
                params![code, name.trim()],
            )?,
            None => tx.execute(
                "INSERT INTO compound (code, name) VALUES (?1, ?1) ON CONFLICT (code) DO NOTHING",
                params![code],
            )?,
        };
        tx.execute(
            "UPDATE node SET revoked_at = ?2 WHERE compound = ?1 AND revoked_at IS NULL",
            params![code, now],
        )?;
        tx.execute(
            "INSERT INTO node (compound, token_hash, issued_at) VALUES (?1, ?2, ?3)",
            params![code, token_hash(&secret), now],
        )?;
        crate::directives::send_current_config(&tx, code, &now)?;
        tx.execute(
            "INSERT INTO audit (at, compound, event, detail) VALUES (?1, ?2, 'enroll', 'new token issued; earlier tokens revoked')",
            params![now, code],
        )?;
        tx.commit()?;
        Ok(lianfang_proto::token::encode(&pb::EnrollmentToken {
            compound: code.to_owned(),
            secret: secret.to_vec(),
            hub_key: lianfang_proto::sign::public_key(&self.signing_key()?).to_vec(),
            hub_ca: crate::tls::ensure(&self.dir)
                .map_err(|e| HubError::Tls(e.to_string()))?
                .ca_der,
        }))
    }

    /// Revokes every token of a compound at once; its node is refused from
    /// its next call. Returns how many tokens were revoked.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn revoke(&mut self, code: &str) -> Result<usize> {
        let code = code.trim();
        let known: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM compound WHERE code = ?1)",
            [code],
            |row| row.get(0),
        )?;
        if !known {
            return Err(HubError::UnknownCompound(code.to_owned()));
        }
        let n = self.conn.execute(
            "UPDATE node SET revoked_at = ?2 WHERE compound = ?1 AND revoked_at IS NULL",
            params![code, now_rfc3339()],
        )?;
        self.audit(Some(code), "revoke", &format!("{n} token(s) revoked"))?;
        Ok(n)
    }

    /// Appends an entry to the audit log.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit(&self, compound: Option<&str>, event: &str, detail: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit (at, compound, event, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now_rfc3339(), compound, event, detail],
        )?;
        Ok(())
    }

    /// The audit log, oldest first: (at, compound, event, detail).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, compound, event, detail FROM audit ORDER BY id")?;
        let entries = stmt
            .query_map([], |row| {
                Ok(AuditEntry {
                    at: row.get(0)?,
                    compound: row.get(1)?,
                    event: row.get(2)?,
                    detail: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(entries)
    }

    /// Finds the enrolment a token belongs to.
    ///
    /// # Errors
    /// [`HubError::BadToken`] for an unknown, revoked or malformed token.
    pub fn authenticate(&self, token: &str) -> Result<Caller> {
        let token =
            lianfang_proto::token::decode_credential(token).map_err(|_| HubError::BadToken)?;
        let (node, compound): (i64, String) = self
            .conn
            .query_row(
                "SELECT id, compound FROM node WHERE token_hash = ?1 AND revoked_at IS NULL",
                [token_hash(&token.secret)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
            .ok_or(HubError::BadToken)?;
        if compound != token.compound {
            return Err(HubError::TokenCompound {
                token: token.compound,
                stored: compound,
            });
        }
        Ok(Caller { node, compound })
    }

    /// Opens a sync session: binds the enrolment to `log_id` on first contact
    /// and returns the cursor on that log.
    ///
    /// # Errors
    /// [`HubError::LogMismatch`] when the enrolment is bound to another log.
    pub fn handshake(
        &mut self,
        caller: &Caller,
        log_id: &str,
        heads: [(Lane, u64); 2],
        down_cursor: u64,
    ) -> Result<Handshake> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        open_session(&tx, caller, log_id, &heads)?;
        let mut cursors = [0u64; 2];
        for lane in lianfang_proto::LANES {
            cursors[lane as usize] = lane_cursor(&tx, caller.node, lane)?;
        }
        crate::directives::mark_delivered(&tx, &caller.compound, down_cursor)?;
        let down_head = crate::directives::down_head(&tx, &caller.compound)?;
        tx.commit()?;
        Ok(Handshake {
            bulk_cursor: cursors[Lane::Bulk as usize],
            urgent_cursor: cursors[Lane::Urgent as usize],
            down_head,
        })
    }

    /// Checks a batch before anything is written: size, numbering, and every
    /// record (its compound is the caller's, `check_record`, its lane).
    /// Refusals of records are audited here, outside any transaction, so the
    /// audit entry survives the refusal. Returns the batch's first number
    /// and length.
    fn check_entries(
        &self,
        caller: &Caller,
        lane: Lane,
        entries: &[pb::LogEntry],
    ) -> Result<(u64, usize)> {
        if entries.len() > MAX_BATCH_ENTRIES {
            return Err(HubError::Malformed(format!(
                "a batch of {} entries exceeds the limit of {MAX_BATCH_ENTRIES}",
                entries.len()
            )));
        }
        let (first, len) = check_batch(entries.iter().map(|e| e.seq))
            .map_err(|e| HubError::Malformed(e.to_string()))?;
        let today = crate::today();
        for entry in entries {
            let record = entry
                .record
                .as_ref()
                .ok_or_else(|| HubError::Malformed(format!("entry {} has no record", entry.seq)))?;
            if record.compound != caller.compound {
                let error = HubError::ForeignRecord {
                    id: record.id.clone(),
                    record: record.compound.clone(),
                    caller: caller.compound.clone(),
                };
                self.audit(Some(&caller.compound), "foreign_record", &error.to_string())?;
                return Err(error);
            }
            let Some(body) = &record.body else {
                // Every kind this protocol has carries a body, even a
                // tombstone (an empty one of its kind), so a missing body is
                // a kind from a newer protocol.
                return Err(HubError::UnknownKind {
                    seq: entry.seq,
                    id: record.id.chars().take(64).collect(),
                });
            };
            if record.id.is_empty() {
                return Err(HubError::Malformed(format!(
                    "entry {} has no record id",
                    entry.seq
                )));
            }
            if let Err(e) = lianfang_proto::validate::check_record(record, today) {
                let error = HubError::InvalidRecord {
                    seq: entry.seq,
                    id: record.id.chars().take(64).collect(),
                    field: e.field,
                    reason: e.reason,
                };
                self.audit(Some(&caller.compound), "invalid_record", &error.to_string())?;
                return Err(error);
            }
            if Kind::of(body).lane() != lane {
                return Err(HubError::Malformed(format!(
                    "entry {} is a {} in the {} lane",
                    entry.seq,
                    Kind::of(body).name(),
                    lane.as_str_name()
                )));
            }
        }
        Ok((first, len))
    }

    /// Applies a batch of the caller's log atomically with its cursor.
    ///
    /// A batch wholly at or below the cursor is a replay: acknowledged,
    /// nothing written. One that overlaps the cursor has its applied prefix
    /// skipped. One that starts past `cursor + 1` is refused ([`HubError::Gap`]).
    /// A record of another compound, or one that breaks `check_record`,
    /// refuses the whole batch.
    ///
    /// # Errors
    /// [`HubError`] as above; nothing is written on error.
    pub fn apply_batch(
        &mut self,
        caller: &Caller,
        log_id: &str,
        lane: Lane,
        head: u64,
        entries: &[pb::LogEntry],
    ) -> Result<Applied> {
        let (first, len) = self.check_entries(caller, lane, entries)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied = apply_checked(&tx, caller, log_id, lane, head, (first, len), entries)?;
        tx.commit()?;
        Ok(applied)
    }

    /// One round trip of a node's session (the `Exchange` call): opens the
    /// session as [`HubStore::handshake`] does, applies each lane's entries
    /// as [`HubStore::apply_batch`] does (urgent first, one transaction for
    /// all of it, a batch past the cursor left unapplied rather than
    /// refused), acknowledges and returns the down log after the node's
    /// cursor, and, when the node sent a digest root and the hub now holds
    /// both lanes to their heads, compares it with the hub's own.
    ///
    /// # Errors
    /// As [`HubStore::apply_batch`], except [`HubError::Gap`]; nothing is
    /// written on error, except that a refused bulk batch still lets the
    /// urgent entries beside it be applied first.
    pub fn exchange(
        &mut self,
        caller: &Caller,
        request: &pb::ExchangeRequest,
    ) -> Result<Exchanged> {
        let none = pb::LaneEntries::default();
        let lanes = [
            (Lane::Urgent, request.urgent.as_ref().unwrap_or(&none)),
            (Lane::Bulk, request.bulk.as_ref().unwrap_or(&none)),
        ];
        // A refused bulk batch does not hold back the urgent lane: the
        // urgent entries are applied and then the refusal is returned.
        let mut checked = [None, None];
        let mut refused = None;
        for (i, (lane, entries)) in lanes.iter().enumerate() {
            if entries.entries.is_empty() {
                continue;
            }
            match self.check_entries(caller, *lane, &entries.entries) {
                Ok(range) => checked[i] = Some(range),
                Err(e) if *lane == Lane::Bulk && checked[0].is_some() => refused = Some(e),
                Err(e) => return Err(e),
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A refused lane's head is not recorded: nothing of it was taken.
        let heads: Vec<(Lane, u64)> = lanes
            .iter()
            .filter(|(lane, _)| !(*lane == Lane::Bulk && refused.is_some()))
            .map(|(lane, entries)| (*lane, entries.head))
            .collect();
        open_session(&tx, caller, &request.log_id, &heads)?;
        let mut out = Exchanged::default();
        let mut caught_up = true;
        for ((lane, entries), checked) in lanes.iter().zip(checked) {
            if let Some(range) = checked {
                match apply_checked(
                    &tx,
                    caller,
                    &request.log_id,
                    *lane,
                    entries.head,
                    range,
                    &entries.entries,
                ) {
                    Ok(applied) if *lane == Lane::Bulk => out.applied = applied.applied,
                    Ok(_) | Err(HubError::Gap { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let cursor = lane_cursor(&tx, caller.node, *lane)?;
            caught_up &= cursor == entries.head;
            match lane {
                Lane::Urgent => out.urgent_cursor = cursor,
                Lane::Bulk => out.bulk_cursor = cursor,
            }
        }
        crate::directives::mark_delivered(&tx, &caller.compound, request.down_cursor)?;
        out.down_head = crate::directives::down_head(&tx, &caller.compound)?;
        if request.down_max > 0 {
            out.down = crate::directives::down_entries(
                &tx,
                &caller.compound,
                request.down_cursor,
                request.down_max.min(MAX_DOWN_PER_EXCHANGE),
            )?;
        }
        tx.commit()?;
        if let Some(e) = refused {
            return Err(e);
        }
        if caught_up && !request.digest_root.is_empty() {
            let agree =
                digest::root(&self.digests(&caller.compound)?)[..] == request.digest_root[..];
            // How many buckets differ is learnt from the Verify that follows.
            self.record_agreement(&caller.compound, agree, if agree { 0 } else { -1 })?;
            out.digest = if agree {
                pb::DigestCheck::Agree
            } else {
                pb::DigestCheck::Differ
            };
        }
        Ok(out)
    }

    /// Digests of every record version the hub holds for `compound`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn digests(&self, compound: &str) -> Result<Digests> {
        let mut digests = Digests::new();
        for (kind, sql) in [
            (
                Some(Kind::Household),
                "SELECT id, stamp, origin, deleted, body FROM household WHERE compound = ?1",
            ),
            (
                Some(Kind::Person),
                "SELECT id, stamp, origin, deleted, body FROM person WHERE compound = ?1",
            ),
            (
                Some(Kind::Isolation),
                "SELECT id, stamp, origin, deleted, body FROM isolation WHERE compound = ?1",
            ),
            (
                None,
                "SELECT id, stamp, origin, deleted, body, kind FROM response WHERE compound = ?1",
            ),
        ] {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let mut rows = stmt.query([compound])?;
            while let Some(row) = rows.next()? {
                let Some(kind) = kind.or_else(|| Kind::from_i64(row.get(5).ok()?)) else {
                    continue;
                };
                digest::add(
                    &mut digests,
                    kind,
                    text(row, 0)?,
                    row.get::<_, i64>(1)? as u64,
                    text(row, 2)?,
                    row.get::<_, i64>(3)? != 0,
                    row.get_ref(4)?.as_blob().unwrap_or_default(),
                );
            }
        }
        Ok(digests)
    }

    /// Compares the caller's digests with the hub's, records whether they
    /// agree, and returns the hub's view of every bucket that differs.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn verify(
        &mut self,
        caller: &Caller,
        buckets: &[pb::BucketDigest],
    ) -> Result<Vec<pb::BucketDigest>> {
        let node = digest::from_wire(buckets);
        let hub = self.digests(&caller.compound)?;
        let keys = digest::differing(&node, &hub);
        self.record_agreement(&caller.compound, keys.is_empty(), keys.len() as i64)?;
        Ok(keys
            .into_iter()
            .map(|key| {
                let d = hub.get(&key).copied().unwrap_or_default();
                pb::BucketDigest {
                    kind: key.kind,
                    day: key.day,
                    shard: key.shard,
                    count: d.count,
                    xor: d.xor.to_vec(),
                }
            })
            .collect())
    }

    /// Records the outcome of a digest comparison for the table.
    fn record_agreement(&self, compound: &str, agree: bool, differing: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO agreement (compound, checked_at, agree, differing) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (compound) DO UPDATE SET
                 checked_at = excluded.checked_at, agree = excluded.agree, differing = excluded.differing",
            params![compound, now_rfc3339(), agree, differing],
        )?;
        Ok(())
    }

    /// Applies a bundle file carried from a node: finds the enrolment whose
    /// token sealed it, refuses it where a sync would be refused (revoked
    /// token, another log bound), binds a fresh enrolment to the bundle's log
    /// as a first sync does, then applies each lane as a push (replays
    /// ignored, gaps refused), all in one transaction.
    ///
    /// # Errors
    /// [`HubError::Bundle`] for a bad file or seal; the push errors.
    pub fn import_bundle(&mut self, bytes: &[u8]) -> Result<BundleImport> {
        let (bundle, file) =
            lianfang_proto::bundle::open(bytes).map_err(|e| HubError::Bundle(e.to_string()))?;
        // Every token ever issued to the compound: the seal tells which one
        // made the bundle, and that enrolment is then held to the rules of a
        // sync (not revoked; bound to this log, or to none yet).
        let rows: Vec<(i64, Vec<u8>, bool, Option<String>)> = {
            let mut stmt = self.conn.prepare(
                "SELECT id, token_hash, revoked_at IS NOT NULL, log_id FROM node
                 WHERE compound = ?1 ORDER BY id DESC",
            )?;
            stmt.query_map(params![bundle.compound], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let (node, revoked, bound) = rows
            .into_iter()
            .find(|(_, hash, _, _)| {
                hash.as_slice()
                    .try_into()
                    .is_ok_and(|key| lianfang_proto::bundle::check_seal(&file, key).is_ok())
            })
            .map(|(id, _, revoked, bound)| (id, revoked, bound))
            .ok_or_else(|| {
                HubError::Bundle(format!(
                    "no enrolment of compound {} has a token that seals this bundle \
                     (altered, or from another hub)",
                    bundle.compound
                ))
            })?;
        if revoked {
            return Err(HubError::Bundle(format!(
                "the token that sealed this bundle of compound {} (log {}) has been revoked; \
                 the compound must be enrolled again",
                bundle.compound, bundle.log_id
            )));
        }
        if let Some(bound) = bound.filter(|bound| *bound != bundle.log_id) {
            return Err(HubError::Bundle(format!(
                "log {} of compound {} is not the node database its token is bound to \
                 (log {bound}); a node whose data directory was recreated must be enrolled again",
                bundle.log_id, bundle.compound
            )));
        }
        let caller = Caller {
            node,
            compound: bundle.compound.clone(),
        };
        let mut lanes = bundle.lanes;
        lanes.sort_by_key(|l| l.lane != Lane::Urgent as i32);
        // Check every lane before writing anything, then apply them all in
        // one transaction: a bundle is applied whole or not at all.
        let mut checked = Vec::with_capacity(lanes.len());
        for lane in &lanes {
            let kind = Lane::try_from(lane.lane)
                .map_err(|_| HubError::Bundle(format!("unknown lane {}", lane.lane)))?;
            checked.push((kind, self.check_entries(&caller, kind, &lane.entries)?));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A valid seal proves the token's secret as a sync does: a fresh
        // enrolment is bound to the bundle's log here, as a first sync would.
        bind_log(&tx, &caller, &bundle.log_id)?;
        let mut outcome = Vec::new();
        for (lane, (kind, range)) in lanes.iter().zip(checked) {
            let applied = apply_checked(
                &tx,
                &caller,
                &bundle.log_id,
                kind,
                lane.head,
                range,
                &lane.entries,
            )?;
            outcome.push((kind, applied));
        }
        tx.commit()?;
        Ok(BundleImport {
            compound: bundle.compound,
            lanes: outcome,
        })
    }

    /// The table configuration (hub setting `table_config`, else defaults).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table_config(&self) -> Result<TableConfig> {
        crate::aggregates::stored_config(&self.conn)
    }

    /// The daily table for `date`: every enrolled compound, sorted by code,
    /// and the street total.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table(&self, date: chrono::NaiveDate) -> Result<Table> {
        let config = self.table_config()?;
        let builder = TableBuilder::new(&config, date);
        let mut rows: Vec<CompoundRow> = {
            let mut stmt = self.conn.prepare(
                "SELECT c.code, c.name,
                        (SELECT MAX(n.last_sync) FROM node n WHERE n.compound = c.code),
                        (SELECT agree FROM agreement a WHERE a.compound = c.code),
                        COALESCE((SELECT MIN(l.cursor >= l.head)
                                  FROM node n JOIN lane_cursor l ON l.node = n.id
                                  WHERE n.compound = c.code AND n.revoked_at IS NULL
                                    AND n.last_sync IS NOT NULL), 0)
                 FROM compound c ORDER BY c.code",
            )?;
            stmt.query_map([], |row| {
                Ok(CompoundRow {
                    code: row.get(0)?,
                    name: row.get(1)?,
                    counts: DailyCounts::default(),
                    last_sync: row.get(2)?,
                    digests_agree: row.get::<_, Option<i64>>(3)?.map(|a| a != 0),
                    caught_up: row.get::<_, i64>(4)? != 0,
                    source: Source::Records,
                })
            })?
            .collect::<Result<_, _>>()?
        };
        let codes: Vec<&str> = rows.iter().map(|row| row.code.as_str()).collect();
        let counting = if crate::aggregates::present(&self.conn)? {
            Counting::Aggregates
        } else {
            Counting::Scan
        };
        let counts = self.counts(&builder, &codes, counting)?;
        for (row, counts) in rows.iter_mut().zip(counts) {
            row.counts = counts;
        }
        // A compound whose backlog is still arriving counts by its own
        // report for the date, when it sent one.
        let day = date.format("%Y-%m-%d").to_string();
        for row in rows.iter_mut().filter(|row| !row.caught_up) {
            let report: Option<Vec<u8>> = self
                .conn
                .query_row(
                    "SELECT body FROM response WHERE compound = ?1 AND kind = ?2 AND id = ?3",
                    params![row.code, Kind::DailyReport as i64, day],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(report) = report.and_then(|b| pb::DailyReport::decode(b.as_slice()).ok()) {
                row.counts = DailyCounts::from_report(&report);
                row.source = Source::Reported;
            }
        }
        let mut total = DailyCounts::default();
        for row in &rows {
            total += row.counts;
        }
        Ok(Table {
            date,
            compounds: rows,
            total,
        })
    }

    /// The table's counts for `codes` (in that order) under `builder`'s
    /// date and configuration, from the aggregates or by scanning every live
    /// record. The two must agree (tests hold them to it); the scan serves a
    /// database opened read-only before its aggregates were built.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn counts(
        &self,
        builder: &TableBuilder<'_>,
        codes: &[&str],
        counting: Counting,
    ) -> Result<Vec<DailyCounts>> {
        let index: std::collections::HashMap<&str, usize> = codes
            .iter()
            .enumerate()
            .map(|(i, code)| (*code, i))
            .collect();
        let slot = |code: &str| index.get(code).copied();
        let mut counts = vec![DailyCounts::default(); codes.len()];
        match counting {
            Counting::Aggregates => {
                crate::aggregates::add_counts(&self.conn, builder, &mut counts, slot)?;
            }
            Counting::Scan => self.scan_counts(builder, &mut counts, slot)?,
        }
        Ok(counts)
    }

    fn scan_counts(
        &self,
        builder: &TableBuilder<'_>,
        counts: &mut [DailyCounts],
        slot: impl Fn(&str) -> Option<usize>,
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT compound, housing FROM household WHERE deleted = 0")?;
        let mut q = stmt.query([])?;
        while let Some(row) = q.next()? {
            if let Some(i) = slot(text(row, 0)?) {
                let housing = pb::Housing::try_from(row.get::<_, i32>(1)?)
                    .unwrap_or(pb::Housing::Unspecified);
                builder.add_household(&mut counts[i], housing);
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT compound, nationality, region, return_date, registered
             FROM person WHERE deleted = 0",
        )?;
        let mut q = stmt.query([])?;
        while let Some(row) = q.next()? {
            if let Some(i) = slot(text(row, 0)?) {
                builder.add_person(
                    &mut counts[i],
                    PersonFacts {
                        nationality: text(row, 1)?,
                        origin: text(row, 2)?,
                        return_date: text(row, 3)?,
                        registered: row.get::<_, i64>(4)? != 0,
                    },
                );
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT compound, kind, start, release FROM isolation WHERE deleted = 0")?;
        let mut q = stmt.query([])?;
        while let Some(row) = q.next()? {
            let facts = IsolationFacts::from_stored(row.get(1)?, text(row, 2)?, text(row, 3)?);
            if let (Some(i), Some(facts)) = (slot(text(row, 0)?), facts) {
                builder.add_isolation(&mut counts[i], facts);
            }
        }
        Ok(())
    }

    /// Live record ids of one compound and kind (for tests and checks).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record_count(&self, compound: &str, kind: Kind) -> Result<u64> {
        let table = record_table(kind);
        Ok(self.conn.query_row(
            &format!("SELECT COUNT(*) FROM {table} WHERE compound = ?1 AND deleted = 0"),
            [compound],
            |row| row.get(0),
        )?)
    }

    /// The stored version of a record.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record(&self, compound: &str, kind: Kind, id: &str) -> Result<Option<StoredVersion>> {
        let table = record_table(kind);
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT stamp, origin, deleted, body FROM {table} WHERE compound = ?1 AND id = ?2"
                ),
                params![compound, id],
                |row| {
                    Ok(StoredVersion {
                        stamp: row.get::<_, i64>(0)? as u64,
                        origin: row.get(1)?,
                        deleted: row.get::<_, i64>(2)? != 0,
                        body: row.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The bulk-lane cursor of a compound's active enrolment.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn cursor(&self, compound: &str) -> Result<u64> {
        self.lane_cursor_of(compound, Lane::Bulk)
    }

    /// A lane's cursor of a compound's active enrolment.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn lane_cursor_of(&self, compound: &str, lane: Lane) -> Result<u64> {
        let node: i64 = self
            .conn
            .query_row(
                "SELECT id FROM node WHERE compound = ?1 AND revoked_at IS NULL",
                [compound],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| HubError::UnknownCompound(compound.to_owned()))?;
        lane_cursor(&self.conn, node, lane)
    }
}
