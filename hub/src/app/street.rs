//! The street office's view of its compounds beyond the table: liaison
//! officials, each compound's lanes and refusals, the leaders' inspections
//! (巡察), whose failed items become problems sent down at once, and the
//! figures of the table and log per day (trends).

use lianfang_proto::pb;

use super::HubApp;
use crate::store::{CompoundStatus, HubError, InspectionItem, StoredInspection};

/// The inspection's checklist, as the story names it: (key, Chinese label).
pub const CHECKLIST: [(&str, &str); 4] = [
    ("gate_temperature", "门岗测温"),
    ("parcel_point", "快递外卖集中点"),
    ("three_questions", "入口三问三登记"),
    ("entry_control", "出入管控"),
];

/// The Chinese label of a checklist key (the key itself when unknown).
pub fn checklist_label(key: &str) -> &str {
    CHECKLIST
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, zh)| zh)
}

/// A day's inspection of a compound by a street leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub compound: String,
    pub date: chrono::NaiveDate,
    /// The leader who inspected.
    pub inspector: String,
    /// Every item of [`CHECKLIST`], passed or failed with a note.
    pub items: Vec<InspectionItem>,
}

/// What recording an inspection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionRecorded {
    pub id: i64,
    /// The problems (directive ids) its failed items became.
    pub problems: Vec<i64>,
}

/// One day of the street's (or a compound's) trends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendDay {
    pub date: chrono::NaiveDate,
    /// Returnees that day, from key regions and elsewhere.
    pub returned_key: u64,
    pub returned_other: u64,
    /// People in isolation that day.
    pub home_isolation: u64,
    pub central_isolation: u64,
    /// People with a fever, and home-isolated people not checked, that day.
    pub fevers: u64,
    pub unchecked: u64,
}

/// Most days one trend query covers.
pub const MAX_TREND_DAYS: i64 = 62;

