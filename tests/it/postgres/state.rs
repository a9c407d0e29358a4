//! A database restarted under load, run windows and silent runs across hosts, connection waits,
//! plugins installed through one host.

use super::*;

#[tokio::test]
async fn a_database_restarted_under_load_costs_503s_and_no_acknowledged_event() {
    // A server of its own: restarting the shared one would fail every other test. Durable
    // settings, so that a commit PostgreSQL acknowledged survives its crash.
    let directory = std::env::temp_dir().join(format!("herald-restart-pg-{}", std::process::id()));
    let postgres = pgtemp::PgServer::start(&directory, pgtemp::Tuning::Durable).unwrap();
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let server = host(
        dir.path(),
        "a",
        &postgres.url("postgres"),
        FAST_DELIVERY_CONFIG,
    );
    let admin = server.admin();
    webhook_on_links(&admin, receiver.url("/hook"), "load", "load").await;

    // Posts without pause until told to stop, keeping every answer.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(std::sync::Mutex::new(Vec::<(u16, Value)>::new()));
    let poster = {
        let (stop, answers, admin) = (stop.clone(), answers.clone(), admin.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let answer = admin
                    .post("/v1/events", &link("load", &format!("v{i}")))
                    .await;
                answers.lock().unwrap().push(answer);
                i += 1;
            }
        })
    };
    let count = |status: u16| {
        answers
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == status)
            .count()
    };
    // A key never used yet: the server must look it up in the database.
    let fresh = server.client(&member_key(&admin, "fresh").await);
    wait_until("accepted events", || count(202) >= 50).await;
    postgres.kill().unwrap();
    wait_until("503s while the database is down", || count(503) >= 3).await;
    // Its lookup fails like every other read: 503, not 500.
    let (status, body) = fresh.get("/v1/me").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("unavailable")),
        "{body}"
    );
    // The process is alive, and says it is not ready, within its bound.
    let anonymous = server.anonymous();
    assert_eq!(anonymous.get("/healthz").await.0, 200);
    let asked = std::time::Instant::now();
    let (status, ready) = anonymous.get("/readyz").await;
    assert_eq!(
        (status, &ready["status"]),
        (503, &json!("unavailable")),
        "{ready}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let accepted_while_down = count(202);
    postgres.restart(pgtemp::Tuning::Durable).unwrap();
    wait_until("accepted events after the restart", || {
        count(202) >= accepted_while_down + 50
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    poster.await.unwrap();
    assert_eq!(anonymous.get("/readyz").await.0, 200, "ready again");
    // The outage is counted.
    let metrics = crate::common::metrics_text(&server).await;
    let errors = metrics
        .lines()
        .find_map(|l| l.strip_prefix("herald_database_errors_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(errors.is_some_and(|n| n >= 3.0), "{errors:?}");
    // Claims whose outcome the crash lost are released by the host's own check once it sees
    // the database again, not after their 5-minute lease: nothing stays running.
    crate::common::eventually(
        Duration::from_secs(20),
        "nothing left running",
        async || {
            let (_, running) = admin.get("/v1/executions?status=running").await;
            match running["executions"].as_array().map_or(0, Vec::len) {
                0 => Ok(()),
                n => Err(format!("{n} running")),
            }
        },
    )
    .await;

    let answers = answers.lock().unwrap().clone();
    let refused = answers.iter().find(|(s, _)| *s == 503).unwrap();
    assert_eq!(refused.1["error"]["code"], "unavailable", "{:?}", refused.1);
    assert!(
        answers.iter().all(|(s, _)| matches!(s, 202 | 503)),
        "only 202 and 503: {:?}",
        answers
            .iter()
            .filter(|(s, _)| !matches!(s, 202 | 503))
            .collect::<Vec<_>>()
    );
    // Every acknowledged event is there, and its execution is delivered.
    let mut delivered = 0;
    for (_, body) in answers.iter().filter(|(s, _)| *s == 202) {
        let id = body["event_id"].as_str().unwrap();
        let executions = settled_all(&admin, id, Duration::from_secs(60)).await;
        assert_eq!(executions.len(), 1, "event {id}");
        assert_eq!(executions[0]["status"], "succeeded", "{:?}", executions[0]);
        delivered += 1;
    }
    let seen: HashSet<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    assert!(seen.len() >= delivered);
    drop(server);
    drop(postgres);
}

/// A frozen database (every one of its processes stopped) costs 503s within their bound, a
/// ready endpoint that says so and metrics that still answer; once it thaws, posts are taken.
#[tokio::test]
async fn a_frozen_database_costs_503s_within_their_bound_not_hung_requests() {
    let directory = std::env::temp_dir().join(format!("herald-frozen-pg-{}", std::process::id()));
    let postgres = pgtemp::PgServer::start(&directory, pgtemp::Tuning::Fast).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = host(
        dir.path(),
        "frozen",
        &postgres.url("postgres"),
        FAST_DELIVERY_CONFIG,
    );
    let admin = server.admin();
    post_event(&admin, &link("frozen", "v0")).await;
    assert_eq!(server.anonymous().get("/readyz").await.0, 200);
    let metrics = crate::common::metrics_text(&server).await;
    for state in ["open", "idle", "max", "waiting"] {
        let line = format!("herald_database_connections{{state=\"{state}\"}}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    // Connections taken, and the time spent waiting for them.
    let taken = metrics
        .lines()
        .find_map(|l| l.strip_prefix("herald_database_pool_acquisitions_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(taken.is_some_and(|n| n > 0.0), "{metrics}");
    assert!(
        metrics.contains("herald_database_pool_wait_seconds_total "),
        "{metrics}"
    );

    let pid = postgres.pid().unwrap().to_string();
    let signal = |which: &str| {
        // The server and every backend it forked: a frozen machine, not a stopped service.
        let children = std::process::Command::new("pkill")
            .args([which, "-P", &pid])
            .status();
        let server = std::process::Command::new("kill")
            .args([which, &pid])
            .status();
        assert!(server.unwrap().success() && children.is_ok());
    };
    signal("-STOP");
    // Thawed whatever happens below, so that the test never leaves a stopped server behind.
    struct Thaw<'a>(&'a dyn Fn(&str));
    impl Drop for Thaw<'_> {
        fn drop(&mut self) {
            (self.0)("-CONT");
        }
    }
    let thaw = Thaw(&signal);
    let started = std::time::Instant::now();
    let (status, body) = admin.post("/v1/events", &link("frozen", "v1")).await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(took < Duration::from_secs(12), "answered after {took:?}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{body}"
    );
    let started = std::time::Instant::now();
    assert_eq!(server.anonymous().get("/readyz").await.0, 503);
    assert!(started.elapsed() < Duration::from_secs(5));
    let started = std::time::Instant::now();
    let metrics = crate::common::metrics_text(&server).await;
    assert!(metrics.contains("herald_queue_depth"), "{metrics}");
    assert!(started.elapsed() < Duration::from_secs(12));

    drop(thaw);
    eventually(
        Duration::from_secs(30),
        "posts taken again",
        async || match admin.post("/v1/events", &link("frozen", "v2")).await {
            (202, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        },
    )
    .await;
    assert_eq!(server.anonymous().get("/readyz").await.0, 200);
    drop(server);
    drop(postgres);
}

/// A host started while its database is down waits for it, says so, and serves once it is up.
#[tokio::test]
async fn a_host_started_before_its_database_waits_for_it() {
    let directory = std::env::temp_dir().join(format!("herald-late-pg-{}", std::process::id()));
    let postgres = Arc::new(pgtemp::PgServer::start(&directory, pgtemp::Tuning::Fast).unwrap());
    let url = postgres.url("postgres");
    postgres.kill().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("late").join("server.log");
    // The database comes back once the host has said it waits (starting blocks until it listens).
    let starter = {
        let (postgres, log) = (postgres.clone(), log.clone());
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let waiting = || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains("cannot be reached yet")
            };
            while !waiting() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the host never said it waits"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            postgres.restart(pgtemp::Tuning::Fast).unwrap();
        })
    };
    let server = host(dir.path(), "late", &url, FAST_DELIVERY_CONFIG);
    starter.join().unwrap();
    assert_eq!(server.anonymous().get("/readyz").await.0, 200);
    assert_eq!(server.admin().get("/v1/me").await.0, 200);
    drop(server);
    drop(postgres);
}

#[tokio::test]
async fn a_runs_windows_and_cooldowns_span_both_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let a = host(dir.path(), "a", &database, INGEST_ONLY_CONFIG);
    let b = host(dir.path(), "b", &database, INGEST_ONLY_CONFIG);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let watch = |name: &str, metric: Value| {
        json!({"name": name, "scope": {"type": "project", "project": "train"},
               "event": {"type": "RUN_METRIC_THRESHOLD", "metric": metric}, "action": {"type": "no-op"}})
    };
    let average = create_automation(
        &admin_a,
        watch(
            "avg",
            json!({"name": "loss", "window": 3, "agg": "AVERAGE", "cmp": "$gt", "value": 0.5, "cooldown_seconds": 0}),
        ),
    )
    .await;
    let spike = create_automation(
        &admin_a,
        watch(
            "spike",
            json!({"name": "loss", "cmp": "$gt", "value": 1.0, "cooldown_seconds": 3600}),
        ),
    )
    .await;
    // Notices arrive in order: once B matches a later automation, it has the metric ones too.
    create_automation(
        &admin_a,
        json!({"name": "marker", "scope": {"type": "collection", "registry": "models", "collection": "m"},
               "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "no-op"}}),
    )
    .await;
    until_matched(&admin_b, &link("m", "probe"), Duration::from_secs(10)).await;

    // Alternate hosts: A 0.9, B 0.9, A 0.0 fills the window across both: avg 0.6 > 0.5 fires
    // on A only if A took in B's sample. Then B 0.0 (0.3) and A 0.3 (0.1) do not.
    for (step, loss) in [0.9, 0.9, 0.0, 0.0, 0.3].into_iter().enumerate() {
        let api = if step % 2 == 0 { &admin_a } else { &admin_b };
        crate::common::post_event(api, &sample(step as u64 + 1, loss)).await;
    }
    let (_, executions) = admin_b
        .get(&format!("/v1/automations/{average}/executions"))
        .await;
    let executions = executions["executions"].as_array().unwrap().clone();
    assert_eq!(executions.len(), 1, "{executions:?}");
    assert_eq!(executions[0]["metric"]["values"], json!([0.9, 0.9, 0.0]));

    // A spike fires on B; the next, on A, is inside the cooldown B started.
    crate::common::post_event(&admin_b, &sample(6, 2.0)).await;
    crate::common::post_event(&admin_a, &sample(7, 3.0)).await;
    let (_, executions) = admin_a
        .get(&format!("/v1/automations/{spike}/executions"))
        .await;
    let executions = executions["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 1, "{executions:?}");
    assert_eq!(executions[0]["metric"]["value"], 2.0);
}

#[tokio::test]
async fn a_silent_run_is_reported_crashed_by_one_host() {
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let config = crate::run_liveness::config();
    let a = host(dir.path(), "a", &database, &config);
    let b = host(dir.path(), "b", &database, &config);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let failed = crate::run_liveness::on_failures(&admin_a).await;
    // Logged through both hosts, then silent: both look for silent runs every 250 ms.
    let sample = |step: u64| {
        json!({"type": "RUN_METRIC", "entity": "default", "project": "train", "run_id": "lost",
               "run_name": "lost-run", "step": step, "metrics": {"loss": 0.5}})
    };
    crate::common::post_event(&admin_a, &sample(1)).await;
    crate::common::post_event(&admin_b, &sample(2)).await;
    eventually(
        Duration::from_secs(10),
        "the run reported crashed",
        async || {
            let reported = crate::run_liveness::failures(&admin_b, &failed).await;
            if reported.is_empty() {
                Err("no failure yet".into())
            } else {
                Ok(())
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        crate::run_liveness::failures(&admin_a, &failed).await,
        [(
            "lost".to_string(),
            "crashed".to_string(),
            "lost-run".to_string()
        )]
    );
}

#[tokio::test]
async fn metric_samples_posted_at_once_never_wait_for_a_connection_their_own_locks_hold() {
    // Two connections: were both taken by requests holding run locks, each would wait for a
    // connection to store its sample until the pool's timeout (503).
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let config = format!("database_pool = 2\n{INGEST_ONLY_CONFIG}");
    let server = host(dir.path(), "a", &database, &config);
    let admin = server.admin();
    create_automation(
        &admin,
        json!({"name": "spike", "scope": {"type": "project", "project": "train"},
               "event": {"type": "RUN_METRIC_THRESHOLD",
                         "metric": {"name": "loss", "cmp": "$gt", "value": 1.0, "cooldown_seconds": 0}},
               "action": {"type": "no-op"}}),
    )
    .await;
    let posts = (0..24).map(|run| {
        let admin = admin.clone();
        async move {
            let sample = json!({"type": "RUN_METRIC", "entity": "default", "project": "train",
                                "run_id": format!("r{run}"), "step": 1, "metrics": {"loss": 2.0}});
            admin.post("/v1/events", &sample).await
        }
    });
    let answers = futures_util::future::join_all(posts).await;
    for (status, body) in &answers {
        assert_eq!(*status, 202, "{body}");
        assert_eq!(body["matched"], 1, "{body}");
    }
}

#[tokio::test]
async fn a_plugin_installed_through_one_host_runs_on_every_host_and_its_removal_too() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    // A takes API calls and delivers nothing: every execution runs on B.
    let a = host(dir.path(), "a", &database, INGEST_ONLY_CONFIG);
    let b = host(dir.path(), "b", &database, FAST_DELIVERY_CONFIG);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let v1 = std::fs::read(fixture("echo-v1")).unwrap();
    let (status, body) = upload_plugin(&a, ADMIN_KEY, v1).await;
    assert_eq!(status, 201, "{body}");
    until_listed(&admin_b, "echo", Some("1.0.0")).await;
    let automation = automation_on_links(
        &admin_a,
        "echo-links",
        &receiver.url("/echo"),
        json!({"type": "echo"}),
    )
    .await;
    let delivered = async |version: &str| {
        let event = post_event(&admin_a, &link("churn", version)).await;
        let execution = settled(&admin_a, &event, Duration::from_secs(20)).await;
        assert_eq!(execution["status"], "succeeded", "{execution}");
        let seen = receiver.requests();
        seen.last().unwrap().header("x-echo-version")
    };
    assert_eq!(
        delivered("v1").await,
        "1.0.0",
        "run by B, installed through A"
    );

    let v2 = std::fs::read(fixture("echo-v2")).unwrap();
    let (status, body) = upload_plugin(&a, ADMIN_KEY, v2).await;
    assert_eq!(status, 200, "{body}");
    until_listed(&admin_b, "echo", Some("2.0.0")).await;
    assert_eq!(delivered("v2").await, "2.0.0", "the new version, on B");

    // A host started afterwards installs it from the database at start.
    let c = host(dir.path(), "c", &database, INGEST_ONLY_CONFIG);
    assert_eq!(
        listed_version(&c.admin(), "echo").await.as_deref(),
        Some("2.0.0")
    );

    assert_eq!(
        admin_a
            .delete(&format!("/v1/automations/{automation}"))
            .await
            .0,
        204
    );
    let (status, body) = admin_a.delete("/v1/plugins/echo").await;
    assert_eq!(status, 204, "{body}");
    until_listed(&admin_b, "echo", None).await;
    until_listed(&c.admin(), "echo", None).await;
    assert!(
        !dir.path()
            .join("b")
            .join("plugins")
            .join("echo.wasm")
            .exists(),
        "B's copy is gone too"
    );
}
