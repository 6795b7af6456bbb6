//! The registry on both engines: schemas, the Data API over real HTTP,
//! purposes and the data tracker, CSV import, and the demo generator.

use std::sync::Arc;

use egov_core::clock::SystemClock;
use egov_core::personal_id::PersonalId;
use egov_registry::domain::{FieldProblem, POPULATION, population_schema};
use egov_registry::generate::{self, POPULATION_COLUMNS};
use egov_registry::{Registry, service_router};
use egov_testkit::{TestDb, TestServer, engine_test};
use serde_json::{Map, Value, json};

const ONESTOP: &str = "EGOV/GOV/000.00.25.H12/onestop";
const OTHER: &str = "EGOV/GOV/000.00.25.H12/other";

async fn registry(test_db: &TestDb) -> Registry {
    let registry = Registry::new(test_db.db.clone(), Arc::new(SystemClock));
    registry.ensure_shipped().await.expect("shipped datasets");
    registry
        .grant_purpose(ONESTOP, POPULATION, "onestop-verify", "test")
        .await
        .expect("grant");
    registry
}

fn person() -> Map<String, Value> {
    let value = json!({
        "personal_id": "001090012345",
        "full_name": "Nguyễn Văn An",
        "date_of_birth": "1990-05-17",
        "sex": "male",
        "place_of_birth": "01",
        "residence_province": "24",
        "residence_commune": "07210",
        "status": "living",
    });
    value.as_object().cloned().expect("an object")
}

