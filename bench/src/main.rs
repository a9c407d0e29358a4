//! `herald-bench`: measures Herald against its performance targets (BENCHMARKS.md) and prints each figure
//! beside its target with PASS or MISS. Run it with `cargo run --release -p herald-bench`
//! (`--quick` for a short run). Figures are printed, never asserted: a benchmark is not a test.

mod e2e;
mod hostile;
mod matching;
mod plugin_cost;
mod postgres;
mod receiver;
mod report;
mod run_metrics;
mod server;

use clap::Parser;

/// Herald's benchmark suite.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// A short run (under a minute): fewer iterations, shorter load, 10,000 automations at most.
    #[arg(long)]
    quick: bool,
    /// Run only these sections (plugins, e2e, postgres, matching, metrics, hostile); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let wanted = |section: &str| args.only.is_empty() || args.only.iter().any(|s| s == section);
    let mut report = report::Report::default();
    runtime.block_on(async {
        if wanted("plugins") {
            plugin_cost::run(&mut report, args.quick).await?;
        }
        if wanted("e2e") {
            e2e::run(&mut report, args.quick).await?;
        }
        if wanted("postgres") {
            postgres::run(&mut report, args.quick).await?;
        }
        if wanted("hostile") {
            hostile::run(&mut report, args.quick).await?;
        }
        if wanted("matching") {
            matching::run(&mut report, args.quick).await?;
        }
        if wanted("metrics") {
            run_metrics::run(&mut report, args.quick).await?;
        }
        anyhow::Ok(())
    })?;
    report.print();
    Ok(())
}
