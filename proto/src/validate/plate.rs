//! Vehicle plates (车牌) and the province each plate is from.

/// The province character a plate starts with, and the province's full
/// name (DESIGN.md, "The compound's whole day").
pub const PROVINCES: [(char, &str); 31] = [
    ('京', "北京市"),
    ('津', "天津市"),
    ('沪', "上海市"),
    ('渝', "重庆市"),
    ('冀', "河北省"),
    ('豫', "河南省"),
    ('云', "云南省"),
    ('辽', "辽宁省"),
    ('黑', "黑龙江省"),
    ('湘', "湖南省"),
    ('皖', "安徽省"),
    ('鲁', "山东省"),
    ('新', "新疆维吾尔自治区"),
    ('苏', "江苏省"),
    ('浙', "浙江省"),
    ('赣', "江西省"),
    ('鄂', "湖北省"),
    ('桂', "广西壮族自治区"),
    ('甘', "甘肃省"),
    ('晋', "山西省"),
    ('蒙', "内蒙古自治区"),
    ('陕', "陕西省"),
    ('吉', "吉林省"),
    ('闽', "福建省"),
    ('贵', "贵州省"),
    ('粤', "广东省"),
    ('青', "青海省"),
    ('藏', "西藏自治区"),
    ('川', "四川省"),
    ('宁', "宁夏回族自治区"),
    ('琼', "海南省"),
];

/// The full name of the province a plate is from, by its first character.
pub fn region(plate: &str) -> Option<&'static str> {
    let first = plate.chars().next()?;
    PROVINCES
        .iter()
        .find(|(c, _)| *c == first)
        .map(|(_, name)| *name)
}

/// Parses a plate: a province character, a letter A–Z, then 5 or 6 of A–Z
/// (no I or O) and 0–9; letters in any case, spaces and `·` anywhere.
/// Returns it upper case with spaces and `·` removed (鄂a·12345 → 鄂A12345).
///
/// # Errors
/// A reason naming the value and the rule when it is no such plate.
pub fn parse_plate(s: &str) -> Result<String, String> {
    let normal: String = s
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '・'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if normal.is_empty() {
        return Err("plate is required".to_owned());
    }
    let mut chars = normal.chars();
    let province = chars.next().expect("not empty");
    if region(&normal).is_none() {
        return Err(format!(
            "plate must start with a province character such as 沪, 鄂 or 京, got {s:?} (starts with {province:?})"
        ));
    }
    let rest: Vec<char> = chars.collect();
    let body_ok =
        |c: &char| (c.is_ascii_uppercase() && *c != 'I' && *c != 'O') || c.is_ascii_digit();
    let ok = matches!(rest.len(), 6 | 7)
        && rest[0].is_ascii_uppercase()
        && rest[1..].iter().all(body_ok);
    if !ok {
        return Err(format!(
            "plate must be a province character, a letter A-Z, then 5 or 6 letters (no I, O) or digits, got {s:?}"
        ));
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_are_normalised_or_refused_with_the_rule() {
        assert_eq!(parse_plate("鄂A·12345").unwrap(), "鄂A12345");
        assert_eq!(parse_plate(" 鄂a·12345 ").unwrap(), "鄂A12345");
        assert_eq!(parse_plate("沪 B 1234D").unwrap(), "沪B1234D");
        assert_eq!(parse_plate("粤BD12345").unwrap(), "粤BD12345");
        let err = parse_plate("XYZ123").unwrap_err();
        assert!(
            err.contains("province character") && err.contains("XYZ123"),
            "{err}"
        );
        assert!(parse_plate("鄂A1234").is_err(), "too short");
        assert!(parse_plate("鄂A1234567").is_err(), "too long");
        assert!(parse_plate("鄂AI2345").is_err(), "no I");
        assert!(
            parse_plate("鄂112345").is_err(),
            "a letter after the province"
        );
        assert!(parse_plate("").is_err());
        assert_eq!(region("鄂A12345"), Some("湖北省"));
        assert_eq!(region("X"), None);
    }
}
