//! The clock offset both binaries accept, parsed in one place.
//!
//! `LIANFANG_CLOCK_OFFSET_SECS` (signed whole seconds) shifts a side's wall
//! clock, to reproduce an office PC whose clock is wrong or to put the hub
//! just before its cut-off. Each side reads the variable at its own clock
//! seam (`lianfang_node::now`, `lianfang_hub::now`); this crate only parses
//! the text it is given.

/// The environment variable each side's clock seam reads.
pub const OFFSET_VAR: &str = "LIANFANG_CLOCK_OFFSET_SECS";

/// Largest offset accepted either way: about a hundred years, far inside
/// what `chrono` can add to a date.
pub const MAX_OFFSET_SECS: i64 = 100 * 366 * 24 * 3600;

/// Why an offset is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{OFFSET_VAR}={value:?} is not a clock offset: give whole seconds to add to the real \
     clock, e.g. 3600 or -86400 (at most {MAX_OFFSET_SECS} either way)"
)]
pub struct OffsetError {
    /// The text that was given.
    pub value: String,
}

/// The offset the variable's value gives: none when it is unset, else as
/// [`parse_offset_secs`] (a value that is not Unicode is refused).
///
/// # Errors
/// [`OffsetError`] for a value that is not an offset.
pub fn offset_from(value: Option<&std::ffi::OsStr>) -> Result<i64, OffsetError> {
    match value.map(std::ffi::OsStr::to_str) {
        None => Ok(0),
        Some(Some(text)) => parse_offset_secs(text),
        Some(None) => Err(OffsetError {
            value: value.unwrap_or_default().to_string_lossy().into_owned(),
        }),
    }
}

/// Parses an offset in signed whole seconds; white space around it is
/// ignored, and so is an empty value (no offset).
///
/// # Errors
/// [`OffsetError`] for anything else than an integer within
/// [`MAX_OFFSET_SECS`] either way.
pub fn parse_offset_secs(value: &str) -> Result<i64, OffsetError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(0);
    }
    trimmed
        .parse::<i64>()
        .ok()
        .filter(|secs| secs.abs() <= MAX_OFFSET_SECS)
        .ok_or_else(|| OffsetError {
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        for (value, expect) in [
            ("0", Some(0)),
            ("3600", Some(3600)),
            ("-259200", Some(-259_200)),
            ("+60", Some(60)),
            (" 42\n", Some(42)),
            ("", Some(0)),
            ("  ", Some(0)),
            ("1.5", None),
            ("1h", None),
            ("abc", None),
            ("- 5", None),
            ("99999999999999999999", None),
            ("4000000000", None),
            ("-4000000000", None),
        ] {
            assert_eq!(parse_offset_secs(value).ok(), expect, "{value:?}");
        }
        let e = parse_offset_secs("soon").unwrap_err();
        assert!(
            e.to_string()
                .contains("LIANFANG_CLOCK_OFFSET_SECS=\"soon\""),
            "{e}"
        );
    }
}
