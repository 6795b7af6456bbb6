//! Passkeys (WebAuthn, through webauthn-rs): registered from "my account",
//! used to sign in without a password, or as the second factor after one.
//!
//! A passkey always requires user verification (the device's PIN or
//! biometric), so a passkey sign-in is itself two factors and reaches
//! level 2. Ceremony state (the challenge the server expects back) lives in
//! the database for five minutes and is taken once, so any node of the
//! instance can finish a ceremony another began, and no challenge serves
//! twice. The relying party is the issuer: its host is the RP ID, its URL
//! the only allowed origin.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use egov_db::audit::{self, AuditEntry};
use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use crate::account::Origin;
use crate::domain;
use crate::provider::{IdError, Provider};
use crate::store::{self, CeremonyRow, PasskeyRow, SessionRow, UserRow};

/// How long a ceremony may take.
const CEREMONY_TTL: Duration = Duration::from_mins(5);
/// Passkeys one account may hold.
pub const MAX_PASSKEYS: usize = 10;
/// The `amr` of a passkey sign-in: a hardware-held key, verified by the
/// user on the device (RFC 8176).
pub const PASSKEY_AMR: [&str; 2] = ["hwk", "mfa"];

/// Why a passkey ceremony did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys are not available on this instance's address")]
    Unavailable,
    #[error("the passkey request expired; start again")]
    Expired,
    #[error("the passkey was not accepted")]
    Rejected,
    #[error("the account already has the most passkeys allowed")]
    TooMany,
    #[error("the account is locked")]
    Locked,
    #[error(transparent)]
    Id(#[from] IdError),
}

impl From<egov_db::DbError> for PasskeyError {
    fn from(error: egov_db::DbError) -> Self {
        PasskeyError::Id(IdError::Db(error))
    }
}

/// The second factors a pending sign-in may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactors {
    /// A code from the authenticator app (or a recovery code).
    pub totp: bool,
    pub passkey: bool,
}

impl SecondFactors {
    /// While enrolling an authenticator app, the code proves it works.
    pub const ENROLMENT: SecondFactors = SecondFactors {
        totp: true,
        passkey: false,
    };
}

/// A passkey as "my account" lists it.
#[derive(Debug, Clone)]
pub struct PasskeyView {
    pub credential_id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The relying party of `issuer`, or `None` when the issuer's URL cannot be
/// one (WebAuthn needs a domain name: not an IP address).
pub(crate) fn relying_party(issuer: &str) -> Option<Webauthn> {
    let origin = Url::parse(issuer).ok()?;
    let host = origin.host_str()?.to_owned();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    WebauthnBuilder::new(&host, &origin).ok()?.rp_name("egov").build().ok()
}

fn credential_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(|error| PasskeyError::Id(IdError::Db(error.into())))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(text).map_err(|error| PasskeyError::Id(IdError::Db(error.into())))
}

impl Provider {
    fn relying_party(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn().ok_or(PasskeyError::Unavailable)
    }

    /// The second factors the user has set up.
    pub async fn second_factors(&self, user_id: Uuid) -> Result<SecondFactors, IdError> {
        let (totp, passkeys) = store::second_factor_counts(self.db(), user_id).await?;
        Ok(SecondFactors {
            totp,
            passkey: self.passkeys_available() && passkeys > 0,
        })
    }

    /// Whether this instance's address allows passkeys.
    pub fn passkeys_available(&self) -> bool {
        self.webauthn().is_some()
    }

    async fn begin_ceremony(
        &self,
        user_id: Option<Uuid>,
        purpose: &str,
        state: String,
    ) -> Result<String, PasskeyError> {
        let token = domain::new_token();
        let now_ms = self.now().timestamp_millis();
        let row = CeremonyRow {
            id: domain::token_hash(&token),
            user_id,
            purpose: purpose.to_owned(),
            state,
            expires_at: now_ms + crate::provider::millis(CEREMONY_TTL),
        };
        store::insert_ceremony(self.db(), &row, now_ms).await?;
        Ok(token)
    }

