//! Persons (人员): who lives in the compound, keyed by 人员编号; each lives
//! in a household.

use chrono::NaiveDate;

use super::{Column, KindSpec, Ledger, Rules, Sensitive};
use crate::table::{DailyCounts, PersonFacts, TableBuilder};
use crate::validate::record::{
    FieldError, MAX_PERSON_TEXT_CHARS, check_id, check_len, check_optional_date, check_phone_field,
    check_required, show, shown_reason,
};
use crate::validate::{check_id_number, parse_nationality};
use crate::{Lane, pb};

/// The person ledger's columns.
pub const COLUMNS: &[Column] = &[
    Column::new("人员编号", "person_id", true),
    Column::new("户编号", "household_id", true),
    Column::new("姓名", "name", true).sensitive(Sensitive::Name),
    Column::new("手机", "phone", false).sensitive(Sensitive::Phone),
    Column::new("证件号码", "id_number", true).sensitive(Sensitive::IdNumber),
    Column::new("国籍", "nationality", false),
    Column::new("来源地", "origin", false),
    Column::new("返沪日期", "return_date", false),
    Column::new("返沪登记", "registered", false),
];

impl Rules for pb::Person {
    const SPEC: KindSpec = KindSpec {
        name: "person",
        aliases: &["persons", "人员"],
        lane: Lane::Bulk,
        ledger: Some(Ledger {
            name: "persons",
            columns: COLUMNS,
        }),
        in_table: true,
        log: None,
    };

    fn check(&self, today: NaiveDate) -> Result<(), FieldError> {
        let p = self;
        check_id("person.household_id", &p.household_id)?;
        check_required("person.name", &p.name, MAX_PERSON_TEXT_CHARS)?;

        check_phone_field("person.phone", &p.phone)?;

        const NATIONALITY_RULE: &str = "nationality must be an upper-case ISO 3166 alpha-2 code";
        match parse_nationality(&p.nationality) {
            Ok(code) if code == p.nationality => {}
            Ok(_) => {
                return Err(FieldError::new(
                    "person.nationality",
                    format!("{NATIONALITY_RULE}, got {}", show(&p.nationality)),
                ));
            }
            Err(reason) => {
                return Err(FieldError::new(
                    "person.nationality",
                    shown_reason(&p.nationality, reason, NATIONALITY_RULE),
                ));
            }
        }

        const ID_RULE: &str = "id number must be an upper-case resident id (CN) or passport number (5-20 letters and digits)";
        match check_id_number(&p.nationality, &p.id_number) {
            Ok(normal) if normal == p.id_number => {}
            Ok(_) => {
                return Err(FieldError::new(
                    "person.id_number",
                    format!("{ID_RULE}, got {}", show(&p.id_number)),
                ));
            }
            Err(reason) => {
                return Err(FieldError::new(
                    "person.id_number",
                    shown_reason(&p.id_number, reason, ID_RULE),
                ));
            }
        }

        check_len("person.origin", &p.origin, MAX_PERSON_TEXT_CHARS)?;
        check_optional_date("person.return_date", &p.return_date, today)?;
        Ok(())
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.household_id.clone(),
            self.name.clone(),
            self.phone.clone(),
            self.id_number.clone(),
            self.nationality.clone(),
            self.origin.clone(),
            self.return_date.clone(),
            if self.registered { "是" } else { "否" }.to_owned(),
        ]
    }

    fn count(&self, builder: &TableBuilder<'_>, counts: &mut DailyCounts) {
        builder.add_person(
            counts,
            PersonFacts {
                nationality: &self.nationality,
                origin: &self.origin,
                return_date: &self.return_date,
                registered: self.registered,
            },
        );
    }

    fn sample() -> (String, Self) {
        (
            "P1".into(),
            pb::Person {
                household_id: "H1".into(),
                name: "张三".into(),
                phone: "13912345678".into(),
                id_number: "11010519491231002X".into(),
                nationality: "CN".into(),
                origin: "湖北省武汉市".into(),
                return_date: super::SAMPLE_DAY.into(),
                registered: true,
            },
        )
    }
}
