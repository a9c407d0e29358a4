//! Agents running jobs: configs and run reports, hang-ups, priorities and cancels, an agent killed
//! mid-job.

use super::*;

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
    // Well-formed, but not what this job takes: 422 `refused`.
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("refused")),
        "{refused}"
    );
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
    let item = ended(admin, &sleepy, "the process to be stopped").await;
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
    let item = ended(admin, &stubborn, "the process to be killed").await;
    assert_eq!(
        item["exit_code"],
        128 + 9,
        "SIGKILL after the grace: {item}"
    );
    agent.kill();
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
    eventually(
        Duration::from_secs(10),
        "the job to start its child",
        async || match bench.out.join("child.pid").exists() {
            true => Ok(()),
            false => Err("no child.pid".into()),
        },
    )
    .await;
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
