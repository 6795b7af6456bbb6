//! The audit log: records commit or vanish with their transaction and read
//! back newest first.

use chrono::TimeDelta;
use egov_core::clock::Clock;
use egov_db::audit::{self, AuditEntry};
use egov_db::epoch_millis;
use egov_testkit::engine_test;
use serde_json::json;

use crate::fixed_clock;

const SUBJECT: &str = "procedure:1.001193";

engine_test! {
    async fn committed_audit_records_read_back_newest_first(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let earlier = clock.now();
        let later = earlier + TimeDelta::minutes(5);
        let entry = |action, subject| AuditEntry {
            actor: "officer-17",
            action,
            subject,
            detail: json!({ "rows": 12 }),
            ip: Some("203.0.113.7"),
        };

        // The later record is written first, so ordering by insertion or by
        // id would put it last: only ordering by time puts it first.
        let mut tx = db.begin().await.expect("begin a transaction");
        let later_id = audit::record(&mut tx, &entry("catalogue.update", SUBJECT), later)
            .await
            .expect("record");
        let earlier_id = audit::record(&mut tx, &entry("catalogue.import", SUBJECT), earlier)
            .await
            .expect("record");
        audit::record(&mut tx, &entry("catalogue.import", "procedure:2.000001"), later)
            .await
            .expect("record");
        tx.commit().await.expect("commit");

        let records = audit::for_subject(db, SUBJECT, 10).await.expect("read the log");
        assert_eq!(
            records.iter().map(|record| (record.id, record.at, record.action.as_str())).collect::<Vec<_>>(),
            vec![
                (later_id, epoch_millis(later), "catalogue.update"),
                (earlier_id, epoch_millis(earlier), "catalogue.import"),
            ]
        );
        let oldest = &records[1];
        assert_eq!(
            (oldest.actor.as_str(), oldest.subject.as_str(), oldest.ip.as_deref()),
            ("officer-17", SUBJECT, Some("203.0.113.7"))
        );
        let detail: serde_json::Value = serde_json::from_str(&oldest.detail).expect("the detail is JSON");
        assert_eq!(detail, json!({ "rows": 12 }));

        let newest_only = audit::for_subject(db, SUBJECT, 1).await.expect("read the log");
        assert_eq!(newest_only.iter().map(|record| record.id).collect::<Vec<_>>(), vec![later_id]);
    }
}

engine_test! {
    async fn an_audit_record_in_a_rolled_back_transaction_is_gone(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let entry = AuditEntry {
            actor: "system",
            action: "catalogue.withdraw",
            subject: SUBJECT,
            detail: json!({}),
            ip: None,
        };

        let mut tx = db.begin().await.expect("begin a transaction");
        audit::record(&mut tx, &entry, clock.now()).await.expect("record");
        tx.rollback().await.expect("roll back");
        assert!(audit::for_subject(db, SUBJECT, 10).await.expect("read the log").is_empty());
        assert!(audit::for_action(db, "catalogue.withdraw", 10).await.expect("read the log").is_empty());

        // The same write committed is there, which shows the read can see it.
        let mut tx = db.begin().await.expect("begin a transaction");
        let record_id = audit::record(&mut tx, &entry, clock.now()).await.expect("record");
        tx.commit().await.expect("commit");
        let records = audit::for_action(db, "catalogue.withdraw", 10).await.expect("read the log");
        assert_eq!(records.iter().map(|record| record.id).collect::<Vec<_>>(), vec![record_id]);
    }
}

engine_test! {
    async fn a_batch_of_records_is_written_whole_in_one_statement(test_db: TestDb) {
        let db = &test_db.db;
        let at = fixed_clock().now();
        let subjects: Vec<String> = (0..300).map(|n| format!("token:{n}")).collect();
        let entries: Vec<(AuditEntry<'_>, chrono::DateTime<chrono::Utc>)> = subjects
            .iter()
            .map(|subject| {
                let entry = AuditEntry {
                    actor: "cong-dvc",
                    action: "id.token.issue",
                    subject,
                    detail: json!({ "scope": "openid" }),
                    ip: Some("203.0.113.7"),
                };
                (entry, at)
            })
            .collect();
        let mut tx = db.begin().await.expect("begin");
        audit::record_many(&mut tx, &entries).await.expect("write the batch");
        audit::record_many(&mut tx, &[]).await.expect("an empty batch is nothing to write");
        tx.commit().await.expect("commit");
        let records = audit::for_action(db, "id.token.issue", 1000).await.expect("read the log");
        assert_eq!(records.len(), 300);
        let last = audit::for_subject(db, "token:299", 10).await.expect("read the log");
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(last[0].at, at.timestamp_millis());
    }
}
