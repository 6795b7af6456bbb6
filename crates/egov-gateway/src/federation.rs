//! A gateway's membership of a federation: joining its hub, telling the
//! hub which subsystems it serves, and keeping the hub's configuration
//! (downloaded, verified against the anchor learnt at joining, stored).
//! It owns the `gateway_federation` table.
//!
//! The configuration is what lets this gateway reach providers behind
//! other gateways and know who connects to it; a node reads the stored
//! one with its snapshot of what the gateway serves (see `gateway`), and
//! stops using it once it is older than the configured limit.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use egov_db::{Db, DbError, with_pool};

use crate::conf::{
    self, ConfError, GATEWAY_SIGNATURE_HEADER, GlobalConf, HUB_MAC_HEADER, JoinRequest, JoinResponse, NamedSubsystem,
    SignedConf, SubsystemsRequest,
};
use crate::message::{self, Kind, TrustedKeys};
use crate::{gateway, store};

/// Why joining or refreshing failed.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("this gateway has not joined a federation: run `egov gateway join`")]
    NotJoined,
    #[error("the hub could not be reached: {0}")]
    Network(String),
    #[error("the hub refused: {0}")]
    Refused(String),
    #[error("the hub's answer is not authenticated by the token: refused")]
    BadMac,
    #[error(transparent)]
    Conf(#[from] ConfError),
    #[error("the time-stamp does not verify: {0}")]
    Timestamp(#[from] message::KeyError),
    #[error("the key could not be made or read: {0}")]
    Key(String),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for FederationError {
    fn from(error: sqlx::Error) -> FederationError {
        FederationError::Db(DbError::from(error))
    }
}

impl From<gateway::GatewayError> for FederationError {
    fn from(error: gateway::GatewayError) -> FederationError {
        FederationError::Key(error.to_string())
    }
}

/// This gateway's membership, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Membership {
    pub hub_url: String,
    pub instance: String,
    pub gateway_id: String,
    pub address: String,
    pub anchor_key_id: String,
    pub anchor_public_pem: String,
    pub ca_cert_pem: String,
    pub tls_key_pem: String,
    pub tls_cert_pem: String,
    pub conf_payload: Option<String>,
    pub conf_signature: Option<String>,
    pub conf_serial: Option<i64>,
    pub conf_fetched_at: Option<i64>,
}

impl Membership {
    /// The hub's configuration and time-stamping key.
    pub fn anchor(&self) -> Result<TrustedKeys, message::KeyError> {
        let mut anchor = TrustedKeys::default();
        anchor.insert_pem(&self.anchor_key_id, &self.anchor_public_pem)?;
        Ok(anchor)
    }

    /// The stored configuration, verified again.
    pub fn configuration(&self) -> Result<Option<GlobalConf>, FederationError> {
        let (Some(payload), Some(signature)) = (&self.conf_payload, &self.conf_signature) else {
            return Ok(None);
        };
        let signed = SignedConf {
            payload: payload.clone(),
            key_id: self.anchor_key_id.clone(),
            signature: signature.clone(),
        };
        Ok(Some(signed.open(&self.anchor()?, &self.instance, None)?))
    }
}

pub async fn membership(db: &Db) -> Result<Option<Membership>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT hub_url, instance, gateway_id, address, anchor_key_id, anchor_public_pem, ca_cert_pem, \
             tls_key_pem, tls_cert_pem, conf_payload, conf_signature, conf_serial, conf_fetched_at \
             FROM gateway_federation WHERE id = 1",
        )
        .fetch_optional(pool)
        .await?
    }))
}

fn client() -> Result<reqwest::Client, FederationError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|error| FederationError::Network(error.to_string()))
}

async fn refused(response: reqwest::Response) -> FederationError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    FederationError::Refused(format!("{status}: {}", body.chars().take(500).collect::<String>()))
}

/// What a gateway asks to join with: its new TLS key's public part (the
/// key stays here) and its message-signing key.
async fn join_request(db: &Db, token: &str, address: &str) -> Result<(JoinRequest, rcgen::KeyPair), FederationError> {
    let (signing, _) = gateway::keys(db).await?;
    let tls_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|error| FederationError::Key(error.to_string()))?;
    let request = JoinRequest {
        token: token.to_owned(),
        address: address.to_owned(),
        tls_public_key: STANDARD.encode(tls_key.public_key_raw()),
        signing_key_id: signing.key_id.clone(),
        signing_public_pem: signing.public_pem()?,
    };
    Ok((request, tls_key))
}

