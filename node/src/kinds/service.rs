//! A service ledger row; a service is to a household.

use chrono::NaiveDate;
use lianfang_proto::validate::labels::SERVICE_KIND;
use lianfang_proto::{Kind, pb, validate};

use super::{LedgerKind, Reference};
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::Service {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        Ok(pb::Service {
            household_id: cells.required("household_id")?.to_owned(),
            date: date_text(cells.required_with("date", |s| validate::parse_date(s, today))?),
            kind: cells.with("kind", |s| SERVICE_KIND.parse(s))? as i32,
            by: cells.get("by")?.to_owned(),
            note: cells.get("note")?.to_owned(),
        })
    }

    fn references(&self) -> Vec<Reference<'_>> {
        vec![Reference {
            column: "household_id",
            kind: Kind::Household,
            id: &self.household_id,
        }]
    }
}
