//! The meeting's snapshot (例会截点): each report the 16:30 meeting reads,
//! as it stood at the day's cut-off, and what changed since.
//!
//! Storage is generic over the reports: a report is rows of per-compound
//! integer values by key ([`MeetingReport`]), stored in `snapshot_value`
//! under its name, so the daily table and the daily log (once it exists)
//! are snapshotted the same way, in the same transaction, and both get
//! their revisions (`since_cutoff`) from [`HubStore::since_cutoff`].
//! The table also keeps each compound's name and freshness as they stood
//! (`snapshot_compound`), so `table --snapshot` prints exactly the table
//! of the cut-off; its total is the sum of its rows, as the live one's.
//!
//! **Architecture Invariant:** a snapshot is written whole in one write
//! transaction (every report, from reads inside that transaction) and never
//! changes afterwards, except by an explicit `lianfang-hub snapshot` of that
//! same day, which replaces it whole. `serve` takes one only when none of
//! the day exists.
//!
//! # Adding a report (the daily log)
//!
//! 1. `impl MeetingReport` for it (its name, e.g. `"log"`, and its rows).
//! 2. In [`HubStore::take_snapshot`], one call beside the table's:
//!    `put_report(&tx, &day, &self.daily_log(date)?)?;`
//! 3. Where it is shown, `self.since_cutoff(date, &log)?` gives, per row and
//!    for the total, the keys whose value changed since the cut-off; and
//!    [`HubStore::snapshot_rows`] reads its stored rows back (for `--snapshot`).

use std::collections::HashMap;

use crate::db::Transaction;
use lianfang_proto::table::COLUMNS;

use super::*;

pub(super) const SNAPSHOT_SQL: &str = "
CREATE TABLE IF NOT EXISTS snapshot (
    date     TEXT PRIMARY KEY,  -- the day of the reports, YYYY-MM-DD (China time)
    taken_at TEXT NOT NULL      -- RFC 3339, UTC, by the hub's clock
) STRICT;
CREATE TABLE IF NOT EXISTS snapshot_compound (
    date          TEXT    NOT NULL REFERENCES snapshot (date),
    compound      TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    last_sync     TEXT,
    caught_up     INTEGER NOT NULL,
    source        TEXT    NOT NULL,
    digests_agree INTEGER,
    PRIMARY KEY (date, compound)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshot_value (
    date     TEXT    NOT NULL REFERENCES snapshot (date),
    report   TEXT    NOT NULL,  -- MeetingReport::REPORT: table, log
    compound TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    value    INTEGER NOT NULL,
    PRIMARY KEY (date, report, compound, key)
) STRICT, WITHOUT ROWID;
";

const SNAPSHOT_TAKEN_AT_SQL: &str = "SELECT taken_at FROM snapshot WHERE date = ?1";

const SNAPSHOT_DELETE_SQL: [&str; 3] = [
    "DELETE FROM snapshot_value WHERE date = ?1",
    "DELETE FROM snapshot_compound WHERE date = ?1",
    "DELETE FROM snapshot WHERE date = ?1",
];

const SNAPSHOT_INSERT_SQL: &str = "INSERT INTO snapshot (date, taken_at) VALUES (?1, ?2)";

const SNAPSHOT_COMPOUND_INSERT_SQL: &str = "
INSERT INTO snapshot_compound
    (date, compound, name, last_sync, caught_up, source, digests_agree)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

const SNAPSHOT_COMPOUND_SELECT_SQL: &str = "
SELECT compound, name, last_sync, caught_up, source, digests_agree
FROM snapshot_compound WHERE date = ?1 ORDER BY compound";

const SNAPSHOT_VALUE_INSERT_SQL: &str = "
INSERT INTO snapshot_value (date, report, compound, key, value) VALUES (?1, ?2, ?3, ?4, ?5)";

const SNAPSHOT_VALUE_SELECT_SQL: &str = "
SELECT compound, key, value FROM snapshot_value WHERE date = ?1 AND report = ?2";

/// A report the meeting reads at the cut-off: per compound, integer values
/// by key. Implemented by the daily table; the daily log implements it too
/// to be snapshotted (see the module's "Adding a report").
pub trait MeetingReport {
    /// Its name in `snapshot_value.report`; never change it (stored).
    const REPORT: &'static str;

    /// Its rows: each compound's code with its values by key.
    fn report_rows(&self) -> Vec<ReportRow<'_>>;
}

/// One compound's row of a [`MeetingReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow<'a> {
    /// The compound's code.
    pub compound: &'a str,
    /// Its values, by key, in the report's key order.
    pub values: Vec<(&'static str, i64)>,
}

/// The keys of a row whose value changed since the cut-off, with the change
/// (now − snapshot), in the report's key order; empty when none did.
pub type Revisions = Vec<(&'static str, i64)>;

/// A report's rows as stored in a snapshot: values by key, by compound.
pub type StoredRows = HashMap<String, HashMap<String, i64>>;

/// What changed in a report since the cut-off of its date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinceCutoff {
    /// When the snapshot was taken, RFC 3339.
    pub taken_at: String,
    /// Per row of the live report, in its order.
    pub rows: Vec<Revisions>,
    /// Of the sum of the rows (the report's total).
    pub total: Revisions,
}

/// What `take_snapshot` took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTaken {
    /// The day of the reports.
    pub date: chrono::NaiveDate,
    /// When, RFC 3339.
    pub taken_at: String,
    /// Compound rows of the table.
    pub rows: usize,
    /// When the snapshot it replaced had been taken, if there was one.
    pub replaced: Option<String>,
}

