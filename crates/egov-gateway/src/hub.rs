//! The hub role (NGSP): the federation's member registry, its certificate
//! authority, and its signed configuration. It owns the `hub_*` tables.
//!
//! A member's gateway joins with a one-time token the hub's operator
//! issued for it: the hub checks the token (unused, unexpired, kept only
//! as a hash), issues the gateway's TLS certificate for the public key it
//! sent (the private key never leaves the gateway), records its
//! message-signing key, and answers with the anchor (the key that signs
//! the configuration), authenticated by an HMAC keyed with the token.
//! The gateway then tells the hub which subsystems it serves, in requests
//! signed with its message-signing key. Every change raises the
//! configuration's serial; gateways download the configuration and verify
//! it against the anchor.
//!
//! Revocation: a revoked gateway stays in the configuration marked
//! revoked, so every other gateway refuses it, whatever its certificate's
//! dates say.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Datelike as _, Duration, Utc};
use egov_db::audit::{self, AuditEntry};
use egov_db::{Db, DbError, Tx, with_pool, with_tx};
use rand_core_06::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::conf::{
    ConfGateway, ConfMember, ConfSubsystem, GlobalConf, JoinRequest, JoinResponse, SignedConf, SubsystemsRequest,
};
use crate::id::ClientId;
use crate::message::{self, GatewayKey, Kind, TrustedKeys};

/// How long a registration token may wait to be used.
pub const TOKEN_LIFETIME: Duration = Duration::hours(24);
/// How long a member TLS certificate is valid.
const CERTIFICATE_YEARS: i32 = 2;
/// How far a gateway's request may be off the hub's clock.
const REQUEST_SKEW: Duration = Duration::minutes(5);

/// Why a hub operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("this instance is not a hub: run `egov hub init` first")]
    NotAHub,
    #[error("this instance is already the hub of {0}")]
    AlreadyAHub(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the registration token is unknown, used or expired")]
    BadToken,
    #[error("the request is not signed by a gateway of this federation: {0}")]
    NotAuthenticated(String),
    #[error("the certificate could not be made: {0}")]
    Certificate(String),
    #[error(transparent)]
    Key(#[from] message::KeyError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for HubError {
    fn from(error: sqlx::Error) -> HubError {
        HubError::Db(DbError::from(error))
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct HubRow {
    instance: String,
    ca_key_pem: String,
    ca_cert_pem: String,
    conf_key_id: String,
    conf_private_pem: String,
    conf_public_pem: String,
    conf_serial: i64,
}

async fn state(db: &Db) -> Result<Option<HubRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT instance, ca_key_pem, ca_cert_pem, conf_key_id, conf_private_pem, conf_public_pem, conf_serial \
             FROM hub_state WHERE id = 1",
        )
        .fetch_optional(pool)
        .await?
    }))
}

async fn require(db: &Db) -> Result<HubRow, HubError> {
    state(db).await?.ok_or(HubError::NotAHub)
}

/// A certificate date: midnight UTC of `at`'s day.
macro_rules! day {
    ($at:expr) => {{
        let at: DateTime<Utc> = $at;
        // A date chrono holds is a valid calendar date, month and day in range.
        rcgen::date_time_ymd(
            at.year(),
            u8::try_from(at.month()).unwrap_or(1),
            u8::try_from(at.day()).unwrap_or(1),
        )
    }};
}

/// The CA's parameters: rebuilt alike each time it issues, so only its key
/// and certificate need storing.
fn ca_params(instance: &str, now: DateTime<Utc>) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("egov federation CA {instance}"));
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, format!("egov {instance}"));
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = day!(now - Duration::days(1));
    params.not_after = day!(now + Duration::days(365 * 20));
    params
}

