//! The second factor: time-based one-time passwords (TOTP, RFC 6238) from an
//! authenticator app, and the single-use recovery codes that stand in for the
//! app when it is lost.
//!
//! It owns the TOTP secret (made, read from and written to base32, never
//! printed), the fixed parameters every authenticator app supports (SHA-1,
//! 6 digits, 30-second steps, one step of clock skew either side), the
//! `otpauth://` enrolment URI, the check of a code with its replay rule, and
//! the shape, generation and hashing of recovery codes. It is pure: it must
//! not do IO, touch the database, count or throttle failed attempts, or read
//! the clock (the caller passes the time and stores the last used step); and
//! it must not implement HMAC-based OTP or base32 itself (totp-rs does).

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::Zeroizing;

/// Length of a generated secret: 160 bits, RFC 4226's recommendation and
/// what every authenticator app expects.
const SECRET_BYTES: usize = 20;
/// The shortest secret we accept from storage: RFC 4226's 128-bit minimum.
const MIN_SECRET_BYTES: usize = 16;
const DIGITS: u8 = 6;
const STEP_SECONDS: u64 = 30;
/// Steps accepted either side of the current one, for clocks that drift.
const SKEW_STEPS: u64 = 1;
/// Longer input is not worth stripping spaces from: it cannot be a code.
const MAX_CODE_INPUT: usize = 32;

/// Characters of a recovery code: digits and capitals without 0/O, 1/I/L,
/// which people misread when copying from paper. 31 symbols, so a
/// 10-character code carries 10 × log2(31) ≈ 49.5 bits.
const RECOVERY_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const RECOVERY_CODE_CHARS: usize = 10;

/// What went wrong reading a secret or building an enrolment URI. A wrong
/// code is not an error: [`verify`] returns `None`.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("the TOTP secret is not RFC 4648 base32")]
    NotBase32,
    #[error("the TOTP secret has {bits} bits, fewer than the 128 RFC 4226 requires")]
    SecretTooShort { bits: usize },
    #[error("the issuer is empty or contains ':'")]
    InvalidIssuer,
    #[error("the account name is empty or contains ':'")]
    InvalidAccount,
    #[error("could not build the otpauth URI")]
    Uri(#[source] totp_rs::TotpError),
}

/// The key shared with one user's authenticator app. It is wiped from memory
/// when dropped and never shown by `Debug`.
pub struct TotpSecret {
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A fresh 160-bit secret for an enrolment.
    pub fn generate() -> TotpSecret {
        use rand::Rng as _;
        // `rand::rng()` is a ChaCha12 CSPRNG seeded from the operating
        // system. The bytes go straight into the zeroizing buffer, so no
        // copy of the secret is left behind on the stack.
        let mut bytes = Zeroizing::new(vec![0_u8; SECRET_BYTES]);
        rand::rng().fill_bytes(&mut bytes);
        TotpSecret { bytes }
    }

    /// Reads a secret in the base32 form of [`Self::to_base32`], as stored or
    /// as an app shows it: case, spaces and trailing `=` padding do not
    /// matter. Secrets under 128 bits are refused.
    pub fn from_base32(text: &str) -> Result<TotpSecret, TotpError> {
        let normalised: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let secret = Secret::try_from_base32(normalised.trim_end_matches('=')).map_err(|_| TotpError::NotBase32)?;
        if secret.as_bytes().len() < MIN_SECRET_BYTES {
            return Err(TotpError::SecretTooShort {
                bits: secret.as_bytes().len() * 8,
            });
        }
        // `secret` is zeroized when dropped (totp-rs's `zeroize` feature).
        Ok(TotpSecret {
            bytes: Zeroizing::new(secret.as_bytes().to_vec()),
        })
    }

    /// The secret as RFC 4648 base32 without padding, the form authenticator
    /// apps accept typed in and `otpauth://` URIs carry.
    pub fn to_base32(&self) -> String {
        Secret::from(self.bytes.as_slice()).to_base32()
    }

    /// A generator with the fixed parameters and no skew: [`verify`] walks
    /// the accepted steps itself, to apply the replay rule to each.
    fn totp(&self) -> Totp {
        // The parameters are RFC 6238 compliant and the secret holds at
        // least 128 bits by construction, so `build()` could not fail;
        // `build_noncompliant` just skips re-checking that.
        base_builder(self).with_skew(0).build_noncompliant()
    }
}

