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

/// The federation of the tests: the hub, B (joined, serving the demo
/// registry and a room of events, both open to A's one-stop) and A
/// (joined); all three running, A's reads of B already answered.
struct Federation {
    dir: tempfile::TempDir,
    hub: Party,
    a: Party,
    b: Party,
    db_a: TestDb,
    db_b: TestDb,
    _db_hub: TestDb,
    token_a: String,
}

const ROOM_B: &str = "VN/GOV/000.05.00.H24/events";
/// The burst of asynchronous messages.
const MESSAGES: usize = 1_000;

/// The hub, its two members, and a token for each one's gateway.
async fn start_hub(hub: &mut Party) -> (String, String) {
    hub.egov(&["hub", "init", "--instance", "VN"]);
    for (member, name) in [(MEMBER_A, "UBND tỉnh Hải Dương"), (MEMBER_B, "Công an tỉnh Bắc Ninh")] {
        hub.egov(&["hub", "member", "add", "--id", member, "--name", name]);
    }
    let token_a = hub.egov(&["hub", "token", "--gateway", GATEWAY_A]).trim().to_owned();
    let token_b = hub.egov(&["hub", "token", "--gateway", GATEWAY_B]).trim().to_owned();
    hub.start(&[]).await;
    (token_a, token_b)
}

/// B joins, then serves the demo population registry (its police's
/// subsystem) and a room of events, and opens both to A's one-stop.
async fn start_b(b: &mut Party, hub: &Party, token: &str) {
    let (hub_url, address) = (hub.url(""), b.address());
    b.egov(&[
        "gateway",
        "join",
        "--hub",
        &hub_url,
        "--token",
        token,
        "--address",
        &address,
    ]);
    b.start(&["--with-demo-data"]).await;
    let room_pub = format!("{ROOM_B}/pub");
    for args in [
        &["gateway", "grant", "--service", POPULATION_B, "--client", ONESTOP_A][..],
        &[
            "registry",
            "grant-purpose",
            "--client",
            ONESTOP_A,
            "--dataset",
            "population",
            "--purpose",
            "onestop-verify",
        ],
        &[
            "gateway",
            "subsystem",
            "add",
            "--id",
            ROOM_B,
            "--name",
            "Sự kiện liên thông",
        ],
        &["gateway", "room", "--id", ROOM_B, "--event-type", "dossierStatus"],
        &["gateway", "grant", "--service", &room_pub, "--client", ONESTOP_A],
        &["gateway", "refresh"],
    ] {
        b.egov(args);
    }
}

/// A: its one-stop subsystem, joined; then it waits until it reads B's
/// registry (within a refresh or two every node knows the federation).
async fn start_a(a: &mut Party, hub: &Party, token: &str) {
    let (hub_url, address) = (hub.url(""), a.address());
    a.egov(&[
        "gateway",
        "subsystem",
        "add",
        "--id",
        ONESTOP_A,
        "--name",
        "Một cửa điện tử Hải Dương",
    ]);
    let joined = a.egov(&[
        "gateway",
        "join",
        "--hub",
        &hub_url,
        "--token",
        token,
        "--address",
        &address,
    ]);
    assert!(joined.contains(GATEWAY_A), "{joined}");
    a.start(&[]).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (status, _, body) = read_person(a).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "A never reached B: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn federation(test_db: TestDb) -> Federation {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (db_a, db_b) = (another(&test_db).await, another(&test_db).await);
    let mut hub = Party::new(dir.path(), "hub", &test_db.url);
    let mut b = Party::new(dir.path(), "b", &db_b.url);
    let mut a = Party::new(dir.path(), "a", &db_a.url);
    let (token_a, token_b) = start_hub(&mut hub).await;
    start_b(&mut b, &hub, &token_b).await;
    start_a(&mut a, &hub, &token_a).await;
    Federation {
        dir,
        hub,
        a,
        b,
        db_a,
        db_b,
        _db_hub: test_db,
        token_a,
    }
}

