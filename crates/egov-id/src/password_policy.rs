//! Which new passwords are accepted.
//!
//! It owns the rules a password must pass when it is chosen or changed:
//! length in characters, not a common or trivially guessable password, and
//! no personal data of its owner; and the messages that explain a refusal in
//! Vietnamese and English. The rules follow NIST SP 800-63B: length and a
//! blocklist, no composition rules ("one digit, one capital"), which only
//! push people to `Matkhau1!`. It must not hash, store or rate-limit
//! anything, and it is never applied to existing passwords at sign-in.

use std::collections::HashSet;
use std::sync::LazyLock;

use egov_core::text::{fold, tokens};

/// The shortest accepted password, in characters. Ten characters leave room
/// for a short Vietnamese phrase while ruling out most of what brute force
/// and breach lists try first.
pub const MIN_CHARS: usize = 10;

/// The longest accepted password, in characters: long enough for any
/// passphrase, short enough that hashing it costs nothing extra.
pub const MAX_CHARS: usize = 128;

/// Personal words shorter than this are not looked for: "An" or "Vũ" inside
/// a password reveals nothing and would refuse far too much.
const MIN_PERSONAL_WORD_CHARS: usize = 4;

/// Sequences that people type instead of choosing: digits (wrapping, so
/// `7890123` counts), the alphabet, keyboard rows and columns of the common
/// layouts. A password counts as a sequence when it is a run of one of these,
/// forwards or backwards.
const SEQUENCES: [&str; 10] = [
    "01234567890123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1q2w3e4r5t6y7u8i9o0p",
    "`1234567890-=qwertyuiop[]\\asdfghjkl;'zxcvbnm,./",
    "~!@#$%^&*()_+",
];

/// The embedded list of common passwords, folded like the passwords they
/// are compared with.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(squash)
        .filter(|entry| !entry.is_empty())
        .collect()
});

/// Why a password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRejection {
    TooShort,
    TooLong,
    Common,
    ContainsPersonalData,
}

impl PasswordRejection {
    /// The explanation shown next to the password field.
    pub fn message(self, vietnamese: bool) -> &'static str {
        match (self, vietnamese) {
            (PasswordRejection::TooShort, true) => "Mật khẩu phải có ít nhất 10 ký tự.",
            (PasswordRejection::TooShort, false) => "The password must be at least 10 characters long.",
            (PasswordRejection::TooLong, true) => "Mật khẩu không được dài quá 128 ký tự.",
            (PasswordRejection::TooLong, false) => "The password must be at most 128 characters long.",
            (PasswordRejection::Common, true) => {
                "Mật khẩu này quá phổ biến hoặc quá dễ đoán. \
                 Hãy chọn một câu dài mà chỉ bạn nghĩ ra được."
            }
            (PasswordRejection::Common, false) => {
                "This password is too common or too easy to guess. \
                 Choose a long phrase that only you would think of."
            }
            (PasswordRejection::ContainsPersonalData, true) => {
                "Mật khẩu không được chứa họ tên, địa chỉ thư điện tử \
                 hay số định danh cá nhân của bạn."
            }
            (PasswordRejection::ContainsPersonalData, false) => {
                "The password must not contain your name, email address \
                 or personal ID number."
            }
        }
    }
}

/// Checks a new password.
///
/// `personal_words` are the owner's data that must not appear in it: the
/// parts of their name, the local part of their email address, their
/// personal ID number. Each is folded and split into words; words of four
/// characters or more, and the whole value joined up, are looked for.
pub fn check_password(password: &str, personal_words: &[&str]) -> Result<(), PasswordRejection> {
    let length = password.chars().count();
    if length < MIN_CHARS {
        return Err(PasswordRejection::TooShort);
    }
    if length > MAX_CHARS {
        return Err(PasswordRejection::TooLong);
    }
    if is_guessable(password) {
        return Err(PasswordRejection::Common);
    }
    if contains_personal_data(password, personal_words) {
        return Err(PasswordRejection::ContainsPersonalData);
    }
    Ok(())
}

/// Folds text (lowercase, no diacritics, symbols to spaces) and drops the
/// spaces, so `Mật Khẩu!` and `matkhau` compare equal.
fn squash(text: &str) -> String {
    fold(text).replace(' ', "")
}

