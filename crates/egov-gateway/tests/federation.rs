//! A federation in one process, each party with its own database: a hub,
//! and two provinces' gateways that join it with one-time tokens, publish
//! their subsystems, and call each other over mutual TLS with the
//! certificates the hub issued. Revocation, outdated configurations,
//! foreign certificates and spent tokens are refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, Method};
use axum::routing::any;
use chrono::Utc;
use egov_core::clock::SystemClock;
use egov_db::Engine;
use egov_gateway::admin::{self, Connection, ServiceSpec};
use egov_gateway::id::{ClientId, ServiceId};
use egov_gateway::{Call, Caller, Gateway, LocalServices, federation, hub, tls};
use egov_testkit::{TestDb, TestServer, engine_test};

const INSTANCE: &str = "VN";
const MEMBER_A: &str = "VN/GOV/000.00.00.H24";
const MEMBER_B: &str = "VN/GOV/000.00.00.H26";
const GATEWAY_A: &str = "VN/GOV/000.00.00.H24/gw1";
const GATEWAY_B: &str = "VN/GOV/000.00.00.H26/gw1";
const CLIENT_A: &str = "VN/GOV/000.00.00.H24/onestop";
const REGISTRY_B: &str = "VN/GOV/000.00.00.H26/registry";

fn id(value: &str) -> ClientId {
    ClientId::parse(value).expect("identifier")
}

async fn another(test_db: &TestDb) -> TestDb {
    match test_db.db.engine() {
        Engine::Sqlite => TestDb::sqlite().await,
        Engine::Postgres => TestDb::postgres().await.expect("PostgreSQL"),
    }
}

/// A loopback port nobody listens on yet.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn echo() -> Router {
    Router::new().fallback(any(|request: Request| async move {
        let client = request
            .headers()
            .get("x-road-client")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        axum::Json(serde_json::json!({ "uri": request.uri().to_string(), "client": client }))
    }))
}

fn call(target: &str, client: &str) -> Call {
    let mut headers = HeaderMap::new();
    headers.insert("x-road-client", client.parse().expect("header"));
    headers.insert("x-road-userid", "VN001082005566".parse().expect("header"));
    Call {
        method: Method::GET,
        target: target.to_owned(),
        headers,
        body: Vec::new(),
        caller: Caller::InProcess,
    }
}

