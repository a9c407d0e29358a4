//! Hostile plugins: `/healthz` and event ingest latency while every plugin instance spins its CPU
//! budget at once, beside the same figures with no plugin running. The plugins are the `hostile`
//! test component (`{"mode": "loop"}`), installed from a plugins directory, one instance per
//! delivery worker, kept busy for the whole measurement.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::receiver::BenchReceiver;
use crate::report::{Report, millis, quantile};
use crate::server::{Client, HeraldProcess};

/// Plugin instances (and delivery workers) that loop at once.
const INSTANCES: usize = 64;
/// What p99 must stay under for the API to count as responsive.
const RESPONSIVE_P99: Duration = Duration::from_millis(25);

/// Latencies of `/healthz` and of one event post, sampled one after another every 5 ms.
struct Samples {
    health: Vec<Duration>,
    ingest: Vec<Duration>,
}

async fn sample(
    client: &Client,
    http: &reqwest::Client,
    url: &str,
    window: Duration,
) -> anyhow::Result<Samples> {
    let mut samples = Samples {
        health: Vec::new(),
        ingest: Vec::new(),
    };
    let quiet = json!({"type": "RUN_STATE", "entity": "default", "project": "quiet",
                       "run_id": "r", "run_name": "probe", "state": "RUNNING"});
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        let started = Instant::now();
        let status = http.get(format!("{url}/healthz")).send().await?.status();
        anyhow::ensure!(status.is_success(), "/healthz answered {status}");
        samples.health.push(started.elapsed());
        let started = Instant::now();
        client.post("/v1/events", &quiet, 202).await?;
        samples.ingest.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    samples.health.sort();
    samples.ingest.sort();
    Ok(samples)
}

fn describe(sorted: &[Duration]) -> String {
    format!(
        "p50 {} p99 {} max {} ({} samples)",
        millis(quantile(sorted, 0.5)),
        millis(quantile(sorted, 0.99)),
        millis(*sorted.last().unwrap_or(&Duration::ZERO)),
        sorted.len()
    )
}

/// Runs the section.
pub(crate) async fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let window = if quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(10)
    };
    let plugins = tempfile::tempdir()?;
    let component = std::path::Path::new(herald::plugins::BUILT_COMPONENTS_DIR)
        .join("herald_fixture_hostile.wasm");
    std::fs::copy(&component, plugins.path().join("hostile.wasm"))
        .map_err(|e| anyhow::anyhow!("{}: {e}", component.display()))?;
    let receiver = BenchReceiver::start().await?;
    let config = format!(
        "plugins_dir = {:?}\n[egress]\nallow_cidrs = [\"127.0.0.0/8\"]\n[delivery]\nmax_backlog = 0\nworkers = {INSTANCES}\nretry_schedule = [\"10ms\", \"10ms\", \"10ms\", \"10ms\", \"10ms\", \"10ms\", \"10ms\", \"10ms\"]\njitter = 0.0\n[sandbox]\nmax_concurrent_instances = {INSTANCES}\n",
        plugins.path().display().to_string()
    );
    let server = HeraldProcess::start(&config)?;
    let client = Client::new(&server.url);
    let http = reqwest::Client::new();
    client
        .post(
            "/v1/entities/default/integrations",
            &json!({"name": "sink", "kind": "webhook", "url": format!("http://{}/hook", receiver.addr)}),
            201,
        )
        .await?;
    client
        .post(
            "/v1/automations",
            &json!({"name": "spin", "scope": {"type": "project", "project": "hostile"},
                    "event": {"type": "RUN_STATE"},
                    "action": {"type": "hostile", "integration": "sink", "config": {"mode": "loop"}}}),
            201,
        )
        .await?;

    let calm = sample(&client, &http, &server.url, window).await?;

    // Every instance loops: each execution spins for its whole CPU budget, fails, and is
    // retried 10 ms later, so the delivery workers stay full for the whole window.
    let spin = json!({"type": "RUN_STATE", "entity": "default", "project": "hostile",
                      "run_id": "r", "run_name": "spin", "state": "FAILED"});
    let batch = json!({"events": vec![spin; INSTANCES * 2]});
    client.post("/v1/events/batch", &batch, 202).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy_cpu_before = server.cpu_time();
    let busy_started = Instant::now();
    let busy = sample(&client, &http, &server.url, window).await?;
    let busy_cpu = server
        .cpu_time()
        .zip(busy_cpu_before)
        .map(|(after, before)| {
            (after - before).as_secs_f64() / busy_started.elapsed().as_secs_f64()
        });

    report.info("healthz, no plugin running", describe(&calm.health));
    report.info("event ingest, no plugin running", describe(&calm.ingest));
    let target = format!("p99 < {}", millis(RESPONSIVE_P99));
    let health_p99 = quantile(&busy.health, 0.99);
    report.add(
        &format!("healthz, {INSTANCES} plugin instances looping"),
        describe(&busy.health),
        &target,
        health_p99 < RESPONSIVE_P99,
    );
    let ingest_p99 = quantile(&busy.ingest, 0.99);
    report.add(
        &format!("event ingest, {INSTANCES} plugin instances looping"),
        describe(&busy.ingest),
        &target,
        ingest_p99 < RESPONSIVE_P99,
    );
    if let Some(cores) = busy_cpu {
        report.info(
            "server CPU while plugins loop (proves they did)",
            format!("{cores:.2} cores"),
        );
    }
    Ok(())
}
