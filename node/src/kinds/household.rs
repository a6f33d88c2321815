//! A household ledger row (户编号, 楼号, 单元, 室号, 房屋情况).

use chrono::NaiveDate;
use lianfang_proto::{pb, validate};

use super::LedgerKind;
use crate::ledger::{Cells, LedgerError};

impl LedgerKind for pb::Household {
    fn parse(cells: &Cells<'_>, _today: NaiveDate) -> Result<Self, LedgerError> {
        let building = cells.get("building")?.to_owned();
        let unit = cells.get("unit")?.to_owned();
        let room = cells.get("room")?.to_owned();
        let housing = cells.required_with("housing", validate::parse_housing)?;
        Ok(pb::Household {
            building,
            unit,
            room,
            housing: housing as i32,
        })
    }
}
