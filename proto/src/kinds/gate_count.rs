//! Gate counts (门岗统计): one gate's temperature checks and parcels for a
//! day, keyed by 门岗记录编号.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules};
use crate::validate::record::{FieldError, MAX_PERSON_TEXT_CHARS, check_date, check_required};
use crate::{Lane, pb};

/// The gate count ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("门岗记录编号", "gate_count_id", true),
    Column::new("日期", "date", true),
    Column::new("门岗", "gate", true),
    Column::new("测温人次", "temperature_checks", true),
    Column::new("快递件数", "parcels", true),
];

/// What one gate may count in a day.
pub const COUNT: std::ops::RangeInclusive<u64> = 0..=1_000_000;

impl Rules for pb::GateCount {
    const SPEC: KindSpec = KindSpec {
        name: "gate_count",
        aliases: &["gate_counts", "gate-counts", "门岗统计"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "gate_counts",
            columns: COLUMNS,
        }),
        in_table: false,
        log: Some(LogBy::Record),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_date("gate_count.date", &self.date, today)?;
        check_required("gate_count.gate", &self.gate, MAX_PERSON_TEXT_CHARS)?;
        for (field, n) in [
            ("gate_count.temperature_checks", self.temperature_checks),
            ("gate_count.parcels", self.parcels),
        ] {
            if !COUNT.contains(&n) {
                return Err(FieldError::new(
                    field,
                    format!("must be from 0 to 1000000, got {n}"),
                ));
            }
        }
        Ok(())
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.date.clone(),
            self.gate.clone(),
            self.temperature_checks.to_string(),
            self.parcels.to_string(),
        ]
    }

    fn days(&self) -> [&str; 3] {
        [&self.date, "", ""]
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        fold.add_gate_count(&self.date, self.temperature_checks, self.parcels);
    }

    fn sample() -> (String, Self) {
        (
            "G1".into(),
            pb::GateCount {
                date: super::SAMPLE_DAY.into(),
                gate: "南门".into(),
                temperature_checks: 812,
                parcels: 1460,
            },
        )
    }
}
