//! The gateway over real HTTP on both engines: exchanges signed, verified
//! and logged on both sides, access rights, metadata services, the log's
//! verification, and clean X-Road errors for every bad call.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::routing::any;
use egov_core::clock::SystemClock;
use egov_db::Db;
use egov_gateway::admin::{self, Connection, ServiceSpec};
use egov_gateway::id::{ClientId, ServiceId};
use egov_gateway::{Call, Caller, Gateway, LocalServices};
use egov_testkit::{TestServer, engine_test};

const PROVIDER: &str = "EGOV/GOV/000.00.25.H12/registry";
const CLIENT: &str = "EGOV/GOV/000.00.26.H12/onestop";
const OTHER_CLIENT: &str = "EGOV/GOV/000.00.27.H12/portal";

const OPENAPI: &str =
    r#"{"openapi":"3.0.3","info":{"title":"Echo","version":"1"},"paths":{"/persons/{id}":{"get":{},"post":{}}}}"#;

/// A service that answers with what it received.
fn echo() -> Router {
    Router::new().fallback(any(|request: Request| async move {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        axum::Json(serde_json::json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "client": header("x-road-client"),
            "user": header("x-road-userid"),
            "issue": header("x-road-issue"),
            "body": String::from_utf8_lossy(&body),
            "host": header("host"),
        }))
    }))
}

fn client_id(value: &str) -> ClientId {
    ClientId::parse(value).expect("a valid identifier")
}

fn service(code: &str) -> ServiceId {
    ServiceId::new(client_id(PROVIDER), code).expect("a valid service")
}

/// A gateway serving the provider (echo, and echo2 without an OpenAPI
/// description) and two clients, of which only the first may call echo.
async fn setup(db: &Db, extra: Option<(&str, String)>) -> Gateway {
    admin::add_subsystem(
        db,
        "test",
        &client_id(PROVIDER),
        "Cơ sở dữ liệu dân cư",
        Connection::Loopback,
    )
    .await
    .expect("provider");
    admin::add_subsystem(db, "test", &client_id(CLIENT), "Một cửa điện tử", Connection::Loopback)
        .await
        .expect("client");
    admin::add_subsystem(
        db,
        "test",
        &client_id(OTHER_CLIENT),
        "Cổng dịch vụ công",
        Connection::Open,
    )
    .await
    .expect("other client");
    for (code, openapi) in [("echo", Some(OPENAPI.to_owned())), ("echo2", None)] {
        admin::add_service(
            db,
            "test",
            &ServiceSpec {
                service: service(code),
                target: "local:echo".to_owned(),
                openapi,
                timeout_ms: 5_000,
            },
        )
        .await
        .expect("service");
    }
    if let Some((code, target)) = extra {
        admin::add_service(
            db,
            "test",
            &ServiceSpec {
                service: service(code),
                target,
                openapi: None,
                timeout_ms: 5_000,
            },
        )
        .await
        .expect("extra service");
        admin::grant(db, "test", &service(code), &client_id(CLIENT))
            .await
            .expect("grant");
    }
    admin::grant(db, "test", &service("echo"), &client_id(CLIENT))
        .await
        .expect("grant");
    let mut local = LocalServices::new();
    local.insert("echo".to_owned(), echo());
    Gateway::new(db.clone(), Arc::new(SystemClock), local)
}

async fn serve(gateway: &Gateway) -> TestServer {
    TestServer::serve(egov_gateway::router(gateway.clone())).await
}

