//! Appointments in working days and hours, through the dossier service with
//! a clock the test moves: across Tết, onto a make-up Saturday, paused by a
//! supplement request, and moved by Form 04 when a dossier is late.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use egov_core::calendar::HolidayCalendar;
use egov_core::clock::{Clock, FixedClock};
use egov_onestop::Catalogue;
use egov_onestop::dossier::submit::{NewDocument, NewDossier, to_vn};
use egov_onestop::dossier::transition::Act;
use egov_onestop::dossier::{Action, Actor, Applicant, DossierError, Dossiers, Official, Role};
use egov_testkit::{TestDb, engine_test};
use serde_json::json;

const AGENCY: &str = "000.00.01.H24";

fn vn(text: &str) -> DateTime<Utc> {
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a Vietnamese time");
    egov_onestop::dossier::submit::from_vn(local)
}

fn shown(at: Option<DateTime<Utc>>) -> String {
    to_vn(at.expect("a time")).format("%Y-%m-%d %H:%M").to_string()
}

async fn service(test_db: &TestDb, now: DateTime<Utc>) -> (Dossiers, Arc<FixedClock>) {
    // The first procedure versions take effect when the catalogue is seeded,
    // before any moment the tests move the clock to.
    egov_onestop::seed::load_demo(&test_db.db, vn("2025-01-01 00:00"))
        .await
        .expect("seed");
    let clock = Arc::new(FixedClock::new(now));
    let calendar = Arc::new(HolidayCalendar::embedded());
    let catalogue = Catalogue::new(
        test_db.db.clone(),
        Arc::clone(&clock) as Arc<dyn Clock>,
        Arc::clone(&calendar),
    );
    let dossiers = Dossiers::new(
        test_db.db.clone(),
        Arc::clone(&clock) as Arc<dyn Clock>,
        calendar,
        catalogue,
    );
    (dossiers, clock)
}

fn applicant() -> Applicant {
    Applicant {
        subject: "citizen-1".to_owned(),
        name: "Nguyễn Văn An".to_owned(),
        personal_id: Some("001090012345".to_owned()),
        email: None,
    }
}

fn official(roles: &[Role]) -> Actor {
    Actor::Official(Official {
        subject: "official-1".to_owned(),
        name: "Trần Thị Bình".to_owned(),
        agency_code: AGENCY.to_owned(),
        department: None,
        roles: roles.to_vec(),
    })
}

fn pdf(slot: &str) -> NewDocument {
    NewDocument {
        slot: slot.to_owned(),
        file_name: format!("{slot}.pdf"),
        content: format!("%PDF-1.7 {slot}").into_bytes(),
    }
}

/// Submits birth registration (1 working day) and has the desk accept it.
async fn received(dossiers: &Dossiers, key: &str) -> String {
    let new = NewDossier {
        procedure_code: "1.001193".to_owned(),
        agency_code: AGENCY.to_owned(),
        values: json!({
            "applicant_name": "Nguyễn Văn An", "applicant_personal_id": "001090012345",
            "residence": {"province": "24", "commune": "Phường Kinh Bắc", "street": "12 Nguyễn Trãi"},
            "request": "Đăng ký khai sinh", "declaration": true
        }),
        documents: vec![pdf("document_1"), pdf("document_2"), pdf("document_3")],
        idempotency_key: key.to_owned(),
    };
    let code = dossiers
        .submit(&applicant(), new)
        .await
        .expect("submitted")
        .code
        .to_string();
    dossiers
        .act(&official(&[Role::Receiver]), &code, Act::new(Action::Accept))
        .await
        .expect("accepted");
    code
}

async fn due(dossiers: &Dossiers, code: &str) -> String {
    shown(
        dossiers
            .view(&official(&[Role::Receiver]), code)
            .await
            .expect("view")
            .due_at,
    )
}

engine_test! {
    async fn an_appointment_skips_tet_and_lands_on_a_make_up_saturday(test_db: TestDb) {
        let (dossiers, clock) = service(&test_db, vn("2026-02-13 09:00")).await;
        // Friday before Tết Bính Ngọ: one working day later is the Monday after.
        let code = received(&dossiers, "tet-0001").await;
        assert_eq!(due(&dossiers, &code).await, "2026-02-23 09:00");
        // Friday 9 January 2026: the next working day is Saturday 10, made up
        // for the day off on 2 January.
        clock.set(vn("2026-01-09 09:00"));
        let code = received(&dossiers, "tet-0002").await;
        assert_eq!(due(&dossiers, &code).await, "2026-01-10 09:00");
        // Over the New Year: 1 and 2 January are off, then a weekend.
        clock.set(vn("2025-12-31 16:00"));
        let code = received(&dossiers, "tet-0003").await;
        assert_eq!(due(&dossiers, &code).await, "2026-01-05 16:00");
    }
}

