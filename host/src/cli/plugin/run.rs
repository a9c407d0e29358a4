//! `herald plugin run`: one execution of a plugin on this machine, against a given event or one
//! replayed from a server's stored execution, sent for real (to pinned addresses) or dry, with its
//! report printed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use url::Url;

use super::RunArgs;
use crate::cli::client::{Client, Connection};
use crate::delivery::attempt::{Reach, execute};
use crate::delivery::egress::EgressConfig;
use crate::delivery::outbound::Credentials;
use crate::delivery::record::attempt_record;
use crate::delivery::redact::Redactor;
use crate::delivery::transport::{DryRunTransport, HttpTransport, Timeouts, Transport};
use crate::delivery::verdict::verdict;
use crate::engine::Invocation;
use crate::events::template::Resolved;
use crate::events::{Event, EventInput, Template, Variables};

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

async fn fetch_replay(connection: Connection, id: &str) -> anyhow::Result<Replay> {
    let client = Client::from_connection(connection)?;
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

/// `herald plugin run`: one execution of a plugin against its event, locally or replayed.
pub(super) async fn run_once(args: RunArgs, connection: Connection) -> anyhow::Result<ExitCode> {
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
        signing_secrets: args.signing_secret.iter().cloned().collect(),
        payload_secrets: args.secrets.clone(),
        hidden_url: false,
        stale_at_ms: None,
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
