//! Plugin invocation cost: instantiate + `execute` of a built-in plugin, with sending stubbed at
//! the host boundary (the `http` import still runs its checks, signing and recording; only the
//! socket is replaced by an immediate 200).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::delivery::transport::DryRunTransport;
use herald::engine::{Credentials, EgressGrant, HostIo, Invocation, PluginEngine, SandboxLimits};
use serde_json::json;
use url::Url;

use crate::report::{Report, micros, quantile};

const TARGET_MEDIAN: Duration = Duration::from_micros(20);

/// Measures the webhook plugin and records median and p99.
pub async fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    println!("plugin invocation (instantiate + execute, sending stubbed)");
    let engine = PluginEngine::new(SandboxLimits::default(), None)?;
    let bytes = herald::plugins::builtin_bytes("webhook").expect("the webhook plugin is built in");
    let plugin = engine
        .load(bytes, "builtin")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let transport = Arc::new(DryRunTransport::new(200, "ok"));
    let url = Url::parse("https://hooks.example.com/herald")?;
    let payload = json!({
        "event_type": "LINK_ARTIFACT",
        "client_payload": {"artifact_version_string": "acme/models/churn:v3", "event_author": "ana"}
    })
    .to_string();
    let invocation = Invocation {
        execution_id: "0190f5d2-0000-7000-8000-000000000000".into(),
        attempt: 1,
        automation_name: "deploy-on-production".into(),
        event_type: "LINK_ARTIFACT".into(),
        variables: json!({"event_type": "LINK_ARTIFACT", "event_author": "ana"}).to_string(),
        payload: Some(payload),
        config: "{}".into(),
        integration_url: Some(url.to_string()),
    };
    let grant = EgressGrant {
        integration: Some(Credentials {
            url,
            access_token: Some("token".into()),
            signing_secret: Some("signing-secret".into()),
            payload_secrets: vec![],
            hidden_url: false,
        }),
        extra_origins: vec![],
    };

    let (warmup, iterations) = if quick { (500, 5_000) } else { (2_000, 50_000) };
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let io = HostIo::new(grant.clone(), transport.clone(), "bench");
        let started = Instant::now();
        let result = engine.execute(&plugin, &invocation, io).await;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            matches!(result.result, Ok(Ok(_))),
            "the webhook plugin failed: {:?}",
            result.result
        );
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    anyhow::ensure!(
        transport.request_count() == warmup + iterations,
        "every execution sent one request"
    );
    samples.sort();
    let median = quantile(&samples, 0.5);
    report.add(
        "webhook plugin: instantiate + execute, median",
        micros(median),
        "≤ 20 µs",
        median <= TARGET_MEDIAN,
    );
    report.info(
        "webhook plugin: instantiate + execute, p99",
        micros(quantile(&samples, 0.99)),
    );
    Ok(())
}