fn xroad_error(response: &axum::response::Response) -> Option<String> {
    response
        .headers()
        .get("x-road-error")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

async fn body_json(response: axum::response::Response) -> serde_json::Value {
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    serde_json::from_slice(&body).expect("json")
}

struct Federation {
    hub_db: TestDb,
    _hub: TestServer,
    db_a: TestDb,
    db_b: TestDb,
    gateway_a: Gateway,
    gateway_b: Gateway,
    address_b: String,
    stop: tokio::sync::watch::Sender<bool>,
}

/// The hub, gateway A (a one-stop client) and gateway B (a registry
/// service that A may call), joined and configured, B's provider side
/// listening.
async fn federation(test_db: TestDb) -> Federation {
    let now = Utc::now();
    let hub_db = test_db;
    hub::init(&hub_db.db, "test", INSTANCE, now).await.expect("hub");
    hub::add_member(&hub_db.db, "test", &id(MEMBER_A), "UBND tỉnh Bắc Ninh", now)
        .await
        .expect("member A");
    hub::add_member(&hub_db.db, "test", &id(MEMBER_B), "UBND tỉnh Hải Dương", now)
        .await
        .expect("member B");
    let hub = TestServer::serve(egov_gateway::hub_http::router(hub_db.db.clone(), Arc::new(SystemClock))).await;

    let db_a = another(&hub_db).await;
    let db_b = another(&hub_db).await;
    admin::add_subsystem(
        &db_a.db,
        "test",
        &id(CLIENT_A),
        "Một cửa Bắc Ninh",
        Connection::Loopback,
    )
    .await
    .expect("client");
    admin::add_subsystem(
        &db_b.db,
        "test",
        &id(REGISTRY_B),
        "Dân cư Hải Dương",
        Connection::Loopback,
    )
    .await
    .expect("provider");
    let service = ServiceId::new(id(REGISTRY_B), "echo").expect("service");
    admin::add_service(
        &db_b.db,
        "test",
        &ServiceSpec {
            service: service.clone(),
            target: "local:echo".to_owned(),
            openapi: None,
            timeout_ms: 5_000,
        },
    )
    .await
    .expect("service");
    admin::grant(&db_b.db, "test", &service, &id(CLIENT_A))
        .await
        .expect("grant");

    let address_a = format!("https://127.0.0.1:{}", free_port());
    let port_b = free_port();
    let address_b = format!("https://127.0.0.1:{port_b}");
    for (db, gateway, address) in [(&db_a.db, GATEWAY_A, &address_a), (&db_b.db, GATEWAY_B, &address_b)] {
        let token = hub::issue_token(&hub_db.db, "test", &id(gateway), now)
            .await
            .expect("token");
        let joined = federation::join(db, &hub.url(""), &token, address, now)
            .await
            .expect("join");
        assert_eq!(joined.gateway_id, gateway);
        assert_eq!(federation::push_subsystems(db, now).await.expect("subsystems"), 1);
    }
    for db in [&db_a.db, &db_b.db] {
        let conf = federation::refresh(db, now).await.expect("configuration");
        assert_eq!(conf.gateways.len(), 2);
        assert_eq!(conf.subsystems.len(), 2);
    }

    let mut local = LocalServices::new();
    local.insert("echo".to_owned(), echo());
    let gateway_a = Gateway::new(db_a.db.clone(), Arc::new(SystemClock), LocalServices::new());
    let gateway_b = Gateway::new(db_b.db.clone(), Arc::new(SystemClock), local);
    let membership = federation::membership(&db_b.db).await.expect("read").expect("joined");
    let config = tls::server_config(
        &membership.ca_cert_pem,
        &membership.tls_cert_pem,
        &membership.tls_key_pem,
    )
    .expect("TLS configuration");
    let listener = tls::TlsListener::bind(SocketAddr::from(([127, 0, 0, 1], port_b)), config)
        .await
        .expect("listen");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(tls::serve(gateway_b.clone(), listener, stopped));
    Federation {
        hub_db,
        _hub: hub,
        db_a,
        db_b,
        gateway_a,
        gateway_b,
        address_b,
        stop,
    }
}

const TARGET: &str = "/r1/VN/GOV/000.00.00.H26/registry/echo/persons/1?x=1";

engine_test! {
    async fn a_province_calls_another_provinces_service_through_both_gateways(test_db: TestDb) {
        let federation = federation(test_db).await;
        let response = federation.gateway_a.call(call(TARGET, CLIENT_A)).await;
        assert_eq!(xroad_error(&response), None);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-road-service"], "VN/GOV/000.00.00.H26/registry/echo");
        let body = body_json(response).await;
        assert_eq!(body["uri"], "/persons/1?x=1");
        assert_eq!(body["client"], CLIENT_A);

        // Each side logged it, and each log verifies with the keys the
        // federation's configuration lists.
        for (db, gateway, side) in [
            (&federation.db_a.db, &federation.gateway_a, "consumer"),
            (&federation.db_b.db, &federation.gateway_b, "provider"),
        ] {
            let records = egov_gateway::log::recent(db, 10).await.expect("log");
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].side, side);
            assert_eq!(records[0].client_id, CLIENT_A);
            assert_ne!(records[0].request_key, records[0].response_key, "two gateways, two keys");
            let keys = gateway.log_keys().await.expect("keys");
            let report = egov_gateway::log::verify(db, &keys).await.expect("verify");
            assert_eq!((report.records, report.first_bad), (1, None));
        }

        // A remote provider's metadata comes from its gateway.
        let methods = federation
            .gateway_a
            .call(call("/r1/VN/GOV/000.00.00.H26/registry/allowedMethods", CLIENT_A))
            .await;
        assert_eq!(methods.status(), 200);
        let methods = body_json(methods).await;
        assert_eq!(methods["service"][0]["service_code"], "echo", "{methods}");

        // listClients shows the federation's members and subsystems, with
        // the names the hub holds.
        let clients = federation.gateway_a.list_clients(None).await;
        let clients = body_json(clients).await;
        let members = clients["member"].as_array().expect("members");
        assert!(members.iter().any(|m| m["id"]["subsystem_code"] == "registry" && m["id"]["member_code"] == "000.00.00.H26"));
        assert!(members.iter().any(|m| m["id"]["object_type"] == "MEMBER" && m["name"] == "UBND tỉnh Hải Dương"));

        // A client B's gateway does not grant gets the provider's refusal.
        admin::add_subsystem(&federation.db_a.db, "test", &id("VN/GOV/000.00.00.H24/portal"), "Cổng", Connection::Loopback)
            .await
            .expect("subsystem");
        federation::push_subsystems(&federation.db_a.db, Utc::now()).await.expect("push");
        for db in [&federation.db_a.db, &federation.db_b.db] {
            federation::refresh(db, Utc::now()).await.expect("refresh");
        }
        federation.gateway_a.refresh().await.expect("reload");
        federation.gateway_b.refresh().await.expect("reload");
        let refused = federation.gateway_a.call(call(TARGET, "VN/GOV/000.00.00.H24/portal")).await;
        assert_eq!(xroad_error(&refused).as_deref(), Some("Server.ServerProxy.AccessDenied"));

        // Granted to a global group the portal joins at the hub, it may call.
        let now = Utc::now();
        hub::add_group(&federation.hub_db.db, "test", "citizen-portals", "Cổng dịch vụ công các tỉnh", now).await.expect("group");
        hub::add_group_member(&federation.hub_db.db, "test", "citizen-portals", &id("VN/GOV/000.00.00.H24/portal"), now)
            .await
            .expect("member");
        let echo = ServiceId::new(id(REGISTRY_B), "echo").expect("service");
        admin::grant_group(&federation.db_b.db, "test", &echo, INSTANCE, "citizen-portals").await.expect("grant");
        federation::refresh(&federation.db_b.db, now).await.expect("refresh");
        federation.gateway_b.refresh().await.expect("reload");
        let allowed = federation.gateway_a.call(call(TARGET, "VN/GOV/000.00.00.H24/portal")).await;
        assert_eq!(allowed.status(), 200);
        let _ = federation.stop.send(true);
    }
}

