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

use std::path::{Path, PathBuf};

use lianfang_proto::digest::{self, BucketKey, Digests};
use lianfang_proto::hlc::Hlc;
use lianfang_proto::record::{empty_body, encode_body};
use lianfang_proto::sign::{VerifyError, verify_entry};
use lianfang_proto::sync::{Accept, accept, check_batch};
use lianfang_proto::table::{DailyCounts, IsolationFacts, PersonFacts, TableBuilder, TableConfig};
use lianfang_proto::{Kind, Lane, pb, table, validate};
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
    pub households: Counts,
    pub persons: Counts,
    pub isolations: Counts,
    /// Receipts, task answers and problem fixes.
    pub responses: Counts,
}

impl WriteSummary {
    fn of_kind(&mut self, kind: Kind) -> &mut Counts {
        match kind {
            Kind::Household => &mut self.households,
            Kind::Person => &mut self.persons,
            Kind::Isolation => &mut self.isolations,
            Kind::Receipt | Kind::TaskAnswer | Kind::ProblemFix | Kind::DailyReport => {
                &mut self.responses
            }
        }
    }

    /// Versions written (everything but the unchanged).
    pub fn written(&self) -> usize {
        [
            self.households,
            self.persons,
            self.isolations,
            self.responses,
        ]
        .iter()
        .map(|c| c.added + c.updated + c.deleted)
        .sum()
    }
}

