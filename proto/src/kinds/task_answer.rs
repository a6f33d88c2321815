//! Task answers: a compound's answer to one entry of a verification task.
//! Written by the node (`answer`), urgent.

use chrono::NaiveDate;

use super::{KindSpec, Rules};
use crate::validate::record::{
    FieldError, MAX_TEXT_CHARS, check_enum, check_id, check_len, check_time,
};
use crate::{Lane, pb};

impl Rules for pb::TaskAnswer {
    const SPEC: KindSpec = KindSpec {
        name: "task_answer",
        aliases: &[],
        lane: Lane::Urgent,
        ledger: None,
        in_table: false,
        log: None,
    };

    fn check(&self, _today: NaiveDate) -> Result<(), FieldError> {
        check_id("task_answer.directive_id", &self.directive_id)?;
        check_id("task_answer.entry_id", &self.entry_id)?;
        check_enum(
            "task_answer.result",
            self.result,
            crate::pb::AnswerResult::Unspecified,
        )?;
        check_len("task_answer.note", &self.note, MAX_TEXT_CHARS)?;
        check_time("task_answer.answered_at", &self.answered_at)
    }

    fn sample() -> (String, Self) {
        (
            "2/E1".into(),
            pb::TaskAnswer {
                directive_id: "2".into(),
                entry_id: "E1".into(),
                result: pb::AnswerResult::Registered as i32,
                note: String::new(),
                answered_at: "2020-02-03T09:00:00Z".into(),
            },
        )
    }
}
