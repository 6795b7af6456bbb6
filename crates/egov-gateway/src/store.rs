//! The gateway's SQL for what it serves: subsystems, services, access
//! rights and signing keys (the message log has its own module).

use egov_db::{Db, DbError, Tx, epoch_millis, with_pool, with_tx};
use serde::{Deserialize, Serialize};

/// A subsystem of this gateway, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubsystemRow {
    pub id: String,
    pub name: String,
    pub connection: String,
}

/// One endpoint of a service, as listMethods shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub method: String,
    pub path: String,
}

impl Endpoint {
    /// Whether a call fits this endpoint: the method (`*` for any) and the
    /// path, segment by segment, `*` for one segment and a last `**` for
    /// whatever follows. The service's root is `/`.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method != "*" && !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        if self.path == "**" || self.path == "/**" {
            return true;
        }
        let path = if path.is_empty() { "/" } else { path };
        let mut pattern = self.path.split('/');
        let mut segments = path.split('/');
        loop {
            match (pattern.next(), segments.next()) {
                (Some("**"), Some(segment)) => return !segment.is_empty() || segments.next().is_some(),
                (Some("*"), Some(segment)) if !segment.is_empty() => {}
                (Some(expected), Some(segment)) if expected == segment => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

/// A service, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ServiceRow {
    pub subsystem_id: String,
    pub service_code: String,
    pub target: String,
    pub openapi: Option<String>,
    pub endpoints: String,
    pub timeout_ms: i64,
}

impl ServiceRow {
    pub fn endpoints(&self) -> Vec<Endpoint> {
        serde_json::from_str(&self.endpoints).unwrap_or_default()
    }
}

#[tracing::instrument(skip(tx))]
pub async fn upsert_subsystem(tx: &mut Tx, id: &str, name: &str, connection: &str) -> Result<(), DbError> {
    let now = epoch_millis(chrono::Utc::now());
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO gateway_subsystems (id, name, connection, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, connection = excluded.connection",
        )
        .bind(id)
        .bind(name)
        .bind(connection)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn subsystems(db: &Db) -> Result<Vec<SubsystemRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as("SELECT id, name, connection FROM gateway_subsystems ORDER BY id")
            .fetch_all(pool)
            .await?
    }))
}

#[tracing::instrument(skip(tx, service), fields(subsystem = %service.subsystem_id, service = %service.service_code))]
pub async fn upsert_service(tx: &mut Tx, service: &ServiceRow) -> Result<(), DbError> {
    let now = epoch_millis(chrono::Utc::now());
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO gateway_services (subsystem_id, service_code, target, openapi, endpoints, timeout_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (subsystem_id, service_code) DO UPDATE SET target = excluded.target, \
             openapi = excluded.openapi, endpoints = excluded.endpoints, timeout_ms = excluded.timeout_ms",
        )
        .bind(&service.subsystem_id)
        .bind(&service.service_code)
        .bind(&service.target)
        .bind(service.openapi.as_deref())
        .bind(&service.endpoints)
        .bind(service.timeout_ms)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn services(db: &Db) -> Result<Vec<ServiceRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT subsystem_id, service_code, target, openapi, endpoints, timeout_ms FROM gateway_services \
             ORDER BY subsystem_id, service_code",
        )
        .fetch_all(pool)
        .await?
    }))
}

#[tracing::instrument(skip(tx))]
pub async fn grant(tx: &mut Tx, subsystem_id: &str, service_code: &str, client_id: &str) -> Result<(), DbError> {
    let now = epoch_millis(chrono::Utc::now());
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO gateway_access_rights (subsystem_id, service_code, client_id, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(subsystem_id)
        .bind(service_code)
        .bind(client_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

#[tracing::instrument(skip(tx))]
pub async fn revoke(tx: &mut Tx, subsystem_id: &str, service_code: &str, client_id: &str) -> Result<bool, DbError> {
    let done = with_tx!(tx, conn => {
        sqlx::query(
            "DELETE FROM gateway_access_rights WHERE subsystem_id = $1 AND service_code = $2 AND client_id = $3",
        )
        .bind(subsystem_id)
        .bind(service_code)
        .bind(client_id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(done > 0)
}

/// Every access right: (provider subsystem, service code, client).
pub async fn access_rights(db: &Db) -> Result<Vec<(String, String, String)>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as("SELECT subsystem_id, service_code, client_id FROM gateway_access_rights")
            .fetch_all(pool)
            .await?
    }))
}

/// A signing key as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub key_id: String,
    pub private_pem: String,
    pub public_pem: String,
    pub retired_at: Option<i64>,
}

pub async fn keys(db: &Db) -> Result<Vec<KeyRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as("SELECT key_id, private_pem, public_pem, retired_at FROM gateway_keys ORDER BY created_at")
            .fetch_all(pool)
            .await?
    }))
}

pub async fn insert_key(db: &Db, key_id: &str, private_pem: &str, public_pem: &str) -> Result<(), DbError> {
    let now = epoch_millis(chrono::Utc::now());
    with_pool!(db, pool => {
        sqlx::query("INSERT INTO gateway_keys (key_id, private_pem, public_pem, created_at) VALUES ($1, $2, $3, $4)")
            .bind(key_id)
            .bind(private_pem)
            .bind(public_pem)
            .bind(now)
            .execute(pool)
            .await?;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    fn endpoint(method: &str, path: &str) -> Endpoint {
        Endpoint {
            method: method.to_owned(),
            path: path.to_owned(),
        }
    }

    #[test]
    fn endpoints_match_by_method_and_path_segments() {
        assert!(endpoint("POST", "/read").matches("post", "/read"));
        assert!(!endpoint("POST", "/read").matches("PUT", "/read"));
        assert!(!endpoint("POST", "/read").matches("POST", "/read/x"));
        assert!(endpoint("GET", "/persons/*").matches("GET", "/persons/001090012345"));
        assert!(!endpoint("GET", "/persons/*").matches("GET", "/persons/"));
        assert!(!endpoint("GET", "/persons/*").matches("GET", "/persons/1/photo"));
        assert!(endpoint("GET", "/").matches("GET", ""));
        assert!(!endpoint("GET", "/").matches("GET", "/x"));
        assert!(endpoint("*", "**").matches("DELETE", "/anything/at/all"));
        assert!(endpoint("GET", "/files/**").matches("GET", "/files/a/b"));
        assert!(!endpoint("GET", "/files/**").matches("GET", "/files"));
    }
}
