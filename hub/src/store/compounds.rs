//! One compound as the street office follows it: its liaison official
//! (公务员对点联系), its node's lanes (cursors and last reported heads), its
//! down log, the last refusal of its data; and the street leaders' daily
//! inspections (巡察) of compounds.

use super::*;

pub(super) const INSPECTION_SQL: &str = "
CREATE TABLE IF NOT EXISTS inspection (
    id         INTEGER PRIMARY KEY,
    compound   TEXT NOT NULL REFERENCES compound (code),
    date       TEXT NOT NULL,
    inspector  TEXT NOT NULL,
    -- JSON array of InspectionItem.
    items      TEXT NOT NULL,
    -- The problems its failed items became, comma-separated directive ids.
    problems   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT
) STRICT;
";

/// Audit events that mean the hub refused a compound's data.
const REFUSAL_EVENTS: &str =
    "'foreign_record', 'invalid_record', 'unknown_kind', 'log_mismatch', 'bundle_refused'";

/// One lane of a compound's current node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LaneState {
    /// `urgent` or `bulk`.
    pub lane: &'static str,
    /// The hub's cursor: the last entry applied.
    pub cursor: u64,
    /// The node's head as it last reported it.
    pub head: u64,
}

/// Everything the compound's page shows besides its rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompoundStatus {
    pub code: String,
    pub name: String,
    pub liaison: Option<String>,
    pub liaison_phone: Option<String>,
    pub enrolled_at: Option<String>,
    pub last_sync: Option<String>,
    pub lanes: Vec<LaneState>,
    /// Highest entry of its down log, and how many of them it has.
    pub down_head: u64,
    pub down_delivered: u64,
    /// The last refusal of its data (`at`, event, detail), if any.
    pub last_refusal: Option<AuditEntry>,
}

/// One checklist item of an inspection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InspectionItem {
    /// The item's key (`gate_temperature`, …).
    pub key: String,
    pub passed: bool,
    pub note: String,
}

/// An inspection as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredInspection {
    pub id: i64,
    pub compound: String,
    pub date: String,
    pub inspector: String,
    pub items: Vec<InspectionItem>,
    /// Problem (directive) ids its failed items became.
    pub problems: Vec<i64>,
    pub created_at: String,
    pub created_by: Option<String>,
}

impl HubStore {
    /// Sets a compound's liaison official (empty strings clear them).
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn set_liaison(&mut self, code: &str, name: &str, phone: &str) -> Result<()> {
        let none = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let n = self.conn.execute(
            "UPDATE compound SET liaison = ?2, liaison_phone = ?3 WHERE code = ?1",
            params![code, none(name), none(phone)],
        )?;
        if n == 0 {
            return Err(HubError::UnknownCompound(code.to_owned()));
        }
        self.audit(Some(code), "liaison", &format!("{name} {phone}"))?;
        Ok(())
    }

    /// One compound's liaison, lanes, down log and last refusal.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn compound_status(&self, code: &str) -> Result<CompoundStatus> {
        let (name, liaison, liaison_phone): (String, Option<String>, Option<String>) = self
            .conn
            .query_row(
                "SELECT name, liaison, liaison_phone FROM compound WHERE code = ?1",
                [code],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| HubError::UnknownCompound(code.to_owned()))?;
        let node: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, issued_at FROM node WHERE compound = ?1 AND revoked_at IS NULL
                 ORDER BY id DESC LIMIT 1",
                [code],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let last_sync: Option<String> = self.conn.query_row(
            "SELECT MAX(last_sync) FROM node WHERE compound = ?1",
            [code],
            |r| r.get(0),
        )?;
        let mut lanes = Vec::new();
        if let Some((node, _)) = &node {
            for (lane, label) in [(Lane::Urgent, "urgent"), (Lane::Bulk, "bulk")] {
                let (cursor, head): (i64, i64) = self
                    .conn
                    .query_row(
                        "SELECT cursor, head FROM lane_cursor WHERE node = ?1 AND lane = ?2",
                        params![node, lane as i64],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?
                    .unwrap_or((0, 0));
                lanes.push(LaneState {
                    lane: label,
                    cursor: u64::try_from(cursor).unwrap_or(0),
                    head: u64::try_from(head).unwrap_or(0),
                });
            }
        }
        let (down_head, down_delivered): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(MAX(seq), 0), COUNT(delivered_at) FROM downlog WHERE compound = ?1",
            [code],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let last_refusal = self
            .conn
            .query_row(
                &format!(
                    "SELECT at, compound, event, detail, \"user\" FROM audit
                     WHERE compound = ?1 AND event IN ({REFUSAL_EVENTS})
                     ORDER BY id DESC LIMIT 1"
                ),
                [code],
                audit_entry,
            )
            .optional()?;
        Ok(CompoundStatus {
            code: code.to_owned(),
            name,
            liaison,
            liaison_phone,
            enrolled_at: node.map(|(_, at)| at),
            last_sync,
            lanes,
            down_head: u64::try_from(down_head).unwrap_or(0),
            down_delivered: u64::try_from(down_delivered).unwrap_or(0),
            last_refusal,
        })
    }

