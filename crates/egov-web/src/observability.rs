//! Request metrics for Prometheus, request ids and the request span.
//!
//! The registry lives in [`Metrics`], passed explicitly; there is no global
//! recorder, so many apps (as in tests) can live in one process.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    status: String,
}

/// The instance's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    jobs: Family<JobLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(|_| {})
    }
}

impl Metrics {
    /// The shell's metrics, and those `extend` registers (a subsystem's).
    pub fn new(extend: impl FnOnce(&mut Registry)) -> Metrics {
        let mut registry = Registry::with_prefix("egov");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served", requests.clone());
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to produce a response",
            durations.clone(),
        );
        let jobs = Family::<JobLabels, Gauge>::default();
        registry.register("jobs", "Jobs in the durable queue by status", jobs.clone());
        extend(&mut registry);
        Metrics {
            registry,
            requests,
            durations,
            jobs,
        }
    }

    /// Sets the job gauges from a fresh count.
    pub fn set_job_counts(&self, counts: &[(String, i64)]) {
        for status in ["pending", "running", "done", "dead"] {
            let n_jobs = counts
                .iter()
                .find(|(name, _)| name == status)
                .map_or(0, |(_, count)| *count);
            self.jobs
                .get_or_create(&JobLabels {
                    status: status.to_owned(),
                })
                .set(n_jobs);
        }
    }

    /// The registry in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Counts and times each request under its route template, never the raw
/// path, so that metric cardinality stays bounded.
pub async fn track_requests(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .durations
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}
