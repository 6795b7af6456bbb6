//! Operational monitoring: how many exchanges each client made with each
//! service, how many failed and how fast they were, on each side of the
//! gateway. Counted in memory per node, exported as Prometheus metrics
//! (`egov_gateway_exchanges_total`, `egov_gateway_exchange_duration_seconds`)
//! and as a snapshot with percentiles for the operator.
//!
//! The labels are registered identifiers (clients, services) and error
//! types, so their number stays bounded by what the gateway serves; a call
//! refused before its client or service was known is counted under `-`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExchangeLabels {
    side: String,
    client: String,
    service: String,
    /// `ok`, `service_error` (the service answered 4xx or 5xx) or the
    /// X-Road error type.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    side: String,
    service: String,
}

/// One exchange, as counted.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub side: &'static str,
    pub client: &'a str,
    pub service: &'a str,
    pub status: u16,
    pub xroad_error: Option<&'a str>,
    pub elapsed: Duration,
}

/// Per client and service, for the snapshot.
#[derive(Debug, Clone, Default)]
struct Stats {
    exchanges: u64,
    errors: u64,
    /// Counts per bucket of [`BUCKETS`], the last for slower ones.
    buckets: [u64; BUCKETS.len() + 1],
}

/// A line of the operator's snapshot.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServiceStats {
    pub side: String,
    pub client: String,
    pub service: String,
    pub exchanges: u64,
    pub errors: u64,
    /// Upper bounds of the buckets holding the percentiles, in milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// The node's counters, shared by every gateway handle of the node.
#[derive(Debug, Clone)]
pub struct Monitor {
    exchanges: Family<ExchangeLabels, Counter>,
    durations: Family<DurationLabels, Histogram>,
    stats: Arc<Mutex<BTreeMap<StatsKey, Stats>>>,
}

/// Side, client and service.
type StatsKey = (String, String, String);

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            exchanges: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
            stats: Arc::default(),
        }
    }
}

impl Monitor {
    /// Adds the gateway's metrics to a Prometheus registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gateway_exchanges",
            "Exchanges through the gateway by side, client, service and outcome",
            self.exchanges.clone(),
        );
        registry.register(
            "gateway_exchange_duration_seconds",
            "Time the gateway took for an exchange, by side and service",
            self.durations.clone(),
        );
    }

    pub fn observe(&self, observation: &Observation<'_>) {
        let outcome = match observation.xroad_error {
            Some(kind) => kind.to_owned(),
            None if observation.status >= 400 => "service_error".to_owned(),
            None => "ok".to_owned(),
        };
        let failed = outcome != "ok";
        self.exchanges
            .get_or_create(&ExchangeLabels {
                side: observation.side.to_owned(),
                client: observation.client.to_owned(),
                service: observation.service.to_owned(),
                outcome,
            })
            .inc();
        let seconds = observation.elapsed.as_secs_f64();
        self.durations
            .get_or_create(&DurationLabels {
                side: observation.side.to_owned(),
                service: observation.service.to_owned(),
            })
            .observe(seconds);
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        let mut stats = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = stats
            .entry((
                observation.side.to_owned(),
                observation.client.to_owned(),
                observation.service.to_owned(),
            ))
            .or_default();
        entry.exchanges += 1;
        entry.errors += u64::from(failed);
        entry.buckets[bucket] += 1;
    }

    /// Counts, errors and latency percentiles per side, client and service.
    pub fn snapshot(&self) -> Vec<ServiceStats> {
        let stats = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        stats
            .iter()
            .map(|((side, client, service), stats)| ServiceStats {
                side: side.clone(),
                client: client.clone(),
                service: service.clone(),
                exchanges: stats.exchanges,
                errors: stats.errors,
                p50_ms: percentile(stats, 0.50),
                p95_ms: percentile(stats, 0.95),
                p99_ms: percentile(stats, 0.99),
            })
            .collect()
    }
}

/// The upper bound (ms) of the bucket where the `quantile` falls.
fn percentile(stats: &Stats, quantile: f64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let rank = (stats.exchanges as f64 * quantile).ceil();
    let mut seen = 0.0;
    for (index, count) in stats.buckets.iter().enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        {
            seen += *count as f64;
        }
        if seen >= rank && *count > 0 {
            return BUCKETS.get(index).map_or(f64::INFINITY, |bound| bound * 1000.0);
        }
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(monitor: &Monitor, service: &str, status: u16, error: Option<&str>, millis: u64) {
        monitor.observe(&Observation {
            side: "consumer",
            client: "VN/GOV/1/a",
            service,
            status,
            xroad_error: error,
            elapsed: Duration::from_millis(millis),
        });
    }

    #[test]
    fn counts_errors_and_percentiles_are_kept_per_client_and_service() {
        let monitor = Monitor::default();
        for _ in 0..98 {
            observe(&monitor, "VN/GOV/2/b/s", 200, None, 1);
        }
        observe(&monitor, "VN/GOV/2/b/s", 503, None, 40);
        observe(
            &monitor,
            "VN/GOV/2/b/s",
            500,
            Some("Server.ServerProxy.AccessDenied"),
            300,
        );
        observe(&monitor, "VN/GOV/2/b/t", 200, None, 2);
        let snapshot = monitor.snapshot();
        assert_eq!(snapshot.len(), 2);
        let s = &snapshot[0];
        assert_eq!((s.exchanges, s.errors), (100, 2));
        assert!((s.p50_ms - 1.0).abs() < f64::EPSILON, "{s:?}");
        assert!((s.p99_ms - 50.0).abs() < f64::EPSILON, "{s:?}");

        let mut registry = Registry::default();
        monitor.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(text.contains("gateway_exchanges_total{side=\"consumer\",client=\"VN/GOV/1/a\",service=\"VN/GOV/2/b/s\",outcome=\"ok\"} 98"), "{text}");
        assert!(
            text.contains("outcome=\"Server.ServerProxy.AccessDenied\"} 1"),
            "{text}"
        );
        assert!(text.contains("gateway_exchange_duration_seconds_bucket"), "{text}");
    }
}
