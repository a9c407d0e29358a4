//! `herald-bench`: measures Herald against the targets of DESIGN §7 and prints each figure
//! beside its target with PASS or MISS. Run it with `cargo run --release -p herald-bench`.
//! Figures are printed, never asserted: a benchmark is not a test.

mod plugin_cost;
mod report;

use clap::Parser;

/// Herald's benchmark suite.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// A shorter run (fewer iterations), for a quick look.
    #[arg(long)]
    quick: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut report = report::Report::default();
    runtime.block_on(plugin_cost::run(&mut report, args.quick))?;
    report.print();
    Ok(())
}
