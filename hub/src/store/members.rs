//! Federation, the receiving side: what the hubs of the level below sent
//! (a street hub at its district). A member of this hub is either a
//! compound, whose node sends records, or a hub of the level below, whose
//! upward link sends [`pb::MemberDay`]s (its own members' figures per date)
//! and [`pb::DirectiveRollup`]s; a token is bound to one log, which holds
//! one or the other.
//!
//! The table and the log count a member hub's row for a date as the sum of
//! its member days of that date (`source: members`); `--detail` lists the
//! member days themselves under the row (`member_of`).

use std::collections::HashMap;

use lianfang_proto::log::DailyLog;

use super::*;

/// One member of a member hub, for one date, as that hub sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDayRow {
    pub code: String,
    pub name: String,
    pub counts: DailyCounts,
    pub log: DailyLog,
    pub last_sync: Option<String>,
    pub caught_up: bool,
    /// Where the member hub's figures came from (records, reported, members).
    pub source: String,
}

impl MemberDayRow {
    fn from_pb(day: pb::MemberDay) -> MemberDayRow {
        let figures = day.figures.unwrap_or_default();
        MemberDayRow {
            code: day.member,
            name: day.name,
            counts: DailyCounts::from_report(&figures),
            log: figures
                .log
                .as_ref()
                .map(DailyLog::from_report)
                .unwrap_or_default(),
            last_sync: Some(day.last_sync).filter(|s| !s.is_empty()),
            caught_up: day.caught_up,
            source: day.source,
        }
    }
}

/// The member days of one date, by the code of the member hub that sent them.
pub type MemberDays = HashMap<String, Vec<MemberDayRow>>;

/// The sum of `rows`' table and log.
pub fn member_sum(rows: &[MemberDayRow]) -> (DailyCounts, DailyLog) {
    let mut counts = DailyCounts::default();
    let mut log = DailyLog::default();
    for row in rows {
        counts += row.counts;
        log.add(&row.log);
    }
    (counts, log)
}

/// The range of member-day ids of `date`: `YYYY-MM-DD/` up to `YYYY-MM-DD0`
/// (`0` follows `/`).
fn id_range(date: chrono::NaiveDate) -> (String, String) {
    let day = date.format("%Y-%m-%d").to_string();
    (format!("{day}/"), format!("{day}0"))
}

impl HubStore {
    /// The live member days of `date` from every member hub, each hub's in
    /// member order.
    ///
    /// # Errors
    /// SQLite errors, or a stored body that does not decode.
    pub fn member_days(&self, date: chrono::NaiveDate) -> Result<MemberDays> {
        let (from, to) = id_range(date);
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.compound, r.body FROM compound c JOIN response r
               ON r.compound = c.code AND r.kind = ?1 AND r.id >= ?2 AND r.id < ?3
             WHERE r.deleted = 0
             ORDER BY r.compound, r.id",
        )?;
        let mut rows = stmt.query(params![Kind::MemberDay as i64, from, to])?;
        let mut days = MemberDays::new();
        while let Some(row) = rows.next()? {
            let hub: String = row.get(0)?;
            let body: Vec<u8> = row.get(1)?;
            let day = pb::MemberDay::decode(body.as_slice())
                .map_err(|e| HubError::Malformed(format!("stored member day of {hub}: {e}")))?;
            days.entry(hub)
                .or_default()
                .push(MemberDayRow::from_pb(day));
        }
        Ok(days)
    }

    /// Two marks of what the table and the log read: the first changes
    /// whenever any date's figures may have (the lanes' cursors, i.e. every
    /// applied entry; the compounds; the configuration), the second when a
    /// member's freshness may have (the members' last syncs). The upward
    /// link recomputes every date of its window when the first moved, and
    /// only today when the second alone did.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn change_marks(&self) -> Result<(String, String)> {
        let (names, seconds) = match self.conn.dialect() {
            crate::db::Dialect::Sqlite => ("group_concat(name, ',')", "unixepoch(last_sync)"),
            crate::db::Dialect::Postgres => (
                "string_agg(name, ',' ORDER BY code)",
                "CAST(extract(epoch FROM CAST(last_sync AS timestamptz)) AS BIGINT)",
            ),
        };
        Ok(self.conn.query_row(
            &format!(
                "SELECT (SELECT COALESCE(SUM(cursor), 0) FROM lane_cursor)
                    || '|' || (SELECT COUNT(*) || COALESCE({names}, '') FROM compound)
                    || '|' || COALESCE((SELECT value FROM setting WHERE key = 'table_config'), ''),
                    (SELECT COALESCE(SUM({seconds}), 0) || '|' || COUNT(last_sync) FROM node)"
            ),
            (),
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?)
    }

    /// What `member` (a member hub) reported of the directive it was
    /// passed as `directive_id`, if anything yet.
    ///
    /// # Errors
    /// SQLite errors, or a stored body that does not decode.
    pub fn rollup(&self, member: &str, directive_id: &str) -> Result<Option<pb::DirectiveRollup>> {
        self.response(member, Kind::DirectiveRollup, directive_id)
    }
}

