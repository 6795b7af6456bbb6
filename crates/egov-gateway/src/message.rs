//! What a gateway signs, hashes and logs of a message (pure).
//!
//! A message is its head (the request line or the status, and the headers
//! that cross the gateway) and its body. Its hash is the protocol's
//! `SHA512(SHA512(head) + SHA512(body))`, or `SHA512(head)` without a body;
//! for a request that is what the provider returns as
//! `X-Road-Request-Hash`. The head is canonical: names in lower case,
//! sorted with their values, one `name:value` line each, so both gateways
//! compute it alike from what crossed. The sending gateway signs the hash
//! with Ed25519, with a label that tells a request from a response, and the
//! receiving one verifies it.
//!
//! Which headers cross follows the protocol: hop-by-hop headers and those
//! that leak a host's name or software are dropped; the rest, user-defined
//! ones included, pass unmodified.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest as _, Sha512};

/// Headers never passed through: hop-by-hop ones, those that leak the
/// origin host, the length (the body is re-framed), and the request hash a
/// caller may not set.
const FILTERED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "user-agent",
    "server",
    "content-length",
    "expect",
    "x-road-request-hash",
    "x-road-signature",
    "x-road-signing-key",
];

/// Whether a header crosses the gateway.
pub fn crosses(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !FILTERED.contains(&name.as_str())
}

/// The head of a request: method, target as the consumer sent it (the r1
/// path and query, still encoded) and the headers that cross.
pub fn request_head(method: &str, target: &str, headers: &[(String, String)]) -> String {
    head(&format!("{method} {target}"), headers)
}

/// The head of a response: its status and the headers that cross.
pub fn response_head(status: u16, headers: &[(String, String)]) -> String {
    head(&status.to_string(), headers)
}

fn head(first: &str, headers: &[(String, String)]) -> String {
    let mut lines: Vec<(String, &str)> = headers
        .iter()
        .filter(|(name, _)| crosses(name))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_str()))
        .collect();
    lines.sort_unstable();
    let mut head = String::with_capacity(64 + lines.iter().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>());
    head.push_str(first);
    head.push('\n');
    for (name, value) in lines {
        head.push_str(&name);
        head.push(':');
        head.push_str(value);
        head.push('\n');
    }
    head
}

/// A message's hash: `SHA512(SHA512(head) + SHA512(body))`, or
/// `SHA512(head)` when there is no body.
pub fn message_hash(head: &str, body: &[u8]) -> [u8; 64] {
    if body.is_empty() {
        return Sha512::digest(head.as_bytes()).into();
    }
    let mut outer = Sha512::new();
    outer.update(Sha512::digest(head.as_bytes()));
    outer.update(Sha512::digest(body));
    outer.finalize().into()
}

/// The hash of a document that is not a message (a configuration, a
/// request to the hub): SHA-512 of its bytes.
pub fn document_hash(bytes: &[u8]) -> [u8; 64] {
    Sha512::digest(bytes).into()
}

/// The hash as headers carry it (base64).
pub fn encode_hash(hash: &[u8; 64]) -> String {
    STANDARD.encode(hash)
}

/// Which kind of message a signature is for; a request's signature never
/// passes for a response's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    /// The federation's configuration, signed by the hub.
    Configuration,
    /// A gateway's request to its hub.
    HubRequest,
    /// The hub's time-stamp on a hash of a message log.
    Timestamp,
    /// A gateway's manifest of an exported message-log archive.
    Archive,
}

impl Kind {
    fn label(self) -> &'static [u8] {
        match self {
            Kind::Request => b"egov-r1-request\n",
            Kind::Response => b"egov-r1-response\n",
            Kind::Configuration => b"egov-global-configuration\n",
            Kind::HubRequest => b"egov-hub-request\n",
            Kind::Timestamp => b"egov-timestamp\n",
            Kind::Archive => b"egov-log-archive\n",
        }
    }
}

fn signed_bytes(kind: Kind, hash: &[u8; 64]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(96);
    bytes.extend_from_slice(kind.label());
    bytes.extend_from_slice(hash);
    bytes
}

/// Why a key or signature could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not an Ed25519 PKCS#8 PEM: {0}")]
    Pem(String),
    #[error("no key {0} is known")]
    Unknown(String),
    #[error("the signature is not valid base64 Ed25519")]
    Malformed,
    #[error("the signature does not match the message")]
    Mismatch,
}

/// A gateway's signing key.
#[derive(Clone)]
pub struct GatewayKey {
    pub key_id: String,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl GatewayKey {
    /// A new key from the operating system's randomness.
    pub fn generate(key_id: String) -> GatewayKey {
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core_06::OsRng);
        GatewayKey { key_id, key }
    }

