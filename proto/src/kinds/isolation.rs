//! Isolations (隔离): a person's home or central isolation, keyed by
//! 隔离编号.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules};
use crate::table::{self, DailyCounts, IsolationFacts, TableBuilder};
use crate::validate::record::{
    FieldError, check_date, check_enum, check_id, check_optional_date,
};
use crate::{Lane, pb};

/// The isolation ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("隔离编号", "isolation_id", true),
    Column::new("人员编号", "person_id", true),
    Column::new("隔离方式", "kind", true),
    Column::new("开始日期", "start", true),
    Column::new("解除日期", "release", false),
];

/// The ledger label of an isolation kind.
pub fn kind_label(kind: pb::IsolationKind) -> &'static str {
    match kind {
        pb::IsolationKind::Home => "居家",
        pb::IsolationKind::Central => "集中",
        pb::IsolationKind::Unspecified => "",
    }
}

impl Rules for pb::Isolation {
    const SPEC: KindSpec = KindSpec {
        name: "isolation",
        aliases: &["isolations", "隔离"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "isolations",
            columns: COLUMNS,
        }),
        in_table: true,
        log: Some(LogBy::Record),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_id("isolation.person_id", &self.person_id)?;
        check_enum(
            "isolation.kind",
            self.kind,
            crate::pb::IsolationKind::Unspecified,
        )?;
        let start = check_date("isolation.start", &self.start, today)?;
        if let Some(release) = check_optional_date("isolation.release", &self.release, today)?
            && release < start
        {
            return Err(FieldError::new(
                "isolation.release",
                format!("release {release} is before start {start}"),
            ));
        }
        Ok(())
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.person_id.clone(),
            kind_label(self.kind()).to_owned(),
            self.start.clone(),
            self.release.clone(),
        ]
    }

    fn count(&self, builder: &TableBuilder<'_>, counts: &mut DailyCounts) {
        if let Some(start) = table::parse_day(&self.start) {
            builder.add_isolation(
                counts,
                IsolationFacts {
                    kind: self.kind(),
                    start,
                    release: table::parse_day(&self.release),
                },
            );
        }
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        fold.add_isolation(&self.person_id, self.kind(), &self.start, &self.release);
    }

    fn sample() -> (String, Self) {
        (
            "I1".into(),
            pb::Isolation {
                person_id: "P1".into(),
                kind: pb::IsolationKind::Home as i32,
                start: super::SAMPLE_DAY.into(),
                release: String::new(),
            },
        )
    }
}