impl MeetingReport for Table {
    const REPORT: &'static str = "table";

    fn report_rows(&self) -> Vec<ReportRow<'_>> {
        self.compounds
            .iter()
            .map(|row| ReportRow {
                compound: &row.code,
                values: counts_values(&row.counts),
            })
            .collect()
    }
}

fn counts_values(counts: &DailyCounts) -> Vec<(&'static str, i64)> {
    COLUMNS
        .iter()
        .zip(counts.values())
        .map(|((key, _), value)| (*key, i64::try_from(value).unwrap_or(i64::MAX)))
        .collect()
}

/// The table's counts from stored values by key (a key the snapshot lacks
/// counts 0; one the table no longer has is dropped).
fn counts_from(values: Option<&HashMap<String, i64>>) -> DailyCounts {
    let map: serde_json::Map<String, serde_json::Value> = COLUMNS
        .iter()
        .map(|(key, _)| {
            let value = values
                .and_then(|v| v.get(*key))
                .map_or(0, |v| u64::try_from(*v).unwrap_or(0));
            ((*key).to_owned(), value.into())
        })
        .collect();
    serde_json::from_value(serde_json::Value::Object(map)).expect("every column is a count")
}

/// Stores `report`'s rows in the snapshot of `date` that `tx` is writing;
/// returns how many rows. The one call a report needs to be snapshotted.
///
/// # Errors
/// SQLite errors (the snapshot's transaction then rolls back whole).
pub(crate) fn put_report<R: MeetingReport>(
    tx: &Transaction<'_>,
    date: &str,
    report: &R,
) -> Result<usize> {
    let mut insert = tx.prepare_cached(SNAPSHOT_VALUE_INSERT_SQL)?;
    let rows = report.report_rows();
    for row in &rows {
        for (key, value) in &row.values {
            insert.execute(params![date, R::REPORT, row.compound, key, value])?;
        }
    }
    Ok(rows.len())
}