/// Makes this instance the hub of federation `instance`: its CA and its
/// configuration-signing key.
pub async fn init(db: &Db, actor: &str, instance: &str, now: DateTime<Utc>) -> Result<(), HubError> {
    crate::id::check_part(instance, "X-Road instance").map_err(|error| HubError::Invalid(error.0))?;
    if let Some(existing) = state(db).await? {
        return Err(HubError::AlreadyAHub(existing.instance));
    }
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|error| HubError::Certificate(error.to_string()))?;
    let ca_cert = ca_params(instance, now)
        .self_signed(&ca_key)
        .map_err(|error| HubError::Certificate(error.to_string()))?;
    let conf_key = GatewayKey::generate(format!("hub-{}", egov_core::id::new_id().simple()));
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO hub_state (id, instance, ca_key_pem, ca_cert_pem, conf_key_id, conf_private_pem, \
             conf_public_pem, conf_serial, created_at) VALUES (1, $1, $2, $3, $4, $5, $6, 1, $7)",
        )
        .bind(instance)
        .bind(ca_key.serialize_pem())
        .bind(ca_cert.pem())
        .bind(&conf_key.key_id)
        .bind(conf_key.private_pem()?)
        .bind(conf_key.public_pem()?)
        .bind(now.timestamp_millis())
        .execute(&mut *conn)
        .await?;
    });
    audit_in(
        &mut tx,
        actor,
        "hub.initialised",
        &format!("hub:{instance}"),
        serde_json::json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn audit_in(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    audit::record(
        tx,
        &AuditEntry {
            actor,
            action,
            subject,
            detail,
            ip: None,
        },
        now,
    )
    .await
    .map(drop)
}

/// Ends a change of the federation's configuration: a new serial, the
/// audit record, the commit.
async fn changed(
    mut tx: Tx,
    actor: &str,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    bump_serial(&mut tx).await?;
    audit_in(&mut tx, actor, action, subject, detail, now).await?;
    tx.commit().await
}

async fn bump_serial(tx: &mut Tx) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE hub_state SET conf_serial = conf_serial + 1 WHERE id = 1")
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Registers (or renames) a member of the federation.
pub async fn add_member(
    db: &Db,
    actor: &str,
    member: &ClientId,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), HubError> {
    let hub = require(db).await?;
    if member.subsystem.is_some() || member.instance != hub.instance {
        return Err(HubError::Invalid(format!(
            "A member is {}/CLASS/CODE in this federation",
            hub.instance
        )));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(HubError::Invalid("A member's name has 1 to 200 characters".to_owned()));
    }
    let id = member.to_string();
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO hub_members (id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(&id)
        .bind(name)
        .bind(now.timestamp_millis())
        .execute(&mut *conn)
        .await?;
    });
    changed(
        tx,
        actor,
        "hub.member_registered",
        &format!("member:{id}"),
        serde_json::json!({ "name": name }),
        now,
    )
    .await?;
    Ok(())
}

fn token_hash(token: &str) -> String {
    STANDARD.encode(Sha256::digest(token.as_bytes()))
}

