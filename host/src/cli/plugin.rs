//! `herald plugin inspect|run`: a plugin author's local loop, with no server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use url::Url;

use crate::delivery::attempt::{Reach, execute};
use crate::delivery::egress::EgressConfig;
use crate::delivery::outbound::Credentials;
use crate::delivery::record::attempt_record;
use crate::delivery::redact::Redactor;
use crate::delivery::transport::{DryRunTransport, HttpTransport, Timeouts, Transport};
use crate::delivery::verdict::verdict;
use crate::engine::{Invocation, PluginEngine, SandboxLimits};
use crate::events::template::Resolved;
use crate::events::{Event, EventInput, Template, Variables};
use crate::plugins::{load_one, plugin_json};

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
    /// Write a new plugin project (Rust or Python) that builds and runs unchanged.
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
    #[arg(long, value_parser = parse_bytes)]
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

fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number of bytes, e.g. 64MiB"))?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => return Err(format!("{other:?}: use B, KiB, MiB or GiB")),
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
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
                print_description(&described);
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Run(args) => run_once(*args, connection).await,
        PluginCommand::New(args) => {
            super::scaffold::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_description(described: &Value) {
    let text = |key: &str| described[key].as_str().unwrap_or_default().to_string();
    println!("{} {}", text("name"), text("version"));
    println!("  {}", text("description"));
    println!("  source: {}", text("source"));
    let kinds: Vec<&str> = described["integration_kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "  integrations: {}",
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(", ")
        }
    );
    print_schema(&described["config_schema"]);
    match &described["default_payload"] {
        Value::Null => println!("\ndefault payload: built by the plugin"),
        payload => println!(
            "\ndefault payload:\n{}",
            indent(&serde_json::to_string_pretty(payload).unwrap_or_default())
        ),
    }
}

