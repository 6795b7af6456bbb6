//! Signing keys of the OpenID Connect provider and the verification of the
//! tokens they sign.
//!
//! It owns key generation (RS256, ES256, EdDSA), the PKCS#8 PEM form a key
//! is stored in, the public JWK published at the JWKS endpoint, the RFC 7638
//! thumbprint that names a generated key (`kid`), and the one place where a
//! compact JWS is signed or verified. It must not store keys, decide when to
//! rotate them or which claims a token carries: the key store and the token
//! modules do that. It must not contain cryptography of its own either; every
//! primitive comes from `rsa`, `p256`, `ed25519-dalek` and `jsonwebtoken`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use egov_core::clock::{Clock as _, SystemClock};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
// The three key crates share `pkcs8` 0.10, so one line-ending type serves all.
use p256::pkcs8::LineEnding;
use rand_core_06::OsRng;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. Relying
/// parties run on their own clocks; half a minute absorbs ordinary NTP drift
/// without keeping expired tokens alive for long.
const LEEWAY_SECONDS: i64 = 30;

/// Size of a generated RSA modulus. 2048 bits is the floor of NIST SP 800-57
/// until 2030 and what every OpenID Connect relying party accepts.
const RSA_BITS: usize = 2048;

/// Number of thumbprint characters kept as a generated key's `kid`: 96 bits
/// are ample to tell a handful of live keys apart and keep headers short.
const KID_LENGTH: usize = 16;

/// A JWS signing algorithm this provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, the one algorithm every OpenID
    /// Connect relying party must support.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Algorithm {
    /// Every supported algorithm, in the order they are advertised.
    pub const ALL: [Algorithm; 3] = [Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa];

    /// The JOSE name (`alg` header and JWK member).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE name; names are case-sensitive, as RFC 7518 says.
    pub fn parse(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|algorithm| algorithm.as_str() == name)
    }

    fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong with a key or a token.
///
/// The verification variants are deliberately coarse: callers map them all
/// to `invalid_token` and only log the variant, so an attacker learns nothing
/// from the difference.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not generate a {algorithm} key: {reason}")]
    Generation { algorithm: Algorithm, reason: String },
    #[error("the private key is not a PKCS#8 PEM {algorithm} key")]
    InvalidPrivateKey { algorithm: Algorithm },
    #[error("a key id must not be empty")]
    EmptyKid,
    #[error("invalid JWK: {0}")]
    InvalidJwk(&'static str),
    #[error("the key id `{0}` appears twice in the key set")]
    DuplicateKid(String),
    #[error("could not sign the token")]
    Signing(#[source] jsonwebtoken::errors::Error),
    #[error("the token is not a well-formed compact JWS")]
    MalformedToken,
    #[error("the token names no key of this key set")]
    UnknownKey,
    #[error("the token's algorithm is not the algorithm of its key")]
    AlgorithmMismatch,
    #[error("the token's signature is invalid")]
    InvalidSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInTheFuture,
    #[error("the token comes from another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("the token's claims do not have the expected shape")]
    InvalidClaims(#[source] serde_json::Error),
}

/// The public half of a key, in the raw big-endian form the JWK carries.
enum PublicParts {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { x: Vec<u8>, y: Vec<u8> },
    Okp { x: Vec<u8> },
}

impl PublicParts {
    /// The JWK with only the members that define the key, which is also the
    /// input of the RFC 7638 thumbprint.
    fn bare_jwk(&self) -> Map<String, Value> {
        let b64 = |bytes: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(bytes));
        let mut jwk = Map::new();
        match self {
            PublicParts::Rsa { n, e } => {
                jwk.insert("kty".into(), "RSA".into());
                jwk.insert("n".into(), b64(n));
                jwk.insert("e".into(), b64(e));
            }
            PublicParts::Ec { x, y } => {
                jwk.insert("kty".into(), "EC".into());
                jwk.insert("crv".into(), "P-256".into());
                jwk.insert("x".into(), b64(x));
                jwk.insert("y".into(), b64(y));
            }
            PublicParts::Okp { x } => {
                jwk.insert("kty".into(), "OKP".into());
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("x".into(), b64(x));
            }
        }
        jwk
    }
}

/// A private signing key with its id, its PEM form and its public JWK.
///
/// `Debug` prints the id and algorithm only: the private key must never
/// reach a log line.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    algorithm: Algorithm,
    private_pkcs8_pem: Zeroizing<String>,
    public_jwk: Value,
    // Parsed once here so that signing a token does not decode PEM again;
    // `EncodingKey` zeroizes its bytes on drop.
    encoding_key: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key from the operating system's random source:
    /// RSA 2048 bits, P-256 or Ed25519. Its `kid` is the first 16 characters
    /// of its RFC 7638 thumbprint, so the same key always gets the same id.
    pub fn generate(algorithm: Algorithm) -> Result<SigningKey, KeyError> {
        let generation_error = |reason: String| KeyError::Generation { algorithm, reason };
        let (pem, parts) = match algorithm {
            Algorithm::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey as _;
                use rsa::traits::PublicKeyParts as _;
                let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS)
                    .map_err(|error| generation_error(error.to_string()))?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|error| generation_error(error.to_string()))?;
                let parts = PublicParts::Rsa {
                    n: key.n().to_bytes_be(),
                    e: key.e().to_bytes_be(),
                };
                (pem, parts)
            }
            Algorithm::Es256 => {
                use p256::pkcs8::EncodePrivateKey as _;
                let key = p256::SecretKey::random(&mut OsRng);
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|error| generation_error(error.to_string()))?;
                (pem, ec_public_parts(&key.public_key())?)
            }
            Algorithm::EdDsa => {
                use ed25519_dalek::pkcs8::EncodePrivateKey as _;
                let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|error| generation_error(error.to_string()))?;
                let parts = PublicParts::Okp {
                    x: key.verifying_key().to_bytes().to_vec(),
                };
                (pem, parts)
            }
        };
        let bare_jwk = Value::Object(parts.bare_jwk());
        let thumbprint = jwk_thumbprint(&bare_jwk)?;
        let kid = thumbprint.get(..KID_LENGTH).unwrap_or(&thumbprint);
        SigningKey::assemble(kid, algorithm, pem, &parts)
    }

    /// Loads a stored key. The PEM must be an unencrypted PKCS#8 private key
    /// of the given algorithm; the key id is kept as given, since it has
    /// already been published.
    pub fn from_pkcs8_pem(kid: &str, algorithm: Algorithm, pem: &str) -> Result<SigningKey, KeyError> {
        let invalid = |_| KeyError::InvalidPrivateKey { algorithm };
        let parts = match algorithm {
            Algorithm::Rs256 => {
                use rsa::pkcs8::DecodePrivateKey as _;
                use rsa::traits::PublicKeyParts as _;
                let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(invalid)?;
                // A smaller stored key would sign tokens that relying
                // parties are right to refuse; fail at start instead.
                if key.size() * 8 < RSA_BITS {
                    return Err(KeyError::InvalidPrivateKey { algorithm });
                }
                PublicParts::Rsa {
                    n: key.n().to_bytes_be(),
                    e: key.e().to_bytes_be(),
                }
            }
            Algorithm::Es256 => {
                use p256::pkcs8::DecodePrivateKey as _;
                let key = p256::SecretKey::from_pkcs8_pem(pem).map_err(invalid)?;
                ec_public_parts(&key.public_key())?
            }
            Algorithm::EdDsa => {
                use ed25519_dalek::pkcs8::DecodePrivateKey as _;
                let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(invalid)?;
                PublicParts::Okp {
                    x: key.verifying_key().to_bytes().to_vec(),
                }
            }
        };
        SigningKey::assemble(kid, algorithm, Zeroizing::new(pem.to_owned()), &parts)
    }

    fn assemble(
        kid: &str,
        algorithm: Algorithm,
        private_pkcs8_pem: Zeroizing<String>,
        parts: &PublicParts,
    ) -> Result<SigningKey, KeyError> {
        if kid.is_empty() {
            return Err(KeyError::EmptyKid);
        }
        let pem_bytes = private_pkcs8_pem.as_bytes();
        let encoding_key = match algorithm {
            Algorithm::Rs256 => EncodingKey::from_rsa_pem(pem_bytes),
            Algorithm::Es256 => EncodingKey::from_ec_pem(pem_bytes),
            Algorithm::EdDsa => EncodingKey::from_ed_pem(pem_bytes),
        }
        .map_err(|_| KeyError::InvalidPrivateKey { algorithm })?;
        let mut public_jwk = parts.bare_jwk();
        public_jwk.insert("kid".into(), kid.into());
        public_jwk.insert("alg".into(), algorithm.as_str().into());
        public_jwk.insert("use".into(), "sig".into());
        Ok(SigningKey {
            kid: kid.to_owned(),
            algorithm,
            private_pkcs8_pem,
            public_jwk: Value::Object(public_jwk),
            encoding_key,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The private key as PKCS#8 PEM, for the key store to persist
    /// (encrypted at rest by the caller). Never log or return it over HTTP.
    pub fn private_pkcs8_pem(&self) -> &str {
        &self.private_pkcs8_pem
    }

    /// The public key as an RFC 7517 JWK with `kid`, `alg` and `use: sig`,
    /// ready for the JWKS document.
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    /// Signs the claims as a compact JWS whose header carries `typ: JWT`,
    /// `alg` and `kid`.
    pub fn sign<T: serde::Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        self.sign_typed("JWT", claims)
    }

    /// [`SigningKey::sign`] with another `typ`, such as `logout+jwt`, so a
    /// token of one kind cannot pass for another.
    pub fn sign_typed<T: serde::Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let mut header = Header::new(self.algorithm.jsonwebtoken());
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key).map_err(KeyError::Signing)
    }
}

