//! `herald plugin inspect|run`: a plugin author's local loop, with no server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use url::Url;

use crate::delivery::attempt::{Reach, attempt_record, execute, verdict};
use crate::delivery::egress::EgressConfig;
use crate::delivery::outbound::Credentials;
use crate::delivery::redact::Redactor;
use crate::delivery::transport::{DryRunTransport, HttpTransport, Timeouts, Transport};
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
    },
    /// Run a plugin once against an event. Without --send, requests are printed, not sent.
    Run(Box<RunArgs>),
}

/// Options of `herald plugin run`.
#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// A built-in plugin's name (e.g. `webhook`) or a path to a component (`.wasm`).
    plugin: String,
    /// The event, as posted to `POST /v1/events` (JSON file).
    #[arg(long)]
    event: PathBuf,
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
    #[arg(long)]
    grant: Vec<Url>,
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
    /// The automation name the plugin sees.
    #[arg(long, default_value = "local-run")]
    automation_name: String,
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

pub(super) async fn run(command: PluginCommand, json: bool) -> anyhow::Result<ExitCode> {
    let engine = PluginEngine::new(SandboxLimits::default(), None)?;
    match command {
        PluginCommand::Inspect { plugin } => {
            let plugin = load_one(&engine, &plugin).await?;
            let described = plugin_json(&plugin);
            if json {
                println!("{}", serde_json::to_string_pretty(&described)?);
            } else {
                print_description(&described);
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Run(args) => run_once(&engine, *args, json).await,
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
    println!("  config schema: {}", described["config_schema"]);
    match &described["default_payload"] {
        Value::Null => println!("  default payload: built by the plugin"),
        payload => println!("  default payload: {payload}"),
    }
}

fn read_json(path: &PathBuf, what: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("the {what} {} is not JSON", path.display()))
}

async fn run_once(engine: &PluginEngine, args: RunArgs, json: bool) -> anyhow::Result<ExitCode> {
    let plugin = load_one(engine, &args.plugin).await?;
    let input: EventInput = serde_json::from_value(read_json(&args.event, "event")?)
        .with_context(|| format!("the event {}", args.event.display()))?;
    input
        .validate()
        .with_context(|| format!("the event {}", args.event.display()))?;
    let event = Event::new(input);

    let config = match &args.config {
        Some(path) => read_json(path, "config")?,
        None => json!({}),
    };
    if let Err(refusal) = engine.check_config(&plugin, &config).await {
        bail!("{}", refusal.explain("the config", &plugin.info.name));
    }
    let config = config.to_string();

    let template = match (&args.payload, &plugin.info.default_payload) {
        (Some(path), _) => Some(read_json(path, "payload template")?),
        (None, Some(default)) => Some(serde_json::from_str(default)?),
        (None, None) => None,
    };
    let variables = Variables::of(&event, &args.automation_name, None);
    let secret_names: Vec<String> = args.secrets.iter().map(|(n, _)| n.clone()).collect();
    let execution_id = args
        .execution_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    // No master key here: a key of this run's own tags the placeholders.
    let tag =
        crate::secrets::refs::RefKey::derive(&crate::auth::random_bytes::<32>()).tag(&execution_id);
    let payload = match template {
        Some(tree) => {
            let template = Template::parse(tree).context("the payload template")?;
            template
                .check_names(&secret_names)
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
        automation_name: args.automation_name.clone(),
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
    let granted = args.grant.iter().map(Url::origin).collect();
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
    let started = std::time::SystemTime::now();
    let reach = Reach {
        credentials,
        granted,
        refs: tag,
        transport,
        launcher: None,
    };
    let report = execute(engine, &plugin, invocation, reach).await;

    let redactor = Redactor::new(
        args.token_secret
            .iter()
            .chain(args.signing_secret.iter())
            .chain(args.secrets.iter().map(|(_, v)| v))
            .cloned(),
    );
    let verdict = verdict(&report);
    let mut summary =
        serde_json::to_value(attempt_record(1, started, &report, &verdict, &redactor))?;
    summary["sent"] = Value::Bool(args.send);
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_report(&summary);
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
