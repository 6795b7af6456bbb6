//! OpenID Connect Back-Channel Logout 1.0: when a browser session ends
//! (sign-out, password change, lock, "end this session"), every client it
//! signed in to that registered a `backchannel_logout_uri` receives a
//! signed logout token, server to server.
//!
//! The notices are jobs enqueued in the transaction that ends the sessions,
//! so they go out only if the sessions really ended, and are retried while a
//! client is unreachable. The token is signed when it is delivered, with the
//! client's algorithm, naming the user by the `sub` that client knows and
//! the session by the `sid` of its ID tokens.

use std::time::Duration;

use chrono::{DateTime, Utc};
use egov_db::jobs::{self, NewJob};
use egov_db::{DbError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::domain;
use crate::keys::Algorithm;
use crate::provider::{IdError, Provider};
use crate::store::{self, Ending};

/// Job kind: deliver one logout token.
pub const BACKCHANNEL_LOGOUT: &str = "id.backchannel_logout";

/// The event a logout token carries.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid: the specification recommends at most
/// two minutes.
const TOKEN_LIFETIME_SECONDS: i64 = 120;

#[derive(Debug, Serialize, Deserialize)]
#[expect(clippy::struct_field_names, reason = "the names of the columns they come from")]
struct LogoutJob {
    client_id: String,
    user_id: Uuid,
    session_id: String,
}

/// Enqueues a logout notice for every client the sessions in `ending`
/// signed in to. Call it before the sessions are marked revoked.
pub(crate) async fn enqueue_logouts(tx: &mut Tx, ending: Ending<'_>, now: DateTime<Utc>) -> Result<usize, DbError> {
    let targets = store::backchannel_clients(tx, ending).await?;
    for target in &targets {
        let payload = json!(LogoutJob {
            client_id: target.client_id.clone(),
            user_id: target.user_id,
            session_id: target.session_id.clone(),
        });
        let mut job = NewJob::new(BACKCHANNEL_LOGOUT, payload);
        job.dedupe_key = Some(format!(
            "{BACKCHANNEL_LOGOUT}:{}:{}",
            target.client_id,
            domain::session_sid(&target.session_id)
        ));
        jobs::enqueue(tx, &job, now).await?;
    }
    Ok(targets.len())
}

/// Delivers logout tokens: the job handler of [`BACKCHANNEL_LOGOUT`].
#[derive(Debug, Clone)]
pub struct LogoutSender {
    provider: Provider,
    http: reqwest::Client,
}

impl LogoutSender {
    pub fn new(provider: Provider) -> Result<LogoutSender, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            // A client's endpoint answers; it does not send us elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("egov-id/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(LogoutSender { provider, http })
    }

    /// Signs and POSTs one logout token. A client that is unreachable or
    /// answers 5xx gets it again later (the error retries the job); one
    /// that refuses it (4xx) is logged and not asked again.
    pub async fn deliver(&self, payload: &str) -> Result<(), String> {
        let job: LogoutJob = serde_json::from_str(payload).map_err(|error| format!("bad payload: {error}"))?;
        let db = self.provider.db();
        let client = store::client(db, &job.client_id)
            .await
            .map_err(|error| error.to_string())?;
        let Some((client, uri)) = client.and_then(|client| {
            let uri = client.backchannel_logout_uri.clone()?;
            Some((client, uri))
        }) else {
            // The client is gone or no longer wants notices.
            return Ok(());
        };
        let token = self
            .provider
            .logout_token(&client, job.user_id, &job.session_id)
            .await
            .map_err(|error| error.to_string())?;
        let response = self
            .http
            .post(&uri)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|error| format!("{uri}: {error}"))?;
        let status = response.status();
        if status.is_success() {
            tracing::info!(client_id = %client.client_id, "Back-channel logout delivered");
            Ok(())
        } else if status.is_client_error() {
            tracing::warn!(client_id = %client.client_id, %status, "A client refused its logout token");
            Ok(())
        } else {
            Err(format!("{uri} answered {status}"))
        }
    }
}

impl Provider {
    /// A logout token for `client` about the session `session_id` of
    /// `user_id`.
    pub(crate) async fn logout_token(
        &self,
        client: &store::ClientRow,
        user_id: Uuid,
        session_id: &str,
    ) -> Result<String, IdError> {
        let now = self.now().timestamp();
        let claims = json!({
            "iss": self.config().issuer,
            "sub": self.subject(client, user_id).await?,
            "aud": client.client_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": egov_core::id::new_id(),
            "sid": domain::session_sid(session_id),
            "events": { LOGOUT_EVENT: {} },
        });
        let alg = Algorithm::parse(&client.signing_alg).unwrap_or(Algorithm::Rs256);
        self.sign_typed(alg, "logout+jwt", &claims).await
    }
}