fn ec_public_parts(public_key: &p256::PublicKey) -> Result<PublicParts, KeyError> {
    use p256::elliptic_curve::sec1::{Coordinates, ToEncodedPoint as _};
    let point = public_key.to_encoded_point(false);
    match point.coordinates() {
        Coordinates::Uncompressed { x, y } => Ok(PublicParts::Ec {
            x: x.to_vec(),
            y: y.to_vec(),
        }),
        // `to_encoded_point(false)` always gives the uncompressed form and a
        // public key is never the identity; this arm only avoids a panic.
        Coordinates::Identity | Coordinates::Compact { .. } | Coordinates::Compressed { .. } => {
            Err(KeyError::InvalidPrivateKey {
                algorithm: Algorithm::Es256,
            })
        }
    }
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url without padding).
///
/// Only the required members of the key type take part, serialized with no
/// whitespace in lexicographic order of their names, so `kid`, `alg` or
/// `use` never change the result.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, KeyError> {
    let kty = jwk
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(KeyError::InvalidJwk("the JWK has no `kty`"))?;
    let required: &[&str] = match kty {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "oct" => &["k", "kty"],
        _ => return Err(KeyError::InvalidJwk("unsupported `kty`")),
    };
    // A BTreeMap orders names by bytes, which for these ASCII names is the
    // code-point order RFC 7638 section 3.3 asks for; serde_json writes no
    // whitespace and escapes exactly as RFC 7159 requires.
    let mut members = BTreeMap::new();
    for name in required {
        let value = jwk
            .get(*name)
            .and_then(Value::as_str)
            .ok_or(KeyError::InvalidJwk("the JWK lacks a required member"))?;
        members.insert(*name, value);
    }
    let canonical =
        serde_json::to_string(&members).map_err(|_| KeyError::InvalidJwk("the JWK cannot be serialized"))?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[derive(Debug, Clone)]
struct PublicKey {
    algorithm: Algorithm,
    decoding_key: DecodingKey,
}