impl HubApp {
    /// Sets a compound's liaison official (`enroll --liaison`).
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`].
    pub fn set_liaison(&self, compound: &str, name: &str, phone: &str) -> Result<(), HubError> {
        self.store().set_liaison(compound, name, phone)
    }

    /// One compound's liaison, lanes, down log and last refusal.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`].
    pub fn compound_status(&self, compound: &str) -> Result<CompoundStatus, HubError> {
        self.store().compound_status(compound)
    }

    /// Every enrolled compound's (code, name), by code.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn compounds(&self) -> Result<Vec<(String, String)>, HubError> {
        self.store().compound_names()
    }

    /// Records an inspection; each failed item becomes a problem to rectify
    /// (found at inspection, on the inspection's date), sent down at once.
    /// `user` is the dashboard user who recorded it, for the audit log.
    ///
    /// # Errors
    /// An unknown compound, an empty inspector, an item missing; nothing
    /// is recorded then.
    pub fn add_inspection(
        &self,
        inspection: Inspection,
        user: Option<&str>,
    ) -> Result<InspectionRecorded, HubError> {
        if inspection.inspector.trim().is_empty() {
            return Err(HubError::InvalidDirective("name the inspector".into()));
        }
        for (key, zh) in CHECKLIST {
            if !inspection.items.iter().any(|i| i.key == key) {
                return Err(HubError::InvalidDirective(format!("item {zh} is missing")));
            }
        }
        let mut store = self.store();
        store.compound_status(&inspection.compound)?;
        // The problems, the inspection and its audit entry commit together:
        // a crash never leaves problems sent down without their inspection.
        store.atomically(|store| {
            let day = inspection.date.format("%Y-%m-%d").to_string();
            let mut problems = Vec::new();
            for item in inspection.items.iter().filter(|i| !i.passed) {
                let what = if item.note.trim().is_empty() {
                    format!("巡察未通过：{}", checklist_label(&item.key))
                } else {
                    format!(
                        "巡察未通过：{}（{}）",
                        checklist_label(&item.key),
                        item.note.trim()
                    )
                };
                let problem = pb::Problem {
                    what,
                    location: checklist_label(&item.key).to_owned(),
                    found_at: pb::FoundAt::Inspection as i32,
                    found_on: day.clone(),
                };
                problems.push(store.add_problem(&inspection.compound, problem)?);
            }
            let stored = StoredInspection {
                id: 0,
                compound: inspection.compound.clone(),
                date: day.clone(),
                inspector: inspection.inspector.trim().to_owned(),
                items: inspection.items,
                problems: problems.clone(),
                created_at: String::new(),
                created_by: user.map(str::to_owned),
            };
            let id = store.add_inspection(&stored, user)?;
            let detail = format!(
                "inspection {id} of {day} by {}: {} item(s) failed",
                stored.inspector,
                problems.len()
            );
            match user {
                Some(user) => {
                    store.audit_by(user, Some(&inspection.compound), "inspection", &detail)?
                }
                None => store.audit(Some(&inspection.compound), "inspection", &detail)?,
            }
            Ok(InspectionRecorded { id, problems })
        })
    }

    /// Inspections, newest first (of one date when given).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn inspections(
        &self,
        date: Option<chrono::NaiveDate>,
    ) -> Result<Vec<StoredInspection>, HubError> {
        self.store().inspections(date)
    }

    /// The day-by-day figures from `from` to `to` (at most
    /// [`MAX_TREND_DAYS`], the last ones kept), street-wide or for one
    /// compound: read from the table and the log of each day.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn trends(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        compound: Option<&str>,
    ) -> Result<Vec<TrendDay>, HubError> {
        let from = from.max(to - chrono::Duration::days(MAX_TREND_DAYS - 1));
        let store = self.store();
        if let Some(code) = compound {
            store.compound_status(code)?;
        }
        let mut days = Vec::new();
        let mut date = from;
        while date <= to {
            let table = store.table(date)?;
            let log = store.day_log_beside(&table)?;
            let counts = match compound {
                Some(code) => table
                    .compounds
                    .iter()
                    .find(|r| r.code == code)
                    .map(|r| r.counts)
                    .unwrap_or_default(),
                None => table.total,
            };
            let day_log = match compound {
                Some(code) => log
                    .compounds
                    .iter()
                    .find(|r| r.code == code)
                    .map(|r| r.log)
                    .unwrap_or_default(),
                None => log.total,
            };
            days.push(TrendDay {
                date,
                returned_key: counts.returned_key_today,
                returned_other: counts.returned_other_today,
                home_isolation: counts.home_isolation,
                central_isolation: counts.central_isolation,
                fevers: day_log.fever_persons,
                unchecked: day_log.unchecked_persons,
            });
            date += chrono::Duration::days(1);
        }
        Ok(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(failed: &[&str]) -> Vec<InspectionItem> {
        CHECKLIST
            .iter()
            .map(|(key, _)| InspectionItem {
                key: (*key).to_owned(),
                passed: !failed.contains(key),
                note: if failed.contains(key) {
                    "无人值守".into()
                } else {
                    String::new()
                },
            })
            .collect()
    }

    #[test]
    fn a_failed_item_becomes_a_problem_sent_down() {
        let dir = tempfile::tempdir().unwrap();
        let app = HubApp::new(dir.path(), crate::store::test_store(dir.path()));
        app.enroll("HM001", Some("联洋新苑")).unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2020, 2, 10).unwrap();
        let inspection = Inspection {
            compound: "HM001".into(),
            date,
            inspector: "李书记".into(),
            items: items(&["parcel_point"]),
        };
        let mut missing = inspection.clone();
        missing.items.pop();
        assert!(app.add_inspection(missing, Some("wang")).is_err());
        let recorded = app.add_inspection(inspection, Some("wang")).unwrap();
        assert_eq!(recorded.problems.len(), 1);
        let problems = app.problems(Some(date), false).unwrap();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].what.contains("快递外卖集中点"),
            "{:?}",
            problems[0]
        );
        assert!(problems[0].what.contains("无人值守"));
        assert_eq!(problems[0].found_on, "2020-02-10");
        assert_eq!(
            app.inspections(Some(date)).unwrap()[0].problems,
            recorded.problems
        );
        let audit = app.audit_log().unwrap();
        let last = audit.last().unwrap();
        assert_eq!(
            (last.event.as_str(), last.user.as_deref()),
            ("inspection", Some("wang"))
        );
    }

    /// What `atomically` wrote is gone when it fails: a problem sent down
    /// inside it is not in the down log, and the next one commits.
    #[test]
    fn a_failed_inspection_sends_nothing_down() {
        let dir = tempfile::tempdir().unwrap();
        let app = HubApp::new(dir.path(), crate::store::test_store(dir.path()));
        app.enroll("HM001", None).unwrap();
        let problem = pb::Problem {
            what: "巡察未通过：门岗测温".into(),
            location: "门岗测温".into(),
            found_at: pb::FoundAt::Inspection as i32,
            found_on: "2020-02-10".into(),
        };
        let failed: Result<(), HubError> = app.store().atomically(|store| {
            store.add_problem("HM001", problem.clone())?;
            store.add_problem("NOPE", problem.clone())?;
            Ok(())
        });
        assert!(
            matches!(failed, Err(HubError::UnknownCompound(_))),
            "{failed:?}"
        );
        assert!(app.problems(None, false).unwrap().is_empty());
        assert!(app.directives().unwrap().is_empty());
        app.store()
            .atomically(|store| store.add_problem("HM001", problem.clone()))
            .unwrap();
        assert_eq!(app.problems(None, false).unwrap().len(), 1);
    }

    #[test]
    fn trends_read_one_row_per_day() {
        let dir = tempfile::tempdir().unwrap();
        let app = HubApp::new(dir.path(), crate::store::test_store(dir.path()));
        app.enroll("HM001", None).unwrap();
        let to = chrono::NaiveDate::from_ymd_opt(2020, 2, 10).unwrap();
        let days = app
            .trends(to - chrono::Duration::days(6), to, None)
            .unwrap();
        assert_eq!(days.len(), 7);
        assert_eq!(days[6].date, to);
        assert_eq!(app.trends(to, to, Some("HM001")).unwrap().len(), 1);
        assert!(app.trends(to, to, Some("NOPE")).is_err());
        let long = app
            .trends(to - chrono::Duration::days(400), to, None)
            .unwrap();
        assert_eq!(long.len(), MAX_TREND_DAYS as usize);
    }
}