engine_test! {
    async fn the_hub_time_stamps_the_log_and_a_gateway_whose_log_waits_too_long_fails_closed(test_db: TestDb) {
        let federation = federation(test_db).await;
        let strict = Gateway::new(federation.db_a.db.clone(), Arc::new(SystemClock), LocalServices::new())
            .with_timestamp_limit(Duration::ZERO);
        // Nothing logged yet: nothing waits.
        let first = strict.call(call(TARGET, CLIENT_A)).await;
        assert_eq!(first.status(), 200);
        // Now a record waits for its time-stamp, beyond the limit.
        tokio::time::sleep(Duration::from_millis(5)).await;
        strict.refresh().await.expect("reload");
        let refused = strict.call(call(TARGET, CLIENT_A)).await;
        assert_eq!(xroad_error(&refused).as_deref(), Some("Server.ClientProxy.MessageLogFailure"));
        let body = body_json(refused).await;
        assert!(body["message"].as_str().is_some_and(|m| m.contains("time-stamp")), "{body}");

        // The hub stamps the log; the gateway works again, and the stamp verifies.
        assert_eq!(federation::stamp(&federation.db_a.db).await.expect("stamp"), Some(1));
        assert_eq!(federation::stamp(&federation.db_a.db).await.expect("nothing new"), None);
        strict.refresh().await.expect("reload");
        assert_eq!(strict.call(call(TARGET, CLIENT_A)).await.status(), 200);
        let membership = federation::membership(&federation.db_a.db).await.expect("read").expect("joined");
        let anchor = membership.anchor().expect("anchor");
        assert_eq!(egov_gateway::log::verify_timestamps(&federation.db_a.db, &anchor).await.expect("verify"), Ok(1));
        // A time-stamp made by anyone but the hub does not verify.
        let forger = egov_gateway::message::GatewayKey::generate(membership.anchor_key_id.clone());
        let (seq, hash) = egov_gateway::log::head(&federation.db_a.db).await.expect("head").expect("records");
        let forged = egov_gateway::conf::TimestampToken::sign(&hash, 0, &forger);
        egov_gateway::log::store_timestamp(&federation.db_a.db, seq, &forged).await.expect("store");
        let broken = egov_gateway::log::verify_timestamps(&federation.db_a.db, &anchor).await.expect("verify");
        assert!(matches!(broken, Err((bad, _)) if bad == seq));
        let _ = federation.stop.send(true);
    }
}

