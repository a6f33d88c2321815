//! The street's daily log (日志): each compound's log for a date, read from
//! the records of that day, and the clerk's note.

use lianfang_proto::kinds::LogBy;
use lianfang_proto::log::{DailyLog, LogFold};

use super::snapshot::{MeetingReport, ReportRow, SinceCutoff};
use super::*;
use crate::kinds::{Storage, storage};

/// One compound's row of the daily log, with its freshness (as the
/// table's row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub code: String,
    pub name: String,
    pub log: DailyLog,
    pub last_sync: Option<String>,
    pub caught_up: bool,
    /// Where `log` comes from: the records, or the compound's report for
    /// the date while its backlog is still arriving.
    pub source: Source,
}

/// The street's daily log for one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayLog {
    pub date: chrono::NaiveDate,
    pub compounds: Vec<LogRow>,
    pub total: DailyLog,
    /// The street clerk's narrative for the day.
    pub note: Option<String>,
}

impl MeetingReport for DayLog {
    const REPORT: &'static str = "log";

    fn report_rows(&self) -> Vec<ReportRow<'_>> {
        self.compounds
            .iter()
            .map(|row| ReportRow {
                compound: &row.code,
                values: log_values(&row.log),
            })
            .collect()
    }
}

fn log_values(log: &DailyLog) -> Vec<(&'static str, i64)> {
    lianfang_proto::log::KEYS
        .iter()
        .zip(log.values())
        .map(|((key, _), value)| (*key, i64::try_from(value).unwrap_or(i64::MAX)))
        .collect()
}

