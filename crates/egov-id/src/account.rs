//! Self-service operations: citizen registration with e-mail verification,
//! password reset by an e-mailed single-use link, password change, and a
//! user's own sessions.
//!
//! Every answer that could tell whether an account exists is the same for
//! both cases (registration and reset always say "check your mail"); mail
//! is queued in the transaction of the change it announces. A password
//! change or reset ends every other session and every token, and mails a
//! notice. Second factors are never touched by a reset.

use std::time::Duration;

use chrono::Datelike as _;

use egov_core::personal_id::PersonalId;
use egov_db::audit::{self, AuditEntry};
use egov_mail::OutgoingMail;
use egov_web::Lang;
use serde_json::json;
use uuid::Uuid;

use crate::account_text::{AccountText, account_text};
use crate::domain;
use crate::password_policy::check_password;
use crate::provider::{IdError, Provider, SignInFailure, millis};
use crate::store::{self, LinkPurpose, LinkRow, SessionListRow, SessionRow, UserRow};

/// How long a verification link works.
const VERIFY_TTL: Duration = Duration::from_hours(24);
/// How long a reset link works.
const RESET_TTL: Duration = Duration::from_mins(30);
/// Reset requests allowed per address in the failure window.
const RESETS_PER_IP: i64 = 20;

/// What a citizen types to register.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Registration {
    #[serde(default)]
    pub personal_id: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub birthdate: String,
    #[serde(default)]
    pub gender: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone_number: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_confirm: String,
}

/// A field's problem, in the request's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: &'static str,
}

/// Why a password reset was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetFailure {
    /// The link is unknown, used or expired.
    InvalidLink,
    Fields(Vec<FieldError>),
}

/// The gender values of the OpenID `gender` claim that the form offers.
pub const GENDERS: [&str; 3] = ["male", "female", "other"];

/// A registration checked field by field.
#[derive(Debug)]
struct ValidRegistration {
    personal_id: PersonalId,
    full_name: String,
    birthdate: Option<String>,
    gender: Option<String>,
    email: String,
    phone_number: Option<String>,
}

fn is_phone_number(phone: &str) -> bool {
    let digits = phone
        .strip_prefix("+84")
        .or_else(|| phone.strip_prefix('0'))
        .unwrap_or_default();
    digits.len() == 9 && digits.bytes().all(|byte| byte.is_ascii_digit())
}

fn validate_registration(
    form: &Registration,
    t: &AccountText,
    lang: Lang,
    today: chrono::NaiveDate,
) -> Result<ValidRegistration, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut error = |field, message| errors.push(FieldError { field, message });
    let personal_id = PersonalId::parse(form.personal_id.trim());
    if personal_id.is_err() {
        error("personal_id", t.err_personal_id);
    }
    let full_name = form.full_name.split_whitespace().collect::<Vec<_>>().join(" ");
    if full_name.is_empty() || full_name.chars().count() > 200 {
        error("full_name", t.err_full_name);
    }
    let birthdate = form.birthdate.trim();
    let birthdate = if birthdate.is_empty() {
        None
    } else {
        match chrono::NaiveDate::parse_from_str(birthdate, "%Y-%m-%d") {
            Ok(date) if date <= today && date.year() >= 1900 => Some(birthdate.to_owned()),
            _ => {
                error("birthdate", t.err_birthdate);
                None
            }
        }
    };
    let gender = match form.gender.trim() {
        "" => None,
        gender if GENDERS.contains(&gender) => Some(gender.to_owned()),
        _ => {
            error("gender", t.err_gender);
            None
        }
    };
    let email = form.email.trim().to_lowercase();
    if !egov_mail::is_valid_address(&email) || !email.contains('@') {
        error("email", t.err_email);
    }
    let phone: String = form
        .phone_number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect();
    let phone_number = if phone.is_empty() {
        None
    } else if is_phone_number(&phone) {
        Some(phone)
    } else {
        error("phone_number", t.err_phone);
        None
    };
    let mut personal_words: Vec<&str> = full_name.split_whitespace().collect();
    personal_words.push(form.personal_id.trim());
    if let Some(local) = email.split('@').next() {
        personal_words.push(local);
    }
    if let Err(rejection) = check_password(&form.password, &personal_words) {
        error("password", rejection.message(lang == Lang::Vi));
    } else if form.password != form.password_confirm {
        error("password_confirm", t.err_confirm);
    }
    match personal_id {
        Ok(personal_id) if errors.is_empty() => Ok(ValidRegistration {
            personal_id,
            full_name,
            birthdate,
            gender,
            email,
            phone_number,
        }),
        _ => Err(errors),
    }
}

