//! Value rules for ledger fields (DESIGN.md, "Compound ledger import").
//!
//! Each check returns the normalised value or a reason (a short English
//! sentence fragment, no trailing period) that the caller wraps with
//! file/row/column.
//!
//! - this module: lenient parsers of ledger cells (IDs, phones, dates, enums);
//! - [`record`]: [`check_record`], the rule for every record version;
//! - [`labels`]: the enums' ledger labels; [`plate`]: vehicle plates;
//! - `iso3166`: the country code table.

mod iso3166;
pub mod labels;
pub mod plate;
pub(crate) mod record;

use iso3166::ISO3166;
pub use record::{FieldError, MAX_ID_CHARS, MAX_TEXT_CHARS, check_record};

/// GB 11643 weights for the first 17 digits of a resident ID.
const GB11643_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character by weighted sum mod 11.
const GB11643_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The GB 11643 check character for the first 17 digits of a resident ID,
/// or `None` when `first17` is not exactly 17 ASCII digits.
pub fn gb11643_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(GB11643_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(GB11643_CHECK[(sum % 11) as usize])
}

/// Checks a PRC resident ID (GB 11643): 17 digits and a check character,
/// returned with a lower-case `x` made upper case.
///
/// Only the check character is verified; the embedded region and birth date
/// are not (the ledger rules ask for no more).
///
/// # Errors
/// A reason when the value is not 18 characters, not 17 digits plus a digit
/// or X, or its check character does not match.
pub fn check_resident_id(s: &str) -> Result<String, String> {
    let s = s.trim();
    let n_chars = s.chars().count();
    if n_chars != 18 {
        return Err(format!(
            "resident id must be 18 characters, got {n_chars} in {:?}",
            crate::mask::id_number(s)
        ));
    }
    // 18 chars; when all are ASCII the byte split below is on a char boundary.
    if !s.is_ascii() {
        return Err(format!(
            "resident id must be 17 digits and a check digit or X, got {:?}",
            crate::mask::id_number(s)
        ));
    }
    let (first17, last) = s.split_at(17);
    let found = last.chars().next().unwrap_or_default().to_ascii_uppercase();
    let Some(expected) = gb11643_check_char(first17) else {
        return Err(format!(
            "resident id must be 17 digits and a check digit or X, got {:?}",
            crate::mask::id_number(s)
        ));
    };
    if !(found.is_ascii_digit() || found == 'X') {
        return Err(format!(
            "resident id must end in a digit or X, got {:?}",
            crate::mask::id_number(s)
        ));
    }
    if found != expected {
        return Err(format!(
            "bad check digit: expected {expected}, found {found}"
        ));
    }
    Ok(format!("{first17}{found}"))
}

/// Checks a passport (or other foreign travel document) number: 5–20 ASCII
/// letters and digits, returned in upper case.
///
/// # Errors
/// A reason naming the value when it breaks the rule.
pub fn check_passport(s: &str) -> Result<String, String> {
    let s = s.trim();
    let n_chars = s.chars().count();
    if !(5..=20).contains(&n_chars) || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "passport number must be 5-20 letters and digits, got {:?}",
            crate::mask::id_number(s)
        ));
    }
    Ok(s.to_ascii_uppercase())
}

/// Checks an ID number against the holder's nationality (ISO 3166-1
/// alpha-2): a resident ID for `CN`, a passport number otherwise.
///
/// # Errors
/// `id number is required` when empty, else the reason from
/// [`check_resident_id`] or [`check_passport`].
pub fn check_id_number(nationality_alpha2: &str, s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("id number is required".to_owned());
    }
    if nationality_alpha2.trim().eq_ignore_ascii_case("CN") {
        check_resident_id(s)
    } else {
        check_passport(s)
    }
}

/// Checks a mainland mobile number: empty, or 11 digits `1[3-9]\d{9}`.
/// ASCII spaces and hyphens inside are dropped; nothing else is rewritten.
///
/// # Errors
/// A reason naming the value when it is neither empty nor such a number.
pub fn check_phone(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let digits: String = s.chars().filter(|&c| c != ' ' && c != '-').collect();
    let b = digits.as_bytes();
    let ok = b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1]);
    if !ok {
        return Err(format!(
            "phone must be 11 digits starting 13-19, got {:?}",
            crate::mask::phone(s)
        ));
    }
    Ok(digits)
}

