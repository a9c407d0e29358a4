//! Work shared between hosts: every execution delivered once, a killed host's claims, rate limits,
//! idempotency keys and key deletions across hosts.

use super::*;

#[tokio::test]
async fn two_hosts_share_the_work_and_deliver_every_execution_once() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let a = host(dir.path(), "a", &database, FAST_DELIVERY_CONFIG);
    let b = host(dir.path(), "b", &database, FAST_DELIVERY_CONFIG);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let automation = webhook_on_links(&admin_a, receiver.url("/hook"), "shared", "shared").await;
    // Created through A, matched by B once B's index heard of it.
    let mut posted =
        until_matched(&admin_b, &link("shared", "probe"), Duration::from_secs(10)).await;
    let matched_before = posted.len() - 1;
    for i in 0..120 {
        let api = if i % 2 == 0 { &admin_a } else { &admin_b };
        posted.push(crate::common::post_event(api, &link("shared", &format!("v{i}"))).await);
    }
    let expected = posted.len() - matched_before;
    let executions = all_final(&admin_a, &automation, expected, Duration::from_secs(60)).await;

    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for request in receiver.requests() {
        *arrivals.entry(request.header("webhook-id")).or_default() += 1;
    }
    for execution in &executions {
        let id = execution["id"].as_str().unwrap();
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert_eq!(execution["attempts"], 1, "run once: {execution}");
        assert_eq!(arrivals.get(id), Some(&1), "execution {id} arrived once");
        // Read through the other host: one attempt recorded.
        let (_, record) = admin_b.get(&format!("/v1/executions/{id}")).await;
        assert_eq!(
            record["attempt_log"].as_array().map(Vec::len),
            Some(1),
            "{record}"
        );
    }
    assert_eq!(arrivals.len(), expected, "nothing else arrived");
}

