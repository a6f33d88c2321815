//! Services to an isolated household (上门服务): meals, rubbish, shopping,
//! keyed by 服务编号.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules};
use crate::validate::labels::SERVICE_KIND;
use crate::validate::record::{
    FieldError, MAX_PERSON_TEXT_CHARS, MAX_TEXT_CHARS, check_date, check_enum, check_id,
    check_len,
};
use crate::{Lane, pb};

/// The service ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("服务编号", "service_id", true),
    Column::new("户编号", "household_id", true),
    Column::new("日期", "date", true),
    Column::new("服务类型", "kind", true),
    Column::new("服务人", "by", false),
    Column::new("备注", "note", false),
];

impl Rules for pb::Service {
    const SPEC: KindSpec = KindSpec {
        name: "service",
        aliases: &["services", "上门服务"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "services",
            columns: COLUMNS,
        }),
        in_table: false,
        log: Some(LogBy::Record),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_id("service.household_id", &self.household_id)?;
        check_date("service.date", &self.date, today)?;
        check_enum("service.kind", self.kind, pb::ServiceKind::Unspecified)?;
        check_len("service.by", &self.by, MAX_PERSON_TEXT_CHARS)?;
        check_len("service.note", &self.note, MAX_TEXT_CHARS)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.household_id.clone(),
            self.date.clone(),
            SERVICE_KIND.zh(self.kind()).to_owned(),
            self.by.clone(),
            self.note.clone(),
        ]
    }

    fn days(&self) -> [&str; 3] {
        [&self.date, "", ""]
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        fold.add_service(&self.date, self.kind());
    }

    fn sample() -> (String, Self) {
        (
            "S1".into(),
            pb::Service {
                household_id: "H1".into(),
                date: super::SAMPLE_DAY.into(),
                kind: pb::ServiceKind::Meal as i32,
                by: "王志愿者".into(),
                note: String::new(),
            },
        )
    }
}
