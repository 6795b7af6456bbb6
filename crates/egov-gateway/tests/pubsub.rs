//! Asynchronous messaging through the gateway on both engines: a sender's
//! outbox publishes into a room (GovStack PubSub API) with guaranteed
//! delivery, a retried message makes one event, a push subscriber gets
//! each event through the gateway (again after it failed once, with the
//! same message id), and a pull subscriber pulls and acknowledges them in
//! order.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse as _;
use axum::routing::any;
use chrono::Utc;
use egov_core::clock::{Clock, FixedClock};
use egov_db::jobs::Worker;
use egov_gateway::admin::{self, Connection, ServiceSpec};
use egov_gateway::id::{ClientId, ServiceId};
use egov_gateway::outbox::{self, Message};
use egov_gateway::{Call, Caller, Gateway, LocalServices, pubsub};
use egov_testkit::engine_test;

const ROOM: &str = "VN/GOV/000.00.00.H24/events";
const PUBLISHER: &str = "VN/GOV/000.00.01.H24/onestop";
const INBOX: &str = "VN/GOV/000.00.02.H24/inbox";
const PULLER: &str = "VN/GOV/000.00.03.H24/stats";
const EVENT_TYPE: &str = "dossierTransferred";

fn id(value: &str) -> ClientId {
    ClientId::parse(value).expect("identifier")
}

fn service(subsystem: &str, code: &str) -> ServiceId {
    ServiceId::new(id(subsystem), code).expect("service")
}

/// What the push subscriber received: (message id, event). It refuses
/// the first delivery, to be retried.
#[derive(Clone, Default)]
struct Inbox {
    received: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    refused_once: Arc<Mutex<bool>>,
}

