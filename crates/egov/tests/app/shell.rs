//! The web shell as a visitor and an operator meet it: languages, CSRF,
//! security headers, errors, health, metrics and the API description.

use egov_testkit::engine_test;

use super::support::spawn_demo;

engine_test! {
    async fn pages_are_vietnamese_by_default_and_english_after_the_switch(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (status, html) = app.get_text("/").await;
        assert_eq!(status, 200);
        assert!(html.contains("<html lang=\"vi\">"));
        assert!(html.contains("Tra cứu thủ tục hành chính"));

        let token = app.csrf_token().await;
        let response = app
            .server
            .client
            .post(app.server.url("/lang"))
            .form(&[("lang", "en"), ("next", "/procedures?q=khai+sinh"), ("csrf_token", token.as_str())])
            .send()
            .await
            .expect("switch language");
        assert_eq!(response.status().as_u16(), 303);
        assert_eq!(response.headers()["location"], "/procedures?q=khai+sinh");

        // The choice persists: later pages are English with no Vietnamese
        // interface strings left.
        let (_, html) = app.get_text("/procedures?q=khai+sinh").await;
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("Birth registration"));
        for vietnamese in ["Tìm kiếm", "Trang chủ", "Thủ tục hành chính", "Lọc kết quả", "Tất cả"] {
            assert!(!html.contains(vietnamese), "English page still says {vietnamese}");
        }
        let (_, home) = app.get_text("/").await;
        assert!(home.contains("Find an administrative procedure"));
    }
}

engine_test! {
    async fn a_form_without_a_valid_csrf_token_is_refused_in_the_users_language(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let _ = app.csrf_token().await;
        let post = |token: &'static str| {
            app.server.client.post(app.server.url("/lang")).form(&[("lang", "en"), ("csrf_token", token)]).send()
        };
        let response = post("forged.token").await.expect("send");
        assert_eq!(response.status().as_u16(), 403);
        let html = response.text().await.expect("body");
        assert!(html.contains("Biểu mẫu đã hết hạn"), "{html}");

        // A cross-site request is refused even with the right token.
        let token = app.csrf_token().await;
        let response = app
            .server
            .client
            .post(app.server.url("/lang"))
            .header("sec-fetch-site", "cross-site")
            .form(&[("lang", "en"), ("csrf_token", token.as_str())])
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 403);

        // Nothing changed: the site is still Vietnamese.
        let (_, html) = app.get_text("/").await;
        assert!(html.contains("<html lang=\"vi\">"));
    }
}

engine_test! {
    async fn every_response_carries_the_security_headers(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        for path in ["/", "/procedures/none", "/api/v1/procedures", "/static/egov.css"] {
            let response = app.server.get(path).await;
            let headers = response.headers();
            let csp = headers["content-security-policy"].to_str().expect("ASCII");
            assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}");
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(headers["referrer-policy"], "strict-origin-when-cross-origin", "{path}");
            assert!(headers.contains_key("x-request-id"), "{path}");
            // Served over plain HTTP here, so no HSTS.
            assert!(!headers.contains_key("strict-transport-security"), "{path}");
        }
    }
}

engine_test! {
    async fn unknown_pages_get_a_not_found_page_in_the_chosen_language(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (status, html) = app.get_text("/no/such/page").await;
        assert_eq!(status, 404);
        assert!(html.contains("Không tìm thấy trang"));
        let (status, html) = app.get_text("/no/such/page?lang=en").await;
        assert_eq!(status, 404);
        assert!(html.contains("does not exist") && html.contains("<html lang=\"en\">"));
        let (status, body) = app.get_json("/api/v1/nothing").await;
        assert_eq!(status, 404);
        assert_eq!(body["code"], "not_found");
    }
}

engine_test! {
    async fn health_readiness_and_metrics_answer(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        assert_eq!(app.get_text("/healthz").await, (200, "ok".to_owned()));
        assert_eq!(app.get_text("/readyz").await, (200, "ready".to_owned()));
        let _ = app.get_text("/api/v1/procedures?q=khai").await;
        let (status, metrics) = app.get_text("/metrics").await;
        assert_eq!(status, 200);
        assert!(metrics.contains("egov_http_requests_total{method=\"GET\",route=\"/api/v1/procedures\",status=\"200\"} 1"), "{metrics}");
        assert!(metrics.contains("egov_jobs{status=\"pending\"}"), "{metrics}");
    }
}

engine_test! {
    async fn readiness_fails_when_the_database_is_gone(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        app.test_db.db.close().await;
        let (status, _) = app.get_text("/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(app.get_text("/healthz").await.0, 200);
    }
}

engine_test! {
    async fn the_openapi_description_lists_every_json_route_and_renders_as_a_page(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (status, openapi) = app.get_json("/api/openapi.json").await;
        assert_eq!(status, 200);
        for path in ["/api/v1/procedures", "/api/v1/procedures/{code}", "/api/v1/agencies", "/api/v1/fields", "/api/v1/provinces"] {
            assert!(openapi["paths"][path]["get"].is_object(), "{path} missing from OpenAPI");
        }
        assert!(openapi["paths"]["/api/v1/id/users"]["get"].is_object());
        for (path, method) in [
            ("/api/v1/dossiers", "post"),
            ("/api/v1/dossiers/{code}/actions", "post"),
            ("/api/v1/statistics", "get"),
            ("/api/v1/results/{id}", "get"),
            ("/api/govstack/registration/services/{service_id}/applications", "post"),
            ("/api/govstack/registration/tasks/{code}/{step}/complete", "post"),
        ] {
            assert!(openapi["paths"][path][method].is_object(), "{method} {path} missing from OpenAPI");
        }
        assert!(openapi["paths"]["/api/v1/id/users/{id}/{action}"]["post"].is_object());
        assert_eq!(openapi["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let (status, html) = app.get_text("/api/docs").await;
        assert_eq!(status, 200);
        assert!(html.contains("/api/v1/procedures/{code}") && html.contains("Tài liệu API"));
    }
}

#[tokio::test]
async fn an_instance_served_over_tls_sends_hsts_and_secure_cookies() {
    let test_db = egov_testkit::TestDb::sqlite().await;
    let config = egov::app::AppConfig {
        https: true,
        ..egov::app::AppConfig::for_tests()
    };
    let server = egov_testkit::TestServer::serve(egov::app::router(test_db.db.clone(), &config)).await;
    let response = server.get("/healthz").await;
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    let cookie = response.headers()["set-cookie"].to_str().expect("ASCII");
    assert!(
        cookie.starts_with("egov_csrf=") && cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}