/// A mail in the user's language: greeting, body, link, signature.
fn mail(t: &AccountText, to: &str, name: &str, subject: &str, body: &str, link: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: format!(
            "{} {name},\n\n{body}\n\n{link}\n\n-- \n{}\n",
            t.mail_greeting, t.mail_signature
        ),
    }
}

/// Request details written to the audit log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl Provider {
    fn link_url(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.config().issuer)
    }

    async fn audit(
        &self,
        tx: &mut egov_db::Tx,
        actor: &str,
        action: &str,
        subject: &str,
        origin: Origin<'_>,
    ) -> Result<(), IdError> {
        let entry = AuditEntry {
            actor,
            action,
            subject,
            detail: json!({ "user_agent": origin.user_agent }),
            ip: origin.ip,
        };
        audit::record(tx, &entry, self.now()).await?;
        Ok(())
    }

    /// Registers a citizen: the account exists at once but can sign in only
    /// after its address is verified (the password waits with the link).
    /// An ID number or address already in use gets the same answer, and its
    /// owner a notice instead of a link.
    pub async fn register(
        &self,
        form: &Registration,
        lang: Lang,
        origin: Origin<'_>,
    ) -> Result<Result<(), Vec<FieldError>>, IdError> {
        let t = account_text(lang);
        let today = egov_core::clock::vn_now(self.clock()).date();
        let valid = match validate_registration(form, t, lang, today) {
            Ok(valid) => valid,
            Err(errors) => return Ok(Err(errors)),
        };
        // Hashed before looking anything up, so both answers take as long.
        let hash = self
            .hasher()
            .hash(&form.password)
            .await
            .map_err(|error| IdError::Password(error.to_string()))?;
        let now = self.now();
        let now_ms = now.timestamp_millis();
        let mut tx = self.db().begin().await?;
        store::delete_stale_registrations(
            &mut tx,
            valid.personal_id.as_str(),
            &valid.email,
            now_ms - millis(VERIFY_TTL),
        )
        .await?;
        let user_id = egov_core::id::new_id();
        let row = UserRow {
            id: user_id,
            kind: domain::UserKind::Citizen.as_str().to_owned(),
            personal_id: valid.personal_id.as_str().to_owned(),
            full_name: valid.full_name.clone(),
            email: Some(valid.email.clone()),
            email_verified: false,
            phone_number: valid.phone_number,
            birthdate: valid.birthdate,
            gender: valid.gender,
            agency_code: None,
            department: None,
            roles: String::new(),
            password_hash: None,
            locked: false,
        };
        let inserted = match store::insert_user(&mut tx, &row, now_ms).await {
            Ok(()) => true,
            Err(error) if error.is_unique_violation() => false,
            Err(error) => return Err(error.into()),
        };
        if !inserted {
            // PostgreSQL aborts a transaction after a failed statement.
            tx.rollback().await?;
            return self
                .registration_clash(&valid.personal_id, &valid.email, t, origin)
                .await;
        }
        let token = domain::new_token();
        let link = LinkRow {
            token_hash: domain::token_hash(&token),
            user_id,
            password_hash: Some(hash),
            expires_at: now_ms + millis(VERIFY_TTL),
            used_at: None,
        };
        store::insert_link(&mut tx, &link, LinkPurpose::VerifyEmail, now_ms).await?;
        let message = mail(
            t,
            &valid.email,
            &valid.full_name,
            t.mail_verify_subject,
            t.mail_verify_body,
            &self.link_url("/account/verify", &token),
        );
        egov_mail::enqueue(&mut tx, &message, None, now).await?;
        let subject = format!("user:{user_id}");
        self.audit(&mut tx, "anonymous", "id.register", &subject, origin)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The answer to a registration whose ID number or address is taken:
    /// the owner of the existing account is told (at most once an hour),
    /// the visitor sees what everyone sees.
    async fn registration_clash(
        &self,
        personal_id: &PersonalId,
        email: &str,
        t: &AccountText,
        origin: Origin<'_>,
    ) -> Result<Result<(), Vec<FieldError>>, IdError> {
        let now = self.now();
        let existing = match store::user_by_login(self.db(), personal_id.as_str()).await? {
            Some(user) => Some(user),
            None => store::user_by_login(self.db(), email).await?,
        };
        let mut tx = self.db().begin().await?;
        if let Some(user) = existing {
            if let Some(address) = user.email.as_deref() {
                let message = mail(
                    t,
                    address,
                    &user.full_name,
                    t.mail_exists_subject,
                    t.mail_exists_body,
                    &format!("{}/account/forgot", self.config().issuer),
                );
                let key = format!("id.register.clash:{}:{}", user.id, now.format("%Y-%m-%dT%H"));
                egov_mail::enqueue(&mut tx, &message, Some(key), now).await?;
            }
            let subject = format!("user:{}", user.id);
            self.audit(&mut tx, "anonymous", "id.register.clash", &subject, origin)
                .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Verifies an address with its link; activates the registration.
    pub async fn verify_email(&self, token: &str, origin: Origin<'_>) -> Result<bool, IdError> {
        if token.len() != 43 {
            return Ok(false);
        }
        let now_ms = self.now().timestamp_millis();
        let mut tx = self.db().begin().await?;
        let Some(link) = store::use_link(&mut tx, &domain::token_hash(token), LinkPurpose::VerifyEmail, now_ms).await?
        else {
            tx.rollback().await?;
            return Ok(false);
        };
        let Some(hash) = link.password_hash.as_deref() else {
            tx.rollback().await?;
            return Ok(false);
        };
        store::activate_registration(&mut tx, link.user_id, hash, now_ms).await?;
        let subject = format!("user:{}", link.user_id);
        self.audit(&mut tx, &subject, "id.email.verify", &subject, origin)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Mails a reset link to the account's verified address, if there is
    /// one; the answer does not say. Throttled per address.
    pub async fn request_password_reset(
        &self,
        login: &str,
        lang: Lang,
        origin: Origin<'_>,
    ) -> Result<Result<(), SignInFailure>, IdError> {
        let t = account_text(lang);
        let now = self.now();
        let now_ms = now.timestamp_millis();
        let window = millis(self.config().failure_window);
        let ip_key = format!("reset-ip:{}", origin.ip.unwrap_or("unknown"));
        if store::count_failure(self.db(), &ip_key, window, now_ms).await? > RESETS_PER_IP {
            return Ok(Err(SignInFailure::TooManyAttempts));
        }
        let user = store::user_by_login(self.db(), login.trim()).await?;
        let mut tx = self.db().begin().await?;
        if let Some(user) = user.filter(|user| user.password_hash.is_some() && !user.locked)
            && let Some(address) = user.email.as_deref()
        {
            {
                let token = domain::new_token();
                let link = LinkRow {
                    token_hash: domain::token_hash(&token),
                    user_id: user.id,
                    password_hash: None,
                    expires_at: now_ms + millis(RESET_TTL),
                    used_at: None,
                };
                // One mail per account per five minutes: a mail bomb costs
                // the attacker, not the citizen.
                let bucket = now.timestamp() / 300;
                let key = format!("id.reset:{}:{bucket}", user.id);
                let message = mail(
                    t,
                    address,
                    &user.full_name,
                    t.mail_reset_subject,
                    t.mail_reset_body,
                    &self.link_url("/account/reset", &token),
                );
                if egov_mail::enqueue(&mut tx, &message, Some(key), now).await? {
                    store::insert_link(&mut tx, &link, LinkPurpose::ResetPassword, now_ms).await?;
                }
                let subject = format!("user:{}", user.id);
                self.audit(&mut tx, "anonymous", "id.password.reset_request", &subject, origin)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Whether a reset link still works (to show its form).
    pub async fn reset_link_is_live(&self, token: &str) -> Result<bool, IdError> {
        if token.len() != 43 {
            return Ok(false);
        }
        let now_ms = self.now().timestamp_millis();
        Ok(store::link_is_live(
            self.db(),
            &domain::token_hash(token),
            LinkPurpose::ResetPassword,
            now_ms,
        )
        .await?)
    }

    /// Sets a new password with a reset link: every session and token of
    /// the account ends, every other reset link dies, a notice is mailed.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
        confirm: &str,
        lang: Lang,
        origin: Origin<'_>,
    ) -> Result<Result<(), ResetFailure>, IdError> {
        let t = account_text(lang);
        let now_ms = self.now().timestamp_millis();
        if token.len() != 43 {
            return Ok(Err(ResetFailure::InvalidLink));
        }
        let token_hash = domain::token_hash(token);
        // Checked (not spent) first, so a typo in the password keeps the link.
        if !store::link_is_live(self.db(), &token_hash, LinkPurpose::ResetPassword, now_ms).await? {
            return Ok(Err(ResetFailure::InvalidLink));
        }
        let Some(user) = store::link_user(self.db(), &token_hash).await? else {
            return Ok(Err(ResetFailure::InvalidLink));
        };
        if let Err(errors) = Self::check_new_password(&user, password, confirm, t, lang) {
            return Ok(Err(ResetFailure::Fields(errors)));
        }
        let hash = self
            .hasher()
            .hash(password)
            .await
            .map_err(|error| IdError::Password(error.to_string()))?;
        let mut tx = self.db().begin().await?;
        if store::use_link(&mut tx, &token_hash, LinkPurpose::ResetPassword, now_ms)
            .await?
            .is_none()
        {
            // Spent by a parallel request between the check and now.
            tx.rollback().await?;
            return Ok(Err(ResetFailure::InvalidLink));
        }
        self.replace_password(&mut tx, &user, &hash, None, t, "id.password.reset", origin)
            .await?;
        tx.commit().await?;
        // A new password starts with a clean slate of failed sign-ins.
        store::clear_failures(self.db(), &format!("account:{}", user.personal_id)).await?;
        if let Some(email) = &user.email {
            store::clear_failures(self.db(), &format!("account:{email}")).await?;
        }
        Ok(Ok(()))
    }

    /// Changes the password of a signed-in user who knows the current one;
    /// every other session ends.
    pub async fn change_password(
        &self,
        session: &SessionRow,
        current: &str,
        password: &str,
        confirm: &str,
        lang: Lang,
        origin: Origin<'_>,
    ) -> Result<Result<(), Vec<FieldError>>, IdError> {
        let t = account_text(lang);
        let Some(user) = store::user_by_id(self.db(), session.user_id).await? else {
            return Ok(Err(vec![FieldError {
                field: "current_password",
                message: t.err_current_password,
            }]));
        };
        // The current password goes through the throttled sign-in check, so
        // this form cannot be used to guess it faster.
        let login = user.personal_id.clone();
        match self
            .sign_in_with_password(&login, current, origin.ip, origin.user_agent)
            .await?
        {
            Ok(_) => {}
            Err(SignInFailure::BadCredentials) => {
                return Ok(Err(vec![FieldError {
                    field: "current_password",
                    message: t.err_current_password,
                }]));
            }
            Err(SignInFailure::TooManyAttempts) => {
                return Ok(Err(vec![FieldError {
                    field: "current_password",
                    message: t.err_too_many,
                }]));
            }
        }
        if let Err(errors) = Self::check_new_password(&user, password, confirm, t, lang) {
            return Ok(Err(errors));
        }
        let hash = self
            .hasher()
            .hash(password)
            .await
            .map_err(|error| IdError::Password(error.to_string()))?;
        let mut tx = self.db().begin().await?;
        self.replace_password(
            &mut tx,
            &user,
            &hash,
            Some(&session.id),
            t,
            "id.password.change",
            origin,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    fn check_new_password(
        user: &UserRow,
        password: &str,
        confirm: &str,
        t: &AccountText,
        lang: Lang,
    ) -> Result<(), Vec<FieldError>> {
        let mut personal_words: Vec<&str> = user.full_name.split_whitespace().collect();
        personal_words.push(&user.personal_id);
        if let Some(local) = user.email.as_deref().and_then(|email| email.split('@').next()) {
            personal_words.push(local);
        }
        if let Err(rejection) = check_password(password, &personal_words) {
            return Err(vec![FieldError {
                field: "password",
                message: rejection.message(lang == Lang::Vi),
            }]);
        }
        if password != confirm {
            return Err(vec![FieldError {
                field: "password_confirm",
                message: t.err_confirm,
            }]);
        }
        Ok(())
    }

    /// The shared end of adding or removing a second factor, inside `tx`:
    /// the user's other sessions end, a notice is mailed, the change is
    /// audited.
    pub(crate) async fn factor_changed(
        &self,
        tx: &mut egov_db::Tx,
        user: &UserRow,
        keep_session: &str,
        action: &str,
        lang: Lang,
        origin: Origin<'_>,
    ) -> Result<(), IdError> {
        let t = account_text(lang);
        let notice = (t.mail_factor_subject, t.mail_factor_body, "/account");
        self.end_other_sessions(tx, user, Some(keep_session), t, notice, action, origin)
            .await
    }

    /// Ends the user's sessions but `keep_session`, mails the notice
    /// (subject, body, link path on this instance) and audits `action`:
    /// the common end of every password and factor change.
    #[allow(clippy::too_many_arguments)]
    async fn end_other_sessions(
        &self,
        tx: &mut egov_db::Tx,
        user: &UserRow,
        keep_session: Option<&str>,
        t: &AccountText,
        (subject_line, body, link_path): (&str, &str, &str),
        action: &str,
        origin: Origin<'_>,
    ) -> Result<(), IdError> {
        let now = self.now();
        let ended = store::revoke_user_sessions(tx, user.id, keep_session, now).await?;
        if let Some(address) = user.email.as_deref() {
            let link = format!("{}{link_path}", self.config().issuer);
            let message = mail(t, address, &user.full_name, subject_line, body, &link);
            egov_mail::enqueue(tx, &message, None, now).await?;
        }
        let subject = format!("user:{}", user.id);
        let entry = AuditEntry {
            actor: &subject,
            action,
            subject: &subject,
            detail: json!({ "user_agent": origin.user_agent, "sessions_ended": ended }),
            ip: origin.ip,
        };
        audit::record(tx, &entry, now).await?;
        Ok(())
    }

    /// The shared end of a reset and a change, inside `tx`.
    #[allow(clippy::too_many_arguments)]
    async fn replace_password(
        &self,
        tx: &mut egov_db::Tx,
        user: &UserRow,
        hash: &str,
        keep_session: Option<&str>,
        t: &AccountText,
        action: &str,
        origin: Origin<'_>,
    ) -> Result<(), IdError> {
        let now = self.now();
        let now_ms = now.timestamp_millis();
        store::update_password(tx, user.id, hash, now_ms).await?;
        store::expire_links(tx, user.id, LinkPurpose::ResetPassword, now_ms).await?;
        let notice = (t.mail_changed_subject, t.mail_changed_body, "/account/forgot");
        self.end_other_sessions(tx, user, keep_session, t, notice, action, origin)
            .await
    }

    /// Records the user's answer on the consent page: a grant widens what
    /// the client may ask for without asking again; both are audited.
    pub async fn record_consent(
        &self,
        session: &SessionRow,
        client: &crate::store::ClientRow,
        scopes: &crate::domain::Scopes,
        allowed: bool,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), IdError> {
        let now = self.now();
        let mut tx = self.db().begin().await?;
        if allowed {
            let granted = store::consented_scope(self.db(), session.user_id, &client.client_id).await?;
            let mut all = crate::domain::Scopes::parse(granted.as_deref().unwrap_or_default()).to_string();
            all.push(' ');
            all.push_str(&scopes.to_string());
            let all = crate::domain::Scopes::parse(&all).to_string();
            store::grant_consent(
                &mut tx,
                session.user_id,
                &client.client_id,
                &all,
                now.timestamp_millis(),
            )
            .await?;
        }
        let subject = format!("user:{}", session.user_id);
        let entry = AuditEntry {
            actor: &subject,
            action: if allowed { "id.consent.grant" } else { "id.consent.deny" },
            subject: &format!("client:{}", client.client_id),
            detail: json!({ "scope": scopes.to_string(), "user_agent": user_agent }),
            ip,
        };
        audit::record(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Withdraws a grant; the client's tokens for the user stop working.
    pub async fn withdraw_consent(
        &self,
        session: &SessionRow,
        client_id: &str,
        origin: Origin<'_>,
    ) -> Result<bool, IdError> {
        let mut tx = self.db().begin().await?;
        let withdrawn = store::withdraw_consent(&mut tx, session.user_id, client_id).await?;
        if withdrawn {
            let subject = format!("user:{}", session.user_id);
            let entry = AuditEntry {
                actor: &subject,
                action: "id.consent.withdraw",
                subject: &format!("client:{client_id}"),
                detail: json!({ "user_agent": origin.user_agent }),
                ip: origin.ip,
            };
            audit::record(&mut tx, &entry, self.now()).await?;
        }
        tx.commit().await?;
        Ok(withdrawn)
    }

    /// A user's live sessions, most recent first.
    pub async fn sessions_of(&self, user_id: Uuid) -> Result<Vec<SessionListRow>, IdError> {
        let now_ms = self.now().timestamp_millis();
        let idle = millis(self.config().session_idle);
        let mut sessions = store::user_sessions(self.db(), user_id, now_ms).await?;
        sessions.retain(|session| now_ms - session.last_seen_at <= idle);
        Ok(sessions)
    }

    /// Ends one of the user's own sessions, or (with `None`) every one but
    /// `current`. Returns how many ended.
    pub async fn end_own_sessions(
        &self,
        current: &SessionRow,
        which: Option<&str>,
        origin: Origin<'_>,
    ) -> Result<u64, IdError> {
        let mut tx = self.db().begin().await?;
        let ended = match which {
            Some(id) => u64::from(store::revoke_own_session(&mut tx, current.user_id, id, self.now()).await?),
            None => store::revoke_user_sessions(&mut tx, current.user_id, Some(&current.id), self.now()).await?,
        };
        let subject = format!("user:{}", current.user_id);
        let entry = AuditEntry {
            actor: &subject,
            action: "id.session.revoke",
            subject: &subject,
            detail: json!({ "user_agent": origin.user_agent, "sessions_ended": ended }),
            ip: origin.ip,
        };
        audit::record(&mut tx, &entry, self.now()).await?;
        tx.commit().await?;
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Registration {
        Registration {
            personal_id: "001090099999".to_owned(),
            full_name: "  Trần   Thị  Hoa ".to_owned(),
            birthdate: "1990-05-17".to_owned(),
            gender: "female".to_owned(),
            email: " Hoa.Tran@Example.VN ".to_owned(),
            phone_number: "0912 345 678".to_owned(),
            password: "Sen-hong-giua-dam".to_owned(),
            password_confirm: "Sen-hong-giua-dam".to_owned(),
        }
    }

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 27).expect("date")
    }

    fn fields(errors: &[FieldError]) -> Vec<&'static str> {
        errors.iter().map(|error| error.field).collect()
    }

    #[test]
    fn a_valid_registration_is_normalised() {
        let valid = validate_registration(&form(), account_text(Lang::Vi), Lang::Vi, today()).expect("valid");
        assert_eq!(valid.full_name, "Trần Thị Hoa");
        assert_eq!(valid.email, "hoa.tran@example.vn");
        assert_eq!(valid.phone_number.as_deref(), Some("0912345678"));
        assert_eq!(valid.birthdate.as_deref(), Some("1990-05-17"));
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let bad = Registration {
            personal_id: "12345".to_owned(),
            full_name: " ".to_owned(),
            birthdate: "2099-01-01".to_owned(),
            gender: "robot".to_owned(),
            email: "not-an-address".to_owned(),
            phone_number: "12".to_owned(),
            password: "short".to_owned(),
            password_confirm: "short".to_owned(),
        };
        let errors = validate_registration(&bad, account_text(Lang::En), Lang::En, today()).expect_err("invalid");
        assert_eq!(
            fields(&errors),
            [
                "personal_id",
                "full_name",
                "birthdate",
                "gender",
                "email",
                "phone_number",
                "password"
            ]
        );
    }

    #[test]
    fn the_password_must_be_repeated_and_must_not_be_personal() {
        let mismatch = Registration {
            password_confirm: "Sen-hong-giua-ao".to_owned(),
            ..form()
        };
        let errors = validate_registration(&mismatch, account_text(Lang::Vi), Lang::Vi, today()).expect_err("x");
        assert_eq!(fields(&errors), ["password_confirm"]);
        let personal = Registration {
            password: "001090099999xyz".to_owned(),
            password_confirm: "001090099999xyz".to_owned(),
            ..form()
        };
        let errors = validate_registration(&personal, account_text(Lang::Vi), Lang::Vi, today()).expect_err("x");
        assert_eq!(fields(&errors), ["password"]);
    }

    #[test]
    fn phone_numbers_are_vietnamese_mobile_or_landline_forms() {
        assert!(is_phone_number("0912345678"));
        assert!(is_phone_number("+84912345678"));
        assert!(!is_phone_number("912345678"));
        assert!(!is_phone_number("09123456789"));
        assert!(!is_phone_number("+8491234567a"));
    }
}