/// Issues a one-time token for a member's gateway `INSTANCE/CLASS/MEMBER/CODE`
/// to join with; shown once, kept only as a hash.
pub async fn issue_token(db: &Db, actor: &str, gateway: &ClientId, now: DateTime<Utc>) -> Result<String, HubError> {
    let hub = require(db).await?;
    if gateway.subsystem.is_none() || gateway.instance != hub.instance {
        return Err(HubError::Invalid(format!(
            "A gateway is {}/CLASS/MEMBER/CODE in this federation",
            hub.instance
        )));
    }
    let member = gateway.member().to_string();
    let known: Option<String> = with_pool!(db, pool => {
        sqlx::query_scalar("SELECT id FROM hub_members WHERE id = $1").bind(&member).fetch_optional(pool).await?
    });
    if known.is_none() {
        return Err(HubError::Invalid(format!("{member} is not a member: add it first")));
    }
    let mut bytes = [0_u8; 32];
    rand_core_06::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO hub_registration_tokens (token_hash, gateway_id, member_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash(&token))
        .bind(gateway.to_string())
        .bind(&member)
        .bind((now + TOKEN_LIFETIME).timestamp_millis())
        .execute(&mut *conn)
        .await?;
    });
    audit_in(
        &mut tx,
        actor,
        "hub.token_issued",
        &format!("gateway:{gateway}"),
        serde_json::json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// A public key as the joining gateway sent it: the raw P-256 point.
struct RawP256(Vec<u8>);

impl rcgen::PublicKeyData for RawP256 {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// The host of a gateway address `https://host:port`.
fn address_host(address: &str) -> Result<String, HubError> {
    let url = reqwest::Url::parse(address).map_err(|_| HubError::Invalid("The address is not a URL".to_owned()))?;
    if url.scheme() != "https" || url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(HubError::Invalid(
            "A gateway's address is https://host[:port]".to_owned(),
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| HubError::Invalid("The address has no host".to_owned()))?;
    Ok(host.trim_start_matches('[').trim_end_matches(']').to_owned())
}

/// A gateway joins: the token is spent, its TLS certificate issued.
pub async fn join(db: &Db, request: &JoinRequest, now: DateTime<Utc>) -> Result<JoinResponse, HubError> {
    let hub = require(db).await?;
    let host = address_host(&request.address)?;
    let public_key = STANDARD
        .decode(&request.tls_public_key)
        .ok()
        .filter(|key| key.len() == 65 && key[0] == 4)
        .ok_or_else(|| HubError::Invalid("The TLS public key is not a raw P-256 point".to_owned()))?;
    // The signing key must be one the gateway can use.
    let mut check = TrustedKeys::default();
    check.insert_pem(&request.signing_key_id, &request.signing_public_pem)?;

    let mut tx = db.begin().await?;
    let spent: Option<(String, String)> = with_tx!(&mut tx, conn => {
        sqlx::query_as(
            "UPDATE hub_registration_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING gateway_id, member_id",
        )
        .bind(now.timestamp_millis())
        .bind(token_hash(&request.token))
        .fetch_optional(&mut *conn)
        .await?
    });
    let Some((gateway_id, member_id)) = spent else {
        tx.rollback().await?;
        return Err(HubError::BadToken);
    };

    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, gateway_id.clone());
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, member_id.clone());
    params.subject_alt_names = vec![match host.parse::<IpAddr>() {
        Ok(ip) => rcgen::SanType::IpAddress(ip),
        Err(_) => rcgen::SanType::DnsName(
            host.clone()
                .try_into()
                .map_err(|_| HubError::Invalid("The address's host is not a DNS name".to_owned()))?,
        ),
    }];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let mut serial = [0_u8; 16];
    rand_core_06::OsRng.fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.not_before = day!(now - Duration::days(1));
    params.not_after = day!(now + Duration::days(365 * i64::from(CERTIFICATE_YEARS)));
    let ca_key = rcgen::KeyPair::from_pem(&hub.ca_key_pem).map_err(|error| HubError::Certificate(error.to_string()))?;
    let issuer = rcgen::Issuer::new(ca_params(&hub.instance, now), ca_key);
    let certificate = params
        .signed_by(&RawP256(public_key), &issuer)
        .map_err(|error| HubError::Certificate(error.to_string()))?;
    let serial_hex = crate::log::hex(&serial);

    with_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO hub_gateways (id, member_id, address, tls_cert_pem, tls_serial, signing_key_id, \
             signing_public_pem, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, tls_cert_pem = excluded.tls_cert_pem, \
             tls_serial = excluded.tls_serial, signing_key_id = excluded.signing_key_id, \
             signing_public_pem = excluded.signing_public_pem, registered_at = excluded.registered_at, revoked_at = NULL",
        )
        .bind(&gateway_id)
        .bind(&member_id)
        .bind(&request.address)
        .bind(certificate.pem())
        .bind(&serial_hex)
        .bind(&request.signing_key_id)
        .bind(&request.signing_public_pem)
        .bind(now.timestamp_millis())
        .execute(&mut *conn)
        .await?;
    });
    changed(
        tx,
        &format!("gateway:{gateway_id}"),
        "hub.gateway_joined",
        &format!("gateway:{gateway_id}"),
        serde_json::json!({ "address": request.address, "serial": serial_hex }),
        now,
    )
    .await?;
    Ok(JoinResponse {
        instance: hub.instance,
        gateway_id,
        tls_cert_pem: certificate.pem(),
        ca_cert_pem: hub.ca_cert_pem,
        anchor_key_id: hub.conf_key_id,
        anchor_public_pem: hub.conf_public_pem,
    })
}

#[derive(Debug, sqlx::FromRow)]
struct GatewayRow {
    id: String,
    member_id: String,
    address: String,
    tls_cert_pem: String,
    signing_key_id: String,
    signing_public_pem: String,
    revoked_at: Option<i64>,
}

async fn gateways(db: &Db) -> Result<Vec<GatewayRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, member_id, address, tls_cert_pem, signing_key_id, signing_public_pem, revoked_at \
             FROM hub_gateways ORDER BY id",
        )
        .fetch_all(pool)
        .await?
    }))
}

