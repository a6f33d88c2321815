//! Hotline tickets (12345工单): the city hotline's tickets for the
//! compound, open until closed, keyed by 工单编号.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules};
use crate::validate::record::{
    FieldError, MAX_TEXT_CHARS, check_date, check_len, check_optional_date, check_required,
};
use crate::{Lane, pb};

/// The hotline ticket ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("工单编号", "ticket_id", true),
    Column::new("受理日期", "received", true),
    Column::new("事项", "subject", true),
    Column::new("办结日期", "closed", false),
    Column::new("处理结果", "result", false),
];

impl Rules for pb::HotlineTicket {
    const SPEC: KindSpec = KindSpec {
        name: "hotline_ticket",
        aliases: &["hotline_tickets", "hotline-tickets", "12345工单", "12345"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "hotline_tickets",
            columns: COLUMNS,
        }),
        in_table: false,
        log: Some(LogBy::Days),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        let received = check_date("hotline_ticket.received", &self.received, today)?;
        check_required("hotline_ticket.subject", &self.subject, MAX_TEXT_CHARS)?;
        if let Some(closed) = check_optional_date("hotline_ticket.closed", &self.closed, today)?
            && closed < received
        {
            return Err(FieldError::new(
                "hotline_ticket.closed",
                format!("closed {closed} is before received {received}"),
            ));
        }
        check_len("hotline_ticket.result", &self.result, MAX_TEXT_CHARS)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.received.clone(),
            self.subject.clone(),
            self.closed.clone(),
            self.result.clone(),
        ]
    }

    fn days(&self) -> [&str; 3] {
        [&self.received, &self.closed, ""]
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        Self::log_days(fold, self.days(), 1);
    }

    fn log_days(fold: &mut crate::log::LogFold<'_>, days: [&str; 3], n: u64) {
        fold.add_tickets(days, n);
    }

    fn sample() -> (String, Self) {
        (
            "T1".into(),
            pb::HotlineTicket {
                received: super::SAMPLE_DAY.into(),
                subject: "楼道堆物".into(),
                closed: String::new(),
                result: String::new(),
            },
        )
    }
}
