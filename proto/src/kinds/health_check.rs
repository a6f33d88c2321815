//! Health checks (健康监测): a home-isolated person's temperature, twice a
//! day, keyed by 监测编号.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules};
use crate::validate::labels::SLOT;
use crate::validate::record::{
    FieldError, MAX_PERSON_TEXT_CHARS, MAX_TEXT_CHARS, check_date, check_enum, check_id,
    check_len,
};
use crate::validate::{TEMPERATURE_TENTHS, temperature_text};
use crate::{Lane, pb};

/// The health check ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("监测编号", "check_id", true),
    Column::new("人员编号", "person_id", true),
    Column::new("日期", "date", true),
    Column::new("时段", "slot", true),
    Column::new("体温", "temperature", true),
    Column::new("症状", "symptoms", false),
    Column::new("测量人", "checked_by", false),
];

/// A temperature at or above this many tenths of a degree is a fever.
pub const FEVER_TENTHS: u32 = 373;

impl Rules for pb::HealthCheck {
    const SPEC: KindSpec = KindSpec {
        name: "health_check",
        aliases: &["health_checks", "health-checks", "健康监测"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "health_checks",
            columns: COLUMNS,
        }),
        in_table: false,
        log: Some(LogBy::Record),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_id("health_check.person_id", &self.person_id)?;
        check_date("health_check.date", &self.date, today)?;
        check_enum("health_check.slot", self.slot, pb::Slot::Unspecified)?;
        if !TEMPERATURE_TENTHS.contains(&self.temperature_tenths) {
            return Err(FieldError::new(
                "health_check.temperature_tenths",
                format!(
                    "temperature must be from 35.0 to 42.0 °C, got {} tenths",
                    self.temperature_tenths
                ),
            ));
        }
        check_len("health_check.symptoms", &self.symptoms, MAX_TEXT_CHARS)?;
        check_len("health_check.checked_by", &self.checked_by, MAX_PERSON_TEXT_CHARS)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.person_id.clone(),
            self.date.clone(),
            SLOT.zh(self.slot()).to_owned(),
            temperature_text(self.temperature_tenths),
            self.symptoms.clone(),
            self.checked_by.clone(),
        ]
    }

    fn days(&self) -> [&str; 3] {
        [&self.date, "", ""]
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        fold.add_health_check(
            &self.date,
            &self.person_id,
            self.slot,
            self.temperature_tenths,
        );
    }

    fn sample() -> (String, Self) {
        (
            "HC1".into(),
            pb::HealthCheck {
                person_id: "P1".into(),
                date: super::SAMPLE_DAY.into(),
                slot: pb::Slot::Am as i32,
                temperature_tenths: 368,
                symptoms: String::new(),
                checked_by: "李医生".into(),
            },
        )
    }
}
