//! Shared set-up: a seeded database served on a random port.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use egov::app::{AppConfig, router};
use egov_core::clock::FixedClock;
use egov_testkit::{TestDb, TestServer};

/// A served app over demo data, and the database under it.
pub(crate) struct App {
    pub(crate) server: TestServer,
    pub(crate) test_db: TestDb,
}

pub(crate) async fn spawn_demo(test_db: TestDb) -> App {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 27, 2, 0, 0)
        .single()
        .expect("valid time");
    spawn_demo_at(test_db, now).await
}

/// A demo app whose clock stands still at `now`.
pub(crate) async fn spawn_demo_at(test_db: TestDb, now: DateTime<Utc>) -> App {
    egov_onestop::seed::load_demo(&test_db.db, now)
        .await
        .expect("seed demo data");
    let config = AppConfig {
        clock: Arc::new(FixedClock::new(now)),
        ..AppConfig::for_tests()
    };
    let server = TestServer::serve(router(test_db.db.clone(), &config)).await;
    App { server, test_db }
}

impl App {
    pub(crate) async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self.server.get(path).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("read body"))
    }

    pub(crate) async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.server.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// The CSRF token the last page embedded in its forms.
    pub(crate) async fn csrf_token(&self) -> String {
        let (_, html) = self.get_text("/").await;
        let marker = "name=\"csrf_token\" value=\"";
        let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = html[start..].find('"').expect("closing quote") + start;
        html[start..end].to_owned()
    }
}