/// `table` with each member hub's row replaced by the member days it sent
/// (each naming it in `member_of`), in the same order; the total is the
/// same, since the replaced row was their sum.
pub fn table_detail(table: Table, members: &MemberDays) -> Table {
    let mut rows = Vec::with_capacity(table.compounds.len());
    for row in table.compounds {
        match members.get(&row.code) {
            Some(days) if row.source == Source::Members => {
                rows.extend(days.iter().map(|day| CompoundRow {
                    code: day.code.clone(),
                    name: day.name.clone(),
                    counts: day.counts,
                    last_sync: day.last_sync.clone(),
                    caught_up: day.caught_up,
                    source: Source::from_name(&day.source),
                    digests_agree: None,
                    member_of: Some(row.code.clone()),
                }));
            }
            _ => rows.push(row),
        }
    }
    Table {
        compounds: rows,
        ..table
    }
}

/// The daily log's rows detailed as [`table_detail`] details the table's.
pub fn log_detail(log: DayLog, members: &MemberDays) -> DayLog {
    let mut rows = Vec::with_capacity(log.compounds.len());
    for row in log.compounds {
        match members.get(&row.code) {
            Some(days) if row.source == Source::Members => {
                rows.extend(days.iter().map(|day| LogRow {
                    code: day.code.clone(),
                    name: day.name.clone(),
                    log: day.log,
                    last_sync: day.last_sync.clone(),
                    caught_up: day.caught_up,
                    source: Source::from_name(&day.source),
                    member_of: Some(row.code.clone()),
                }));
            }
            _ => rows.push(row),
        }
    }
    DayLog {
        compounds: rows,
        ..log
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(id: &str) -> pb::HubMessage {
        pb::HubMessage {
            directive_id: id.into(),
            issued_at: "2020-02-20T02:00:00Z".into(),
            body: Some(pb::hub_message::Body::Notice(pb::Notice {
                title: "区级通知".into(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn a_directive_from_above_is_passed_on_once_and_rolled_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::test_store(dir.path());
        store.enroll("HM001", Some("联洋新苑")).unwrap();
        store.enroll("HM002", Some("仁恒")).unwrap();
        let local = store.relay_from_above(1, &notice("9")).unwrap();
        let local = local.expect("passed on the first time");
        assert_ne!(local, 0);
        assert_eq!(store.relayed_seq().unwrap(), 1);
        // The same entry again (a crash before the cursor, a replay): nothing.
        assert_eq!(store.relay_from_above(1, &notice("9")).unwrap(), None);
        for compound in ["HM001", "HM002"] {
            assert_eq!(
                crate::directives::down_head(&store.conn, compound).unwrap(),
                1,
                "{compound} has it once"
            );
        }
        let rollups = store.rollups().unwrap();
        assert_eq!(rollups.len(), 1);
        assert_eq!(rollups[0].directive_id, "9");
        assert_eq!(
            (
                rollups[0].compounds,
                rollups[0].delivered,
                rollups[0].acknowledged
            ),
            (2, 0, 0)
        );
        // HM001's node takes it: delivered.
        crate::directives::mark_delivered(&store.conn, "HM001", 1).unwrap();
        let rollups = store.rollups().unwrap();
        assert_eq!((rollups[0].delivered, rollups[0].acknowledged), (1, 0));
    }

    #[test]
    fn a_detailed_table_lists_a_member_hubs_members_with_the_same_total() {
        let day = |member: &str, households: u64| MemberDayRow {
            code: member.into(),
            name: String::new(),
            counts: DailyCounts {
                households,
                ..Default::default()
            },
            log: DailyLog::default(),
            last_sync: None,
            caught_up: true,
            source: "records".into(),
        };
        let row = |code: &str, households: u64, source: Source| CompoundRow {
            code: code.into(),
            name: String::new(),
            counts: DailyCounts {
                households,
                ..Default::default()
            },
            last_sync: None,
            caught_up: true,
            source,
            digests_agree: None,
            member_of: None,
        };
        let members: MemberDays =
            HashMap::from([("S01".to_owned(), vec![day("HM001", 3), day("HM002", 4)])]);
        assert_eq!(member_sum(&members["S01"]).0.households, 7);
        let table = Table {
            date: chrono::NaiveDate::from_ymd_opt(2020, 2, 20).unwrap(),
            compounds: vec![
                row("S01", 7, Source::Members),
                row("X01", 5, Source::Records),
            ],
            total: DailyCounts {
                households: 12,
                ..Default::default()
            },
        };
        let detail = table_detail(table, &members);
        let rows: Vec<(&str, Option<&str>, u64)> = detail
            .compounds
            .iter()
            .map(|r| (r.code.as_str(), r.member_of.as_deref(), r.counts.households))
            .collect();
        assert_eq!(
            rows,
            [
                ("HM001", Some("S01"), 3),
                ("HM002", Some("S01"), 4),
                ("X01", None, 5)
            ]
        );
        assert_eq!(detail.total.households, 12);
    }
}
