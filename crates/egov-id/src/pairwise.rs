//! Pairwise subject identifiers (OpenID Connect Core, section 8.1).
//!
//! A client configured as pairwise sees each user under a `sub` of its own
//! sector: HMAC-SHA256 of the sector and the user's id, keyed with a secret
//! of the instance. The same user gets the same `sub` from every client of a
//! sector and at every sign-in, while clients of different sectors cannot
//! join their records on `sub`, nor recover the user's id from it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use uuid::Uuid;

/// The name of the instance secret that keys pairwise identifiers.
pub(crate) const SECRET_NAME: &str = "pairwise_subject_key";

/// The `sub` of `user_id` in `sector`.
pub(crate) fn subject(key: &[u8], sector: &str, user_id: Uuid) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(sector.as_bytes());
    // The separator keeps ("ab", id) and ("a", "b" + id) apart.
    mac.update(&[0]);
    mac.update(user_id.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_user_keeps_one_subject_per_sector_and_differs_across_sectors() {
        let user = Uuid::from_u128(7);
        let portal = subject(KEY, "dichvucong.example.vn", user);
        assert_eq!(portal, subject(KEY, "dichvucong.example.vn", user));
        assert_ne!(portal, subject(KEY, "nganhang.example.vn", user));
        assert_ne!(portal, subject(KEY, "dichvucong.example.vn", Uuid::from_u128(8)));
        assert_ne!(portal, user.to_string());
        // 32 bytes of HMAC in base64url without padding.
        assert_eq!(portal.len(), 43);
    }

    #[test]
    fn another_instance_key_gives_other_subjects() {
        let user = Uuid::from_u128(7);
        assert_ne!(
            subject(KEY, "dichvucong.example.vn", user),
            subject(b"another key of another instance", "dichvucong.example.vn", user)
        );
    }
}
