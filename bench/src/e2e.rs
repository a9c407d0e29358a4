//! End to end against the machine's own limit: a bare HTTP client posting to the receiver (the
//! baseline), then events posted to Herald, each delivered durably, signed, through the webhook
//! plugin to that receiver: deliveries per second, latency at the maximum rate and at half of it,
//! and the server's peak memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::receiver::BenchReceiver;
use crate::report::{Report, millis, quantile};
use crate::server::{Client, HeraldProcess, cpu_time};

const CONCURRENCY: usize = 64;

/// Sequence numbers and when each was sent (nanoseconds since `epoch`).
struct SendLog {
    epoch: Instant,
    sent_at: Vec<AtomicU64>,
    next: AtomicU64,
}

impl SendLog {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            sent_at: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            next: AtomicU64::new(0),
        })
    }

    /// Takes the next sequence number and notes the time; `None` when the log is full.
    fn take(&self) -> Option<u64> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = self.sent_at.get(seq as usize)?;
        slot.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Some(seq)
    }

    /// Notes `seq`'s time again: it is being sent anew (after a 503), and its latency counts
    /// from the post that was accepted.
    fn resent(&self, seq: u64) {
        if let Some(slot) = self.sent_at.get(seq as usize) {
            slot.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// Latencies of every arrival whose send time is known, sorted.
    fn latencies(&self, arrivals: &[(u64, Instant)]) -> Vec<Duration> {
        let mut latencies: Vec<Duration> = arrivals
            .iter()
            .filter_map(|(seq, at)| {
                let sent =
                    Duration::from_nanos(self.sent_at.get(*seq as usize)?.load(Ordering::Relaxed));
                Some(at.duration_since(self.epoch).saturating_sub(sent))
            })
            .collect();
        latencies.sort();
        latencies
    }
}

fn event(seq: u64) -> Value {
    json!({"type": "RUN_STATE", "entity": "default", "project": "bench", "run_id": "r", "run_name": "nightly",
           "state": "FAILED", "author": seq.to_string()})
}

/// Posts to `url` with `CONCURRENCY` clients for `duration`; returns requests per second.
async fn bare_client(url: &str, body: &str, duration: Duration) -> f64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("a client");
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, body, done) = (
                client.clone(),
                url.to_string(),
                body.to_string(),
                done.clone(),
            );
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    if let Ok(response) = response
                        && response.bytes().await.is_ok()
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Waits until the receiver has seen `count` requests (or `limit` passed); returns when.
async fn drained(receiver: &BenchReceiver, count: u64, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    while receiver.count() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Instant::now()
}