fn is_guessable(password: &str) -> bool {
    // Symbols are gone after folding, so the raw lowercased text is checked
    // too: `!!!!!!!!!!` and `!@#$%^&*()` fold to nothing.
    let raw = password.to_lowercase();
    if is_repetition(&raw) || is_sequence(&raw) {
        return true;
    }

    // The folded password, then its core without the digits people append
    // or prepend to satisfy a rule (`matkhau2024!` is `matkhau` to an
    // attacker); folding has already removed the symbols.
    let folded = squash(password);
    let without_suffix = folded.trim_end_matches(|c: char| c.is_ascii_digit());
    let core = without_suffix.trim_start_matches(|c: char| c.is_ascii_digit());
    let folded_guessable = [folded.as_str(), without_suffix, core]
        .into_iter()
        .filter(|candidate| !candidate.is_empty())
        .any(|candidate| COMMON_PASSWORDS.contains(candidate) || is_repetition(candidate) || is_sequence(candidate));
    if folded_guessable {
        return true;
    }

    // `P@ssw0rd2024`: undo the usual look-alike substitutions after cutting
    // the digits and symbols off the end, and look the result up again.
    let trimmed =
        password.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace());
    ['i', 'l'].into_iter().any(|one_as| {
        let readable = squash(&undo_look_alikes(trimmed, one_as));
        let readable_core = readable.trim_end_matches(|c: char| c.is_ascii_digit());
        COMMON_PASSWORDS.contains(&readable) || COMMON_PASSWORDS.contains(readable_core)
    })
}

/// Replaces the digits and symbols that stand in for letters. `1` can be
/// `i` or `l`, so the caller tries both.
fn undo_look_alikes(text: &str, one_as: char) -> String {
    text.chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '3' => 'e',
            '1' => one_as,
            '!' | '|' => 'i',
            '0' => 'o',
            '$' | '5' => 's',
            '7' | '+' => 't',
            '8' => 'b',
            other => other,
        })
        .collect()
}

/// A unit repeated at least twice (`hahahahaha`, `matkhaumatkhau`,
/// `12341234`), where the unit itself is trivial: at most three characters,
/// a common password, or a sequence.
fn is_repetition(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let length = chars.len();
    (1..=length / 2)
        .filter(|&period| length.is_multiple_of(period))
        .filter(|&period| chars.chunks(period).all(|chunk| chunk == &chars[..period]))
        .any(|period| {
            let unit: String = chars[..period].iter().collect();
            period <= 3 || COMMON_PASSWORDS.contains(&unit) || is_sequence(&unit)
        })
}

/// A run of four or more characters of one of [`SEQUENCES`], either way.
fn is_sequence(text: &str) -> bool {
    if text.chars().count() < 4 {
        return false;
    }
    let reversed: String = text.chars().rev().collect();
    SEQUENCES
        .iter()
        .any(|sequence| sequence.contains(text) || sequence.contains(&reversed))
}

fn contains_personal_data(password: &str, personal_words: &[&str]) -> bool {
    let folded = squash(password);
    personal_words
        .iter()
        .flat_map(|word| personal_fragments(word))
        .any(|fragment| folded.contains(&fragment))
}

