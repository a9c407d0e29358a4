//! The sandbox against hostile components built from `plugins/fixtures/`: each attack fails
//! cleanly with a typed error, and the same engine then still runs a good plugin.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{ConnectionProbe, Receiver, fixture, herald};
use herald::delivery::attempt::{Reach, execute};
use herald::delivery::egress::EgressConfig;
use herald::delivery::outbound::Credentials;
use herald::delivery::transport::{HttpTransport, Timeouts};
use herald::engine::ExecutionReport;
use herald::engine::{ActionError, Invocation, Plugin, PluginEngine, SandboxError, SandboxLimits};
use herald::secrets::MasterKey;
use serde_json::{Value, json};
use url::Url;

const MEMORY_CAP: usize = 32 << 20;

struct Bench {
    engine: PluginEngine,
    hostile: Plugin,
    webhook: Plugin,
    receiver: Receiver,
}

impl Bench {
    async fn new() -> Self {
        Self::with_cpu_time(Duration::from_millis(300)).await
    }

    async fn with_cpu_time(cpu_time: Duration) -> Self {
        let limits = SandboxLimits {
            cpu_time,
            memory_bytes: MEMORY_CAP,
            max_concurrent_instances: 16,
            ..SandboxLimits::default()
        };
        let engine = PluginEngine::new(limits, None).unwrap();
        let hostile = engine
            .load(&std::fs::read(fixture("hostile")).unwrap(), "fixture")
            .await
            .unwrap();
        let webhook = engine
            .load(
                herald::plugins::builtin_bytes("webhook").unwrap(),
                "builtin",
            )
            .await
            .unwrap();
        Self {
            engine,
            hostile,
            webhook,
            receiver: Receiver::ok().await,
        }
    }

    /// Runs a plugin through the one attempt path, with the receiver as its integration.
    async fn run(&self, plugin: &Plugin, invocation: Invocation) -> ExecutionReport {
        let credentials = Credentials {
            url: Url::parse(&self.receiver.url("/hook")).unwrap(),
            access_token: Some("token-value".into()),
            signing_secrets: vec![],
            payload_secrets: vec![],
            hidden_url: false,
            stale_at_ms: None,
        };
        let policy = EgressConfig {
            allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
            ..Default::default()
        };
        let transport =
            Arc::new(HttpTransport::new(Timeouts::default(), Arc::new(policy)).unwrap());
        let tag = MasterKey::from_bytes(&[3; 32])
            .refs()
            .tag(&invocation.execution_id);
        let reach = Reach {
            credentials: Some(credentials),
            granted: vec![],
            refs: tag,
            transport,
            launcher: None,
            redactor: herald::delivery::redact::Redactor::new(["token-value"]),
        };
        execute(&self.engine, plugin, invocation, reach).await
    }

    fn invocation(&self, config: Value, payload: Option<&str>) -> Invocation {
        Invocation {
            execution_id: "exec-1".into(),
            attempt: 1,
            automation_name: "sandbox-test".into(),
            event_type: "RUN_STATE".into(),
            variables: json!({"event_type": "RUN_STATE"}).to_string(),
            payload: payload.map(str::to_string),
            config: config.to_string(),
            integration_url: Some(self.receiver.url("/hook")),
        }
    }

    async fn hostile(&self, config: Value) -> herald::engine::ExecutionReport {
        let invocation = self.invocation(config, None);
        self.run(&self.hostile, invocation).await
    }

