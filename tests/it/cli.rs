//! The `herald` client subcommands against a real server: every route reachable from the command
//! line, tables by default, `--json` on request, one-line errors.

use crate::common::{ADMIN_KEY, Server, herald, write_json};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

struct Cli {
    url: String,
    key: String,
}

impl Cli {
    /// Runs a client command; returns (exit code, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["--url", &self.url, "--key", &self.key];
        all.extend_from_slice(args);
        let output = herald(&all).await;
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs a command that must succeed; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.run(args).await;
        assert_eq!(code, 0, "herald {args:?} failed: {stderr}{stdout}");
        stdout
    }

    /// Runs a command with --json; returns the parsed output.
    async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all).await).expect("--json prints JSON")
    }
}

#[tokio::test]
async fn secrets_integrations_automations_and_events_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let cli = Cli {
        url: server.url.clone(),
        key: ADMIN_KEY.into(),
    };
    let files = dir.path();

    let whoami = cli.json(&["whoami"]).await;
    assert_eq!(
        (whoami["entity"].as_str(), whoami["role"].as_str()),
        (Some("default"), Some("admin"))
    );
    let plugins = cli.ok(&["plugins"]).await;
    assert!(
        plugins
            .lines()
            .any(|l| l.starts_with("webhook ") && l.contains(" webhook ")),
        "the plugins table shows each plugin's integration kinds: {plugins}"
    );
    assert!(
        plugins
            .lines()
            .any(|l| l.starts_with("github-dispatch ") && l.contains(" github ")),
        "{plugins}"
    );

    // Secrets: from --value and from standard input; listed by name only.
    assert_eq!(
        cli.ok(&["secrets", "set", "TOKEN", "--value", "tok-value-1"])
            .await
            .trim(),
        "created secret TOKEN"
    );
    let mut child = tokio::process::Command::new(crate::common::herald_bin())
        .args([
            "--url",
            &server.url,
            "--key",
            ADMIN_KEY,
            "secrets",
            "set",
            "SIGNING",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin-secret\n")
        .await
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "created secret SIGNING"
    );
    let secrets = cli.ok(&["secrets", "list"]).await;
    assert!(
        secrets.starts_with("NAME") && secrets.contains("SIGNING") && secrets.contains("TOKEN"),
        "{secrets}"
    );
    assert!(!secrets.contains("from-stdin-secret") && !secrets.contains("tok-value-1"));
    // A rotation prints the value Herald made, once, and until when the old one signs.
    let rotated = cli
        .ok(&["secrets", "rotate", "SIGNING", "--overlap", "1h"])
        .await;
    assert!(
        rotated.starts_with("rotated secret SIGNING; the old value signs too until ")
            && rotated.contains("\nnew value (shown once): whsec_"),
        "{rotated}"
    );
    let (code, _, stderr) = cli
        .run(&["secrets", "rotate", "SIGNING", "--overlap", "8d"])
        .await;
    assert!(
        code != 0 && stderr.contains("overlap_seconds: at most 604800"),
        "{stderr}"
    );

    // Integrations.
    let integration = write_json(
        files,
        "integration.json",
        &json!({"name": "ci", "kind": "webhook", "url": "https://ci.example.com/hook", "access_token": "TOKEN"}),
    );
    let created = cli
        .json(&["integrations", "create", "-f", &integration])
        .await;
    assert_eq!(created["name"], "ci");
    let patch = write_json(
        files,
        "integration-patch.json",
        &json!({"signing_secret": "SIGNING"}),
    );
    cli.ok(&["integrations", "update", "ci", "-f", &patch])
        .await;
    assert_eq!(
        cli.json(&["integrations", "get", "ci"]).await["signing_secret"],
        "SIGNING"
    );
    // "Test" through the CLI: a receiver on 127.0.0.1 gets the payload and its answer comes back.
    let receiver = crate::common::Receiver::ok().await;
    let local = write_json(
        files,
        "local.json",
        &json!({"name": "local", "kind": "webhook", "url": receiver.url("/t"), "secrets": ["TOKEN"]}),
    );
    cli.ok(&["integrations", "create", "-f", &local]).await;
    let payload = write_json(files, "payload.json", &json!({"hello": "${TOKEN}"}));
    let tested = cli
        .json(&["integrations", "test", "local", "-p", &payload])
        .await;
    assert_eq!(tested["response"]["status"], 200, "{tested}");
    let got = receiver
        .wait_for(1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(got[0].json(), json!({"hello": "tok-value-1"}));
    cli.ok(&["integrations", "delete", "local"]).await;
    let listed = cli.ok(&["integrations", "list"]).await;
    assert!(
        listed
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("ci ") && l.contains("https://ci.example.com/hook")),
        "{listed}"
    );

    // Automations.
    let automation = write_json(
        files,
        "automation.json",
        &json!({"name": "deploy", "scope": {"type": "registry", "registry": "models"},
                "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": "production"}},
                "action": {"type": "webhook", "integration": "ci"}}),
    );
    let id = cli
        .json(&["automations", "create", "-f", &automation])
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let table = cli
        .ok(&["automations", "list", "--project", "models"])
        .await;
    let header = table.lines().next().unwrap();
    for column in [
        "NAME",
        "TRIGGER_TYPE",
        "ACTION_TYPE",
        "ACTION_NAME",
        "QUEUE",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(
        table.contains("ADD_ARTIFACT_ALIAS") && table.contains(&id),
        "{table}"
    );
    assert_eq!(
        cli.ok(&["automations", "disable", &id]).await.trim(),
        format!("disabled {id}")
    );
    assert_eq!(
        cli.json(&["automations", "get", &id]).await["enabled"],
        false
    );
    cli.ok(&["automations", "enable", &id]).await;
    let patch = write_json(
        files,
        "automation-patch.json",
        &json!({"description": "ship it"}),
    );
    assert!(
        cli.ok(&["automations", "update", &id, "-f", &patch])
            .await
            .contains("ship it")
    );

    // Events: one, then a batch, with an idempotency key.
    let event = json!({"type": "ADD_ARTIFACT_ALIAS", "entity": "default", "registry": "models",
                       "collection": "churn", "version": "v2", "alias": "production"});
    let one = write_json(files, "event.json", &event);
    let sent = cli
        .json(&["events", "send", "-f", &one, "--idempotency-key", "k1"])
        .await;
    assert_eq!(sent["matched"], 1);
    let again = cli
        .json(&["events", "send", "-f", &one, "--idempotency-key", "k1"])
        .await;
    assert_eq!(
        (again["event_id"].clone(), again["duplicate"].clone()),
        (sent["event_id"].clone(), json!(true))
    );
    let batch = write_json(files, "batch.json", &json!([event, event]));
    let table = cli.ok(&["events", "send", "-f", &batch]).await;
    assert_eq!(table.lines().count(), 3, "a header and two rows: {table}");
    let event_id = sent["event_id"].as_str().unwrap();
    let shown = cli.json(&["events", "get", event_id]).await;
    let execution_id = shown["executions"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        cli.json(&["executions", "get", &execution_id]).await["status"],
        "pending"
    );
    let executions = cli.ok(&["automations", "executions", &id]).await;
    assert_eq!(
        executions.lines().count(),
        4,
        "three executions: {executions}"
    );

    // Disabled by hand, then enabled again (this host delivers nothing, so it holds nothing).
    let disabled = cli
        .json(&[
            "integrations",
            "disable",
            "ci",
            "--reason",
            "receiver migrating",
        ])
        .await;
    assert_eq!(disabled["health"]["state"], "disabled");
    assert_eq!(disabled["health"]["disabled_reason"], "receiver migrating");
    let listed = cli.ok(&["integrations", "list"]).await;
    assert!(listed.contains("  disabled  "), "{listed}");
    assert_eq!(
        cli.ok(&["integrations", "enable", "ci"]).await.trim(),
        "enabled integration ci; 0 held executions are due again"
    );
    assert_eq!(
        cli.ok(&["integrations", "enable", "ci", "--discard-held"])
            .await
            .trim(),
        "integration ci was already enabled"
    );

    // Deletes, and the one-line error for what is in use.
    let (code, _, stderr) = cli.run(&["integrations", "delete", "ci"]).await;
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim(),
        "error: 409 conflict: integration ci is used by automation deploy"
    );
    assert_eq!(
        cli.ok(&["automations", "delete", &id]).await.trim(),
        format!("deleted automation {id}")
    );
    cli.ok(&["integrations", "delete", "ci"]).await;
    cli.ok(&["secrets", "delete", "TOKEN"]).await;
    assert_eq!(
        cli.ok(&["integrations", "list"]).await.trim(),
        "NAME  KIND  URL  ACCESS_TOKEN  SIGNING_SECRET  SECRETS  HEALTH.STATE  HEALTH.HELD\n(none)"
    );
}