/// The config schema as a list of keys: type, required or default, description. The JSON
/// Schema itself is in `--json`.
fn print_schema(schema: &Value) {
    let properties = schema["properties"].as_object();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!();
    match properties {
        None => println!("config: any JSON object (the plugin declares no keys)"),
        Some(properties) if properties.is_empty() => println!("config: none (use {{}})"),
        Some(properties) => {
            let closed = schema["additionalProperties"] == false;
            println!(
                "config ({}; checked by the host before the plugin sees it):",
                if closed {
                    "only these keys"
                } else {
                    "these keys and others"
                }
            );
            for (name, property) in properties {
                let kind = match &property["type"] {
                    Value::String(t) => t.clone(),
                    Value::Array(types) => types
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" or "),
                    _ if property["enum"].is_array() => format!("one of {}", property["enum"]),
                    _ => "any".into(),
                };
                let presence = if required.contains(&name.as_str()) {
                    "required".to_string()
                } else {
                    match &property["default"] {
                        Value::Null => "optional".into(),
                        default => format!("default {default}"),
                    }
                };
                println!("  {name}: {kind}, {presence}");
                if let Some(description) = property["description"].as_str() {
                    println!("      {description}");
                }
                if let Some(pattern) = property["pattern"].as_str() {
                    println!("      matches {pattern}");
                }
            }
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn read_json(path: &PathBuf, what: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("the {what} {} is not JSON", path.display()))
}

/// What a stored execution ran with, read back from a server.
struct Replay {
    /// The event, as posted.
    event: Value,
    /// The automation as it was when the event arrived.
    automation: Value,
    /// The execution's id.
    execution_id: String,
}

async fn fetch_replay(connection: super::client::Connection, id: &str) -> anyhow::Result<Replay> {
    let client = super::client::Client::from_connection(connection)?;
    let execution = client
        .call("GET", &format!("/v1/executions/{id}"), None, &[])
        .await
        .with_context(|| format!("reading execution {id}"))?;
    let event_id = execution["event_id"].as_str().unwrap_or_default();
    let stored = client
        .call("GET", &format!("/v1/events/{event_id}"), None, &[])
        .await
        .with_context(|| format!("reading event {event_id}"))?;
    let mut event = stored["event"].clone();
    // What the server added when it stored the event is not part of what was posted.
    if let Some(fields) = event.as_object_mut() {
        fields.remove("id");
        fields.remove("received_at");
    }
    Ok(Replay {
        event,
        automation: execution["automation"].clone(),
        execution_id: id.to_string(),
    })
}

async fn run_once(
    args: RunArgs,
    connection: super::client::Connection,
) -> anyhow::Result<ExitCode> {
    let json = connection.json();
    let replay = match &args.from_execution {
        Some(id) => Some(fetch_replay(connection, id).await?),
        None => None,
    };
    let action = replay.as_ref().map(|r| &r.automation["action"]);
    let spec = match (&args.plugin, action) {
        (Some(spec), _) => spec.clone(),
        (None, Some(action)) => action["type"].as_str().unwrap_or_default().to_string(),
        (None, None) => bail!("name a plugin (a built-in's name or a .wasm file)"),
    };
    let engine = args.sandbox.engine()?;
    let (bytes, source) = crate::plugins::read_one(&spec)?;
    let cached = engine.is_cached(&bytes);
    let loading = std::time::Instant::now();
    let plugin = engine
        .load(&bytes, &source)
        .await
        .map_err(|e| anyhow::anyhow!("{spec}: {e}"))?;
    let load_time = loading.elapsed();

    let input = match (&args.event, &replay) {
        (Some(path), _) => read_json(path, "event")?,
        (None, Some(replay)) => replay.event.clone(),
        (None, None) => bail!("--event is required (or --from-execution)"),
    };
    let what = args
        .event
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "of the execution".into());
    let input: EventInput =
        serde_json::from_value(input).with_context(|| format!("the event {what}"))?;
    input
        .validate()
        .with_context(|| format!("the event {what}"))?;
    let event = Event::new(input);

    let config = match (&args.config, action) {
        (Some(path), _) => read_json(path, "config")?,
        (None, Some(action)) if action["config"].is_object() => action["config"].clone(),
        _ => json!({}),
    };
    if let Err(refusal) = engine.check_config(&plugin, &config).await {
        bail!("{}", refusal.explain("the config", &plugin.info.name));
    }
    let config = config.to_string();

    let stored_template = action
        .map(|a| a["payload"].clone())
        .filter(|p| !p.is_null());
    let template = match (&args.payload, stored_template, &plugin.info.default_payload) {
        (Some(path), _, _) => Some(read_json(path, "payload template")?),
        (None, Some(stored), _) => Some(stored),
        (None, None, Some(default)) => Some(serde_json::from_str(default)?),
        (None, None, None) => None,
    };
    let automation_name = args
        .automation_name
        .clone()
        .or_else(|| {
            replay
                .as_ref()
                .and_then(|r| r.automation["name"].as_str().map(str::to_string))
        })
        .unwrap_or_else(|| "local-run".into());
    let variables = Variables::of(&event, &automation_name, None);
    let secret_names: Vec<String> = args.secrets.iter().map(|(n, _)| n.clone()).collect();
    let execution_id = args
        .execution_id
        .clone()
        .or_else(|| replay.as_ref().map(|r| r.execution_id.clone()))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    // No master key here: a key of this run's own tags the placeholders.
    let tag =
        crate::secrets::refs::RefKey::derive(&crate::auth::random_bytes::<32>()).tag(&execution_id);
    let payload = match template {
        Some(tree) => {
            let template = Template::parse(tree).context("the payload template")?;
            template
                .check_names(&secret_names, None)
                .context("the payload template")?;
            let rendered = template.render(&tag, |name| match variables.get(name) {
                Some(value) => Some(Resolved::Variable(value)),
                None => secret_names
                    .iter()
                    .any(|s| s == name)
                    .then_some(Resolved::Secret),
            })?;
            Some(rendered.to_string())
        }
        None => None,
    };

    let invocation = Invocation {
        execution_id: execution_id.clone(),
        attempt: 1,
        automation_name: automation_name.clone(),
        event_type: event.input.event_type.as_str().to_string(),
        variables: variables.to_json(),
        payload,
        config,
        integration_url: None,
    };
    let credentials = args.target.clone().map(|url| Credentials {
        url,
        access_token: args.token_secret.clone(),
        signing_secret: args.signing_secret.clone(),
        payload_secrets: args.secrets.clone(),
        hidden_url: false,
    });
    let granted = args.allow_origin.iter().map(Url::origin).collect();
    let transport: Arc<dyn Transport> = if args.send {
        let mut policy = EgressConfig {
            allow_cidrs: args.allow_cidr.clone(),
            allow_hosts: args.allow_host.clone(),
            ..Default::default()
        };
        for (name, ip) in &args.resolve {
            policy.resolve.entry(name.clone()).or_default().push(*ip);
        }
        Arc::new(HttpTransport::new(Timeouts::default(), Arc::new(policy))?)
    } else {
        Arc::new(DryRunTransport::new(
            args.respond_status,
            args.respond_body.clone(),
        ))
    };
    let redactor = Redactor::new(
        args.token_secret
            .iter()
            .chain(args.signing_secret.iter())
            .chain(args.secrets.iter().map(|(_, v)| v))
            .cloned(),
    );
    let started = std::time::SystemTime::now();
    let reach = Reach {
        credentials,
        granted,
        refs: tag,
        transport,
        launcher: None,
        redactor: redactor.clone(),
    };
    let running = std::time::Instant::now();
    let report = execute(&engine, &plugin, invocation, reach).await;
    let run_time = running.elapsed();

    let verdict = verdict(&report);
    let mut summary =
        serde_json::to_value(attempt_record(1, started, &report, &verdict, &redactor))?;
    summary["sent"] = Value::Bool(args.send);
    summary["timing"] = json!({
        "load_ms": load_time.as_secs_f64() * 1e3,
        "compiled": !cached,
        "run_ms": run_time.as_secs_f64() * 1e3,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_report(&summary);
        println!(
            "timing: loaded in {:.1} ms ({}), ran in {:.1} ms",
            load_time.as_secs_f64() * 1e3,
            if cached {
                "from the compiled-component cache"
            } else {
                "compiled"
            },
            run_time.as_secs_f64() * 1e3
        );
    }
    Ok(if summary["outcome"] == "succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(summary: &Value) {
    let requests = summary["requests"].as_array().cloned().unwrap_or_default();
    for (index, request) in requests.iter().enumerate() {
        let mode = if summary["sent"] == true && request["error"].is_null() {
            ""
        } else {
            "  (not sent)"
        };
        println!(
            "request {}: {} {}{mode}",
            index + 1,
            text(&request["method"]),
            text(&request["url"])
        );
        for pair in request["headers"].as_array().into_iter().flatten() {
            println!("  {}: {}", text(&pair[0]), text(&pair[1]));
        }
        println!();
        println!("{}", text(&request["body"]));
        println!();
        if let Some(response) = request["response"].as_object() {
            println!(
                "response: {}  ({:.1} ms)",
                response["status"],
                request["duration_ms"].as_f64().unwrap_or(0.0)
            );
            let body = text(&response["body"]);
            if !body.is_empty() {
                println!("{body}");
            }
        }
        if let Some(error) = request["error"].as_object() {
            println!(
                "not sent: {} ({})",
                text(&error["message"]),
                text(&error["class"])
            );
        }
        println!();
    }
    for line in summary["logs"].as_array().into_iter().flatten() {
        println!("log {}: {}", text(&line["level"]), text(&line["message"]));
    }
    if let Some(outcome) = summary["outcome"].as_str() {
        println!("outcome: {outcome}: {}", text(&summary["message"]));
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
