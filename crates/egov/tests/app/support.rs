//! Shared set-up: a seeded database served on a random port.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use egov::app::{AppConfig, router};
use egov_core::clock::FixedClock;
use egov_mail::{MailSink, Mailer, ReceivedMail};
use egov_testkit::{TestDb, TestServer};

/// A served app over demo data, and the database under it.
pub(crate) struct App {
    pub(crate) server: TestServer,
    pub(crate) test_db: TestDb,
    pub(crate) config: AppConfig,
    /// The SMTP server the app's mail goes to.
    pub(crate) mail: MailSink,
}

pub(crate) async fn spawn_demo(test_db: TestDb) -> App {
    spawn_with(test_db, AppConfig::for_tests()).await
}

/// A demo app whose clock stands still at `now`.
pub(crate) async fn spawn_demo_at(test_db: TestDb, now: DateTime<Utc>) -> App {
    spawn_with(
        test_db,
        AppConfig {
            clock: Arc::new(FixedClock::new(now)),
            ..AppConfig::for_tests()
        },
    )
    .await
}

/// A demo app with demo accounts, its issuer URL its own address.
pub(crate) async fn spawn_with(test_db: TestDb, config: AppConfig) -> App {
    egov_onestop::seed::load_demo(&test_db.db, config.clock.now())
        .await
        .expect("seed demo data");
    let db = test_db.db.clone();
    let server = TestServer::serve_with(|address| {
        let config = AppConfig {
            public_url: format!("http://{address}"),
            ..config.clone()
        };
        router(db, &config)
    })
    .await;
    let config = AppConfig {
        public_url: server.url(""),
        ..config
    };
    egov::app::prepare(&test_db.db, &config).await.expect("signing keys");
    egov::demo::load_accounts(&test_db.db, &config)
        .await
        .expect("demo accounts");
    let mail = MailSink::start().await.expect("SMTP sink");
    App {
        server,
        test_db,
        config,
        mail,
    }
}

impl App {
    /// Runs the node's job worker until the queue is empty: queued mail
    /// reaches the SMTP sink, logout notices their clients.
    pub(crate) async fn run_jobs(&self) {
        let mailer = Mailer::new(&self.mail.smtp_url(), "Cổng dịch vụ công <no-reply@example.vn>").expect("mailer");
        let provider = egov::app::provider(&self.test_db.db, &self.config);
        let handlers = egov::workers::Handlers {
            mailer: Some(mailer),
            logouts: egov_id::backchannel::LogoutSender::new(provider).expect("HTTP client"),
            dossiers: egov::app::dossiers(&self.test_db.db, &self.config),
            gateway: egov::app::gateway(&self.test_db.db, &self.config),
            national: self.config.national.clone(),
        };
        let worker = egov::workers::worker(
            &self.test_db.db,
            Arc::clone(&self.config.clock),
            "test-worker",
            std::time::Duration::from_millis(10),
            handlers,
        );
        while worker.run_once().await.expect("run jobs") > 0 {}
    }

    /// Runs the jobs, then returns every message to `recipient`, newest
    /// first.
    pub(crate) async fn mail_to(&self, recipient: &str) -> Vec<ReceivedMail> {
        self.run_jobs().await;
        self.mail.messages_to(recipient)
    }

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
