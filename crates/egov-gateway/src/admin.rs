//! Registering what the gateway serves, for the CLI, the demo and (later)
//! the operator's pages: subsystems, services, access rights. Each change
//! is checked first and written with its audit record in one transaction.
//! A node sees its own changes at once ([`Gateway::refresh`]), the others
//! within [`DIRECTORY_TTL`](crate::gateway::DIRECTORY_TTL).

use chrono::Utc;
use egov_db::audit::{self, AuditEntry};
use egov_db::{Db, DbError};

use crate::id::{BadIdentifier, ClientId, ServiceId};
use crate::store::{self, Endpoint, ServiceRow};

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Identifier(#[from] BadIdentifier),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Who may call through the gateway as a subsystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Only systems on the gateway's own host (or in its process).
    Loopback,
    /// Any system that reaches the gateway: for gateways on a closed
    /// network of agency systems.
    Open,
}

impl Connection {
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Loopback => "loopback",
            Connection::Open => "open",
        }
    }
}

/// A service to register.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub service: ServiceId,
    /// `local:NAME` or an `http(s)://` base URL.
    pub target: String,
    /// An OpenAPI 3 description in JSON; its paths become the endpoints.
    pub openapi: Option<String>,
    pub timeout_ms: i64,
}

/// The audit record of a registration, in its transaction.
async fn audit(
    tx: &mut egov_db::Tx,
    actor: &str,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
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
        Utc::now(),
    )
    .await
    .map(drop)
}

