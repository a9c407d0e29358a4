//! Matching at scale: the ingest rate with 10, 1,000 and 100,000 automations spread over 10,000
//! projects, as a ratio to the rate with 10. The automations watch `RUN_STATE` with a filter the
//! events do not meet, so the figure is the cost of finding candidates, not of delivering.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::report::Report;
use crate::server::{Client, HeraldProcess};

const PROJECTS: usize = 10_000;

/// Runs per size; the rate reported is the best.
const RUNS: u32 = 3;

async fn create_automations(client: &Client, count: usize) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= count {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let body = json!({
                        "name": format!("watch-{i}"),
                        "scope": {"type": "project", "project": format!("p{}", i % PROJECTS)},
                        "event": {"type": "RUN_STATE", "filter": {"state": "FAILED", "run_name": {"$regex": "^nightly"}}},
                        "action": {"type": "no-op"}
                    });
                    client.post("/v1/automations", &body, 201).await?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Events per second ingested in batches of 100 (RUN_STATE RUNNING in random projects).
async fn ingest_rate(client: &Client, duration: Duration) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..8u64)
        .map(|worker| {
            let (client, done) = (client.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = worker * 7919;
                while Instant::now() < deadline {
                    let events: Vec<Value> = (0..100)
                        .map(|_| {
                            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                            json!({"type": "RUN_STATE", "entity": "default", "project": format!("p{}", (n >> 33) as usize % PROJECTS),
                                   "run_id": "r", "run_name": "nightly", "state": "RUNNING"})
                        })
                        .collect();
                    let answer = client.post("/v1/events/batch", &json!({"events": events}), 202).await?;
                    anyhow::ensure!(answer["matched"] == 0, "the bench's events must match nothing");
                    done.fetch_add(100, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Runs the matching section.
pub(crate) async fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let sizes: &[usize] = if quick {
        &[10, 1_000, 10_000]
    } else {
        &[10, 1_000, 100_000]
    };
    let duration = if quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(12)
    };
    println!("matching at scale: ingest with {sizes:?} automations over {PROJECTS} projects");
    let mut base = None;
    for &size in sizes {
        let server = HeraldProcess::start("[delivery]\nmax_backlog = 0\nworkers = 0\n")?;
        let client = Client::new(&server.url);
        let created = Instant::now();
        create_automations(&client, size).await?;
        let creation = created.elapsed();
        // The best of three runs: on a shared machine a neighbour's burst only ever slows a run
        // down, and one slow run of the ten-automation base would skew every ratio.
        let mut rate: f64 = 0.0;
        for _ in 0..RUNS {
            rate = rate.max(ingest_rate(&client, duration / RUNS).await?);
        }
        let base_rate = *base.get_or_insert(rate);
        report.info(
            &format!("ingest with {size} automations"),
            format!(
                "{rate:.0} events/s, best of {RUNS} (created in {:.1} s)",
                creation.as_secs_f64()
            ),
        );
        if size != sizes[0] {
            let ratio = rate / base_rate;
            let cost = 1.0 - ratio;
            report.add(
                &format!("{size} automations: ingest rate vs 10"),
                format!("{ratio:.2}×"),
                "cost < 10% (≥ 0.90×)",
                cost < 0.10,
            );
        }
    }
    Ok(())
}
