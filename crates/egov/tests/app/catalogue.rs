//! The public procedure catalogue: search, filters, procedure pages, the
//! JSON API, and imports.

use chrono::Utc;
use egov_onestop::catalogue::import::{self, ImportError, ImportFormat, ImportMode};
use egov_onestop::catalogue::store;
use egov_testkit::engine_test;

use chrono::TimeZone as _;

use super::support::{spawn_demo, spawn_demo_at};

fn codes(body: &serde_json::Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["code"].as_str().expect("code").to_owned())
        .collect()
}

engine_test! {
    async fn search_ignores_diacritics_and_case(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let mut results = Vec::new();
        for query in ["dang%20ky%20khai%20sinh", "%C4%90%C4%83ng%20k%C3%BD%20khai%20sinh", "DANG%20KY%20KHAI%20SINH"] {
            let (status, body) = app.get_json(&format!("/api/v1/procedures?q={query}")).await;
            assert_eq!(status, 200);
            results.push(codes(&body));
        }
        assert_eq!(results[0].first().map(String::as_str), Some("1.001193"));
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0], results[2]);
    }
}

engine_test! {
    async fn filters_narrow_the_results(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (_, all) = app.get_json("/api/v1/procedures").await;
        assert_eq!(all["total"], 14);
        let (_, province) = app.get_json("/api/v1/procedures?level=province").await;
        assert!(province["items"].as_array().expect("items").iter().all(|p| p["level"] == "province"));
        assert_eq!(province["total"], 4);
        let (_, partial) = app.get_json("/api/v1/procedures?online=partial").await;
        assert!(partial["items"].as_array().expect("items").iter().all(|p| p["online"] == "partial"));
        let (_, police) = app.get_json("/api/v1/procedures?agency=000.05.01.H24").await;
        assert_eq!(codes(&police), ["1.004194", "1.004222"]);
        let (_, civil) = app.get_json("/api/v1/procedures?field=ho_tich&q=dang+ky").await;
        assert_eq!(civil["total"], 3);
    }
}

engine_test! {
    async fn bad_search_parameters_get_a_clear_error(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let long = "a".repeat(201);
        let (status, body) = app.get_json(&format!("/api/v1/procedures?q={long}")).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("query_too_long")));
        let (status, body) = app.get_json("/api/v1/procedures?page=0&lang=en").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_parameter")));
        assert_eq!(body["message"], "Invalid parameter: page");
        let (status, body) = app.get_json("/api/v1/procedures?level=district").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_parameter")));
        let (status, html) = app.get_text(&format!("/procedures?q={long}")).await;
        assert_eq!(status, 400);
        assert!(html.contains("Từ khóa tìm kiếm quá dài"));
    }
}

engine_test! {
    async fn a_procedure_page_shows_what_a_citizen_needs(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (status, html) = app.get_text("/procedures/1.004222").await;
        assert_eq!(status, 200);
        for expected in ["Đăng ký thường trú", "Thành phần hồ sơ", "20.000 ₫", "7 ngày làm việc", "Công an phường Kinh Bắc", "Luật Cư trú", "Toàn trình", "Nộp hồ sơ trực tuyến"] {
            assert!(html.contains(expected), "procedure page lacks {expected}");
        }
        let (_, english) = app.get_text("/procedures/1.004222?lang=en").await;
        assert!(english.contains("VND 20,000") && english.contains("7 working days") && english.contains("Apply online"));
        let (status, body) = app.get_json("/api/v1/procedures/1.004222").await;
        assert_eq!(status, 200);
        assert_eq!(body["fee_vnd"], 20000);
        assert_eq!(body["legacy_online_level"], 4);
        assert!(body["required_documents"].as_array().is_some_and(|docs| !docs.is_empty()));
    }
}

engine_test! {
    async fn an_unknown_procedure_is_not_found_on_pages_and_in_json(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (status, html) = app.get_text("/procedures/9.999999").await;
        assert_eq!(status, 404);
        assert!(html.contains("Không tìm thấy thủ tục có mã này"));
        let (status, body) = app.get_json("/api/v1/procedures/9.999999").await;
        assert_eq!((status, body["code"].as_str()), (404, Some("procedure_not_found")));
        let (status, _) = app.get_json("/api/v1/procedures/%3Cscript%3E").await;
        assert_eq!(status, 404);
    }
}

engine_test! {
    async fn results_are_paged(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (_, page_one) = app.get_json("/api/v1/procedures").await;
        assert_eq!((page_one["page"].as_u64(), page_one["pages"].as_u64()), (Some(1), Some(1)));
        let (_, past_the_end) = app.get_json("/api/v1/procedures?page=2").await;
        assert_eq!(past_the_end["items"].as_array().map(Vec::len), Some(0));
    }
}

engine_test! {
    async fn seeding_twice_changes_nothing(test_db: TestDb) {
        let db = test_db.db.clone();
        let now = Utc::now();
        let first = egov_onestop::seed::load_demo(&db, now).await.expect("seed");
        assert_eq!(first.procedures.inserted, 14);
        let revision = store::revision(&db).await.expect("revision");
        let second = egov_onestop::seed::load_demo(&db, now).await.expect("seed again");
        assert_eq!(second, egov_onestop::seed::SeedReport {
            procedures: import::ImportReport { skipped: 14, ..Default::default() },
            ..Default::default()
        });
        assert_eq!(store::revision(&db).await.expect("revision"), revision);
    }
}

