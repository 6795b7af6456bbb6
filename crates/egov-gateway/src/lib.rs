//! The integration and data-sharing platform's gateway (LGSP; NGSP in the
//! hub role): the subsystems an instance serves, their services and access
//! rights, the X-Road REST protocol (r1) that agency systems call it with,
//! and the signed, hash-chained message log of every exchange.
//!
//! - `id`: identifiers and the r1 request line, strictly parsed (pure).
//! - `message`: heads, hashes and signatures of messages (pure).
//! - `error`: the protocol's `X-Road-Error` answers.
//! - `gateway`: [`Gateway`], the consumer and provider sides of an exchange.
//! - `log`: the message log's group-commit writer and `verify`.
//! - `store`: subsystems, services, access rights, keys.
//! - `http`: `/r1/…` and `/listClients`.
//! - `admin`: registering subsystems and services and granting rights.
//! - `conf`: the federation's signed configuration and the hub protocol's
//!   messages (pure).
//! - `hub` + `hub_http`: the hub role: members, the CA, joining, the
//!   configuration.
//! - `federation`: this gateway's membership: joining, its subsystems at
//!   the hub, the configuration downloaded and verified.
//! - `pubsub`: rooms after the GovStack PubSub API (event types, publish,
//!   push and pull subscriptions), served as the gateway's own local service.
//! - `outbox`: guaranteed delivery for senders (the durable queue, retries,
//!   receipts).
//! - `monitor`: counts, errors and latencies per client and service
//!   (Prometheus metrics and the operator's snapshot).
//! - `national`: the hub's national index of dossiers and its statistics
//!   per instance (the national public service portal's part).
//! - `tls`: mutual TLS between gateways (the provider side's listener and
//!   the consumer side's client).

pub mod admin;
pub mod conf;
pub mod error;
pub mod federation;
pub mod gateway;
pub mod http;
pub mod hub;
pub mod hub_http;
pub mod id;
pub mod log;
pub mod message;
pub mod monitor;
pub mod national;
pub mod outbox;
pub mod pubsub;
pub mod store;
pub mod tls;

pub use error::XRoadError;
pub use gateway::{Call, Caller, Gateway, LocalServices};
pub use http::router;
