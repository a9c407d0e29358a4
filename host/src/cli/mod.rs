//! The command line: `herald serve`, `herald agent`, `herald plugin inspect|run`, and the client
//! subcommands.

mod agent;
mod client;
mod keyfile;
mod plugin;
mod scaffold;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Herald: when an event happens in an ML project or model registry, run a sandboxed action.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about)]
struct Cli {
    #[command(flatten)]
    connection: client::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (HTTP API, matching and delivery).
    Serve(serve::ServeArgs),
    /// Take items from launch queues and run their jobs as local processes.
    Agent(agent::AgentArgs),
    /// Inspect or run an action plugin locally, without a server.
    #[command(subcommand)]
    Plugin(Box<plugin::PluginCommand>),
    #[command(flatten)]
    Client(client::ClientCommand),
    /// Kills a job's process group when its standard input closes (started by `herald agent`).
    #[command(hide = true)]
    AgentReaper {
        /// The process group.
        #[arg(long)]
        group: i32,
        /// The run's directory, removed after.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

/// Parses the arguments and runs the command; errors are printed on one line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::AgentReaper { group, dir } = &cli.command {
        return agent::reap(*group, dir.as_deref());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Agent(args) => agent::run(cli.connection, args).await,
            Command::Plugin(command) => plugin::run(*command, cli.connection).await,
            Command::Client(command) => client::run(cli.connection, command).await,
            Command::AgentReaper { .. } => unreachable!("handled before the runtime starts"),
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
