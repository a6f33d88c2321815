//! Masking of personal data in outputs: tables, exports, task lists, logs.
//!
//! Every function works on chars (never bytes), keeps the char count of its
//! input, never panics, and shows at most the chars its rule keeps; every
//! other char becomes `*`. An empty value stays empty.
//!
//! Output shows personal data masked unless the caller explicitly chose
//! [`Privacy::Unmasked`].

/// The mask char.
const MASK: char = '*';

/// Values shorter than this many chars are masked whole (ID numbers, and
/// phones that are not mainland mobiles): keeping even two of so few chars
/// would show most of the value.
const MIN_PARTIAL_CHARS: usize = 5;

/// Keeps the first `head` and last `tail` chars of `chars` and masks the
/// rest. The caller ensures `head + tail < chars.len()`.
fn keep_ends(chars: &[char], head: usize, tail: usize) -> String {
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if i < head || i + tail >= n { c } else { MASK })
        .collect()
}

/// `n` mask chars.
fn all_masked(n: usize) -> String {
    std::iter::repeat_n(MASK, n).collect()
}

/// Whether `chars` has the shape of a PRC resident ID: 17 ASCII digits and a
/// digit or `X` (either case). The check digit is not verified: masking must
/// not depend on whether the value is valid.
fn is_resident_id(chars: &[char]) -> bool {
    chars.len() == 18
        && chars[..17].iter().all(char::is_ascii_digit)
        && matches!(chars[17], '0'..='9' | 'X' | 'x')
}

/// Masks an ID number.
///
/// - A resident ID (18 chars: 17 digits and a digit or X) keeps its first 4
///   and last 4 chars: `11010519491231002X` → `1101**********002X`.
/// - Any other value of at least 5 chars (a passport or other document
///   number) keeps its first 2 and last 2 chars: `E12345678` → `E1*****78`.
/// - A value shorter than 5 chars is masked whole: `AB1` → `***`.
/// - An empty value stays empty.
pub fn id_number(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if is_resident_id(&chars) {
        keep_ends(&chars, 4, 4)
    } else if chars.len() >= MIN_PARTIAL_CHARS {
        keep_ends(&chars, 2, 2)
    } else {
        all_masked(chars.len())
    }
}

/// Masks a phone number.
///
/// - An 11-digit mobile keeps its first 3 and last 4 digits:
///   `13812345678` → `138****5678`.
/// - Any other value of at least 5 chars keeps its last 2 chars only:
///   `0571-88881234` → `***********34`.
/// - A value shorter than 5 chars is masked whole (keeping 2 of them would
///   show most of it).
/// - An empty value stays empty.
pub fn phone(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() == 11 && chars.iter().all(char::is_ascii_digit) {
        keep_ends(&chars, 3, 4)
    } else if chars.len() >= MIN_PARTIAL_CHARS {
        keep_ends(&chars, 0, 2)
    } else {
        all_masked(chars.len())
    }
}

/// Whether `c` belongs to a script written without spaces between the parts
/// of a name: Chinese, Japanese, Korean (ideographs, kana, hangul, and their
/// punctuation and compatibility forms).
fn is_cjk(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1100..=0x11FF       // Hangul Jamo
            | 0x2E80..=0x9FFF // CJK radicals, punctuation, kana, ideographs
            | 0xA960..=0xA97F // Hangul Jamo Extended-A
            | 0xAC00..=0xD7FF // Hangul syllables, Jamo Extended-B
            | 0xF900..=0xFAFF // CJK compatibility ideographs
            | 0xFE30..=0xFE4F // CJK compatibility forms
            | 0xFF00..=0xFFEF // half- and full-width forms
            | 0x20000..=0x3FFFF // supplementary ideographs
    )
}

/// Masks a person's name.
///
/// - A name holding any Chinese (or Japanese, Korean) char keeps its first
///   char only: `张三丰` → `张**`, `阿依古丽·买买提` → `阿*******`; a single
///   char stays as it is.
/// - Any other name keeps the first char of each word (words are separated
///   by whitespace, which is kept): `John Smith` → `J*** S****`.
/// - An empty value stays empty.
pub fn name(s: &str) -> String {
    if s.chars().any(is_cjk) {
        let mut kept = false;
        s.chars()
            .map(|c| {
                if c.is_whitespace() {
                    c
                } else if kept {
                    MASK
                } else {
                    kept = true;
                    c
                }
            })
            .collect()
    } else {
        let mut in_word = false;
        s.chars()
            .map(|c| {
                if c.is_whitespace() {
                    in_word = false;
                    c
                } else if in_word {
                    MASK
                } else {
                    in_word = true;
                    c
                }
            })
            .collect()
    }
}

