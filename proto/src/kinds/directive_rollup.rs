//! Directive roll-ups (federation): what became of a directive from the
//! level above among the sending hub's compounds (passed on to, delivered,
//! acknowledged, and the responses). Written by a hub's upward link,
//! urgent; id: the directive's id at the level above.

use chrono::NaiveDate;

use super::{KindSpec, Rules};
use crate::validate::record::{FieldError, MAX_TEXT_CHARS, check_id, check_len, check_time};
use crate::{Lane, pb};

impl Rules for pb::DirectiveRollup {
    const SPEC: KindSpec = KindSpec {
        name: "directive_rollup",
        aliases: &[],
        lane: Lane::Urgent,
        ledger: None,
        in_table: false,
        log: None,
    };

    fn check(&self, _today: NaiveDate) -> Result<(), FieldError> {
        check_id("directive_rollup.directive_id", &self.directive_id)?;
        if self.delivered > self.compounds || self.acknowledged > self.compounds {
            return Err(FieldError::new(
                "directive_rollup.acknowledged",
                format!(
                    "more delivered ({}) or acknowledged ({}) than compounds ({})",
                    self.delivered, self.acknowledged, self.compounds
                ),
            ));
        }
        for r in &self.responses {
            check_id("directive_rollup.responses.member", &r.member)?;
            check_time("directive_rollup.responses.acked_at", &r.acked_at)?;
            check_len(
                "directive_rollup.responses.response",
                &r.response,
                MAX_TEXT_CHARS,
            )?;
        }
        Ok(())
    }

    fn sample() -> (String, Self) {
        (
            "7".into(),
            pb::DirectiveRollup {
                directive_id: "7".into(),
                compounds: 2,
                delivered: 2,
                acknowledged: 1,
                responses: vec![pb::MemberResponse {
                    member: "HM001".into(),
                    acked_at: "2020-02-03T08:00:00Z".into(),
                    response: "收到".into(),
                }],
            },
        )
    }
}