engine_test! {
    async fn an_online_dossier_must_be_checked_within_eight_working_hours(test_db: TestDb) {
        let (dossiers, _clock) = service(&test_db, vn("2026-02-13 09:00")).await;
        let new = NewDossier {
            procedure_code: "1.001193".to_owned(),
            agency_code: AGENCY.to_owned(),
            values: json!({
                "applicant_name": "Nguyễn Văn An", "applicant_personal_id": "001090012345",
                "residence": {"province": "24", "commune": "Phường Kinh Bắc", "street": "12 Nguyễn Trãi"},
                "request": "Đăng ký khai sinh", "declaration": true
            }),
            documents: vec![pdf("document_1"), pdf("document_2"), pdf("document_3")],
            idempotency_key: "reception-0001".to_owned(),
        };
        let code = dossiers.submit(&applicant(), new).await.expect("submitted").code.to_string();
        // Six working hours are left on Friday; two more on the Monday after Tết.
        assert_eq!(due(&dossiers, &code).await, "2026-02-23 09:30");
    }
}

engine_test! {
    async fn a_supplement_request_stops_the_clock_until_the_answer(test_db: TestDb) {
        let (dossiers, clock) = service(&test_db, vn("2026-03-02 09:00")).await;
        let code = received(&dossiers, "pause-0001").await;
        assert_eq!(due(&dossiers, &code).await, "2026-03-03 09:00");
        let specialist = official(&[Role::Specialist]);
        let request = Act { note: "Bổ sung giấy chứng sinh".to_owned(), ..Act::new(Action::RequestSupplement) };
        dossiers.act(&specialist, &code, request).await.expect("asked");
        // The applicant answers two working days later (Monday to Wednesday).
        clock.set(vn("2026-03-04 10:00"));
        let answer = Act { documents: vec![pdf("document_2")], ..Act::new(Action::Supplement) };
        dossiers.act(&Actor::Applicant(applicant()), &code, answer).await.expect("answered");
        assert_eq!(due(&dossiers, &code).await, "2026-03-05 09:00");
    }
}

engine_test! {
    async fn a_late_dossier_gets_an_apology_and_a_new_appointment(test_db: TestDb) {
        let (dossiers, clock) = service(&test_db, vn("2026-03-02 09:00")).await;
        let code = received(&dossiers, "late-0001").await;
        let leader = Official {
            subject: "leader-1".to_owned(),
            name: "Phạm Văn Dũng".to_owned(),
            agency_code: AGENCY.to_owned(),
            department: None,
            roles: vec![Role::Leader],
        };
        let new_date = NaiveDate::from_ymd_opt(2026, 3, 10).expect("date");
        let desk = Official { roles: vec![Role::Specialist], ..leader.clone() };
        let refused = dossiers.reschedule(&desk, &code, None, new_date, "Cần xác minh thêm").await;
        assert!(matches!(refused, Err(DossierError::Forbidden(_))), "a specialist does not: {refused:?}");

        clock.set(clock.now() + Duration::days(3));
        let weekend = NaiveDate::from_ymd_opt(2026, 3, 8).expect("date");
        let refused = dossiers.reschedule(&leader, &code, None, weekend, "Cần xác minh thêm").await;
        assert!(matches!(refused, Err(DossierError::Invalid(_))), "a Sunday: {refused:?}");
        let unexplained = dossiers.reschedule(&leader, &code, None, new_date, " ").await;
        assert!(matches!(unexplained, Err(DossierError::Invalid(_))));

        dossiers.reschedule(&leader, &code, None, new_date, "Cần xác minh thêm").await.expect("rescheduled");
        assert_eq!(due(&dossiers, &code).await, "2026-03-10 17:00");
        let view = dossiers.view(&Actor::Applicant(applicant()), &code).await.expect("view");
        let last = view.events.last().expect("events");
        assert_eq!((last.action.as_str(), last.note.as_str()), ("reschedule", "10/03/2026: Cần xác minh thêm"));
    }
}
