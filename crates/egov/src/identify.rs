//! Tells the one-stop shop who is calling: bearer access tokens are checked
//! by the central sign-in (as its userinfo endpoint would answer), browser
//! sessions by the portal. The one-stop shop sees only the claims, and so
//! do the registry's citizen pages (through the same implementation).

use axum::http::HeaderMap;
use egov_id::Provider;
use egov_onestop::dossier::identity::{Identify, IdentifyFuture, Identity, OfficialsFuture};
use egov_portal::Portal;
use egov_registry::{Citizen, CitizenFuture, SignedInCitizen};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct PlatformIdentify {
    pub provider: Provider,
    pub portal: Portal,
}

fn text(claims: &Value, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The identity a userinfo answer describes.
fn from_claims(claims: &Value) -> Option<Identity> {
    Some(Identity {
        subject: text(claims, "sub")?,
        name: text(claims, "name").unwrap_or_default(),
        personal_id: text(claims, "personal_id"),
        email: text(claims, "email"),
        agency: text(claims, "agency"),
        department: text(claims, "department"),
        roles: claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|roles| roles.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

impl Identify for PlatformIdentify {
    fn bearer<'a>(&'a self, token: &'a str) -> IdentifyFuture<'a> {
        Box::pin(async move {
            match self.provider.userinfo(token).await {
                Ok(claims) => Ok(from_claims(&claims)),
                // A token that does not check out is no identity: 401.
                Err(egov_id::provider::IdError::OAuth(..)) => Ok(None),
                Err(error) => Err(egov_web::AppError::internal(error)),
            }
        })
    }

    fn officials<'a>(&'a self, agency: &'a str) -> OfficialsFuture<'a> {
        Box::pin(async move {
            let rows = egov_id::store::officials(self.provider.db(), agency)
                .await
                .map_err(egov_web::AppError::internal)?;
            // The one-stop shop's clients (the portal, first-party API
            // clients) see the public subject: the account's id.
            Ok(rows
                .into_iter()
                .filter_map(|row| {
                    Identity {
                        subject: row.id.to_string(),
                        name: row.full_name,
                        personal_id: None,
                        email: None,
                        agency: row.agency_code,
                        department: row.department,
                        roles: row.roles.split_whitespace().map(str::to_owned).collect(),
                    }
                    .official()
                })
                .collect())
        })
    }

    fn session<'a>(&'a self, headers: &'a HeaderMap) -> IdentifyFuture<'a> {
        Box::pin(async move {
            let user = egov_portal::http::current_user(&self.portal, headers).await?;
            Ok(user.map(|user| Identity {
                subject: user.subject,
                name: user.name,
                personal_id: user.personal_id,
                email: user.email,
                agency: user.agency,
                department: user.department,
                roles: user.roles,
            }))
        })
    }
}

fn citizen(identity: Option<Identity>) -> Option<SignedInCitizen> {
    identity.map(|identity| SignedInCitizen {
        name: identity.name,
        personal_id: identity.personal_id,
    })
}

impl Citizen for PlatformIdentify {
    fn session<'a>(&'a self, headers: &'a HeaderMap) -> CitizenFuture<'a> {
        Box::pin(async move { Identify::session(self, headers).await.map(citizen) })
    }

    fn bearer<'a>(&'a self, token: &'a str) -> CitizenFuture<'a> {
        Box::pin(async move { Identify::bearer(self, token).await.map(citizen) })
    }
}
