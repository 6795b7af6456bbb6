//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the
//! sign-in service posts a `logout+jwt` token when a session ends there
//! (sign-out elsewhere, password change, an administrator's lock); the
//! portal checks it against the sign-in service's published keys and ends
//! the portal sessions of that `sid` (or, without one, of that `sub`).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::{Portal, PortalError, store};

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Debug, serde::Deserialize)]
struct LogoutClaims {
    sub: Option<String>,
    sid: Option<String>,
    #[serde(default)]
    events: serde_json::Map<String, serde_json::Value>,
    nonce: Option<serde_json::Value>,
}

fn refused(reason: impl std::fmt::Display) -> PortalError {
    PortalError::Refused(reason.to_string())
}

impl Portal {
    /// The published key `kid`, reading the keys again once when it is
    /// not known yet (a rotation).
    async fn logout_key(&self, kid: &str) -> Result<DecodingKey, PortalError> {
        for fresh in [false, true] {
            let metadata = self.metadata(fresh).await?;
            let keys: JwkSet = serde_json::to_value(metadata.jwks())
                .and_then(serde_json::from_value)
                .map_err(refused)?;
            if let Some(jwk) = keys.find(kid) {
                return DecodingKey::from_jwk(jwk).map_err(refused);
            }
        }
        Err(refused(format!("no published key `{kid}`")))
    }

    /// Checks a logout token and ends the sessions it names; how many.
    pub async fn backchannel_logout(&self, token: &str) -> Result<u64, PortalError> {
        let header = jsonwebtoken::decode_header(token).map_err(refused)?;
        if header.typ.as_deref() != Some("logout+jwt") {
            return Err(refused("not a logout token"));
        }
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA) {
            return Err(refused("unexpected algorithm"));
        }
        let kid = header.kid.ok_or_else(|| refused("no key id"))?;
        let key = self.logout_key(&kid).await?;
        let config = self.config();
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&config.client_id]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
        let claims = jsonwebtoken::decode::<LogoutClaims>(token, &key, &validation)
            .map_err(refused)?
            .claims;
        if !claims.events.contains_key(LOGOUT_EVENT) || claims.nonce.is_some() {
            return Err(refused("not a back-channel logout event"));
        }
        let ended = match (&claims.sid, &claims.sub) {
            (Some(sid), _) => store::delete_by_sid(&self.inner.db, sid).await?,
            (None, Some(sub)) => store::delete_by_subject(&self.inner.db, sub).await?,
            (None, None) => return Err(refused("neither sid nor sub")),
        };
        tracing::info!(ended, "Back-channel logout");
        Ok(ended)
    }
}
