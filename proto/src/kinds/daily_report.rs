//! Daily reports: the compound's own daily table for one date, keyed by the
//! date, sent ahead of the bulk backlog. Written by the node at each sync,
//! urgent.

use chrono::NaiveDate;

use super::{KindSpec, Rules};
use crate::validate::record::{FieldError, MAX_COUNT, check_date, check_time};
use crate::{Lane, pb};

impl Rules for pb::DailyReport {
    const SPEC: KindSpec = KindSpec {
        name: "daily_report",
        aliases: &[],
        lane: Lane::Urgent,
        ledger: None,
        in_table: false,
        log: None,
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        let r = self;
        check_date("daily_report.date", &r.date, today)?;
        let counts = [
            ("daily_report.households", r.households),
            ("daily_report.housing_owner", r.housing_owner),
            ("daily_report.housing_rented", r.housing_rented),
            ("daily_report.housing_vacant", r.housing_vacant),
            ("daily_report.persons", r.persons),
            ("daily_report.foreigners", r.foreigners),
            ("daily_report.returned_key_total", r.returned_key_total),
            ("daily_report.returned_key_today", r.returned_key_today),
            ("daily_report.returned_other_total", r.returned_other_total),
            ("daily_report.returned_other_today", r.returned_other_today),
            ("daily_report.unregistered", r.unregistered),
            ("daily_report.home_isolation", r.home_isolation),
            ("daily_report.central_isolation", r.central_isolation),
            ("daily_report.released_today", r.released_today),
        ];
        for (field, n) in counts {
            if n > MAX_COUNT {
                return Err(FieldError::new(
                    field,
                    format!("{n} is more than {MAX_COUNT}"),
                ));
            }
        }
        if let Some(log) = &r.log {
            let values = crate::log::DailyLog::from_report(log).values();
            for ((key, _), n) in crate::log::KEYS.iter().zip(values) {
                if n > MAX_COUNT {
                    return Err(FieldError::new(
                        &format!("daily_report.log.{key}"),
                        format!("{n} is more than {MAX_COUNT}"),
                    ));
                }
            }
        }
        check_time("daily_report.computed_at", &r.computed_at)
    }

    fn sample() -> (String, Self) {
        (
            super::SAMPLE_DAY.into(),
            pb::DailyReport {
                date: super::SAMPLE_DAY.into(),
                households: 1,
                housing_rented: 1,
                persons: 1,
                returned_key_total: 1,
                returned_key_today: 1,
                home_isolation: 1,
                computed_at: "2020-02-03T16:00:00Z".into(),
                ..Default::default()
            },
        )
    }
}
