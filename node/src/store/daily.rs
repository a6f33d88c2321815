//! The node's own daily table and the daily report it sends.

use super::*;

impl Store {
    /// Records the compound's own table for `date` as a daily report (urgent
    /// lane), unless the last report for that date says the same.
    ///
    /// # Errors
    /// Store errors.
    pub fn report_today(&mut self, date: chrono::NaiveDate) -> Result<()> {
        self.report_at(date, crate::now())
    }

    /// As [`Store::report_today`], with the wall clock read by the caller
    /// (the sync's clock seam): `now` stamps the report.
    ///
    /// # Errors
    /// Store errors.
    pub fn report_at(
        &mut self,
        date: chrono::NaiveDate,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let counts = self.table(date, &self.table_config()?)?;
        let id = date.format("%Y-%m-%d").to_string();
        let unchanged = match self.get(Kind::DailyReport, &id)?.and_then(|r| r.body) {
            Some(pb::record::Body::DailyReport(last)) => DailyCounts::from_report(&last) == counts,
            _ => false,
        };
        if !unchanged {
            let computed_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            self.write(
                [Change {
                    kind: Kind::DailyReport,
                    id,
                    body: Some(pb::record::Body::DailyReport(
                        counts.to_report(date, computed_at),
                    )),
                }],
                u64::try_from(now.timestamp_millis()).unwrap_or(0),
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
