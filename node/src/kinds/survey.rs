//! A survey ledger row; the person found, when given, must exist.

use chrono::NaiveDate;
use lianfang_proto::validate::labels::{ANSWER_RESULT, SURVEY_SOURCE};
use lianfang_proto::{Kind, pb, validate};

use super::{LedgerKind, Reference};
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::Survey {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        Ok(pb::Survey {
            date: date_text(cells.required_with("date", |s| validate::parse_date(s, today))?),
            name: cells.required("name")?.to_owned(),
            address: cells.required("address")?.to_owned(),
            source: cells.with("source", |s| SURVEY_SOURCE.parse(s))? as i32,
            result: cells.with("result", |s| ANSWER_RESULT.parse(s))? as i32,
            person_id: cells.get("person_id")?.to_owned(),
            note: cells.get("note")?.to_owned(),
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
