//! Launches that automations and runs make: the launch-job action, the run token, attempts, two
//! agents on one queue, the README walkthrough.

use super::*;

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
    // What cannot work is refused when saved, naming the field (422: `refused` for an override
    // the job does not take, `missing` for a queue that does not exist).
    for (body, expected, wanted) in [
        (
            automation(json!({"command": "rm -rf /"}), "gpu"),
            "action.config.overrides: `command` not in the job's config",
            422,
        ),
        (
            automation(json!({}), "nowhere"),
            "action.config.queue: queue nowhere not found",
            422,
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
    let env = eventually(
        Duration::from_secs(10),
        "the job's environment",
        async || match std::fs::read_to_string(&env_file) {
            Ok(env) if env.contains("HERALD_RUN_TOKEN=") => Ok(env),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
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
    ended(admin, &id, "the run to stop").await;
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
    let item = eventually(Duration::from_secs(30), "the run to finish", async || {
        let (_, items) = admin.get("/v1/entities/default/queues/gpu/items").await;
        if items["items"][0]["status"] == "finished" {
            Ok(items["items"][0].clone())
        } else {
            Err(items.to_string())
        }
    })
    .await;
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
