//! A mask reservation ledger row; its household, when given, must exist.

use chrono::NaiveDate;
use lianfang_proto::kinds::mask_reservation::{MINUTE_FORMAT, QUANTITY};
use lianfang_proto::{Kind, pb, validate};

use super::{LedgerKind, Reference};
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::MaskReservation {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        let name = cells.required("name")?.to_owned();
        let phone = cells.required_with("phone", validate::check_phone)?;
        let household_id = cells.get("household_id")?.to_owned();
        let reserved_at =
            cells.required_with("reserved_at", |s| validate::parse_minute(s, today))?;
        let quantity = cells.required_with("quantity", |s| {
            validate::parse_whole(s, QUANTITY).map_err(|reason| format!("quantity {reason}"))
        })?;
        let notified_on = cells.optional_date("notified_on", today)?;
        if let Some(notified) = notified_on
            && notified < reserved_at.date()
        {
            return Err(cells.error(
                "notified_on",
                format!(
                    "notified on {}, before the reservation on {}",
                    date_text(notified),
                    date_text(reserved_at.date())
                ),
            ));
        }
        let collected_on = cells.optional_date("collected_on", today)?;
        match (notified_on, collected_on) {
            (None, Some(_)) => {
                return Err(
                    cells.error("collected_on", "collected needs a notified date (通知日期)")
                );
            }
            (Some(notified), Some(collected)) if collected < notified => {
                return Err(cells.error(
                    "collected_on",
                    format!(
                        "collected on {}, before notified on {}",
                        date_text(collected),
                        date_text(notified)
                    ),
                ));
            }
            _ => {}
        }
        Ok(pb::MaskReservation {
            name,
            phone,
            household_id,
            reserved_at: reserved_at.format(MINUTE_FORMAT).to_string(),
            quantity: u32::try_from(quantity).unwrap_or(u32::MAX),
            notified_on: notified_on.map(date_text).unwrap_or_default(),
            collected_on: collected_on.map(date_text).unwrap_or_default(),
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