/// A request to the served router with the gateway's headers.
fn call(server: &TestServer, method: reqwest::Method, path: &str, headers: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let mut request = server.client.request(method, server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

const READER: &[(&str, &str)] = &[
    ("X-Road-Client", ONESTOP),
    ("X-Road-UserId", "official-42"),
    ("X-Road-Issue", "onestop-verify:000.00.25.H12-261127-0001"),
    ("X-Road-Id", "msg-1"),
];

#[test]
fn validation_reports_each_bad_field() {
    let schema = population_schema();
    let mut bad = person();
    bad.insert("personal_id".into(), json!("003190012345"));
    bad.insert("date_of_birth".into(), json!("1990-02-30"));
    bad.insert("sex".into(), json!("other"));
    bad.insert("residence_commune".into(), json!("7210"));
    bad.insert("nickname".into(), json!("An"));
    bad.remove("full_name");
    bad.insert("place_of_birth".into(), json!(1));
    let errors = schema.validate(&bad).expect_err("invalid");
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|error| (error.field.as_str(), error.problem.code()))
        .collect();
    assert_eq!(
        found,
        [
            ("personal_id", "bad_personal_id"),
            ("full_name", "required"),
            ("date_of_birth", "bad_date"),
            ("sex", "not_in_list"),
            ("place_of_birth", "not_text"),
            ("residence_commune", "bad_commune"),
            ("nickname", "unknown_field"),
        ]
    );
    assert!(matches!(&errors[0].problem, FieldProblem::BadPersonalId(why) if why.contains("003")));
    let good = schema.validate(&person()).expect("valid");
    assert_eq!(good.key, "001090012345");
    assert_eq!(good.search_text, "001090012345 nguyen van an");
    assert_eq!(good.personal_id.as_deref(), Some("001090012345"));
}

#[test]
fn the_generator_makes_valid_distinct_persons_and_repeats_itself() {
    let schema = population_schema();
    let persons = generate::persons(7, 3_000);
    let mut ids = std::collections::HashSet::new();
    for person in &persons {
        let id = PersonalId::parse(&person.personal_id).expect("a valid personal ID");
        assert_eq!(id.birth_year().to_string(), person.date_of_birth[..4], "{person:?}");
        let female = person.sex == "female";
        assert_eq!(id.sex() == egov_core::personal_id::Sex::Female, female, "{person:?}");
        assert!(schema.validate(&person.content()).is_ok(), "{person:?}");
        assert!(
            ids.insert(person.personal_id.clone()),
            "repeated {}",
            person.personal_id
        );
    }
    assert_eq!(generate::persons(7, 3_000), persons);
    assert_ne!(generate::persons(8, 10), persons[..10]);
    assert!(persons.iter().any(|person| person.household_head.is_some()));
    let families: std::collections::HashSet<&str> = persons
        .iter()
        .filter_map(|person| person.full_name.split(' ').next())
        .collect();
    assert!(families.contains("Nguyễn") && families.contains("Trần") && families.len() > 10);
}

engine_test! {
    async fn records_are_created_read_searched_and_updated_through_the_data_api(test_db: TestDb) {
        let registry = registry(&test_db).await;
        let server = TestServer::serve(service_router(registry.clone())).await;
        let writer = &[("X-Road-Client", ONESTOP), ("X-Road-UserId", "clerk-1")];

        let (status, created) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/population/1.0/create", writer)
                .json(&json!({ "write": { "content": person() } }))
                .send()
                .await
                .expect("create"),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["content"]["full_name"], "Nguyễn Văn An");

        let (status, again) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/population/1.0/create", writer)
                .json(&json!({ "write": { "content": person() } }))
                .send()
                .await
                .expect("create again"),
        )
        .await;
        assert_eq!((status, again["code"].as_str()), (409, Some("exists")));

        let mut bad = person();
        bad.insert("personal_id".into(), json!("12345"));
        let (status, invalid) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/population/1.0/create", writer)
                .json(&json!({ "write": { "content": bad } }))
                .send()
                .await
                .expect("create invalid"),
        )
        .await;
        assert_eq!((status, invalid["code"].as_str()), (422, Some("invalid_record")));
        assert_eq!(invalid["errors"][0]["field"], "personal_id");
        assert_eq!(invalid["errors"][0]["code"], "bad_personal_id");

        let (status, read) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/population/1.0/read", READER)
                .json(&json!({ "query": { "content": { "personal_id": "001090012345" } } }))
                .send()
                .await
                .expect("read"),
        )
        .await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["content"]["date_of_birth"], "1990-05-17");

        let (status, exists) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/population/1.0/exists", READER)
                .json(&json!({ "query": { "content": { "full_name": "Nguyễn Văn An", "sex": "male" } } }))
                .send()
                .await
                .expect("exists"),
        )
        .await;
        assert_eq!((status, exists["answer"]["status"].as_bool()), (200, Some(true)));
        let (_, missing) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/population/1.0/exists", READER)
                .json(&json!({ "query": { "content": { "personal_id": "001090099999" } } }))
                .send()
                .await
                .expect("exists, missing"),
        )
        .await;
        assert_eq!(missing["answer"]["status"], false);

        let (status, found) = json_of(
            call(&server, reqwest::Method::GET, "/registry/data/population/1.0?search=nguyen%20an&query.sex=male", READER)
                .send()
                .await
                .expect("search"),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["count"], 1);
        assert_eq!(found["results"][0]["personal_id"], "001090012345");
        let (_, none) = json_of(
            call(&server, reqwest::Method::GET, "/registry/data/population/1.0?query.sex=female", READER)
                .send()
                .await
                .expect("search, none"),
        )
        .await;
        assert_eq!(none["count"], 0);

        let (status, updated) = json_of(
            call(&server, reqwest::Method::PUT, "/registry/data/population/1.0/update", writer)
                .json(&json!({
                    "query": { "content": { "personal_id": "001090012345" } },
                    "write": { "content": { "residence_commune": "07228" } },
                }))
                .send()
                .await
                .expect("update"),
        )
        .await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["content"]["residence_commune"], "07228");
        assert_eq!(updated["content"]["full_name"], "Nguyễn Văn An");
        let (status, changed_key) = json_of(
            call(&server, reqwest::Method::PUT, "/registry/data/population/1.0/update", writer)
                .json(&json!({
                    "query": { "content": { "personal_id": "001090012345" } },
                    "write": { "content": { "personal_id": "001090012346" } },
                }))
                .send()
                .await
                .expect("update the key"),
        )
        .await;
        assert_eq!((status, changed_key["code"].as_str()), (409, Some("key_change")));

        let (status, wrong_version) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/population/2.0/read", READER)
                .json(&json!({ "query": { "content": { "personal_id": "001090012345" } } }))
                .send()
                .await
                .expect("read another version"),
        )
        .await;
        assert_eq!((status, wrong_version["code"].as_str()), (404, Some("unknown_version")));

        let deleted = call(&server, reqwest::Method::DELETE, "/registry/data/population/1.0/001090012345/delete", writer)
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status().as_u16(), 204);
        let (status, gone) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/population/1.0/read", READER)
                .json(&json!({ "query": { "content": { "personal_id": "001090012345" } } }))
                .send()
                .await
                .expect("read deleted"),
        )
        .await;
        assert_eq!((status, gone["code"].as_str()), (404, Some("not_found")));

        let audit = egov_db::audit::for_subject(&test_db.db, "registry:population:001090012345", 10)
            .await
            .expect("audit");
        let actions: Vec<&str> = audit.iter().map(|record| record.action.as_str()).collect();
        assert_eq!(actions, ["registry.delete", "registry.update", "registry.create"]);
        assert_eq!(audit[2].actor, format!("xroad:{ONESTOP}:clerk-1"));
    }
}

