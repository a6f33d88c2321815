//! A person ledger row; a person lives in a household.

use chrono::NaiveDate;
use lianfang_proto::{Kind, pb, validate};

use super::{LedgerKind, Reference};
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::Person {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        let household_id = cells.required("household_id")?.to_owned();
        let name = cells.required("name")?.to_owned();
        let phone = cells.with("phone", validate::check_phone)?;
        // Before the ID number: which rule that follows depends on it.
        let nationality = cells.with("nationality", validate::parse_nationality)?;
        let id_number =
            cells.required_with("id_number", |s| validate::check_id_number(&nationality, s))?;
        let origin = cells.get("origin")?.to_owned();
        let return_date = cells
            .optional_date("return_date", today)?
            .map(date_text)
            .unwrap_or_default();
        let registered = cells.with("registered", validate::parse_registered)?;
        Ok(pb::Person {
            household_id,
            name,
            phone,
            id_number,
            nationality,
            origin,
            return_date,
            registered,
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