impl Inbox {
    fn router(&self) -> Router {
        let inbox = self.clone();
        Router::new().fallback(any(move |request: Request| {
            let inbox = inbox.clone();
            async move {
                let message_id = request
                    .headers()
                    .get("x-road-id")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                {
                    let mut refused = inbox.refused_once.lock().expect("lock");
                    if !*refused {
                        *refused = true;
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                }
                let body = axum::body::to_bytes(request.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let mut received = inbox.received.lock().expect("lock");
                // The receiver de-duplicates by message id.
                if !received.iter().any(|(seen, _)| *seen == message_id) {
                    received.push((message_id, event));
                }
                StatusCode::NO_CONTENT.into_response()
            }
        }))
    }
}

async fn call(
    gateway: &Gateway,
    method: Method,
    target: &str,
    client: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut headers = HeaderMap::new();
    headers.insert("x-road-client", client.parse().expect("header"));
    headers.insert("content-type", "application/json".parse().expect("header"));
    let response = gateway
        .call(Call {
            method,
            target: target.to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
            caller: Caller::InProcess,
        })
        .await;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

engine_test! {
    async fn messages_sent_through_the_outbox_reach_push_and_pull_subscribers_once(test_db: TestDb) {
        let db = &test_db.db;
        for (subsystem, name) in [(ROOM, "Sự kiện liên thông"), (PUBLISHER, "Một cửa"), (INBOX, "Hộp thư"), (PULLER, "Thống kê")] {
            admin::add_subsystem(db, "test", &id(subsystem), name, Connection::Loopback).await.expect("subsystem");
        }
        admin::add_room(db, "test", &id(ROOM), &[EVENT_TYPE.to_owned()]).await.expect("room");
        admin::add_service(
            db,
            "test",
            &ServiceSpec { service: service(INBOX, "receive"), target: "local:inbox".to_owned(), openapi: None, timeout_ms: 5_000 },
        )
        .await
        .expect("push service");
        admin::grant(db, "test", &service(ROOM, "pub"), &id(PUBLISHER)).await.expect("grant");
        for subscriber in [INBOX, PULLER] {
            admin::grant(db, "test", &service(ROOM, "api"), &id(subscriber)).await.expect("grant");
            admin::grant(db, "test", &service(ROOM, "pull"), &id(subscriber)).await.expect("grant");
        }
        admin::grant(db, "test", &service(INBOX, "receive"), &id(ROOM)).await.expect("grant");

        let clock = Arc::new(FixedClock::new(Utc::now()));
        let inbox = Inbox::default();
        let mut local = LocalServices::new();
        local.insert("inbox".to_owned(), inbox.router());
        let gateway = Gateway::new(db.clone(), clock.clone(), local);

        let subs = format!("/r1/{ROOM}/api/v1/subs/{EVENT_TYPE}");
        let (status, _) = call(&gateway, Method::POST, &subs, INBOX, r#"{"delivery":"PUSH","options":{"pushService":"receive"}}"#).await;
        assert_eq!(status, 200);
        let (status, _) = call(&gateway, Method::POST, &subs, PULLER, r#"{"delivery":"PULL"}"#).await;
        assert_eq!(status, 200);
        let (status, _) = call(&gateway, Method::POST, &subs, PULLER, r#"{"delivery":"PULL"}"#).await;
        assert_eq!(status, 409, "subscribed twice");
        // A push subscription names its service; an unknown type is refused.
        let (status, _) = call(&gateway, Method::POST, &subs, INBOX, r#"{"delivery":"PUSH"}"#).await;
        assert_eq!(status, 400);
        let (status, _) = call(&gateway, Method::POST, &format!("/r1/{ROOM}/api/v1/subs/nothing"), INBOX, "{}").await;
        assert_eq!(status, 404);

        // The publisher queues three messages, one of them twice, with its change.
        let now = clock.now();
        let mut tx = db.begin().await.expect("begin");
        for (message_id, code) in [("m-1", "000.00.01.H24-261127-0001"), ("m-2", "000.00.01.H24-261127-0002"), ("m-1", "ignored"), ("m-3", "000.00.01.H24-261127-0003")] {
            let message = Message {
                client: PUBLISHER.to_owned(),
                method: "POST".to_owned(),
                target: format!("/r1/{ROOM}/pub/v1/{EVENT_TYPE}"),
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                body: serde_json::json!({ "eventType": EVENT_TYPE, "event": { "dossier": code } }).to_string(),
                message_id: message_id.to_owned(),
            };
            outbox::enqueue(&mut tx, &message, now).await.expect("queue");
        }
        tx.commit().await.expect("commit");

        let worker_gateway = gateway.clone();
        let push_gateway = gateway.clone();
        let worker = Worker::new(db.clone(), clock.clone(), "test-worker")
            .handle(outbox::SEND_MESSAGE, move |job| {
                let gateway = worker_gateway.clone();
                async move { outbox::deliver(&gateway, &job.payload).await }
            })
            .handle(pubsub::PUSH_EVENT, move |job| {
                let gateway = push_gateway.clone();
                async move { pubsub::push(&gateway, &job.payload).await }
            });
        // Run the queue, moving the clock past each retry's backoff.
        for _ in 0..20 {
            while worker.run_once().await.expect("run") > 0 {}
            clock.advance(chrono::TimeDelta::minutes(10));
        }

        assert_eq!(outbox::delivered_count(db).await.expect("receipts"), 3);
        let receipt = outbox::receipt(db, "m-2").await.expect("receipt").expect("delivered");
        assert_eq!(receipt.status, 201);
        assert!(receipt.answer.contains("\"id\""), "{}", receipt.answer);

        // The push subscriber has each event once, although the first push failed.
        let received = inbox.received.lock().expect("lock").clone();
        assert_eq!(received.len(), 3, "{received:?}");
        assert!(*inbox.refused_once.lock().expect("lock"));
        let mut dossiers: Vec<String> = received.iter().map(|(_, event)| event["event"]["dossier"].as_str().unwrap_or_default().to_owned()).collect();
        dossiers.sort();
        assert_eq!(dossiers, ["000.00.01.H24-261127-0001", "000.00.01.H24-261127-0002", "000.00.01.H24-261127-0003"]);
        assert_eq!(received[0].1["publisherId"]["applicationCode"], "onestop");

        // The pull subscriber takes them in order and acknowledges each.
        let pull = format!("/r1/{ROOM}/pull/v1/{EVENT_TYPE}");
        let mut pulled = Vec::new();
        loop {
            let (status, event) = call(&gateway, Method::GET, &pull, PULLER, "").await;
            if status == 404 {
                break;
            }
            assert_eq!(status, 200);
            // Not acknowledged yet: pulled again.
            let (_, again) = call(&gateway, Method::GET, &pull, PULLER, "").await;
            assert_eq!(again["id"], event["id"]);
            let ack = format!("{pull}/{}", event["id"].as_str().expect("id"));
            let (status, _) = call(&gateway, Method::DELETE, &ack, PULLER, "").await;
            assert_eq!(status, 204);
            pulled.push((event["sequence"].as_i64().unwrap_or_default(), event["event"]["dossier"].as_str().unwrap_or_default().to_owned()));
        }
        // In the order they were published (the outbox's worker publishes
        // them in whatever order it runs them).
        assert!(pulled.windows(2).all(|pair| pair[0].0 <= pair[1].0), "{pulled:?}");
        let mut pulled: Vec<String> = pulled.into_iter().map(|(_, dossier)| dossier).collect();
        pulled.sort();
        assert_eq!(pulled, ["000.00.01.H24-261127-0001", "000.00.01.H24-261127-0002", "000.00.01.H24-261127-0003"]);

        // Publishing again with a used message id finds the first event.
        let mut headers = HeaderMap::new();
        headers.insert("x-road-client", PUBLISHER.parse().expect("header"));
        headers.insert("x-road-id", "m-1".parse().expect("header"));
        let again = gateway
            .call(Call {
                method: Method::POST,
                target: format!("/r1/{ROOM}/pub/v1/{EVENT_TYPE}"),
                headers,
                body: serde_json::json!({ "event": { "dossier": "again" } }).to_string().into_bytes(),
                caller: Caller::InProcess,
            })
            .await;
        assert_eq!(again.status(), 200);
        let (_, nothing) = call(&gateway, Method::GET, &pull, PULLER, "").await;
        assert_eq!(nothing["code"], "not_found");

        // Who may do what: a subscriber cannot publish, nor make event types.
        let (status, _) = call(&gateway, Method::POST, &format!("/r1/{ROOM}/pub/v1/{EVENT_TYPE}"), PULLER, r#"{"event":{}}"#).await;
        assert_eq!(status, 500, "no access right to pub");
        admin::grant(db, "test", &service(ROOM, "api"), &id(PUBLISHER)).await.expect("grant");
        gateway.refresh().await.expect("refresh");
        let (status, _) = call(&gateway, Method::POST, &format!("/r1/{ROOM}/api/v1/eventType"), PUBLISHER, r#"{"eventType":"x","schema":{}}"#).await;
        assert_eq!(status, 403, "only the room's member makes event types");
    }
}