/// Whether output shows personal data unmasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Privacy {
    /// ID numbers, phones and names are masked (the default).
    #[default]
    Masked,
    /// Shown as stored, for an operator who explicitly asked.
    Unmasked,
}

impl Privacy {
    /// The ID number as output shows it: [`id_number`] when masked.
    pub fn id_number(self, s: &str) -> String {
        match self {
            Privacy::Masked => id_number(s),
            Privacy::Unmasked => s.to_owned(),
        }
    }

    /// The phone as output shows it: [`phone`] when masked.
    pub fn phone(self, s: &str) -> String {
        match self {
            Privacy::Masked => phone(s),
            Privacy::Unmasked => s.to_owned(),
        }
    }

    /// The name as output shows it: [`name`] when masked.
    pub fn name(self, s: &str) -> String {
        match self {
            Privacy::Masked => name(s),
            Privacy::Unmasked => s.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn resident_id_keeps_four_and_four() {
        assert_eq!(id_number("11010519491231002X"), "1101**********002X");
        assert_eq!(id_number("11010519491231002x"), "1101**********002x");
        assert_eq!(id_number("440524188001010014"), "4405**********0014");
        // The shape decides, not the check digit.
        assert_eq!(id_number("110105194912310023"), "1101**********0023");
    }

    #[test]
    fn other_ids_keep_two_and_two() {
        assert_eq!(id_number("E12345678"), "E1*****78");
        assert_eq!(id_number("AB123"), "AB*23");
        assert_eq!(id_number("ABCDEFGHIJKLMNOPQRST"), "AB****************ST");
        // 18 chars that are not a resident ID: the stricter rule.
        assert_eq!(id_number("ABCDEFGHIJKLMNOPQR"), "AB**************QR");
        assert_eq!(id_number("1101051949123100AX"), "11**************AX");
        // Longer than any passport: still two and two.
        assert_eq!(
            id_number(&"A".repeat(30)),
            format!("AA{}AA", "*".repeat(26))
        );
    }

    #[test]
    fn short_and_empty_ids() {
        assert_eq!(id_number(""), "");
        assert_eq!(id_number("A"), "*");
        assert_eq!(id_number("AB12"), "****");
        assert_eq!(id_number("护照"), "**");
    }

    #[test]
    fn ids_with_non_ascii() {
        assert_eq!(id_number("护照号码１２３"), "护照***２３");
        assert_eq!(
            id_number("１１０１０５１９４９１２３１００２Ｘ"),
            "１１**************２Ｘ"
        );
        assert_eq!(id_number("é1234"), "é1*34");
    }

    #[test]
    fn mobile_keeps_three_and_four() {
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(phone("19900000001"), "199****0001");
    }

    #[test]
    fn other_phones_keep_last_two() {
        assert_eq!(phone("0571-88881234"), "***********34");
        assert_eq!(phone("138 1234 5678"), "***********78");
        assert_eq!(phone("+8613812345678"), "************78");
        assert_eq!(phone("88881234"), "******34");
        assert_eq!(phone("１３８１２３４５６７８"), "*********７８");
        assert_eq!(phone("电话12345"), "*****45");
    }

    #[test]
    fn short_and_empty_phones() {
        assert_eq!(phone(""), "");
        assert_eq!(phone("1"), "*");
        assert_eq!(phone("12"), "**");
        assert_eq!(phone("1234"), "****");
        assert_eq!(phone("12345"), "***45");
    }

    #[test]
    fn chinese_names_keep_the_first_char() {
        assert_eq!(name("张三丰"), "张**");
        assert_eq!(name("张三"), "张*");
        assert_eq!(name("张"), "张");
        assert_eq!(name("欧阳娜娜"), "欧***");
        assert_eq!(name("阿依古丽·买买提"), "阿*******");
        assert_eq!(name("张 三"), "张 *");
        assert_eq!(name(" 张三"), " 张*");
        assert_eq!(name("山田太郎"), "山***");
        assert_eq!(name("김민준"), "김**");
        assert_eq!(name("王John"), "王****");
    }

    #[test]
    fn latin_names_keep_each_word_initial() {
        assert_eq!(name("John Smith"), "J*** S****");
        assert_eq!(name("J"), "J");
        assert_eq!(name("Mary-Jane O'Neil"), "M******** O*****");
        assert_eq!(name("José  Müller"), "J***  M*****");
        assert_eq!(name("Иван Петров"), "И*** П*****");
        assert_eq!(name(" Li\tNa "), " L*\tN* ");
    }

    #[test]
    fn empty_name() {
        assert_eq!(name(""), "");
        assert_eq!(name("   "), "   ");
    }

    #[test]
    fn privacy_masks_only_when_masked() {
        assert_eq!(Privacy::default(), Privacy::Masked);
        let p = Privacy::Masked;
        assert_eq!(p.id_number("11010519491231002X"), "1101**********002X");
        assert_eq!(p.phone("13812345678"), "138****5678");
        assert_eq!(p.name("张三丰"), "张**");
        let p = Privacy::Unmasked;
        assert_eq!(p.id_number("11010519491231002X"), "11010519491231002X");
        assert_eq!(p.phone("13812345678"), "13812345678");
        assert_eq!(p.name("张三丰"), "张三丰");
    }

    /// Checks that `masked` has the char count of `s`, that every char is
    /// either `*` or the input's char at that place, and that at most `kept`
    /// chars of the input other than whitespace are shown.
    fn assert_reveals_at_most(s: &str, masked: &str, kept: usize) {
        let a: Vec<char> = s.chars().collect();
        let b: Vec<char> = masked.chars().collect();
        assert_eq!(a.len(), b.len(), "{s:?} -> {masked:?}");
        let mut shown = 0;
        for (x, y) in a.iter().zip(&b) {
            assert!(*y == MASK || y == x, "{s:?} -> {masked:?}");
            if *y != MASK && !x.is_whitespace() {
                shown += 1;
            }
        }
        assert!(shown <= kept, "{s:?} -> {masked:?} shows {shown} > {kept}");
    }

    /// Strings that reach each rule: arbitrary text, digits of mobile and
    /// resident ID length, CJK and Latin names.
    fn input() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "\\PC{0,30}",
            "[0-9]{11}",
            "[0-9]{17}[0-9Xx]",
            "[A-Z0-9]{0,22}",
            "[\u{4e00}-\u{9fff}]{1,4}",
            "[A-Za-z]{1,8}( [A-Za-z]{1,8}){0,3}",
        ]
    }