/// Earliest date a ledger may hold.
const MIN_DATE: (i32, u32, u32) = (2000, 1, 1);
/// How far after today a ledger date may lie.
const MAX_DAYS_AHEAD: i64 = 365;

/// Parses a ledger date: `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD` or
/// `YYYY年M月D日` (one- or two-digit month and day in every form).
///
/// # Errors
/// A reason when the text is empty or in no such form, is not a real calendar
/// date, is before 2000-01-01, or is more than 365 days after `today`.
pub fn parse_date(s: &str, today: chrono::NaiveDate) -> Result<chrono::NaiveDate, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("date is required".to_owned());
    }
    let bad_form = || format!("date must be YYYY-MM-DD, got {s:?}");
    // A time of day after the date (a spreadsheet's date-time) is dropped.
    let s = match s.split_once(' ') {
        Some((date, time)) if parse_time_of_day(time).is_some() => date,
        _ => s,
    };
    let parts: Vec<&str> = if let Some(rest) = s.strip_suffix('日') {
        let (y, rest) = rest.split_once('年').ok_or_else(bad_form)?;
        let (m, d) = rest.split_once('月').ok_or_else(bad_form)?;
        vec![y, m, d]
    } else {
        let sep = s
            .chars()
            .find(|c| matches!(c, '-' | '/' | '.'))
            .ok_or_else(bad_form)?;
        s.split(sep).collect()
    };
    let digits = |p: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    let [y, m, d] = parts[..] else {
        return Err(bad_form());
    };
    if !(digits(y, 4..=4) && digits(m, 1..=2) && digits(d, 1..=2)) {
        return Err(bad_form());
    }
    let (y, m, d) = (
        y.parse::<i32>().map_err(|_| bad_form())?,
        m.parse::<u32>().map_err(|_| bad_form())?,
        d.parse::<u32>().map_err(|_| bad_form())?,
    );
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d)
        .ok_or_else(|| format!("no such date: {y:04}-{m:02}-{d:02}"))?;
    date_in_range(date, today)
}