/// Closed loop: `CONCURRENCY` clients post events (or batches of `batch`) for `duration`, spread
/// evenly over the hosts `clients` talk to.
async fn saturate(clients: &[Client], log: &Arc<SendLog>, batch: usize, duration: Duration) -> u64 {
    let accepted = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let workers = if batch > 1 { 8 } else { CONCURRENCY };
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let client = clients[worker % clients.len()].clone();
            let (log, accepted) = (log.clone(), accepted.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let events: Vec<Value> =
                        (0..batch).filter_map(|_| log.take().map(event)).collect();
                    if events.is_empty() {
                        break;
                    }
                    let result = if batch > 1 {
                        client
                            .post("/v1/events/batch", &json!({"events": events}), 202)
                            .await
                    } else {
                        client.post("/v1/events", &events[0], 202).await
                    };
                    match result {
                        Ok(_) => accepted.fetch_add(events.len() as u64, Ordering::Relaxed),
                        Err(error) => panic!("ingest failed: {error}"),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a load task");
    }
    accepted.load(Ordering::Relaxed)
}

/// Closed loop against a bounded backlog: `CONCURRENCY` clients post one event each at a time
/// for `duration`, and a client answered 503 waits its `Retry-After` and sends the same event
/// again, as Herald's own clients do. Answers the events accepted and the 503s.
async fn saturate_politely(client: &Client, log: &Arc<SendLog>, duration: Duration) -> (u64, u64) {
    let (accepted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let client = client.clone();
            let (log, accepted, refused) = (log.clone(), accepted.clone(), refused.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let Some(seq) = log.take() else { break };
                    loop {
                        match client.post_answer("/v1/events", &event(seq)).await {
                            Ok((202, _)) => break,
                            Ok((503, wait)) => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(wait.unwrap_or(Duration::from_secs(1))).await;
                                log.resent(seq);
                            }
                            other => panic!("ingest failed: {other:?}"),
                        }
                    }
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a load task");
    }
    (
        accepted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    )
}

/// The closed loop at the maximum rate with back-pressure on: a server whose backlog is bounded
/// at `bound`, posted to by [`saturate_politely`]; latency from the accepted post to delivery.
async fn bounded_closed_loop(
    report: &mut Report,
    receiver: &BenchReceiver,
    hook: &str,
    bound: u64,
    duration: Duration,
) -> anyhow::Result<()> {
    let server = HeraldProcess::start(&format!(
        "[egress]\nallow_cidrs = [\"127.0.0.0/8\"]\n[delivery]\nmax_backlog = {bound}\nworkers = 128\n[sandbox]\nmax_concurrent_instances = 256\n"
    ))?;
    let client = Client::new(&server.url);
    set_up(&client, hook).await?;
    let log = SendLog::new(1_000_000);
    receiver.take_arrivals();
    let before = receiver.count();
    let started = Instant::now();
    let (sent, refused) = saturate_politely(&client, &log, duration).await;
    let finished = drained(receiver, before + sent, Duration::from_secs(120)).await;
    let delivered = receiver.count() - before;
    anyhow::ensure!(
        delivered >= sent,
        "bounded: {sent} events posted, {delivered} delivered"
    );
    report.info(
        &format!("closed loop, max_backlog = {bound}: deliveries (503s)"),
        format!(
            "{:.0} /s ({refused})",
            delivered as f64 / (finished - started).as_secs_f64()
        ),
    );
    let latencies = log.latencies(&receiver.take_arrivals());
    let p50 = quantile(&latencies, 0.5);
    report.add(
        &format!("closed loop, max_backlog = {bound}: latency p50"),
        millis(p50),
        "≤ 50 ms",
        p50 <= Duration::from_millis(50),
    );
    report.info(
        &format!("closed loop, max_backlog = {bound}: latency p90 / p99"),
        format!(
            "{} / {}",
            millis(quantile(&latencies, 0.9)),
            millis(quantile(&latencies, 0.99))
        ),
    );
    Ok(())
}

/// Open loop: events at `rate` per second for `duration`, whatever the answers' latency,
/// alternating between the hosts `clients` talk to.
async fn paced(clients: &[Client], log: &Arc<SendLog>, rate: f64, duration: Duration) -> u64 {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0;
    while Instant::now() < deadline {
        ticker.tick().await;
        let Some(seq) = log.take() else { break };
        let client = clients[seq as usize % clients.len()].clone();
        tasks.spawn(async move {
            client
                .post("/v1/events", &event(seq), 202)
                .await
                .map(|_| ())
        });
        sent += 1;
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("a paced post").expect("ingest");
    }
    sent
}

pub(crate) struct Run {
    pub per_second: f64,
    pub latencies: Vec<Duration>,
    /// CPU per delivery: the servers', and the bench process's (load generator and receiver).
    pub cpu_per_delivery: Option<(Duration, Duration)>,
    /// CPU per delivery of the database server, when there is one.
    pub database_cpu_per_delivery: Option<Duration>,
}

/// Where a run's load goes and whose CPU it counts.
pub(crate) struct Target<'a> {
    /// The Herald hosts (their CPU is summed).
    pub servers: &'a [&'a HeraldProcess],
    /// One client per host; the load is spread over them.
    pub clients: &'a [Client],
    /// The database server's CPU so far, when it is a process of its own.
    pub database_cpu: Option<&'a dyn Fn() -> Option<Duration>>,
}

