//! Disinfections (消毒): rounds of the compound's common areas, keyed by
//! 消毒编号.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules};
use crate::validate::record::{
    FieldError, MAX_PERSON_TEXT_CHARS, check_date, check_len, check_required,
};
use crate::{Lane, pb};

/// The disinfection ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("消毒编号", "disinfection_id", true),
    Column::new("日期", "date", true),
    Column::new("区域", "area", true),
    Column::new("执行人", "by", false),
];

impl Rules for pb::Disinfection {
    const SPEC: KindSpec = KindSpec {
        name: "disinfection",
        aliases: &["disinfections", "消毒"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "disinfections",
            columns: COLUMNS,
        }),
        in_table: false,
        log: Some(LogBy::Days),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_date("disinfection.date", &self.date, today)?;
        check_required("disinfection.area", &self.area, MAX_PERSON_TEXT_CHARS)?;
        check_len("disinfection.by", &self.by, MAX_PERSON_TEXT_CHARS)
    }

    fn cells(&self) -> Vec<String> {
        vec![self.date.clone(), self.area.clone(), self.by.clone()]
    }

    fn days(&self) -> [&str; 3] {
        [&self.date, "", ""]
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        Self::log_days(fold, self.days(), 1);
    }

    fn log_days(fold: &mut crate::log::LogFold<'_>, days: [&str; 3], n: u64) {
        fold.add_disinfections(days, n);
    }

    fn sample() -> (String, Self) {
        (
            "D1".into(),
            pb::Disinfection {
                date: super::SAMPLE_DAY.into(),
                area: "3号楼楼道".into(),
                by: "物业".into(),
            },
        )
    }
}