fn xroad_error(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-road-error")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A GET sent as written, on a connection of its own: (status, head in
/// lower case, body).
async fn raw_get(server: &TestServer, path: &str, client: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(server.address).await.expect("connect");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: gateway\r\nX-Road-Client: {client}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

async fn log_count(db: &Db) -> usize {
    egov_gateway::log::recent(db, 10_000).await.expect("log").len()
}

engine_test! {
    async fn a_granted_call_reaches_the_service_signed_logged_and_verified(test_db: TestDb) {
        let gateway = setup(&test_db.db, None).await;
        let server = serve(&gateway).await;
        let response = server
            .client
            .post(server.url("/r1/EGOV/GOV/000.00.25.H12/registry/echo/persons/001090012345?fields=name&x=%20"))
            .header("X-Road-Client", CLIENT)
            .header("X-Road-UserId", "VN001082005566")
            .header("X-Road-Issue", "onestop-prefill:000.00.26.H12-261127-0001")
            .header("Content-Type", "application/json")
            .body(r#"{"q":"Nguyễn"}"#)
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(xroad_error(&headers), None);
        assert_eq!(headers["x-road-client"], CLIENT);
        assert_eq!(headers["x-road-service"], "EGOV/GOV/000.00.25.H12/registry/echo");
        assert!(headers.contains_key("x-road-id"));
        assert!(headers.contains_key("x-road-request-id"));
        // SHA-512, base64.
        assert_eq!(headers["x-road-request-hash"].len(), 88);
        let echoed: serde_json::Value = response.json().await.expect("json");
        assert_eq!(echoed["method"], "POST");
        assert_eq!(echoed["uri"], "/persons/001090012345?fields=name&x=%20");
        assert_eq!(echoed["client"], CLIENT);
        assert_eq!(echoed["user"], "VN001082005566");
        assert_eq!(echoed["issue"], "onestop-prefill:000.00.26.H12-261127-0001");
        assert_eq!(echoed["body"], r#"{"q":"Nguyễn"}"#);
        // The caller's host name does not cross.
        assert_eq!(echoed["host"], serde_json::Value::Null);

        // Both sides logged the exchange, and the chain holds.
        let records = egov_gateway::log::recent(&test_db.db, 10).await.expect("log");
        assert_eq!(records.len(), 2);
        let sides: Vec<&str> = records.iter().map(|record| record.side.as_str()).collect();
        assert!(sides.contains(&"consumer") && sides.contains(&"provider"));
        for record in &records {
            assert_eq!(record.client_id, CLIENT);
            assert_eq!(record.user_id.as_deref(), Some("VN001082005566"));
            assert_eq!(record.status, 200);
            assert_eq!(record.request_body, r#"{"q":"Nguyễn"}"#.as_bytes());
        }
        let report = egov_gateway::log::verify(&test_db.db, &gateway.keys().await.expect("keys").1).await.expect("verify");
        assert_eq!(report.records, 2);
        assert_eq!(report.first_bad, None);
    }
}

engine_test! {
    async fn a_call_without_an_access_right_gets_an_xroad_error_and_a_log_entry(test_db: TestDb) {
        let gateway = setup(&test_db.db, None).await;
        let server = serve(&gateway).await;
        // echo2 was granted to nobody; echo was not granted to the portal.
        for (client, path) in [
            (CLIENT, "/r1/EGOV/GOV/000.00.25.H12/registry/echo2/x"),
            (OTHER_CLIENT, "/r1/EGOV/GOV/000.00.25.H12/registry/echo/x"),
        ] {
            let response = server.client.get(server.url(path)).header("X-Road-Client", client).send().await.expect("call");
            assert_eq!(response.status(), 500);
            assert_eq!(xroad_error(response.headers()).as_deref(), Some("Server.ServerProxy.AccessDenied"));
            let body: serde_json::Value = response.json().await.expect("json");
            assert_eq!(body["type"], "Server.ServerProxy.AccessDenied");
            assert!(body["message"].as_str().is_some_and(|m| m.contains(client)));
            assert!(body["detail"].as_str().is_some_and(|d| d.len() == 36));
        }
        // A granted client still reaches only the endpoints the service
        // describes.
        let response = server
            .client
            .delete(server.url("/r1/EGOV/GOV/000.00.25.H12/registry/echo/persons/1"))
            .header("X-Road-Client", CLIENT)
            .send()
            .await
            .expect("call");
        assert_eq!(xroad_error(response.headers()).as_deref(), Some("Server.ServerProxy.AccessDenied"));
        let body: serde_json::Value = response.json().await.expect("json");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("no endpoint DELETE /persons/1")), "{body}");
        let records = egov_gateway::log::recent(&test_db.db, 10).await.expect("log");
        assert_eq!(records.len(), 6);
        assert!(records.iter().all(|record| record.status == 500));

        // A right granted later takes effect on this node at once.
        admin::grant(&test_db.db, "test", &service("echo2"), &client_id(CLIENT)).await.expect("grant");
        gateway.refresh().await.expect("refresh");
        let response = server
            .client
            .get(server.url("/r1/EGOV/GOV/000.00.25.H12/registry/echo2/x"))
            .header("X-Road-Client", CLIENT)
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 200);
        // And one revoked is gone.
        assert!(admin::revoke(&test_db.db, "test", &service("echo2"), &client_id(CLIENT)).await.expect("revoke"));
        gateway.refresh().await.expect("refresh");
        let response = server
            .client
            .get(server.url("/r1/EGOV/GOV/000.00.25.H12/registry/echo2/x"))
            .header("X-Road-Client", CLIENT)
            .send()
            .await
            .expect("call");
        assert_eq!(xroad_error(response.headers()).as_deref(), Some("Server.ServerProxy.AccessDenied"));
    }
}

engine_test! {
    async fn a_changed_byte_in_the_message_log_is_named_by_verify(test_db: TestDb) {
        let gateway = setup(&test_db.db, None).await;
        let server = serve(&gateway).await;
        for index in 0..3 {
            let response = server
                .client
                .get(server.url(&format!("/r1/EGOV/GOV/000.00.25.H12/registry/echo/persons/{index}")))
                .header("X-Road-Client", CLIENT)
                .send()
                .await
                .expect("call");
            assert_eq!(response.status(), 200);
        }
        let clean = egov_gateway::log::verify(&test_db.db, &gateway.keys().await.expect("keys").1).await.expect("verify");
        assert_eq!((clean.records, clean.first_bad), (6, None));

        // The log refuses changes...
        let update = "UPDATE gateway_message_log SET status = 201 WHERE seq = 4";
        let refused = match &test_db.db {
            Db::Sqlite(pool, _) => sqlx::query(update).execute(pool).await.is_err(),
            Db::Postgres(pool) => sqlx::query(update).execute(pool).await.is_err(),
        };
        assert!(refused, "an UPDATE of the message log must fail");
        // ...but whoever owns the database can remove the guard; verify
        // still names the record they changed.
        match &test_db.db {
            Db::Sqlite(pool, _) => {
                sqlx::query("DROP TRIGGER gateway_message_log_no_update").execute(pool).await.expect("drop");
                let body: Vec<u8> = sqlx::query_scalar("SELECT response_body FROM gateway_message_log WHERE seq = 4")
                    .fetch_one(pool)
                    .await
                    .expect("read");
                let mut flipped = body.clone();
                flipped[5] ^= 0x01;
                sqlx::query("UPDATE gateway_message_log SET response_body = $1 WHERE seq = 4")
                    .bind(flipped)
                    .execute(pool)
                    .await
                    .expect("flip");
            }
            Db::Postgres(pool) => {
                sqlx::query("DROP TRIGGER gateway_message_log_no_update ON gateway_message_log")
                    .execute(pool)
                    .await
                    .expect("drop");
                let body: Vec<u8> = sqlx::query_scalar("SELECT response_body FROM gateway_message_log WHERE seq = 4")
                    .fetch_one(pool)
                    .await
                    .expect("read");
                let mut flipped = body.clone();
                flipped[5] ^= 0x01;
                sqlx::query("UPDATE gateway_message_log SET response_body = $1 WHERE seq = 4")
                    .bind(flipped)
                    .execute(pool)
                    .await
                    .expect("flip");
            }
        }
        let report = egov_gateway::log::verify(&test_db.db, &gateway.keys().await.expect("keys").1).await.expect("verify");
        assert_eq!(report.records, 4);
        let (seq, reason) = report.first_bad.expect("a bad record");
        assert_eq!(seq, 4);
        assert!(reason.contains("changed"), "{reason}");
    }
}

engine_test! {
    async fn malformed_and_hostile_calls_get_clean_errors_and_reach_nothing(test_db: TestDb) {
        // A service behind a real HTTP server, to try to leave it.
        let backend = TestServer::serve(Router::new().nest("/base", echo()).route(
            "/admin",
            any(|| async { "the admin page must never be reached" }),
        ))
        .await;
        let gateway = setup(&test_db.db, Some(("http-echo", backend.url("/base")))).await;
        let server = serve(&gateway).await;
        let call = |path: &str| server.client.get(server.url(path)).header("X-Road-Client", CLIENT);

        // The HTTP service works...
        let response = call("/r1/EGOV/GOV/000.00.25.H12/registry/http-echo/persons/1?a=1").send().await.expect("call");
        assert_eq!(response.status(), 200);
        let echoed: serde_json::Value = response.json().await.expect("json");
        assert_eq!(echoed["uri"], "/persons/1?a=1");

        // ...and nothing gets out of it.
        for path in [
            "/r1/EGOV/GOV/000.00.25.H12/registry/http-echo/..%2Fadmin",
            "/r1/EGOV/GOV/000.00.25.H12/registry/http-echo/%2e%2e/admin",
            "/r1/EGOV/GOV/000.00.25.H12/registry/http-echo//127.0.0.1:1/admin",
            "/r1/EGOV/GOV/000.00.25.H12/registry/http-echo/a%5c..%5cadmin",
            "/r1/EGOV/GOV/000.00.25.H12/registry/echo/%zz",
            "/r1/EGOV%2FGOV/000.00.25.H12/registry/echo",
            "/r1/EGOV/GOV/000.00.25.H12/registry",
            "/r1/EGOV/GOV/000.00.25.H12/registry/getOpenAPI?serviceCode=echo&serviceCode=echo2",
        ] {
            // Sent byte for byte: HTTP clients would remove the dot segments.
            let (status, head, body) = raw_get(&server, path, CLIENT).await;
            assert_eq!(status, 400, "{path}");
            assert!(head.contains("x-road-error: client.badrequest"), "{path}: {head}");
            let body: serde_json::Value = serde_json::from_str(&body).expect("json");
            assert_eq!(body["type"], "Client.BadRequest");
        }
        // Bad or missing client headers.
        let no_client = server.client.get(server.url("/r1/EGOV/GOV/000.00.25.H12/registry/echo")).send().await.expect("call");
        assert_eq!(xroad_error(no_client.headers()).as_deref(), Some("Client.BadRequest"));
        let twice = call("/r1/EGOV/GOV/000.00.25.H12/registry/echo").header("X-Road-Client", OTHER_CLIENT).send().await.expect("call");
        assert_eq!(xroad_error(twice.headers()).as_deref(), Some("Client.BadRequest"));
        let oversized = call("/r1/EGOV/GOV/000.00.25.H12/registry/echo")
            .header("X-Custom", "a".repeat(20_000))
            .send()
            .await
            .expect("call");
        assert_eq!(xroad_error(oversized.headers()).as_deref(), Some("Client.BadRequest"));
        let long_issue = call("/r1/EGOV/GOV/000.00.25.H12/registry/echo")
            .header("X-Road-Issue", "x".repeat(2_000))
            .send()
            .await
            .expect("call");
        assert_eq!(xroad_error(long_issue.headers()).as_deref(), Some("Client.BadRequest"));
        let stranger = server
            .client
            .get(server.url("/r1/EGOV/GOV/000.00.25.H12/registry/echo"))
            .header("X-Road-Client", "EGOV/GOV/999/unknown")
            .send()
            .await
            .expect("call");
        assert_eq!(xroad_error(stranger.headers()).as_deref(), Some("Server.ClientProxy.UnknownMember"));
        // A provider this gateway does not know (another instance's).
        let elsewhere = call("/r1/EGOV/GOV/000.00.01.G06/registry/echo").send().await.expect("call");
        assert_eq!(xroad_error(elsewhere.headers()).as_deref(), Some("Server.ClientProxy.UnknownMember"));
        // An unknown service of a known provider.
        let unknown = call("/r1/EGOV/GOV/000.00.25.H12/registry/nothing").send().await.expect("call");
        assert_eq!(xroad_error(unknown.headers()).as_deref(), Some("Server.ServerProxy.UnknownService"));

        // None of the refused calls reached a service or the log, except
        // the unknown service, which the provider side answered.
        assert_eq!(log_count(&test_db.db).await, 4);
    }
}

engine_test! {
    async fn a_loopback_subsystem_is_refused_to_callers_on_other_hosts(test_db: TestDb) {
        let gateway = setup(&test_db.db, None).await;
        let call = |caller: Caller, client: &str| Call {
            method: axum::http::Method::GET,
            target: "/r1/EGOV/GOV/000.00.25.H12/registry/echo/persons/1".to_owned(),
            headers: {
                let mut headers = HeaderMap::new();
                headers.insert("x-road-client", client.parse().expect("header"));
                headers
            },
            body: Vec::new(),
            caller,
        };
        let remote = Caller::Network("192.0.2.7:50000".parse().expect("address"));
        let refused = gateway.call(call(remote, CLIENT)).await;
        assert_eq!(xroad_error(refused.headers()).as_deref(), Some("Server.ClientProxy.SslAuthenticationFailed"));
        let refused = gateway.call(call(Caller::Unknown, CLIENT)).await;
        assert_eq!(xroad_error(refused.headers()).as_deref(), Some("Server.ClientProxy.SslAuthenticationFailed"));
        let in_process = gateway.call(call(Caller::InProcess, CLIENT)).await;
        assert_eq!(in_process.status(), 200);
        // An open subsystem may call from anywhere (and is then refused by
        // the provider for want of a right, not by the consumer side).
        let open = gateway.call(call(remote, OTHER_CLIENT)).await;
        assert_eq!(xroad_error(open.headers()).as_deref(), Some("Server.ServerProxy.AccessDenied"));
    }
}

engine_test! {
    async fn metadata_services_list_what_is_served_and_what_the_caller_may_use(test_db: TestDb) {
        let gateway = setup(&test_db.db, None).await;
        let server = serve(&gateway).await;
        let get = |path: &str, client: &str| {
            server
                .client
                .get(server.url(path))
                .header("X-Road-Client", client)
                .header("Accept", "application/json")
        };
        let listed: serde_json::Value = get("/r1/EGOV/GOV/000.00.25.H12/registry/listMethods", CLIENT)
            .send()
            .await
            .expect("call")
            .json()
            .await
            .expect("json");
        let codes: Vec<&str> = listed["service"].as_array().expect("services").iter().filter_map(|s| s["service_code"].as_str()).collect();
        assert_eq!(codes, ["echo", "echo2"]);
        assert_eq!(listed["service"][0]["service_type"], "OPENAPI");
        assert_eq!(listed["service"][0]["endpoint_list"][0]["path"], "/persons/*");
        assert_eq!(listed["service"][1]["service_type"], "REST");
        assert_eq!(listed["service"][0]["xroad_instance"], "EGOV");

        let allowed: serde_json::Value = get("/r1/EGOV/GOV/000.00.25.H12/registry/allowedMethods", CLIENT)
            .send()
            .await
            .expect("call")
            .json()
            .await
            .expect("json");
        assert_eq!(allowed["service"].as_array().map(Vec::len), Some(1));
        assert_eq!(allowed["service"][0]["service_code"], "echo");
        let none: serde_json::Value = get("/r1/EGOV/GOV/000.00.25.H12/registry/allowedMethods", OTHER_CLIENT)
            .send()
            .await
            .expect("call")
            .json()
            .await
            .expect("json");
        assert_eq!(none["service"].as_array().map(Vec::len), Some(0));

        let openapi: serde_json::Value = get("/r1/EGOV/GOV/000.00.25.H12/registry/getOpenAPI?serviceCode=echo", CLIENT)
            .send()
            .await
            .expect("call")
            .json()
            .await
            .expect("json");
        assert_eq!(openapi["info"]["title"], "Echo");
        let missing = get("/r1/EGOV/GOV/000.00.25.H12/registry/getOpenAPI?serviceCode=echo2", CLIENT).send().await.expect("call");
        assert_eq!(xroad_error(missing.headers()).as_deref(), Some("Server.ServerProxy.OpenApiNotFound"));

        let clients: serde_json::Value = server.get("/listClients").await.json().await.expect("json");
        let members = clients["member"].as_array().expect("members");
        // Three members, each with one subsystem.
        assert_eq!(members.len(), 6);
        assert!(members.iter().any(|m| m["id"]["object_type"] == "SUBSYSTEM"
            && m["id"]["subsystem_code"] == "registry"
            && m["name"] == "Cơ sở dữ liệu dân cư"));
        assert!(members.iter().any(|m| m["id"]["object_type"] == "MEMBER" && m["id"]["member_code"] == "000.00.26.H12"));
        let other: serde_json::Value = server.get("/listClients?xRoadInstance=OTHER").await.json().await.expect("json");
        assert_eq!(other["member"].as_array().map(Vec::len), Some(0));
    }
}

engine_test! {
    async fn registrations_are_checked_and_audited(test_db: TestDb) {
        let db = &test_db.db;
        let member = ClientId::parse("EGOV/GOV/000.00.25.H12").expect("member");
        assert!(admin::add_subsystem(db, "test", &member, "x", Connection::Open).await.is_err());
        assert!(admin::add_subsystem(db, "test", &client_id(PROVIDER), " ", Connection::Open).await.is_err());
        admin::add_subsystem(db, "test", &client_id(PROVIDER), "Dân cư", Connection::Open).await.expect("subsystem");
        let spec = |target: &str| ServiceSpec {
            service: service("population"),
            target: target.to_owned(),
            openapi: None,
            timeout_ms: 5_000,
        };
        assert!(admin::add_service(db, "test", &spec("file:///etc/passwd")).await.is_err());
        assert!(admin::add_service(db, "test", &spec("https://user:pw@host.example")).await.is_err());
        let unknown_provider = ServiceSpec {
            service: ServiceId::new(client_id(CLIENT), "x").expect("service"),
            ..spec("local:registry")
        };
        assert!(admin::add_service(db, "test", &unknown_provider).await.is_err());
        admin::add_service(db, "test", &spec("local:registry")).await.expect("service");
        assert!(admin::grant(db, "test", &service("nothing"), &client_id(CLIENT)).await.is_err());
        admin::grant(db, "test", &service("population"), &client_id(CLIENT)).await.expect("grant");
        for action in ["gateway.subsystem_registered", "gateway.service_registered", "gateway.access_granted"] {
            let records = egov_db::audit::for_action(db, action, 10).await.expect("audit");
            assert_eq!(records.len(), 1, "{action}");
        }
    }
}

engine_test! {
    async fn an_exported_archive_verifies_and_retention_removes_only_archived_records(test_db: TestDb) {
        let gateway = setup(&test_db.db, None).await;
        let server = serve(&gateway).await;
        let exchange = || async {
            let response = server
                .client
                .get(server.url("/r1/EGOV/GOV/000.00.25.H12/registry/echo/persons/1"))
                .header("X-Road-Client", CLIENT)
                .send()
                .await
                .expect("call");
            assert_eq!(response.status(), 200);
        };
        for _ in 0..3 {
            exchange().await;
        }
        let (key, _) = gateway.keys().await.expect("keys");
        let mut archive = Vec::new();
        let manifest = egov_gateway::log::export(&test_db.db, 0, i64::MAX, key, &mut archive, chrono::Utc::now())
            .await
            .expect("export")
            .expect("records");
        assert_eq!((manifest.first_seq, manifest.last_seq, manifest.records), (1, 6, 6));
        let keys = gateway.log_keys().await.expect("keys");
        let text = String::from_utf8(archive).expect("UTF-8");
        assert_eq!(egov_gateway::log::verify_archive(&text, &keys).expect("verifies"), manifest);
        // A changed line, or a line taken out, is found.
        let tampered = text.replacen("\"status\":200", "\"status\":201", 1);
        assert!(egov_gateway::log::verify_archive(&tampered, &keys).is_err());
        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        lines.remove(2);
        assert!(egov_gateway::log::verify_archive(&lines.concat(), &keys).is_err());

        // Retention removes what the archive holds, and nothing newer.
        exchange().await;
        let removed = egov_gateway::log::purge_archived(&test_db.db, i64::MAX).await.expect("purge");
        assert_eq!(removed, 6);
        assert_eq!(egov_gateway::log::purge_archived(&test_db.db, i64::MAX).await.expect("purge"), 0);
        // What stays still verifies, from the first record kept.
        let report = egov_gateway::log::verify(&test_db.db, &keys).await.expect("verify");
        assert_eq!((report.records, report.first_seq, report.first_bad), (2, Some(7), None));
    }
}
