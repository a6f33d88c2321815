//! Mask reservations (口罩预约): the queue for masks, keyed by 预约编号.
//! Queue order is `reserved_at`, then id.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules, Sensitive};
use crate::validate::record::{
    FieldError, MAX_ID_CHARS, MAX_PERSON_TEXT_CHARS, check_len, check_optional_date,
    check_phone_field, check_required, show,
};
use crate::validate::parse_minute;
use crate::{Lane, pb};

/// The mask reservation ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("预约编号", "reservation_id", true),
    Column::new("姓名", "name", true).sensitive(Sensitive::Name),
    Column::new("手机", "phone", true).sensitive(Sensitive::Phone),
    Column::new("户编号", "household_id", false),
    Column::new("预约时间", "reserved_at", true),
    Column::new("数量", "quantity", true),
    Column::new("通知日期", "notified_on", false),
    Column::new("领取日期", "collected_on", false),
];

/// How many masks one reservation may ask for.
pub const QUANTITY: std::ops::RangeInclusive<u64> = 1..=10;

/// `reserved_at`'s stored form.
pub const MINUTE_FORMAT: &str = "%Y-%m-%d %H:%M";

/// The day of a stored `reserved_at` (its first ten characters).
pub fn reserved_day(reserved_at: &str) -> &str {
    reserved_at.get(..10).unwrap_or(reserved_at)
}

impl Rules for pb::MaskReservation {
    const SPEC: KindSpec = KindSpec {
        name: "mask_reservation",
        aliases: &["mask_reservations", "mask-reservations", "口罩预约"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "mask_reservations",
            columns: COLUMNS,
        }),
        in_table: false,
        log: Some(LogBy::Days),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_required("mask_reservation.name", &self.name, MAX_PERSON_TEXT_CHARS)?;
        if self.phone.is_empty() {
            return Err(FieldError::new(
                "mask_reservation.phone",
                "must not be empty",
            ));
        }
        check_phone_field("mask_reservation.phone", &self.phone)?;
        check_len("mask_reservation.household_id", &self.household_id, MAX_ID_CHARS)?;
        const MINUTE_RULE: &str = "time must be YYYY-MM-DD HH:MM";
        let reserved = parse_minute(&self.reserved_at, today)
            .ok()
            .filter(|t| t.format(MINUTE_FORMAT).to_string() == self.reserved_at)
            .ok_or_else(|| {
                FieldError::new(
                    "mask_reservation.reserved_at",
                    format!("{MINUTE_RULE}, got {}", show(&self.reserved_at)),
                )
            })?;
        if !QUANTITY.contains(&u64::from(self.quantity)) {
            return Err(FieldError::new(
                "mask_reservation.quantity",
                format!("must be from 1 to 10, got {}", self.quantity),
            ));
        }
        let notified =
            check_optional_date("mask_reservation.notified_on", &self.notified_on, today)?;
        if let Some(notified) = notified
            && notified < reserved.date()
        {
            return Err(FieldError::new(
                "mask_reservation.notified_on",
                format!(
                    "notified on {notified}, before the reservation on {}",
                    reserved.date()
                ),
            ));
        }
        let collected =
            check_optional_date("mask_reservation.collected_on", &self.collected_on, today)?;
        match (notified, collected) {
            (None, Some(_)) => Err(FieldError::new(
                "mask_reservation.collected_on",
                "collected needs a notified date",
            )),
            (Some(notified), Some(collected)) if collected < notified => Err(FieldError::new(
                "mask_reservation.collected_on",
                format!("collected on {collected}, before notified on {notified}"),
            )),
            _ => Ok(()),
        }
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.phone.clone(),
            self.household_id.clone(),
            self.reserved_at.clone(),
            self.quantity.to_string(),
            self.notified_on.clone(),
            self.collected_on.clone(),
        ]
    }

    fn days(&self) -> [&str; 3] {
        [
            reserved_day(&self.reserved_at),
            &self.notified_on,
            &self.collected_on,
        ]
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        Self::log_days(fold, self.days(), 1);
    }

    fn log_days(fold: &mut crate::log::LogFold<'_>, days: [&str; 3], n: u64) {
        fold.add_masks(days, n);
    }

    fn sample() -> (String, Self) {
        (
            "M1".into(),
            pb::MaskReservation {
                name: "赵六".into(),
                phone: "13812345678".into(),
                household_id: "H1".into(),
                reserved_at: format!("{} 09:30", super::SAMPLE_DAY),
                quantity: 5,
                notified_on: super::SAMPLE_DAY.into(),
                collected_on: String::new(),
            },
        )
    }
}
