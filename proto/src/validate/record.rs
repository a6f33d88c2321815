//! The rule every record version must pass, at the node before it is
//! logged and at the hub before it is stored: [`check_record`].

use super::*;

/// A record field that breaks a rule: the field's path and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Path of the field, such as `record.id` or `person.id_number`.
    pub field: String,
    /// Why: lowercase, no trailing period, showing the offending value
    /// (truncated to 40 chars) where useful.
    pub reason: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Longest text accepted in any free-text field (names, addresses, notes, titles, bodies), in chars.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest id (record ids, household_id refs, etc.), in chars.
pub const MAX_ID_CHARS: usize = 64;

/// Longest compound code, in chars.
const MAX_COMPOUND_CHARS: usize = 32;
/// Longest record origin (a node id or "hub"), in chars.
const MAX_ORIGIN_CHARS: usize = 128;
/// Longest building, unit or room, in chars.
pub(crate) const MAX_ADDRESS_PART_CHARS: usize = 64;
/// Longest person's name, and longest place a person returned from, in chars.
pub(crate) const MAX_PERSON_TEXT_CHARS: usize = 200;
/// Largest count a daily report may carry.
pub(crate) const MAX_COUNT: u64 = 10_000_000;
/// How many chars of an offending value a reason shows.
const SHOW_CHARS: usize = 40;

/// An offending value as a reason shows it: quoted and escaped, cut to its
/// first 40 chars (with the full length) when longer.
pub(crate) fn show(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(SHOW_CHARS).collect();
    if chars.next().is_none() {
        format!("{head:?}")
    } else {
        format!("{head:?}... ({} chars)", s.chars().count())
    }
}

/// `reason` (from a ledger rule, which quotes the whole value) when `value`
/// is short enough to show whole; otherwise `rule` with the value truncated.
pub(crate) fn shown_reason(value: &str, reason: String, rule: &str) -> String {
    if value.chars().count() <= SHOW_CHARS {
        reason
    } else {
        format!("{rule}, got {}", show(value))
    }
}

/// At most `max` chars, and no U+0000 (which no ledger cell means, and
/// which PostgreSQL's text, a hub's store, cannot hold).
pub(crate) fn check_len(field: &str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.contains('\0') {
        return Err(FieldError::new(
            field,
            format!("must not contain the character U+0000, got {}", show(s)),
        ));
    }
    // No more bytes than `max` means no more chars: most values stop here.
    if s.len() > max && s.chars().nth(max).is_some() {
        let n = s.chars().count();
        return Err(FieldError::new(
            field,
            format!("too long: {n} chars, at most {max}"),
        ));
    }
    Ok(())
}

/// Not empty (nor only whitespace), and at most `max` chars.
pub(crate) fn check_required(field: &str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.trim().is_empty() {
        return Err(FieldError::new(
            field,
            format!("must not be empty, got {}", show(s)),
        ));
    }
    check_len(field, s, max)
}

/// An id: not empty, at most [`MAX_ID_CHARS`] chars, no control characters.
pub(crate) fn check_id(field: &str, s: &str) -> Result<(), FieldError> {
    check_required(field, s, MAX_ID_CHARS)?;
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("must not contain control characters, got {}", show(s)),
        ));
    }
    Ok(())
}

/// A date as records store it: `YYYY-MM-DD`, from 2000-01-01 to a year
/// after `today` (see [`parse_date`]).
pub(crate) fn check_date(
    field: &str,
    s: &str,
    today: chrono::NaiveDate,
) -> Result<chrono::NaiveDate, FieldError> {
    const RULE: &str = "date must be YYYY-MM-DD";
    // The common case, without the lenient parser's allocations: a
    // canonical date in range. Anything else takes the path below, which
    // says what is wrong.
    if let Some(date) = crate::table::canonical_day(s)
        && super::date_in_range(date, today).is_ok()
    {
        return Ok(date);
    }
    let date = parse_date(s, today)
        .map_err(|reason| FieldError::new(field, shown_reason(s, reason, RULE)))?;
    if date.format("%Y-%m-%d").to_string() != s {
        return Err(FieldError::new(field, format!("{RULE}, got {}", show(s))));
    }
    Ok(date)
}

/// An optional date: empty, or as [`check_date`].
pub(crate) fn check_optional_date(
    field: &str,
    s: &str,
    today: chrono::NaiveDate,
) -> Result<Option<chrono::NaiveDate>, FieldError> {
    if s.is_empty() {
        return Ok(None);
    }
    check_date(field, s, today).map(Some)
}

/// A time in RFC 3339, such as `2026-11-29T08:00:00Z`.
pub(crate) fn check_time(field: &str, s: &str) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
        FieldError::new(field, format!("must be an RFC 3339 time, got {}", show(s)))
    })?;
    Ok(())
}

