//! `private_key_jwt` client authentication (OpenID Connect Core 9,
//! RFC 7523): the client signs a short-lived JWT with a key whose public
//! half it registered, instead of sending a shared secret.
//!
//! The assertion must be signed by a key of the client's registered JWKS
//! (found by `kid`, its algorithm pinned by the key), name the client as
//! `iss` and `sub`, be addressed to the token endpoint or the issuer, carry
//! `exp`, `iat` and a `jti` never used before by that client, and live at
//! most an hour. A used `jti` is kept until the assertion expires, so a
//! captured assertion cannot be replayed.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::domain::OAuthErrorCode;
use crate::keys::PublicKeySet;
use crate::provider::{IdError, Provider};
use crate::store::{self, ClientRow};

/// Longest accepted assertion, in bytes.
const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// Longest accepted assertion lifetime from now, in seconds.
const MAX_LIFETIME_SECONDS: i64 = 3600;

fn rejected(reason: &'static str) -> IdError {
    IdError::OAuth(OAuthErrorCode::InvalidClient, reason)
}

/// The `iss` of a compact JWS, read without checking anything: only to
/// find which client's keys to check it with.
fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

impl Provider {
    /// The client that signed `assertion`, or `invalid_client`.
    /// `client_id`, when the request names one, must be the assertion's
    /// issuer.
    pub async fn authenticate_with_assertion(
        &self,
        client_id: Option<&str>,
        assertion: &str,
    ) -> Result<Arc<ClientRow>, IdError> {
        if assertion.len() > MAX_ASSERTION_BYTES {
            return Err(rejected("the client assertion is too long"));
        }
        let issuer = unverified_issuer(assertion).ok_or(rejected("the client assertion is malformed"))?;
        if client_id.is_some_and(|client_id| client_id != issuer) || issuer.len() > 128 {
            return Err(rejected("the client assertion is not from this client"));
        }
        let client = self.client(&issuer).await?.ok_or(rejected("unknown client"))?;
        let keys = client
            .jwks
            .as_deref()
            .and_then(|jwks| serde_json::from_str::<Value>(jwks).ok())
            .and_then(|jwks| jwks.get("keys").and_then(Value::as_array).cloned())
            .ok_or(rejected("the client has no registered keys"))?;
        let keys = PublicKeySet::from_jwks(&keys).map_err(|_| rejected("the client's registered keys are invalid"))?;
        let now = self.now();
        let claims: Value = keys
            .verify_at(assertion, &client.client_id, None, now)
            .map_err(|_| rejected("the client assertion does not verify"))?;

        if claims.get("sub").and_then(Value::as_str) != Some(client.client_id.as_str()) {
            return Err(rejected("the client assertion's sub is not the client"));
        }
        let issuer_url = &self.config().issuer;
        let token_endpoint = format!("{issuer_url}/oauth/token");
        let addressed_here = |audience: &Value| {
            audience
                .as_str()
                .is_some_and(|audience| audience == token_endpoint || audience == issuer_url)
        };
        let audience_ok = match claims.get("aud") {
            Some(Value::Array(audiences)) => audiences.iter().any(addressed_here),
            Some(audience) => addressed_here(audience),
            None => false,
        };
        if !audience_ok {
            return Err(rejected("the client assertion is not addressed to this provider"));
        }
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(rejected("the client assertion has no exp"))?;
        if expires_at > now.timestamp() + MAX_LIFETIME_SECONDS {
            return Err(rejected("the client assertion lives too long"));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|jti| !jti.is_empty() && jti.len() <= 256)
            .ok_or(rejected("the client assertion has no jti"))?;
        let fresh = store::spend_client_assertion(
            self.db(),
            &client.client_id,
            jti,
            expires_at.saturating_mul(1000),
            now.timestamp_millis(),
        )
        .await?;
        if !fresh {
            return Err(rejected("the client assertion was used before"));
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_read_from_the_payload_only() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"cong-dvc","sub":"cong-dvc"}"#);
        assert_eq!(
            unverified_issuer(&format!("eyJhbGciOiJFUzI1NiJ9.{payload}.sig")).as_deref(),
            Some("cong-dvc")
        );
        assert_eq!(unverified_issuer("not a jwt"), None);
        assert_eq!(unverified_issuer("a.!!!.c"), None);
        let no_issuer = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert_eq!(unverified_issuer(&format!("a.{no_issuer}.c")), None);
    }
}