impl Target<'_> {
    fn servers_cpu(&self) -> Option<Duration> {
        self.servers.iter().map(|s| s.cpu_time()).sum()
    }
}

pub(crate) async fn herald_run(
    target: &Target<'_>,
    receiver: &BenchReceiver,
    mode: &str,
    rate: Option<f64>,
    duration: Duration,
    max_events: usize,
) -> anyhow::Result<Run> {
    let clients = target.clients;
    // The log's capacity caps the events posted, so that a run whose ingest outpaces delivery
    // still drains in reasonable time.
    let log = SendLog::new(max_events);
    receiver.take_arrivals();
    let before = receiver.count();
    let cpu_before = target.servers_cpu().zip(cpu_time("self"));
    let database_before = target.database_cpu.and_then(|cpu| cpu());
    let started = Instant::now();
    let sent = match (mode, rate) {
        ("batch", _) => saturate(clients, &log, 100, duration).await,
        (_, Some(rate)) => paced(clients, &log, rate, duration).await,
        _ => saturate(clients, &log, 1, duration).await,
    };
    let finished = drained(receiver, before + sent, Duration::from_secs(120)).await;
    let delivered = receiver.count() - before;
    anyhow::ensure!(
        delivered >= sent,
        "{mode}: {sent} events posted, {delivered} delivered"
    );
    let per = |used: Duration| used / delivered.max(1) as u32;
    let cpu_per_delivery = cpu_before
        .zip(target.servers_cpu().zip(cpu_time("self")))
        .map(
            |((server_before, bench_before), (server_after, bench_after))| {
                (
                    per(server_after - server_before),
                    per(bench_after - bench_before),
                )
            },
        );
    let database_cpu_per_delivery = database_before
        .zip(target.database_cpu.and_then(|cpu| cpu()))
        .map(|(before, after)| per(after.saturating_sub(before)));
    let latencies = log.latencies(&receiver.take_arrivals());
    Ok(Run {
        per_second: delivered as f64 / (finished - started).as_secs_f64(),
        latencies,
        cpu_per_delivery,
        database_cpu_per_delivery,
    })
}

/// Where the two cores went: CPU per delivery in the server and in the bench process.
pub(crate) fn cpu_figure(report: &mut Report, mode: &str, run: &Run) {
    if let Some((server, bench)) = run.cpu_per_delivery {
        report.info(
            &format!("CPU per delivery, {mode}: server / load generator + receiver"),
            format!(
                "{:.0} µs / {:.0} µs",
                server.as_secs_f64() * 1e6,
                bench.as_secs_f64() * 1e6
            ),
        );
    }
}

pub(crate) fn latency_figures(
    report: &mut Report,
    label: &str,
    latencies: &[Duration],
    p99_target: Option<Duration>,
) {
    if latencies.is_empty() {
        return;
    }
    let p99 = quantile(latencies, 0.99);
    report.info(
        &format!("{label}: latency p50 / p90"),
        format!(
            "{} / {}",
            millis(quantile(latencies, 0.5)),
            millis(quantile(latencies, 0.9))
        ),
    );
    match p99_target {
        Some(target) => report.add(
            &format!("{label}: latency p99"),
            millis(p99),
            &format!("< {}", millis(target)),
            p99 < target,
        ),
        None => report.info(&format!("{label}: latency p99"), millis(p99)),
    }
    report.info(
        &format!("{label}: latency max"),
        millis(*latencies.last().expect("non-empty")),
    );
}

