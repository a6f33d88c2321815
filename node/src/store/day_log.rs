//! The compound's own daily log (日志), from its records.

use lianfang_proto::log::{DailyLog, LogFold};

use super::*;

impl Store {
    /// The compound's own daily log for `date` under `config`; `table` is
    /// its own table for the same date (the arrivals are the table's).
    ///
    /// # Errors
    /// SQLite errors or undecodable bodies.
    pub fn day_log(
        &self,
        date: chrono::NaiveDate,
        config: &TableConfig,
        table: &DailyCounts,
    ) -> Result<DailyLog> {
        let mut fold = LogFold::new(config, date);
        let kinds: Vec<String> = Kind::ALL
            .into_iter()
            .filter(|kind| kind.spec().log.is_some())
            .map(|kind| (kind as i64).to_string())
            .collect();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT kind, body FROM record WHERE deleted = 0 AND kind IN ({})",
            kinds.join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let Some(kind) = Kind::from_i64(row.get(0)?) else {
                continue;
            };
            let body = decode_body(kind, row.get_ref(1)?.as_blob().unwrap_or_default())?;
            fold.add(&body);
        }
        Ok(fold.finish(table))
    }
}