/// The public keys tokens are verified against, looked up by `kid`.
#[derive(Debug, Clone, Default)]
pub struct PublicKeySet {
    keys: HashMap<String, PublicKey>,
}

impl PublicKeySet {
    /// Builds the set from JWKs as published by [`SigningKey::public_jwk`].
    ///
    /// Each JWK needs `kid` and `alg`, and its `kty`/`crv` must belong to
    /// that `alg`: the algorithm is pinned to the key here, so a token can
    /// never choose how its own signature is checked.
    pub fn from_jwks(jwks: &[Value]) -> Result<PublicKeySet, KeyError> {
        let mut keys = HashMap::with_capacity(jwks.len());
        for jwk in jwks {
            let (kid, key) = parse_public_jwk(jwk)?;
            if keys.insert(kid.clone(), key).is_some() {
                return Err(KeyError::DuplicateKid(kid));
            }
        }
        Ok(PublicKeySet { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Verifies a compact JWS against the real clock and returns its claims.
    ///
    /// Checks, in order: the header names a known `kid`; the header `alg` is
    /// that key's algorithm (so `none`, HMAC and any other substitution fail);
    /// the signature; `iss` (required, equal to `issuer`); `aud` (required
    /// and containing `audience`) when `audience` is given; `exp` (required),
    /// `nbf` (when present) and `iat` (required, not in the future), each
    /// with 30 s of leeway. With `audience: None` the audience is not checked
    /// at all: callers that pass `None` check it themselves.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
    ) -> Result<T, KeyError> {
        self.verify_at(token, issuer, audience, SystemClock.now())
    }

    /// [`PublicKeySet::verify`] with the time checks made at `now`, so that
    /// callers holding a [`Clock`] (and tests with a fixed one) decide what
    /// "now" is.
    ///
    /// [`Clock`]: egov_core::clock::Clock
    pub fn verify_at<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<T, KeyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| KeyError::MalformedToken)?;
        let kid = header.kid.as_deref().ok_or(KeyError::UnknownKey)?;
        let key = self.keys.get(kid).ok_or(KeyError::UnknownKey)?;
        if header.alg != key.algorithm.jsonwebtoken() {
            return Err(KeyError::AlgorithmMismatch);
        }

        // jsonwebtoken checks the signature, `iss` and `aud`. Its time checks
        // read the system clock, so they are off here and done below against
        // the caller's `now`.
        let mut validation = Validation::new(key.algorithm.jsonwebtoken());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer]);
        if let Some(audience) = audience {
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        } else {
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp", "iss"]);
        }
        let claims = jsonwebtoken::decode::<Value>(token, &key.decoding_key, &validation)
            .map_err(map_decode_error)?
            .claims;

        check_times(&claims, now.timestamp())?;
        serde_json::from_value(claims).map_err(KeyError::InvalidClaims)
    }
}

/// Checks `exp`, `nbf` and `iat` (RFC 7519 NumericDate, seconds) at `now`.
///
/// `iat` is required: OpenID Connect requires it in ID tokens, and a token
/// issued in the future means a wrong clock or a forgery.
fn check_times(claims: &Value, now: i64) -> Result<(), KeyError> {
    let time = |name: &str| -> Result<Option<i64>, KeyError> {
        match claims.get(name) {
            None => Ok(None),
            // NumericDate may carry fractions; whole seconds are precise
            // enough against a 30 s leeway.
            #[expect(
                clippy::cast_possible_truncation,
                reason = "a float time is floored to whole seconds; out-of-range values saturate"
            )]
            Some(value) => value
                .as_i64()
                .or_else(|| value.as_f64().map(|seconds| seconds.floor() as i64))
                .map(Some)
                .ok_or(KeyError::MalformedToken),
        }
    };
    let expires_at = time("exp")?.ok_or_else(|| KeyError::MissingClaim("exp".to_owned()))?;
    let issued_at = time("iat")?.ok_or_else(|| KeyError::MissingClaim("iat".to_owned()))?;
    if expires_at.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(KeyError::Expired);
    }
    if time("nbf")?.is_some_and(|not_before| not_before > now.saturating_add(LEEWAY_SECONDS)) {
        return Err(KeyError::NotYetValid);
    }
    if issued_at > now.saturating_add(LEEWAY_SECONDS) {
        return Err(KeyError::IssuedInTheFuture);
    }
    Ok(())
}

fn map_decode_error(error: jsonwebtoken::errors::Error) -> KeyError {
    match error.into_kind() {
        ErrorKind::InvalidSignature => KeyError::InvalidSignature,
        ErrorKind::ExpiredSignature => KeyError::Expired,
        ErrorKind::ImmatureSignature => KeyError::NotYetValid,
        ErrorKind::InvalidIssuer => KeyError::WrongIssuer,
        ErrorKind::InvalidAudience => KeyError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => KeyError::MissingClaim(claim),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => KeyError::AlgorithmMismatch,
        ErrorKind::Json(error) => match std::sync::Arc::into_inner(error) {
            Some(error) => KeyError::InvalidClaims(error),
            None => KeyError::MalformedToken,
        },
        // Bad base64, bad UTF-8, wrongly typed `exp`, or a signature that the
        // crypto backend cannot even parse: the token is not well formed.
        _ => KeyError::MalformedToken,
    }
}

