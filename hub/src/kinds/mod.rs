//! How the hub stores each kind's versions.
//!
//! A kind whose fields the daily table reads has a projection table of its
//! own (`household`, `person`, `isolation`: keyed by `(compound, id)`, the
//! envelope, the projected columns, the encoded body), which the aggregate
//! triggers of `crate::aggregates` fold into per-compound counts; its module
//! here says the table and what it projects. Every other kind goes to the
//! generic record table (`response`, keyed by `(compound, kind, id)`:
//! receipts, answers, fixes, daily reports), which needs nothing per kind,
//! or, for the kinds of the compound's day that the daily log reads by date
//! (health checks, services, mask reservations, …), to the generic table
//! of the day (`day_record`), which projects each record's days
//! ([`lianfang_proto::kinds::days`]) so the log reads one day by index.
//!
//! [`storage`] is the one match on kinds in the hub, exhaustive: a new kind
//! says there where its versions go. Applying a batch ([`Upserts`]),
//! digests, counts and exports are written once over it, in the SQL both
//! of the hub's engines speak (`crate::db`).

mod household;
mod isolation;
mod person;

use crate::db::ToSql;
use crate::db::{Connection, params};
use lianfang_proto::kinds::KindBody;
use lianfang_proto::pb::record::Body;
use lianfang_proto::{Kind, digest, pb};

/// The generic record table, for kinds without a projection.
pub(crate) const GENERIC_TABLE: &str = "response";

/// The generic table of the compound's day: kinds the daily log reads by
/// day, with the days of [`lianfang_proto::kinds::days`] projected, and
/// kept in order of the first of them (one record is still one row, by
/// `(compound, kind, id)`).
pub(crate) const DAY_TABLE: &str = "day_record";

