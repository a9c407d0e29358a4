//! Run-metric ingest: samples per second in batches of 1,000 events (one per run, ten metrics
//! each: a sample is one metric value), over 1,000 runs and 300 metric automations (100 each of
//! threshold, change and z-score), stored as durably as every other ingest. The values are
//! uniform in [0, 1) with a rare spike to 10, which fires some of the automations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::report::Report;
use crate::server::{Client, HeraldProcess};

const RUNS: u64 = 1_000;
const METRICS: usize = 10;
const EVENTS_PER_BATCH: u64 = 1_000;

async fn create_automations(client: &Client) -> anyhow::Result<()> {
    for i in 0..300 {
        let metric = format!("m{}", i % METRICS);
        let (kind, condition) = match i % 3 {
            0 => (
                "RUN_METRIC_THRESHOLD",
                json!({"name": metric, "window": 5, "agg": "MAX", "cmp": "$gt", "value": 5.0}),
            ),
            1 => (
                "RUN_METRIC_CHANGE",
                json!({"name": metric, "current_window": 2, "prior_window": 8, "change": "RELATIVE",
                       "direction": "INCREASE", "amount": 5.0}),
            ),
            _ => (
                "RUN_METRIC_ZSCORE",
                json!({"name": metric, "window": 30, "threshold": 4.0, "direction": "ANY"}),
            ),
        };
        let body = json!({
            "name": format!("metric-{i}"),
            "scope": {"type": "project", "project": "train"},
            "event": {"type": kind, "metric": condition},
            "action": {"type": "no-op"}
        });
        client.post("/v1/automations", &body, 201).await?;
    }
    Ok(())
}

/// Samples per second, samples sent and executions created, posting batches from 4 clients for
/// `duration`.
async fn ingest(client: &Client, duration: Duration) -> anyhow::Result<(f64, u64, u64)> {
    let samples = Arc::new(AtomicU64::new(0));
    let fired = Arc::new(AtomicU64::new(0));
    let step = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..4u64)
        .map(|worker| {
            let (client, samples, fired, step) =
                (client.clone(), samples.clone(), fired.clone(), step.clone());
            tokio::spawn(async move {
                let mut n = worker.wrapping_mul(7919).wrapping_add(1);
                let mut uniform = move || {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (n >> 11) as f64 / (1u64 << 53) as f64
                };
                while Instant::now() < deadline {
                    let step = step.fetch_add(1, Ordering::Relaxed);
                    let events: Vec<Value> = (0..EVENTS_PER_BATCH)
                        .map(|i| {
                            let run = (step * EVENTS_PER_BATCH + i) % RUNS;
                            let metrics: Map<String, Value> = (0..METRICS)
                                .map(|m| {
                                    let x = uniform();
                                    let value = if uniform() < 1e-4 { 10.0 } else { x };
                                    (format!("m{m}"), json!(value))
                                })
                                .collect();
                            json!({"type": "RUN_METRIC", "entity": "default", "project": "train",
                                   "run_id": format!("run-{run}"), "step": step, "metrics": metrics})
                        })
                        .collect();
                    let answer = client
                        .post("/v1/events/batch", &json!({"events": events}), 202)
                        .await?;
                    fired.fetch_add(
                        answer["matched"].as_u64().unwrap_or_default(),
                        Ordering::Relaxed,
                    );
                    samples.fetch_add(EVENTS_PER_BATCH * METRICS as u64, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let sent = samples.load(Ordering::Relaxed);
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    Ok((rate, sent, fired.load(Ordering::Relaxed)))
}

/// Runs the run-metric section.
pub(crate) async fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let duration = Duration::from_secs(if quick { 5 } else { 20 });
    println!(
        "run metrics: {RUNS} runs × {METRICS} metrics, 300 automations, batches of {EVENTS_PER_BATCH} events"
    );
    let server = HeraldProcess::start("[delivery]\nmax_backlog = 0\nworkers = 0\n")?;
    let client = Client::new(&server.url);
    create_automations(&client).await?;
    // A first pass creates every run's state; the measured pass is the steady state.
    let (_, warm_up, _) = ingest(&client, Duration::from_secs(1)).await?;
    let cpu_before = server.cpu_time();
    let (rate, sent, fired) = ingest(&client, duration).await?;
    let cpu = server
        .cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    report.add(
        "run-metric ingest, threshold/change/z-score evaluated",
        format!("{rate:.0} samples/s ({fired} executions created)"),
        "≥ 100000 samples/s",
        rate >= 100_000.0,
    );
    if let Some(cpu) = cpu {
        report.info(
            "server CPU per sample",
            format!("{:.2} µs", cpu.as_secs_f64() * 1e6 / sent as f64),
        );
    }
    if let Some(bytes) = server.data_bytes() {
        report.info(
            "storage per sample (data directory / samples stored, WAL included)",
            format!("{:.0} bytes", bytes as f64 / (warm_up + sent) as f64),
        );
    }
    Ok(())
}