/// Secrets, the webhook integration to `hook` and the automation every bench event triggers.
pub(crate) async fn set_up(client: &Client, hook: &str) -> anyhow::Result<()> {
    for (name, value) in [
        ("TOKEN", "bench-token-value"),
        ("SIGNING", "bench-signing-secret"),
    ] {
        client
            .put(
                &format!("/v1/entities/default/secrets/{name}"),
                &json!({"value": value}),
                201,
            )
            .await?;
    }
    client
        .post(
            "/v1/entities/default/integrations",
            &json!({"name": "hook", "kind": "webhook", "url": hook, "access_token": "TOKEN", "signing_secret": "SIGNING"}),
            201,
        )
        .await?;
    client
        .post(
            "/v1/automations",
            &json!({"name": "bench", "scope": {"type": "project", "project": "bench"}, "event": {"type": "RUN_STATE"},
                    "action": {"type": "webhook", "integration": "hook",
                               "payload": {"seq": "${event_author}", "run": "${run_name}", "state": "${run_state}"}}}),
            201,
        )
        .await?;
    Ok(())
}

/// Runs the end-to-end section.
pub(crate) async fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let duration = if quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(15)
    };
    println!(
        "end to end (event posted → signed webhook received), {CONCURRENCY} clients, {duration:?} per run"
    );
    let receiver = BenchReceiver::start().await?;
    let hook = format!("http://{}/hook", receiver.addr);

    let sample = json!({"seq": "0", "run": "nightly", "state": "FAILED"}).to_string();
    let baseline = bare_client(&hook, &sample, duration).await;
    report.info(
        "baseline: bare HTTP client → receiver",
        format!("{baseline:.0} req/s"),
    );
    receiver.take_arrivals();

    let server = HeraldProcess::start(
        "[egress]\nallow_cidrs = [\"127.0.0.0/8\"]\n[delivery]\nmax_backlog = 0\nworkers = 128\n[sandbox]\nmax_concurrent_instances = 256\n",
    )?;
    let client = Client::new(&server.url);
    set_up(&client, &hook).await?;
    let clients = [client];
    let target = Target {
        servers: &[&server],
        clients: &clients,
        database_cpu: None,
    };

    let cap = if quick { 20_000 } else { 100_000 };
    let single = herald_run(&target, &receiver, "single", None, duration, cap).await?;
    let ratio = single.per_second / baseline;
    report.info(
        "herald, one event per request: deliveries",
        format!("{:.0} /s", single.per_second),
    );
    report.add(
        "herald vs bare client (one event per request)",
        format!("{:.2}×", ratio),
        "≥ 0.50×",
        ratio >= 0.5,
    );
    report.add(
        "herald deliveries per second (one event per request)",
        format!("{:.0} /s", single.per_second),
        "≥ 20000 /s",
        single.per_second >= 20_000.0,
    );
    cpu_figure(report, "one event per request", &single);
    latency_figures(report, "at the maximum rate", &single.latencies, None);

    let batch = herald_run(&target, &receiver, "batch", None, duration, cap).await?;
    report.info(
        &format!("herald, batches of 100 ({cap} events): deliveries"),
        format!("{:.0} /s", batch.per_second),
    );
    cpu_figure(report, "batches of 100", &batch);

    let half_rate = single.per_second / 2.0;
    let half = herald_run(&target, &receiver, "paced", Some(half_rate), duration, cap).await?;
    report.info(
        "half of the maximum rate",
        format!("{half_rate:.0} events/s"),
    );
    latency_figures(
        report,
        "at half the maximum rate",
        &half.latencies,
        Some(Duration::from_millis(10)),
    );

    let slow = herald_run(&target, &receiver, "paced", Some(500.0), duration, cap).await?;
    latency_figures(
        report,
        "at 500 events/s",
        &slow.latencies,
        Some(Duration::from_millis(3)),
    );

    // The peak is this server's; the bounded run below has a server of its own.
    let peak_rss = server.peak_rss();
    drop(server);
    bounded_closed_loop(report, &receiver, &hook, 250, duration).await?;

    if let Some(rss) = peak_rss {
        report.info(
            "server peak RSS",
            format!("{:.1} MiB", rss as f64 / (1 << 20) as f64),
        );
    }
    Ok(())
}