#[tokio::test]
async fn a_killed_hosts_claims_are_finished_by_the_other_after_their_lease() {
    // The first ten requests are held until A is dead: A dies with attempts in flight.
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let held = gate.clone();
    let receiver = Receiver::start(move |index, _| {
        if index < 10 {
            let (open, opened) = &*held;
            let _open = opened
                .wait_while(open.lock().unwrap(), |open| !*open)
                .unwrap();
        }
        (200, vec![], "ok".into())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let config = format!("{FAST_DELIVERY_CONFIG}lease = \"2s\"\n");
    let a = host(dir.path(), "a", &database, &config);
    let admin_a = a.admin();
    let automation = webhook_on_links(&admin_a, receiver.url("/hook"), "many", "churn").await;
    let events: Vec<Value> = (0..200).map(|i| link("churn", &format!("v{i}"))).collect();
    for chunk in events.chunks(100) {
        expect_status(
            &admin_a
                .post("/v1/events/batch", &json!({"events": chunk}))
                .await,
            202,
        );
    }
    receiver.wait_for(10, Duration::from_secs(20)).await;
    a.kill();
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    assert!(
        receiver.requests().len() < 200,
        "the kill came too late to test anything"
    );

    // B starts after the kill: what A held comes back to it once A's leases lapse.
    let b = host(dir.path(), "b", &database, &config);
    let executions = all_final(&b.admin(), &automation, 200, Duration::from_secs(60)).await;
    let seen: HashSet<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    for execution in &executions {
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert!(seen.contains(execution["id"].as_str().unwrap()));
    }
    assert!(
        executions.iter().any(|e| e["attempts"].as_i64() > Some(1)),
        "no execution was taken over from the killed host"
    );
}

#[tokio::test]
async fn rate_limits_idempotency_keys_and_key_deletions_hold_across_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let a = host(dir.path(), "a", &database, INGEST_ONLY_CONFIG);
    let b = host(dir.path(), "b", &database, INGEST_ONLY_CONFIG);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    create_integration(
        &admin_a,
        json!({"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}),
    )
    .await;
    let automation = create_automation(
        &admin_a,
        json!({"name": "limited", "scope": {"type": "collection", "registry": "models", "collection": "lim"},
               "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "webhook", "integration": "hook"},
               "rate_limit": {"max": 3, "per_seconds": 3600}}),
    )
    .await;
    until_matched(&admin_b, &link("lim", "probe"), Duration::from_secs(10)).await;
    for i in 0..8 {
        let api = if i % 2 == 0 { &admin_a } else { &admin_b };
        crate::common::post_event(api, &link("lim", &format!("v{i}"))).await;
    }
    let (_, listed) = admin_b
        .get(&format!(
            "/v1/automations/{automation}/executions?limit=100"
        ))
        .await;
    let executions = listed["executions"].as_array().unwrap();
    let admitted = executions
        .iter()
        .filter(|e| e["status"] != "skipped")
        .count();
    // The probe took one place: 3 in all, whichever host took each event.
    assert_eq!(admitted, 3, "{executions:?}");
    assert!(
        executions
            .iter()
            .filter(|e| e["status"] == "skipped")
            .all(|e| e["status_reason"] == "rate limit: at most 3 per 3600 s")
    );

    // An Idempotency-Key repeated on the other host returns the first event.
    let event = link("elsewhere", "once");
    let first = expect_status(
        &admin_a
            .send(
                "POST",
                "/v1/events",
                Some(&event),
                &[("Idempotency-Key", "k-1")],
            )
            .await,
        202,
    )
    .clone();
    let again = expect_status(
        &admin_b
            .send(
                "POST",
                "/v1/events",
                Some(&event),
                &[("Idempotency-Key", "k-1")],
            )
            .await,
        202,
    )
    .clone();
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(again["duplicate"], true);

    // A key B has verified (and cached) stops working on B once A deleted it.
    let key = member_key(&admin_a, "short-lived").await;
    let member_b = b.client(&key);
    expect_status(&member_b.get("/v1/automations").await, 200);
    let (_, keys) = admin_a.get("/v1/entities/default/keys").await;
    let id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == "short-lived")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_status(
        &admin_a
            .delete(&format!("/v1/entities/default/keys/{id}"))
            .await,
        204,
    );
    let what = "B to refuse a key deleted on A";
    eventually(Duration::from_secs(5), what, async || {
        match member_b.get("/v1/automations").await {
            (401, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await;
}

#[tokio::test]
async fn two_hosts_disable_a_failing_integration_once_and_deliver_what_it_held_once() {
    let up = Arc::new(AtomicBool::new(false));
    let receiver = {
        let up = up.clone();
        Receiver::start(move |_, _| match up.load(Ordering::SeqCst) {
            true => (200, vec![], "ok".into()),
            false => (503, vec![], "down".into()),
        })
        .await
    };
    let admins = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let config = format!("{FAST_DELIVERY_CONFIG}disable_after = \"1s\"\n");
    let a = host(dir.path(), "a", &database, &config);
    let b = host(dir.path(), "b", &database, &config);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let automation = webhook_on_links(&admin_a, receiver.url("/hook"), "deploy", "churn").await;
    create_integration(
        &admin_a,
        json!({"name": "admins", "kind": "webhook", "url": admins.url("/admins")}),
    )
    .await;
    for kind in ["INTEGRATION_DISABLED", "INTEGRATION_ENABLED"] {
        create_automation(
            &admin_a,
            json!({"name": kind, "scope": {"type": "entity"}, "event": {"type": kind},
                   "action": {"type": "webhook", "integration": "admins",
                              "payload": {"what": "${event_type}", "integration": "${integration_name}"}}}),
        )
        .await;
    }
    until_matched(&admin_b, &link("churn", "probe"), Duration::from_secs(10)).await;

    // Both hosts deliver, and fail, until the integration has failed for good for a second.
    let state = async |api: &Api| {
        let (_, hook) = api.get("/v1/entities/default/integrations/hook").await;
        hook["health"].clone()
    };
    let mut n = 0;
    eventually(Duration::from_secs(30), "hook to be disabled", async || {
        let health = state(&admin_b).await;
        if health["state"] == "disabled" {
            return Ok(());
        }
        let api = if n % 2 == 0 { &admin_a } else { &admin_b };
        let event = post_event(api, &link("churn", &format!("f{n}"))).await;
        n += 1;
        settled(api, &event, Duration::from_secs(10)).await;
        Err(health.to_string())
    })
    .await;

    // Held on both hosts meanwhile.
    for i in 0..10 {
        let api = if i % 2 == 0 { &admin_a } else { &admin_b };
        post_event(api, &link("churn", &format!("h{i}"))).await;
    }
    let path = format!("/v1/automations/{automation}/executions?limit=1000");
    let held = eventually(
        Duration::from_secs(20),
        "nothing left but failed or held",
        async || {
            let (_, listed) = admin_a.get(&path).await;
            let all = listed["executions"].as_array().cloned().unwrap_or_default();
            let held: Vec<String> = all
                .iter()
                .filter(|e| e["status"] == "held")
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect();
            let settled = all
                .iter()
                .all(|e| matches!(e["status"].as_str(), Some("failed" | "held")));
            if settled && held.len() >= 10 {
                Ok(held)
            } else {
                Err(format!("{} held of {}", held.len(), all.len()))
            }
        },
    )
    .await;
    assert_eq!(
        state(&admin_a).await["held"],
        held.len(),
        "both hosts count the same"
    );

    // Enabled through the other host: every held execution is delivered once, by either host.
    up.store(true, Ordering::SeqCst);
    let sent_before = receiver.requests().len();
    let enabled = admin_b
        .post("/v1/entities/default/integrations/hook/enable", &json!({}))
        .await;
    assert_eq!(expect_status(&enabled, 200)["released"], held.len());
    eventually(
        Duration::from_secs(30),
        "every held execution delivered",
        async || {
            let mut done = 0;
            for id in &held {
                let (_, execution) = admin_a.get(&format!("/v1/executions/{id}")).await;
                done += usize::from(execution["status"] == "succeeded");
            }
            if done == held.len() {
                Ok(())
            } else {
                Err(format!("{done} of {}", held.len()))
            }
        },
    )
    .await;
    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for request in &receiver.requests()[sent_before..] {
        *arrivals.entry(request.header("webhook-id")).or_default() += 1;
    }
    for id in &held {
        assert_eq!(
            arrivals.get(id),
            Some(&1),
            "held execution {id} arrived once"
        );
    }
    // The admins heard once of each change, whichever host made it.
    let told = admins.wait_for(2, Duration::from_secs(10)).await;
    let what: Vec<Value> = told.iter().map(|r| r.json()["what"].clone()).collect();
    assert_eq!(
        what,
        [json!("INTEGRATION_DISABLED"), json!("INTEGRATION_ENABLED")]
    );
    let next = post_event(&admin_a, &link("churn", "after")).await;
    settled(&admin_a, &next, Duration::from_secs(10)).await;
    assert_eq!(admins.requests().len(), 2);
}

#[tokio::test]
async fn two_hosts_run_a_recover_once_and_resend_exactly_what_failed() {
    let up = Arc::new(AtomicBool::new(true));
    let receiver = {
        let up = up.clone();
        Receiver::start(move |_, _| match up.load(Ordering::SeqCst) {
            true => (200, vec![], "ok".into()),
            false => (503, vec![], "down".into()),
        })
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let config = format!("{FAST_DELIVERY_CONFIG}disable_after = \"0s\"\n");
    let a = host(dir.path(), "a", &database, &config);
    let b = host(dir.path(), "b", &database, &config);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let automation = webhook_on_links(&admin_a, receiver.url("/hook"), "deploy", "churn").await;
    until_matched(&admin_b, &link("churn", "probe"), Duration::from_secs(10)).await;
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let since = humantime::format_rfc3339_millis(an_hour_ago).to_string();

    // Delivered while the receiver is up; then it goes down and 20 fail for good, through both
    // hosts.
    let mut delivered = Vec::new();
    for i in 0..5 {
        let event = post_event(&admin_a, &link("churn", &format!("ok{i}"))).await;
        delivered.extend(settled_all(&admin_a, &event, Duration::from_secs(10)).await);
    }
    up.store(false, Ordering::SeqCst);
    for i in 0..20 {
        let api = if i % 2 == 0 { &admin_a } else { &admin_b };
        post_event(api, &link("churn", &format!("f{i}"))).await;
    }
    let failed = all_final(&admin_a, &automation, 26, Duration::from_secs(60)).await;
    let failed: HashSet<String> = failed
        .iter()
        .filter(|e| e["status"] == "failed")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        failed.len(),
        20,
        "the probe succeeded before the receiver went down"
    );

    // Back up: a recover through one host, sent again through the other with the same key.
    up.store(true, Ordering::SeqCst);
    let sent_before = receiver.requests().len();
    let path = "/v1/entities/default/integrations/hook/recover";
    let body = json!({"since": since});
    let headers = [("idempotency-key", "recover-once")];
    let first = admin_a.send("POST", path, Some(&body), &headers).await;
    let again = admin_b.send("POST", path, Some(&body), &headers).await;
    let task = expect_status(&first, 202)["id"].clone();
    assert_eq!(
        expect_status(&again, 202)["id"],
        task,
        "one task for one key"
    );
    let done = eventually(Duration::from_secs(30), "the task to finish", async || {
        let (_, now) = admin_b
            .get(&format!("/v1/tasks/{}", task.as_str().unwrap()))
            .await;
        if now["status"] == "succeeded" {
            Ok(now)
        } else {
            Err(now.to_string())
        }
    })
    .await;
    assert_eq!(done["requeued"], 20, "{done}");
    eventually(
        Duration::from_secs(30),
        "every failed one delivered",
        async || {
            let arrived: HashSet<String> = receiver.requests()[sent_before..]
                .iter()
                .map(|r| r.header("webhook-id"))
                .collect();
            if failed.is_subset(&arrived) {
                Ok(())
            } else {
                Err(format!("{} of 20", arrived.len()))
            }
        },
    )
    .await;
    // Each once, and nothing that had succeeded.
    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for request in &receiver.requests()[sent_before..] {
        *arrivals.entry(request.header("webhook-id")).or_default() += 1;
    }
    assert_eq!(arrivals.len(), 20, "{arrivals:?}");
    assert!(arrivals.values().all(|n| *n == 1), "{arrivals:?}");
    assert!(
        delivered
            .iter()
            .all(|e| !arrivals.contains_key(e["id"].as_str().unwrap()))
    );
}