engine_test! {
    async fn a_read_needs_a_granted_purpose_and_leaves_exactly_one_tracker_record(test_db: TestDb) {
        let registry = registry(&test_db).await;
        registry.create(POPULATION, "1.0", person(), "test").await.expect("create");
        let server = TestServer::serve(service_router(registry.clone())).await;
        let body = json!({ "query": { "content": { "personal_id": "001090012345" } } });
        let read = |headers: &'static [(&'static str, &'static str)]| {
            call(&server, reqwest::Method::POST, "/registry/data/population/1.0/read", headers)
                .json(&body)
                .send()
        };

        let (status, error) = json_of(read(&[("X-Road-Client", ONESTOP), ("X-Road-UserId", "official-42")]).await.expect("no issue")).await;
        assert_eq!((status, error["code"].as_str()), (400, Some("missing_purpose")));
        let (status, error) = json_of(read(&[("X-Road-Client", ONESTOP), ("X-Road-Issue", "onestop-verify")]).await.expect("no user")).await;
        assert_eq!((status, error["code"].as_str()), (400, Some("missing_purpose")));
        let (status, error) = json_of(
            read(&[("X-Road-Client", ONESTOP), ("X-Road-UserId", "official-42"), ("X-Road-Issue", "onestop-prefill")])
                .await
                .expect("purpose not granted"),
        )
        .await;
        assert_eq!((status, error["code"].as_str()), (403, Some("purpose_not_allowed")));
        let (status, error) = json_of(
            read(&[("X-Road-Client", OTHER), ("X-Road-UserId", "official-42"), ("X-Road-Issue", "onestop-verify")])
                .await
                .expect("another client"),
        )
        .await;
        assert_eq!((status, error["code"].as_str()), (403, Some("purpose_not_allowed")));
        let search = call(&server, reqwest::Method::GET, "/registry/data/population/1.0?search=an", &[("X-Road-Client", ONESTOP)])
            .send()
            .await
            .expect("search without purpose");
        assert_eq!(search.status().as_u16(), 400);
        assert!(
            registry.reads_of_person("001090012345", 10).await.expect("reads").is_empty(),
            "refused reads leave no tracker record"
        );

        let (status, _) = json_of(read(READER).await.expect("granted read")).await;
        assert_eq!(status, 200);
        let reads = registry.reads_of_person("001090012345", 10).await.expect("reads");
        assert_eq!(reads.len(), 1, "{reads:?}");
        let tracked = &reads[0];
        assert_eq!(tracked.client, ONESTOP);
        assert_eq!(tracked.user_id, "official-42");
        assert_eq!(tracked.purpose, "onestop-verify");
        assert_eq!(tracked.reference.as_deref(), Some("000.00.25.H12-261127-0001"));
        assert_eq!(tracked.message_id.as_deref(), Some("msg-1"));
        assert_eq!((tracked.dataset.as_str(), tracked.operation.as_str()), (POPULATION, "read"));

        // Revoking the purpose closes the door again.
        assert!(registry.revoke_purpose(ONESTOP, POPULATION, "onestop-verify", "test").await.expect("revoke"));
        let (status, _) = json_of(read(READER).await.expect("revoked read")).await;
        assert_eq!(status, 403);
        assert_eq!(registry.reads_of_person("001090012345", 10).await.expect("reads").len(), 1);
    }
}

engine_test! {
    async fn tracker_records_cannot_be_updated_or_deleted(test_db: TestDb) {
        let registry = registry(&test_db).await;
        registry.create(POPULATION, "1.0", person(), "test").await.expect("create");
        let reader = egov_registry::Reader {
            client: ONESTOP.to_owned(),
            user_id: "official-42".to_owned(),
            purpose: egov_registry::domain::Purpose::parse("onestop-verify").expect("purpose"),
            message_id: None,
        };
        let query = person();
        registry.read(POPULATION, "1.0", &query, &reader).await.expect("read");
        let update = egov_db::with_pool!(&test_db.db, pool => {
            sqlx::query("UPDATE registry_reads SET user_id = 'someone-else'").execute(pool).await.map(|_| ())
        });
        assert!(update.is_err(), "an UPDATE of the tracker must fail");
        let delete = egov_db::with_pool!(&test_db.db, pool => {
            sqlx::query("DELETE FROM registry_reads").execute(pool).await.map(|_| ())
        });
        assert!(delete.is_err(), "a DELETE of the tracker must fail");
        let reads = registry.reads_of_person("001090012345", 10).await.expect("reads");
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].user_id, "official-42");
    }
}

