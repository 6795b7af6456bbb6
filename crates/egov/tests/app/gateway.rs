//! The gateway in the composed app, as the README shows it: an agency
//! system reads a person from the demo population registry through `/r1/`
//! with the X-Road protocol; the read lands in the citizen's data tracker,
//! both gateway sides log the exchange, and `egov gateway verify-log`
//! proves the log.

use egov::demo::{DEMO_ONESTOP_CLIENT, DEMO_POPULATION_SERVICE, load_gateway, load_registry};
use egov_registry::domain::POPULATION;
use egov_testkit::engine_test;

use super::dossier_pages::{page, portal_browser};
use super::support::spawn_demo;

fn xroad_error(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("x-road-error")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

engine_test! {
    async fn an_agency_system_reads_a_person_through_the_gateway_and_the_citizen_can_see_it(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        load_registry(&app.test_db.db, &app.config).await.expect("demo registry");
        load_gateway(&app.test_db.db).await.expect("demo gateway");
        load_gateway(&app.test_db.db).await.expect("demo gateway, again");
        let read = |issue: &str, body: &str| {
            app.server
                .client
                .post(app.server.url(&format!("/r1/{DEMO_POPULATION_SERVICE}/read")))
                .header("X-Road-Client", DEMO_ONESTOP_CLIENT)
                .header("X-Road-UserId", "VN024185004321")
                .header("X-Road-Issue", issue)
                .header("Content-Type", "application/json")
                .body(body.to_owned())
        };
        let person = read("onestop-verify:000.00.01.H24-261127-0001", r#"{"query":{"content":{"personal_id":"001090012345"}}}"#)
            .send()
            .await
            .expect("read");
        assert_eq!(person.status(), 200);
        assert_eq!(person.headers()["x-road-service"], DEMO_POPULATION_SERVICE);
        assert!(person.headers().contains_key("x-road-request-hash"));
        let person: serde_json::Value = person.json().await.expect("json");
        assert_eq!(person["content"]["full_name"], "Nguyễn Văn An", "{person}");

        // The registry itself refuses a purpose it did not grant: that is
        // the service's answer, so it has no X-Road-Error.
        let refused = read("marketing", r#"{"query":{"content":{"personal_id":"001090012345"}}}"#).send().await.expect("read");
        assert_eq!(xroad_error(&refused), None);
        assert_eq!(refused.status(), 403, "{:?}", refused.text().await);
        // The reading service takes no writes, whoever calls.
        let write = app
            .server
            .client
            .post(app.server.url(&format!("/r1/{DEMO_POPULATION_SERVICE}/create")))
            .header("X-Road-Client", DEMO_ONESTOP_CLIENT)
            .header("Content-Type", "application/json")
            .body(r#"{"write":{"content":{}}}"#)
            .send()
            .await
            .expect("create");
        assert_eq!(xroad_error(&write).as_deref(), Some("Server.ServerProxy.AccessDenied"));
        // Its description is published.
        let openapi: serde_json::Value = app
            .server
            .client
            .get(app.server.url("/r1/VN/GOV/000.05.00.H24/registry/getOpenAPI?serviceCode=population"))
            .header("X-Road-Client", DEMO_ONESTOP_CLIENT)
            .send()
            .await
            .expect("getOpenAPI")
            .json()
            .await
            .expect("json");
        assert!(openapi["paths"]["/read"]["post"].is_object());

        // The exchanges are counted per client and service, with their outcome.
        let metrics = app.server.get("/metrics").await.text().await.expect("metrics");
        let counted = format!(
            "egov_gateway_exchanges_total{{side=\"consumer\",client=\"{DEMO_ONESTOP_CLIENT}\",service=\"{DEMO_POPULATION_SERVICE}\",outcome=\"ok\"}} 1"
        );
        assert!(metrics.contains(&counted), "{metrics}");
        assert!(metrics.contains("outcome=\"Server.ServerProxy.AccessDenied\"} 1"), "{metrics}");
        assert!(metrics.contains("outcome=\"service_error\"} 1"), "{metrics}");

        // The operator's page shows the same, to platform admins only.
        let anonymous = app.server.get("/admin/gateway").await;
        assert_eq!(anonymous.status(), 303);
        let citizen = portal_browser(&app, "001090012345").await;
        assert_eq!(page(&app, &citizen, "/admin/gateway").await.0, 403);
        let admin = portal_browser(&app, "001082005566").await;
        let (status, html) = page(&app, &admin, "/admin/gateway").await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Nền tảng tích hợp, chia sẻ dữ liệu") && html.contains(DEMO_POPULATION_SERVICE), "{html}");

        // One read reached the tracker, with who and why.
        let registry = egov::app::registry(&app.test_db.db, &app.config);
        let reads = registry.reads_of_person("001090012345", 50).await.expect("tracker");
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].client, DEMO_ONESTOP_CLIENT);
        assert_eq!(reads[0].user_id, "VN024185004321");
        assert_eq!(reads[0].dataset, POPULATION);

        // Both sides logged the three exchanges that reached the provider
        // gateway, and the operator's command proves the log.
        let records = egov_gateway::log::recent(&app.test_db.db, 100).await.expect("log");
        assert_eq!(records.len(), 6);
        let dir = tempfile::tempdir().expect("temporary folder");
        let config = dir.path().join("egov.toml");
        std::fs::write(&config, format!("[database]\nurl = \"{}\"\n", app.test_db.url)).expect("config");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_egov"))
            .args(["--config", &config.display().to_string(), "gateway", "verify-log"])
            .env_remove("RUST_LOG")
            .output()
            .expect("run egov");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("6 record(s)"), "{stdout}");
    }
}