    proptest! {
        #[test]
        fn id_number_never_reveals_more_than_kept(s in input()) {
            let n = s.chars().count();
            let chars: Vec<char> = s.chars().collect();
            let kept = if is_resident_id(&chars) {
                8
            } else if n >= MIN_PARTIAL_CHARS {
                4
            } else {
                0
            };
            let masked = id_number(&s);
            assert_reveals_at_most(&s, &masked, kept);
            if n > 0 {
                prop_assert!(masked.contains(MASK));
            }
        }

        #[test]
        fn phone_never_reveals_more_than_kept(s in input()) {
            let n = s.chars().count();
            let masked = phone(&s);
            let kept = if n == 11 && s.bytes().all(|b| b.is_ascii_digit()) {
                7
            } else if n >= MIN_PARTIAL_CHARS {
                2
            } else {
                0
            };
            assert_reveals_at_most(&s, &masked, kept);
            if n > 0 {
                prop_assert!(masked.contains(MASK));
            }
        }

        #[test]
        fn name_never_reveals_more_than_kept(s in input()) {
            let masked = name(&s);
            let kept = if s.chars().any(is_cjk) {
                1
            } else {
                s.split_whitespace().count()
            };
            assert_reveals_at_most(&s, &masked, kept);
        }

        #[test]
        fn unmasked_is_identity(s in input()) {
            prop_assert_eq!(Privacy::Unmasked.id_number(&s), s.clone());
            prop_assert_eq!(Privacy::Unmasked.phone(&s), s.clone());
            prop_assert_eq!(Privacy::Unmasked.name(&s), s.clone());
            prop_assert_eq!(Privacy::Masked.id_number(&s), id_number(&s));
            prop_assert_eq!(Privacy::Masked.phone(&s), phone(&s));
            prop_assert_eq!(Privacy::Masked.name(&s), name(&s));
        }
    }
}