    async fn take_ceremony(&self, token: &str, purpose: &str) -> Result<CeremonyRow, PasskeyError> {
        if token.len() != 43 {
            return Err(PasskeyError::Expired);
        }
        store::take_ceremony(
            self.db(),
            &domain::token_hash(token),
            purpose,
            self.now().timestamp_millis(),
        )
        .await?
        .ok_or(PasskeyError::Expired)
    }

    // ------------------------------------------------------------ registration

    /// Starts registering a passkey for the signed-in user: the options for
    /// `navigator.credentials.create`, and the ceremony to name on finish.
    pub async fn passkey_registration_options(&self, user: &UserRow) -> Result<(String, Value), PasskeyError> {
        let relying_party = self.relying_party()?;
        let existing = store::passkeys_of(self.db(), user.id).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(PasskeyError::TooMany);
        }
        let exclude = existing
            .iter()
            .filter_map(|row| from_json::<Passkey>(&row.passkey).ok())
            .map(|passkey| passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let (options, state) = relying_party
            .start_passkey_registration(user.id, &user.personal_id, &user.full_name, Some(exclude))
            .map_err(|error| {
                tracing::warn!(%error, "Could not start a passkey registration");
                PasskeyError::Rejected
            })?;
        let mut options =
            serde_json::to_value(&options).map_err(|error| PasskeyError::Id(IdError::Db(error.into())))?;
        // A passkey that the device can find by itself lets the user sign in
        // without typing anything; devices that cannot still register one.
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".into(), json!("preferred"));
        }
        let ceremony = self.begin_ceremony(Some(user.id), "register", to_json(&state)?).await?;
        Ok((ceremony, options))
    }

    /// Finishes a registration begun by the same user. Like every factor
    /// change, it ends the user's other sessions and mails a notice.
    pub async fn register_passkey(
        &self,
        session: &SessionRow,
        ceremony: &str,
        name: &str,
        credential: &RegisterPublicKeyCredential,
        lang: egov_web::i18n::Lang,
        origin: Origin<'_>,
    ) -> Result<(), PasskeyError> {
        let relying_party = self.relying_party()?;
        let row = self.take_ceremony(ceremony, "register").await?;
        if row.user_id != Some(session.user_id) {
            return Err(PasskeyError::Expired);
        }
        let state: PasskeyRegistration = from_json(&row.state)?;
        let passkey = relying_party
            .finish_passkey_registration(credential, &state)
            .map_err(|error| {
                tracing::info!(%error, "A passkey registration was refused");
                PasskeyError::Rejected
            })?;
        let user = store::user_by_id(self.db(), session.user_id)
            .await?
            .ok_or(PasskeyError::Expired)?;
        let now = self.now();
        let credential_id = credential_id_text(passkey.cred_id());
        let mut tx = self.db().begin().await?;
        store::insert_passkey(
            &mut tx,
            &PasskeyRow {
                credential_id: credential_id.clone(),
                user_id: user.id,
                name: name.to_owned(),
                passkey: to_json(&passkey)?,
                created_at: now.timestamp_millis(),
                last_used_at: None,
            },
        )
        .await
        .map_err(|error| {
            if error.is_unique_violation() {
                PasskeyError::Rejected
            } else {
                error.into()
            }
        })?;
        self.factor_changed(&mut tx, &user, &session.id, "id.factor.passkey.add", lang, origin)
            .await?;
        tx.commit().await.map_err(IdError::Db)?;
        Ok(())
    }

    /// The user's passkeys, oldest first.
    pub async fn passkeys(&self, user_id: Uuid) -> Result<Vec<PasskeyView>, IdError> {
        Ok(store::passkeys_of(self.db(), user_id)
            .await?
            .into_iter()
            .map(|row| PasskeyView {
                credential_id: row.credential_id,
                name: row.name,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
            })
            .collect())
    }

    /// Removes one of the signed-in user's passkeys; `false` if it is not
    /// theirs. Ends the other sessions and mails a notice.
    pub async fn remove_passkey(
        &self,
        session: &SessionRow,
        credential_id: &str,
        lang: egov_web::i18n::Lang,
        origin: Origin<'_>,
    ) -> Result<bool, IdError> {
        let Some(user) = store::user_by_id(self.db(), session.user_id).await? else {
            return Ok(false);
        };
        let mut tx = self.db().begin().await?;
        if !store::delete_passkey(&mut tx, user.id, credential_id).await? {
            return Ok(false);
        }
        self.factor_changed(&mut tx, &user, &session.id, "id.factor.passkey.remove", lang, origin)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    // ------------------------------------------------------------ sign-in

    /// Starts a sign-in with whichever passkey the device offers.
    pub async fn passkey_sign_in_options(&self) -> Result<(String, Value), PasskeyError> {
        let relying_party = self.relying_party()?;
        let (options, state) = relying_party.start_discoverable_authentication().map_err(|error| {
            tracing::warn!(%error, "Could not start a passkey sign-in");
            PasskeyError::Rejected
        })?;
        let mut options =
            serde_json::to_value(&options).map_err(|error| PasskeyError::Id(IdError::Db(error.into())))?;
        // The page asks when the user presses the button, not through the
        // browser's autofill.
        if let Some(options) = options.as_object_mut() {
            options.remove("mediation");
        }
        let ceremony = self.begin_ceremony(None, "sign_in", to_json(&state)?).await?;
        Ok((ceremony, options))
    }

    /// Finishes a passkey sign-in: the account the passkey belongs to, at
    /// level 2. Failures count against the address like wrong passwords.
    pub async fn sign_in_with_passkey(
        &self,
        ceremony: &str,
        credential: &PublicKeyCredential,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(String, SessionRow), PasskeyError> {
        let relying_party = self.relying_party()?;
        if self.address_throttled(ip).await? {
            return Err(PasskeyError::Rejected);
        }
        let row = self.take_ceremony(ceremony, "sign_in").await?;
        let state: DiscoverableAuthentication = from_json(&row.state)?;
        let credential_id = credential_id_text(credential.get_credential_id());
        let stored = store::passkey(self.db(), &credential_id).await?;
        let verified = match &stored {
            Some(stored) => {
                let mut passkey: Passkey = from_json(&stored.passkey)?;
                let claimed_user = relying_party
                    .identify_discoverable_authentication(credential)
                    .ok()
                    .map(|(user_id, _)| user_id);
                match relying_party.finish_discoverable_authentication_v2(credential, state, &passkey) {
                    Ok(result) if claimed_user == Some(stored.user_id) => {
                        let updated = passkey.update_credential(&result).unwrap_or(false);
                        Some((stored, updated.then(|| to_json(&passkey)).transpose()?))
                    }
                    _ => None,
                }
            }
            None => None,
        };
        let Some((stored, updated)) = verified else {
            self.passkey_failure(ip, user_agent, None).await?;
            return Err(PasskeyError::Rejected);
        };
        let user = store::user_by_id(self.db(), stored.user_id)
            .await?
            .ok_or(PasskeyError::Rejected)?;
        if user.locked {
            self.passkey_failure(ip, user_agent, Some(user.id)).await?;
            return Err(PasskeyError::Locked);
        }
        self.passkey_used(&user, &credential_id, updated.as_deref(), "passkey", ip, user_agent)
            .await?;
        Ok(self
            .create_session(&user, domain::ACR_LEVEL_2, &PASSKEY_AMR, ip, user_agent)
            .await?)
    }

    // ------------------------------------------------------------ second factor

    /// Starts the second step of a password sign-in with one of the user's
    /// passkeys.
    pub async fn passkey_second_factor_options(&self, pending_cookie: &str) -> Result<(String, Value), PasskeyError> {
        let relying_party = self.relying_party()?;
        let user_id = store::pending_user(self.db(), &domain::token_hash(pending_cookie))
            .await?
            .ok_or(PasskeyError::Expired)?;
        let passkeys = store::passkeys_of(self.db(), user_id)
            .await?
            .iter()
            .filter_map(|row| from_json::<Passkey>(&row.passkey).ok())
            .collect::<Vec<_>>();
        if passkeys.is_empty() {
            return Err(PasskeyError::Rejected);
        }
        let (options, state) = relying_party.start_passkey_authentication(&passkeys).map_err(|error| {
            tracing::warn!(%error, "Could not start a passkey second factor");
            PasskeyError::Rejected
        })?;
        let options = serde_json::to_value(&options).map_err(|error| PasskeyError::Id(IdError::Db(error.into())))?;
        let ceremony = self
            .begin_ceremony(Some(user_id), "second_factor", to_json(&state)?)
            .await?;
        Ok((ceremony, options))
    }

    /// Finishes the second step with a passkey: a session at level 2.
    pub async fn passkey_second_factor(
        &self,
        pending_cookie: &str,
        ceremony: &str,
        credential: &PublicKeyCredential,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(String, SessionRow), PasskeyError> {
        let relying_party = self.relying_party()?;
        let pending_id = domain::token_hash(pending_cookie);
        let now_ms = self.now().timestamp_millis();
        let pending = store::attempt_pending(self.db(), &pending_id, now_ms)
            .await?
            .ok_or(PasskeyError::Expired)?;
        // Codes and passkeys share the pending sign-in's attempts.
        if pending.attempts > crate::provider::MAX_SECOND_FACTOR_ATTEMPTS {
            store::delete_pending(self.db(), &pending_id).await?;
            return Err(PasskeyError::Expired);
        }
        let row = self.take_ceremony(ceremony, "second_factor").await?;
        if row.user_id != Some(pending.user_id) {
            return Err(PasskeyError::Expired);
        }
        let state: PasskeyAuthentication = from_json(&row.state)?;
        let credential_id = credential_id_text(credential.get_credential_id());
        let stored = store::passkey(self.db(), &credential_id)
            .await?
            .filter(|stored| stored.user_id == pending.user_id);
        let result = stored
            .as_ref()
            .and_then(|_| relying_party.finish_passkey_authentication(credential, &state).ok());
        let (Some(stored), Some(result)) = (stored, result) else {
            self.passkey_failure(ip, user_agent, Some(pending.user_id)).await?;
            return Err(PasskeyError::Rejected);
        };
        let mut passkey: Passkey = from_json(&stored.passkey)?;
        let updated = passkey
            .update_credential(&result)
            .unwrap_or(false)
            .then(|| to_json(&passkey))
            .transpose()?;
        let user = store::user_by_id(self.db(), pending.user_id)
            .await?
            .ok_or(PasskeyError::Rejected)?;
        store::delete_pending(self.db(), &pending_id).await?;
        self.passkey_used(&user, &credential_id, updated.as_deref(), "pwd+passkey", ip, user_agent)
            .await?;
        Ok(self
            .create_session(&user, domain::ACR_LEVEL_2, &["pwd", "hwk"], ip, user_agent)
            .await?)
    }

    // ------------------------------------------------------------ records

    async fn passkey_used(
        &self,
        user: &UserRow,
        credential_id: &str,
        updated: Option<&str>,
        method: &str,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), IdError> {
        let now = self.now();
        store::touch_passkey(self.db(), credential_id, updated, now.timestamp_millis()).await?;
        let subject = format!("user:{}", user.id);
        let mut tx = self.db().begin().await?;
        let entry = AuditEntry {
            actor: &subject,
            action: "id.sign_in.success",
            subject: &subject,
            detail: json!({ "method": method, "user_agent": user_agent }),
            ip,
        };
        audit::record(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn passkey_failure(
        &self,
        ip: Option<&str>,
        user_agent: Option<&str>,
        user_id: Option<Uuid>,
    ) -> Result<(), IdError> {
        self.count_address_failure(ip).await?;
        let subject = user_id.map_or_else(|| "user:unknown".to_owned(), |id| format!("user:{id}"));
        let mut tx = self.db().begin().await?;
        let entry = AuditEntry {
            actor: &subject,
            action: "id.sign_in.failure",
            subject: &subject,
            detail: json!({ "method": "passkey", "user_agent": user_agent }),
            ip,
        };
        audit::record(&mut tx, &entry, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }
}
