//! Setting up and removing an authenticator app (TOTP) from "my account".
//!
//! The secret waits server-side (`id_totp_enrolments`, 10 minutes, five
//! tries) until a code from the app proves the app holds it; then ten
//! recovery codes are shown once. Adding or removing the app is a factor
//! change: the user's other sessions end and a notice is mailed. An
//! official may remove the app only while a passkey remains, since
//! officials always sign in with two factors.

use std::time::Duration;

use egov_web::Lang;

use crate::account::Origin;
use crate::domain;
use crate::provider::{IdError, Provider, millis};
use crate::store::{self, SessionRow, TotpEnrolmentRow};
use crate::totp::{self, TotpSecret};

/// How long an enrolment may take.
const ENROLMENT_TTL: Duration = Duration::from_mins(10);
/// Codes tried per enrolment.
const MAX_ATTEMPTS: i32 = 5;

/// An enrolment to show: its token (for the form) and the secret.
#[derive(Debug)]
pub struct TotpEnrolment {
    pub token: String,
    pub secret: TotpSecret,
}

/// How an enrolment attempt ended.
#[derive(Debug)]
pub enum EnrolOutcome {
    /// The app works: the recovery codes, to show once.
    Enrolled(Vec<String>),
    /// Wrong code; the same enrolment may be tried again (its secret).
    Wrong(TotpSecret),
    /// Expired, tried too often, or not this user's.
    Expired,
}

/// Why the app could not be removed.
#[derive(Debug, PartialEq, Eq)]
pub enum RemoveOutcome {
    Removed,
    NotEnrolled,
    /// An official without a passkey would be left with one factor.
    LastFactor,
}

impl Provider {
    /// The otpauth URI an authenticator app reads for `secret`: issued by
    /// this instance's host, for the account's personal ID number.
    pub(crate) fn otpauth_uri(&self, secret: &TotpSecret, personal_id: &str) -> String {
        let issuer = url::Url::parse(&self.config().issuer)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "egov".to_owned());
        totp::otpauth_uri(secret, &issuer.replace(':', "."), personal_id).unwrap_or_default()
    }

    /// Starts setting up an authenticator app for the signed-in user.
    pub async fn start_totp_enrolment(&self, session: &SessionRow) -> Result<TotpEnrolment, IdError> {
        let token = domain::new_token();
        let secret = TotpSecret::generate();
        let row = TotpEnrolmentRow {
            id: domain::token_hash(&token),
            user_id: session.user_id,
            secret: secret.to_base32(),
            attempts: 0,
            expires_at: self.now().timestamp_millis() + millis(ENROLMENT_TTL),
        };
        store::insert_totp_enrolment(self.db(), &row).await?;
        Ok(TotpEnrolment { token, secret })
    }

    /// Finishes an enrolment with a code from the app.
    pub async fn finish_totp_enrolment(
        &self,
        session: &SessionRow,
        token: &str,
        code: &str,
        lang: Lang,
        origin: Origin<'_>,
    ) -> Result<EnrolOutcome, IdError> {
        if token.len() != 43 {
            return Ok(EnrolOutcome::Expired);
        }
        let now = self.now();
        let Some(row) = store::attempt_totp_enrolment(
            self.db(),
            &domain::token_hash(token),
            session.user_id,
            now.timestamp_millis(),
        )
        .await?
        .filter(|row| row.attempts <= MAX_ATTEMPTS) else {
            return Ok(EnrolOutcome::Expired);
        };
        let secret = TotpSecret::from_base32(&row.secret).map_err(|error| IdError::Password(error.to_string()))?;
        let unix_time = u64::try_from(now.timestamp()).unwrap_or_default();
        let Some(step) = totp::verify(&secret, code, unix_time, None) else {
            return Ok(EnrolOutcome::Wrong(secret));
        };
        let Some(user) = store::user_by_id(self.db(), session.user_id).await? else {
            return Ok(EnrolOutcome::Expired);
        };
        let codes = totp::generate_recovery_codes(10);
        let hashes: Vec<String> = codes.iter().map(|code| totp::recovery_code_hash(code)).collect();
        let mut tx = self.db().begin().await?;
        store::enrol_totp(
            &mut tx,
            user.id,
            &row.secret,
            i64::try_from(step).unwrap_or(i64::MAX),
            &hashes,
        )
        .await?;
        store::delete_totp_enrolment(&mut tx, &row.id).await?;
        self.factor_changed(&mut tx, &user, &session.id, "id.factor.totp.add", lang, origin)
            .await?;
        tx.commit().await?;
        Ok(EnrolOutcome::Enrolled(codes))
    }

    /// Removes the signed-in user's authenticator app.
    pub async fn remove_totp(
        &self,
        session: &SessionRow,
        lang: Lang,
        origin: Origin<'_>,
    ) -> Result<RemoveOutcome, IdError> {
        let Some(user) = store::user_by_id(self.db(), session.user_id).await? else {
            return Ok(RemoveOutcome::NotEnrolled);
        };
        let factors = self.second_factors(user.id).await?;
        if !factors.totp {
            return Ok(RemoveOutcome::NotEnrolled);
        }
        if user.kind == "official" && !factors.passkey {
            return Ok(RemoveOutcome::LastFactor);
        }
        let mut tx = self.db().begin().await?;
        store::remove_totp(&mut tx, user.id).await?;
        self.factor_changed(&mut tx, &user, &session.id, "id.factor.totp.remove", lang, origin)
            .await?;
        tx.commit().await?;
        Ok(RemoveOutcome::Removed)
    }
}
