//! Launch through the real binary and real `herald agent` processes: jobs and their versions,
//! queues, priorities, cancelling a running process, an agent killed mid-run, what the job's
//! process sees, and the RUN_STATE events that come back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Api, Receiver, Server, expect_status, herald_bin, wait_for_item as wait_for};

/// A `herald agent` process, killed when dropped.
struct Agent {
    child: Child,
}

impl Agent {
    fn start(server: &Server, key: &str, args: &[&str]) -> Self {
        let child = Command::new(herald_bin())
            .args(["agent", "--poll", "50ms", "--lease", "2s", "--grace", "2s"])
            .args(args)
            .env("HERALD_URL", &server.url)
            .env("HERALD_KEY", key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("herald agent starts");
        Self { child }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Saves a job whose process runs `script` with `sh -c`, with `OUT` set to `out`.
async fn job(admin: &Api, name: &str, script: &str, out: &Path, config: Value) -> Value {
    expect_status(
        &admin
            .put(
                &format!("/v1/entities/default/jobs/{name}"),
                &json!({"description": "test job", "command": ["sh", "-c", script],
                        "env": {"OUT": out.display().to_string()}, "config": config}),
            )
            .await,
        201,
    )
    .clone()
}

async fn enqueue(api: &Api, queue: &str, body: Value) -> String {
    let path = format!("/v1/entities/default/queues/{queue}/items");
    crate::common::created(api, &path, &body, "id").await
}

/// Waits until `automation` has `count` executions; returns them.
async fn wait_executions(api: &Api, automation: &str, count: usize, limit: Duration) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let (_, page) = api
            .get(&format!("/v1/automations/{automation}/executions"))
            .await;
        let executions = page["executions"].as_array().cloned().unwrap_or_default();
        if executions.len() >= count {
            return executions;
        }
        assert!(
            Instant::now() < deadline,
            "automation {automation} has {} executions, not {count}",
            executions.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

struct Bench {
    server: Server,
    admin: Api,
    member_key: String,
    /// An agent key bound to queue `gpu`.
    agent_key: String,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new() -> Self {
        Self::with_config("").await
    }

    /// A server with fast delivery and `extra` (TOML) in its config.
    async fn with_config(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_with(
            &dir.path().join("data"),
            &format!("{}{extra}", crate::common::FAST_DELIVERY_CONFIG),
            &[("HERALD_BOOTSTRAP_KEY", crate::common::ADMIN_KEY)],
            &[],
        );
        let admin = server.admin();
        let member_key = crate::common::member_key(&admin, "agent").await;
        expect_status(
            &admin
                .post("/v1/entities/default/queues", &json!({"name": "gpu"}))
                .await,
            201,
        );
        let agent_key = crate::common::agent_key(&admin, &["gpu"]).await;
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        Self {
            server,
            admin,
            member_key,
            agent_key,
            out,
            _dir: dir,
        }
    }
}

#[tokio::test]
async fn an_agent_runs_the_job_with_its_config_and_reports_the_run() {
    let bench = Bench::new().await;
    let admin = &bench.admin;
    let receiver = Receiver::ok().await;
    crate::common::create_integration(
        admin,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url("/runs")}),
    )
    .await;
    let finished_runs = crate::common::create_automation(
        admin,
        json!({"name": "run-finished", "scope": {"type": "project", "project": "train"},
               "event": {"type": "RUN_STATE", "filter": {"state": "FINISHED"}}, "action": {"type": "no-op"}}),
    )
    .await;
    crate::common::create_automation(
        admin,
        json!({"name": "run-failed", "scope": {"type": "project", "project": "train"},
               "event": {"type": "RUN_STATE", "filter": {"state": "FAILED"}},
               "action": {"type": "webhook", "integration": "hook",
                          "payload": {"run": "${run_id}", "state": "${run_state}", "job": "${run_name}",
                                      "code": "${exit_code}", "tail": "${output_tail}"}}}),
    )
    .await;
    let script = r#"cat "$HERALD_RUN_CONFIG" > "$OUT/$HERALD_RUN_ID.config"; env > "$OUT/$HERALD_RUN_ID.env"; echo out-line; echo err-line >&2; exit "$(sed -n 's/.*"code":\([0-9]*\).*/\1/p' "$HERALD_RUN_CONFIG")""#;
    let first = job(
        admin,
        "eval",
        script,
        &bench.out,
        json!({"model": "latest", "code": 0}),
    )
    .await;
    assert_eq!(first["version"], 1);
    let second = job(
        admin,
        "eval",
        script,
        &bench.out,
        json!({"model": "latest", "code": 0, "epochs": 1}),
    )
    .await;
    assert_eq!(second["version"], 2, "every save is a new version");
    let (_, versions) = admin.get("/v1/entities/default/jobs/eval/versions").await;
    assert_eq!(versions["jobs"].as_array().unwrap().len(), 2);
    let (_, old) = admin.get("/v1/entities/default/jobs/eval@1").await;
    assert_eq!(old["config"], json!({"model": "latest", "code": 0}));

    let member = bench.server.client(&bench.member_key);
    let ok = enqueue(
        &member,
        "gpu",
        json!({"job": "eval", "project": "train", "overrides": {"model": "v7"}}),
    )
    .await;
    let bad = enqueue(
        &member,
        "gpu",
        json!({"job": "eval@1", "project": "train", "overrides": {"code": 3}}),
    )
    .await;
    let (status, refused) = member
        .post(
            "/v1/entities/default/queues/gpu/items",
            &json!({"job": "eval", "project": "train", "overrides": {"command": "rm -rf /"}}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`command` not in the job's config")
    );

    let agent = Agent::start(&bench.server, &bench.agent_key, &["--queue", "gpu"]);
    let ok_item = wait_for(admin, &ok, &["finished", "failed"], Duration::from_secs(30)).await;
    let bad_item = wait_for(
        admin,
        &bad,
        &["finished", "failed"],
        Duration::from_secs(30),
    )
    .await;
    agent.kill();
    assert_eq!(ok_item["status"], "finished", "{ok_item}");
    assert_eq!(ok_item["exit_code"], 0);
    assert_eq!(ok_item["job"], "eval@2");
    let output = ok_item["output"].as_str().unwrap();
    assert!(
        output.contains("out-line") && output.contains("err-line"),
        "{output}"
    );
    assert_eq!(bad_item["status"], "failed");
    assert_eq!(bad_item["exit_code"], 3);
    assert_eq!(bad_item["job"], "eval@1");

    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(bench.out.join(format!("{ok}.config"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config,
        json!({"model": "v7", "code": 0, "epochs": 1}),
        "defaults ← overrides"
    );
    let env = std::fs::read_to_string(bench.out.join(format!("{ok}.env"))).unwrap();
    assert!(env.contains(&format!("HERALD_RUN_ID={ok}")), "{env}");
    assert!(
        env.contains(&format!("HERALD_URL={}", bench.server.url)),
        "{env}"
    );
    assert!(env.contains("HERALD_RUN_CONFIG="), "{env}");
    assert!(
        !env.contains("HERALD_KEY") && !env.contains(&bench.agent_key),
        "the agent's key never reaches the job: {env}"
    );

    // RUN_STATE events came back: the failed run reached the receiver through an ordinary
    // automation.
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    let failure = got[0].json();
    let tail = failure["tail"].as_str().unwrap().to_string();
    assert_eq!(
        failure,
        json!({"run": bad, "state": "FAILED", "job": "eval@1", "code": "3", "tail": tail})
    );
    assert!(
        tail.contains("out-line") && tail.contains("err-line"),
        "the failure's output reaches the automation: {tail}"
    );
    let (_, finished) = admin
        .get(&format!("/v1/automations/{finished_runs}/executions"))
        .await;
    let finished = finished["executions"].as_array().unwrap();
    assert_eq!(
        finished.len(),
        1,
        "one RUN_STATE FINISHED, for the run that exited 0"
    );
}

#[tokio::test]
async fn a_finish_whose_agent_hangs_up_never_leaves_a_run_without_its_event() {
    const ITEMS: usize = 16;
    let bench = Bench::new().await;
    let admin = &bench.admin;
    let finished_runs = crate::common::create_automation(
        admin,
        json!({"name": "finished-runs", "scope": {"type": "project", "project": "p"},
               "event": {"type": "RUN_STATE", "filter": {"state": "FINISHED"}}, "action": {"type": "no-op"}}),
    )
    .await;
    job(admin, "quick", "true", &bench.out, json!({})).await;
    let agent = bench.server.client(&bench.agent_key);
    let host = bench.server.url.trim_start_matches("http://").to_string();
    for hang_up_after in 0..ITEMS {
        let id = enqueue(admin, "gpu", json!({"job": "quick", "project": "p"})).await;
        let (status, claimed) = agent
            .post(
                "/v1/entities/default/queues/gpu/claim",
                &json!({"agent": "flaky-box"}),
            )
            .await;
        assert_eq!(status, 200, "{claimed}");
        assert_eq!(claimed["item"]["id"], id.as_str());
        let body = json!({"lease_token": claimed["lease_token"], "exit_code": 0});

        // The agent sends its finish report and is gone before the answer, a little later each
        // time, so that some hang-ups land while the server is between storing the item and
        // recording its event.
        let path = format!("/v1/entities/default/items/{id}/finish");
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            bench.agent_key,
            body.to_string().len()
        );
        let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut socket, request.as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(hang_up_after as u64)).await;
        drop(socket);

        // Restarted, the agent reports again: accepted if the first report never took effect,
        // refused if it did, and either way the run's event must follow.
        let (status, answer) = agent.post(&path, &body).await;
        assert!(status == 200 || status == 409, "{status} {answer}");
        let item = wait_for(admin, &id, &["finished"], Duration::from_secs(10)).await;
        assert_eq!(item["exit_code"], 0, "{item}");
    }
    let executions = wait_executions(admin, &finished_runs, ITEMS, Duration::from_secs(10)).await;
    assert_eq!(executions.len(), ITEMS, "one RUN_STATE FINISHED per run");
}

#[tokio::test]
async fn higher_priorities_run_first_and_cancel_stops_a_running_process() {
    let bench = Bench::new().await;
    let admin = &bench.admin;
    job(
        admin,
        "log",
        r#"echo "$HERALD_RUN_ID" >> "$OUT/order""#,
        &bench.out,
        json!({}),
    )
    .await;
    job(admin, "sleepy", "exec sleep 60", &bench.out, json!({})).await;
    let low = enqueue(
        admin,
        "gpu",
        json!({"job": "log", "project": "p", "priority": 0}),
    )
    .await;
    let high = enqueue(
        admin,
        "gpu",
        json!({"job": "log", "project": "p", "priority": 5}),
    )
    .await;
    let also_low = enqueue(
        admin,
        "gpu",
        json!({"job": "log", "project": "p", "priority": 0}),
    )
    .await;
    let agent = Agent::start(
        &bench.server,
        &bench.agent_key,
        &["--queue", "gpu", "--max-jobs", "1"],
    );
    for id in [&low, &high, &also_low] {
        wait_for(admin, id, &["finished"], Duration::from_secs(30)).await;
    }
    let order = std::fs::read_to_string(bench.out.join("order")).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        [high.as_str(), low.as_str(), also_low.as_str()],
        "priority first, then FIFO"
    );

    // A cancelled run is reported FAILED, saying why.
    let failed_runs = crate::common::create_automation(
        admin,
        json!({"name": "failed-runs", "scope": {"type": "project", "project": "p"},
               "event": {"type": "RUN_STATE", "filter": {"state": "FAILED"}},
               "action": {"type": "no-op", "payload": {"reason": "${reason}", "code": "${exit_code}"}}}),
    )
    .await;
    let sleepy = enqueue(admin, "gpu", json!({"job": "sleepy", "project": "p"})).await;
    wait_for(admin, &sleepy, &["running"], Duration::from_secs(30)).await;
    let started = Instant::now();
    let (status, cancelled) = admin
        .post(
            &format!("/v1/entities/default/items/{sleepy}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    // The agent learns of it at its next heartbeat and sends SIGTERM; `sleep` dies of it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let item = loop {
        let (_, item) = admin
            .get(&format!("/v1/entities/default/items/{sleepy}"))
            .await;
        if !item["exit_code"].is_null() {
            break item;
        }
        assert!(
            Instant::now() < deadline,
            "the process was never stopped: {item}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(item["status"], "cancelled");
    assert_eq!(item["exit_code"], 128 + 15, "SIGTERM");
    let reported = wait_executions(admin, &failed_runs, 1, Duration::from_secs(10)).await;
    assert_eq!(
        reported[0]["payload"],
        json!({"reason": "cancelled", "code": "143"}),
        "{reported:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, _) = admin
        .post(
            &format!("/v1/entities/default/items/{sleepy}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "an ended item cannot be cancelled");

    // A process that ignores SIGTERM gets SIGKILL after the grace period (2 s here).
    job(
        admin,
        "stubborn",
        r#"trap '' TERM; sleep 60 & wait; sleep 60"#,
        &bench.out,
        json!({}),
    )
    .await;
    let stubborn = enqueue(admin, "gpu", json!({"job": "stubborn", "project": "p"})).await;
    wait_for(admin, &stubborn, &["running"], Duration::from_secs(30)).await;
    admin
        .post(
            &format!("/v1/entities/default/items/{stubborn}/cancel"),
            &json!({}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let item = loop {
        let (_, item) = admin
            .get(&format!("/v1/entities/default/items/{stubborn}"))
            .await;
        if !item["exit_code"].is_null() {
            break item;
        }
        assert!(
            Instant::now() < deadline,
            "the process was never killed: {item}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(
        item["exit_code"],
        128 + 9,
        "SIGKILL after the grace: {item}"
    );
    agent.kill();
}

/// Whether a process is alive (and not a zombie waiting to be reaped).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn an_agent_killed_mid_job_takes_the_job_with_it_and_the_item_runs_exactly_once_more() {
    let bench = Bench::new().await;
    let admin = &bench.admin;
    // Counts its runs; the first run starts a child of its own (the job's process tree) and
    // waits long enough for its agent to be killed.
    let script = r#"echo run >> "$OUT/runs"; if [ "$(wc -l < "$OUT/runs")" -eq 1 ]; then echo $$ > "$OUT/first.pid"; sleep 30 & echo $! > "$OUT/child.pid"; wait; fi"#;
    job(admin, "flaky", script, &bench.out, json!({})).await;
    let id = enqueue(admin, "gpu", json!({"job": "flaky", "project": "p"})).await;
    let first = Agent::start(
        &bench.server,
        &bench.agent_key,
        &["--queue", "gpu", "--name", "first"],
    );
    let running = wait_for(admin, &id, &["running"], Duration::from_secs(30)).await;
    assert_eq!(running["agent"], "first");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bench.out.join("child.pid").exists() {
        assert!(Instant::now() < deadline, "the job never started its child");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pids: Vec<String> = ["first.pid", "child.pid"]
        .iter()
        .map(|f| std::fs::read_to_string(bench.out.join(f)).unwrap())
        .collect();
    assert!(pids.iter().all(|p| alive(p)), "the job runs: {pids:?}");
    first.kill();
    // SIGKILL to the agent: the whole process tree of its job dies within a second.
    let killed = Instant::now();
    while pids.iter().any(|p| alive(p)) {
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "the job outlived its agent: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // With no agent left, the host itself returns the item within one lease period (2 s).
    let item = wait_for(admin, &id, &["queued"], Duration::from_secs(4)).await;
    assert!(
        killed.elapsed() < Duration::from_millis(3500),
        "returned after {:?}: {item}",
        killed.elapsed()
    );
    let second = Agent::start(
        &bench.server,
        &bench.agent_key,
        &["--queue", "gpu", "--name", "second"],
    );
    let done = wait_for(admin, &id, &["finished", "failed"], Duration::from_secs(30)).await;
    second.kill();
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(
        done["attempts"], 2,
        "the lapsed lease returned it to the queue"
    );
    let runs = std::fs::read_to_string(bench.out.join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 2, "it ran exactly once more");
}

#[tokio::test]
async fn a_linked_model_enqueues_an_evaluation_run_through_the_launch_job_action() {
    let bench = Bench::new().await;
    let admin = &bench.admin;
    job(
        admin,
        "evaluate",
        r#"cat "$HERALD_RUN_CONFIG" > "$OUT/$HERALD_RUN_ID.config""#,
        &bench.out,
        json!({"model": "none", "suite": "full"}),
    )
    .await;
    let automation = |overrides: Value, queue: &str| {
        json!({"name": "evaluate-linked", "scope": {"type": "registry", "registry": "models"},
               "event": {"type": "LINK_ARTIFACT"},
               "action": {"type": "launch-job", "config": {"queue": queue, "job": "evaluate",
                          "priority": 2, "overrides": overrides}}})
    };
    // What cannot work is refused when saved, naming the field: 400 for a wrong value, 404 for
    // a queue that does not exist.
    for (body, expected, wanted) in [
        (
            automation(json!({"command": "rm -rf /"}), "gpu"),
            "action.config.overrides: `command` not in the job's config",
            400,
        ),
        (
            automation(json!({}), "nowhere"),
            "action.config.queue: queue nowhere not found",
            404,
        ),
    ] {
        let (status, answer) = admin.post("/v1/automations", &body).await;
        assert_eq!(status, wanted, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    let id = crate::common::create_automation(
        admin,
        automation(json!({"model": "${artifact_version_string}"}), "gpu"),
    )
    .await;
    let (_, listed) = admin.get("/v1/automations").await;
    assert_eq!(
        listed["automations"][0]["queue"], "gpu",
        "the list's queue column"
    );

    let event = crate::common::post_event(
        admin,
        &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                "collection": "churn", "version": "v4", "author": "ana"}),
    )
    .await;
    let execution = crate::common::settled(admin, &event, Duration::from_secs(20)).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(execution["automation_id"], id);
    let summary = execution["status_reason"].to_string() + &execution["attempt_log"].to_string();
    let (_, items) = admin.get("/v1/entities/default/queues/gpu/items").await;
    let item = &items["items"][0];
    let item_id = item["id"].as_str().unwrap();
    assert!(
        summary.contains(item_id),
        "the execution records the item: {summary}"
    );
    assert_eq!(item["priority"], 2);
    assert_eq!(
        item["enqueued_by"],
        json!({"automation": id, "execution": execution["id"]})
    );
    assert_eq!(item["project"], "models");

    let agent = Agent::start(&bench.server, &bench.agent_key, &["--queue", "gpu"]);
    wait_for(admin, item_id, &["finished"], Duration::from_secs(30)).await;
    agent.kill();
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(bench.out.join(format!("{item_id}.config"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config,
        json!({"model": "default/models/churn:v4", "suite": "full"}),
        "the override rendered from the event"
    );
}

#[tokio::test]
async fn the_run_token_posts_its_own_runs_events_and_nothing_else() {
    let bench = Bench::new().await;
    let admin = &bench.admin;
    job(
        admin,
        "train",
        r#"env > "$OUT/$HERALD_RUN_ID.env"; exec sleep 60"#,
        &bench.out,
        json!({}),
    )
    .await;
    crate::common::create_automation(
        admin,
        json!({"name": "diverged", "scope": {"type": "project", "project": "p"},
               "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "value": 1.0}},
               "action": {"type": "no-op"}}),
    )
    .await;
    let id = enqueue(admin, "gpu", json!({"job": "train", "project": "p"})).await;
    let agent = Agent::start(&bench.server, &bench.agent_key, &["--queue", "gpu"]);
    wait_for(admin, &id, &["running"], Duration::from_secs(30)).await;
    let env_file = bench.out.join(format!("{id}.env"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let env = loop {
        match std::fs::read_to_string(&env_file) {
            Ok(env) if env.contains("HERALD_RUN_TOKEN=") => break env,
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "the job never wrote its environment"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    };
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("HERALD_RUN_TOKEN="))
        .unwrap()
        .to_string();
    let run = bench.server.client(&token);
    let sample = |run_id: &str| json!({"type": "RUN_METRIC", "entity": "default", "project": "p", "run_id": run_id, "metrics": {"loss": 5.0}});
    let (status, posted) = run.post("/v1/events", &sample(&id)).await;
    assert_eq!(status, 202, "{posted}");
    assert_eq!(
        posted["matched"], 1,
        "its samples feed run-metric automations"
    );
    let (status, refused) = run.post("/v1/events", &sample("another-run")).await;
    assert_eq!(status, 403, "{refused}");
    for (method, path) in [
        ("GET", "/v1/automations".to_string()),
        (
            "GET",
            format!("/v1/events/{}", posted["event_id"].as_str().unwrap()),
        ),
        ("GET", format!("/v1/entities/default/items/{id}")),
        ("POST", format!("/v1/entities/default/items/{id}/cancel")),
    ] {
        let (status, answer) = run.send(method, &path, None, &[]).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }
    admin
        .post(
            &format!("/v1/entities/default/items/{id}/cancel"),
            &json!({}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, item) = admin.get(&format!("/v1/entities/default/items/{id}")).await;
        if !item["exit_code"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "never stopped: {item}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    agent.kill();
    let (status, _) = run.post("/v1/events", &sample(&id)).await;
    assert_eq!(status, 401, "the token ended with its run");
}

#[tokio::test]
async fn an_item_out_of_attempts_fails_and_its_run_is_reported_failed() {
    let bench = Bench::with_config("[launch]\nmax_attempts = 1\n").await;
    let admin = &bench.admin;
    let failed_runs = crate::common::create_automation(
        admin,
        json!({"name": "failed-runs", "scope": {"type": "project", "project": "p"},
               "event": {"type": "RUN_STATE", "filter": {"state": "FAILED"}}, "action": {"type": "no-op"}}),
    )
    .await;
    job(
        admin,
        "stuck",
        r#"echo $$ > "$OUT/stuck.pid"; exec sleep 3"#,
        &bench.out,
        json!({}),
    )
    .await;
    let id = enqueue(admin, "gpu", json!({"job": "stuck", "project": "p"})).await;
    let first = Agent::start(
        &bench.server,
        &bench.agent_key,
        &["--queue", "gpu", "--name", "first"],
    );
    wait_for(admin, &id, &["running"], Duration::from_secs(30)).await;
    first.kill();
    // No agent is left: the host notices the lapsed lease of an item out of attempts by itself,
    // within one lease period (2 s).
    let killed = Instant::now();
    let item = wait_for(admin, &id, &["failed"], Duration::from_secs(4)).await;
    assert!(killed.elapsed() < Duration::from_millis(3500), "{item}");
    assert_eq!(item["attempts"], 1, "{item}");
    let executions = wait_executions(admin, &failed_runs, 1, Duration::from_secs(10)).await;
    assert_eq!(
        executions.len(),
        1,
        "RUN_STATE FAILED was recorded once for the lost run: {executions:?}"
    );
    if let Ok(pid) = std::fs::read_to_string(bench.out.join("stuck.pid")) {
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
    }
}

#[tokio::test]
async fn two_agents_on_one_queue_never_run_the_same_item() {
    let bench = Bench::new().await;
    let admin = &bench.admin;
    job(
        admin,
        "mark",
        r#"echo "$HERALD_RUN_ID" >> "$OUT/runs""#,
        &bench.out,
        json!({}),
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(enqueue(admin, "gpu", json!({"job": "mark", "project": "p"})).await);
    }
    let one = Agent::start(
        &bench.server,
        &bench.agent_key,
        &["--queue", "gpu", "--max-jobs", "3"],
    );
    let two = Agent::start(
        &bench.server,
        &bench.agent_key,
        &["--queue", "gpu", "--max-jobs", "3"],
    );
    for id in &ids {
        let item = wait_for(admin, id, &["finished"], Duration::from_secs(30)).await;
        assert_eq!(item["attempts"], 1, "{item}");
    }
    one.kill();
    two.kill();
    let runs = std::fs::read_to_string(bench.out.join("runs")).unwrap();
    let mut ran: Vec<&str> = runs.lines().collect();
    ran.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(ran, expected, "each item ran exactly once");
}

#[tokio::test]
async fn the_readme_launch_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&dir.path().join("data"));
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    for (name, text) in crate::common::readme_files("Launch") {
        std::fs::write(work.join(name), text).unwrap();
    }
    let commands = crate::common::readme_blocks("Launch")
        .into_iter()
        .find(|(info, _)| info == "sh walkthrough")
        .expect("the walkthrough's commands")
        .1;
    let herald = |line: &str| {
        let mut command = Command::new(herald_bin());
        command
            .args(line.trim_end_matches('&').split_whitespace().skip(1))
            .current_dir(&work)
            .env("HERALD_URL", &server.url)
            .env("HERALD_KEY", crate::common::ADMIN_KEY);
        command
    };
    let mut agent = None;
    let mut last = String::new();
    for line in commands.lines().filter(|l| !l.trim().is_empty()) {
        assert!(line.starts_with("herald "), "{line}");
        if line.trim_end().ends_with('&') {
            let child = herald(line)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            agent = Some(Agent { child });
            continue;
        }
        let output = herald(line).output().unwrap();
        assert!(
            output.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        last = line.to_string();
    }
    let admin = server.admin();
    let deadline = Instant::now() + Duration::from_secs(30);
    let item = loop {
        let (_, items) = admin.get("/v1/entities/default/queues/gpu/items").await;
        if items["items"][0]["status"] == "finished" {
            break items["items"][0].clone();
        }
        assert!(Instant::now() < deadline, "the run never finished: {items}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(agent);
    let output = item["output"].as_str().unwrap();
    assert!(
        output.contains("evaluating")
            && output.contains(r#""model":"default/models/churn:v4""#)
            && output.contains(r#""suite":"full""#),
        "{output}"
    );
    let table = String::from_utf8(herald(&last).output().unwrap().stdout).unwrap();
    assert!(
        table.contains("evaluate@1") && table.contains("finished"),
        "{table}"
    );
}