/// `date` when it lies between 2000-01-01 and a year after `today`.
pub(crate) fn date_in_range(
    date: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> Result<chrono::NaiveDate, String> {
    let min = chrono::NaiveDate::from_ymd_opt(MIN_DATE.0, MIN_DATE.1, MIN_DATE.2)
        .unwrap_or(chrono::NaiveDate::MIN);
    if date < min {
        return Err(format!("date {date} is before {min}"));
    }
    let max = today
        .checked_add_signed(chrono::TimeDelta::days(MAX_DAYS_AHEAD))
        .unwrap_or(chrono::NaiveDate::MAX);
    if date > max {
        return Err(format!(
            "date {date} is more than a year after today ({today})"
        ));
    }
    Ok(date)
}

/// `HH:MM` or `HH:MM:SS` (24-hour clock).
fn parse_time_of_day(s: &str) -> Option<chrono::NaiveTime> {
    let s = s.trim();
    chrono::NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| chrono::NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .ok()
}

/// Parses a time of a day: a date as [`parse_date`] takes it, a space and
/// `HH:MM` (seconds are dropped); a date alone is that day's 00:00.
///
/// # Errors
/// A reason when the date is bad or the time is no `HH:MM`.
pub fn parse_minute(s: &str, today: chrono::NaiveDate) -> Result<chrono::NaiveDateTime, String> {
    let s = s.trim();
    let (date, time) = match s.split_once(' ') {
        Some((date, time)) => {
            let time = parse_time_of_day(time)
                .ok_or_else(|| format!("time must be YYYY-MM-DD HH:MM, got {s:?}"))?;
            (date, time)
        }
        None => (s, chrono::NaiveTime::MIN),
    };
    let date = parse_date(date, today)?;
    let time = chrono::Timelike::with_second(&time, 0).unwrap_or(time);
    Ok(date.and_time(time))
}

/// Parses a body temperature in °C with at most one decimal, from 35.0 to
/// 42.0 (a trailing `℃` or `°C` is allowed); returns tenths of a degree.
///
/// # Errors
/// A reason naming the value when it is no such temperature.
pub fn parse_temperature(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t
        .strip_suffix('℃')
        .or_else(|| t.strip_suffix("°C"))
        .unwrap_or(t)
        .trim();
    let (whole, tenth) = t.split_once('.').unwrap_or((t, "0"));
    let digits = |p: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    if !(digits(whole, 1..=2) && digits(tenth, 1..=1)) {
        return Err(format!(
            "temperature must be degrees Celsius with at most one decimal, such as 36.5, got {s:?}"
        ));
    }
    let tenths = whole.parse::<u32>().unwrap_or(0) * 10 + tenth.parse::<u32>().unwrap_or(0);
    if !(TEMPERATURE_TENTHS.contains(&tenths)) {
        return Err(format!(
            "temperature must be from 35.0 to 42.0 °C, got {s:?}"
        ));
    }
    Ok(tenths)
}

/// The temperatures a health check may record, in tenths of a degree.
pub const TEMPERATURE_TENTHS: std::ops::RangeInclusive<u32> = 350..=420;

/// A temperature in tenths of a degree as ledgers write it: `36.5`.
pub fn temperature_text(tenths: u32) -> String {
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Parses a whole number from `range` (a spreadsheet's `12.0` counts).
///
/// # Errors
/// A reason naming the value and the range.
pub fn parse_whole(s: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix(".0").unwrap_or(t);
    match t.parse::<u64>() {
        Ok(n) if range.contains(&n) && t.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "must be a whole number from {} to {}, got {s:?}",
            range.start(),
            range.end()
        )),
    }
}

/// Parses a nationality: empty, 中国 or 中华人民共和国 mean `CN`; otherwise an
/// ISO 3166-1 alpha-2 or alpha-3 code in any case. Returns upper-case alpha-2.
///
/// # Errors
/// A reason naming the value when it is none of these.
pub fn parse_nationality(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s == "中国" || s == "中华人民共和国" {
        return Ok("CN".to_owned());
    }
    let upper = s.to_ascii_uppercase();
    let found = match upper.len() {
        2 => ISO3166
            .binary_search_by(|(a2, _)| a2.cmp(&upper.as_str()))
            .ok()
            .map(|i| ISO3166[i].0),
        3 => ISO3166
            .iter()
            .find(|(_, a3)| *a3 == upper)
            .map(|(a2, _)| *a2),
        _ => None,
    };
    found.map(str::to_owned).ok_or_else(|| {
        format!(
            "unknown nationality {s:?}: expected an ISO 3166 code such as CN, US or USA, or 中国"
        )
    })
}

/// Parses a household's housing: 自住, 出租, 空置 or owner, rented, vacant
/// (English in any case).
///
/// # Errors
/// A reason naming the value when it is none of these.
pub fn parse_housing(s: &str) -> Result<crate::pb::Housing, String> {
    use crate::pb::Housing;
    let s = s.trim();
    match s {
        "自住" => return Ok(Housing::Owner),
        "出租" => return Ok(Housing::Rented),
        "空置" => return Ok(Housing::Vacant),
        _ => {}
    }
    match s.to_ascii_lowercase().as_str() {
        "owner" => Ok(Housing::Owner),
        "rented" => Ok(Housing::Rented),
        "vacant" => Ok(Housing::Vacant),
        _ => Err(format!(
            "housing must be 自住, 出租 or 空置 (owner, rented, vacant), got {s:?}"
        )),
    }
}

/// Parses an isolation kind: 居家, 集中 or home, central (English in any case).
///
/// # Errors
/// A reason naming the value when it is none of these.
pub fn parse_isolation_kind(s: &str) -> Result<crate::pb::IsolationKind, String> {
    use crate::pb::IsolationKind;
    let s = s.trim();
    match s {
        "居家" => return Ok(IsolationKind::Home),
        "集中" => return Ok(IsolationKind::Central),
        _ => {}
    }
    match s.to_ascii_lowercase().as_str() {
        "home" => Ok(IsolationKind::Home),
        "central" => Ok(IsolationKind::Central),
        _ => Err(format!(
            "isolation kind must be 居家 or 集中 (home, central), got {s:?}"
        )),
    }
}

/// Parses a yes/no flag: 是, 否, or yes, no, true, false, y, n, 1, 0 (any
/// case); empty means no.
///
/// # Errors
/// A reason naming the value when it is none of these.
pub fn parse_registered(s: &str) -> Result<bool, String> {
    let s = s.trim();
    match s {
        "" | "否" => return Ok(false),
        "是" => return Ok(true),
        _ => {}
    }
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" | "1" => Ok(true),
        "no" | "false" | "n" | "0" => Ok(false),
        _ => Err(format!("must be 是 or 否 (yes, no), got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{Housing, IsolationKind};
    use chrono::NaiveDate;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Asserts that `got` is an error containing `want`.
    fn check_err<T: std::fmt::Debug>(got: Result<T, String>, want: &str) {
        match got {
            Ok(v) => panic!("expected error containing {want:?}, got Ok({v:?})"),
            Err(e) => {
                assert!(e.contains(want), "error {e:?} does not contain {want:?}");
                assert!(!e.ends_with('.'), "reason {e:?} ends with a period");
            }
        }
    }

    #[test]
    fn check_char_matches_known_ids() {
        assert_eq!(gb11643_check_char("11010519491231002"), Some('X'));
        assert_eq!(gb11643_check_char("44052418800101001"), Some('4'));
        assert_eq!(gb11643_check_char("1101051949123100"), None);
        assert_eq!(gb11643_check_char("1101051949123100A"), None);
    }

    #[test]
    fn resident_id_good() {
        assert_eq!(
            check_resident_id("11010519491231002X").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            check_resident_id("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            check_resident_id(" 440524188001010014 ").unwrap(),
            "440524188001010014"
        );
    }

    #[test]
    fn resident_id_bad() {
        check_err(
            check_resident_id("110105194912310023"),
            "bad check digit: expected X, found 3",
        );
        check_err(
            check_resident_id("440524188001010015"),
            "bad check digit: expected 4, found 5",
        );
        check_err(
            check_resident_id("11010519491231002"),
            "must be 18 characters, got 17",
        );
        check_err(check_resident_id("1101051949123100A2"), "17 digits");
        check_err(
            check_resident_id("11010519491231002Y"),
            "must end in a digit or X",
        );
        check_err(check_resident_id("１１010519491231002X"), "17 digits");
        check_err(check_resident_id(""), "got 0");
    }

    #[test]
    fn passport() {
        assert_eq!(check_passport("e12345678").unwrap(), "E12345678");
        assert_eq!(check_passport("AB123").unwrap(), "AB123");
        check_err(
            check_passport("AB12"),
            "5-20 letters and digits, got \"****\"",
        );
        check_err(check_passport("AB-12345"), "\"AB****45\"");
        check_err(check_passport(&"A".repeat(21)), "5-20");
        check_err(check_passport("护照12345"), "5-20");
    }

    #[test]
    fn id_number_by_nationality() {
        assert_eq!(
            check_id_number("CN", " 11010519491231002x ").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(check_id_number("US", "x1234567").unwrap(), "X1234567");
        check_err(check_id_number("CN", "X1234567"), "resident id");
        check_err(check_id_number("CN", "  "), "id number is required");
        check_err(check_id_number("JP", ""), "id number is required");
        check_err(check_id_number("JP", "1234"), "passport");
    }

    #[test]
    fn phone() {
        assert_eq!(check_phone("").unwrap(), "");
        assert_eq!(check_phone("   ").unwrap(), "");
        assert_eq!(check_phone("13912345678").unwrap(), "13912345678");
        assert_eq!(check_phone("139-1234-5678").unwrap(), "13912345678");
        assert_eq!(check_phone(" 139 1234 5678 ").unwrap(), "13912345678");
        check_err(
            check_phone("12345"),
            "phone must be 11 digits starting 13-19, got \"***45\"",
        );
        check_err(check_phone("12912345678"), "13-19");
        check_err(check_phone("23912345678"), "13-19");
        check_err(check_phone("139123456789"), "13-19");
        check_err(check_phone("+8613912345678"), "13-19");
        check_err(check_phone("1391234567a"), "13-19");
        check_err(check_phone("--"), "13-19");
    }

    #[test]
    fn dates_in_every_form() {
        let want = date(2020, 2, 3);
        for s in [
            "2020-02-03",
            "2020-2-3",
            "2020/02/03",
            "2020/2/3",
            "2020.02.03",
            "2020.2.3",
            "2020年2月3日",
            "2020年02月03日",
            " 2020-02-03 ",
        ] {
            assert_eq!(parse_date(s, today()), Ok(want), "{s}");
        }
    }

    #[test]
    fn dates_bad() {
        check_err(parse_date("", today()), "date is required");
        check_err(
            parse_date("2020-02-30", today()),
            "no such date: 2020-02-30",
        );
        check_err(parse_date("2021-02-29", today()), "no such date");
        check_err(parse_date("2020年2月30日", today()), "no such date");
        check_err(
            parse_date("20200203", today()),
            "date must be YYYY-MM-DD, got \"20200203\"",
        );
        check_err(parse_date("2020-02/03", today()), "YYYY-MM-DD");
        check_err(parse_date("20-02-03", today()), "YYYY-MM-DD");
        check_err(parse_date("2020-002-03", today()), "YYYY-MM-DD");
        check_err(parse_date("2020-02-03-04", today()), "YYYY-MM-DD");
        check_err(parse_date("2020年2月3", today()), "YYYY-MM-DD");
        check_err(parse_date("2020-+2-03", today()), "YYYY-MM-DD");
        check_err(
            parse_date("1999-12-31", today()),
            "date 1999-12-31 is before 2000-01-01",
        );
        assert_eq!(parse_date("2000-01-01", today()), Ok(date(2000, 1, 1)));
    }

    #[test]
    fn dates_at_most_a_year_ahead() {
        assert_eq!(parse_date("2027-11-29", today()), Ok(date(2027, 11, 29)));
        check_err(
            parse_date("2027-11-30", today()),
            "date 2027-11-30 is more than a year after today (2026-11-29)",
        );
        check_err(
            parse_date("2031-01-01", today()),
            "date 2031-01-01 is more than a year after today (2026-11-29)",
        );
    }

    #[test]
    fn iso_table_is_sorted_and_consistent() {
        assert!(ISO3166.windows(2).all(|w| w[0].0 < w[1].0));
        let mut a3: Vec<&str> = ISO3166.iter().map(|(_, a3)| *a3).collect();
        a3.sort_unstable();
        a3.dedup();
        assert_eq!(a3.len(), ISO3166.len());
        for (a2, a3) in ISO3166 {
            assert!(a2.len() == 2 && a2.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(a3.len() == 3 && a3.bytes().all(|b| b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn nationality() {
        for s in [
            "",
            "  ",
            "中国",
            "中华人民共和国",
            "CN",
            "cn",
            "Cn",
            "CHN",
            "chn",
        ] {
            assert_eq!(parse_nationality(s).unwrap(), "CN", "{s:?}");
        }
        assert_eq!(parse_nationality("us").unwrap(), "US");
        assert_eq!(parse_nationality("USA").unwrap(), "US");
        assert_eq!(parse_nationality("gbr").unwrap(), "GB");
        assert_eq!(parse_nationality("DEU").unwrap(), "DE");
        assert_eq!(parse_nationality("jp").unwrap(), "JP");
        assert_eq!(parse_nationality("ZW").unwrap(), "ZW");
        assert_eq!(parse_nationality("ad").unwrap(), "AD");
        check_err(parse_nationality("XX"), "unknown nationality \"XX\"");
        check_err(parse_nationality("UK"), "\"UK\"");
        check_err(parse_nationality("美国"), "\"美国\"");
        check_err(parse_nationality("XYZ"), "\"XYZ\"");
        check_err(parse_nationality("China"), "\"China\"");
    }

    #[test]
    fn housing() {
        assert_eq!(parse_housing("自住"), Ok(Housing::Owner));
        assert_eq!(parse_housing(" 出租 "), Ok(Housing::Rented));
        assert_eq!(parse_housing("空置"), Ok(Housing::Vacant));
        assert_eq!(parse_housing("Owner"), Ok(Housing::Owner));
        assert_eq!(parse_housing("RENTED"), Ok(Housing::Rented));
        assert_eq!(parse_housing("vacant"), Ok(Housing::Vacant));
        check_err(parse_housing("租住"), "got \"租住\"");
        check_err(parse_housing(""), "housing must be");
    }

    #[test]
    fn isolation_kind() {
        assert_eq!(parse_isolation_kind("居家"), Ok(IsolationKind::Home));
        assert_eq!(parse_isolation_kind("集中"), Ok(IsolationKind::Central));
        assert_eq!(parse_isolation_kind(" Home "), Ok(IsolationKind::Home));
        assert_eq!(parse_isolation_kind("CENTRAL"), Ok(IsolationKind::Central));
        check_err(parse_isolation_kind("医院"), "got \"医院\"");
        check_err(parse_isolation_kind(""), "isolation kind must be");
    }

    #[test]
    fn registered() {
        for s in ["是", "yes", "YES", "true", "Y", "1"] {
            assert_eq!(parse_registered(s), Ok(true), "{s}");
        }
        for s in ["", " ", "否", "no", "False", "n", "0"] {
            assert_eq!(parse_registered(s), Ok(false), "{s}");
        }
        check_err(parse_registered("未"), "got \"未\"");
        check_err(parse_registered("2"), "got \"2\"");
    }
}