/// Members that only a private JWK carries (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn parse_public_jwk(jwk: &Value) -> Result<(String, PublicKey), KeyError> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let decoded = |name: &str| -> Result<Vec<u8>, KeyError> {
        let value = member(name).ok_or(KeyError::InvalidJwk("the JWK lacks a key member"))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| KeyError::InvalidJwk("a key member is not base64url"))
    };

    if !jwk.is_object() {
        return Err(KeyError::InvalidJwk("a JWK must be a JSON object"));
    }
    // A private member in a public set means a key has leaked into the
    // JWKS; refusing it loudly is better than quietly publishing it further.
    if PRIVATE_MEMBERS.iter().any(|name| jwk.get(name).is_some()) {
        return Err(KeyError::InvalidJwk(
            "a public key set must not contain private key material",
        ));
    }
    let kid = member("kid")
        .filter(|kid| !kid.is_empty())
        .ok_or(KeyError::InvalidJwk("the JWK has no `kid`"))?;
    let algorithm = member("alg")
        .and_then(Algorithm::parse)
        .ok_or(KeyError::InvalidJwk("the JWK has no supported `alg`"))?;
    if jwk.get("use").is_some_and(|usage| usage != "sig") {
        return Err(KeyError::InvalidJwk("the JWK is not a signature key"));
    }

    let decoding_key = match (algorithm, member("kty"), member("crv")) {
        (Algorithm::Rs256, Some("RSA"), _) => {
            let n = decoded("n")?;
            let e = decoded("e")?;
            if n.len() * 8 < RSA_BITS {
                return Err(KeyError::InvalidJwk("the RSA modulus is shorter than 2048 bits"));
            }
            DecodingKey::from_rsa_raw_components(&n, &e)
        }
        (Algorithm::Es256, Some("EC"), Some("P-256")) => {
            let x = decoded("x")?;
            let y = decoded("y")?;
            // Building the point here rejects coordinates off the curve at
            // load time instead of at the first token.
            let point = p256::EncodedPoint::from_affine_coordinates(
                p256::FieldBytes::from_slice(fixed_32(&x)?),
                p256::FieldBytes::from_slice(fixed_32(&y)?),
                false,
            );
            p256::PublicKey::from_sec1_bytes(point.as_bytes())
                .map_err(|_| KeyError::InvalidJwk("the EC point is not on P-256"))?;
            DecodingKey::from_ec_der(point.as_bytes())
        }
        (Algorithm::EdDsa, Some("OKP"), Some("Ed25519")) => {
            let x = decoded("x")?;
            let bytes: [u8; 32] = x
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::InvalidJwk("an Ed25519 key has 32 bytes"))?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| KeyError::InvalidJwk("the Ed25519 key is invalid"))?;
            DecodingKey::from_ed_der(&bytes)
        }
        _ => {
            return Err(KeyError::InvalidJwk(
                "the JWK's `kty` or `crv` does not match its `alg`",
            ));
        }
    };
    Ok((
        kid.to_owned(),
        PublicKey {
            algorithm,
            decoding_key,
        },
    ))
}

