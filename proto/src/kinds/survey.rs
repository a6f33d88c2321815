//! Surveys (排摸): the compound's own checks of possible returnees (a tip-off
//! by phone, a visit, a list from above) and what they found, keyed by
//! 排摸编号.

use chrono::NaiveDate;

use super::{LogBy, Column, KindSpec, Ledger, Rules, Sensitive};
use crate::validate::labels::{ANSWER_RESULT, SURVEY_SOURCE};
use crate::validate::record::{
    FieldError, MAX_ID_CHARS, MAX_PERSON_TEXT_CHARS, MAX_TEXT_CHARS, check_date, check_enum,
    check_len, check_required,
};
use crate::{Lane, pb};

/// The survey ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("排摸编号", "survey_id", true),
    Column::new("日期", "date", true),
    Column::new("姓名", "name", true).sensitive(Sensitive::Name),
    Column::new("地址", "address", true),
    Column::new("来源", "source", true),
    Column::new("结果", "result", true),
    Column::new("人员编号", "person_id", false),
    Column::new("备注", "note", false),
];

impl Rules for pb::Survey {
    const SPEC: KindSpec = KindSpec {
        name: "survey",
        aliases: &["surveys", "排摸"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "surveys",
            columns: COLUMNS,
        }),
        in_table: false,
        log: Some(LogBy::Record),
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        check_date("survey.date", &self.date, today)?;
        check_required("survey.name", &self.name, MAX_PERSON_TEXT_CHARS)?;
        check_required("survey.address", &self.address, MAX_TEXT_CHARS)?;
        check_enum("survey.source", self.source, pb::SurveySource::Unspecified)?;
        check_enum("survey.result", self.result, pb::AnswerResult::Unspecified)?;
        check_len("survey.person_id", &self.person_id, MAX_ID_CHARS)?;
        check_len("survey.note", &self.note, MAX_TEXT_CHARS)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.date.clone(),
            self.name.clone(),
            self.address.clone(),
            SURVEY_SOURCE.zh(self.source()).to_owned(),
            ANSWER_RESULT.zh(self.result()).to_owned(),
            self.person_id.clone(),
            self.note.clone(),
        ]
    }

    fn days(&self) -> [&str; 3] {
        [&self.date, "", ""]
    }

    fn log(&self, fold: &mut crate::log::LogFold<'_>) {
        fold.add_survey(&self.date, self.result());
    }

    fn sample() -> (String, Self) {
        (
            "SV1".into(),
            pb::Survey {
                date: super::SAMPLE_DAY.into(),
                name: "钱七".into(),
                address: "3号楼502".into(),
                source: pb::SurveySource::Call as i32,
                result: pb::AnswerResult::Unregistered as i32,
                person_id: "P1".into(),
                note: String::new(),
            },
        )
    }
}