engine_test! {
    async fn a_revoked_gateway_is_refused_and_an_outdated_configuration_stops_remote_calls(test_db: TestDb) {
        let federation = federation(test_db).await;
        // A configuration older than the limit: no more calls to other gateways.
        let strict = Gateway::new(federation.db_a.db.clone(), Arc::new(SystemClock), LocalServices::new())
            .with_conf_max_age(Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let outdated = strict.call(call(TARGET, CLIENT_A)).await;
        assert_eq!(xroad_error(&outdated).as_deref(), Some("Server.ClientProxy.OutdatedGlobalConf"));

        assert!(hub::revoke_gateway(&federation.hub_db.db, "test", GATEWAY_A, Utc::now()).await.expect("revoke"));
        federation::refresh(&federation.db_b.db, Utc::now()).await.expect("refresh B");
        federation.gateway_b.refresh().await.expect("reload B");
        // A has not heard of its revocation yet; B has, and refuses it.
        let refused = federation.gateway_a.call(call(TARGET, CLIENT_A)).await;
        assert_eq!(xroad_error(&refused).as_deref(), Some("Server.ServerProxy.SslAuthenticationFailed"));
        assert!(egov_gateway::log::recent(&federation.db_b.db, 10).await.expect("log").is_empty());
        let _ = federation.stop.send(true);
    }
}

engine_test! {
    async fn only_the_federations_certificates_reach_a_provider_gateway_and_tokens_are_single_use(test_db: TestDb) {
        let federation = federation(test_db).await;
        let membership = federation::membership(&federation.db_a.db).await.expect("read").expect("joined");
        let url = format!("{}{}", federation.address_b, tls::EXCHANGE_PATH);
        // Without a client certificate the handshake fails.
        let anonymous = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(membership.ca_cert_pem.as_bytes()).expect("CA")])
            .build()
            .expect("client");
        assert!(anonymous.post(&url).body("{}").send().await.is_err());
        // With a certificate of another CA too.
        let stranger_key = rcgen::KeyPair::generate().expect("key");
        let stranger = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("params")
            .self_signed(&stranger_key)
            .expect("certificate");
        let identity = reqwest::Identity::from_pem(format!("{}\n{}", stranger.pem(), stranger_key.serialize_pem()).as_bytes())
            .expect("identity");
        let impostor = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(membership.ca_cert_pem.as_bytes()).expect("CA")])
            .identity(identity)
            .build()
            .expect("client");
        assert!(impostor.post(&url).body("{}").send().await.is_err());

        // A spent token and an unknown one are refused.
        let now = Utc::now();
        let token = hub::issue_token(&federation.hub_db.db, "test", &id("VN/GOV/000.00.00.H24/gw2"), now).await.expect("token");
        let request = egov_gateway::conf::JoinRequest {
            token: token.clone(),
            address: "https://127.0.0.1:1".to_owned(),
            tls_public_key: base64_point(),
            signing_key_id: "k".to_owned(),
            signing_public_pem: egov_gateway::message::GatewayKey::generate("k".to_owned()).public_pem().expect("pem"),
        };
        hub::join(&federation.hub_db.db, &request, now).await.expect("first use");
        assert!(matches!(hub::join(&federation.hub_db.db, &request, now).await, Err(hub::HubError::BadToken)));
        let unknown = egov_gateway::conf::JoinRequest { token: "nope".to_owned(), ..request };
        assert!(matches!(hub::join(&federation.hub_db.db, &unknown, now).await, Err(hub::HubError::BadToken)));
        // A gateway publishes only its own member's subsystems: another
        // member's stays local.
        let foreign = ClientId::parse("VN/GOV/000.00.00.H26/stolen").expect("id");
        admin::add_subsystem(&federation.db_a.db, "test", &foreign, "Stolen", Connection::Loopback).await.expect("local");
        assert_eq!(federation::push_subsystems(&federation.db_a.db, now).await.expect("push"), 1);
        let conf = federation::refresh(&federation.db_a.db, now).await.expect("refresh");
        assert!(conf.subsystems.iter().all(|subsystem| subsystem.id != foreign.to_string()));
        let _ = federation.stop.send(true);
        drop(federation.db_b);
    }
}

fn base64_point() -> String {
    use base64::Engine as _;
    let key = rcgen::KeyPair::generate().expect("key");
    base64::engine::general_purpose::STANDARD.encode(key.public_key_raw())
}