#[tokio::test]
async fn keys_and_entities_from_the_command_line() {
    let server = Server::ingest_only();
    let cli = Cli {
        url: server.url.clone(),
        key: ADMIN_KEY.into(),
    };
    let key = cli
        .json(&["keys", "create", "--role", "member", "--label", "bot"])
        .await;
    assert_eq!(key["role"], "member");
    let member = Cli {
        url: server.url.clone(),
        key: key["key"].as_str().unwrap().into(),
    };
    let (code, _, stderr) = member.run(&["secrets", "list"]).await;
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim(),
        "error: 403 forbidden: only admins may call GET /v1/entities/{entity}/secrets"
    );
    assert!(cli.ok(&["keys", "list"]).await.contains("bot"));
    let key_id = key["id"].as_str().unwrap();
    assert_eq!(
        cli.ok(&["keys", "delete", key_id]).await.trim(),
        format!("deleted key {key_id}")
    );
    let (code, _, stderr) = member.run(&["whoami"]).await;
    assert_eq!(
        (code, stderr.trim()),
        (2, "error: 401 unauthorized: the API key is not valid")
    );
    let entity = cli.json(&["entities", "create", "research"]).await;
    assert!(
        entity["admin_key"]["key"]
            .as_str()
            .unwrap()
            .starts_with("hk_")
    );
}