/// A text in the normal form a ledger rule (`parse`) gives it: stored
/// values are normalised, so a value the rule rewrites or refuses breaks
/// the record rule.
pub(crate) fn check_normal(
    field: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<String, String>,
    rule: &str,
) -> Result<(), FieldError> {
    match parse(value) {
        Ok(normal) if normal == value => Ok(()),
        Ok(_) => Err(FieldError::new(
            field,
            format!("{rule}, got {}", show(value)),
        )),
        Err(reason) => Err(FieldError::new(field, shown_reason(value, reason, rule))),
    }
}

/// A phone as stored: empty, or 11 digits starting 13-19. A bad value is
/// shown masked.
pub(crate) fn check_phone_field(field: &str, phone: &str) -> Result<(), FieldError> {
    const PHONE_RULE: &str = "phone must be empty or 11 digits starting 13-19";
    match check_phone(phone) {
        Ok(normal) if normal == phone => Ok(()),
        Ok(_) => Err(FieldError::new(
            field,
            format!("{PHONE_RULE}, got {}", show(&crate::mask::phone(phone))),
        )),
        Err(reason) => Err(FieldError::new(
            field,
            shown_reason(phone, reason, PHONE_RULE),
        )),
    }
}

/// An enum value (as prost stores it) that is known and not `UNSPECIFIED`.
pub(crate) fn check_enum<E: TryFrom<i32> + PartialEq>(
    field: &str,
    value: i32,
    unspecified: E,
) -> Result<(), FieldError> {
    match E::try_from(value) {
        Ok(e) if e == unspecified => Err(FieldError::new(field, "must not be unspecified")),
        Ok(_) => Ok(()),
        Err(_) => Err(FieldError::new(field, format!("unknown value {value}"))),
    }
}

