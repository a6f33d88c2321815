//! Receipts: a compound has read and acknowledged a directive. Written by
//! the node (`ack`), urgent.

use chrono::NaiveDate;

use super::{KindSpec, Rules};
use crate::validate::record::{FieldError, MAX_TEXT_CHARS, check_id, check_len, check_time};
use crate::{Lane, pb};

impl Rules for pb::Receipt {
    const SPEC: KindSpec = KindSpec {
        name: "receipt",
        aliases: &[],
        lane: Lane::Urgent,
        ledger: None,
        in_table: false,
        log: None,
    };

    fn check(&self, _today: NaiveDate) -> Result<(), FieldError> {
        check_id("receipt.directive_id", &self.directive_id)?;
        check_time("receipt.acked_at", &self.acked_at)?;
        check_len("receipt.response", &self.response, MAX_TEXT_CHARS)
    }

    fn sample() -> (String, Self) {
        (
            "1".into(),
            pb::Receipt {
                directive_id: "1".into(),
                acked_at: "2020-02-03T08:00:00Z".into(),
                response: "收到".into(),
            },
        )
    }
}
