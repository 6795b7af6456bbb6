//! Test support shared by every crate's integration tests.
//!
//! [`TestDb`] gives each test a database of its own, on SQLite always and on
//! PostgreSQL when `EGOV_TEST_POSTGRES_URL` names a server, so tests run in
//! parallel without seeing each other's rows. [`engine_test!`] writes one
//! test body once and runs it on both engines. [`TestServer`] serves a router
//! on a random loopback port for tests that speak real HTTP.
//!
//! When `CI=true`, a PostgreSQL that is not configured or not reachable fails
//! the test instead of skipping it.

use std::net::SocketAddr;

use egov_db::{Db, PoolSettings};

/// The variable that names the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "EGOV_TEST_POSTGRES_URL";

/// A database made for one test, dropped with it (SQLite) or left for the
/// next CI run to sweep (PostgreSQL databases named `egov_t_*`).
#[derive(Debug)]
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

impl TestDb {
    /// A fresh, migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("egov.db").display());
        let db = Db::connect(&url, &PoolSettings::default()).await.expect("open SQLite");
        db.migrate().await.expect("migrate SQLite");
        TestDb {
            db,
            url,
            _dir: Some(dir),
        }
    }

    /// A fresh, migrated PostgreSQL database, or `None` when no server is
    /// configured outside CI.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            assert!(
                !running_in_ci(),
                "CI=true but {POSTGRES_URL_VAR} is not set: the PostgreSQL half of the suite must run in CI"
            );
            eprintln!("{POSTGRES_URL_VAR} is not set: this test ran on SQLite only");
            return None;
        };
        let name = format!("egov_t_{}", uuid::Uuid::now_v7().simple());
        let admin = Db::connect(
            &admin_url,
            &PoolSettings {
                max_connections: 1,
                ..PoolSettings::default()
            },
        )
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at {POSTGRES_URL_VAR} is unreachable: {error}"));
        let Db::Postgres(admin_pool) = &admin else {
            panic!("{POSTGRES_URL_VAR} must be a postgres:// URL")
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(admin_pool)
            .await
            .expect("create the test database");
        admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("parse the PostgreSQL URL");
        url.set_path(&name);
        let url = url.to_string();
        let db = Db::connect(
            &url,
            &PoolSettings {
                max_connections: 8,
                ..PoolSettings::default()
            },
        )
        .await
        .expect("connect to the test database");
        db.migrate().await.expect("migrate PostgreSQL");
        Some(TestDb { db, url, _dir: None })
    }

    /// A second, independent pool on the same database: another node.
    pub async fn another_node(&self) -> Db {
        Db::connect(&self.url, &PoolSettings::default())
            .await
            .expect("connect a second node")
    }
}

/// Writes a test once and runs it on SQLite and on PostgreSQL.
///
/// ```ignore
/// engine_test! {
///     async fn stored_rows_come_back(test_db: TestDb) { ... }
/// }
/// ```
/// expands to `mod stored_rows_come_back { fn sqlite(); fn postgres(); }`.
#[macro_export]
macro_rules! engine_test {
    ($(#[$meta:meta])* async fn $name:ident($test_db:ident : TestDb) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $test_db = $crate::TestDb::sqlite().await;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($test_db) = $crate::TestDb::postgres().await else { return };
                $body
            }
        }
    };
}

/// A router served on a random loopback port, with a cookie-keeping client.
#[derive(Debug)]
pub struct TestServer {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn serve(router: axum::Router) -> TestServer {
        TestServer::serve_with(|_| router).await
    }

    /// Serves the router that `make` builds once the address is known (for
    /// apps that must know their own URL, such as an OpenID issuer).
    pub async fn serve_with(make: impl FnOnce(SocketAddr) -> axum::Router) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("read the bound address");
        let router = make(address);
        let task = tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .expect("serve the test app");
        });
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build the HTTP client");
        TestServer { address, client, task }
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("send GET")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