/// The revisions of `live` against the `snapshot` of its rows: per live row,
/// the keys whose value differs from the stored one. A compound the
/// snapshot lacks (enrolled since) is all revision; a key its stored row
/// lacks (added to the report since) is not compared.
pub fn revisions(snapshot: &StoredRows, live: &[ReportRow<'_>]) -> Vec<Revisions> {
    live.iter()
        .map(|row| {
            let stored = snapshot.get(row.compound);
            row.values
                .iter()
                .filter_map(|&(key, now)| {
                    let then = match stored {
                        Some(stored) => *stored.get(key)?,
                        None => 0,
                    };
                    (now != then).then(|| (key, now.saturating_sub(then)))
                })
                .collect()
        })
        .collect()
}

/// The revisions of the total: the per-key sums of the rows' revisions, in
/// the order keys first appear.
pub fn total_revisions(rows: &[Revisions]) -> Revisions {
    let mut total: Revisions = Vec::new();
    for (key, delta) in rows.iter().flatten() {
        match total.iter_mut().find(|(k, _)| k == key) {
            Some((_, sum)) => *sum = sum.saturating_add(*delta),
            None => total.push((key, *delta)),
        }
    }
    total.retain(|(_, delta)| *delta != 0);
    total
}

fn day(date: chrono::NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

impl HubStore {
    /// Whether this database has the snapshot tables (one opened read-only
    /// before they were added has none, and so no snapshot).
    fn snapshots_present(&self) -> Result<bool> {
        Ok(self.conn.table_exists("snapshot_value")?)
    }

    /// When the snapshot of `date` was taken, if one was.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn snapshot_taken_at(&self, date: chrono::NaiveDate) -> Result<Option<String>> {
        if !self.snapshots_present()? {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(SNAPSHOT_TAKEN_AT_SQL, [day(date)], |row| row.get(0))
            .optional()?)
    }

    /// Takes the meeting's snapshot of `date` at `taken_at`: in one write
    /// transaction, the daily table of `date` read inside it, stored whole.
    /// An earlier snapshot of `date` is replaced when `replace`; otherwise
    /// its presence leaves everything as it was and returns `None` (the
    /// cut-off worker's "only when none exists", decided inside the
    /// transaction, so a snapshot taken by hand meanwhile is never
    /// overwritten).
    ///
    /// # Errors
    /// SQLite errors; nothing is written then.
    pub fn take_snapshot(
        &self,
        date: chrono::NaiveDate,
        taken_at: chrono::DateTime<chrono::Utc>,
        replace: bool,
    ) -> Result<Option<SnapshotTaken>> {
        let day = day(date);
        let taken_at = taken_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        // `new_unchecked` borrows the connection shared, so the reports are
        // read through the usual `&self` methods inside the transaction.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let replaced: Option<String> = tx
            .query_row(SNAPSHOT_TAKEN_AT_SQL, [&day], |row| row.get(0))
            .optional()?;
        if replaced.is_some() && !replace {
            return Ok(None);
        }
        for sql in SNAPSHOT_DELETE_SQL {
            tx.execute(sql, [&day])?;
        }
        tx.execute(SNAPSHOT_INSERT_SQL, params![day, taken_at])?;
        let table = self.table(date)?;
        {
            let mut insert = tx.prepare_cached(SNAPSHOT_COMPOUND_INSERT_SQL)?;
            for row in &table.compounds {
                insert.execute(params![
                    day,
                    row.code,
                    row.name,
                    row.last_sync,
                    row.caught_up,
                    row.source.as_str(),
                    row.digests_agree,
                ])?;
            }
        }
        let rows = put_report(&tx, &day, &table)?;
        // Each further report of the meeting is one call here.
        put_report(&tx, &day, &self.day_log_beside(&table)?)?;
        tx.commit()?;
        Ok(Some(SnapshotTaken {
            date,
            taken_at,
            rows,
            replaced,
        }))
    }

    /// The stored rows of report `R` in the snapshot of `date` (empty when
    /// there is none).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn snapshot_rows<R: MeetingReport>(&self, date: chrono::NaiveDate) -> Result<StoredRows> {
        let mut rows = StoredRows::new();
        if !self.snapshots_present()? {
            return Ok(rows);
        }
        let mut stmt = self.conn.prepare_cached(SNAPSHOT_VALUE_SELECT_SQL)?;
        let mut q = stmt.query(params![day(date), R::REPORT])?;
        while let Some(row) = q.next()? {
            rows.entry(row.get(0)?)
                .or_default()
                .insert(row.get(1)?, row.get(2)?);
        }
        Ok(rows)
    }

    /// What changed in `live` (report `R` of `date`) since the cut-off:
    /// `None` when no snapshot of `date` exists.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn since_cutoff<R: MeetingReport>(
        &self,
        date: chrono::NaiveDate,
        live: &R,
    ) -> Result<Option<SinceCutoff>> {
        let Some(taken_at) = self.snapshot_taken_at(date)? else {
            return Ok(None);
        };
        let rows = revisions(&self.snapshot_rows::<R>(date)?, &live.report_rows());
        let total = total_revisions(&rows);
        Ok(Some(SinceCutoff {
            taken_at,
            rows,
            total,
        }))
    }

    /// The live daily table of `date` and what changed in it since the
    /// snapshot of `date` (`None` without one), read in one transaction so a
    /// snapshot taken meanwhile is either wholly compared with or not at all.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table_since_cutoff(
        &self,
        date: chrono::NaiveDate,
    ) -> Result<(Table, Option<SinceCutoff>)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let table = self.table(date)?;
        let since = self.since_cutoff(date, &table)?;
        tx.commit()?;
        Ok((table, since))
    }

    /// The daily table of `date` exactly as the snapshot of `date` holds it
    /// (rows, names, freshness; the total their sum), with when it was
    /// taken; `None` when there is none.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn table_snapshot(&self, date: chrono::NaiveDate) -> Result<Option<(Table, String)>> {
        let Some(taken_at) = self.snapshot_taken_at(date)? else {
            return Ok(None);
        };
        let values = self.snapshot_rows::<Table>(date)?;
        let mut stmt = self.conn.prepare_cached(SNAPSHOT_COMPOUND_SELECT_SQL)?;
        let compounds: Vec<CompoundRow> = stmt
            .query_map([day(date)], |row| {
                let code: String = row.get(0)?;
                Ok(CompoundRow {
                    counts: counts_from(values.get(&code)),
                    code,
                    name: row.get(1)?,
                    last_sync: row.get(2)?,
                    caught_up: row.get(3)?,
                    source: Source::from_name(text(row, 4)?),
                    digests_agree: row.get(5)?,
                    member_of: None,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut total = DailyCounts::default();
        for row in &compounds {
            total += row.counts;
        }
        Ok(Some((
            Table {
                date,
                compounds,
                total,
            },
            taken_at,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(rows: &[(&str, &[(&str, i64)])]) -> StoredRows {
        rows.iter()
            .map(|(compound, values)| {
                (
                    (*compound).to_owned(),
                    values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn revisions_name_each_changed_key_of_each_row() {
        let snapshot = stored(&[
            ("A", &[("persons", 10), ("home_isolation", 2)]),
            ("B", &[("persons", 5), ("home_isolation", 0)]),
        ]);
        let live = [
            ReportRow {
                compound: "A",
                values: vec![("persons", 13), ("home_isolation", 1)],
            },
            ReportRow {
                compound: "B",
                values: vec![("persons", 5), ("home_isolation", 0), ("new_key", 7)],
            },
            ReportRow {
                compound: "C",
                values: vec![("persons", 4), ("home_isolation", 0)],
            },
        ];
        let rows = revisions(&snapshot, &live);
        assert_eq!(
            rows,
            vec![
                vec![("persons", 3), ("home_isolation", -1)],
                vec![],
                vec![("persons", 4)],
            ]
        );
        assert_eq!(
            total_revisions(&rows),
            vec![("persons", 7), ("home_isolation", -1)]
        );
        assert_eq!(
            total_revisions(&[vec![("persons", 1)], vec![("persons", -1)]]),
            vec![]
        );
        assert_eq!(revisions(&StoredRows::new(), &[]), Vec::<Revisions>::new());
    }

    #[test]
    fn counts_round_trip_through_stored_values() {
        let counts = DailyCounts {
            households: 3,
            persons: 7,
            released_today: 1,
            ..DailyCounts::default()
        };
        let values: HashMap<String, i64> = counts_values(&counts)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(counts_from(Some(&values)), counts);
        assert_eq!(counts_from(None), DailyCounts::default());
    }
}