    pub fn from_pem(key_id: String, pem: &str) -> Result<GatewayKey, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|error| KeyError::Pem(error.to_string()))?;
        Ok(GatewayKey { key_id, key })
    }

    /// The private key, to store; never logged or served.
    pub fn private_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|error| KeyError::Pem(error.to_string()))
    }

    pub fn public_pem(&self) -> Result<String, KeyError> {
        self.key
            .verifying_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|error| KeyError::Pem(error.to_string()))
    }

    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs a message's hash (base64 of the 64-byte signature).
    pub fn sign(&self, kind: Kind, hash: &[u8; 64]) -> String {
        STANDARD.encode(self.key.sign(&signed_bytes(kind, hash)).to_bytes())
    }
}

/// The public keys a gateway trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: HashMap<String, ed25519_dalek::VerifyingKey>,
}

impl TrustedKeys {
    pub fn insert_pem(&mut self, key_id: &str, public_pem: &str) -> Result<(), KeyError> {
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(public_pem)
            .map_err(|error| KeyError::Pem(error.to_string()))?;
        self.keys.insert(key_id.to_owned(), key);
        Ok(())
    }

    pub fn insert(&mut self, key_id: &str, key: ed25519_dalek::VerifyingKey) {
        self.keys.insert(key_id.to_owned(), key);
    }

    /// Checks a signature made by [`GatewayKey::sign`].
    pub fn verify(&self, key_id: &str, kind: Kind, hash: &[u8; 64], signature: &str) -> Result<(), KeyError> {
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| KeyError::Unknown(key_id.to_owned()))?;
        let bytes = STANDARD.decode(signature).map_err(|_| KeyError::Malformed)?;
        let signature = ed25519_dalek::Signature::from_slice(&bytes).map_err(|_| KeyError::Malformed)?;
        key.verify(&signed_bytes(kind, hash), &signature)
            .map_err(|_| KeyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_head_is_canonical_whatever_the_order_and_case_of_headers() {
        let one = request_head(
            "GET",
            "/r1/E/C/M/S/svc?a=1",
            &headers(&[
                ("X-Road-Client", "E/C/M/S"),
                ("Accept", "application/json"),
                ("Host", "a"),
            ]),
        );
        let two = request_head(
            "GET",
            "/r1/E/C/M/S/svc?a=1",
            &headers(&[
                ("accept", "application/json"),
                ("x-road-client", "E/C/M/S"),
                ("user-agent", "b"),
            ]),
        );
        assert_eq!(one, two);
        assert_eq!(
            one,
            "GET /r1/E/C/M/S/svc?a=1\naccept:application/json\nx-road-client:E/C/M/S\n"
        );
    }

    #[test]
    fn the_hash_is_the_protocols() {
        let head = "200\n";
        let body = b"{}";
        let mut expected = Sha512::new();
        expected.update(Sha512::digest(head));
        expected.update(Sha512::digest(body));
        assert_eq!(message_hash(head, body), <[u8; 64]>::from(expected.finalize()));
        assert_eq!(message_hash(head, b""), <[u8; 64]>::from(Sha512::digest(head)));
    }

    #[test]
    fn a_signature_holds_only_for_its_message_and_kind() {
        let key = GatewayKey::generate("k1".to_owned());
        let mut trusted = TrustedKeys::default();
        trusted
            .insert_pem("k1", &key.public_pem().expect("pem"))
            .expect("trusted");
        let hash = message_hash("GET /r1/E/C/M/S/svc\n", b"");
        let signature = key.sign(Kind::Request, &hash);
        assert!(trusted.verify("k1", Kind::Request, &hash, &signature).is_ok());
        assert!(matches!(
            trusted.verify("k1", Kind::Response, &hash, &signature),
            Err(KeyError::Mismatch)
        ));
        let other = message_hash("GET /r1/E/C/M/S/svc2\n", b"");
        assert!(matches!(
            trusted.verify("k1", Kind::Request, &other, &signature),
            Err(KeyError::Mismatch)
        ));
        assert!(matches!(
            trusted.verify("k2", Kind::Request, &hash, &signature),
            Err(KeyError::Unknown(_))
        ));
        assert!(matches!(
            trusted.verify("k1", Kind::Request, &hash, "not base64!"),
            Err(KeyError::Malformed)
        ));
        let reloaded = GatewayKey::from_pem("k1".to_owned(), &key.private_pem().expect("pem")).expect("load");
        assert_eq!(reloaded.sign(Kind::Request, &hash), signature);
    }
}