impl std::fmt::Display for WriteSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let responses =
            (self.responses != Counts::default()).then_some(("responses", self.responses));
        for (name, c) in [
            ("households", self.households),
            ("persons", self.persons),
            ("isolations", self.isolations),
        ]
        .into_iter()
        .chain(responses)
        {
            writeln!(
                f,
                "{name:<11} {:>7} added {:>7} updated {:>7} deleted {:>7} unchanged",
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

    fn connect(dir: &Path) -> Result<Store> {
        let conn = Connection::open(dir.join(DB_FILE))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA_SQL)?;
        Ok(Store {
            conn,
            dir: dir.to_owned(),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn meta(&self, key: &'static str) -> Result<String> {
        self.conn
            .query_row(GET_META_SQL, [key], |row| row.get(0))
            .optional()?
            .ok_or(StoreError::Corrupt {
                what: "meta",
                detail: format!("missing key {key}"),
            })
    }

    fn meta_u64(&self, key: &'static str) -> Result<u64> {
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

    /// Applies `changes` in one transaction: each change that differs from
    /// what is stored gets a new HLC stamp, replaces the record, and is
    /// appended to the outbox. All or nothing.
    ///
    /// # Errors
    /// SQLite errors; nothing is written then.
    pub fn write(
        &mut self,
        changes: impl IntoIterator<Item = Change>,
        wall_ms: u64,
    ) -> Result<WriteSummary> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let get_meta = |key: &'static str| -> Result<String> {
            Ok(tx.query_row(GET_META_SQL, [key], |row| row.get::<_, String>(0))?)
        };
        let compound = get_meta("compound")?;
        let origin = get_meta("node_id")?;
        let mut hlc = Hlc::resume(get_meta("hlc")?.parse().unwrap_or(0));
        let mut summary = WriteSummary::default();
        let today = crate::today();
        {
            let mut get = tx.prepare_cached(GET_RECORD_SQL)?;
            let mut upsert = tx.prepare_cached(UPSERT_RECORD_SQL)?;
            let mut outbox = Outbox::new(&tx)?;
            for change in changes {
                let kind = change.kind as i64;
                let current: Option<(bool, Vec<u8>)> = get
                    .query_row(params![kind, change.id], |row| {
                        Ok((row.get::<_, i64>(2)? != 0, row.get(3)?))
                    })
                    .optional()?;
                let deleted = change.body.is_none();
                let body = change.body.unwrap_or_else(|| empty_body(change.kind));
                let body_bytes = encode_body(&body);
                let counts = summary.of_kind(change.kind);
                match (&current, deleted) {
                    (None, true) | (Some((true, _)), true) => {
                        counts.unchanged += 1;
                        continue;
                    }
                    (Some((false, old)), false) if *old == body_bytes => {
                        counts.unchanged += 1;
                        continue;
                    }
                    (None, false) | (Some((true, _)), false) => counts.added += 1,
                    (Some((false, _)), false) => counts.updated += 1,
                    (Some((false, _)), true) => counts.deleted += 1,
                }
                let stamp = hlc.tick(wall_ms);
                let record = pb::Record {
                    compound: compound.clone(),
                    id: change.id.clone(),
                    stamp,
                    origin: origin.clone(),
                    deleted,
                    body: Some(body),
                };
                // The hub's rule, checked here so this node never logs a
                // change the hub would refuse (which would block its lane).
                validate::check_record(&record, today).map_err(|e| StoreError::Invalid {
                    kind: change.kind.name(),
                    id: change.id.clone(),
                    field: e.field,
                    reason: e.reason,
                })?;
                upsert.execute(params![
                    kind,
                    change.id,
                    stamp as i64,
                    origin,
                    deleted,
                    body_bytes
                ])?;
                outbox.append(change.kind.lane(), &record)?;
            }
        }
        tx.execute(SET_META_SQL, params!["hlc", hlc.last().to_string()])?;
        tx.commit()?;
        Ok(summary)
    }

    /// The current version of a record, tombstones included.
    ///
    /// # Errors
    /// SQLite errors or an undecodable stored body.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<pb::Record>> {
        let row: Option<(i64, String, bool, Vec<u8>)> = self
            .conn
            .query_row(GET_RECORD_SQL, params![kind as i64, id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get::<_, i64>(2)? != 0,
                    row.get(3)?,
                ))
            })
            .optional()?;
        let Some((stamp, origin, deleted, body)) = row else {
            return Ok(None);
        };
        Ok(Some(pb::Record {
            compound: self.meta("compound")?,
            id: id.to_owned(),
            stamp: stamp as u64,
            origin,
            deleted,
            body: Some(decode_body(kind, &body)?),
        }))
    }

    /// Ids of the live (not deleted) records of one kind.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn live_ids(&self, kind: Kind) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM record WHERE kind = ?1 AND deleted = 0")?;
        let ids = stmt
            .query_map([kind as i64], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Highest sequence number in the bulk lane of the change log (the
    /// ledger records; 0 when empty).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn head(&self) -> Result<u64> {
        self.head_of(Lane::Bulk)
    }

    /// Highest sequence number in a lane of the change log (0 when empty).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn head_of(&self, lane: Lane) -> Result<u64> {
        Ok(self
            .conn
            .query_row(HEAD_SQL, [lane as i64], |row| row.get(0))?)
    }

    fn acked_key(lane: Lane) -> &'static str {
        match lane {
            Lane::Bulk => "acked",
            Lane::Urgent => "acked_urgent",
        }
    }

    /// The hub's cursor on the bulk lane, as last acknowledged.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn acked(&self) -> Result<u64> {
        self.acked_of(Lane::Bulk)
    }

    /// The hub's cursor on a lane, as last acknowledged.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn acked_of(&self, lane: Lane) -> Result<u64> {
        self.meta_u64(Self::acked_key(lane))
    }

    /// Changes not yet acknowledged by the hub, over both lanes.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn pending(&self) -> Result<u64> {
        let mut pending = 0;
        for lane in lianfang_proto::LANES {
            pending += self.head_of(lane)?.saturating_sub(self.acked_of(lane)?);
        }
        Ok(pending)
    }

    /// Records the hub's acknowledgements, one write for all the lanes
    /// given. A lane's acknowledgement never moves backwards.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_acked(&self, cursors: &[(Lane, u64)]) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        for &(lane, cursor) in cursors {
            let acked = self.acked_of(lane)?.max(cursor);
            tx.execute(
                SET_META_SQL,
                params![Self::acked_key(lane), acked.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The last entry of a lane carried to the hub in a bundle (0 if none).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn exported_of(&self, lane: Lane) -> Result<u64> {
        let key = Self::exported_key(lane);
        self.optional_meta(key)?
            .map_or(Ok(0), |value| parse_meta_u64(key, &value))
    }

    /// Notes that a bundle carried a lane's entries up to `head`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_exported(&self, lane: Lane, head: u64) -> Result<()> {
        let exported = self.exported_of(lane)?.max(head);
        self.conn.execute(
            SET_META_SQL,
            params![Self::exported_key(lane), exported.to_string()],
        )?;
        Ok(())
    }

    fn exported_key(lane: Lane) -> &'static str {
        match lane {
            Lane::Bulk => "exported",
            Lane::Urgent => "exported_urgent",
        }
    }

    /// Records the outcome of a sync attempt for `lianfang-node status`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_sync_outcome(&self, at: &str, error: Option<&str>) -> Result<()> {
        match error {
            None => self
                .conn
                .execute(SET_META_SQL, params!["last_success", at])?,
            Some(error) => self
                .conn
                .execute(SET_META_SQL, params!["last_error", format!("{at} {error}")])?,
        };
        Ok(())
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

    /// The bulk lane's log entries numbered `first ..= last`.
    ///
    /// # Errors
    /// SQLite errors, an undecodable entry, or a hole in the log.
    pub fn log_range(&self, first: u64, last: u64) -> Result<Vec<pb::LogEntry>> {
        self.log_range_of(Lane::Bulk, first, last)
    }

    /// A lane's log entries numbered `first ..= last`.
    ///
    /// # Errors
    /// SQLite errors, an undecodable entry, or a hole in the log.
    pub fn log_range_of(&self, lane: Lane, first: u64, last: u64) -> Result<Vec<pb::LogEntry>> {
        self.log_range_encoded(lane, first, last)?
            .into_iter()
            .map(|entry| {
                let record = pb::Record::decode(entry.record.as_slice()).map_err(|e| {
                    StoreError::Corrupt {
                        what: "outbox entry",
                        detail: format!("seq {}: {e}", entry.seq),
                    }
                })?;
                Ok(pb::LogEntry {
                    seq: entry.seq,
                    record: Some(record),
                })
            })
            .collect()
    }

    /// What the next exchange carries: each lane's head and the entries
    /// [`lianfang_proto::sync::plan`] picks after `senders`' cursors
    /// (`[urgent, bulk]`; until the hub's cursors are `confirmed` in this
    /// session, a lane that [`lianfang_proto::sync::hold_until_confirmed`]
    /// sends nothing), the down cursor, and, when `with_root` and the
    /// entries reach both heads, the digest root of every record. Read in
    /// one transaction, against the heads as they stand, so the root
    /// describes exactly the log those entries end.
    ///
    /// # Errors
    /// SQLite errors, an undecodable entry, or a hole in the log.
    pub fn outgoing(
        &self,
        senders: [lianfang_proto::sync::Sender; 2],
        max: usize,
        confirmed: bool,
        with_root: bool,
    ) -> Result<Outgoing> {
        let tx = self.conn.unchecked_transaction()?;
        let mut senders = senders;
        let mut hold = [false; 2];
        for ((sender, lane), hold) in senders.iter_mut().zip(LANE_ORDER).zip(&mut hold) {
            sender.head = self.head_of(lane)?;
            *hold = !confirmed
                && lianfang_proto::sync::hold_until_confirmed(sender, self.exported_of(lane)?);
        }
        let ranges = lianfang_proto::sync::plan(&senders[0], &senders[1], max, hold);
        let mut lanes = [
            pb::EncodedLaneEntries::default(),
            pb::EncodedLaneEntries::default(),
        ];
        let mut complete = true;
        for (((out, lane), range), sender) in
            lanes.iter_mut().zip(LANE_ORDER).zip(ranges).zip(senders)
        {
            out.head = sender.head;
            let last = match range {
                Some((first, last)) => {
                    out.entries = self.log_range_encoded(lane, first, last)?;
                    last
                }
                None => sender.acked,
            };
            complete &= last >= sender.head;
        }
        let digest_root = if with_root && complete {
            Some(digest::root(&self.digests()?))
        } else {
            None
        };
        let down_cursor = self.down_cursor()?;
        tx.finish()?;
        let [urgent, bulk] = lanes;
        Ok(Outgoing {
            urgent,
            bulk,
            down_cursor,
            digest_root,
        })
    }

    /// A lane's log entries numbered `first ..= last`, each record as the
    /// bytes stored (what an exchange sends; see `EncodedExchangeRequest`).
    ///
    /// # Errors
    /// SQLite errors, or a hole in the log.
    pub fn log_range_encoded(
        &self,
        lane: Lane,
        first: u64,
        last: u64,
    ) -> Result<Vec<pb::EncodedLogEntry>> {
        let mut stmt = self.conn.prepare_cached(OUTBOX_RANGE_SQL)?;
        let mut rows = stmt.query(params![lane as i64, first as i64, last as i64])?;
        let mut entries = Vec::with_capacity((last + 1).saturating_sub(first) as usize);
        while let Some(row) = rows.next()? {
            entries.push(pb::EncodedLogEntry {
                seq: row.get::<_, i64>(0)? as u64,
                record: row.get(1)?,
            });
        }
        let expected = (last + 1).saturating_sub(first);
        if entries.len() as u64 != expected {
            return Err(StoreError::Corrupt {
                what: "outbox",
                detail: format!(
                    "entries {first}..={last} should be {expected}, found {}",
                    entries.len()
                ),
            });
        }
        Ok(entries)
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

    /// Highest entry of the hub's down log applied here.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn down_cursor(&self) -> Result<u64> {
        self.meta_u64("down_cursor")
    }

    /// Applies a batch of the hub's down log atomically with the down
    /// cursor, under the same rules as the hub applies a push
    /// ([`lianfang_proto::sync::accept`]): replays are ignored, an overlap
    /// applies only its new tail, a gap is refused. Every new entry must
    /// verify under the hub key stored at `init`; if one does not, nothing
    /// of the batch is applied.
    ///
    /// # Errors
    /// [`DownError`]; nothing is written then.
    pub fn apply_down(
        &mut self,
        entries: &[pb::DownEntry],
        received_at: &str,
    ) -> Result<u64, DownError> {
        let (first, len) =
            check_batch(entries.iter().map(|e| e.seq)).map_err(DownError::Malformed)?;
        let identity = self.identity()?;
        let hub_key = lianfang_proto::sign::hex_decode(&identity.hub_key)
            .ok_or(DownError::Verify(VerifyError::BadKey))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let cursor: u64 = tx
            .query_row(GET_META_SQL, ["down_cursor"], |row| row.get::<_, String>(0))?
            .parse()
            .unwrap_or(0);
        let skip = match accept(cursor, first, len) {
            Accept::Gap { expected } => return Err(DownError::Gap { first, expected }),
            Accept::Replay => return Ok(cursor),
            Accept::Apply { skip } => skip,
        };
        for entry in &entries[skip..] {
            verify_entry(&hub_key, &identity.compound, entry).map_err(DownError::Verify)?;
            let message = pb::HubMessage::decode(entry.message.as_slice()).map_err(|e| {
                DownError::Undecodable {
                    seq: entry.seq,
                    reason: e.to_string(),
                }
            })?;
            tx.execute(
                "INSERT INTO inbox (seq, received_at, message) VALUES (?1, ?2, ?3)",
                params![entry.seq as i64, received_at, entry.message],
            )?;
            if let Some(pb::hub_message::Body::Config(config)) = message.body {
                let config = TableConfig {
                    key_regions: config.key_regions,
                    isolation_days: config.isolation_days,
                };
                let json = serde_json::to_string(&config).expect("config serialises");
                tx.execute(SET_META_SQL, params!["table_config", json])?;
            }
        }
        let new_cursor = first + len as u64 - 1;
        tx.execute(SET_META_SQL, params!["down_cursor", new_cursor.to_string()])?;
        tx.commit()?;
        Ok(new_cursor)
    }

    /// Every message received from the hub, in down-log order, with when it
    /// arrived (RFC 3339).
    ///
    /// # Errors
    /// SQLite errors or an undecodable stored message.
    pub fn inbox(&self) -> Result<Vec<(u64, String, pb::HubMessage)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, received_at, message FROM inbox ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let bytes: Vec<u8> = row.get(2)?;
            let message =
                pb::HubMessage::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt {
                    what: "inbox message",
                    detail: e.to_string(),
                })?;
            out.push((row.get::<_, i64>(0)? as u64, row.get(1)?, message));
        }
        Ok(out)
    }

    /// Digests of every record version this node holds (tombstones too).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn digests(&self) -> Result<Digests> {
        let mut digests = Digests::new();
        let mut stmt = self
            .conn
            .prepare("SELECT kind, id, stamp, origin, deleted, body FROM record")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let Some(kind) = Kind::from_i64(row.get(0)?) else {
                continue;
            };
            digest::add(
                &mut digests,
                kind,
                row.get_ref(1)?.as_str().unwrap_or_default(),
                row.get::<_, i64>(2)? as u64,
                row.get_ref(3)?.as_str().unwrap_or_default(),
                row.get::<_, i64>(4)? != 0,
                row.get_ref(5)?.as_blob().unwrap_or_default(),
            );
        }
        Ok(digests)
    }

    /// Appends the current version of every record in `buckets` to the
    /// outbox again (same stamp and origin), so the next push repairs a hub
    /// whose digests differ. Applying them twice changes nothing at the hub.
    /// Returns how many were appended.
    ///
    /// # Errors
    /// SQLite errors; nothing is appended then.
    pub fn relog(&mut self, buckets: &[BucketKey]) -> Result<u64> {
        let wanted: std::collections::HashSet<&BucketKey> = buckets.iter().collect();
        let compound = self.meta("compound")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut versions = Vec::new();
        {
            let mut stmt =
                tx.prepare("SELECT kind, id, stamp, origin, deleted, body FROM record")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let Some(kind) = Kind::from_i64(row.get(0)?) else {
                    continue;
                };
                let id: String = row.get(1)?;
                let stamp = row.get::<_, i64>(2)? as u64;
                if !wanted.contains(&digest::bucket(kind, &id, stamp)) {
                    continue;
                }
                let body: Vec<u8> = row.get(5)?;
                versions.push(pb::Record {
                    compound: compound.clone(),
                    id,
                    stamp,
                    origin: row.get(3)?,
                    deleted: row.get::<_, i64>(4)? != 0,
                    body: Some(decode_body(kind, &body)?),
                });
            }
        }
        let n = versions.len() as u64;
        {
            let mut outbox = Outbox::new(&tx)?;
            for record in versions {
                let lane = Kind::of(record.body.as_ref().expect("decoded above")).lane();
                outbox.append(lane, &record)?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Records the compound's own table for `date` as a daily report (urgent
    /// lane), unless the last report for that date says the same.
    ///
    /// # Errors
    /// Store errors.
    pub fn report_today(&mut self, date: chrono::NaiveDate) -> Result<()> {
        let counts = self.table(date, &self.table_config()?)?;
        let id = date.format("%Y-%m-%d").to_string();
        let unchanged = match self.get(Kind::DailyReport, &id)?.and_then(|r| r.body) {
            Some(pb::record::Body::DailyReport(last)) => DailyCounts::from_report(&last) == counts,
            _ => false,
        };
        if !unchanged {
            let computed_at = crate::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            self.write(
                [Change {
                    kind: Kind::DailyReport,
                    id,
                    body: Some(pb::record::Body::DailyReport(
                        counts.to_report(date, computed_at),
                    )),
                }],
                crate::now_ms(),
            )?;
        }
        Ok(())
    }

    /// The compound's own view of its daily table.
    ///
    /// # Errors
    /// SQLite errors or undecodable bodies.
    pub fn table(&self, date: chrono::NaiveDate, config: &TableConfig) -> Result<DailyCounts> {
        let builder = TableBuilder::new(config, date);
        let mut counts = DailyCounts::default();
        // Record by record, so a large compound never has every body
        // decoded at once.
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, body FROM record WHERE deleted = 0 AND kind IN (?1, ?2, ?3)",
        )?;
        let mut rows = stmt.query(params![
            Kind::Household as i64,
            Kind::Person as i64,
            Kind::Isolation as i64
        ])?;
        while let Some(row) = rows.next()? {
            let Some(kind) = Kind::from_i64(row.get(0)?) else {
                continue;
            };
            match decode_body(kind, row.get_ref(1)?.as_blob().unwrap_or_default())? {
                pb::record::Body::Household(h) => builder.add_household(&mut counts, h.housing()),
                pb::record::Body::Person(p) => builder.add_person(
                    &mut counts,
                    PersonFacts {
                        nationality: &p.nationality,
                        origin: &p.origin,
                        return_date: &p.return_date,
                        registered: p.registered,
                    },
                ),
                pb::record::Body::Isolation(i) => {
                    if let Some(start) = table::parse_day(&i.start) {
                        builder.add_isolation(
                            &mut counts,
                            IsolationFacts {
                                kind: i.kind(),
                                start,
                                release: table::parse_day(&i.release),
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(counts)
    }
}

/// Appends to the outbox inside a transaction, numbering each entry one
/// above the last of its lane: the one place the log's numbering is made.
struct Outbox<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    append: rusqlite::CachedStatement<'t>,
    /// Head of each lane, read from the table when first needed.
    heads: [Option<u64>; 2],
}

impl<'t> Outbox<'t> {
    fn new(tx: &'t rusqlite::Transaction<'t>) -> Result<Self> {
        Ok(Outbox {
            tx,
            append: tx.prepare_cached(APPEND_OUTBOX_SQL)?,
            heads: [None, None],
        })
    }

    fn append(&mut self, lane: Lane, record: &pb::Record) -> Result<u64> {
        let seq = match self.heads[lane as usize] {
            Some(head) => head + 1,
            None => {
                self.tx
                    .query_row(HEAD_SQL, [lane as i64], |row| row.get::<_, u64>(0))?
                    + 1
            }
        };
        self.heads[lane as usize] = Some(seq);
        self.append
            .execute(params![lane as i64, seq as i64, record.encode_to_vec()])?;
        Ok(seq)
    }
}

/// A numeric meta value; anything else means the database is damaged.
fn parse_meta_u64(key: &str, value: &str) -> Result<u64> {
    value.parse().map_err(|_| StoreError::Corrupt {
        what: "meta",
        detail: format!("{key} = {value:?} is not a number"),
    })
}

fn decode_body(kind: Kind, bytes: &[u8]) -> Result<pb::record::Body> {
    lianfang_proto::record::decode_body(kind, bytes).map_err(|e| StoreError::Corrupt {
        what: "record body",
        detail: e.to_string(),
    })
}
