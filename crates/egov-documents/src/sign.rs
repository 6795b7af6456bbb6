//! Detached ES256 signatures over the bytes of a result document, made with the agency's key
//! that this instance holds.
//!
//! It owns the key, the signature record and its verification. It must not render, store or
//! fetch anything, and it must never print the private key.
//!
//! The signature is detached rather than embedded in the PDF (`PAdES`) because the maintained
//! Rust crates for CMS and `PAdES` are still young and unproven here; a detached record over the
//! exact bytes gives the same integrity guarantee and can be moved into the PDF later without
//! changing what is signed.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding,
};
use rand_core_06::OsRng;
use sha2::{Digest as _, Sha256};

/// The JOSE name of ECDSA over P-256 with SHA-256, recorded in every signature so that a later
/// change of algorithm is visible in the stored records.
pub const ALGORITHM_ES256: &str = "ES256";

/// How many hexadecimal characters of the public key's SHA-256 make up a key id.
const KEY_ID_HEX_LEN: usize = 16;

/// Failures while loading or encoding the agency's key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the private key is not a PKCS#8 PEM P-256 key")]
    InvalidPrivateKey(#[source] p256::pkcs8::Error),
    #[error("the private key could not be encoded as PKCS#8 PEM")]
    EncodePrivateKey(#[source] p256::pkcs8::Error),
    #[error("the public key could not be encoded as SubjectPublicKeyInfo")]
    EncodePublicKey(#[source] p256::pkcs8::spki::Error),
}

/// Failures while signing; with a 32-byte digest and a valid key these do not happen in
/// practice, but the underlying API is fallible and a panic would take a request down with it.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the ECDSA signature could not be computed")]
    Ecdsa(#[source] p256::ecdsa::Error),
}

/// Why a detached signature does not vouch for a document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the public key is not a SubjectPublicKeyInfo PEM P-256 key")]
    InvalidPublicKey,
    #[error("the signature algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("the signature was made by key {signed_by}, not by key {expected}")]
    KeyMismatch { expected: String, signed_by: String },
    #[error("the signature record is malformed")]
    MalformedSignature,
    #[error("the signature is not valid for this key")]
    BadSignature,
    #[error("the document was changed after it was signed")]
    DocumentChanged,
}

/// A signature stored beside the document it covers.
///
/// It signs the SHA-256 digest of the document, so `sha256_hex` is covered by the signature
/// and tells a changed document apart from a forged record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedSignature {
    pub key_id: String,
    pub algorithm: String,
    /// The 64-byte `r || s` signature as JWS encodes it, in unpadded base64url.
    pub signature_base64url: String,
    pub sha256_hex: String,
}

/// The agency's ECDSA P-256 signing key together with the derived public material, computed
/// once so that signing a document does no encoding work.
pub struct AgencySigningKey {
    signing_key: SigningKey,
    public_key_pem: String,
    key_id: String,
}

impl fmt::Debug for AgencySigningKey {
    // The private scalar must never reach a log, so only the public key id is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgencySigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl AgencySigningKey {
    /// Makes a fresh key from the operating system's random source.
    ///
    /// # Errors
    /// Returns [`KeyError::EncodePublicKey`] if the public key cannot be encoded, which does not
    /// happen for a valid P-256 key.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_signing_key(SigningKey::random(&mut OsRng))
    }

    /// Loads a key from an unencrypted PKCS#8 PEM document (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    /// Returns [`KeyError::InvalidPrivateKey`] if the text is not such a P-256 key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let signing_key = SigningKey::from_pkcs8_pem(pem).map_err(KeyError::InvalidPrivateKey)?;
        Self::from_signing_key(signing_key)
    }

    fn from_signing_key(signing_key: SigningKey) -> Result<Self, KeyError> {
        let verifying_key = signing_key.verifying_key();
        let public_key_pem = verifying_key
            .to_public_key_pem(LineEnding::LF)
            .map_err(KeyError::EncodePublicKey)?;
        let key_id = key_id_of(verifying_key)?;
        Ok(Self {
            signing_key,
            public_key_pem,
            key_id,
        })
    }

    /// Encodes the private key as PKCS#8 PEM, in a buffer that is wiped when dropped.
    ///
    /// # Errors
    /// Returns [`KeyError::EncodePrivateKey`] if encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.signing_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(KeyError::EncodePrivateKey)
    }

    /// The public key as `SubjectPublicKeyInfo` PEM (`-----BEGIN PUBLIC KEY-----`), to publish for
    /// verifiers.
    #[must_use]
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The first 16 hexadecimal characters of the SHA-256 of the `SubjectPublicKeyInfo` DER.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs the exact bytes of a document.
    ///
    /// The digest is computed once and signed as a prehash, which is what ES256 over the bytes
    /// means, so any ES256 verifier given the bytes accepts the signature. RFC 6979 nonces make
    /// the signature itself deterministic.
    ///
    /// # Errors
    /// Returns [`SignError::Ecdsa`] if the ECDSA primitive fails.
    pub fn sign(&self, document: &[u8]) -> Result<DetachedSignature, SignError> {
        let digest = Sha256::digest(document);
        let signature: Signature = self.signing_key.sign_prehash(&digest).map_err(SignError::Ecdsa)?;
        Ok(DetachedSignature {
            key_id: self.key_id.clone(),
            algorithm: ALGORITHM_ES256.to_owned(),
            signature_base64url: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            sha256_hex: to_hex(&digest),
        })
    }
}