    /// The good plugin still works on the same engine: one more request reaches the receiver.
    async fn still_serves(&self) {
        let before = self.receiver.requests().len();
        let invocation = self.invocation(json!({}), Some(r#"{"ok":true}"#));
        let report = self.run(&self.webhook, invocation).await;
        let outcome = report.result.expect("no sandbox error").expect("delivered");
        assert_eq!(outcome.status, Some(200));
        let seen = self
            .receiver
            .wait_for(before + 1, Duration::from_secs(5))
            .await;
        assert_eq!(seen.last().unwrap().body.as_ref(), br#"{"ok":true}"#);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_ends_at_the_cpu_deadline() {
    let bench = Bench::new().await;
    let report = bench.hostile(json!({"mode": "loop"})).await;
    assert_eq!(
        report.result.unwrap_err(),
        SandboxError::CpuDeadline(Duration::from_millis(300))
    );
    assert!(
        report.duration < Duration::from_secs(5),
        "stopped promptly: {:?}",
        report.duration
    );
    bench.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_cannot_grow_the_record_without_bound() {
    let bench = Bench::new().await;
    let report = bench.hostile(json!({"mode": "bigurls"})).await;
    let outcome = report
        .result
        .as_ref()
        .expect("no sandbox error")
        .as_ref()
        .expect("a note");
    assert_eq!(outcome.summary, "100 refused");
    assert!(
        report.requests.len() <= 16,
        "{} records",
        report.requests.len()
    );
    for request in &report.requests {
        assert!(
            request.url.len() < 4096,
            "a URL of {} bytes was kept",
            request.url.len()
        );
        let (_, message) = request.error.as_ref().expect("refused");
        assert!(message.len() < 4096, "a message of {} bytes", message.len());
    }
    assert!(
        report.logs.iter().any(|line| line
            .message
            .contains("more request(s) refused and not recorded")),
        "the record says what it left out: {:?}",
        report.logs
    );
    // The whole attempt as stored stays small.
    let verdict = herald::delivery::verdict::verdict(&report);
    let record = herald::delivery::record::attempt_record(
        1,
        std::time::SystemTime::now(),
        &report,
        &verdict,
        &herald::delivery::redact::Redactor::default(),
    );
    let stored = serde_json::to_string(&record).unwrap();
    assert!(
        stored.len() < 256 << 10,
        "a record of {} bytes",
        stored.len()
    );
    bench.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocating_past_the_cap_fails_cleanly() {
    // The deadline counts wall-clock ticks: on a loaded machine, filling 32 MiB may take longer
    // than the 300 ms the other tests use, and the cap, not the deadline, must stop it.
    let bench = Bench::with_cpu_time(Duration::from_secs(10)).await;
    let report = bench.hostile(json!({"mode": "alloc"})).await;
    assert_eq!(
        report.result.unwrap_err(),
        SandboxError::MemoryExhausted {
            limit_bytes: MEMORY_CAP
        }
    );
    bench.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_fails_cleanly_with_the_panic_message() {
    let bench = Bench::new().await;
    let report = bench.hostile(json!({"mode": "trap"})).await;
    match report.result.unwrap_err() {
        SandboxError::Trap(message) => {
            assert!(
                message.contains("deliberate trap from the hostile fixture"),
                "{message}"
            )
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    bench.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_another_origin_is_denied_before_any_connection() {
    let bench = Bench::new().await;
    let probe = ConnectionProbe::start().await;
    let report = bench
        .hostile(json!({"mode": "exfiltrate", "url": format!("http://{}/steal", probe.addr)}))
        .await;
    match report.result.unwrap() {
        Err(ActionError::Rejected(message)) => assert!(message.contains("Denied"), "{message}"),
        other => panic!("expected the denial to reach the plugin, got {other:?}"),
    }
    assert_eq!(report.requests.len(), 1);
    assert_eq!(report.requests[0].error.as_ref().unwrap().0, "denied");
    assert_eq!(probe.connections().await, 0, "the probe saw a connection");
    bench.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_environment_arguments_and_sockets_find_nothing() {
    let bench = Bench::new().await;
    let probe = ConnectionProbe::start().await;
    let report = bench
        .hostile(json!({"mode": "snoop", "port": probe.addr.port()}))
        .await;
    let outcome = report.result.unwrap().unwrap();
    let found: Value = serde_json::from_str(&outcome.summary).unwrap();
    assert_eq!(
        found,
        json!({"files": [], "env": [], "args": [], "socket": false})
    );
    assert_eq!(probe.connections().await, 0);
    bench.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_count_and_log_volume_are_capped() {
    let bench = Bench::new().await;
    let report = bench.hostile(json!({"mode": "flood"})).await;
    let limit = SandboxLimits::default().max_requests as usize;
    match report.result.unwrap() {
        Err(ActionError::Rejected(message)) => {
            assert!(
                message.contains(&format!("after {limit}")) && message.contains("LimitExceeded"),
                "{message}"
            )
        }
        other => panic!("expected the cap, got {other:?}"),
    }
    assert_eq!(bench.receiver.requests().len(), limit);

    // Printing a megabyte to each of stdout and stderr: the plugin succeeds, its first lines
    // are log lines, and what is kept stays bounded.
    let report = bench.hostile(json!({"mode": "print"})).await;
    report.result.unwrap().unwrap();
    let lines: Vec<String> = report
        .logs
        .iter()
        .map(|l| format!("{} {}", l.level, l.message))
        .collect();
    assert_eq!(lines[0], "info stdout: hello from stdout", "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("warn stdout: ") && l.contains("dropped")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("warn stderr: ")),
        "{lines:?}"
    );
    let kept: usize = report.logs.iter().map(|l| l.message.len()).sum();
    assert!(
        kept <= SandboxLimits::default().max_log_bytes + 1000,
        "kept {kept} bytes of output"
    );

    let report = bench.hostile(json!({"mode": "log"})).await;
    report.result.unwrap().unwrap();
    let kept: usize = report.logs.iter().map(|l| l.message.len()).sum();
    assert!(
        kept <= SandboxLimits::default().max_log_bytes + 200,
        "kept {kept} bytes of log"
    );
    assert!(
        report.logs.last().unwrap().message.contains("dropped"),
        "{:?}",
        report.logs.last()
    );
    bench.still_serves().await;
}

#[tokio::test]
async fn bad_components_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let text = dir.path().join("text.wasm");
    std::fs::write(&text, b"not wasm at all").unwrap();
    let cases = [
        (
            core.display().to_string(),
            "a core WebAssembly module, not a component",
        ),
        (text.display().to_string(), "not a WebAssembly file"),
        (
            fixture("other-world").display().to_string(),
            "not a Herald action plugin: missing export `herald:plugin/action@0.2.0` (it exports: greet)",
        ),
        (
            fixture("future-version").display().to_string(),
            "built for herald:plugin@0.3.0, but this host runs herald:plugin@0.2.x plugins",
        ),
        (
            fixture("older-version").display().to_string(),
            "built for herald:plugin@0.1.0, an older contract: rebuild it against herald:plugin@0.2.x",
        ),
    ];
    for (path, expected) in cases {
        let output = herald(&["plugin", "inspect", &path]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{path}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(expected), "{path}: {stderr}");
    }
}

#[tokio::test]
async fn a_config_the_plugin_refuses_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let event = crate::common::write_json(
        dir.path(),
        "e.json",
        &json!({"type": "RUN_STATE", "entity": "a", "project": "p", "run_id": "r", "state": "FAILED"}),
    );
    let config = crate::common::write_json(dir.path(), "c.json", &json!({"mode": "teleport"}));
    let hostile = fixture("hostile").display().to_string();
    let output = herald(&[
        "plugin", "run", &hostile, "--event", &event, "--config", &config,
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr.trim(),
        "error: the hostile plugin refused the config: unknown mode \"teleport\""
    );

    let config = crate::common::write_json(dir.path(), "c2.json", &json!({"url": "x"}));
    let output = herald(&[
        "plugin", "run", "webhook", "--event", &event, "--config", &config,
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "error: the config does not match the webhook plugin's config schema: /: Additional properties are not allowed ('url' was unexpected)"
    );
}

#[tokio::test]
async fn inspect_names_the_choices_of_an_enum_behind_a_ref() {
    // schemars writes a Rust enum as a `$ref` into `$defs`: its choices are shown, not "any".
    let output = herald(&["plugin", "inspect", "slack"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(r#"mode: one of ["webhook","bot"], optional"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"severity: one of ["info","warn","error"]"#),
        "{stdout}"
    );
    assert!(!stdout.contains(": any,"), "{stdout}");
}

/// `herald plugin inspect NAME` with the compiled-component cache in `dir` bounded to `bound`.
async fn inspect_cached(name: &str, dir: &std::path::Path, bound: u64) {
    let output = tokio::process::Command::new(crate::common::herald_bin())
        .args(["plugin", "inspect", name, "--cache-dir"])
        .arg(dir)
        .env("HERALD_COMPILED_CACHE_MAX", bound.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The cache's entries: file name → size.
fn cached(dir: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_compiled_cache_stays_under_its_bound_evicting_the_least_recently_used() {
    // The sizes of three plugins' compiled forms, cached with room for all.
    let roomy = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    for name in ["webhook", "slack", "teams"] {
        let before = cached(roomy.path());
        inspect_cached(name, roomy.path(), u64::MAX).await;
        let after = cached(roomy.path());
        let (file, size) = after
            .into_iter()
            .find(|(f, _)| !before.contains_key(f))
            .unwrap();
        sizes.push((file, size));
    }
    let [(webhook, a), (slack, _), (teams, c)] = sizes.try_into().unwrap();

    // Room for two: webhook, slack, webhook again (a use), then teams evicts slack, the least
    // recently used, and the cache holds at most its bound.
    let tight = tempfile::tempdir().unwrap();
    let bound = a + c;
    for name in ["webhook", "slack", "webhook", "teams"] {
        inspect_cached(name, tight.path(), bound).await;
    }
    let left = cached(tight.path());
    assert_eq!(
        left.keys().cloned().collect::<Vec<_>>(),
        {
            let mut kept = vec![webhook, teams];
            kept.sort();
            kept
        },
        "slack ({slack}) was the least recently used"
    );
    assert!(left.values().sum::<u64>() <= bound);
}
