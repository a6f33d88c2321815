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
    /// Where `log` comes from: the records, the compound's report for the
    /// date while its backlog is still arriving, or a member hub's members.
    pub source: Source,
    /// In a detailed log, the member hub this row is a member of.
    pub member_of: Option<String>,
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

/// A batch of the log's rows on their way to the folding thread.
#[derive(Default)]
struct Batch {
    /// The rows' bodies and days, back to back.
    bytes: Vec<u8>,
    rows: Vec<Read>,
}

impl Batch {
    /// Rows sent at once.
    const ROWS: usize = 1024;

    fn push(&mut self, bytes: &[u8]) -> std::ops::Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    fn text(&self, range: &std::ops::Range<usize>) -> &str {
        // Pushed from a `&str`.
        std::str::from_utf8(&self.bytes[range.clone()]).unwrap_or_default()
    }
}

/// One row the log folds, into the fold of table row `compound`.
enum Read {
    /// A live record of `kind`: its body.
    Record {
        kind: Kind,
        compound: usize,
        body: std::ops::Range<usize>,
    },
    /// `n` records of `kind` sharing their days (the aggregate's group).
    Days {
        kind: Kind,
        compound: usize,
        days: [std::ops::Range<usize>; 3],
        n: u64,
    },
}

/// The reading side: rows of enrolled compounds, batched.
struct LogRows<'t> {
    index: CompoundIndex<'t>,
    batch: Batch,
    send: std::sync::mpsc::SyncSender<Batch>,
}

impl LogRows<'_> {
    /// A record row (`compound`, `body`); `false` when the folder has
    /// stopped (it failed: reading on is pointless).
    fn record(&mut self, kind: Kind, row: crate::db::Row<'_>) -> Result<bool> {
        let Some(compound) = self.index.of(row)? else {
            return Ok(true);
        };
        let body = self
            .batch
            .push(row.get_ref(1)?.as_blob().unwrap_or_default());
        self.batch.rows.push(Read::Record {
            kind,
            compound,
            body,
        });
        Ok(self.send_full())
    }

    /// An aggregate row (`compound`, `day`, `day2`, `day3`, `n`).
    fn days(&mut self, kind: Kind, row: crate::db::Row<'_>) -> Result<bool> {
        let Some(compound) = self.index.of(row)? else {
            return Ok(true);
        };
        let days = [
            self.batch.push(text(row, 1)?.as_bytes()),
            self.batch.push(text(row, 2)?.as_bytes()),
            self.batch.push(text(row, 3)?.as_bytes()),
        ];
        let n = u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0);
        self.batch.rows.push(Read::Days {
            kind,
            compound,
            days,
            n,
        });
        Ok(self.send_full())
    }

    fn send_full(&mut self) -> bool {
        self.batch.rows.len() < Batch::ROWS || self.flush()
    }

    /// Sends what is batched; `false` when the folder has stopped.
    fn flush(&mut self) -> bool {
        let batch = std::mem::take(&mut self.batch);
        batch.rows.is_empty() || self.send.send(batch).is_ok()
    }
}

/// The folding side: every batch into the folds, in order.
fn fold_batches<'c>(
    receive: &std::sync::mpsc::Receiver<Batch>,
    mut folds: Vec<LogFold<'c>>,
) -> Result<Vec<LogFold<'c>>> {
    // One reused message per kind (`decode_body_into`).
    let mut scratch: Vec<pb::record::Body> = Kind::ALL.iter().map(|k| k.empty_body()).collect();
    for batch in receive {
        for read in &batch.rows {
            match read {
                Read::Record {
                    kind,
                    compound,
                    body,
                } => {
                    let message =
                        &mut scratch[Kind::ALL.iter().position(|k| k == kind).unwrap_or(0)];
                    kind.decode_body_into(&batch.bytes[body.clone()], message)
                        .map_err(|e| HubError::Malformed(e.to_string()))?;
                    folds[*compound].add(message);
                }
                Read::Days {
                    kind,
                    compound,
                    days,
                    n,
                } => {
                    let days = [
                        batch.text(&days[0]),
                        batch.text(&days[1]),
                        batch.text(&days[2]),
                    ];
                    kind.log_days(&mut folds[*compound], days, *n);
                }
            }
        }
    }
    Ok(folds)
}

/// The row of the table that a record's compound (column 0) folds into.
/// Records come ordered by compound, so the last one found is kept and
/// a run of the same compound costs a byte comparison.
struct CompoundIndex<'t> {
    rows: std::collections::HashMap<&'t str, usize, foldhash::fast::RandomState>,
    last: Option<(Vec<u8>, Option<usize>)>,
}

impl<'t> CompoundIndex<'t> {
    fn new(table: &'t Table) -> Self {
        CompoundIndex {
            rows: table
                .compounds
                .iter()
                .enumerate()
                .map(|(i, row)| (row.code.as_str(), i))
                .collect(),
            last: None,
        }
    }

