//! An isolation ledger row; an isolation is of a person.

use chrono::NaiveDate;
use lianfang_proto::{Kind, pb, validate};

use super::{LedgerKind, Reference};
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::Isolation {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        let person_id = cells.required("person_id")?.to_owned();
        let kind = cells.required_with("kind", validate::parse_isolation_kind)?;
        let start = cells.required_with("start", |s| validate::parse_date(s, today))?;
        let release = cells.optional_date("release", today)?;
        if let Some(release) = release
            && release < start
        {
            return Err(cells.error(
                "release",
                format!(
                    "release {} is before start {}",
                    date_text(release),
                    date_text(start)
                ),
            ));
        }
        Ok(pb::Isolation {
            person_id,
            kind: kind as i32,
            start: date_text(start),
            release: release.map(date_text).unwrap_or_default(),
        })
    }

    fn references(&self) -> Vec<Reference<'_>> {
        vec![Reference {
            column: "person_id",
            kind: Kind::Person,
            id: &self.person_id,
        }]
    }
}
