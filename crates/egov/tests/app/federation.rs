//! A federation on loopback, each party a separate `egov` process with its
//! own database: a hub, province B (whose police serve the population
//! registry, from the demo data) and province A (whose one-stop shop reads
//! it). Everything is set up with the operators' commands: the hub's
//! members and tokens, each gateway joining, B granting A's one-stop the
//! service and the purpose. Then A's one-stop reads a person of B's
//! registry through A's `/r1/`, across both gateways over mutual TLS; B's
//! tracker records who read and why; both logs verify; and once the hub
//! revokes A's gateway, B refuses it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use egov_db::Engine;
use egov_testkit::{TestDb, engine_test};

const MEMBER_A: &str = "VN/GOV/000.00.00.H26";
const GATEWAY_A: &str = "VN/GOV/000.00.00.H26/gw1";
const ONESTOP_A: &str = "VN/GOV/000.00.00.H26/onestop";
const MEMBER_B: &str = "VN/GOV/000.05.00.H24";
const GATEWAY_B: &str = "VN/GOV/000.05.00.H24/gw1";
const POPULATION_B: &str = "VN/GOV/000.05.00.H24/registry/population";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// One party: its configuration file and, once started, its process.
struct Party {
    config: String,
    port: u16,
    tls_port: u16,
    child: Option<Child>,
}

impl Party {
    fn new(dir: &Path, name: &str, database_url: &str) -> Party {
        let (port, tls_port) = (free_port(), free_port());
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
                 [database]\nurl = \"{database_url}\"\n\
                 [security]\nsecret_key = \"federation-test-secret-key-{name}-0123456789\"\n\
                 [log]\nlevel = \"warn\"\n\
                 [federation]\nlisten = \"127.0.0.1:{tls_port}\"\nrefresh_secs = 5\nconfiguration_max_age_secs = 120\n"
            ),
        )
        .expect("write the configuration");
        Party {
            config: config.display().to_string(),
            port,
            tls_port,
            child: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn address(&self) -> String {
        format!("https://127.0.0.1:{}", self.tls_port)
    }

    /// Runs an operator's command on this party's database; its stdout.
    fn egov(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_egov"))
            .args(["--config", &self.config])
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run egov");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "egov {args:?} failed: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    async fn start(&mut self, extra: &[&str]) {
        let child = Command::new(env!("CARGO_BIN_EXE_egov"))
            .args(["--config", &self.config, "serve"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start egov serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_mins(1);
        while Instant::now() < deadline {
            if reqwest::get(self.url("/readyz"))
                .await
                .is_ok_and(|response| response.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} did not start", self.config);
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn another(test_db: &TestDb) -> TestDb {
    match test_db.db.engine() {
        Engine::Sqlite => TestDb::sqlite().await,
        Engine::Postgres => TestDb::postgres().await.expect("PostgreSQL"),
    }
}

/// Reads a person through A's gateway: (status, X-Road-Error, body).
async fn read_person(a: &Party) -> (u16, Option<String>, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(a.url(&format!("/r1/{POPULATION_B}/read")))
        .header("X-Road-Client", ONESTOP_A)
        .header("X-Road-UserId", "VN024185004321")
        .header("X-Road-Issue", "onestop-verify:000.00.01.H26-261127-0001")
        .json(&serde_json::json!({ "query": { "content": { "personal_id": "001090012345" } } }))
        .send()
        .await
        .expect("call A's gateway");
    let status = response.status().as_u16();
    let error = response
        .headers()
        .get("x-road-error")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or_default();
    (status, error, body)
}

engine_test! {
    async fn two_provinces_exchange_through_their_gateways_and_the_hub_in_separate_processes(test_db: TestDb) {
        let dir = tempfile::tempdir().expect("temporary folder");
        let (db_a, db_b) = (another(&test_db).await, another(&test_db).await);
        let mut hub = Party::new(dir.path(), "hub", &test_db.url);
        let mut b = Party::new(dir.path(), "b", &db_b.url);
        let mut a = Party::new(dir.path(), "a", &db_a.url);

        hub.egov(&["hub", "init", "--instance", "VN"]);
        hub.egov(&["hub", "member", "add", "--id", MEMBER_A, "--name", "UBND tỉnh Hải Dương"]);
        hub.egov(&["hub", "member", "add", "--id", MEMBER_B, "--name", "Công an tỉnh Bắc Ninh"]);
        let token_a = hub.egov(&["hub", "token", "--gateway", GATEWAY_A]).trim().to_owned();
        let token_b = hub.egov(&["hub", "token", "--gateway", GATEWAY_B]).trim().to_owned();
        hub.start(&[]).await;

        // B: joins, then serves the demo population registry (its police's
        // subsystem), and lets A's one-stop read it for verification.
        b.egov(&["gateway", "join", "--hub", &hub.url(""), "--token", &token_b, "--address", &b.address()]);
        b.start(&["--with-demo-data"]).await;
        b.egov(&["gateway", "grant", "--service", POPULATION_B, "--client", ONESTOP_A]);
        b.egov(&["registry", "grant-purpose", "--client", ONESTOP_A, "--dataset", "population", "--purpose", "onestop-verify"]);
        b.egov(&["gateway", "refresh"]);

        // A: its one-stop subsystem, joined.
        a.egov(&["gateway", "subsystem", "add", "--id", ONESTOP_A, "--name", "Một cửa điện tử Hải Dương"]);
        let joined = a.egov(&["gateway", "join", "--hub", &hub.url(""), "--token", &token_a, "--address", &a.address()]);
        assert!(joined.contains(GATEWAY_A), "{joined}");
        a.start(&[]).await;
        // A spent token is refused.
        let again = Command::new(env!("CARGO_BIN_EXE_egov"))
            .args(["--config", &a.config, "gateway", "join", "--hub", &hub.url(""), "--token", &token_a, "--address", &a.address()])
            .output()
            .expect("run egov");
        assert!(!again.status.success());

        // Within a refresh or two every node knows the whole federation.
        let deadline = Instant::now() + Duration::from_secs(40);
        let (status, error, person) = loop {
            let answer = read_person(&a).await;
            if answer.0 == 200 || Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!((status, error), (200, None), "{person}");
        assert_eq!(person["content"]["full_name"], "Nguyễn Văn An");

        // B's tracker recorded A's read, with who and why.
        let registry = egov_registry::Registry::new(db_b.db.clone(), std::sync::Arc::new(egov_core::clock::SystemClock));
        let reads = registry.reads_of_person("001090012345", 10).await.expect("tracker");
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].client, ONESTOP_A);
        assert_eq!(reads[0].user_id, "VN024185004321");

        // Both gateways logged the exchange, and both logs verify.
        for party in [&a, &b] {
            let verified = party.egov(&["gateway", "verify-log"]);
            assert!(verified.contains("1 record(s)"), "{verified}");
        }

        // The hub revokes A's gateway; B learns it at its next refresh and
        // refuses A from then on.
        hub.egov(&["hub", "revoke", "--gateway", GATEWAY_A]);
        let deadline = Instant::now() + Duration::from_secs(40);
        let refused = loop {
            let answer = read_person(&a).await;
            if answer.0 != 200 || Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(refused.1.as_deref(), Some("Server.ServerProxy.SslAuthenticationFailed"), "{:?}", refused.2);
    }
}