engine_test! {
    async fn two_provinces_exchange_through_their_gateways_and_the_hub_in_separate_processes(test_db: TestDb) {
        let federation = federation(test_db).await;
        let Federation { hub, a, b, db_b, .. } = &federation;
        // A spent token is refused.
        let again = Command::new(env!("CARGO_BIN_EXE_egov"))
            .args(["--config", &a.config, "gateway", "join", "--hub", &hub.url(""), "--token", &federation.token_a, "--address", &a.address()])
            .output()
            .expect("run egov");
        assert!(!again.status.success());

        let (status, error, person) = read_person(a).await;
        assert_eq!((status, error), (200, None), "{person}");
        assert_eq!(person["content"]["full_name"], "Nguyễn Văn An");

        // B's tracker recorded A's reads, with who and why.
        let registry = egov_registry::Registry::new(db_b.db.clone(), std::sync::Arc::new(egov_core::clock::SystemClock));
        let reads = registry.reads_of_person("001090012345", 10).await.expect("tracker");
        assert_eq!(reads.len(), 2);
        assert!(reads.iter().all(|read| read.client == ONESTOP_A && read.user_id == "VN024185004321"));

        // Both gateways logged the exchanges, and both logs verify.
        for party in [a, b] {
            let verified = party.egov(&["gateway", "verify-log"]);
            assert!(verified.contains("The message log holds: 2 record(s)"), "{verified}");
        }

        // A's operator archives today's log; the archive verifies.
        let today = (chrono::Utc::now() + chrono::TimeDelta::hours(7)).date_naive().to_string();
        let archive = federation.dir.path().join("a-log.jsonl").display().to_string();
        let exported = a.egov(&["gateway", "export-log", "--from", &today, "--to", &today, "--out", &archive]);
        assert!(exported.contains("Archived 2 record(s)"), "{exported}");
        let verified = a.egov(&["gateway", "verify-archive", &archive]);
        assert!(verified.contains("The archive holds: 2 record(s)"), "{verified}");

        // The hub revokes A's gateway; B learns it at its next refresh and
        // refuses A from then on.
        hub.egov(&["hub", "revoke", "--gateway", GATEWAY_A]);
        let deadline = Instant::now() + Duration::from_secs(40);
        let refused = loop {
            let answer = read_person(a).await;
            if answer.0 != 200 || Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(refused.1.as_deref(), Some("Server.ServerProxy.SslAuthenticationFailed"), "{:?}", refused.2);
    }
}

engine_test! {
    async fn a_burst_of_messages_survives_the_receiver_being_killed_and_each_takes_effect_once(test_db: TestDb) {
        let mut federation = federation(test_db).await;
        // A's one-stop queues the burst in its outbox, as its changes would.
        let now = chrono::Utc::now();
        let mut tx = federation.db_a.db.begin().await.expect("begin");
        for index in 0..MESSAGES {
            let message = egov_gateway::outbox::Message {
                client: ONESTOP_A.to_owned(),
                method: "POST".to_owned(),
                target: format!("/r1/{ROOM_B}/pub/v1/dossierStatus"),
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                body: serde_json::json!({ "event": { "dossier": format!("000.00.01.H26-261127-{index:04}"), "status": "received" } }).to_string(),
                message_id: format!("burst-{index}"),
            };
            egov_gateway::outbox::enqueue(&mut tx, &message, now).await.expect("queue");
        }
        tx.commit().await.expect("commit");

        // B is killed (SIGKILL) in the middle of the burst, and restarted.
        let deadline = Instant::now() + Duration::from_mins(1);
        while egov_gateway::outbox::delivered_count(&federation.db_a.db).await.expect("count") < 100 {
            assert!(Instant::now() < deadline, "the burst did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(mut child) = federation.b.child.take() {
            child.kill().expect("kill B");
            child.wait().expect("reap B");
        }
        let delivered_while_down = egov_gateway::outbox::delivered_count(&federation.db_a.db).await.expect("count");
        assert!(delivered_while_down < i64::try_from(MESSAGES).expect("count"), "B was killed after the burst");
        tokio::time::sleep(Duration::from_secs(1)).await;
        federation.b.start(&[]).await;

        let deadline = Instant::now() + Duration::from_mins(2);
        loop {
            let delivered = egov_gateway::outbox::delivered_count(&federation.db_a.db).await.expect("count");
            if delivered == i64::try_from(MESSAGES).expect("count") {
                break;
            }
            assert!(Instant::now() < deadline, "only {delivered} of {MESSAGES} delivered");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Every message took effect exactly once at B.
        let (events, distinct) = count_events(&federation.db_b.db).await;
        assert_eq!((events, distinct), (1_000, 1_000));
    }
}

async fn count_events(db: &egov_db::Db) -> (i64, i64) {
    let query = "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM gateway_events WHERE room = $1";
    match db {
        egov_db::Db::Sqlite(pool, _) => sqlx::query_as(query).bind(ROOM_B).fetch_one(pool).await.expect("count"),
        egov_db::Db::Postgres(pool) => sqlx::query_as(query).bind(ROOM_B).fetch_one(pool).await.expect("count"),
    }
}
