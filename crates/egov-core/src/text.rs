//! Folding of Vietnamese text for search and matching.
//!
//! It owns the one definition of "these two strings mean the same words":
//! case, tone marks, the other diacritics, `đ` and punctuation are all
//! ignored, so `Đăng ký khai-sinh` matches `dang ky khai sinh`. It must not
//! rank, stem or translate; those belong to the search code that calls it.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds text to lowercase ASCII-like words separated by single spaces.
///
/// Steps: lowercase, decompose (NFD), drop combining marks, map `đ` to `d`,
/// turn every character that is not a letter or digit into a space, and
/// collapse runs of spaces. Letters outside Vietnamese that have no ASCII
/// base (Chinese characters, Cyrillic) are kept, lowercased.
///
/// `fold` runs on every search request, so pure ASCII input, the common
/// case for people typing without a Vietnamese keyboard, takes a path that
/// skips Unicode normalization entirely.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        return fold_ascii(s);
    }
    let mut out = String::with_capacity(s.len());
    // A pending space is only written once the next word starts, which both
    // collapses runs and trims the end without a second pass.
    let mut pending_space = false;
    let folded_chars = s
        .chars()
        .flat_map(char::to_lowercase)
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| if c == 'đ' || c == 'Đ' { 'd' } else { c })
        // Decomposition can expose an uppercase base letter (for example
        // from compatibility characters), so lowercase once more; this is
        // what keeps `fold` idempotent.
        .flat_map(char::to_lowercase)
        // Lowercasing can in turn produce a combining mark (`İ` becomes
        // `i` followed by a combining dot), which must be dropped too.
        .filter(|c| !is_combining_mark(*c));
    for c in folded_chars {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

fn fold_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(char::from(byte.to_ascii_lowercase()));
        } else {
            pending_space = true;
        }
    }
    out
}

/// Folds the text and splits it into words, with no empty words.
pub fn tokens(s: &str) -> Vec<String> {
    fold(s)
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{fold, tokens};
    use proptest::prelude::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(fold(input), expected, "fold({input:?})");
    }

    #[test]
    fn vietnamese_spellings_of_the_same_words_fold_to_the_same_text() {
        check("Đăng ký khai sinh", "dang ky khai sinh");
        check("DANG KY KHAI SINH", "dang ky khai sinh");
        check("dang  ky khai-sinh", "dang ky khai sinh");
        check("Thủ tục", "thu tuc");
        check("Lào Cai", "lao cai");
        check("ĐỒNG THÁP", "dong thap");
        check("Người ủy quyền", "nguoi uy quyen");
        check("Hồ Chí Minh", "ho chi minh");
    }

    #[test]
    fn decomposed_input_folds_like_precomposed_input() {
        // "Đăng ký" typed with combining tone marks, as some macOS and
        // older Windows keyboards produce.
        check("Đa\u{306}ng ky\u{301}", "dang ky");
    }

    #[test]
    fn punctuation_and_surrounding_whitespace_disappear() {
        check("", "");
        check("   ", "");
        check(" -- ", "");
        check("  Hộ tịch, (2024)! ", "ho tich 2024");
        check("a\tb\nc", "a b c");
        check("số 12/2024/NĐ-CP", "so 12 2024 nd cp");
    }

    #[test]
    fn tokens_are_the_folded_words() {
        assert_eq!(tokens("Đăng ký  khai-sinh"), vec!["dang", "ky", "khai", "sinh"]);
        assert!(tokens(" ,. ").is_empty());
    }

    const VIETNAMESE_LOWER: &str =
        "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ";

    fn vietnamese_text() -> impl Strategy<Value = String> {
        let mut alphabet: Vec<char> = VIETNAMESE_LOWER.chars().collect();
        alphabet.extend(VIETNAMESE_LOWER.chars().flat_map(char::to_uppercase));
        alphabet.extend(" -,.()/0123456789\t".chars());
        prop::collection::vec(prop::sample::select(alphabet), 0..40).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn folding_twice_changes_nothing(text in any::<String>()) {
            let once = fold(&text);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn folding_vietnamese_text_twice_changes_nothing(text in vietnamese_text()) {
            let once = fold(&text);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn folded_vietnamese_text_is_ascii(text in vietnamese_text()) {
            let folded = fold(&text);
            prop_assert!(folded.is_ascii(), "{:?} folded to {:?}", text, folded);
        }

        #[test]
        fn decomposed_vietnamese_text_folds_like_the_precomposed_form(text in vietnamese_text()) {
            use unicode_normalization::UnicodeNormalization;
            let decomposed: String = text.nfd().collect();
            prop_assert_eq!(fold(&decomposed), fold(&text));
        }

        #[test]
        fn case_does_not_matter(text in vietnamese_text()) {
            prop_assert_eq!(fold(&text.to_uppercase()), fold(&text));
            prop_assert_eq!(fold(&text.to_lowercase()), fold(&text));
        }

        #[test]
        fn folded_text_has_no_leading_trailing_or_double_spaces(text in any::<String>()) {
            let folded = fold(&text);
            prop_assert!(!folded.starts_with(' ') && !folded.ends_with(' '));
            prop_assert!(!folded.contains("  "));
        }
    }
}