/// Checks that `signature` was made by the key in `public_key_pem` over exactly `document`.
///
/// The signature is first checked against the digest it records: if that fails, the record was
/// forged or made by another key ([`VerifyError::BadSignature`]); if it holds but the document's
/// own digest differs, the record is genuine and the document was altered
/// ([`VerifyError::DocumentChanged`]).
///
/// # Errors
/// Returns the first reason the signature does not hold, as [`VerifyError`] describes.
pub fn verify(public_key_pem: &str, document: &[u8], signature: &DetachedSignature) -> Result<(), VerifyError> {
    let verifying_key = VerifyingKey::from_public_key_pem(public_key_pem).map_err(|_| VerifyError::InvalidPublicKey)?;
    if signature.algorithm != ALGORITHM_ES256 {
        return Err(VerifyError::UnsupportedAlgorithm(signature.algorithm.clone()));
    }
    let expected_key_id = key_id_of(&verifying_key).map_err(|_| VerifyError::InvalidPublicKey)?;
    if signature.key_id != expected_key_id {
        return Err(VerifyError::KeyMismatch {
            expected: expected_key_id,
            signed_by: signature.key_id.clone(),
        });
    }
    let signature_bytes = URL_SAFE_NO_PAD
        .decode(&signature.signature_base64url)
        .map_err(|_| VerifyError::MalformedSignature)?;
    let ecdsa_signature = Signature::from_slice(&signature_bytes).map_err(|_| VerifyError::MalformedSignature)?;
    let recorded_digest = from_hex_32(&signature.sha256_hex).ok_or(VerifyError::MalformedSignature)?;
    verifying_key
        .verify_prehash(&recorded_digest, &ecdsa_signature)
        .map_err(|_| VerifyError::BadSignature)?;
    // The digest is public, so a plain comparison leaks nothing worth a constant-time one.
    if Sha256::digest(document).as_slice() != recorded_digest {
        return Err(VerifyError::DocumentChanged);
    }
    Ok(())
}

fn key_id_of(verifying_key: &VerifyingKey) -> Result<String, KeyError> {
    let der = verifying_key.to_public_key_der().map_err(KeyError::EncodePublicKey)?;
    let mut key_id = to_hex(&Sha256::digest(der.as_bytes()));
    key_id.truncate(KEY_ID_HEX_LEN);
    Ok(key_id)
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn to_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Parses exactly 64 hexadecimal characters (either case) into a SHA-256 digest.
fn from_hex_32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0_u8; 32];
    for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *out = u8::try_from(high * 16 + low).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::{from_hex_32, to_hex};

    #[test]
    fn hex_round_trips_and_rejects_wrong_lengths() {
        let digest: Vec<u8> = (0_u8..32).map(|i| i.wrapping_mul(37)).collect();
        let hex = to_hex(&digest);
        assert_eq!(from_hex_32(&hex).map(Vec::from), Some(digest));
        assert_eq!(from_hex_32(&hex.to_uppercase()).map(|d| to_hex(&d)), Some(hex.clone()));
        assert_eq!(from_hex_32(&hex[..62]), None);
        assert_eq!(from_hex_32(&format!("{}zz", &hex[..62])), None);
    }
}
