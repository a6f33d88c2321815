//! A gate count ledger row.

use chrono::NaiveDate;
use lianfang_proto::kinds::gate_count::COUNT;
use lianfang_proto::{pb, validate};

use super::LedgerKind;
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::GateCount {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        let count = |column: &str| {
            cells.required_with(column, |s| {
                validate::parse_whole(s, COUNT).map_err(|reason| format!("count {reason}"))
            })
        };
        Ok(pb::GateCount {
            date: date_text(cells.required_with("date", |s| validate::parse_date(s, today))?),
            gate: cells.required("gate")?.to_owned(),
            temperature_checks: count("temperature_checks")?,
            parcels: count("parcels")?,
        })
    }
}