    /// Every enrolled compound's (code, name), by code.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn compound_names(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT code, name FROM compound ORDER BY code")?;
        let rows = stmt
            .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Stores an inspection whose failed items already became `problems`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_inspection(
        &mut self,
        inspection: &StoredInspection,
        user: Option<&str>,
    ) -> Result<i64> {
        let items = serde_json::to_string(&inspection.items).expect("items serialise");
        let problems = inspection
            .problems
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let id = self.conn.query_row(
            "INSERT INTO inspection (compound, date, inspector, items, problems, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            params![
                inspection.compound,
                inspection.date,
                inspection.inspector,
                items,
                problems,
                now_rfc3339(),
                user
            ],
            |row| row.get(0),
        )?;
        Ok(id)
    }

    /// Inspections, newest first (of one date when given).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn inspections(&self, date: Option<chrono::NaiveDate>) -> Result<Vec<StoredInspection>> {
        let day = date.map(|d| d.format("%Y-%m-%d").to_string());
        let mut stmt = self.conn.prepare(
            "SELECT id, compound, date, inspector, items, problems, created_at, created_by
             FROM inspection WHERE CAST(?1 AS TEXT) IS NULL OR date = ?1 ORDER BY date DESC, id DESC",
        )?;
        let rows = stmt
            .query_map([day], |r| {
                let items: String = r.get(4)?;
                let problems: String = r.get(5)?;
                Ok(StoredInspection {
                    id: r.get(0)?,
                    compound: r.get(1)?,
                    date: r.get(2)?,
                    inspector: r.get(3)?,
                    items: serde_json::from_str(&items).unwrap_or_default(),
                    problems: problems.split(',').filter_map(|p| p.parse().ok()).collect(),
                    created_at: r.get(6)?,
                    created_by: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

/// An audit row (`at, compound, event, detail, user`) read back.
pub(super) fn audit_entry(row: &crate::db::Row<'_>) -> crate::db::Result<AuditEntry> {
    Ok(AuditEntry {
        at: row.get(0)?,
        compound: row.get(1)?,
        event: row.get(2)?,
        detail: row.get(3)?,
        user: row.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liaison_lanes_and_inspections() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::test_store(dir.path());
        store.enroll("HM001", Some("联洋新苑")).unwrap();
        assert!(matches!(
            store.set_liaison("NOPE", "张", ""),
            Err(HubError::UnknownCompound(_))
        ));
        store.set_liaison("HM001", "张伟", "13800000000").unwrap();
        let status = store.compound_status("HM001").unwrap();
        assert_eq!(status.liaison.as_deref(), Some("张伟"));
        assert_eq!(status.name, "联洋新苑");
        assert_eq!(status.lanes.len(), 2);
        assert_eq!(status.down_head, 0, "nothing sent down yet");
        assert_eq!(status.last_refusal, None);
        store
            .audit(Some("HM001"), "invalid_record", "bad id")
            .unwrap();
        let status = store.compound_status("HM001").unwrap();
        assert_eq!(status.last_refusal.unwrap().detail, "bad id");
        let inspection = StoredInspection {
            id: 0,
            compound: "HM001".into(),
            date: "2020-02-10".into(),
            inspector: "李主任".into(),
            items: vec![InspectionItem {
                key: "gate_temperature".into(),
                passed: false,
                note: "无人测温".into(),
            }],
            problems: vec![7],
            created_at: String::new(),
            created_by: None,
        };
        let id = store.add_inspection(&inspection, Some("wang")).unwrap();
        let got = store.inspections(None).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, id);
        assert_eq!(got[0].items, inspection.items);
        assert_eq!(got[0].problems, [7]);
        assert!(
            store
                .inspections(Some(chrono::NaiveDate::from_ymd_opt(2020, 2, 11).unwrap()))
                .unwrap()
                .is_empty()
        );
    }
}
