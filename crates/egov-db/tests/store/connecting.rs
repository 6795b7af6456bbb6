//! Choosing the engine from a URL and failing fast when it is unreachable.

use std::time::Duration;

use egov_db::{Db, DbError, Engine, PoolSettings};

#[test]
fn a_url_scheme_other_than_sqlite_or_postgres_is_rejected() {
    let error = Engine::from_url("mysql://x").expect_err("MySQL is not supported");
    assert!(
        matches!(&error, DbError::UnsupportedScheme(scheme) if scheme == "mysql"),
        "{error:?}"
    );
    assert_eq!(Engine::from_url("sqlite://egov.db").expect("SQLite"), Engine::Sqlite);
    assert_eq!(
        Engine::from_url("postgres://h/db").expect("PostgreSQL"),
        Engine::Postgres
    );
    assert_eq!(
        Engine::from_url("postgresql://h/db").expect("PostgreSQL"),
        Engine::Postgres
    );
}

#[tokio::test]
async fn connecting_to_an_unreachable_postgres_fails_instead_of_hanging() {
    let settings = PoolSettings {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(2),
    };
    // Nothing listens on port 1 of the loopback interface.
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        Db::connect("postgres://postgres@127.0.0.1:1/none", &settings),
    )
    .await
    .expect("Db::connect gave up long before 30 s");
    let error = outcome.expect_err("there is no server to connect to");
    assert!(matches!(error, DbError::Connect(_)), "{error:?}");
}
