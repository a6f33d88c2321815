//! Member days (federation): one member's table and log for one date, as
//! the hub of its level holds them, sent by that hub to the level above (a
//! street hub sends one per compound and date). Aggregates only. Written by
//! a hub's upward link, urgent; id `YYYY-MM-DD/MEMBER`.

use chrono::NaiveDate;

use super::{KindSpec, Rules};
use crate::validate::record::{
    FieldError, MAX_PERSON_TEXT_CHARS, check_id, check_len, check_time,
};
use crate::{Lane, pb};

/// The sources a member's figures may come from at the sending hub.
pub const SOURCES: [&str; 3] = ["records", "reported", "members"];

impl Rules for pb::MemberDay {
    const SPEC: KindSpec = KindSpec {
        name: "member_day",
        aliases: &[],
        lane: Lane::Urgent,
        ledger: None,
        in_table: false,
        log: None,
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_id("member_day.member", &self.member)?;
        check_len("member_day.name", &self.name, MAX_PERSON_TEXT_CHARS)?;
        let Some(figures) = &self.figures else {
            return Err(FieldError::new("member_day.figures", "must be present"));
        };
        // The figures are a daily report's, under this kind's path.
        figures.check(today).map_err(|e| FieldError {
            field: format!(
                "member_day.figures.{}",
                e.field.trim_start_matches("daily_report.")
            ),
            reason: e.reason,
        })?;
        if !self.last_sync.is_empty() {
            check_time("member_day.last_sync", &self.last_sync)?;
        }
        if !SOURCES.contains(&self.source.as_str()) {
            return Err(FieldError::new(
                "member_day.source",
                format!(
                    "must be one of {}, got {:?}",
                    SOURCES.join(", "),
                    self.source
                ),
            ));
        }
        Ok(())
    }

    fn sample() -> (String, Self) {
        let (_, figures) = pb::DailyReport::sample();
        (
            format!("{}/HM001", super::SAMPLE_DAY),
            pb::MemberDay {
                member: "HM001".into(),
                name: "花木一村".into(),
                figures: Some(figures),
                last_sync: "2020-02-03T15:00:00Z".into(),
                caught_up: true,
                source: "records".into(),
            },
        )
    }
}