engine_test! {
    async fn a_csv_import_reports_bad_lines_by_number_and_imports_the_others(test_db: TestDb) {
        let registry = registry(&test_db).await;
        let persons = generate::persons(11, 5);
        let mut csv = POPULATION_COLUMNS.join(",");
        csv.push('\n');
        for (index, person) in persons.iter().enumerate() {
            let mut row: Vec<String> = person.row().iter().map(|value| (*value).to_owned()).collect();
            if index == 2 {
                row[2] = "1990-13-01".to_owned();
            }
            csv.push_str(&row.join(","));
            csv.push('\n');
        }
        csv.push_str("001090099999,Too few values\n");
        let seen = std::sync::atomic::AtomicU64::new(0);
        let report = registry
            .import_csv(POPULATION, csv.as_bytes(), "test", &|lines| {
                seen.store(lines, std::sync::atomic::Ordering::Relaxed);
            })
            .await
            .expect("import");
        assert_eq!((report.inserted, report.updated), (4, 0));
        let lines: Vec<u64> = report.errors.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [4, 7], "{:?}", report.errors);
        assert!(report.errors[0].1.contains("date_of_birth"), "{:?}", report.errors);
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 6);
        assert_eq!(registry.count(POPULATION).await.expect("count"), 4);

        // The same file again updates what exists and still skips the bad lines.
        let again = registry
            .import_csv(POPULATION, csv.as_bytes(), "test", &|_| {})
            .await
            .expect("import again");
        assert_eq!((again.inserted, again.updated, again.errors.len()), (0, 4, 2));
        assert_eq!(registry.count(POPULATION).await.expect("count"), 4);

        let unknown = registry
            .import_csv(POPULATION, "personal_id,nickname\n".as_bytes(), "test", &|_| {})
            .await;
        assert!(matches!(unknown, Err(egov_registry::RegistryError::Csv { line: 1, .. })), "{unknown:?}");
    }
}

engine_test! {
    async fn schemas_are_listed_and_modified_through_the_database_api(test_db: TestDb) {
        let registry = registry(&test_db).await;
        let server = TestServer::serve(service_router(registry.clone())).await;
        let headers = &[("X-Road-Client", ONESTOP), ("X-Road-UserId", "admin")];
        let (status, list) = json_of(call(&server, reqwest::Method::GET, "/registry/databases", headers).send().await.expect("list")).await;
        assert_eq!(status, 200);
        let names: Vec<&str> = list.as_array().expect("array").iter().filter_map(|db| db["name"].as_str()).collect();
        assert_eq!(names, ["enterprise", "population"]);

        let mut schema = egov_registry::domain::enterprise_schema();
        schema.version = "1.1".to_owned();
        let (status, modified) = json_of(
            call(&server, reqwest::Method::POST, "/registry/database/modify", headers)
                .json(&json!({ "schema": schema }))
                .send()
                .await
                .expect("modify"),
        )
        .await;
        assert_eq!(status, 200, "{modified}");
        let (_, one) = json_of(call(&server, reqwest::Method::GET, "/registry/database/enterprise", headers).send().await.expect("get")).await;
        assert_eq!(one["version"], "1.1");

        schema.key = "nothing".to_owned();
        let (status, bad) = json_of(
            call(&server, reqwest::Method::POST, "/registry/database/modify", headers)
                .json(&json!({ "schema": schema }))
                .send()
                .await
                .expect("modify badly"),
        )
        .await;
        assert_eq!((status, bad["code"].as_str()), (422, Some("invalid_schema")));

        let company = json!({ "write": { "content": {
            "tax_code": "0101234567-001", "name": "Công ty TNHH Sen Vàng", "legal_representative": "Lê Văn Cường",
            "address": "Số 1 Lý Thái Tổ, Bắc Ninh", "status": "active" } } });
        let (status, created) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/enterprise/1.1/create", headers)
                .json(&company)
                .send()
                .await
                .expect("create a company"),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        let (status, _) = json_of(
            call(&server, reqwest::Method::POST, "/registry/data/enterprise/1.1/create", &[("X-Road-UserId", "admin")])
                .json(&company)
                .send()
                .await
                .expect("create without a client"),
        )
        .await;
        assert_eq!(status, 400);
    }
}