/// Checks one pushed record version as the hub receives it. `today` bounds dates (from 2000-01-01 to today + 365 days).
///
/// The envelope (`compound`, `id`, `origin`, `stamp`, and a body naming the
/// kind) is checked for every version; the body's fields only for live
/// versions, since a tombstone carries the empty message of its kind. Stored
/// values are normalised, so each must already be in the form the ledger
/// rules return (an upper-case alpha-2 nationality, `YYYY-MM-DD` dates,
/// digits-only phones, upper-case ID numbers).
///
/// # Errors
/// The first field that breaks a rule, by path (`record.id`, `body`,
/// `person.id_number`, `isolation.release`, ...).
pub fn check_record(
    record: &crate::pb::Record,
    today: chrono::NaiveDate,
) -> Result<(), FieldError> {
    let compound = &record.compound;
    let compound_ok = !compound.is_empty()
        && compound.len() <= MAX_COMPOUND_CHARS
        && compound
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !compound_ok {
        return Err(FieldError::new(
            "record.compound",
            format!(
                "must be 1-{MAX_COMPOUND_CHARS} letters, digits, '_' or '-', got {}",
                show(compound)
            ),
        ));
    }
    check_id("record.id", &record.id)?;
    if record.origin.is_empty() {
        return Err(FieldError::new("record.origin", "must not be empty"));
    }
    check_len("record.origin", &record.origin, MAX_ORIGIN_CHARS)?;
    if record.stamp == 0 {
        return Err(FieldError::new("record.stamp", "must be above 0"));
    }
    // Stored as a SQLite integer: above i64::MAX it would read back negative
    // and sort before every real version.
    if record.stamp > i64::MAX as u64 {
        return Err(FieldError::new(
            "record.stamp",
            format!(
                "{} is beyond the largest stamp ({})",
                record.stamp,
                i64::MAX
            ),
        ));
    }
    let Some(body) = &record.body else {
        return Err(FieldError::new("body", "missing"));
    };
    if record.deleted {
        return Ok(());
    }
    crate::kinds::check_body(body, today)
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use crate::pb::{self, record::Body};
    use chrono::NaiveDate;
    use proptest::prelude::*;

    /// Bad values for one field each: the field's path and how to break it.
    type Cases<T> = Vec<(&'static str, Box<dyn Fn(&mut T)>)>;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    fn record(body: Body) -> pb::Record {
        pb::Record {
            compound: "c-01_A".into(),
            id: "r1".into(),
            stamp: 1 << 16,
            origin: "node-1".into(),
            deleted: false,
            body: Some(body),
        }
    }

    fn household() -> pb::Household {
        pb::Household {
            building: "12".into(),
            unit: "3".into(),
            room: "402".into(),
            housing: pb::Housing::Rented as i32,
        }
    }

    fn person() -> pb::Person {
        pb::Person {
            household_id: "h1".into(),
            name: "张三".into(),
            phone: "13912345678".into(),
            id_number: "11010519491231002X".into(),
            nationality: "CN".into(),
            origin: "湖北省武汉市".into(),
            return_date: "2026-11-20".into(),
            registered: true,
        }
    }

    fn isolation() -> pb::Isolation {
        pb::Isolation {
            person_id: "p1".into(),
            kind: pb::IsolationKind::Home as i32,
            start: "2026-11-20".into(),
            release: "2026-12-04".into(),
        }
    }

    fn receipt() -> pb::Receipt {
        pb::Receipt {
            directive_id: "7".into(),
            acked_at: "2026-11-29T08:00:00Z".into(),
            response: "收到".into(),
        }
    }

    fn answer() -> pb::TaskAnswer {
        pb::TaskAnswer {
            directive_id: "7".into(),
            entry_id: "1".into(),
            result: pb::AnswerResult::Registered as i32,
            note: String::new(),
            answered_at: "2026-11-29T08:00:00+08:00".into(),
        }
    }

    fn fix() -> pb::ProblemFix {
        pb::ProblemFix {
            directive_id: "8".into(),
            note: "已整改".into(),
            fixed_at: "2026-11-29T08:00:00Z".into(),
        }
    }

    fn report() -> pb::DailyReport {
        pb::DailyReport {
            date: "2026-11-29".into(),
            households: 120,
            persons: 300,
            computed_at: "2026-11-29T08:00:00Z".into(),
            ..Default::default()
        }
    }

    fn good() -> Vec<pb::Record> {
        vec![
            record(Body::Household(household())),
            record(Body::Person(person())),
            record(Body::Isolation(isolation())),
            record(Body::Receipt(receipt())),
            record(Body::TaskAnswer(answer())),
            record(Body::ProblemFix(fix())),
            record(Body::DailyReport(report())),
        ]
    }

    /// Asserts that `r` is refused for `field`, with a well-formed reason.
    #[track_caller]
    fn refused(r: &pb::Record, field: &str) -> FieldError {
        match check_record(r, today()) {
            Ok(()) => panic!("expected {field} to be refused in {r:?}"),
            Err(e) => {
                assert_eq!(e.field, field, "{e}");
                assert!(!e.reason.is_empty());
                assert!(!e.reason.ends_with('.'), "{e}");
                assert!(!e.reason.starts_with(|c: char| c.is_uppercase()), "{e}");
                assert_eq!(e.to_string(), format!("{}: {}", e.field, e.reason));
                e
            }
        }
    }

    fn person_with(f: impl FnOnce(&mut pb::Person)) -> pb::Record {
        let mut p = person();
        f(&mut p);
        record(Body::Person(p))
    }

    #[test]
    fn good_records_pass() {
        for r in good() {
            assert_eq!(check_record(&r, today()), Ok(()), "{r:?}");
        }
        let foreigner = person_with(|p| {
            p.nationality = "US".into();
            p.id_number = "E12345678".into();
            p.phone = String::new();
            p.return_date = String::new();
            p.origin = String::new();
        });
        assert_eq!(check_record(&foreigner, today()), Ok(()));
        let mut h = household();
        h.building = String::new();
        h.housing = pb::Housing::Vacant as i32;
        assert_eq!(check_record(&record(Body::Household(h)), today()), Ok(()));
        let mut i = isolation();
        i.release = String::new();
        i.kind = pb::IsolationKind::Central as i32;
        assert_eq!(check_record(&record(Body::Isolation(i)), today()), Ok(()));
        let mut i = isolation();
        i.release = i.start.clone();
        assert_eq!(check_record(&record(Body::Isolation(i)), today()), Ok(()));
    }

    #[test]
    fn envelope() {
        for r in good() {
            let mut bad = r.clone();
            bad.compound = String::new();
            refused(&bad, "record.compound");
            bad.compound = "a".repeat(33);
            refused(&bad, "record.compound");
            bad.compound = "街道 1".into();
            refused(&bad, "record.compound");
            bad.compound = "c.1".into();
            refused(&bad, "record.compound");

            let mut bad = r.clone();
            bad.id = String::new();
            refused(&bad, "record.id");
            bad.id = " ".into();
            refused(&bad, "record.id");
            bad.id = "x".repeat(MAX_ID_CHARS + 1);
            refused(&bad, "record.id");
            bad.id = "a\nb".into();
            refused(&bad, "record.id");
            bad.id = "a\u{0}".into();
            refused(&bad, "record.id");

            let mut bad = r.clone();
            bad.origin = String::new();
            refused(&bad, "record.origin");
            bad.origin = "o".repeat(129);
            refused(&bad, "record.origin");

            let mut bad = r.clone();
            bad.stamp = 0;
            refused(&bad, "record.stamp");

            let mut bad = r.clone();
            bad.body = None;
            assert_eq!(refused(&bad, "body").reason, "missing");
            bad.deleted = true;
            refused(&bad, "body");
        }
        let mut ok = good()[0].clone();
        ok.compound = "a".repeat(32);
        ok.id = "x".repeat(MAX_ID_CHARS);
        ok.origin = "o".repeat(128);
        ok.stamp = 1;
        assert_eq!(check_record(&ok, today()), Ok(()));
        ok.id = "户-1/甲".into();
        assert_eq!(check_record(&ok, today()), Ok(()));
    }

    #[test]
    fn tombstones_need_only_the_envelope() {
        for kind in crate::Kind::ALL {
            let mut r = record(kind.empty_body());
            r.deleted = true;
            assert_eq!(check_record(&r, today()), Ok(()), "{kind:?}");
            r.stamp = 0;
            refused(&r, "record.stamp");
        }
        // The same empty bodies are refused when live.
        let live = record(crate::Kind::Person.empty_body());
        refused(&live, "person.household_id");
    }

    #[test]
    fn household_fields() {
        for housing in [0, 4, -1, i32::MAX] {
            let mut h = household();
            h.housing = housing;
            refused(&record(Body::Household(h)), "household.housing");
        }
        let mut h = household();
        h.housing = 9;
        let e = refused(&record(Body::Household(h)), "household.housing");
        assert!(e.reason.contains('9'), "{e}");

        let mut h = household();
        h.building = "楼".repeat(65);
        refused(&record(Body::Household(h)), "household.building");
        let mut h = household();
        h.unit = "u".repeat(65);
        refused(&record(Body::Household(h)), "household.unit");
        let mut h = household();
        h.room = "r".repeat(65);
        refused(&record(Body::Household(h)), "household.room");
        let mut h = household();
        h.room = "房".repeat(64);
        assert_eq!(check_record(&record(Body::Household(h)), today()), Ok(()));
    }

    #[test]
    fn person_fields() {
        let cases: Cases<pb::Person> = vec![
            ("person.household_id", Box::new(|p| p.household_id.clear())),
            (
                "person.household_id",
                Box::new(|p| p.household_id = "h".repeat(65)),
            ),
            (
                "person.household_id",
                Box::new(|p| p.household_id = "h\t1".into()),
            ),
            ("person.name", Box::new(|p| p.name.clear())),
            ("person.name", Box::new(|p| p.name = "  ".into())),
            ("person.name", Box::new(|p| p.name = "名".repeat(201))),
            ("person.phone", Box::new(|p| p.phone = "12345".into())),
            (
                "person.phone",
                Box::new(|p| p.phone = "139-1234-5678".into()),
            ),
            (
                "person.phone",
                Box::new(|p| p.phone = " 13912345678".into()),
            ),
            (
                "person.phone",
                Box::new(|p| p.phone = "１３９１２３４５６７８".into()),
            ),
            ("person.nationality", Box::new(|p| p.nationality.clear())),
            (
                "person.nationality",
                Box::new(|p| p.nationality = "cn".into()),
            ),
            (
                "person.nationality",
                Box::new(|p| p.nationality = "CHN".into()),
            ),
            (
                "person.nationality",
                Box::new(|p| p.nationality = "中国".into()),
            ),
            (
                "person.nationality",
                Box::new(|p| p.nationality = "XX".into()),
            ),
            (
                "person.nationality",
                Box::new(|p| p.nationality = " CN".into()),
            ),
            ("person.id_number", Box::new(|p| p.id_number.clear())),
            (
                "person.id_number",
                Box::new(|p| p.id_number = "11010519491231002x".into()),
            ),
            (
                "person.id_number",
                Box::new(|p| p.id_number = "110105194912310023".into()),
            ),
            (
                "person.id_number",
                Box::new(|p| p.id_number = "E12345678".into()),
            ),
            (
                "person.id_number",
                Box::new(|p| {
                    p.nationality = "US".into();
                    p.id_number = "e12345678".into();
                }),
            ),
            (
                "person.id_number",
                Box::new(|p| {
                    p.nationality = "US".into();
                    p.id_number = "AB12".into();
                }),
            ),
            ("person.origin", Box::new(|p| p.origin = "省".repeat(201))),
            (
                "person.return_date",
                Box::new(|p| p.return_date = "2026-2-3".into()),
            ),
            (
                "person.return_date",
                Box::new(|p| p.return_date = "2026/02/03".into()),
            ),
            (
                "person.return_date",
                Box::new(|p| p.return_date = "2026年2月3日".into()),
            ),
            (
                "person.return_date",
                Box::new(|p| p.return_date = " 2026-02-03".into()),
            ),
            (
                "person.return_date",
                Box::new(|p| p.return_date = "2026-02-30".into()),
            ),
            (
                "person.return_date",
                Box::new(|p| p.return_date = "1999-12-31".into()),
            ),
            (
                "person.return_date",
                Box::new(|p| p.return_date = "2027-11-30".into()),
            ),
        ];
        for (field, f) in cases {
            let r = person_with(f);
            refused(&r, field);
        }
        let e = refused(
            &person_with(|p| p.id_number = "110105194912310023".into()),
            "person.id_number",
        );
        assert_eq!(e.reason, "bad check digit: expected X, found 3");
        let e = refused(
            &person_with(|p| p.nationality = "cn".into()),
            "person.nationality",
        );
        assert!(e.reason.contains("\"cn\""), "{e}");
        assert_eq!(
            check_record(
                &person_with(|p| p.return_date = "2027-11-29".into()),
                today()
            ),
            Ok(())
        );
    }

    #[test]
    fn isolation_fields() {
        let cases: Cases<pb::Isolation> = vec![
            ("isolation.person_id", Box::new(|i| i.person_id.clear())),
            (
                "isolation.person_id",
                Box::new(|i| i.person_id = "p".repeat(65)),
            ),
            ("isolation.kind", Box::new(|i| i.kind = 0)),
            ("isolation.kind", Box::new(|i| i.kind = 3)),
            ("isolation.kind", Box::new(|i| i.kind = -5)),
            ("isolation.start", Box::new(|i| i.start.clear())),
            (
                "isolation.start",
                Box::new(|i| i.start = "2026-11-2".into()),
            ),
            (
                "isolation.start",
                Box::new(|i| i.start = "2026-13-01".into()),
            ),
            (
                "isolation.start",
                Box::new(|i| i.start = "1999-01-01".into()),
            ),
            (
                "isolation.release",
                Box::new(|i| i.release = "2026-11-19".into()),
            ),
            (
                "isolation.release",
                Box::new(|i| i.release = "12/04/2026".into()),
            ),
            (
                "isolation.release",
                Box::new(|i| i.release = "2028-01-01".into()),
            ),
        ];
        for (field, f) in cases {
            let mut i = isolation();
            f(&mut i);
            refused(&record(Body::Isolation(i)), field);
        }
        let mut i = isolation();
        i.release = "2026-11-19".into();
        let e = refused(&record(Body::Isolation(i)), "isolation.release");
        assert_eq!(e.reason, "release 2026-11-19 is before start 2026-11-20");
    }

    #[test]
    fn receipt_fields() {
        let cases: Cases<pb::Receipt> = vec![
            ("receipt.directive_id", Box::new(|r| r.directive_id.clear())),
            (
                "receipt.directive_id",
                Box::new(|r| r.directive_id = "\u{7f}".into()),
            ),
            ("receipt.acked_at", Box::new(|r| r.acked_at.clear())),
            (
                "receipt.acked_at",
                Box::new(|r| r.acked_at = "2026-11-29".into()),
            ),
            (
                "receipt.acked_at",
                Box::new(|r| r.acked_at = "2026-11-29 08:00".into()),
            ),
            (
                "receipt.response",
                Box::new(|r| r.response = "回".repeat(MAX_TEXT_CHARS + 1)),
            ),
        ];
        for (field, f) in cases {
            let mut r = receipt();
            f(&mut r);
            refused(&record(Body::Receipt(r)), field);
        }
        let mut r = receipt();
        r.response = "回".repeat(MAX_TEXT_CHARS);
        assert_eq!(check_record(&record(Body::Receipt(r)), today()), Ok(()));
    }

    #[test]
    fn task_answer_fields() {
        let cases: Cases<pb::TaskAnswer> = vec![
            (
                "task_answer.directive_id",
                Box::new(|a| a.directive_id.clear()),
            ),
            ("task_answer.entry_id", Box::new(|a| a.entry_id.clear())),
            (
                "task_answer.entry_id",
                Box::new(|a| a.entry_id = "e".repeat(65)),
            ),
            ("task_answer.result", Box::new(|a| a.result = 0)),
            ("task_answer.result", Box::new(|a| a.result = 5)),
            (
                "task_answer.note",
                Box::new(|a| a.note = "n".repeat(MAX_TEXT_CHARS + 1)),
            ),
            (
                "task_answer.answered_at",
                Box::new(|a| a.answered_at.clear()),
            ),
            (
                "task_answer.answered_at",
                Box::new(|a| a.answered_at = "now".into()),
            ),
        ];
        for (field, f) in cases {
            let mut a = answer();
            f(&mut a);
            refused(&record(Body::TaskAnswer(a)), field);
        }
    }

    #[test]
    fn problem_fix_fields() {
        let cases: Cases<pb::ProblemFix> = vec![
            (
                "problem_fix.directive_id",
                Box::new(|f| f.directive_id.clear()),
            ),
            (
                "problem_fix.note",
                Box::new(|f| f.note = "n".repeat(MAX_TEXT_CHARS + 1)),
            ),
            ("problem_fix.fixed_at", Box::new(|f| f.fixed_at.clear())),
            (
                "problem_fix.fixed_at",
                Box::new(|f| f.fixed_at = "2026-11-29T25:00:00Z".into()),
            ),
        ];
        for (field, f) in cases {
            let mut x = fix();
            f(&mut x);
            refused(&record(Body::ProblemFix(x)), field);
        }
    }

    #[test]
    fn daily_report_fields() {
        let cases: Cases<pb::DailyReport> = vec![
            ("daily_report.date", Box::new(|r| r.date.clear())),
            (
                "daily_report.date",
                Box::new(|r| r.date = "2026/11/29".into()),
            ),
            (
                "daily_report.date",
                Box::new(|r| r.date = "2028-11-29".into()),
            ),
            (
                "daily_report.households",
                Box::new(|r| r.households = 10_000_001),
            ),
            ("daily_report.persons", Box::new(|r| r.persons = u64::MAX)),
            (
                "daily_report.released_today",
                Box::new(|r| r.released_today = 10_000_001),
            ),
            (
                "daily_report.central_isolation",
                Box::new(|r| r.central_isolation = 1 << 40),
            ),
            (
                "daily_report.computed_at",
                Box::new(|r| r.computed_at.clear()),
            ),
            (
                "daily_report.computed_at",
                Box::new(|r| r.computed_at = "yesterday".into()),
            ),
        ];
        for (field, f) in cases {
            let mut r = report();
            f(&mut r);
            refused(&record(Body::DailyReport(r)), field);
        }
        let mut r = report();
        r.foreigners = 10_000_000;
        assert_eq!(check_record(&record(Body::DailyReport(r)), today()), Ok(()));
    }

    #[test]
    fn reasons_show_at_most_forty_chars_of_a_value() {
        let long = "号".repeat(5000);
        let records = [
            person_with(|p| p.phone = long.clone()),
            person_with(|p| p.nationality = long.clone()),
            person_with(|p| p.id_number = long.clone()),
            person_with(|p| p.return_date = long.clone()),
            person_with(|p| p.name = long.clone()),
            record(Body::Receipt(pb::Receipt {
                acked_at: long.clone(),
                ..receipt()
            })),
        ];
        for r in records {
            let e = check_record(&r, today()).unwrap_err();
            assert!(e.reason.chars().count() < 200, "{e}");
        }
        let e = check_record(&person_with(|p| p.phone = long.clone()), today()).unwrap_err();
        assert!(e.reason.contains(&"号".repeat(40)), "{e}");
        assert!(!e.reason.contains(&"号".repeat(41)), "{e}");
        assert!(e.reason.contains("5000 chars"), "{e}");
    }

    /// Text that reaches each rule: arbitrary Unicode, and values close to
    /// valid ones so deeper checks are exercised too.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "\\PC{0,80}",
            Just(String::new()),
            "[A-Za-z0-9_-]{1,40}",
            "[A-Z]{2,3}",
            "1[0-9]{10}",
            "[0-9]{17}[0-9Xx]",
            Just("11010519491231002X".to_owned()),
            "20[0-9]{2}-[0-9]{1,2}-[0-9]{1,2}",
            "2026-1[0-2]-[0-3][0-9]",
            "2026-11-29T[0-2][0-9]:[0-5][0-9]:[0-9]{2}(Z|\\+08:00)",
            "[\u{4e00}-\u{9fff}]{1,5}",
            "\\PC{1990,2010}",
        ]
    }

    fn enum_value() -> impl Strategy<Value = i32> {
        prop_oneof![0..6i32, any::<i32>()]
    }

    fn count() -> impl Strategy<Value = u64> {
        prop_oneof![0..20_000_000u64, any::<u64>()]
    }

    fn body() -> BoxedStrategy<Body> {
        prop_oneof![
            (text(), text(), text(), enum_value()).prop_map(|(building, unit, room, housing)| {
                Body::Household(pb::Household {
                    building,
                    unit,
                    room,
                    housing,
                })
            }),
            (
                (
                    prop_oneof![3 => "[a-z0-9]{1,10}", 1 => text()],
                    prop_oneof![3 => "[\u{4e00}-\u{9fff}]{1,4}", 1 => text()],
                    prop_oneof![2 => Just(String::new()), 2 => "1[3-9][0-9]{9}", 1 => text()],
                    text(),
                ),
                (
                    prop_oneof![3 => Just("CN".to_owned()), 1 => "[A-Z]{2}", 1 => text()],
                    text(),
                    text(),
                    any::<bool>()
                )
            )
                .prop_map(
                    |(
                        (household_id, name, phone, id_number),
                        (nationality, origin, return_date, registered),
                    )| {
                        Body::Person(pb::Person {
                            household_id,
                            name,
                            phone,
                            id_number,
                            nationality,
                            origin,
                            return_date,
                            registered,
                        })
                    }
                ),
            (text(), enum_value(), text(), text()).prop_map(|(person_id, kind, start, release)| {
                Body::Isolation(pb::Isolation {
                    person_id,
                    kind,
                    start,
                    release,
                })
            }),
            (text(), text(), text()).prop_map(|(directive_id, acked_at, response)| {
                Body::Receipt(pb::Receipt {
                    directive_id,
                    acked_at,
                    response,
                })
            }),
            (text(), text(), enum_value(), text(), text()).prop_map(
                |(directive_id, entry_id, result, note, answered_at)| {
                    Body::TaskAnswer(pb::TaskAnswer {
                        directive_id,
                        entry_id,
                        result,
                        note,
                        answered_at,
                    })
                }
            ),
            (text(), text(), text()).prop_map(|(directive_id, note, fixed_at)| {
                Body::ProblemFix(pb::ProblemFix {
                    directive_id,
                    note,
                    fixed_at,
                })
            }),
            (text(), proptest::collection::vec(count(), 14), text()).prop_map(
                |(date, n, computed_at)| {
                    Body::DailyReport(pb::DailyReport {
                        date,
                        households: n[0],
                        housing_owner: n[1],
                        housing_rented: n[2],
                        housing_vacant: n[3],
                        persons: n[4],
                        foreigners: n[5],
                        returned_key_total: n[6],
                        returned_key_today: n[7],
                        returned_other_total: n[8],
                        returned_other_today: n[9],
                        unregistered: n[10],
                        home_isolation: n[11],
                        central_isolation: n[12],
                        released_today: n[13],
                        computed_at,
                        log: (n[0] % 2 == 0).then(|| {
                            crate::log::DailyLog::from_values(std::array::from_fn(|i| {
                                n[i % 14].rotate_left(i as u32)
                            }))
                            .to_report()
                        }),
                    })
                }
            ),
        ]
        .boxed()
    }

    fn day() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "20[0-2][0-9]-[01][0-9]-[0-3][0-9]",
            1 => Just(String::new()),
            1 => text()
        ]
    }

    /// Bodies of the kinds of the compound's day.
    fn day_body() -> BoxedStrategy<Body> {
        prop_oneof![
            (text(), day(), enum_value(), any::<u32>(), text(), text()).prop_map(
                |(person_id, date, slot, temperature_tenths, symptoms, checked_by)| {
                    Body::HealthCheck(pb::HealthCheck {
                        person_id,
                        date,
                        slot,
                        temperature_tenths: temperature_tenths % 500,
                        symptoms,
                        checked_by,
                    })
                }
            ),
            (text(), day(), enum_value(), text(), text()).prop_map(
                |(household_id, date, kind, by, note)| {
                    Body::Service(pb::Service {
                        household_id,
                        date,
                        kind,
                        by,
                        note,
                    })
                }
            ),
            (
                (text(), prop_oneof!["1[3-9][0-9]{9}", text()], text()),
                (
                    prop_oneof![
                        "20[0-2][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]",
                        text()
                    ],
                    0..20u32,
                    day(),
                    day()
                )
            )
                .prop_map(
                    |(
                        (name, phone, household_id),
                        (reserved_at, quantity, notified_on, collected_on),
                    )| {
                        Body::MaskReservation(pb::MaskReservation {
                            name,
                            phone,
                            household_id,
                            reserved_at,
                            quantity,
                            notified_on,
                            collected_on,
                        })
                    }
                ),
            (
                day(),
                prop_oneof!["[鄂沪京X][A-Z][A-Z0-9]{4,7}", text()],
                enum_value(),
                text()
            )
                .prop_map(|(date, plate, action, note)| {
                    Body::VehicleCheck(pb::VehicleCheck {
                        date,
                        plate,
                        action,
                        note,
                    })
                }),
            (day(), text(), text()).prop_map(|(date, area, by)| Body::Disinfection(
                pb::Disinfection { date, area, by }
            )),
            (day(), text(), day(), text()).prop_map(|(received, subject, closed, result)| {
                Body::HotlineTicket(pb::HotlineTicket {
                    received,
                    subject,
                    closed,
                    result,
                })
            }),
            (day(), text(), count(), count()).prop_map(
                |(date, gate, temperature_checks, parcels)| {
                    Body::GateCount(pb::GateCount {
                        date,
                        gate,
                        temperature_checks,
                        parcels,
                    })
                }
            ),
            (
                (day(), text(), text(), enum_value()),
                (enum_value(), text(), text())
            )
                .prop_map(
                    |((date, name, address, source), (result, person_id, note))| {
                        Body::Survey(pb::Survey {
                            date,
                            name,
                            address,
                            source,
                            result,
                            person_id,
                            note,
                        })
                    }
                ),
        ]
        .boxed()
    }

    fn any_record() -> impl Strategy<Value = pb::Record> {
        (
            prop_oneof![3 => "[A-Za-z0-9_-]{1,32}", 1 => text()],
            prop_oneof![3 => "[a-z0-9/]{1,20}", 1 => text()],
            prop_oneof![1 => Just(0u64), 5 => 1..u64::MAX],
            prop_oneof![3 => "[a-z0-9-]{1,20}", 1 => text()],
            prop_oneof![4 => Just(false), 1 => Just(true)],
            proptest::option::weighted(0.95, prop_oneof![2 => body(), 1 => day_body()]),
        )
            .prop_map(|(compound, id, stamp, origin, deleted, body)| pb::Record {
                compound,
                id,
                stamp,
                origin,
                deleted,
                body,
            })
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        prop_oneof![
            Just(today()),
            Just(NaiveDate::MIN),
            Just(NaiveDate::MAX),
            (-400_000i64..400_000).prop_map(|d| {
                today()
                    .checked_add_signed(chrono::TimeDelta::days(d))
                    .unwrap_or(today())
            }),
        ]
    }

    /// U+0000 is refused in every text field, naming it (PostgreSQL's
    /// text, a hub's store, cannot hold it).
    #[test]
    fn the_nul_character_is_refused_naming_the_field() {
        let mut p = person();
        p.origin = "湖北\0武汉".into();
        let error = check_record(&record(Body::Person(p)), today()).unwrap_err();
        assert_eq!(error.field, "person.origin");
        assert!(error.reason.contains("U+0000"), "{}", error.reason);
        let mut r = record(Body::Person(person()));
        r.origin = "node\u{0}-1".into();
        assert_eq!(
            check_record(&r, today()).unwrap_err().field,
            "record.origin"
        );
        let mut h = household();
        h.room = "4\u{0}-2".into();
        assert!(check_record(&record(Body::Household(h)), today()).is_err());
    }

    #[test]
    fn check_date_takes_every_canonical_date_in_range_and_no_other() {
        let today = NaiveDate::from_ymd_opt(2020, 2, 20).unwrap();
        let mut day = NaiveDate::from_ymd_opt(1999, 12, 1).unwrap();
        while day < NaiveDate::from_ymd_opt(2021, 4, 1).unwrap() {
            let s = day.format("%Y-%m-%d").to_string();
            let in_range = day >= NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()
                && day <= today + chrono::TimeDelta::days(super::super::MAX_DAYS_AHEAD);
            assert_eq!(
                check_date("d", &s, today).ok(),
                in_range.then_some(day),
                "{s}"
            );
            day = day.succ_opt().unwrap();
        }
        for s in [
            "2020-2-20",
            "2020-02-30",
            "2020-02-2x",
            "2020/02/20",
            " 2020-02-20",
            "２０２０-02-20",
        ] {
            assert!(check_date("d", s, today).is_err(), "{s}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The canonical fast path accepts exactly what the lenient parser
        /// accepts and writes back unchanged.
        #[test]
        fn check_date_accepts_exactly_canonical_dates_in_range(
            s in "[0-9 ]{0,5}[-/.]?[0-9]{0,3}[-/.]?[0-9]{0,3}",
            today in any_date(),
        ) {
            let reference = parse_date(&s, today)
                .ok()
                .filter(|d| d.format("%Y-%m-%d").to_string() == s);
            prop_assert_eq!(check_date("date", &s, today).ok(), reference);
        }

        #[test]
        fn check_record_never_panics(r in any_record(), today in any_date()) {
            if let Err(e) = check_record(&r, today) {
                prop_assert!(!e.field.is_empty());
                prop_assert!(!e.reason.is_empty());
                prop_assert!(!e.reason.ends_with('.'), "{}", e);
                // A value is shown cut to 40 chars, so a reason stays short
                // whatever a node sends.
                prop_assert!(e.reason.chars().count() < 600, "{}", e);
            }
        }

        #[test]
        fn good_records_stay_good_with_any_envelope_ids(
            id in "[A-Za-z0-9/_\u{4e00}-\u{9fff}-]{1,64}",
            stamp in 1..=i64::MAX as u64,
        ) {
            for mut r in good() {
                r.id = id.clone();
                r.stamp = stamp;
                prop_assert_eq!(check_record(&r, today()), Ok(()));
            }
        }
    }
}
