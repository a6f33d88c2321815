//! A health check ledger row; a health check is of a person.

use chrono::NaiveDate;
use lianfang_proto::validate::labels::SLOT;
use lianfang_proto::{Kind, pb, validate};

use super::{LedgerKind, Reference};
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::HealthCheck {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        Ok(pb::HealthCheck {
            person_id: cells.required("person_id")?.to_owned(),
            date: date_text(cells.required_with("date", |s| validate::parse_date(s, today))?),
            slot: cells.with("slot", |s| SLOT.parse(s))? as i32,
            temperature_tenths: cells.required_with("temperature", validate::parse_temperature)?,
            symptoms: cells.get("symptoms")?.to_owned(),
            checked_by: cells.get("checked_by")?.to_owned(),
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
