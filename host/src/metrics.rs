//! Prometheus metrics (`GET /metrics`): events ingested, executions by status and action,
//! attempt latency, time spent in plugins, and the delivery queue's depth.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::model::execution::ExecutionStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    action: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 30 s.
    Histogram::new(exponential_buckets(0.0001, 2.5, 14))
}

/// Every metric Herald exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events: Counter,
    executions: Family<StatusLabels, Counter>,
    attempts: Family<StatusLabels, Counter>,
    attempt_seconds: Family<ActionLabels, Histogram, fn() -> Histogram>,
    plugin_seconds: Family<ActionLabels, Histogram, fn() -> Histogram>,
    queue_depth: Gauge,
    suppressed: Counter,
    backlog: Gauge,
    refused: Counter,
    pool: Family<PoolLabels, Gauge>,
    audit_failures: Counter,
    pool_wait: Counter<f64, AtomicU64>,
    pool_gets: Counter,
    database_errors: Counter,
    /// The pool totals as of the last exposition, to count on from.
    pool_seen: std::sync::Mutex<(u64, Duration, u64)>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("herald");
        let events = Counter::default();
        let executions = Family::<StatusLabels, Counter>::default();
        let attempts = Family::<StatusLabels, Counter>::default();
        let attempt_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let plugin_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let queue_depth = Gauge::default();
        let suppressed = Counter::default();
        let backlog = Gauge::default();
        let refused = Counter::default();
        let pool = Family::<PoolLabels, Gauge>::default();
        let audit_failures = Counter::default();
        let pool_wait = Counter::<f64, AtomicU64>::default();
        let pool_gets = Counter::default();
        let database_errors = Counter::default();
        registry.register(
            "database_errors",
            "PostgreSQL requests that failed for the database's state (unreachable, timed out)",
            database_errors.clone(),
        );
        registry.register(
            "database_pool_wait_seconds",
            "Time requests spent waiting for a PostgreSQL pool connection, in all",
            pool_wait.clone(),
        );
        registry.register(
            "database_pool_acquisitions",
            "PostgreSQL pool connections taken",
            pool_gets.clone(),
        );
        registry.register(
            "audit_failures",
            "Changes made whose audit log entry could not be written (the log has a gap)",
            audit_failures.clone(),
        );
        registry.register(
            "database_connections",
            "PostgreSQL pool connections: open, idle, the most it opens, and requests waiting for one",
            pool.clone(),
        );
        registry.register(
            "delivery_backlog",
            "Executions due and not yet delivered (pending or running), as back-pressure last read them",
            backlog.clone(),
        );
        registry.register(
            "events_refused_backlog",
            "Event posts answered 503 because the delivery backlog was past [delivery] max_backlog",
            refused.clone(),
        );
        registry.register(
            "metric_firings_suppressed",
            "Metric conditions that held inside their automation's cooldown (no execution created)",
            suppressed.clone(),
        );
        registry.register("events_ingested", "Events accepted", events.clone());
        registry.register(
            "executions_created",
            "Executions created, by action and initial status",
            executions.clone(),
        );
        registry.register(
            "attempts",
            "Delivery attempts, by action and resulting status",
            attempts.clone(),
        );
        registry.register(
            "attempt_duration_seconds",
            "Time of one delivery attempt",
            attempt_seconds.clone(),
        );
        registry.register(
            "plugin_duration_seconds",
            "Time inside the plugin sandbox per attempt, HTTP excluded",
            plugin_seconds.clone(),
        );
        registry.register(
            "queue_depth",
            "Executions pending, retrying or running",
            queue_depth.clone(),
        );
        Self {
            registry,
            events,
            executions,
            attempts,
            attempt_seconds,
            plugin_seconds,
            queue_depth,
            suppressed,
            backlog,
            refused,
            pool,
            audit_failures,
            pool_wait,
            pool_gets,
            database_errors,
            pool_seen: Default::default(),
        }
    }
}

impl Metrics {
    /// Counts metric conditions that held inside their cooldown.
    pub fn metric_firings_suppressed(&self, count: u64) {
        if count > 0 {
            self.suppressed.inc_by(count);
        }
    }

    /// The delivery backlog as last read.
    pub fn backlog(&self, depth: i64) {
        self.backlog.set(depth);
    }

    /// Counts a change whose audit entry was lost.
    pub fn audit_failed(&self) {
        self.audit_failures.inc();
    }

    /// Counts an event post refused for the backlog.
    pub fn refused_for_backlog(&self) {
        self.refused.inc();
    }

    /// Counts ingested events.
    pub fn events_ingested(&self, count: u64) {
        self.events.inc_by(count);
    }

    /// Counts an execution created with `status` (`pending` or `skipped`).
    pub fn execution_created(&self, action: &str, status: ExecutionStatus) {
        self.executions
            .get_or_create(&StatusLabels {
                action: action.into(),
                status: status.as_str().into(),
            })
            .inc();
    }

    /// Records one attempt: its resulting status, its duration and the plugin's share of it.
    pub fn attempt(
        &self,
        action: &str,
        status: ExecutionStatus,
        elapsed: Duration,
        in_plugin: Duration,
    ) {
        self.attempts
            .get_or_create(&StatusLabels {
                action: action.into(),
                status: status.as_str().into(),
            })
            .inc();
        let labels = ActionLabels {
            action: action.into(),
        };
        self.attempt_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.plugin_seconds
            .get_or_create(&labels)
            .observe(in_plugin.as_secs_f64());
    }

    /// The text exposition, with the queue depth and the database pool as of now.
    pub fn render(&self, queue_depth: i64, pool: Option<crate::store::PoolStatus>) -> String {
        self.queue_depth.set(queue_depth);
        if let Some(pool) = pool {
            for (state, value) in [
                ("open", pool.size),
                ("idle", pool.available),
                ("max", pool.max_size),
                ("waiting", pool.waiting),
            ] {
                self.pool
                    .get_or_create(&PoolLabels { state })
                    .set(value as i64);
            }
            let mut seen = self.pool_seen.lock().expect("not poisoned");
            self.pool_gets.inc_by(pool.gets.saturating_sub(seen.0));
            self.pool_wait
                .inc_by(pool.waited.saturating_sub(seen.1).as_secs_f64());
            self.database_errors
                .inc_by(pool.errors.saturating_sub(seen.2));
            *seen = (pool.gets, pool.waited, pool.errors);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}
