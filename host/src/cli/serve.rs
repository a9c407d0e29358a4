//! `herald serve`: load the config and the plugins, then serve the API until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use crate::config::{Config, LogFormat};
use crate::delivery::worker::Dispatcher;
use crate::server::router;

/// Options of `herald serve`; each overrides the config file and the environment.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// A TOML config file (defaults need none).
    #[arg(long, short, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,
    /// The address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Where the database, master key and compiled-plugin cache live.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A directory of third-party plugin components.
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if args.plugins_dir.is_some() {
        config.plugins_dir = args.plugins_dir;
    }
    if let Some(format) = args.log_format {
        config.log_format = format;
    }
    init_logging(config.log_format);

    let (state, bootstrap) = crate::server::build(&config).await?;
    if let Some(bootstrap) = bootstrap {
        match bootstrap.key {
            Some(key) => println!(
                "bootstrap admin key for entity `{}` (shown once, keep it safe): {key}",
                bootstrap.entity
            ),
            None => println!(
                "bootstrap entity `{}` created with the key from HERALD_BOOTSTRAP_KEY",
                bootstrap.entity
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    let metrics = match config.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listening on {address} (metrics_listen)"))?;
            let address = listener.local_addr()?;
            // Before the line below, so that whoever waits for that one has read this one.
            println!("herald metrics on http://{address}/metrics");
            let app = crate::api::metrics_router(state.clone());
            Some(tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, app).await {
                    tracing::error!(%error, "the metrics listener stopped");
                }
            }))
        }
        None => None,
    };
    // The line tests and scripts wait for: it is printed once the socket accepts connections.
    println!("herald listening on http://{address}");
    tracing::info!(%address, "listening");
    let dispatcher = if config.delivery.workers == 0 {
        tracing::warn!("delivery.workers = 0: this host ingests events but delivers nothing");
        None
    } else {
        Some(
            Dispatcher::start(
                state.deliverer(),
                config.delivery.clone(),
                state.metrics.clone(),
                state.delivery.clone(),
                &crate::server::host_id(&config.data_dir)?,
                Arc::new(state.ingest()),
            )
            .await?,
        )
    };
    let sweep = tokio::spawn(crate::leases::lapsed::release_lapsed_leases(
        state.store.clone(),
        state.ingest(),
        state.launch.max_attempts,
    ));
    let silent = tokio::spawn(crate::ingest::liveness::report_silent_runs(state.ingest()));
    let backlog = tokio::spawn(crate::ingest::backpressure::watch_backlog(
        state.store.clone(),
        state.backlog.clone(),
        state.metrics.clone(),
    ));
    let tasks = tokio::spawn(crate::tasks::run_tasks(
        state.store.clone(),
        state.delivery.clone(),
        state.tasks.clone(),
        crate::auth::random_id(&format!(
            "{}.tasks.",
            crate::server::host_id(&config.data_dir)?
        )),
    ));
    let purge = tokio::spawn(crate::retention::purge_run_samples(
        state.store.clone(),
        config.run_metrics.clone(),
    ));
    let history = tokio::spawn(crate::retention::purge_history(
        state.store.clone(),
        config.retention.clone(),
    ));
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving the API")?;
    purge.abort();
    history.abort();
    tasks.abort();
    backlog.abort();
    silent.abort();
    sweep.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    tracing::info!("stopping: no new deliveries are claimed");
    if let Some(dispatcher) = dispatcher {
        dispatcher.shutdown(config.delivery.shutdown_grace).await;
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A log line that cannot be written (the log on a full disk) is dropped. Left on, the
    // subscriber reports it with `eprintln!`, which panics when stderr fails too: the thread that
    // logged (the store's writer, while it says commits fail) would die with it.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