impl HubStore {
    /// The live log of `date` and what changed in it since the date's
    /// snapshot (`None` without one), read in one transaction.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn log_since_cutoff(
        &self,
        date: chrono::NaiveDate,
    ) -> Result<(DayLog, Option<SinceCutoff>)> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
        let log = self.day_log(date)?;
        let since = self.since_cutoff(date, &log)?;
        tx.commit()?;
        Ok((log, since))
    }

    /// The daily log of `date` as the snapshot of `date` holds it (figures
    /// and freshness as they stood; the note as it is now), with when it was
    /// taken; `None` when there is none.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn log_snapshot(&self, date: chrono::NaiveDate) -> Result<Option<(DayLog, String)>> {
        let Some((table, taken_at)) = self.table_snapshot(date)? else {
            return Ok(None);
        };
        let values = self.snapshot_rows::<DayLog>(date)?;
        let compounds: Vec<LogRow> = table
            .compounds
            .into_iter()
            .map(|row| {
                let stored = values.get(&row.code);
                let log = DailyLog::from_values(std::array::from_fn(|i| {
                    stored
                        .and_then(|v| v.get(lianfang_proto::log::KEYS[i].0))
                        .map_or(0, |&n| u64::try_from(n).unwrap_or(0))
                }));
                LogRow {
                    code: row.code,
                    name: row.name,
                    log,
                    last_sync: row.last_sync,
                    caught_up: row.caught_up,
                    source: row.source,
                }
            })
            .collect();
        let mut total = DailyLog::default();
        for row in &compounds {
            total.add(&row.log);
        }
        Ok(Some((
            DayLog {
                date,
                compounds,
                total,
                note: self.log_note(date)?,
            },
            taken_at,
        )))
    }

    /// The daily log for `date`: every enrolled compound, sorted by code,
    /// and the street total. The arrivals are the table's.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn day_log(&self, date: chrono::NaiveDate) -> Result<DayLog> {
        let table = self.table(date)?;
        self.day_log_beside(&table)
    }

    /// The daily log of `table`'s date, beside that table.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn day_log_beside(&self, table: &Table) -> Result<DayLog> {
        let date = table.date;
        let config = self.table_config()?;
        let index: std::collections::HashMap<&str, usize> = table
            .compounds
            .iter()
            .enumerate()
            .map(|(i, row)| (row.code.as_str(), i))
            .collect();
        let mut folds: Vec<LogFold<'_>> = table
            .compounds
            .iter()
            .map(|_| LogFold::new(&config, date))
            .collect();
        let day = date.format("%Y-%m-%d").to_string();
        let period_before = date
            .checked_sub_days(chrono::Days::new(u64::from(config.isolation_days)))
            .unwrap_or(chrono::NaiveDate::MIN)
            .format("%Y-%m-%d")
            .to_string();
        let by_days = crate::aggregates::present(&self.conn)?;
        // A database from before the kinds of the day, opened read-only,
        // has no table of the day (nor any of its records).
        let has_day_table = self.has_table(crate::kinds::DAY_TABLE)?;
        // One reused message per kind (`decode_body_into`).
        let mut scratch: Vec<pb::record::Body> = Kind::ALL.iter().map(|k| k.empty_body()).collect();
        let mut fold_row =
            |kind: Kind, row: &rusqlite::Row<'_>, fold: &mut LogFold<'_>| -> Result<()> {
                let body = &mut scratch[Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)];
                kind.decode_body_into(row.get_ref(1)?.as_blob().unwrap_or_default(), body)
                    .map_err(|e| HubError::Malformed(e.to_string()))?;
                fold.add(body);
                Ok(())
            };
        // The date's records of the day that the log reads whole, in one
        // pass over the date's index entries.
        if has_day_table {
            let mut stmt = self.conn.prepare_cached(
                "SELECT compound, body, kind FROM day_record WHERE day = ?1 AND deleted = 0",
            )?;
            let mut rows = stmt.query([&day])?;
            while let Some(row) = rows.next()? {
                let Some(kind) = Kind::from_i64(row.get(2)?) else {
                    continue;
                };
                if kind.spec().log != Some(LogBy::Record) {
                    continue;
                }
                if let Some(&i) = index.get(text(row, 0)?) {
                    fold_row(kind, row, &mut folds[i])?;
                }
            }
        }
        for kind in Kind::ALL {
            let Some(by) = kind.spec().log else {
                continue;
            };
            let day_kind = matches!(storage(kind), Storage::Day);
            if day_kind && !has_day_table {
                continue;
            }
            match (by, storage(kind)) {
                // Read above.
                (LogBy::Record, Storage::Day) => {}
                // Counted by their days from the aggregate: only groups that
                // can touch the date (begun by it, not closed before it).
                (LogBy::Days, Storage::Day) if by_days => {
                    let mut stmt = self.conn.prepare_cached(
                        "SELECT compound, day, day2, day3, n FROM agg_day
                         WHERE kind = ?1 AND n > 0 AND day <= ?2
                           AND (day = ?2 OR day2 = '' OR day2 >= ?2 OR day3 >= ?2)",
                    )?;
                    let mut rows = stmt.query(params![kind as i64, day])?;
                    while let Some(row) = rows.next()? {
                        if let Some(&i) = index.get(text(row, 0)?) {
                            let days = [text(row, 1)?, text(row, 2)?, text(row, 3)?];
                            kind.log_days(&mut folds[i], days, row.get::<_, i64>(4)? as u64);
                        }
                    }
                }
                // Every live record of the kind its table says the date may
                // count (isolations: home ones begun by the date), or a kind
                // of the day counted by its days without the aggregate.
                (LogBy::Record | LogBy::Days, storage) => {
                    let rows_sql = match storage {
                        Storage::Projection { log_rows_sql, .. } => log_rows_sql,
                        Storage::Generic | Storage::Day => "?1 IS NOT NULL AND ?2 IS NOT NULL",
                    };
                    let mut stmt = self.conn.prepare_cached(&format!(
                        "SELECT compound, body FROM {} WHERE deleted = 0 AND ({rows_sql})",
                        record_table(kind)
                    ))?;
                    let mut rows = stmt.query([&day, &period_before])?;
                    while let Some(row) = rows.next()? {
                        if let Some(&i) = index.get(text(row, 0)?) {
                            fold_row(kind, row, &mut folds[i])?;
                        }
                    }
                }
            }
        }
        let mut compounds = Vec::with_capacity(table.compounds.len());
        for (row, fold) in table.compounds.iter().zip(folds) {
            let mut log = fold.finish(&row.counts);
            let mut source = Source::Records;
            if row.source == Source::Reported
                && let Some(reported) = self.reported_log(&row.code, &day)?
            {
                log = reported;
                source = Source::Reported;
            }
            compounds.push(LogRow {
                code: row.code.clone(),
                name: row.name.clone(),
                log,
                last_sync: row.last_sync.clone(),
                caught_up: row.caught_up,
                source,
            });
        }
        let mut total = DailyLog::default();
        for row in &compounds {
            total.add(&row.log);
        }
        Ok(DayLog {
            date,
            compounds,
            total,
            note: self.log_note(date)?,
        })
    }

    /// The log figures of a compound's daily report for `day`, when it sent
    /// one that carries them.
    fn reported_log(&self, compound: &str, day: &str) -> Result<Option<DailyLog>> {
        let report: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT body FROM response WHERE compound = ?1 AND kind = ?2 AND id = ?3",
                params![compound, Kind::DailyReport as i64, day],
                |r| r.get(0),
            )
            .optional()?;
        Ok(report
            .and_then(|b| pb::DailyReport::decode(b.as_slice()).ok())
            .and_then(|r| r.log)
            .map(|log| DailyLog::from_report(&log)))
    }

    /// Whether the database has a table of that name.
    fn has_table(&self, name: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [name],
            |row| row.get(0),
        )?)
    }

    /// The street clerk's note for `date`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn log_note(&self, date: chrono::NaiveDate) -> Result<Option<String>> {
        if !self.has_table("log_note")? {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT text FROM log_note WHERE date = ?1",
                [date.format("%Y-%m-%d").to_string()],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Sets the street clerk's note for `date` (replacing an earlier one;
    /// an empty text removes it).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_log_note(&self, date: chrono::NaiveDate, note: &str) -> Result<()> {
        let day = date.format("%Y-%m-%d").to_string();
        if note.trim().is_empty() {
            self.conn
                .execute("DELETE FROM log_note WHERE date = ?1", [day])?;
        } else {
            self.conn.execute(
                "INSERT INTO log_note (date, text, written_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (date) DO UPDATE SET text = excluded.text, written_at = excluded.written_at",
                params![day, note, now_rfc3339()],
            )?;
        }
        Ok(())
    }
}
