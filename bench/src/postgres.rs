//! End to end on PostgreSQL: the same load as the end-to-end section (events posted, each
//! delivered signed through the webhook plugin), with one Herald host and then two hosts on one
//! database, the load spread over both. A throwaway server (durable settings, as shipped) runs on
//! this machine, so its CPU per delivery is measured too: every figure shares the two cores with
//! the database, the hosts, the load generator and the receiver.

use std::time::Duration;

use crate::e2e::{Target, cpu_figure, herald_run, latency_figures, set_up};
use crate::receiver::BenchReceiver;
use crate::report::Report;
use crate::server::{Client, HeraldProcess, cpu_time_with_children};

/// The hosts' config: as in the end-to-end section.
const CONFIG: &str = "[egress]\nallow_cidrs = [\"127.0.0.0/8\"]\n[delivery]\nmax_backlog = 0\nworkers = 128\n[sandbox]\nmax_concurrent_instances = 256\n";

/// The master key both hosts share.
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Runs the PostgreSQL section.
pub(crate) async fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let duration = if quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(15)
    };
    let cap = if quick { 20_000 } else { 100_000 };
    println!("end to end on PostgreSQL, one host and two hosts, {duration:?} per run");
    // HERALD_BENCH_DATABASE_URL: an existing server to measure against (its `postgres` database
    // URL); its CPU is then not measured.
    let existing = std::env::var("HERALD_BENCH_DATABASE_URL").ok();
    let postgres = match &existing {
        Some(_) => None,
        None => {
            let directory =
                std::env::temp_dir().join(format!("herald-bench-postgres-{}", std::process::id()));
            Some(
                pgtemp::PgServer::start(&directory, pgtemp::Tuning::Durable)
                    .map_err(|e| anyhow::anyhow!("starting PostgreSQL: {e}"))?,
            )
        }
    };
    let admin = existing
        .clone()
        .unwrap_or_else(|| postgres.as_ref().expect("started").url("postgres"));
    let database_cpu = || postgres.as_ref()?.pid().and_then(cpu_time_with_children);
    let receiver = BenchReceiver::start().await?;
    let hook = format!("http://{}/hook", receiver.addr);

    for hosts in [1, 2] {
        let database = format!("bench_{}_{hosts}", std::process::id());
        create_database(&admin, &database).await?;
        let (server, _) = admin.rsplit_once('/').expect("a URL with a database");
        let url = format!("{server}/{database}");
        let env = [
            ("HERALD_DATABASE_URL", url.as_str()),
            ("HERALD_MASTER_KEY", MASTER_KEY),
        ];
        let servers = (0..hosts)
            .map(|_| HeraldProcess::start_with(CONFIG, &env))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let clients: Vec<Client> = servers.iter().map(|s| Client::new(&s.url)).collect();
        set_up(&clients[0], &hook).await?;
        // Every host must have heard of the automation before the load starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let servers: Vec<&HeraldProcess> = servers.iter().collect();
        let target = Target {
            servers: &servers,
            clients: &clients,
            database_cpu: postgres.is_some().then_some(&database_cpu as _),
        };
        let label = if hosts == 1 { "one host" } else { "two hosts" };
        let single = herald_run(&target, &receiver, "single", None, duration, cap).await?;
        report.add(
            &format!("PostgreSQL, {label}, one event per request: deliveries"),
            format!("{:.0} /s", single.per_second),
            "≥ 2000 /s (Svix: 800–960 /s)",
            single.per_second >= 2000.0,
        );
        cpu_figure(report, &format!("PostgreSQL, {label}"), &single);
        if let Some(cpu) = single.database_cpu_per_delivery {
            report.info(
                &format!("PostgreSQL, {label}: the database's CPU per delivery"),
                format!("{:.0} µs", cpu.as_secs_f64() * 1e6),
            );
        }
        latency_figures(
            report,
            &format!("PostgreSQL, {label}, at the maximum rate"),
            &single.latencies,
            None,
        );
        let batch = herald_run(&target, &receiver, "batch", None, duration, cap).await?;
        report.info(
            &format!("PostgreSQL, {label}, batches of 100: deliveries"),
            format!("{:.0} /s", batch.per_second),
        );
        if let Some(cpu) = batch.database_cpu_per_delivery {
            report.info(
                &format!("PostgreSQL, {label}, batches of 100: the database's CPU per delivery"),
                format!("{:.0} µs", cpu.as_secs_f64() * 1e6),
            );
        }
    }
    Ok(())
}

async fn create_database(admin: &str, name: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok(())
}