    /// The table row of `row`'s compound; `None` for a compound that is
    /// not in the table (not enrolled).
    fn of(&mut self, row: crate::db::Row<'_>) -> Result<Option<usize>> {
        let code = row.get_ref(0)?.as_bytes()?;
        if let Some((last, i)) = &self.last
            && last.as_slice() == code
        {
            return Ok(*i);
        }
        let i = self.rows.get(text(row, 0)?).copied();
        self.last = Some((code.to_vec(), i));
        Ok(i)
    }
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
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
                    member_of: None,
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
        let day = date.format("%Y-%m-%d").to_string();
        let folds: Vec<LogFold<'_>> = table
            .compounds
            .iter()
            .map(|_| LogFold::new(&config, date))
            .collect();
        // The rows are read here and folded on a second thread: stepping
        // through SQLite and decoding the bodies take about as long as each
        // other, and the two overlap.
        let folds = std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel::<Batch>(4);
            let folder = scope.spawn(move || fold_batches(&receive, folds));
            let mut rows = LogRows {
                index: CompoundIndex::new(table),
                batch: Batch::default(),
                send,
            };
            let read = self.read_log_rows(date, &config, &mut rows);
            // The folder ends when the batches do.
            drop(rows);
            let folded = match folder.join() {
                Ok(folded) => folded,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            // A read that stopped because the folder failed reports the
            // folder's error.
            match (read, folded) {
                (Ok(()), Ok(folds)) => Ok(folds),
                (_, Err(e)) | (Err(e), _) => Err(e),
            }
        })?;
        let members = if table.compounds.iter().any(|r| r.source == Source::Members) {
            self.member_days(date)?
        } else {
            super::MemberDays::new()
        };
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
            if row.source == Source::Members
                && let Some(days) = members.get(&row.code)
            {
                log = super::member_sum(days).1;
                source = Source::Members;
            }
            compounds.push(LogRow {
                code: row.code.clone(),
                name: row.name.clone(),
                log,
                last_sync: row.last_sync.clone(),
                caught_up: row.caught_up,
                source,
                member_of: None,
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

    /// Reads every row the log of `date` folds, in the order it folds them:
    /// the isolations (and other kinds it reads whole from their own
    /// tables), then the date's records of the day, then the aggregate of
    /// the kinds counted by their days.
    fn read_log_rows(
        &self,
        date: chrono::NaiveDate,
        config: &TableConfig,
        rows: &mut LogRows<'_>,
    ) -> Result<()> {
        let day = date.format("%Y-%m-%d").to_string();
        let period_before = date
            .checked_sub_days(chrono::Days::new(u64::from(config.isolation_days)))
            .unwrap_or(chrono::NaiveDate::MIN)
            .format("%Y-%m-%d")
            .to_string();
        let by_days = crate::aggregates::present(&self.conn)?;
        // A database from before the kinds of the day, opened read-only,
        // has no table of the day (nor any of its records).
        let has_day_table = self.conn.table_exists(crate::kinds::DAY_TABLE)?;
        for kind in Kind::ALL {
            let Some(by) = kind.spec().log else {
                continue;
            };
            let day_kind = matches!(storage(kind), Storage::Day);
            if day_kind && !has_day_table {
                continue;
            }
            match (by, storage(kind)) {
                // Read below, from the date's range and the aggregate.
                (LogBy::Record, Storage::Day) => {}
                (LogBy::Days, Storage::Day) if by_days => {}
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
                    let mut found = stmt.query([&day, &period_before])?;
                    while let Some(row) = found.next()? {
                        if !rows.record(kind, row)? {
                            return Ok(());
                        }
                    }
                }
            }
        }
        // The date's records of the day that the log reads whole, in one
        // pass over the date's range (after the isolations, so the health
        // checks find their persons known: [`LogFold`]).
        if has_day_table {
            let mut stmt = self.conn.prepare_cached(
                "SELECT compound, body, kind FROM day_record WHERE day = ?1 AND deleted = 0",
            )?;
            let mut found = stmt.query([&day])?;
            while let Some(row) = found.next()? {
                let Some(kind) = Kind::from_i64(row.get(2)?) else {
                    continue;
                };
                if kind.spec().log == Some(LogBy::Record) && !rows.record(kind, row)? {
                    return Ok(());
                }
            }
        }
        // The kinds counted by their days, from the aggregate in one pass:
        // only groups that can touch the date (begun by it, not closed
        // before it).
        if by_days {
            let mut stmt = self.conn.prepare_cached(
                "SELECT compound, day, day2, day3, n, kind FROM agg_day
                 WHERE n > 0 AND day <= ?1
                   AND (day = ?1 OR day2 = '' OR day2 >= ?1 OR day3 >= ?1)",
            )?;
            let mut found = stmt.query([&day])?;
            while let Some(row) = found.next()? {
                let Some(kind) = Kind::from_i64(row.get(5)?) else {
                    continue;
                };
                if kind.spec().log == Some(LogBy::Days) && !rows.days(kind, row)? {
                    return Ok(());
                }
            }
        }
        rows.flush();
        Ok(())
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

    /// The street clerk's note for `date`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn log_note(&self, date: chrono::NaiveDate) -> Result<Option<String>> {
        if !self.conn.table_exists("log_note")? {
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
