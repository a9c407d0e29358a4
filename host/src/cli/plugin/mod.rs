//! `herald plugin inspect|run`: a plugin author's local loop, with no server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use url::Url;

use crate::engine::{PluginEngine, SandboxLimits};
use crate::plugins::{load_one, plugin_json};

mod inspect;
mod run;

/// `herald plugin …`
#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Print what a plugin says about itself (name, version, config schema, default payload).
    Inspect {
        /// A built-in plugin's name (e.g. `webhook`) or a path to a component (`.wasm`).
        plugin: String,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Run a plugin once against an event. Without --send, requests are printed, not sent.
    Run(Box<RunArgs>),
    /// Write a new plugin project (Rust, Python or JavaScript) that builds and runs unchanged.
    New(super::scaffold::NewArgs),
}

/// Where compiled components are kept, and the limits an execution runs under.
#[derive(Debug, Args)]
pub(super) struct SandboxArgs {
    /// Where compiled components are kept, so that the next run of the same component does not
    /// compile it again [default: $HERALD_CACHE_DIR, else $XDG_CACHE_HOME/herald/compiled, else
    /// ~/.cache/herald/compiled].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Compile the component every time (keep nothing on disk).
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// The CPU time the plugin's own code may use, e.g. `500ms` (the server's default: 1s).
    #[arg(long, value_parser = humantime::parse_duration)]
    cpu_time: Option<std::time::Duration>,
    /// The wall-clock time one execution may take, HTTP included (default: 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    wall_time: Option<std::time::Duration>,
    /// The linear memory the plugin may grow to: bytes, or with KiB / MiB / GiB (default 64MiB).
    #[arg(long, value_parser = crate::engine::parse_bytes)]
    memory: Option<usize>,
    /// The HTTP requests one execution may make (default 8).
    #[arg(long)]
    max_requests: Option<u32>,
}

impl SandboxArgs {
    /// The engine these options describe.
    fn engine(&self) -> anyhow::Result<PluginEngine> {
        let defaults = SandboxLimits::default();
        let limits = SandboxLimits {
            cpu_time: self.cpu_time.unwrap_or(defaults.cpu_time),
            wall_time: self.wall_time.unwrap_or(defaults.wall_time),
            memory_bytes: self.memory.unwrap_or(defaults.memory_bytes),
            max_requests: self.max_requests.unwrap_or(defaults.max_requests),
            // One execution at a time: a small pool reserves little address space.
            max_concurrent_instances: 4,
            ..defaults
        };
        let cache = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        PluginEngine::new(limits, cache)
    }
}

/// `$HERALD_CACHE_DIR`, else the user's cache directory's `herald/compiled`.
fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HERALD_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|dir| dir.join("herald/compiled")))
        .or_else(|| var("HOME").map(|home| home.join(".cache/herald/compiled")))
}

/// Options of `herald plugin run`.
#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// A built-in plugin's name (e.g. `webhook`) or a path to a component (`.wasm`); with
    /// --from-execution, the execution's own action when absent.
    #[arg(required_unless_present = "from_execution")]
    plugin: Option<String>,
    /// The event, as posted to `POST /v1/events` (JSON file).
    #[arg(long, required_unless_present = "from_execution")]
    event: Option<PathBuf>,
    /// Replay a stored execution: its event, action config and payload template are read from
    /// the server (--url, --key); local options (--config, --payload, --target, ...) override.
    #[arg(long, conflicts_with = "event")]
    from_execution: Option<String>,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// The action config (JSON file); `{}` when absent.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A payload template (JSON file); the plugin's default when absent.
    #[arg(long)]
    payload: Option<PathBuf>,
    /// The integration URL the plugin may send to (it gets the credentials below).
    #[arg(long)]
    target: Option<Url>,
    /// The integration's access token, sent as `Authorization: Bearer`.
    #[arg(long, env = "HERALD_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// The integration's signing secret.
    #[arg(long, env = "HERALD_SIGNING_SECRET", hide_env_values = true)]
    signing_secret: Option<String>,
    /// A secret the payload template may reference, as NAME=VALUE (repeatable).
    #[arg(long = "secret", value_parser = parse_secret)]
    secrets: Vec<(String, String)>,
    /// A further origin the plugin may reach, e.g. https://api.example.com (repeatable).
    #[arg(long, alias = "grant")]
    allow_origin: Vec<Url>,
    /// Really send the requests (otherwise each gets the --respond-* answer). Sending follows
    /// the default egress policy: public addresses only, unless allowed below.
    #[arg(long)]
    send: bool,
    /// With --send: an address range to allow besides public addresses, e.g. 127.0.0.0/8.
    #[arg(long)]
    allow_cidr: Vec<ipnet::IpNet>,
    /// With --send: a host name to allow whatever it resolves to.
    #[arg(long)]
    allow_host: Vec<String>,
    /// With --send: resolve NAME to IP instead of asking DNS (the address is still vetted).
    #[arg(long, value_parser = parse_resolve)]
    resolve: Vec<(String, std::net::IpAddr)>,
    /// Without --send: the status every request is answered with.
    #[arg(long, default_value_t = 200)]
    respond_status: u16,
    /// Without --send: the body every request is answered with.
    #[arg(long, default_value = "")]
    respond_body: String,
    /// The automation name the plugin sees [default: the execution's, else `local-run`].
    #[arg(long)]
    automation_name: Option<String>,
    /// The execution id (default: a fresh one).
    #[arg(long)]
    execution_id: Option<String>,
}

fn parse_secret(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or("expected NAME=VALUE")?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{name:?} is not a secret name ([A-Za-z_][A-Za-z0-9_]*)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

fn parse_resolve(text: &str) -> Result<(String, std::net::IpAddr), String> {
    let (name, ip) = text.split_once('=').ok_or("expected NAME=IP")?;
    Ok((
        name.to_string(),
        ip.parse().map_err(|e| format!("{ip:?}: {e}"))?,
    ))
}

pub(super) async fn run(
    command: PluginCommand,
    connection: super::client::Connection,
) -> anyhow::Result<ExitCode> {
    let json = connection.json();
    match command {
        PluginCommand::Inspect { plugin, sandbox } => {
            let engine = sandbox.engine()?;
            let plugin = load_one(&engine, &plugin).await?;
            let described = plugin_json(&plugin);
            if json {
                println!("{}", serde_json::to_string_pretty(&described)?);
            } else {
                inspect::print_description(&described);
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Run(args) => run::run_once(*args, connection).await,
        PluginCommand::New(args) => {
            super::scaffold::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
