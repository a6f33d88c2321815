//! A vehicle check ledger row.

use chrono::NaiveDate;
use lianfang_proto::validate::labels::VEHICLE_ACTION;
use lianfang_proto::validate::plate::parse_plate;
use lianfang_proto::{pb, validate};

use super::LedgerKind;
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::VehicleCheck {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        Ok(pb::VehicleCheck {
            date: date_text(cells.required_with("date", |s| validate::parse_date(s, today))?),
            plate: cells.required_with("plate", parse_plate)?,
            action: cells.with("action", |s| VEHICLE_ACTION.parse(s))? as i32,
            note: cells.get("note")?.to_owned(),
        })
    }
}
