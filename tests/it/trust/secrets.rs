//! Secrets go only where an admin granted them, and no echo of one comes back out, in any encoding.

use super::*;

#[tokio::test]
async fn a_member_sends_a_secret_only_where_an_admin_granted_it() {
    let receiver = Receiver::ok().await;
    let server = Server::fast();
    let admin = server.admin();
    const GH_TOKEN: &str = "ghp-never-leaves-0a9b8c7d6e5f";
    const FOOTER: &str = "footer-granted-1b2c3d4e5f";
    const HOOK_TOKEN: &str = "hook-own-token-6a7b8c9d0e";
    put_secret(&admin, "GH_TOKEN", GH_TOKEN).await;
    put_secret(&admin, "SLACK_FOOTER", FOOTER).await;
    put_secret(&admin, "HOOK_TOKEN", HOOK_TOKEN).await;
    create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url("/hook"),
               "access_token": "HOOK_TOKEN"}),
    )
    .await;
    let member = member(&admin, &server).await;

    // Naming a secret the integration does not grant: refused at the field, naming only that
    // reference, and alike whether or not a secret of that name exists.
    let mut refusals = Vec::new();
    for name in ["GH_TOKEN", "NO_SUCH_SECRET"] {
        let body = on_links(
            "steal",
            json!({"type": "webhook", "integration": "hook", "payload": {"t": format!("${{{name}}}")}}),
        );
        let refused = expect_status(&member.post("/v1/automations", &body).await, 400).clone();
        assert_eq!(refused["error"]["field"], "action.payload", "{refused}");
        let message = refused["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(&format!("${{{name}}}")), "{message}");
        for other in ["SLACK_FOOTER", "HOOK_TOKEN", "GH_TOKEN"]
            .iter()
            .filter(|n| **n != name)
        {
            assert!(!message.contains(other), "names another secret: {message}");
        }
        refusals.push(message.replace(name, "NAME"));
    }
    assert_eq!(
        refusals[0], refusals[1],
        "a refusal tells whether a secret exists"
    );

    // What the integration uses itself may be sent to it; a member's automation that does so is
    // saved. Turning it (or an admin's) to another secret with PATCH is refused the same way.
    let mine = expect_status(
        &member
            .post(
                "/v1/automations",
                &on_links(
                    "mine",
                    json!({"type": "webhook", "integration": "hook",
                           "payload": {"who": "${event_author}", "own": "${HOOK_TOKEN}"}}),
                ),
            )
            .await,
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admins = expect_status(
        &admin
            .post(
                "/v1/automations",
                &on_links("admins", json!({"type": "webhook", "integration": "hook"})),
            )
            .await,
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&mine, &admins] {
        let patch = json!({"action": {"type": "webhook", "integration": "hook",
                                      "payload": {"t": "${GH_TOKEN}"}}});
        let refused = member.patch(&format!("/v1/automations/{id}"), &patch).await;
        assert_eq!(
            expect_status(&refused, 400)["error"]["field"],
            "action.payload"
        );
    }
    let event = post_event(&member, &link_event()).await;
    let executions = settled_all(&admin, &event, Duration::from_secs(20)).await;
    assert_eq!(executions.len(), 2);
    assert!(executions.iter().all(|e| e["status"] == "succeeded"));
    let delivered = receiver.wait_for(2, Duration::from_secs(5)).await;
    for request in &delivered {
        assert_no_secret(
            "a delivery",
            &String::from_utf8_lossy(&request.body),
            &[GH_TOKEN],
        );
    }

    // An admin grants SLACK_FOOTER: members see the grant (names only) and may use it.
    expect_status(
        &member
            .patch(
                "/v1/entities/default/integrations/hook",
                &json!({"secrets": ["SLACK_FOOTER"]}),
            )
            .await,
        403,
    );
    let refused = admin
        .patch(
            "/v1/entities/default/integrations/hook",
            &json!({"secrets": ["NO_SUCH_SECRET"]}),
        )
        .await;
    assert_eq!(expect_status(&refused, 422)["error"]["field"], "secrets[0]");
    expect_status(
        &admin
            .patch(
                "/v1/entities/default/integrations/hook",
                &json!({"secrets": ["SLACK_FOOTER"]}),
            )
            .await,
        200,
    );
    let shown = expect_status(
        &member.get("/v1/entities/default/integrations/hook").await,
        200,
    )
    .clone();
    assert_eq!(shown["secrets"], json!(["SLACK_FOOTER"]));
    assert_no_secret("the integration", &shown.to_string(), &[FOOTER, HOOK_TOKEN]);
    expect_status(
        &member
            .patch(
                &format!("/v1/automations/{mine}"),
                &json!({"action": {"type": "webhook", "integration": "hook",
                                   "payload": {"footer": "${SLACK_FOOTER}"}}}),
            )
            .await,
        200,
    );
    // A grant in use can be neither withdrawn nor its secret deleted.
    let conflict = admin
        .patch(
            "/v1/entities/default/integrations/hook",
            &json!({"secrets": []}),
        )
        .await;
    assert!(
        expect_status(&conflict, 409)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mine"),
        "{}",
        conflict.1
    );
    expect_status(
        &admin
            .delete("/v1/entities/default/secrets/SLACK_FOOTER")
            .await,
        409,
    );
    let event = post_event(&member, &link_event()).await;
    settled_all(&admin, &event, Duration::from_secs(20)).await;
    let delivered = receiver.wait_for(4, Duration::from_secs(5)).await;
    let footers: Vec<Value> = delivered[2..]
        .iter()
        .filter_map(|r| r.json().get("footer").cloned())
        .collect();
    assert_eq!(footers, [json!(FOOTER)], "the granted secret is filled in");
}

#[tokio::test]
async fn a_hostile_plugin_gets_no_secret_out_of_an_echoing_receiver() {
    let integration = Receiver::start(echo).await;
    let drop = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{FAST_DELIVERY_CONFIG}[sandbox]\ncpu_time = \"300ms\"\n[plugin_grants]\nhostile = [{:?}]\n",
        drop.url("")
    );
    let server = Server::start_with(
        &dir.path().join("data"),
        &config,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    let component = std::fs::read(fixture("hostile")).unwrap();
    expect_status(&upload_plugin(&server, ADMIN_KEY, component).await, 201);
    const TOKEN: &str = "tok-launder-9f8e7d6c5b4a";
    const SIGNING: &str = "sig-launder-3c4d5e6f7a8b";
    const PAYLOAD: &str = "pay-launder-é-2b3c4d5e6f";
    put_secret(&admin, "TOKEN", TOKEN).await;
    put_secret(&admin, "SIGNING", SIGNING).await;
    put_secret(&admin, "PAYLOAD", PAYLOAD).await;
    create_integration(
        &admin,
        json!({"name": "echo", "kind": "webhook", "url": integration.url("/echo"),
               "access_token": "TOKEN", "signing_secret": "SIGNING", "secrets": ["PAYLOAD"]}),
    )
    .await;
    let member = member(&admin, &server).await;
    for then in ["succeed", "reject", "trap", "loop"] {
        let action = json!({"type": "hostile", "integration": "echo",
            "config": {"mode": "launder", "url": drop.url("/drop"), "then": then},
            "payload": {"p": "${PAYLOAD}", "t": "${TOKEN}"}});
        expect_status(
            &member
                .post("/v1/automations", &on_links(then, action))
                .await,
            201,
        );
    }
    let event = post_event(&member, &link_event()).await;
    let executions = settled_all(&member, &event, Duration::from_secs(30)).await;
    assert_eq!(executions.len(), 4);
    let outcome = |name: &str| {
        executions
            .iter()
            .find(|e| e["automation"]["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(outcome("succeed"), "succeeded");
    for failed in ["reject", "trap", "loop"] {
        assert_eq!(outcome(failed), "failed", "{executions:?}");
    }

    // The integration got the secrets: that is what the automation asked for.
    let sent = integration.wait_for(4, Duration::from_secs(5)).await;
    for request in &sent {
        let body = request.json();
        assert_eq!(
            (body["p"].as_str(), body["t"].as_str()),
            (Some(PAYLOAD), Some(TOKEN))
        );
    }
    // Everything a member can read, and everything that reached the plugin's granted origin.
    let mut readable = serde_json::to_string(&executions).unwrap();
    readable.push_str(
        &member
            .get(&format!("/v1/events/{event}"))
            .await
            .1
            .to_string(),
    );
    readable.push_str(&member.get("/v1/executions").await.1.to_string());
    let dropped = drop.wait_for(4, Duration::from_secs(5)).await;
    let mut laundered = String::new();
    for request in &dropped {
        laundered.push_str(&String::from_utf8_lossy(&request.body));
    }
    assert_no_secret("what a member reads", &readable, &[TOKEN, SIGNING, PAYLOAD]);
    assert_no_secret(
        "what the plugin sent away",
        &laundered,
        &[TOKEN, SIGNING, PAYLOAD],
    );
    // Not vacuous: the plugin did get the echo, with the secrets' places marked.
    assert!(laundered.contains("[REDACTED]"), "{laundered}");
    assert!(laundered.contains("webhook-signature"), "{laundered}");
    assert_no_secret("the server log", &server.log(), &[TOKEN, SIGNING, PAYLOAD]);
}

#[tokio::test]
async fn every_encoded_form_an_echo_returns_is_redacted_for_members_and_in_tests() {
    let receiver = Receiver::start(encoded_echo).await;
    let server = Server::fast();
    let admin = server.admin();
    const TOKEN: &str = "tok-encoded-5e6f7a8b9c0d";
    const PAYLOAD: &str = "pay-encoded-ünï-\"quoted\"-7c8d";
    put_secret(&admin, "TOKEN", TOKEN).await;
    put_secret(&admin, "PAYLOAD", PAYLOAD).await;
    create_integration(
        &admin,
        json!({"name": "echo", "kind": "webhook", "url": receiver.url("/echo"),
               "access_token": "TOKEN", "secrets": ["PAYLOAD"]}),
    )
    .await;
    let member = member(&admin, &server).await;
    expect_status(
        &member
            .post(
                "/v1/automations",
                &on_links(
                    "echoed",
                    json!({"type": "webhook", "integration": "echo", "payload": {"p": "${PAYLOAD}"}}),
                ),
            )
            .await,
        201,
    );
    let event = post_event(&member, &link_event()).await;
    let executions = settled_all(&member, &event, Duration::from_secs(20)).await;
    assert_eq!(executions[0]["status"], "succeeded", "{executions:?}");
    let response = &executions[0]["attempt_log"][0]["requests"][0]["response"];
    let body = response["body"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"));
    // Not vacuous: the echo came back whole, each of its 18 lines with the values marked.
    assert_eq!(body.lines().count(), 18, "{body}");
    assert!(body.lines().all(|l| l.contains("[REDACTED]")), "{body}");
    assert_no_secret(
        "an execution a member reads",
        &serde_json::to_string(&executions).unwrap(),
        &[TOKEN, PAYLOAD],
    );
    // The admin's Test shows the receiver's answer under the same redaction.
    let tested = expect_status(
        &admin
            .post(
                "/v1/entities/default/integrations/echo/test",
                &json!({"payload": {"p": "${PAYLOAD}"}}),
            )
            .await,
        200,
    )
    .clone();
    assert_eq!(tested["response"]["status"], 200, "{tested}");
    assert_no_secret("the Test answer", &tested.to_string(), &[TOKEN, PAYLOAD]);
    // A test may name only what a delivery through the integration could.
    put_secret(&admin, "ELSEWHERE", "elsewhere-value-1234").await;
    let refused = admin
        .post(
            "/v1/entities/default/integrations/echo/test",
            &json!({"payload": {"x": "${ELSEWHERE}"}}),
        )
        .await;
    assert_eq!(expect_status(&refused, 400)["error"]["field"], "payload");
}
