//! Plugin invocation cost: instantiate + `execute` of each built-in plugin, with sending stubbed
//! at the host boundary (the `http` import still runs its checks, signing and recording; only the
//! socket is replaced by an immediate 200), next to the same request built by plain Rust.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::delivery::attempt::{Reach, execute};
use herald::delivery::outbound::Credentials;
use herald::delivery::signing::{standard_webhooks_signature, wandb_signature};
use herald::delivery::transport::DryRunTransport;
use herald::engine::{Invocation, PluginEngine, SandboxLimits};
use serde_json::{Value, json};
use url::Url;

use crate::report::{Report, micros, quantile};

const TARGET_MEDIAN: Duration = Duration::from_micros(20);

fn variables() -> Value {
    json!({
        "event_type": "LINK_ARTIFACT", "event_author": "ana", "entity_name": "acme", "project_name": "models",
        "automation_name": "deploy", "event_id": "e1", "occurred_at": "2026-11-22T00:00:00Z",
        "artifact_collection_name": "churn", "artifact_version": "herald-artifact://acme/models/churn:v3",
        "artifact_version_string": "acme/models/churn:v3", "artifact_version_index": 3, "alias": "",
        "run_id": "", "run_name": "", "run_state": "", "metric_name": "", "metric_values": "", "metric_condition": ""
    })
}

/// The same request in plain Rust: the body a plugin would build, and the host's signing.
fn native_request(body: &Value) -> usize {
    let bytes = serde_json::to_vec(body).expect("JSON serialises");
    let headers = [
        ("content-type", "application/json".to_string()),
        ("authorization", "Bearer token".to_string()),
        (
            "x-wandb-signature",
            wandb_signature("signing-secret", &bytes),
        ),
        (
            "webhook-signature",
            standard_webhooks_signature("signing-secret", "exec", 1_700_000_000, &bytes),
        ),
    ];
    bytes.len()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

fn samples(iterations: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        f();
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

/// Measures every built-in plugin and records median, p99 and the ratio to plain Rust.
pub(crate) async fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    println!("plugin invocation (instantiate + execute, sending stubbed)");
    let engine = PluginEngine::new(SandboxLimits::default(), None)?;
    let (warmup, iterations) = if quick { (500, 5_000) } else { (2_000, 50_000) };
    let rendered = json!({"event_type": "LINK_ARTIFACT",
                          "client_payload": {"artifact_version_string": "acme/models/churn:v3", "event_author": "ana"}});
    let cases: [(&str, Value, Option<Value>, Value); 5] = [
        (
            "webhook",
            json!({}),
            Some(rendered.clone()),
            rendered.clone(),
        ),
        (
            "slack",
            json!({"title": "Model alert", "severity": "warn"}),
            None,
            json!({"text": "[WARNING] Model alert: LINK_ARTIFACT in acme/models (acme/models/churn:v3)", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Model alert"}}, {"type": "section", "text": {"type": "mrkdwn", "text": "*Event:* LINK_ARTIFACT\n*Author:* ana\n*Where:* acme/models\n*Version:* acme/models/churn:v3"}}]}),
        ),
        (
            "teams",
            json!({"title": "Model alert"}),
            None,
            json!({"@type": "MessageCard", "summary": "Model alert", "sections": [{"activityTitle": "Model alert", "facts": [{"name": "Event type", "value": "LINK_ARTIFACT"}, {"name": "Author", "value": "ana"}]}]}),
        ),
        (
            "github-dispatch",
            json!({"owner": "acme", "repo": "models", "event_type": "DEPLOY"}),
            Some(
                json!({"client_payload": {"artifact_version_string": "acme/models/churn:v3", "event_author": "ana"}}),
            ),
            json!({"event_type": "DEPLOY", "client_payload": {"artifact_version_string": "acme/models/churn:v3", "event_author": "ana"}}),
        ),
        ("no-op", json!({}), Some(rendered.clone()), rendered),
    ];
    let url = Url::parse("https://hooks.example.com/herald")?;
    let variables = variables().to_string();
    for (name, config, payload, equivalent) in cases {
        // Each service's success answer: Slack's "ok", a Teams connector's "1", GitHub's 204.
        let transport = Arc::new(match name {
            "teams" => DryRunTransport::new(200, "1"),
            "github-dispatch" => DryRunTransport::new(204, ""),
            _ => DryRunTransport::new(200, "ok"),
        });
        let bytes = herald::plugins::builtin_bytes(name).expect("a built-in plugin");
        let plugin = engine
            .load(bytes, "builtin")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let invocation = Invocation {
            execution_id: "0190f5d2-0000-7000-8000-000000000000".into(),
            attempt: 1,
            automation_name: "deploy".into(),
            event_type: "LINK_ARTIFACT".into(),
            variables: variables.clone(),
            payload: payload.map(|p| p.to_string()),
            config: config.to_string(),
            integration_url: None,
        };
        let credentials = (name != "no-op").then(|| Credentials {
            url: url.clone(),
            access_token: Some("token".into()),
            signing_secrets: vec!["signing-secret".into()],
            payload_secrets: vec![],
            hidden_url: false,
            stale_at_ms: None,
        });
        let redactor = herald::delivery::redact::Redactor::new(["token", "signing-secret"]);
        let tag = herald::secrets::MasterKey::from_bytes(&[3; 32])
            .refs()
            .tag("bench");
        let mut times = Vec::with_capacity(iterations);
        for i in 0..warmup + iterations {
            // Clones made before the clock starts: the figure is the attempt path itself.
            let (invocation, credentials, tag, transport) = (
                invocation.clone(),
                credentials.clone(),
                tag.clone(),
                transport.clone(),
            );
            let started = Instant::now();
            let reach = Reach {
                credentials,
                granted: vec![],
                refs: tag,
                transport,
                launcher: None,
                redactor: redactor.clone(),
            };
            let result = execute(&engine, &plugin, invocation, reach).await;
            let elapsed = started.elapsed();
            anyhow::ensure!(
                matches!(result.result, Ok(Ok(_))),
                "{name} failed: {:?}",
                result.result
            );
            if i >= warmup {
                times.push(elapsed);
            }
        }
        times.sort();
        let native = samples(iterations, || {
            black_box(native_request(black_box(&equivalent)));
        });
        let (median, native_median) = (quantile(&times, 0.5), quantile(&native, 0.5));
        let label = format!("{name} plugin: instantiate + execute, median");
        if name == "webhook" {
            report.add(&label, micros(median), "≤ 20 µs", median <= TARGET_MEDIAN);
        } else {
            report.info(&label, micros(median));
        }
        report.info(
            &format!("{name} plugin: p99"),
            micros(quantile(&times, 0.99)),
        );
        report.info(
            &format!("{name} plugin vs plain Rust (same request)"),
            format!(
                "{:.1}× ({})",
                median.as_secs_f64() / native_median.as_secs_f64().max(1e-9),
                micros(native_median)
            ),
        );
    }
    Ok(())
}