/// The pieces of one personal value worth looking for: its words of four
/// characters or more, and all its words joined (`Nguyễn Văn An` gives
/// `nguyen` and `nguyenvanan`; `0790 9901 2345` gives `079099012345`).
fn personal_fragments(word: &str) -> Vec<String> {
    // Only the local part of an email address is personal; the domain is
    // shared with everyone at the same provider.
    let word = word.split_once('@').map_or(word, |(local, _)| local);
    let words = tokens(word);
    let long_enough = |fragment: &String| fragment.chars().count() >= MIN_PERSONAL_WORD_CHARS;
    let mut fragments: Vec<String> = words.iter().filter(|w| long_enough(w)).cloned().collect();
    let joined = words.concat();
    if words.len() > 1 && long_enough(&joined) {
        fragments.push(joined);
    }
    fragments
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_PERSONAL_WORDS: &[&str] = &[];

    #[track_caller]
    fn check(password: &str, personal: &[&str], expected: Result<(), PasswordRejection>) {
        assert_eq!(check_password(password, personal), expected, "{password:?}");
    }

    #[test]
    fn short_passwords_are_refused_counting_characters_not_bytes() {
        check("", NO_PERSONAL_WORDS, Err(PasswordRejection::TooShort));
        check("Xk9#mQ2vL", NO_PERSONAL_WORDS, Err(PasswordRejection::TooShort));
        check("Xk9#mQ2vLp", NO_PERSONAL_WORDS, Ok(()));
        // Nine characters but far more than ten bytes.
        check("Đường Huế", NO_PERSONAL_WORDS, Err(PasswordRejection::TooShort));
        check("Đường Huế!", NO_PERSONAL_WORDS, Ok(()));
    }

    #[test]
    fn long_passwords_are_refused() {
        let longest: String = "Mùa thu Hà Nội ".repeat(9).chars().take(128).collect();
        check(&longest, NO_PERSONAL_WORDS, Ok(()));
        check(
            &format!("{longest}x"),
            NO_PERSONAL_WORDS,
            Err(PasswordRejection::TooLong),
        );
    }

    #[test]
    fn common_passwords_are_refused() {
        for password in [
            "1234567890",
            "password123",
            "iloveyou12",
            "qwerty123456",
            "123456789a",
            "anhyeuem123",
            "Anh Yêu Em 123",
            "EMYEUANH2024",
            "Mật khẩu 123",
            "vietnam1975",
            "SaiGon 2024",
        ] {
            check(password, NO_PERSONAL_WORDS, Err(PasswordRejection::Common));
        }
    }

    #[test]
    fn common_passwords_with_digits_or_symbols_around_are_refused() {
        for password in [
            "password123456",
            "matkhau2024!",
            "matkhau2024!!!",
            "2024matkhau!",
            "Hanoi@1234567",
            "P@ssw0rd2024",
            "P@ssw0rd!!!!",
            "1L0veY0u2024",
            "welcome2024!",
        ] {
            check(password, NO_PERSONAL_WORDS, Err(PasswordRejection::Common));
        }
    }

    #[test]
    fn repeated_characters_and_units_are_refused() {
        for password in [
            "aaaaaaaaaa",
            "0000000000",
            "!!!!!!!!!!",
            "hahahahahaha",
            "abcabcabcabc",
            "matkhaumatkhau",
            "passwordpassword",
            "1234512345",
            "Hihi hihi hihi",
        ] {
            check(password, NO_PERSONAL_WORDS, Err(PasswordRejection::Common));
        }
    }

    #[test]
    fn keyboard_and_numeric_sequences_are_refused() {
        for password in [
            "1234567890",
            "0987654321",
            "3456789012",
            "qwertyuiop",
            "poiuytrewq",
            "asdfghjkl;",
            "abcdefghij",
            "ABCDEFGHIJKLMN",
            "1qaz2wsx3edc",
            "!@#$%^&*()",
            "qwertyuiop2024",
        ] {
            check(password, NO_PERSONAL_WORDS, Err(PasswordRejection::Common));
        }
    }

    #[test]
    fn personal_data_inside_is_refused() {
        let personal = ["Nguyễn", "Thị", "Minh", "Khai", "079099012345", "minhkhai.nguyen"];
        for password in [
            "nguyen is my family name",
            "Chị NGUYỄN đây, xin chào",
            "my id 079099012345 ok",
            "id: 0790-9901-2345!",
            "minhkhainguyen is me",
            "khai thong suot nam 2026",
        ] {
            check(password, &personal, Err(PasswordRejection::ContainsPersonalData));
        }
        // "Thị" has three characters, too few to be looked for.
        check("Thi xa mien nui xanh", &personal, Ok(()));
    }

    #[test]
    fn a_whole_name_or_an_email_address_is_split_into_its_parts() {
        check(
            "Hoàng hôn trên sông Hồng",
            &["Trần Thị Hồng"],
            Err(PasswordRejection::ContainsPersonalData),
        );
        check(
            "tranthihong rất vui",
            &["Trần Thị Hồng"],
            Err(PasswordRejection::ContainsPersonalData),
        );
        // Only the local part of an address counts, not the domain.
        check("example có nghĩa là ví dụ", &["an.tran@example.gov.vn"], Ok(()));
        check(
            "xin chào an.tran",
            &["an.tran@example.gov.vn"],
            Err(PasswordRejection::ContainsPersonalData),
        );
    }

    #[test]
    fn good_passphrases_are_accepted() {
        let personal = ["Lê", "Văn", "Tám", "001099012345", "tam.le"];
        for password in [
            "Bầu trời Hà Nội mùa thu 2026",
            "con mèo mướp ngủ trên mái tôn",
            "Xk9#mQ2vLp!r",
            "correct horse battery staple",
            "Phở bò tái chín 35k",
            "vietnam là quê hương tôi",
        ] {
            check(password, &personal, Ok(()));
        }
    }

    #[test]
    fn messages_exist_in_both_languages() {
        for rejection in [
            PasswordRejection::TooShort,
            PasswordRejection::TooLong,
            PasswordRejection::Common,
            PasswordRejection::ContainsPersonalData,
        ] {
            assert_ne!(rejection.message(true), rejection.message(false));
            assert!(rejection.message(false).ends_with('.'));
            assert!(rejection.message(true).ends_with('.'));
        }
        assert_eq!(
            PasswordRejection::TooShort.message(true),
            "Mật khẩu phải có ít nhất 10 ký tự."
        );
        assert_eq!(
            PasswordRejection::TooShort.message(false),
            "The password must be at least 10 characters long."
        );
    }

    #[test]
    fn the_embedded_list_is_loaded_folded_and_without_comments() {
        assert!(COMMON_PASSWORDS.len() > 400, "{}", COMMON_PASSWORDS.len());
        for entry in ["123456", "password", "iloveyou", "matkhau", "anhyeuem", "pssw0rd"] {
            assert!(COMMON_PASSWORDS.contains(entry), "{entry}");
        }
        assert!(COMMON_PASSWORDS.iter().all(|entry| !entry.starts_with('#')));
        assert!(COMMON_PASSWORDS.iter().all(|entry| squash(entry) == *entry));
    }
}