fn base_builder(secret: &TotpSecret) -> Builder {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret.bytes.as_slice())
}

/// The `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`
/// URI an authenticator app scans from a QR code at enrolment. Issuer and
/// account are percent-encoded; neither may be empty or contain ':', which
/// separates them in the label.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> Result<String, TotpError> {
    if issuer.is_empty() || issuer.contains(':') {
        return Err(TotpError::InvalidIssuer);
    }
    if account.is_empty() || account.contains(':') {
        return Err(TotpError::InvalidAccount);
    }
    let totp = base_builder(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(TotpError::Uri)?;
    let uri = totp.to_url().map_err(TotpError::Uri)?;
    // totp-rs leaves out parameters that equal the Key URI Format's
    // defaults. They are spelled out so that an app which does not apply
    // those defaults still agrees with us, and a test checks each appears
    // exactly once should totp-rs start writing them itself.
    Ok(format!("{uri}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"))
}

/// The code the app shows at `unix_time` (seconds since the epoch): six
/// digits, leading zeros kept. For tests and the enrolment page's check
/// that the app was set up right.
pub fn code_at(secret: &TotpSecret, unix_time: u64) -> String {
    secret.totp().generate(unix_time).to_string()
}

/// Checks a code typed by the user at `unix_time`, returning the step it
/// belongs to (`unix_time / 30`, give or take one).
///
/// Spaces are ignored (apps show "123 456"); anything but six digits is
/// refused. The code may be for the current step or one either side, for
/// clock drift. A step at or before `last_used_step` is refused, so the
/// caller stores the returned step and a code, once accepted, can never be
/// replayed, nor can an older one. Comparison is constant-time (totp-rs's
/// `Token` equality).
pub fn verify(secret: &TotpSecret, code: &str, unix_time: u64, last_used_step: Option<u64>) -> Option<u64> {
    let code = normalise_code(code)?;
    let totp = secret.totp();
    let current = unix_time / STEP_SECONDS;
    let mut matched = None;
    // Every candidate step is checked, and the latest match wins: if a code
    // happened to be valid for two steps, storing the later one refuses
    // both afterwards.
    for step in current.saturating_sub(SKEW_STEPS)..=current.saturating_add(SKEW_STEPS) {
        if last_used_step.is_some_and(|last| step <= last) {
            continue;
        }
        let Some(step_start) = step.checked_mul(STEP_SECONDS) else {
            continue;
        };
        if totp.check(&code, step_start).is_some() {
            matched = Some(step);
        }
    }
    matched
}

/// The code without spaces, if what is left is exactly six ASCII digits.
fn normalise_code(code: &str) -> Option<String> {
    if code.len() > MAX_CODE_INPUT {
        return None;
    }
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == usize::from(DIGITS) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// `n` distinct recovery codes, shown to the user once, formatted
/// `XXXXX-XXXXX`. Store only their [`recovery_code_hash`].
pub fn generate_recovery_codes(n: usize) -> Vec<String> {
    // `rand::rng()` is a CSPRNG (ChaCha12 seeded from the operating system).
    let mut rng = rand::rng();
    let mut seen = HashSet::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    while codes.len() < n {
        // A repeat is astronomically unlikely, but two equal codes would
        // make one of them usable twice, so it is ruled out rather than
        // left to chance.
        let code = random_recovery_code(&mut rng);
        if seen.insert(code.clone()) {
            codes.push(code);
        }
    }
    codes
}

fn random_recovery_code(rng: &mut impl rand::Rng) -> String {
    use rand::RngExt as _;
    let half = RECOVERY_CODE_CHARS / 2;
    let mut code = String::with_capacity(RECOVERY_CODE_CHARS + 1);
    for position in 0..RECOVERY_CODE_CHARS {
        if position == half {
            code.push('-');
        }
        // `random_range` is uniform over the range, so every symbol is
        // equally likely despite 31 not being a power of two.
        code.push(char::from(
            RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())],
        ));
    }
    code
}