#[tokio::test]
async fn no_key_or_no_server_is_one_clear_line() {
    let server = Server::ingest_only();
    let output = herald(&["--url", &server.url, "plugins"]).await;
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "error: an API key is needed: --key or HERALD_KEY"
    );
    let nobody = Cli {
        url: "http://127.0.0.1:9".into(),
        key: ADMIN_KEY.into(),
    };
    let (code, _, stderr) = nobody.run(&["plugins"]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: cannot reach http://127.0.0.1:9/v1/plugins"),
        "{stderr}"
    );
}

#[tokio::test]
async fn jobs_and_queues_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let cli = Cli {
        url: server.url.clone(),
        key: ADMIN_KEY.into(),
    };
    let files = dir.path();
    let spec = write_json(
        files,
        "job.json",
        &json!({"command": ["true"], "config": {"model": "none"}}),
    );
    assert_eq!(
        cli.json(&["jobs", "put", "eval", "-f", &spec]).await["version"],
        1
    );
    assert_eq!(
        cli.json(&["jobs", "put", "eval", "-f", &spec]).await["version"],
        2
    );
    let listed = cli.ok(&["jobs", "list"]).await;
    assert!(
        listed.starts_with("NAME") && listed.contains("eval"),
        "{listed}"
    );
    assert_eq!(cli.json(&["jobs", "get", "eval@1"]).await["version"], 1);
    assert_eq!(
        cli.json(&["jobs", "versions", "eval"]).await["jobs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    cli.ok(&["queues", "create", "gpu"]).await;
    assert!(cli.ok(&["queues", "list"]).await.contains("gpu"));
    let overrides = write_json(files, "overrides.json", &json!({"model": "v7"}));
    let item = cli
        .json(&[
            "queues",
            "enqueue",
            "gpu",
            "eval",
            "--project",
            "train",
            "--priority",
            "3",
            "--overrides",
            &overrides,
        ])
        .await;
    let id = item["id"].as_str().unwrap();
    assert_eq!(item["config"], json!({"model": "v7"}));
    let table = cli
        .ok(&["queues", "items", "gpu", "--status", "queued"])
        .await;
    assert!(table.contains(id) && table.contains("eval@2"), "{table}");
    assert_eq!(cli.json(&["queues", "item", id]).await["priority"], 3);
    assert_eq!(
        cli.json(&["queues", "cancel", id]).await["status"],
        "cancelled"
    );
    let (code, _, stderr) = cli.run(&["queues", "cancel", id]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: 409 conflict: queue item"),
        "{stderr}"
    );
    let bad = write_json(files, "bad.json", &json!({"command": "rm"}));
    let (code, _, stderr) = cli
        .run(&[
            "queues",
            "enqueue",
            "gpu",
            "eval",
            "--project",
            "train",
            "--overrides",
            &bad,
        ])
        .await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("`command` not in the job's config"),
        "{stderr}"
    );
}