/// Registers (or renames) a subsystem this gateway serves.
pub async fn add_subsystem(
    db: &Db,
    actor: &str,
    subsystem: &ClientId,
    name: &str,
    connection: Connection,
) -> Result<(), AdminError> {
    if subsystem.subsystem.is_none() {
        return Err(AdminError::Invalid("A subsystem identifier has four parts".to_owned()));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AdminError::Invalid(
            "A subsystem's name has 1 to 200 characters".to_owned(),
        ));
    }
    let id = subsystem.to_string();
    let mut tx = db.begin().await?;
    store::upsert_subsystem(&mut tx, &id, name, connection.as_str()).await?;
    audit(
        &mut tx,
        actor,
        "gateway.subsystem_registered",
        &format!("subsystem:{id}"),
        serde_json::json!({ "name": name, "connection": connection.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Registers (or changes) a service of a registered subsystem.
pub async fn add_service(db: &Db, actor: &str, spec: &ServiceSpec) -> Result<(), AdminError> {
    check_target(&spec.target)?;
    if !(100..=300_000).contains(&spec.timeout_ms) {
        return Err(AdminError::Invalid("A service's timeout is 100 ms to 300 s".to_owned()));
    }
    let endpoints = match &spec.openapi {
        Some(description) => endpoints_of(description)?,
        None => vec![Endpoint {
            method: "*".to_owned(),
            path: "**".to_owned(),
        }],
    };
    let subsystem_id = spec.service.provider.to_string();
    if !store::subsystems(db).await?.iter().any(|row| row.id == subsystem_id) {
        return Err(AdminError::Invalid(format!(
            "{subsystem_id} is not a subsystem of this gateway"
        )));
    }
    let row = ServiceRow {
        subsystem_id,
        service_code: spec.service.service_code.clone(),
        target: spec.target.clone(),
        openapi: spec.openapi.clone(),
        endpoints: serde_json::to_string(&endpoints).map_err(DbError::from)?,
        timeout_ms: spec.timeout_ms,
    };
    let mut tx = db.begin().await?;
    store::upsert_service(&mut tx, &row).await?;
    audit(
        &mut tx,
        actor,
        "gateway.service_registered",
        &format!("service:{}", spec.service),
        serde_json::json!({ "target": spec.target, "endpoints": endpoints.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lets every member of a global group (`{instance}/{code}`) call a service.
pub async fn grant_group(
    db: &Db,
    actor: &str,
    service: &ServiceId,
    instance: &str,
    code: &str,
) -> Result<(), AdminError> {
    crate::id::check_part(instance, "X-Road instance")?;
    crate::id::check_part(code, "group code")?;
    let known = store::services(db)
        .await?
        .iter()
        .any(|row| row.subsystem_id == service.provider.to_string() && row.service_code == service.service_code);
    if !known {
        return Err(AdminError::Invalid(format!(
            "{service} is not a service of this gateway"
        )));
    }
    let group = format!("{}{instance}/{code}", crate::conf::GROUP_PREFIX);
    let mut tx = db.begin().await?;
    store::grant(&mut tx, &service.provider.to_string(), &service.service_code, &group).await?;
    audit(
        &mut tx,
        actor,
        "gateway.access_granted",
        &format!("service:{service}"),
        serde_json::json!({ "client": group }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lets a client (a member, or one of its subsystems) call a service.
pub async fn grant(db: &Db, actor: &str, service: &ServiceId, client: &ClientId) -> Result<(), AdminError> {
    let known = store::services(db)
        .await?
        .iter()
        .any(|row| row.subsystem_id == service.provider.to_string() && row.service_code == service.service_code);
    if !known {
        return Err(AdminError::Invalid(format!(
            "{service} is not a service of this gateway"
        )));
    }
    let mut tx = db.begin().await?;
    store::grant(
        &mut tx,
        &service.provider.to_string(),
        &service.service_code,
        &client.to_string(),
    )
    .await?;
    audit(
        &mut tx,
        actor,
        "gateway.access_granted",
        &format!("service:{service}"),
        serde_json::json!({ "client": client.to_string() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Takes a client's right to a service away; false if it had none.
pub async fn revoke(db: &Db, actor: &str, service: &ServiceId, client: &ClientId) -> Result<bool, AdminError> {
    let mut tx = db.begin().await?;
    let revoked = store::revoke(
        &mut tx,
        &service.provider.to_string(),
        &service.service_code,
        &client.to_string(),
    )
    .await?;
    if revoked {
        audit(
            &mut tx,
            actor,
            "gateway.access_revoked",
            &format!("service:{service}"),
            serde_json::json!({ "client": client.to_string() }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

/// Makes a subsystem of this gateway a publish/subscribe room: its
/// services `pub`, `api` and `pull` (grant publishers `pub`, subscribers
/// `api` and `pull`), and the event types given (any JSON object).
pub async fn add_room(db: &Db, actor: &str, room: &ClientId, event_types: &[String]) -> Result<(), AdminError> {
    for service in ["pub", "api", "pull"] {
        add_service(
            db,
            actor,
            &ServiceSpec {
                service: ServiceId::new(room.clone(), service)?,
                target: crate::pubsub::room_target(room, service),
                openapi: None,
                timeout_ms: 30_000,
            },
        )
        .await?;
    }
    let now = Utc::now().timestamp_millis();
    for event_type in event_types {
        let valid = !event_type.is_empty()
            && event_type.len() <= 100
            && event_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(AdminError::Invalid(format!("{event_type} is not an event type")));
        }
        egov_db::with_pool!(db, pool => {
            sqlx::query(
                "INSERT INTO gateway_event_types (room, event_type, schema, created_at) VALUES ($1, $2, $3, $4)                  ON CONFLICT DO NOTHING",
            )
            .bind(room.to_string())
            .bind(event_type)
            .bind(r#"{"type":"object"}"#)
            .bind(now)
            .execute(pool)
            .await
            .map_err(DbError::from)?;
        });
    }
    Ok(())
}

/// A target is `local:NAME[/base/path]`, or an http(s) URL without
/// credentials, query or fragment (the call's path and query are appended
/// to either).
fn check_target(target: &str) -> Result<(), AdminError> {
    if let Some(local) = target.strip_prefix("local:") {
        let (name, base) = local.split_once('/').map_or((local, ""), |(name, base)| (name, base));
        let plain = |text: &str| {
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let base_ok = base.is_empty()
            || base
                .split('/')
                .all(|segment| !segment.is_empty() && plain(segment) && segment != "." && segment != "..");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || !base_ok {
            return Err(AdminError::Invalid(
                "A local service is local:NAME[/base/path], of letters, digits, '-', '_' and '.'".to_owned(),
            ));
        }
        return Ok(());
    }
    let url = reqwest::Url::parse(target)
        .map_err(|error| AdminError::Invalid(format!("The service's address is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || url.host().is_none()
    {
        return Err(AdminError::Invalid(
            "A service's address is http(s)://host[:port][/path], without credentials, query or fragment".to_owned(),
        ));
    }
    Ok(())
}

/// The endpoints of an OpenAPI 3 description in JSON, as listMethods shows
/// them: each path with its parameters as `*`.
pub fn endpoints_of(description: &str) -> Result<Vec<Endpoint>, AdminError> {
    let document: serde_json::Value = serde_json::from_str(description)
        .map_err(|error| AdminError::Invalid(format!("The OpenAPI description is not JSON: {error}")))?;
    if !document["openapi"]
        .as_str()
        .is_some_and(|version| version.starts_with("3."))
    {
        return Err(AdminError::Invalid("The description is not OpenAPI 3".to_owned()));
    }
    let Some(paths) = document["paths"].as_object() else {
        return Err(AdminError::Invalid("The OpenAPI description has no paths".to_owned()));
    };
    let mut endpoints = Vec::new();
    for (path, item) in paths {
        let pattern: Vec<&str> = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') && segment.ends_with('}') {
                    "*"
                } else {
                    segment
                }
            })
            .collect();
        let pattern = pattern.join("/");
        for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
            if item.get(method).is_some() {
                endpoints.push(Endpoint {
                    method: method.to_ascii_uppercase(),
                    path: pattern.clone(),
                });
            }
        }
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_local_names_or_plain_http_urls() {
        for target in [
            "local:registry",
            "local:registry/registry/data/population/1.0",
            "https://registry.example/api",
            "http://10.0.0.5:8080",
        ] {
            assert!(check_target(target).is_ok(), "{target}");
        }
        for target in [
            "local:",
            "local:../x",
            "local:registry/../admin",
            "local:registry//x",
            "local:registry/a%2Fb",
            "ftp://registry.example",
            "https://user:pw@registry.example",
            "https://registry.example/?a=1",
            "https://registry.example/#x",
            "file:///etc/passwd",
        ] {
            assert!(check_target(target).is_err(), "{target}");
        }
    }

    #[test]
    fn an_openapi_description_gives_its_endpoints_with_parameters_as_stars() {
        let endpoints =
            endpoints_of(r#"{"openapi":"3.0.3","paths":{"/persons/{id}":{"get":{},"put":{}},"/persons":{"post":{}}}}"#)
                .expect("endpoints");
        assert!(endpoints.contains(&Endpoint {
            method: "GET".to_owned(),
            path: "/persons/*".to_owned()
        }));
        assert!(endpoints.contains(&Endpoint {
            method: "POST".to_owned(),
            path: "/persons".to_owned()
        }));
        assert_eq!(endpoints.len(), 3);
        assert!(endpoints_of(r#"{"swagger":"2.0","paths":{}}"#).is_err());
        assert!(endpoints_of("openapi: 3.0.0").is_err());
    }
}