/// Joins the federation of the hub at `hub_url` with a one-time token; the
/// provider side will listen at `address` (`https://host:port`).
pub async fn join(
    db: &Db,
    hub_url: &str,
    token: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<JoinResponse, FederationError> {
    let (request, tls_key) = join_request(db, token, address).await?;
    let hub_url = hub_url.trim_end_matches('/');
    let response = client()?
        .post(format!("{hub_url}/hub/v1/join"))
        .json(&request)
        .send()
        .await
        .map_err(|error| FederationError::Network(error.to_string()))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let mac = response
        .headers()
        .get(HUB_MAC_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .ok_or(FederationError::BadMac)?;
    let body = response
        .bytes()
        .await
        .map_err(|error| FederationError::Network(error.to_string()))?;
    if !conf::check_join_mac(token, &body, &mac) {
        return Err(FederationError::BadMac);
    }
    let joined: JoinResponse = serde_json::from_slice(&body)?;
    store_membership(db, hub_url, &joined, address, &tls_key.serialize_pem(), now).await?;
    Ok(joined)
}

async fn store_membership(
    db: &Db,
    hub_url: &str,
    joined: &JoinResponse,
    address: &str,
    tls_key_pem: &str,
    now: DateTime<Utc>,
) -> Result<(), FederationError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO gateway_federation (id, hub_url, instance, gateway_id, address, anchor_key_id, \
             anchor_public_pem, ca_cert_pem, tls_key_pem, tls_cert_pem, joined_at) \
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET hub_url = excluded.hub_url, instance = excluded.instance, \
             gateway_id = excluded.gateway_id, address = excluded.address, anchor_key_id = excluded.anchor_key_id, \
             anchor_public_pem = excluded.anchor_public_pem, ca_cert_pem = excluded.ca_cert_pem, \
             tls_key_pem = excluded.tls_key_pem, tls_cert_pem = excluded.tls_cert_pem, \
             conf_payload = NULL, conf_signature = NULL, conf_serial = NULL, conf_fetched_at = NULL, \
             joined_at = excluded.joined_at",
        )
        .bind(hub_url)
        .bind(&joined.instance)
        .bind(&joined.gateway_id)
        .bind(address)
        .bind(&joined.anchor_key_id)
        .bind(&joined.anchor_public_pem)
        .bind(&joined.ca_cert_pem)
        .bind(tls_key_pem)
        .bind(&joined.tls_cert_pem)
        .bind(now.timestamp_millis())
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The signed list of this gateway's own member's subsystems, as sent to
/// the hub.
async fn subsystems_request(
    db: &Db,
    membership: &Membership,
    now: DateTime<Utc>,
) -> Result<(Vec<u8>, String, usize), FederationError> {
    let (signing, _) = gateway::keys(db).await?;
    let member = crate::id::ClientId::parse(&membership.gateway_id)
        .ok()
        .map(|gateway| gateway.member().to_string());
    let request = SubsystemsRequest {
        gateway_id: membership.gateway_id.clone(),
        // Only the subsystems of the member that owns this gateway are the
        // federation's business; others (a demo hosts several members) stay local.
        subsystems: store::subsystems(db)
            .await?
            .into_iter()
            .filter(|row| crate::id::ClientId::parse(&row.id).is_ok_and(|id| Some(id.member().to_string()) == member))
            .map(|row| NamedSubsystem {
                id: row.id,
                name: row.name,
            })
            .collect(),
        at: now.timestamp_millis(),
    };
    let body = serde_json::to_vec(&request)?;
    let signature = signing.sign(Kind::HubRequest, &message::document_hash(&body));
    Ok((
        body,
        format!("{}:{signature}", signing.key_id),
        request.subsystems.len(),
    ))
}

/// Joins the federation whose hub this very instance is (the demo, which
/// holds both roles): the same steps as over the network, in process.
/// Nothing happens if this gateway has joined already.
pub async fn join_own_hub(
    db: &Db,
    hub_url: &str,
    gateway_id: &crate::id::ClientId,
    address: &str,
    now: DateTime<Utc>,
) -> Result<bool, FederationError> {
    if membership(db).await?.is_some() {
        return Ok(false);
    }
    let hub_error = |error: crate::hub::HubError| FederationError::Refused(error.to_string());
    let token = crate::hub::issue_token(db, "system:demo", gateway_id, now)
        .await
        .map_err(hub_error)?;
    let (request, tls_key) = join_request(db, &token, address).await?;
    let joined = crate::hub::join(db, &request, now).await.map_err(hub_error)?;
    store_membership(db, hub_url, &joined, address, &tls_key.serialize_pem(), now).await?;
    let membership = membership(db).await?.ok_or(FederationError::NotJoined)?;
    let (body, signature, _) = subsystems_request(db, &membership, now).await?;
    crate::hub::set_subsystems(db, &body, &signature, now)
        .await
        .map_err(hub_error)?;
    let signed = crate::hub::configuration(db, now).await.map_err(hub_error)?;
    let conf = signed.open(&membership.anchor()?, &membership.instance, None)?;
    store_conf(db, &signed, conf.serial, now).await?;
    Ok(true)
}

async fn store_conf(db: &Db, signed: &SignedConf, serial: i64, now: DateTime<Utc>) -> Result<(), FederationError> {
    with_pool!(db, pool => {
        sqlx::query(
            "UPDATE gateway_federation SET conf_payload = $1, conf_signature = $2, conf_serial = $3, \
             conf_fetched_at = $4 WHERE id = 1",
        )
        .bind(&signed.payload)
        .bind(&signed.signature)
        .bind(serial)
        .bind(now.timestamp_millis())
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Tells the hub which subsystems this gateway serves (all those it has
/// registered), signed with its message-signing key.
pub async fn push_subsystems(db: &Db, now: DateTime<Utc>) -> Result<usize, FederationError> {
    let membership = membership(db).await?.ok_or(FederationError::NotJoined)?;
    let (body, signature, count) = subsystems_request(db, &membership, now).await?;
    let response = client()?
        .post(format!("{}/hub/v1/subsystems", membership.hub_url))
        .header(GATEWAY_SIGNATURE_HEADER, signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|error| FederationError::Network(error.to_string()))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    Ok(count)
}

/// Downloads the hub's configuration, verifies it against the anchor
/// (and that it is not older than the one held), and stores it.
pub async fn refresh(db: &Db, now: DateTime<Utc>) -> Result<GlobalConf, FederationError> {
    let membership = membership(db).await?.ok_or(FederationError::NotJoined)?;
    let response = client()?
        .get(format!("{}/hub/v1/configuration", membership.hub_url))
        .send()
        .await
        .map_err(|error| FederationError::Network(error.to_string()))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let signed: SignedConf = response
        .json()
        .await
        .map_err(|error| FederationError::Network(error.to_string()))?;
    if signed.key_id != membership.anchor_key_id {
        return Err(FederationError::Conf(ConfError::Signature(message::KeyError::Unknown(
            signed.key_id,
        ))));
    }
    let conf = signed.open(&membership.anchor()?, &membership.instance, membership.conf_serial)?;
    store_conf(db, &signed, conf.serial, now).await?;
    Ok(conf)
}

/// Has the hub time-stamp the message log up to its newest record, if
/// anything was logged since the last time-stamp; the sequence number
/// stamped.
pub async fn stamp(db: &Db) -> Result<Option<i64>, FederationError> {
    let membership = membership(db).await?.ok_or(FederationError::NotJoined)?;
    let Some((seq, hash)) = crate::log::head(db).await? else {
        return Ok(None);
    };
    if crate::log::stamped_up_to(db)
        .await?
        .is_some_and(|stamped| stamped >= seq)
    {
        return Ok(None);
    }
    let response = client()?
        .post(format!("{}/hub/v1/timestamp", membership.hub_url))
        .json(&serde_json::json!({ "hash": hash }))
        .send()
        .await
        .map_err(|error| FederationError::Network(error.to_string()))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let token: conf::TimestampToken = response
        .json()
        .await
        .map_err(|error| FederationError::Network(error.to_string()))?;
    if token.hash != hash {
        return Err(FederationError::Refused("the hub stamped another hash".to_owned()));
    }
    token.verify(&membership.anchor()?)?;
    crate::log::store_timestamp(db, seq, &token).await?;
    Ok(Some(seq))
}