/// A recovery code as typed, reduced to its ten characters (uppercase, no
/// spaces or dashes); `None` unless exactly ten characters of the recovery
/// alphabet remain. Ambiguous characters (0, O, 1, I, L) are refused, not
/// guessed at: no code contains them.
pub fn normalise_recovery_code(code: &str) -> Option<String> {
    let normalised = strip_recovery_code(code);
    (normalised.len() == RECOVERY_CODE_CHARS && normalised.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(normalised)
}

/// What is stored for a recovery code: SHA-256 of its normalised form
/// (uppercase, no spaces or dashes), base64url without padding.
///
/// A fast hash is acceptable here, unlike for passwords: recovery codes are
/// random with about 49.5 bits of entropy (no dictionary to try first), each
/// works once, and the caller throttles attempts, so online guessing is
/// hopeless whatever the hash costs. Input that is not a well-formed code
/// hashes to a value no stored code has; callers may refuse it earlier with
/// [`normalise_recovery_code`].
pub fn recovery_code_hash(code: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(strip_recovery_code(code).as_bytes()))
}

fn strip_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// RFC 6238 Appendix B's SHA-1 key: the ASCII "12345678901234567890".
    const RFC_SECRET_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_base32(RFC_SECRET_BASE32).expect("valid base32")
    }

    /// RFC 6238 gives eight digits; with six the code is their last six.
    fn check(unix_time: u64, rfc_eight_digits: &str) {
        assert_eq!(
            code_at(&rfc_secret(), unix_time),
            rfc_eight_digits[2..],
            "time {unix_time}"
        );
    }

    #[test]
    fn codes_match_the_rfc_6238_sha1_test_vectors() {
        check(59, "94287082");
        check(1_111_111_109, "07081804");
        check(1_111_111_111, "14050471");
        check(1_234_567_890, "89005924");
        check(2_000_000_000, "69279037");
    }

    #[test]
    fn a_code_verifies_in_its_own_step_and_one_step_either_side() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = now / 30;
        assert_eq!(verify(&secret, &code_at(&secret, now), now, None), Some(step));
        assert_eq!(verify(&secret, &code_at(&secret, now - 30), now, None), Some(step - 1));
        assert_eq!(verify(&secret, &code_at(&secret, now + 30), now, None), Some(step + 1));
        // Any second within the step is the same step.
        assert_eq!(
            verify(&secret, &code_at(&secret, step * 30), step * 30 + 29, None),
            Some(step)
        );
    }

    #[test]
    fn a_code_two_steps_away_is_refused() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        assert_eq!(verify(&secret, &code_at(&secret, now - 60), now, None), None);
        assert_eq!(verify(&secret, &code_at(&secret, now + 60), now, None), None);
    }

    #[test]
    fn a_step_at_or_before_the_last_used_one_is_refused() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = now / 30;
        let code = code_at(&secret, now);
        assert_eq!(verify(&secret, &code, now, Some(step - 1)), Some(step));
        // The same code again, within the same step or the next: a replay.
        assert_eq!(verify(&secret, &code, now, Some(step)), None);
        assert_eq!(verify(&secret, &code, now + 30, Some(step)), None);
        // An older code still inside the skew window, after a newer one.
        let previous = code_at(&secret, now - 30);
        assert_eq!(verify(&secret, &previous, now, Some(step)), None);
        // The next step's code is still welcome.
        assert_eq!(
            verify(&secret, &code_at(&secret, now + 30), now, Some(step)),
            Some(step + 1)
        );
    }

    #[test]
    fn spaces_are_ignored_and_anything_but_six_digits_is_refused() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let code = code_at(&secret, now);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(verify(&secret, &spaced, now, None), Some(now / 30));
        assert_eq!(verify(&secret, &format!(" {code}\t"), now, None), Some(now / 30));
        let eight_digits = "89005924";
        let wrong = [
            "",
            "12345",
            "1234567",
            &code[..5],
            &format!("{code}0"),
            eight_digits,
            "12345a",
            "１２３４５６",
            "+12345",
            "-12345",
            &format!("{}-{}", &code[..3], &code[3..]),
        ];
        for code in wrong {
            assert_eq!(verify(&secret, code, now, None), None, "{code:?}");
        }
    }

    #[test]
    fn verification_does_not_overflow_at_the_ends_of_time() {
        let secret = rfc_secret();
        assert_eq!(verify(&secret, &code_at(&secret, 0), 0, None), Some(0));
        assert_eq!(verify(&secret, &code_at(&secret, 0), 29, Some(0)), None);
        let end = u64::MAX;
        assert_eq!(verify(&secret, &code_at(&secret, end), end, None), Some(end / 30));
    }

    #[test]
    fn the_base32_form_round_trips_and_reads_what_apps_show() {
        let secret = TotpSecret::generate();
        let text = secret.to_base32();
        assert_eq!(text.len(), 32, "160 bits are 32 base32 characters");
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
            "{text}"
        );
        assert_eq!(TotpSecret::from_base32(&text).expect("round-trips").to_base32(), text);
        let grouped = text
            .to_ascii_lowercase()
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            TotpSecret::from_base32(&grouped)
                .expect("reads grouped lowercase")
                .to_base32(),
            text
        );
        assert_eq!(
            code_at(&TotpSecret::from_base32(&grouped).expect("reads"), 59),
            code_at(&secret, 59)
        );
        // 26 characters (128 bits) with the padding some tools add.
        let padded = "GEZDGNBVGY3TQOJQGEZDGNBVGY======";
        assert_eq!(
            TotpSecret::from_base32(padded).expect("reads padded").to_base32(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY"
        );
    }

    #[test]
    fn a_secret_that_is_not_base32_or_too_short_is_refused() {
        for text in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",
            "GEZDGNBVGY3TQOJQ-EZDGNBVGY3TQOJQ",
            "ĐĐĐĐ",
        ] {
            assert!(
                matches!(TotpSecret::from_base32(text), Err(TotpError::NotBase32)),
                "{text}"
            );
        }
        assert!(matches!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBV"),
            Err(TotpError::SecretTooShort { bits: 120 })
        ));
        assert!(matches!(
            TotpSecret::from_base32(""),
            Err(TotpError::SecretTooShort { bits: 0 })
        ));
    }

    #[test]
    fn generated_secrets_have_160_bits_and_differ() {
        let first = TotpSecret::generate();
        let second = TotpSecret::generate();
        assert_eq!(first.bytes.len(), 20);
        assert_ne!(first.to_base32(), second.to_base32());
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let secret = rfc_secret();
        let debug = format!("{secret:?}");
        assert_eq!(debug, "TotpSecret(<redacted>)");
        assert!(!debug.contains(RFC_SECRET_BASE32));
        assert!(!debug.contains("1234"));
    }

    #[test]
    fn the_otpauth_uri_names_the_secret_issuer_and_parameters() {
        let secret = rfc_secret();
        let uri = otpauth_uri(&secret, "Cổng dịch vụ công", "an.nguyen@example.vn").expect("builds");
        assert!(
            uri.starts_with(
                "otpauth://totp/C%E1%BB%95ng%20d%E1%BB%8Bch%20v%E1%BB%A5%20c%C3%B4ng:an.nguyen%40example.vn?"
            ),
            "{uri}"
        );
        let query = uri.split_once('?').expect("has a query").1;
        let mut parameters: Vec<&str> = query.split('&').collect();
        parameters.sort_unstable();
        assert_eq!(
            parameters,
            [
                "algorithm=SHA1",
                "digits=6",
                "issuer=C%E1%BB%95ng%20d%E1%BB%8Bch%20v%E1%BB%A5%20c%C3%B4ng",
                "period=30",
                &format!("secret={RFC_SECRET_BASE32}"),
            ]
        );
        // An app reading it back gets the same secret, names and parameters.
        let parsed = Totp::from_url(&uri).expect("totp-rs parses it back");
        assert_eq!(parsed.secret().to_base32(), RFC_SECRET_BASE32);
        assert_eq!(parsed.issuer(), Some("Cổng dịch vụ công"));
        assert_eq!(parsed.account_name(), "an.nguyen@example.vn");
        assert_eq!(
            (parsed.algorithm(), parsed.digits(), parsed.step()),
            (Algorithm::SHA1, 6, 30)
        );
        assert_eq!(parsed.generate(59).to_string(), "287082");
    }

    #[test]
    fn an_issuer_or_account_that_is_empty_or_has_a_colon_is_refused() {
        let secret = rfc_secret();
        assert!(matches!(
            otpauth_uri(&secret, "egov:dev", "an"),
            Err(TotpError::InvalidIssuer)
        ));
        assert!(matches!(otpauth_uri(&secret, "", "an"), Err(TotpError::InvalidIssuer)));
        assert!(matches!(
            otpauth_uri(&secret, "egov", "an:admin"),
            Err(TotpError::InvalidAccount)
        ));
        assert!(matches!(
            otpauth_uri(&secret, "egov", ""),
            Err(TotpError::InvalidAccount)
        ));
    }

    #[test]
    fn recovery_codes_are_unique_and_well_formed() {
        let codes = generate_recovery_codes(200);
        assert_eq!(codes.len(), 200);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 200);
        for code in &codes {
            let bytes = code.as_bytes();
            assert_eq!(bytes.len(), 11, "{code}");
            assert_eq!(bytes[5], b'-', "{code}");
            assert!(
                bytes[..5]
                    .iter()
                    .chain(&bytes[6..])
                    .all(|b| RECOVERY_ALPHABET.contains(b)),
                "{code}"
            );
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
            assert_eq!(
                normalise_recovery_code(code).as_deref(),
                Some(code.replace('-', "").as_str())
            );
        }
        assert!(generate_recovery_codes(0).is_empty());
    }

    #[test]
    fn recovery_codes_normalise_case_spaces_and_dashes_to_the_same_hash() {
        let expected = recovery_code_hash("ABCDE-FGHJK");
        // SHA-256 of "ABCDEFGHJK", base64url without padding.
        assert_eq!(expected, "9Xy_Hj5HGyXbS4rQhE30Gy2unH0ZRJRNEo5JKU1BL2Y");
        for typed in [
            "abcde-fghjk",
            "abcde fghjk",
            " ABCDEFGHJK ",
            "ab-cde fg hjk",
            "aBcDeFgHjK",
        ] {
            assert_eq!(recovery_code_hash(typed), expected, "{typed:?}");
            assert_eq!(
                normalise_recovery_code(typed).as_deref(),
                Some("ABCDEFGHJK"),
                "{typed:?}"
            );
        }
        assert_ne!(recovery_code_hash("ABCDE-FGHJM"), expected);
    }

    #[test]
    fn ambiguous_or_misshapen_recovery_codes_are_refused() {
        let refused = [
            "ABCDE-FGHJ0",
            "ABCDE-FGHJO",
            "ABCDE-FGHJ1",
            "ABCDE-FGHJI",
            "ABCDE-FGHJL",
            "abcde-fghjl",
            "ABCDE-FGHJ",
            "ABCDE-FGHJKM",
            "ABCDE_FGHJK",
            "ABCDÉ-FGHJK",
            "",
        ];
        for code in refused {
            assert_eq!(normalise_recovery_code(code), None, "{code:?}");
        }
    }

    proptest! {
        #[test]
        fn recovery_codes_normalise_exactly_when_ten_unambiguous_characters_remain(
            text in "[0-9A-Za-z -]{0,14}"
        ) {
            let stripped: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect::<String>().to_ascii_uppercase();
            let acceptable = stripped.len() == 10 && !stripped.contains(['0', 'O', '1', 'I', 'L']);
            match normalise_recovery_code(&text) {
                Some(code) => {
                    prop_assert!(acceptable, "{text:?} was accepted");
                    prop_assert_eq!(&code, &stripped);
                    prop_assert_eq!(recovery_code_hash(&code), recovery_code_hash(&text));
                }
                None => prop_assert!(!acceptable, "{text:?} was refused"),
            }
        }

        #[test]
        fn a_code_verifies_only_near_now_and_after_the_last_used_step(
            now in 60_u64..u64::MAX / 2,
            offset in -90_i64..=90,
            last_delta in proptest::option::of(-3_i64..=3),
        ) {
            let secret = rfc_secret();
            let current = now / 30;
            let code_time = now.checked_add_signed(offset).expect("in range");
            let code_step = code_time / 30;
            let last = last_delta.map(|delta| current.checked_add_signed(delta).expect("in range"));
            let code = code_at(&secret, code_time);
            let outcome = verify(&secret, &code, now, last);
            let fresh = |step: u64| last.is_none_or(|last| step > last);
            if code_step + 1 >= current && code_step <= current + 1 && fresh(code_step) {
                prop_assert!(outcome.is_some_and(|step| step >= code_step), "{outcome:?}");
            }
            // Whatever matched, by design or by a one-in-a-million collision
            // of codes, lies in the window, after the last used step, and
            // really has this code.
            if let Some(step) = outcome {
                prop_assert!(step + 1 >= current && step <= current + 1 && fresh(step));
                prop_assert_eq!(code_at(&secret, step * 30), code);
            }
        }
    }
}