engine_test! {
    async fn an_import_with_bad_rows_reports_each_line_and_writes_nothing(test_db: TestDb) {
        let db = test_db.db.clone();
        egov_onestop::seed::load_demo(&db, Utc::now()).await.expect("seed");
        let revision = store::revision(&db).await.expect("revision");
        let csv = "code,name_vi,name_en,level,field,fee_vnd,processing_days,online,agency_codes\n\
                   9.000001,Thủ tục mới,New procedure,commune,ho_tich,10000,5,full,000.00.01.H24\n\
                   9.000002,Thủ tục sai,Wrong,district,ho_tich,0,5,full,000.00.01.H24\n\
                   9.000003,Thủ tục sai phí,Wrong fee,commune,ho_tich,12.5,5,full,000.00.01.H24\n\
                   9.000001,Trùng mã,Duplicate,commune,ho_tich,0,5,full,000.00.01.H24\n";
        let rows = import::parse_file(ImportFormat::Csv, csv).expect("readable");
        let error = import::import(&db, rows, ImportMode::Upsert, "test", Utc::now(), &|_| {}).await.expect_err("bad rows");
        let ImportError::Rows(errors) = error else { panic!("expected row errors, got {error}") };
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        assert!(errors[0].message.starts_with("level:"));
        assert!(errors[1].message.starts_with("fee_vnd:"));
        assert!(errors[2].message.contains("appears already on line 2"));
        // All or nothing: the good row was not written either.
        assert_eq!(store::revision(&db).await.expect("revision"), revision);
        let (_, procedures) = store::load_all(&db).await.expect("load");
        assert!(procedures.iter().all(|(p, _)| p.code.as_str() != "9.000001"));
    }
}

engine_test! {
    async fn a_good_import_is_searchable_and_audited(test_db: TestDb) {
        let db = test_db.db.clone();
        egov_onestop::seed::load_demo(&db, Utc::now()).await.expect("seed");
        let jsonl = "{\"code\":\"9.000001\",\"name_vi\":\"Cấp giấy phép đào đường\",\"name_en\":\"Road excavation permit\",\"level\":\"province\",\"field\":\"duong_bo\",\"fee_vnd\":150000,\"processing_days\":7,\"online\":\"partial\",\"agency_codes\":[\"000.03.00.H24\"]}\n\
                     {\"code\":\"1.001193\",\"name_vi\":\"Đăng ký khai sinh\",\"name_en\":\"Birth registration\",\"level\":\"commune\",\"field\":\"ho_tich\",\"fee_vnd\":0,\"processing_days\":1,\"online\":\"full\",\"agency_codes\":[\"000.00.01.H24\"]}\n";
        let rows = import::parse_file(ImportFormat::JsonLines, jsonl).expect("readable");
        let report = import::import(&db, rows, ImportMode::Upsert, "cli:test", Utc::now(), &|_| {}).await.expect("import");
        assert_eq!((report.inserted, report.updated), (1, 1));
        let audit = egov_db::audit::for_action(&db, "catalogue.import", 10).await.expect("audit");
        assert_eq!(audit.first().map(|record| record.actor.as_str()), Some("cli:test"));

        // A node started after the import sees it.
        let app = spawn_demo(test_db).await;
        let (_, body) = app.get_json("/api/v1/procedures?q=dao+duong").await;
        assert_eq!(codes(&body), ["9.000001"]);
        let (_, birth) = app.get_json("/api/v1/procedures/1.001193").await;
        assert_eq!(birth["agencies"].as_array().map(Vec::len), Some(1));
    }
}

engine_test! {
    async fn the_due_date_counts_working_days_around_tet(test_db: TestDb) {
        // Friday 13 February 2026, 10:00 in Hà Nội: the last working day
        // before the Tết break (16–20 February plus the weekends around it).
        let friday_before_tet = Utc.with_ymd_and_hms(2026, 2, 13, 3, 0, 0).single().expect("valid time");
        let app = spawn_demo_at(test_db, friday_before_tet).await;
        let (_, birth) = app.get_json("/api/v1/procedures/1.001193").await;
        assert_eq!(birth["due_date_if_received_today"], "2026-02-23");
        let (_, html) = app.get_text("/procedures/1.001193").await;
        assert!(html.contains("Thứ Hai, 23/02/2026"), "the page shows the due date");
        let (_, english) = app.get_text("/procedures/1.001193?lang=en").await;
        assert!(english.contains("Monday, 23 February 2026"));
    }
}

engine_test! {
    async fn a_dossier_received_on_a_sunday_counts_from_monday(test_db: TestDb) {
        let sunday = Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).single().expect("valid time");
        let app = spawn_demo_at(test_db, sunday).await;
        let (_, birth) = app.get_json("/api/v1/procedures/1.001193").await;
        assert_eq!(birth["due_date_if_received_today"], "2026-03-03");
    }
}

engine_test! {
    async fn each_agency_keeps_its_own_office_hours(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (_, agencies) = app.get_json("/api/v1/agencies").await;
        let hours = |code: &str| {
            agencies.as_array().expect("list").iter().find(|a| a["code"] == code).expect("agency")["office_hours"].clone()
        };
        assert_eq!(hours("000.00.02.H24"), "08:00-12:00,13:00-17:00");
        assert_eq!(hours("000.00.01.H24"), "07:30-11:30,13:30-17:00");
    }
}

engine_test! {
    async fn the_34_provincial_units_are_served(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (status, provinces) = app.get_json("/api/v1/provinces").await;
        assert_eq!(status, 200);
        let provinces = provinces.as_array().expect("list");
        assert_eq!(provinces.len(), 34);
        assert!(provinces.iter().any(|p| p["code"] == "24" && p["name_vi"] == "Tỉnh Bắc Ninh"));
    }
}