/// A gateway replaces the list of subsystems it serves. The request must
/// be signed with the gateway's key, recent, and name only subsystems of
/// the gateway's own member.
pub async fn set_subsystems(
    db: &Db,
    body: &[u8],
    signature_header: &str,
    now: DateTime<Utc>,
) -> Result<usize, HubError> {
    require(db).await?;
    let request: SubsystemsRequest = serde_json::from_slice(body)?;
    let gateway = gateways(db)
        .await?
        .into_iter()
        .find(|gateway| gateway.id == request.gateway_id && gateway.revoked_at.is_none())
        .ok_or_else(|| HubError::NotAuthenticated("unknown or revoked gateway".to_owned()))?;
    let (key_id, signature) = signature_header
        .split_once(':')
        .ok_or_else(|| HubError::NotAuthenticated("the signature header is key_id:signature".to_owned()))?;
    if key_id != gateway.signing_key_id {
        return Err(HubError::NotAuthenticated("not the gateway's key".to_owned()));
    }
    let mut keys = TrustedKeys::default();
    keys.insert_pem(&gateway.signing_key_id, &gateway.signing_public_pem)?;
    keys.verify(key_id, Kind::HubRequest, &message::document_hash(body), signature)
        .map_err(|error| HubError::NotAuthenticated(error.to_string()))?;
    let at = DateTime::<Utc>::from_timestamp_millis(request.at)
        .ok_or_else(|| HubError::NotAuthenticated("bad time".to_owned()))?;
    if (now - at).abs() > REQUEST_SKEW {
        return Err(HubError::NotAuthenticated(
            "the request is too old or from the future".to_owned(),
        ));
    }
    let mut ids = Vec::with_capacity(request.subsystems.len());
    for subsystem in &request.subsystems {
        let id = ClientId::parse(&subsystem.id).map_err(|error| HubError::Invalid(error.0))?;
        if id.subsystem.is_none() || id.member().to_string() != gateway.member_id {
            return Err(HubError::Invalid(format!(
                "{} is not a subsystem of {}, the gateway's member",
                subsystem.id, gateway.member_id
            )));
        }
        let name = subsystem.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(HubError::Invalid(
                "A subsystem's name has 1 to 200 characters".to_owned(),
            ));
        }
        ids.push((id.to_string(), name.to_owned()));
    }
    // Nodes repeat their list at every refresh: an unchanged one writes
    // nothing and leaves the configuration's serial alone.
    let mut current: Vec<(String, String)> = with_pool!(db, pool => {
        sqlx::query_as("SELECT id, name FROM hub_subsystems WHERE gateway_id = $1")
            .bind(&gateway.id)
            .fetch_all(pool)
            .await?
    });
    current.sort();
    let mut wanted = ids.clone();
    wanted.sort();
    if current == wanted {
        return Ok(ids.len());
    }
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, conn => {
        sqlx::query("DELETE FROM hub_subsystems WHERE gateway_id = $1")
            .bind(&gateway.id)
            .execute(&mut *conn)
            .await?;
        for (id, name) in &ids {
            // A subsystem moves to the gateway that now claims it (of its own member).
            sqlx::query(
                "INSERT INTO hub_subsystems (id, gateway_id, name) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET gateway_id = excluded.gateway_id, name = excluded.name",
            )
            .bind(id)
            .bind(&gateway.id)
            .bind(name)
            .execute(&mut *conn)
            .await?;
        }
    });
    changed(
        tx,
        &format!("gateway:{}", gateway.id),
        "hub.subsystems_registered",
        &format!("gateway:{}", gateway.id),
        serde_json::json!({ "subsystems": ids.iter().map(|(id, _)| id).collect::<Vec<_>>() }),
        now,
    )
    .await?;
    Ok(ids.len())
}

