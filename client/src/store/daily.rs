//! The node's own daily table and the daily report it sends.

use lianfang_proto::log::DailyLog;

use super::*;

/// `meta` key counting the writes that changed a record a report reads
/// (every kind but the daily report itself).
const GENERATION: &str = "records_generation";

/// `meta` key: the date, configuration and generation the last report was
/// computed from.
const REPORT_BASIS: &str = "report_basis";

/// Notes, inside a write's transaction, that records a report reads
/// changed.
///
/// # Errors
/// SQLite errors.
pub(super) fn records_changed(tx: &Connection) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
        [GENERATION],
    )?;
    Ok(())
}

impl Store {
    /// Records the compound's own table for `date` as a daily report (urgent
    /// lane), unless the last report for that date says the same; `now`
    /// (the sync's clock seam) stamps the report.
    ///
    /// # Errors
    /// Store errors.
    pub fn report_at(
        &mut self,
        date: chrono::NaiveDate,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let config = self.table_config()?;
        // What the last report was computed from: when the date, the
        // configuration and the records are the same, so is the report,
        // and a session does not read every record again to learn it.
        let basis = format!(
            "{date}|{}|{}",
            serde_json::to_string(&config).unwrap_or_default(),
            self.conn
                .query_row(GET_META_SQL, [GENERATION], |row| row.get::<_, String>(0))
                .optional()?
                .unwrap_or_default()
        );
        let last = self
            .conn
            .query_row(GET_META_SQL, [REPORT_BASIS], |row| row.get::<_, String>(0))
            .optional()?;
        if last.as_deref() == Some(basis.as_str()) {
            return Ok(());
        }
        let counts = self.table(date, &config)?;
        let log = self.day_log(date, &config, &counts)?;
        let id = date.format("%Y-%m-%d").to_string();
        let unchanged = match self.get(Kind::DailyReport, &id)?.and_then(|r| r.body) {
            Some(pb::record::Body::DailyReport(last)) => {
                DailyCounts::from_report(&last) == counts
                    && last.log.as_ref().map(DailyLog::from_report) == Some(log)
            }
            _ => false,
        };
        if !unchanged {
            let computed_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            self.write(
                [Change {
                    kind: Kind::DailyReport,
                    id,
                    body: Some(pb::record::Body::DailyReport(counts.to_report(
                        &log,
                        date,
                        computed_at,
                    ))),
                }],
                u64::try_from(now.timestamp_millis()).unwrap_or(0),
            )?;
        }
        self.conn
            .execute(SET_META_SQL, params![REPORT_BASIS, basis])?;
        Ok(())
    }

    /// The compound's own view of its daily table.
    ///
    /// # Errors
    /// SQLite errors or undecodable bodies.
    pub fn table(&self, date: chrono::NaiveDate, config: &TableConfig) -> Result<DailyCounts> {
        let builder = TableBuilder::new(config, date);
        let mut counts = DailyCounts::default();
        self.each_live(
            |kind| kind.spec().in_table,
            |body| lianfang_proto::kinds::count(body, &builder, &mut counts),
        )?;
        Ok(counts)
    }

    /// Calls `f` with the body of every live record of the kinds `wanted`
    /// says, record by record, so a large compound never has every body
    /// decoded at once.
    ///
    /// # Errors
    /// SQLite errors or undecodable bodies.
    pub(super) fn each_live(
        &self,
        wanted: impl Fn(Kind) -> bool,
        mut f: impl FnMut(&pb::record::Body),
    ) -> Result<()> {
        let kinds: Vec<String> = Kind::ALL
            .into_iter()
            .filter(|kind| wanted(*kind))
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
            f(&decode_body(
                kind,
                row.get_ref(1)?.as_blob().unwrap_or_default(),
            )?);
        }
        Ok(())
    }
}
