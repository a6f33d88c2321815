//! A disinfection ledger row.

use chrono::NaiveDate;
use lianfang_proto::{pb, validate};

use super::LedgerKind;
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::Disinfection {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        Ok(pb::Disinfection {
            date: date_text(cells.required_with("date", |s| validate::parse_date(s, today))?),
            area: cells.required("area")?.to_owned(),
            by: cells.get("by")?.to_owned(),
        })
    }
}
