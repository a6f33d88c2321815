//! Households (户): the compound's flats, keyed by 户编号.

use chrono::NaiveDate;

use super::{Column, KindSpec, Ledger, Rules};
use crate::table::{DailyCounts, TableBuilder};
use crate::validate::record::{FieldError, MAX_ADDRESS_PART_CHARS, check_enum, check_len};
use crate::{Lane, pb};

/// The household ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("户编号", "household_id", true),
    Column::new("楼号", "building", false),
    Column::new("单元", "unit", false),
    Column::new("室号", "room", false),
    Column::new("房屋情况", "housing", true),
];

/// The ledger label of a housing value.
pub fn housing_label(housing: pb::Housing) -> &'static str {
    match housing {
        pb::Housing::Owner => "自住",
        pb::Housing::Rented => "出租",
        pb::Housing::Vacant => "空置",
        pb::Housing::Unspecified => "",
    }
}

impl Rules for pb::Household {
    const SPEC: KindSpec = KindSpec {
        name: "household",
        aliases: &["households", "户"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "households",
            columns: COLUMNS,
        }),
        in_table: true,
        log: None,
    };

    fn check(&self, _today: NaiveDate) -> Result<(), FieldError> {
        check_enum(
            "household.housing",
            self.housing,
            crate::pb::Housing::Unspecified,
        )?;
        check_len("household.building", &self.building, MAX_ADDRESS_PART_CHARS)?;
        check_len("household.unit", &self.unit, MAX_ADDRESS_PART_CHARS)?;
        check_len("household.room", &self.room, MAX_ADDRESS_PART_CHARS)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.building.clone(),
            self.unit.clone(),
            self.room.clone(),
            housing_label(self.housing()).to_owned(),
        ]
    }

    fn count(&self, builder: &TableBuilder<'_>, counts: &mut DailyCounts) {
        builder.add_household(counts, self.housing());
    }

    fn sample() -> (String, Self) {
        (
            "H1".into(),
            pb::Household {
                building: "12".into(),
                unit: "1".into(),
                room: "101".into(),
                housing: pb::Housing::Rented as i32,
            },
        )
    }
}