/// `herald plugin run` keeps what it compiled: the second run of a component loads it from the
/// cache; the sandbox limits are flags.
#[tokio::test]
async fn plugin_run_reuses_the_compiled_component_and_takes_the_sandbox_limits() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let event = write_json(
        dir.path(),
        "event.json",
        &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "r", "collection": "churn", "version": "v1"}),
    );
    let cache_arg = cache.display().to_string();
    let run = |extra: &'static [&'static str]| {
        let event = event.clone();
        let cache_arg = cache_arg.clone();
        async move {
            let mut args = vec![
                "plugin",
                "run",
                "webhook",
                "--event",
                &event,
                "--target",
                "https://ci.example.com/hook",
                "--cache-dir",
                &cache_arg,
            ];
            args.extend_from_slice(extra);
            let output = herald(&args).await;
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            )
        }
    };
    let (code, first) = run(&[]).await;
    assert_eq!(code, Some(0), "{first}");
    assert!(first.contains("(compiled)"), "{first}");
    let (code, second) = run(&[]).await;
    assert_eq!(code, Some(0), "{second}");
    assert!(
        second.contains("(from the compiled-component cache)"),
        "{second}"
    );
    let entries = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(entries, 1, "one compiled component in the cache");

    // The limits are the sandbox's: no request allowed, so the webhook cannot deliver.
    let (code, limited) = run(&["--max-requests", "0"]).await;
    assert_eq!(code, Some(1), "{limited}");
    assert!(
        limited.contains("outcome:") && !limited.contains("outcome: succeeded"),
        "{limited}"
    );
    let (code, bad) = run(&["--memory", "lots"]).await;
    assert_eq!(code, Some(2), "{bad}");
}

/// `--from-execution` runs a stored execution's event, config and template again, locally.
#[tokio::test]
async fn plugin_run_replays_a_stored_execution() {
    let receiver = crate::common::Receiver::start(|_, _| (400, vec![], "bad payload".into())).await;
    let server = Server::fast();
    let admin = server.admin();
    crate::common::create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": receiver.url("/hook")}),
    )
    .await;
    crate::common::create_automation(
        &admin,
        json!({"name": "evaluate-links", "scope": {"type": "entity"},
               "event": {"type": "LINK_ARTIFACT"},
               "action": {"type": "webhook", "integration": "ci",
                          "payload": {"model": "${artifact_version_string}", "by": "${automation_name}"}}}),
    )
    .await;
    let event_id = crate::common::post_event(
        &admin,
        &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                "collection": "churn", "version": "v7"}),
    )
    .await;
    let settled =
        crate::common::settled(&admin, &event_id, std::time::Duration::from_secs(10)).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    let id = settled["id"].as_str().unwrap();

    let cli = Cli {
        url: server.url.clone(),
        key: ADMIN_KEY.into(),
    };
    let replayed = cli
        .json(&[
            "plugin",
            "run",
            "--from-execution",
            id,
            "--target",
            "https://ci.example.com/hook",
        ])
        .await;
    let body = replayed["requests"][0]["body"]
        .as_str()
        .unwrap_or_else(|| panic!("{replayed}"));
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"model": "default/models/churn:v7", "by": "evaluate-links"})
    );
    assert_eq!(
        replayed["outcome"], "succeeded",
        "the dry run answers 200: {replayed}"
    );
    // Without a server to ask, it says so on one line.
    let (code, _, stderr) = Cli {
        url: "http://127.0.0.1:9".into(),
        key: ADMIN_KEY.into(),
    }
    .run(&["plugin", "run", "--from-execution", id])
    .await;
    assert_eq!(code, 2, "an error, not a plugin failure (1)");
    assert!(stderr.contains("reading execution"), "{stderr}");
}
