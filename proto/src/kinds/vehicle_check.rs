//! Vehicle checks (车辆排查): vehicles checked at the gate, watched for
//! plates from key regions, keyed by 车辆记录编号.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules};
use crate::validate::labels::VEHICLE_ACTION;
use crate::validate::plate::parse_plate;
use crate::validate::record::{
    FieldError, MAX_TEXT_CHARS, check_date, check_enum, check_len, check_normal,
};
use crate::{Lane, pb};

/// The vehicle check ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("车辆记录编号", "vehicle_check_id", true),
    Column::new("日期", "date", true),
    Column::new("车牌", "plate", true),
    Column::new("处置", "action", true),
    Column::new("备注", "note", false),
];

impl Rules for pb::VehicleCheck {
    const SPEC: KindSpec = KindSpec {
        name: "vehicle_check",
        aliases: &["vehicle_checks", "vehicle-checks", "车辆排查"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "vehicle_checks",
            columns: COLUMNS,
        }),
        in_table: false,
        log: Some(LogBy::Record),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_date("vehicle_check.date", &self.date, today)?;
        check_normal(
            "vehicle_check.plate",
            &self.plate,
            parse_plate,
            "plate must be upper case with no spaces or ·",
        )?;
        check_enum(
            "vehicle_check.action",
            self.action,
            pb::VehicleAction::Unspecified,
        )?;
        check_len("vehicle_check.note", &self.note, MAX_TEXT_CHARS)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.date.clone(),
            self.plate.clone(),
            VEHICLE_ACTION.zh(self.action()).to_owned(),
            self.note.clone(),
        ]
    }

    fn days(&self) -> [&str; 3] {
        [&self.date, "", ""]
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        fold.add_vehicle(&self.date, &self.plate, self.action());
    }

    fn sample() -> (String, Self) {
        (
            "V1".into(),
            pb::VehicleCheck {
                date: super::SAMPLE_DAY.into(),
                plate: "鄂A12345".into(),
                action: pb::VehicleAction::TurnedBack as i32,
                note: String::new(),
            },
        )
    }
}
