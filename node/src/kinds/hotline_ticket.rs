//! A hotline ticket ledger row.

use chrono::NaiveDate;
use lianfang_proto::{pb, validate};

use super::LedgerKind;
use crate::ledger::{Cells, LedgerError, date_text};

impl LedgerKind for pb::HotlineTicket {
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError> {
        let received = cells.required_with("received", |s| validate::parse_date(s, today))?;
        let subject = cells.required("subject")?.to_owned();
        let closed = cells.optional_date("closed", today)?;
        if let Some(closed) = closed
            && closed < received
        {
            return Err(cells.error(
                "closed",
                format!(
                    "closed {} is before received {}",
                    date_text(closed),
                    date_text(received)
                ),
            ));
        }
        Ok(pb::HotlineTicket {
            received: date_text(received),
            subject,
            closed: closed.map(date_text).unwrap_or_default(),
            result: cells.get("result")?.to_owned(),
        })
    }
}