fn fixed_32(bytes: &[u8]) -> Result<&[u8], KeyError> {
    if bytes.len() == 32 {
        Ok(bytes)
    } else {
        Err(KeyError::InvalidJwk("a P-256 coordinate has 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://id.example.gov.vn";
    const AUDIENCE: &str = "dich-vu-cong";

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Claims {
        iss: String,
        sub: String,
        aud: String,
        exp: i64,
        iat: i64,
        name: String,
    }

    fn now() -> i64 {
        SystemClock.now().timestamp()
    }

    fn claims() -> Claims {
        Claims {
            iss: ISSUER.to_owned(),
            sub: "019371a2-0000-7000-8000-000000000001".to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: now() + 300,
            iat: now(),
            name: "Nguyễn Thị Minh Khai".to_owned(),
        }
    }

    // RSA key generation takes seconds without optimisation and nextest
    // runs every test in its own process, so the RSA keys of most tests are
    // fixed test-only keys made with `openssl genpkey`; they sign nothing
    // outside this module. Generation itself is covered by
    // `generated_keys_are_named_by_their_thumbprint_and_sign_verifiable_tokens`.
    const RSA_TEST_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDX4tHDRPc0p93b
VUQpQa5GLVsXPcVSU43ELpC2lLQoYkVI82PIqmDBFhKJLqbA5TElzGSF6bf7a/pD
JxBc2xEcD+OqUZMf/O3AtXyWENDCoqE7Srwfpq96a8oB8sL/TdJbxszvuKZfR4yG
PymWqao6nwx5nwYgPRfN04iax9acGQif53kHXuCZwC71Uryw3sD++0bEqdSdK+PJ
o1MNYXWiaAt128+AcqdkJ3fpZSK8nctjRBPUQa0h5L+ci3SWiRhARnDMc3D/10d1
zDM+tThHJFCKM8Kk7Chctm9fyT33wyaK5tyUq11t6wdnmMdhaMJyHafCDR0l79RT
OjCY/9YnAgMBAAECggEAGlVGdOUiqj+XpjteVxH16gV6SPl16jba4gU0DbFR0GM8
REu77iwqJSNGG4mfOYQ7XHr0AAmkMXzYR/yp2Em4ao3dnVbZ9VrqvUjl64AdlsAz
noHdNJcmbG5dc6Ni+bVKZXt4X/1L/e9CStXFguUrKH9iDCvDmYcaMjcNQKQDn4KM
1UrpaYKklxImMRHYeL5CjElNCHHJXU+UeehBUr8aZaqeNgFznQ05jqG5PzBq0ckG
dlkIJznfKf60gKX3nr9SSUbXuM1qN7Nam0ZvN1xpfo2MJL89eNtyYNcjlNq3OKrb
aMCPiKWdNf1Hh4O/zCvKrqOdxczl3YgxQ5onuJbUkQKBgQDxkqk/TbHhmSobePWj
cJAy2sRutn9udfFWENtkflYJnl1C2EuwNZx2NOEcCJO3MvqWxU6u4EEmzkGzXdPQ
6dXx4acuS7F2Eqc3nuCveHXa4qduHzTj/U/6zhSiTF9bwoq+rwpgpYOY7D5ebxnP
kNxPXzM7/UOOwVjwzkYha/vpOwKBgQDkx3BaP4jORVmjbT9EVjAXUJq3domlA2VH
zDppDPMMDBRlEJqjaEWdwCyt9WNioORVnzESMd8kqGBsBHuNv07A5fvG9zXPd1pj
RiNZUS36+90wvUDEpepXTqnbjQgEC4XF9TmqM8cwDk7ovLK9qV1IZ3MWF1Liy2J4
0mfxoDhYBQKBgCYFimPvS58RZ2I5kJfv4JJQgnhWewocwCZmstFHXS1YYp9hwc/z
MDQesIukAfPkrzJJzc+Sdk6wSgD8NJl+JHFUreaIfV7zIqSLehvEHvCbmfSoLr/v
n8X+55p/4MZlgUbv7/c0Ndk83bgpTmuwBizr8/luLFLstZ35KWqbP2P/AoGANu9x
Giqxdh6PBMBB9e3gRGj1jeJn8PjcxB3VVM5oOldYOmB/UYfDV7sCv47yG4fY7Hp6
dQ0GsS3BYY6+AG6UwZs4FzHbeQMG8FmyOUtWCDOcjIyVVeMlX2ujO/Ykm5wMtllJ
TIZ8aRy2dAqDvSlDHhTBPOfC3nTKI4sarJm1jeUCgYBNxp8QxirC/9S1Cw/Ptcuv
gaO3XnDXZomZYszK8NhOHrWlLND7wohgNKdYCOM0I6ryDuUK597QnTO0wStwhF2N
suF8CAQY+dolFKfk4mQxlUvp49NYmgR3NkWmhQQlHSPfyF2Hp4fxuTPh0EFQh64v
B+ZhFx9Ucwa0pwdPoOQpTw==
-----END PRIVATE KEY-----
";
    const OTHER_RSA_TEST_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC9sr8SEOKNMyFC
d/PRMiA2l7EbxT4xzZogaWDqSfzInvYr9u22Qx04Z4OF0RBHYHPQbN8ahVqZnmW9
PZW/SN/hFGeamw4rq+BHyr6OXqe4tMFAiFT1Gm7rRNstNU3Wnr1gIg9FsY/dBkhm
onDnnhI/Qs7S+mt8DE/2H+fxYz8TfeQFCv+g7n2saYarTexnIu6QCvwLD1m2bw+x
nxxMcnROZKVkpplMvMuDDnigQprc+oZ0a6WLxo/YETxXeV4sjTtvSJ/CaaYzBEiA
qwJth73lbhz+AwY/Ybh7STaXaMFRt03PEykH8MU2+sL2hHrYIJ5uxj8CaLop8pPk
pDd/YUZXAgMBAAECggEAFsM0Gj7ccIUKIKe0Ig4Zv3NEVUi9xcweCnWao4JtSsWI
VI40yAIVp4cESTJk+auhOglWXCBUVsqi+qpBJcrg0mlYZTzl3mepafPyGbNR/N/z
sIKrbx3U4XZJtosG5BH4N2je3EYKNUNjvK0RTzmwhtbFapuR+jif/7CkbFq0Xuov
JTcx1qb2gWPeo+9W3RcH62ndMQ+YNgZhPekDJN2RbjSEPOj9UnLdpRBSaPc7dUCm
ozW7Tcz5XrqllxV/OuO2ncl7jnAhNJxQSbm7VwoZ/3Q0PpbWWqOspIbA7xtvPCbf
VU9uPI/+6Iz1AsEClFH4fbInrYvnr6uWP9+MLoOYwQKBgQDzQJ1fphclhSTXpHcf
/YHKzFDKi2808sG4zV8JK2wEg6TnmTEaYbKrf5Ma5cPyOb+eaRRX2Q/aua1en79/
DwzRN80+LvbAMAe1Sz2S7M3RIEtuWVmnnkCeJcr2fW0C7T/l2K7N2Jf44CGfrYIJ
X8TuQsbH4YX4DkhErTRQMAaOBQKBgQDHo6sd1hhIhCnb05nEdKLMs8h/RWT8Nxee
G+iJbpv6N2n7NYsJ39XGsHjHa4gmidW76AqGnd7XHTe2mOUoSGBVVW2I5y+4SFdN
/7a2DbNhZA388N3QpgLqq1LXerhY1tsJSozeDMSAiYF0BuzqIoeLM7l+83RtWlJa
TWJ9YRIVqwKBgEDtrVP7jFAaguQAZT+ntf5AnQwDPdK/PVArmUNkULe/v8OF02J8
U2mNauGSFMRR/8CzwZdVO/Mg/pK0RzQN+1jY8TK47GoOJ/CPPcc66BD68sdomBKy
ngLYiZ1Ti0Ztt1GNjdMqDh6DDNaHRJ9l7bW/Izn1C4JTpZyXMtB4kTdVAoGAN+5x
zX0i9oYYmB7zcKfgyIsB/C47+bGRq1lUT9SuXG7UAW5h0tVkNjNQ00YcMffh6rA6
6rYmLYxhBIZXhW6plp7FflqO8wlJdG/VB7JU9E8s4BW3f3JTVN3E6tvV9AXV/gdl
6fwXvY9ItnIORBaCdQx7xsZ8cvqgIe6WTlw4zdsCgYEAm4QFnEBqNbXnxdZ26Oxn
umRYzJ2cKxfsoyltx2iMWz1MAHUjf9td/yhniEAeY+JxfVMoVl3id6mGX39IiAFV
U6zDk2BKAdPzMfXiGn7YmVN20z81tgYjijEl9Fi0NXkosoJ2dJ03d7uRwJRXg1We
z/+/oeyidVD1Ic0kz+7+jf4=
-----END PRIVATE KEY-----
";

    static KEYS: LazyLock<Vec<SigningKey>> = LazyLock::new(|| {
        vec![
            SigningKey::from_pkcs8_pem("rsa-test", Algorithm::Rs256, RSA_TEST_PEM).expect("the test key loads"),
            SigningKey::generate(Algorithm::Es256).expect("key generation works"),
            SigningKey::generate(Algorithm::EdDsa).expect("key generation works"),
        ]
    });

    /// A second key of the same algorithm, for impostor tests.
    fn other_key(algorithm: Algorithm) -> SigningKey {
        match algorithm {
            Algorithm::Rs256 => {
                SigningKey::from_pkcs8_pem("other-rsa-test", algorithm, OTHER_RSA_TEST_PEM).expect("the test key loads")
            }
            _ => SigningKey::generate(algorithm).expect("key generation works"),
        }
    }

    fn key(algorithm: Algorithm) -> &'static SigningKey {
        KEYS.iter()
            .find(|key| key.algorithm() == algorithm)
            .expect("one key per algorithm")
    }

    fn set_of(keys: &[&SigningKey]) -> PublicKeySet {
        let jwks: Vec<Value> = keys.iter().map(|key| key.public_jwk()).collect();
        PublicKeySet::from_jwks(&jwks).expect("our own JWKs load")
    }

    fn verify(set: &PublicKeySet, token: &str) -> Result<Claims, KeyError> {
        set.verify(token, ISSUER, Some(AUDIENCE))
    }

    fn b64(json: &Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn algorithm_names_round_trip() {
        for algorithm in Algorithm::ALL {
            assert_eq!(Algorithm::parse(algorithm.as_str()), Some(algorithm));
        }
        assert_eq!(Algorithm::parse("none"), None);
        assert_eq!(Algorithm::parse("HS256"), None);
        assert_eq!(Algorithm::parse("rs256"), None);
    }

    #[test]
    fn signed_claims_round_trip_for_every_algorithm() {
        for algorithm in Algorithm::ALL {
            let key = key(algorithm);
            let token = key.sign(&claims()).expect("signing works");
            let header = jsonwebtoken::decode_header(&token).expect("header decodes");
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            assert_eq!(header.kid.as_deref(), Some(key.kid()));
            assert_eq!(header.alg, algorithm.jsonwebtoken());
            let verified = verify(&set_of(&[key]), &token).expect("token verifies");
            assert_eq!(verified.name, "Nguyễn Thị Minh Khai", "{algorithm}");
        }
    }

    #[test]
    fn the_right_key_is_picked_from_a_set_of_several() {
        let set = set_of(&KEYS.iter().collect::<Vec<_>>());
        assert_eq!(set.len(), 3);
        for key in KEYS.iter() {
            let token = key.sign(&claims()).expect("signing works");
            assert!(verify(&set, &token).is_ok(), "{}", key.algorithm());
        }
    }

    #[test]
    fn public_jwks_have_the_rfc_7517_members() {
        let rsa = key(Algorithm::Rs256).public_jwk();
        assert_eq!(rsa["kty"], "RSA");
        assert_eq!(rsa["e"], "AQAB");
        // 2048 bits are 256 bytes, 342 base64url characters without padding.
        assert_eq!(rsa["n"].as_str().map(str::len), Some(342));
        let ec = key(Algorithm::Es256).public_jwk();
        assert_eq!((&ec["kty"], &ec["crv"]), (&json!("EC"), &json!("P-256")));
        assert_eq!(ec["x"].as_str().map(str::len), Some(43));
        assert_eq!(ec["y"].as_str().map(str::len), Some(43));
        let okp = key(Algorithm::EdDsa).public_jwk();
        assert_eq!((&okp["kty"], &okp["crv"]), (&json!("OKP"), &json!("Ed25519")));
        assert_eq!(okp["x"].as_str().map(str::len), Some(43));
        for key in KEYS.iter() {
            let jwk = key.public_jwk();
            assert_eq!(jwk["kid"], key.kid());
            assert_eq!(jwk["alg"], key.algorithm().as_str());
            assert_eq!(jwk["use"], "sig");
            assert!(jwk.get("d").is_none(), "no private member is published");
        }
    }

    #[test]
    fn generated_keys_are_named_by_their_thumbprint_and_sign_verifiable_tokens() {
        for algorithm in Algorithm::ALL {
            let key = SigningKey::generate(algorithm).expect("key generation works");
            assert_eq!(key.algorithm(), algorithm);
            let thumbprint = jwk_thumbprint(&key.public_jwk()).expect("thumbprint");
            assert_eq!(thumbprint.len(), 43);
            assert_eq!(key.kid(), &thumbprint[..16]);
            let token = key.sign(&claims()).expect("signing works");
            assert!(verify(&set_of(&[&key]), &token).is_ok(), "{algorithm}");
        }
    }

    #[test]
    fn generated_keys_differ() {
        let first = SigningKey::generate(Algorithm::EdDsa).expect("key generation works");
        let second = SigningKey::generate(Algorithm::EdDsa).expect("key generation works");
        assert_ne!(first.kid(), second.kid());
        assert_ne!(first.public_jwk(), second.public_jwk());
    }

    #[test]
    fn the_thumbprint_of_the_rfc_7638_example_matches() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).expect("thumbprint"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_thumbprint_needs_the_required_members() {
        assert!(jwk_thumbprint(&json!({"kty": "RSA", "n": "AQAB"})).is_err());
        assert!(jwk_thumbprint(&json!({"kty": "XYZ"})).is_err());
        assert!(jwk_thumbprint(&json!({"n": "AQAB", "e": "AQAB"})).is_err());
    }

    #[test]
    fn a_key_loaded_from_its_pem_signs_tokens_the_original_jwk_verifies() {
        for original in KEYS.iter() {
            let loaded = SigningKey::from_pkcs8_pem(original.kid(), original.algorithm(), original.private_pkcs8_pem())
                .expect("stored key loads");
            assert_eq!(loaded.public_jwk(), original.public_jwk());
            let token = loaded.sign(&claims()).expect("signing works");
            assert!(verify(&set_of(&[original]), &token).is_ok(), "{}", original.algorithm());
        }
    }

    #[test]
    fn a_pem_of_another_algorithm_is_refused() {
        let ec_pem = key(Algorithm::Es256).private_pkcs8_pem();
        for algorithm in [Algorithm::Rs256, Algorithm::EdDsa] {
            assert!(matches!(
                SigningKey::from_pkcs8_pem("k", algorithm, ec_pem),
                Err(KeyError::InvalidPrivateKey { .. })
            ));
        }
        assert!(SigningKey::from_pkcs8_pem("k", Algorithm::Es256, "not a pem").is_err());
        assert!(matches!(
            SigningKey::from_pkcs8_pem("", Algorithm::Es256, ec_pem),
            Err(KeyError::EmptyKid)
        ));
    }

    #[test]
    fn debug_output_hides_the_private_key() {
        for key in KEYS.iter() {
            let debug = format!("{key:?}");
            assert!(!debug.contains("PRIVATE KEY"), "{debug}");
            assert!(!debug.contains(&key.private_pkcs8_pem()[28..60]), "{debug}");
            assert!(debug.contains(key.kid()));
            assert!(key.private_pkcs8_pem().contains("PRIVATE KEY"));
        }
    }

    #[test]
    fn a_token_signed_by_another_key_with_the_same_kid_is_refused() {
        for algorithm in Algorithm::ALL {
            let genuine = key(algorithm);
            let other = other_key(algorithm);
            let impostor = SigningKey::from_pkcs8_pem(genuine.kid(), algorithm, other.private_pkcs8_pem())
                .expect("impostor loads");
            let token = impostor.sign(&claims()).expect("signing works");
            assert!(
                matches!(verify(&set_of(&[genuine]), &token), Err(KeyError::InvalidSignature)),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        for algorithm in Algorithm::ALL {
            let token = key(algorithm).sign(&claims()).expect("signing works");
            let parts: Vec<&str> = token.split('.').collect();
            let mut forged_claims = claims();
            forged_claims.sub = "someone-else".to_owned();
            let forged_payload = b64(&serde_json::to_value(&forged_claims).expect("json"));
            let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
            assert!(
                matches!(
                    verify(&set_of(&[key(algorithm)]), &forged),
                    Err(KeyError::InvalidSignature)
                ),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn an_expired_token_is_refused() {
        for algorithm in Algorithm::ALL {
            let mut old = claims();
            old.iat = now() - 600;
            old.exp = now() - 120;
            let token = key(algorithm).sign(&old).expect("signing works");
            assert!(
                matches!(verify(&set_of(&[key(algorithm)]), &token), Err(KeyError::Expired)),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn a_token_expired_within_the_leeway_is_accepted() {
        let mut just_expired = claims();
        just_expired.exp = now() - 10;
        let token = key(Algorithm::Es256).sign(&just_expired).expect("signing works");
        assert!(verify(&set_of(&[key(Algorithm::Es256)]), &token).is_ok());
    }

    #[test]
    fn time_is_checked_against_the_given_now() {
        let key = key(Algorithm::EdDsa);
        let set = set_of(&[key]);
        let claims = claims();
        let token = key.sign(&claims).expect("signing works");
        let at = |seconds: i64| DateTime::from_timestamp(seconds, 0).expect("valid time");
        let verify_at = |now| set.verify_at::<Claims>(&token, ISSUER, Some(AUDIENCE), now);
        assert!(verify_at(at(claims.exp + 29)).is_ok(), "within the leeway");
        assert!(matches!(verify_at(at(claims.exp + 30)), Err(KeyError::Expired)));
        assert!(verify_at(at(claims.iat - 30)).is_ok(), "within the leeway");
        assert!(matches!(
            verify_at(at(claims.iat - 31)),
            Err(KeyError::IssuedInTheFuture)
        ));
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let key = key(Algorithm::Es256);
        let token = key
            .sign(&json!({
                "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 900, "nbf": now() + 600
            }))
            .expect("signing works");
        assert!(matches!(
            set_of(&[key]).verify::<Value>(&token, ISSUER, Some(AUDIENCE)),
            Err(KeyError::NotYetValid)
        ));
    }

    #[test]
    fn a_time_claim_that_is_not_a_number_is_refused() {
        let key = key(Algorithm::Es256);
        let token = key
            .sign(&json!({"iss": ISSUER, "aud": AUDIENCE, "iat": "yesterday", "exp": now() + 60}))
            .expect("signing works");
        assert!(matches!(
            set_of(&[key]).verify::<Value>(&token, ISSUER, Some(AUDIENCE)),
            Err(KeyError::MalformedToken)
        ));
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let mut future = claims();
        future.iat = now() + 600;
        future.exp = now() + 900;
        let token = key(Algorithm::Es256).sign(&future).expect("signing works");
        assert!(matches!(
            verify(&set_of(&[key(Algorithm::Es256)]), &token),
            Err(KeyError::IssuedInTheFuture)
        ));
    }

    #[test]
    fn a_token_without_iat_or_exp_is_refused() {
        let key = key(Algorithm::EdDsa);
        let set = set_of(&[key]);
        let no_iat = key
            .sign(&json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 60}))
            .expect("signing works");
        assert!(matches!(
            set.verify::<Value>(&no_iat, ISSUER, Some(AUDIENCE)),
            Err(KeyError::MissingClaim(claim)) if claim == "iat"
        ));
        let no_exp = key
            .sign(&json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now()}))
            .expect("signing works");
        assert!(matches!(
            set.verify::<Value>(&no_exp, ISSUER, Some(AUDIENCE)),
            Err(KeyError::MissingClaim(claim)) if claim == "exp"
        ));
    }

    #[test]
    fn a_wrong_issuer_or_audience_is_refused() {
        for algorithm in Algorithm::ALL {
            let set = set_of(&[key(algorithm)]);
            let token = key(algorithm).sign(&claims()).expect("signing works");
            assert!(matches!(
                set.verify::<Claims>(&token, "https://evil.example", Some(AUDIENCE)),
                Err(KeyError::WrongIssuer)
            ));
            assert!(matches!(
                set.verify::<Claims>(&token, ISSUER, Some("another-client")),
                Err(KeyError::WrongAudience)
            ));
        }
    }

    #[test]
    fn audience_is_not_checked_when_none_is_given() {
        let key = key(Algorithm::Es256);
        let set = set_of(&[key]);
        let token = key.sign(&claims()).expect("signing works");
        assert!(set.verify::<Claims>(&token, ISSUER, None).is_ok());
        let without_aud = key
            .sign(&json!({"iss": ISSUER, "exp": now() + 60, "iat": now()}))
            .expect("signing works");
        assert!(set.verify::<Value>(&without_aud, ISSUER, None).is_ok());
        assert!(matches!(
            set.verify::<Value>(&without_aud, ISSUER, Some(AUDIENCE)),
            Err(KeyError::MissingClaim(claim)) if claim == "aud"
        ));
    }

    #[test]
    fn an_hs256_token_keyed_with_the_rsa_public_key_is_refused() {
        // The classic algorithm-confusion attack: the attacker knows the
        // public key, uses its bytes as an HMAC secret and sets `alg: HS256`
        // under the RSA key's kid. A verifier that let the header choose the
        // algorithm would accept it.
        let rsa = key(Algorithm::Rs256);
        let set = set_of(&[rsa]);
        let jwk = rsa.public_jwk();
        let secrets = [
            jwk.to_string().into_bytes(),
            URL_SAFE_NO_PAD
                .decode(jwk["n"].as_str().expect("n is a string"))
                .expect("n is base64url"),
        ];
        for secret in secrets {
            let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
            header.kid = Some(rsa.kid().to_owned());
            let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&secret))
                .expect("HS256 signing works");
            assert!(matches!(verify(&set, &token), Err(KeyError::AlgorithmMismatch)));
        }
    }

    #[test]
    fn a_token_whose_alg_is_not_its_keys_alg_is_refused() {
        // Signed correctly by the EC key, but presented under the RSA kid.
        let set = set_of(&[key(Algorithm::Rs256)]);
        let ec = key(Algorithm::Es256);
        let impostor =
            SigningKey::from_pkcs8_pem(key(Algorithm::Rs256).kid(), Algorithm::Es256, ec.private_pkcs8_pem())
                .expect("loads");
        let token = impostor.sign(&claims()).expect("signing works");
        assert!(matches!(verify(&set, &token), Err(KeyError::AlgorithmMismatch)));
    }

    #[test]
    fn an_unsigned_token_with_alg_none_is_refused() {
        for algorithm in Algorithm::ALL {
            let key = key(algorithm);
            let header = json!({"alg": "none", "typ": "JWT", "kid": key.kid()});
            let payload = serde_json::to_value(claims()).expect("json");
            let set = set_of(&[key]);
            for signature in ["", "AAAA"] {
                let token = format!("{}.{}.{signature}", b64(&header), b64(&payload));
                assert!(
                    matches!(
                        verify(&set, &token),
                        Err(KeyError::MalformedToken | KeyError::AlgorithmMismatch)
                    ),
                    "{algorithm}"
                );
            }
        }
    }

    #[test]
    fn a_token_with_an_unknown_or_missing_kid_is_refused() {
        let key = key(Algorithm::EdDsa);
        let set = set_of(&[key]);
        let other = SigningKey::from_pkcs8_pem("other", Algorithm::EdDsa, key.private_pkcs8_pem()).expect("loads");
        let token = other.sign(&claims()).expect("signing works");
        assert!(matches!(verify(&set, &token), Err(KeyError::UnknownKey)));

        let header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        let encoding_key = EncodingKey::from_ed_pem(key.private_pkcs8_pem().as_bytes()).expect("pem loads");
        let no_kid = jsonwebtoken::encode(&header, &claims(), &encoding_key).expect("signs");
        assert!(matches!(verify(&set, &no_kid), Err(KeyError::UnknownKey)));
    }

    #[test]
    fn garbage_is_a_malformed_token() {
        let set = set_of(&[key(Algorithm::Es256)]);
        for token in ["", "abc", "a.b", "a.b.c", "....", "eyJ.eyJ.eyJ"] {
            assert!(matches!(verify(&set, token), Err(KeyError::MalformedToken)), "{token}");
        }
    }

    #[test]
    fn claims_of_the_wrong_shape_are_an_error() {
        #[derive(Debug, Deserialize)]
        struct Other {
            #[expect(dead_code, reason = "only its absence matters")]
            nonce: String,
        }
        let key = key(Algorithm::Es256);
        let token = key.sign(&claims()).expect("signing works");
        assert!(matches!(
            set_of(&[key]).verify::<Other>(&token, ISSUER, Some(AUDIENCE)),
            Err(KeyError::InvalidClaims(_))
        ));
    }

    #[test]
    fn invalid_jwks_are_refused() {
        let ec = key(Algorithm::Es256).public_jwk();
        let with = |name: &str, value: Value| {
            let mut jwk = ec.clone();
            jwk[name] = value;
            jwk
        };
        let without = |name: &str| {
            let mut jwk = ec.clone();
            jwk.as_object_mut().expect("object").remove(name);
            jwk
        };
        let invalid = [
            json!("not an object"),
            without("kid"),
            without("alg"),
            without("x"),
            with("alg", json!("HS256")),
            with("alg", json!("RS256")),
            with("crv", json!("P-384")),
            with("use", json!("enc")),
            with("x", json!("AAAA")),
            with("x", json!("not base64url!")),
            with("y", ec["x"].clone()),
            with("d", json!("AAAA")),
        ];
        for jwk in invalid {
            assert!(PublicKeySet::from_jwks(std::slice::from_ref(&jwk)).is_err(), "{jwk}");
        }
        assert!(matches!(
            PublicKeySet::from_jwks(&[ec.clone(), ec]),
            Err(KeyError::DuplicateKid(_))
        ));
    }

    #[test]
    fn a_short_rsa_modulus_is_refused() {
        let mut jwk = key(Algorithm::Rs256).public_jwk();
        jwk["n"] = json!(URL_SAFE_NO_PAD.encode([0xc5_u8; 128]));
        assert!(PublicKeySet::from_jwks(&[jwk]).is_err());
    }
}
