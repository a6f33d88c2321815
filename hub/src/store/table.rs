//! Reading the merged records: the daily table, counts, single records.

use super::*;

impl HubStore {
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
                        COALESCE((SELECT MIN(CASE WHEN l.cursor >= l.head THEN 1 ELSE 0 END)
                                  FROM node n JOIN lane_cursor l ON l.node = n.id
                                  WHERE n.compound = c.code AND n.revoked_at IS NULL
                                    AND n.last_sync IS NOT NULL), 0)
                 FROM compound c ORDER BY c.code",
            )?;
            stmt.query_map((), |row| {
                Ok(CompoundRow {
                    code: row.get(0)?,
                    name: row.get(1)?,
                    counts: DailyCounts::default(),
                    last_sync: row.get(2)?,
                    digests_agree: row.get::<_, Option<i64>>(3)?.map(|a| a != 0),
                    caught_up: row.get::<_, i64>(4)? != 0,
                    source: Source::Records,
                    member_of: None,
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
        // A member hub's row is the sum of what it sent of its members.
        let members = self.member_days(date)?;
        for row in &mut rows {
            if let Some(days) = members.get(&row.code) {
                row.counts = super::member_sum(days).0;
                row.source = Source::Members;
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
        let index: std::collections::HashMap<&str, usize, foldhash::fast::RandomState> = codes
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

    pub(super) fn scan_counts(
        &self,
        builder: &TableBuilder<'_>,
        counts: &mut [DailyCounts],
        slot: impl Fn(&str) -> Option<usize>,
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT compound, housing FROM household WHERE deleted = 0")?;
        let mut q = stmt.query(())?;
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
        let mut q = stmt.query(())?;
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
        let mut q = stmt.query(())?;
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
}
