//! The base registries in the composed app: the demo population registry,
//! and the citizen's page "Ai đã xem dữ liệu của tôi", which lists the
//! reads of their record that the tracker recorded.

use egov::demo::{DEMO_ONESTOP_CLIENT, load_registry};
use egov_registry::Reader;
use egov_registry::domain::{POPULATION, Purpose};
use egov_testkit::engine_test;

use super::id::{CITIZEN, browser as new_browser};
use super::portal::portal_sign_in;
use super::support::spawn_demo;

engine_test! {
    async fn a_citizen_sees_who_read_their_population_record_in_both_languages(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        load_registry(&app.test_db.db, &app.config).await.expect("demo registry");
        load_registry(&app.test_db.db, &app.config).await.expect("demo registry, again");
        let registry = egov::app::registry(&app.test_db.db, &app.config);
        assert_eq!(registry.count(POPULATION).await.expect("count"), 2_008, "2,000 generated and the 8 demo accounts, once");

        // The demo one-stop shop verifies the demo citizen's record, as it
        // would through the gateway.
        let reader = Reader {
            client: DEMO_ONESTOP_CLIENT.to_owned(),
            user_id: "official-binh".to_owned(),
            purpose: Purpose::parse("onestop-verify:000.00.01.H24-261127-0001").expect("purpose"),
            message_id: None,
        };
        let query = serde_json::json!({ "personal_id": "001090012345" });
        let record = registry
            .read(POPULATION, "1.0", query.as_object().expect("object"), &reader)
            .await
            .expect("read");
        assert_eq!(record.content["full_name"], "Nguyễn Văn An");
        assert_eq!(record.content["sex"], "male");

        let browser = new_browser();
        let anonymous = browser.get(app.server.url("/portal/my-data-usage")).send().await.expect("page");
        assert_eq!(anonymous.status().as_u16(), 303);
        let location = anonymous.headers()["location"].to_str().expect("ASCII").to_owned();
        assert!(location.starts_with("/portal/sign-in?next="), "{location}");

        portal_sign_in(&app, &browser, CITIZEN).await;
        let home = browser.get(app.server.url("/portal")).send().await.expect("portal").text().await.expect("home");
        assert!(home.contains("href=\"/portal/my-data-usage\""), "the portal links the page");
        let page = browser.get(app.server.url("/portal/my-data-usage")).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200);
        let page = page.text().await.expect("text");
        assert!(page.contains("Ai đã xem dữ liệu của tôi"), "{page}");
        assert!(page.contains(DEMO_ONESTOP_CLIENT) && page.contains("official-binh"), "{page}");
        assert!(page.contains("Xác minh thông tin hồ sơ (000.00.01.H24-261127-0001)"), "{page}");
        let english = browser
            .get(app.server.url("/portal/my-data-usage?lang=en"))
            .send()
            .await
            .expect("page in English")
            .text()
            .await
            .expect("text");
        assert!(english.contains("Who has read my data") && english.contains("Verifying an application"), "{english}");
    }
}