const DAY_SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS day_record (
    compound TEXT    NOT NULL,
    kind     INTEGER NOT NULL,
    id       TEXT    NOT NULL,
    stamp    INTEGER NOT NULL,
    origin   TEXT    NOT NULL,
    deleted  INTEGER NOT NULL,
    day      TEXT    NOT NULL,
    day2     TEXT    NOT NULL,
    day3     TEXT    NOT NULL,
    body     BLOB    NOT NULL,
    -- Clustered by day, so the log reads a date's records as one range.
    PRIMARY KEY (day, compound, kind, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS day_record_id ON day_record (compound, kind, id);
";

const UPSERT_DAY_SQL: &str = "
INSERT INTO day_record (compound, kind, id, stamp, origin, deleted, day, day2, day3, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (compound, kind, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted,
    day = excluded.day, day2 = excluded.day2, day3 = excluded.day3, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (day_record.stamp, day_record.origin)";

const GENERIC_SCHEMA_SQL: &str = "
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
";

// The `WHERE (excluded.stamp, excluded.origin) >= (stamp, origin)` clause is
// `merge::wins`: an older version never replaces a newer one; the same
// version rewrites the row (no change, or a repair of a damaged copy). Each
// projection's upsert has the same clause.
const UPSERT_GENERIC_SQL: &str = "
INSERT INTO response (compound, kind, id, stamp, origin, deleted, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (compound, kind, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (response.stamp, response.origin)";

/// A kind with a projection table, implemented by its message.
pub(crate) trait Projected: KindBody {
    /// The table's name.
    const TABLE: &'static str;
    /// `CREATE TABLE IF NOT EXISTS`: `compound, id, stamp, origin,
    /// deleted`, the projected columns, `body`; key `(compound, id)`.
    const SCHEMA_SQL: &'static str;
    /// The merge upsert: parameters `compound, id, stamp, origin, deleted`,
    /// then [`Projected::columns`], then the encoded body.
    const UPSERT_SQL: &'static str;
    /// Appends the projected values to `values`, in the table's column
    /// order.
    fn columns<'a>(&'a self, values: &mut Vec<&'a dyn ToSql>);
    /// For a kind the daily log reads whole: an SQL condition on the
    /// projected columns, with `?1` the date (`YYYY-MM-DD`) and `?2` the date
    /// one isolation period before it, that keeps every live row the log of
    /// that date can count (and may keep more). Both parameters are always
    /// bound.
    const LOG_ROWS_SQL: &'static str = "?1 IS NOT NULL AND ?2 IS NOT NULL";
}

/// Where a kind's versions are stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Storage {
    /// A projection table of its own ([`Projected`]).
    Projection {
        table: &'static str,
        schema_sql: &'static str,
        upsert_sql: &'static str,
        /// Runs `upsert_sql` for one version.
        /// Runs `upsert_sql` (or the insert made from it) for one version
        /// whose body encodes to the bytes given.
        upsert: fn(
            &mut crate::db::Statement<'_>,
            &pb::Record,
            &Body,
            &[u8],
        ) -> crate::db::Result<usize>,
        /// [`Projected::LOG_ROWS_SQL`].
        log_rows_sql: &'static str,
    },
    /// The generic record table, [`GENERIC_TABLE`].
    Generic,
    /// The generic table of the day, [`DAY_TABLE`]: the record's days
    /// projected.
    Day,
}

impl Storage {
    fn of<M: Projected>() -> Storage {
        fn upsert<M: Projected>(
            stmt: &mut crate::db::Statement<'_>,
            record: &pb::Record,
            body: &Body,
            bytes: &[u8],
        ) -> crate::db::Result<usize> {
            let m = M::from_body(body).expect("the body of the kind stored");
            let stamp = record.stamp as i64;
            let mut values: Vec<&dyn ToSql> = Vec::with_capacity(12);
            values.extend([
                &record.compound as &dyn ToSql,
                &record.id,
                &stamp,
                &record.origin,
                &record.deleted,
            ]);
            m.columns(&mut values);
            values.push(&bytes);
            stmt.execute(values.as_slice())
        }
        Storage::Projection {
            table: M::TABLE,
            schema_sql: M::SCHEMA_SQL,
            upsert_sql: M::UPSERT_SQL,
            upsert: upsert::<M>,
            log_rows_sql: M::LOG_ROWS_SQL,
        }
    }

    /// The insert of a new row, doing nothing when the record is held:
    /// the merge upsert without its `ON CONFLICT` clause.
    fn insert_sql(self) -> String {
        let upsert = self.upsert_sql();
        let values = upsert
            .find("ON CONFLICT")
            .expect("every upsert has an ON CONFLICT clause");
        format!("{} ON CONFLICT DO NOTHING", &upsert[..values])
    }

    /// Runs `stmt`, an insert or the upsert of this storage, for one
    /// version whose body encodes to `bytes`; returns the rows changed.
    fn execute(
        self,
        stmt: &mut crate::db::Statement<'_>,
        record: &pb::Record,
        body: &Body,
        bytes: &[u8],
    ) -> crate::db::Result<usize> {
        let kind = Kind::of(body);
        match self {
            Storage::Projection { upsert, .. } => upsert(stmt, record, body, bytes),
            Storage::Generic => stmt.execute(params![
                record.compound,
                kind as i64,
                record.id,
                record.stamp as i64,
                record.origin,
                record.deleted,
                bytes
            ]),
            Storage::Day => {
                let [day, day2, day3] = lianfang_proto::kinds::days(body);
                stmt.execute(params![
                    record.compound,
                    kind as i64,
                    record.id,
                    record.stamp as i64,
                    record.origin,
                    record.deleted,
                    day,
                    day2,
                    day3,
                    bytes
                ])
            }
        }
    }

    /// The merge upsert's SQL.
    fn upsert_sql(self) -> &'static str {
        match self {
            Storage::Projection { upsert_sql, .. } => upsert_sql,
            Storage::Generic => UPSERT_GENERIC_SQL,
            Storage::Day => UPSERT_DAY_SQL,
        }
    }
}

/// Where `kind`'s versions are stored.
pub(crate) fn storage(kind: Kind) -> Storage {
    match kind {
        Kind::Household => Storage::of::<pb::Household>(),
        Kind::Person => Storage::of::<pb::Person>(),
        Kind::Isolation => Storage::of::<pb::Isolation>(),
        Kind::Receipt
        | Kind::TaskAnswer
        | Kind::ProblemFix
        | Kind::DailyReport
        | Kind::MemberDay
        | Kind::DirectiveRollup => Storage::Generic,
        Kind::HealthCheck
        | Kind::Service
        | Kind::MaskReservation
        | Kind::VehicleCheck
        | Kind::Disinfection
        | Kind::HotlineTicket
        | Kind::GateCount
        | Kind::Survey => Storage::Day,
    }
}

/// Creates the generic record table and every projection table
/// (idempotent).
///
/// # Errors
/// SQLite errors.
pub(crate) fn create_tables(conn: &Connection) -> crate::db::Result<()> {
    conn.execute_batch(GENERIC_SCHEMA_SQL)?;
    conn.execute_batch(DAY_SCHEMA_SQL)?;
    for kind in Kind::ALL {
        if let Storage::Projection { schema_sql, .. } = storage(kind) {
            conn.execute_batch(schema_sql)?;
        }
    }
    Ok(())
}

/// Stores checked versions under the merge rule (last writer wins by
/// `(stamp, origin)`), each where its kind goes, and notes what that did
/// to the compound's digests; one per batch, so each kind's statements are
/// prepared once.
///
/// A version is first inserted as a new row (one statement: the initial
/// sync's path); only when its record is already held is the stored
/// version read, compared by the merge rule, and replaced, so the digests
/// lose the version replaced and gain the new one.
pub(crate) struct Upserts<'c> {
    tx: &'c Connection,
    /// Each kind's prepared statements, by its place in `Kind::ALL`.
    statements: Vec<Option<Statements<'c>>>,
    /// What the versions written did to each compound's digests.
    changes: std::collections::BTreeMap<String, digest::Changes>,
    /// What they did to `agg_day`.
    days: crate::aggregates::DayGroups,
}

/// What a batch of versions stored did to what is kept beside the records,
/// for the caller to fold in the same transaction.
pub(crate) struct Written {
    /// Each compound's digest changes ([`crate::store::digests::fold`]).
    pub(crate) digests: std::collections::BTreeMap<String, digest::Changes>,
    /// The `agg_day` changes ([`crate::aggregates::add_days`]).
    pub(crate) days: crate::aggregates::DayGroups,
}

/// One kind's statements: insert a new row, read the held version, and the
/// merge upsert.
struct Statements<'c> {
    insert: crate::db::Statement<'c>,
    held: crate::db::Statement<'c>,
    upsert: crate::db::Statement<'c>,
}

impl<'c> Upserts<'c> {
    pub(crate) fn new(tx: &'c Connection) -> Self {
        Upserts {
            tx,
            statements: Kind::ALL.iter().map(|_| None).collect(),
            changes: std::collections::BTreeMap::new(),
            days: crate::aggregates::DayGroups::default(),
        }
    }

    /// Stores one checked version.
    ///
    /// # Errors
    /// SQLite errors.
    pub(crate) fn upsert(&mut self, record: &pb::Record) -> crate::db::Result<()> {
        let body = record.body.as_ref().expect("checked before it is applied");
        let kind = Kind::of(body);
        let storage = storage(kind);
        let slot = Kind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is in Kind::ALL");
        let stmts = match &mut self.statements[slot] {
            Some(stmts) => stmts,
            empty @ None => empty.insert(Statements {
                insert: self.tx.prepare_cached(&storage.insert_sql())?,
                held: self.tx.prepare_cached(&format!(
                    "SELECT stamp, origin, deleted, body FROM {} WHERE compound = ?1 AND id = ?2",
                    record_table(kind)
                ))?,
                upsert: self.tx.prepare_cached(storage.upsert_sql())?,
            }),
        };
        // What the row stores and the digests hash.
        let bytes = lianfang_proto::record::encode_body(body);
        let grouped = crate::aggregates::DayGroups::groups(kind);
        let changes = match self.changes.get_mut(&record.compound) {
            Some(changes) => changes,
            None => self.changes.entry(record.compound.clone()).or_default(),
        };
        if storage.execute(&mut stmts.insert, record, body, &bytes)? == 0 {
            let held = stmts
                .held
                .query_row(params![record.compound, record.id], |row| {
                    Ok((
                        row.get::<_, i64>(0)? as u64,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)? != 0,
                        row.get::<_, Vec<u8>>(3)?,
                    ))
                })?;
            let (stamp, origin, deleted, old) = held;
            // `merge::wins`, as the upsert's `WHERE` clause says it.
            let version = |stamp, origin| lianfang_proto::merge::Version { stamp, origin };
            if !lianfang_proto::merge::wins(
                version(record.stamp, &record.origin),
                Some(version(stamp, &origin)),
            ) {
                return Ok(());
            }
            storage.execute(&mut stmts.upsert, record, body, &bytes)?;
            changes.remove(kind, &record.id, stamp, &origin, deleted, &old);
            if grouped && !deleted {
                // The held version's days, as its row projected them.
                let old = kind
                    .decode_body(&old)
                    .map_err(|e| crate::db::Error::Conversion {
                        column: 3,
                        reason: e.to_string(),
                    })?;
                self.days.change(
                    &record.compound,
                    kind,
                    lianfang_proto::kinds::days(&old),
                    -1,
                );
            }
        }
        if grouped && !record.deleted {
            self.days
                .change(&record.compound, kind, lianfang_proto::kinds::days(body), 1);
        }
        changes.add(
            kind,
            &record.id,
            record.stamp,
            &record.origin,
            record.deleted,
            &bytes,
        );
        Ok(())
    }

    /// What the versions stored did to the digests and `agg_day`.
    pub(crate) fn finish(self) -> Written {
        Written {
            digests: self.changes,
            days: self.days,
        }
    }
}

/// The table (or filtered view) holding the records of a kind, with the
/// columns `compound, id, stamp, origin, deleted, body`.
pub(crate) fn record_table(kind: Kind) -> String {
    match storage(kind) {
        Storage::Projection { table, .. } => table.to_owned(),
        Storage::Generic => format!(
            "(SELECT * FROM {GENERIC_TABLE} WHERE kind = {}) AS records",
            kind as i64
        ),
        Storage::Day => format!(
            "(SELECT * FROM {DAY_TABLE} WHERE kind = {}) AS records",
            kind as i64
        ),
    }
}

/// Every table holding records, for a scan of all of a compound's
/// versions: each projection table with its kind, then the generic table
/// (`None`: its rows carry their kind).
pub(crate) fn tables() -> Vec<(Option<Kind>, &'static str)> {
    Kind::ALL
        .into_iter()
        .filter_map(|kind| match storage(kind) {
            Storage::Projection { table, .. } => Some((Some(kind), table)),
            Storage::Generic | Storage::Day => None,
        })
        .chain([(None, GENERIC_TABLE), (None, DAY_TABLE)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind's sample is stored where its kind goes, read back whole,
    /// and merged by `(stamp, origin)`: an older tombstone loses, a newer
    /// one wins.
    #[test]
    fn every_kind_is_stored_and_merged_by_the_same_rule() {
        let conn = crate::db::testing::db();
        create_tables(&conn).unwrap();
        for kind in Kind::ALL {
            let (id, body) = kind.sample();
            let record = |stamp: u64, deleted: bool| pb::Record {
                compound: "HM001".into(),
                id: id.clone(),
                stamp,
                origin: "n".into(),
                deleted,
                body: Some(if deleted {
                    kind.empty_body()
                } else {
                    body.clone()
                }),
            };
            let read = || -> (i64, bool, Vec<u8>) {
                conn.query_row(
                    &format!(
                        "SELECT stamp, deleted, body FROM {} WHERE compound = 'HM001' AND id = ?1",
                        record_table(kind)
                    ),
                    [&id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .unwrap()
            };
            let mut upserts = Upserts::new(&conn);
            upserts.upsert(&record(2 << 16, false)).unwrap();
            upserts.upsert(&record(1 << 16, true)).unwrap();
            drop(upserts);
            let (stamp, deleted, bytes) = read();
            assert_eq!((stamp, deleted), (2 << 16, false), "{kind:?}");
            assert_eq!(kind.decode_body(&bytes).unwrap(), body, "{kind:?}");
            Upserts::new(&conn).upsert(&record(3 << 16, true)).unwrap();
            assert!(read().1, "{kind:?}");
        }
        let stored: Vec<Option<Kind>> = tables().into_iter().map(|(kind, _)| kind).collect();
        for kind in Kind::ALL {
            let projected = matches!(storage(kind), Storage::Projection { .. });
            assert_eq!(stored.contains(&Some(kind)), projected, "{kind:?}");
        }
        assert!(stored.contains(&None), "the generic table is scanned");
    }
}
