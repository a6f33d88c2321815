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
        self.each_live(|kind| kind.spec().log.is_some(), |body| fold.add(body))?;
        Ok(fold.finish(table))
    }
}
