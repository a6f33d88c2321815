//! Problem fixes: a compound reports a problem to rectify fixed. Written by
//! the node (`fix`), urgent.

use chrono::NaiveDate;

use super::{KindSpec, Rules};
use crate::validate::record::{FieldError, MAX_TEXT_CHARS, check_id, check_len, check_time};
use crate::{Lane, pb};

impl Rules for pb::ProblemFix {
    const SPEC: KindSpec = KindSpec {
        name: "problem_fix",
        aliases: &[],
        lane: Lane::Urgent,
        ledger: None,
        in_table: false,
        log: None,
    };

    fn check(&self, _today: NaiveDate) -> Result<(), FieldError> {
        check_id("problem_fix.directive_id", &self.directive_id)?;
        check_len("problem_fix.note", &self.note, MAX_TEXT_CHARS)?;
        check_time("problem_fix.fixed_at", &self.fixed_at)
    }

    fn sample() -> (String, Self) {
        (
            "3".into(),
            pb::ProblemFix {
                directive_id: "3".into(),
                note: "已整改".into(),
                fixed_at: "2020-02-03T10:00:00Z".into(),
            },
        )
    }
}