/// Revokes a gateway: every other gateway refuses it from their next
/// configuration on.
pub async fn revoke_gateway(db: &Db, actor: &str, gateway_id: &str, now: DateTime<Utc>) -> Result<bool, HubError> {
    require(db).await?;
    let mut tx = db.begin().await?;
    let revoked = with_tx!(&mut tx, conn => {
        sqlx::query("UPDATE hub_gateways SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now.timestamp_millis())
            .bind(gateway_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    }) > 0;
    if revoked {
        bump_serial(&mut tx).await?;
        audit_in(
            &mut tx,
            actor,
            "hub.gateway_revoked",
            &format!("gateway:{gateway_id}"),
            serde_json::json!({}),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

/// The federation's configuration as it stands, signed.
pub async fn configuration(db: &Db, now: DateTime<Utc>) -> Result<SignedConf, HubError> {
    let hub = require(db).await?;
    let members: Vec<(String, String)> = with_pool!(db, pool => {
        sqlx::query_as("SELECT id, name FROM hub_members ORDER BY id").fetch_all(pool).await?
    });
    let subsystems: Vec<(String, String, String)> = with_pool!(db, pool => {
        sqlx::query_as("SELECT id, name, gateway_id FROM hub_subsystems ORDER BY id").fetch_all(pool).await?
    });
    let conf = GlobalConf {
        instance: hub.instance.clone(),
        serial: hub.conf_serial,
        generated_at: now.timestamp_millis(),
        ca_cert_pem: hub.ca_cert_pem.clone(),
        members: members.into_iter().map(|(id, name)| ConfMember { id, name }).collect(),
        gateways: gateways(db)
            .await?
            .into_iter()
            .map(|row| ConfGateway {
                id: row.id,
                member: row.member_id,
                address: row.address,
                tls_cert_pem: row.tls_cert_pem,
                signing_key_id: row.signing_key_id,
                signing_public_pem: row.signing_public_pem,
                revoked: row.revoked_at.is_some(),
            })
            .collect(),
        subsystems: subsystems
            .into_iter()
            .map(|(id, name, gateway)| ConfSubsystem { id, name, gateway })
            .collect(),
        groups: Vec::new(),
    };
    let mut conf = conf;
    let groups: Vec<(String, String)> = with_pool!(db, pool => {
        sqlx::query_as("SELECT code, description FROM hub_global_groups ORDER BY code").fetch_all(pool).await?
    });
    let members: Vec<(String, String)> = with_pool!(db, pool => {
        sqlx::query_as("SELECT group_code, client_id FROM hub_global_group_members ORDER BY group_code, client_id")
            .fetch_all(pool)
            .await?
    });
    conf.groups = groups
        .into_iter()
        .map(|(code, description)| crate::conf::ConfGroup {
            members: members
                .iter()
                .filter(|(group, _)| *group == code)
                .map(|(_, client)| client.clone())
                .collect(),
            code,
            description,
        })
        .collect();
    let key = GatewayKey::from_pem(hub.conf_key_id.clone(), &hub.conf_private_pem)?;
    Ok(SignedConf::sign(&conf, &key)?)
}

/// The hub's time-stamping service: signs a hash with the time it sees
/// it. Anyone may ask (a time-stamp reveals nothing and proves only that
/// the hash existed then); the hash is 64 hexadecimal digits.
pub async fn timestamp(db: &Db, hash: &str, now: DateTime<Utc>) -> Result<crate::conf::TimestampToken, HubError> {
    let hub = require(db).await?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HubError::Invalid("The hash is 64 hexadecimal digits".to_owned()));
    }
    let key = GatewayKey::from_pem(hub.conf_key_id.clone(), &hub.conf_private_pem)?;
    Ok(crate::conf::TimestampToken::sign(hash, now.timestamp_millis(), &key))
}

/// Creates (or describes again) a global group.
pub async fn add_group(
    db: &Db,
    actor: &str,
    code: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<(), HubError> {
    require(db).await?;
    crate::id::check_part(code, "group code").map_err(|error| HubError::Invalid(error.0))?;
    let description = description.trim();
    if description.is_empty() || description.chars().count() > 200 {
        return Err(HubError::Invalid(
            "A group's description has 1 to 200 characters".to_owned(),
        ));
    }
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO hub_global_groups (code, description, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (code) DO UPDATE SET description = excluded.description",
        )
        .bind(code)
        .bind(description)
        .bind(now.timestamp_millis())
        .execute(&mut *conn)
        .await?;
    });
    changed(
        tx,
        actor,
        "hub.group_registered",
        &format!("group:{code}"),
        serde_json::json!({ "description": description }),
        now,
    )
    .await?;
    Ok(())
}

/// Adds a member or subsystem of the federation to a global group.
pub async fn add_group_member(
    db: &Db,
    actor: &str,
    code: &str,
    client: &ClientId,
    now: DateTime<Utc>,
) -> Result<(), HubError> {
    let hub = require(db).await?;
    if client.instance != hub.instance {
        return Err(HubError::Invalid(format!(
            "{client} is not of the federation {}",
            hub.instance
        )));
    }
    let mut tx = db.begin().await?;
    let known: Option<String> = with_tx!(&mut tx, conn => {
        sqlx::query_scalar("SELECT code FROM hub_global_groups WHERE code = $1").bind(code).fetch_optional(&mut *conn).await?
    });
    if known.is_none() {
        tx.rollback().await?;
        return Err(HubError::Invalid(format!("No global group {code}")));
    }
    with_tx!(&mut tx, conn => {
        sqlx::query("INSERT INTO hub_global_group_members (group_code, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(code)
            .bind(client.to_string())
            .execute(&mut *conn)
            .await?;
    });
    changed(
        tx,
        actor,
        "hub.group_member_added",
        &format!("group:{code}"),
        serde_json::json!({ "client": client.to_string() }),
        now,
    )
    .await?;
    Ok(())
}

/// Whether this instance holds the hub role.
pub async fn is_hub(db: &Db) -> Result<bool, DbError> {
    Ok(state(db).await?.is_some())
}
