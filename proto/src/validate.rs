//! Value rules for ledger fields (DESIGN.md, "Compound ledger import").
//!
//! Each check returns the normalised value or a reason (a short English
//! sentence fragment, no trailing period) that the caller wraps with
//! file/row/column.

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
