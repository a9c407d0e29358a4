//! Installing third-party plugins while the server runs: an operator uploads a component, the
//! next execution uses it, a new version replaces it, a removal is refused while automations use
//! it; what is not a valid plugin is refused with the reason and changes nothing; installs
//! survive a restart, and the loss of the plugins directory's copy.

use std::time::Duration;

use serde_json::json;

use crate::common::{
    ADMIN_KEY, Receiver, Server, automation_on_links, fixture, herald, member_key, post_event,
    settled, upload_plugin,
};

/// The installed plugins, `name@version`.
async fn installed(server: &Server) -> Vec<String> {
    let (_, listed) = server.admin().get("/v1/plugins").await;
    listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}@{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

/// Posts a link event and returns the `x-echo-version` the receiver got for it.
async fn delivered_version(server: &Server, receiver: &Receiver, version: &str) -> String {
    let before = receiver.requests().len();
    let admin = server.admin();
    let event = post_event(
        &admin,
        &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                "collection": "churn", "version": version}),
    )
    .await;
    let execution = settled(&admin, &event, Duration::from_secs(10)).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let seen = receiver.wait_for(before + 1, Duration::from_secs(5)).await;
    seen.last().unwrap().header("x-echo-version")
}

#[tokio::test]
async fn an_operator_installs_replaces_and_removes_a_plugin_while_the_server_runs() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_fast(&data);
    let admin = server.admin();
    let builtins = installed(&server).await;

    // What is not a valid plugin is refused with the reason, and changes nothing.
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "not a component",
            b"#!/bin/sh\necho hi\n".to_vec(),
            "WebAssembly",
        ),
        (
            "another world",
            std::fs::read(fixture("other-world")).unwrap(),
            "herald:plugin",
        ),
        (
            "a config schema that does not parse",
            std::fs::read(fixture("bad-schema")).unwrap(),
            "config-schema is not JSON",
        ),
        (
            "a future contract",
            std::fs::read(fixture("future-version")).unwrap(),
            "herald:plugin@0.3.0",
        ),
    ];
    for (what, bytes, reason) in cases {
        let (status, body) = upload_plugin(&server, ADMIN_KEY, bytes).await;
        assert_eq!(status, 400, "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("component: "), "{what}: {message}");
        assert!(message.contains(reason), "{what}: {message}");
    }
    let echo_v1 = std::fs::read(fixture("echo-v1")).unwrap();
    let member = member_key(&admin, "not an operator").await;
    assert_eq!(
        upload_plugin(&server, &member, echo_v1.clone()).await.0,
        403
    );
    let (_, team) = admin.post("/v1/entities", &json!({"name": "team-b"})).await;
    let other_admin = team["admin_key"]["key"].as_str().unwrap();
    assert_eq!(
        upload_plugin(&server, other_admin, echo_v1.clone()).await.0,
        403
    );
    assert_eq!(installed(&server).await, builtins);

    // Installed from the command line; the next execution runs it.
    let path = fixture("echo-v1").display().to_string();
    let output = herald(&[
        "--url",
        &server.url,
        "--key",
        ADMIN_KEY,
        "plugins",
        "install",
        &path,
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "installed echo 1.0.0"
    );
    // How long the server's compile took is said (on standard error, beside the answer).
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("uploaded, compiled and checked in "),
        "{said}"
    );
    assert!(installed(&server).await.contains(&"echo@1.0.0".to_string()));
    automation_on_links(
        &admin,
        "echo-links",
        &receiver.url("/hook"),
        json!({"type": "echo", "payload": {"model": "${artifact_version_string}"}}),
    )
    .await;
    assert_eq!(delivered_version(&server, &receiver, "v1").await, "1.0.0");

    // A new version replaces it; the next execution uses it.
    let (status, body) = upload_plugin(
        &server,
        ADMIN_KEY,
        std::fs::read(fixture("echo-v2")).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replaced"], "1.0.0");
    assert_eq!(body["plugin"]["version"], "2.0.0");
    assert_eq!(delivered_version(&server, &receiver, "v2").await, "2.0.0");

    // A built-in cannot be replaced or removed; a plugin in use cannot be removed.
    let no_op = crate::common::herald(&[
        "--url",
        &server.url,
        "--key",
        ADMIN_KEY,
        "plugins",
        "remove",
        "no-op",
    ])
    .await;
    assert!(
        String::from_utf8_lossy(&no_op.stderr).contains("built-in"),
        "{no_op:?}"
    );
    let (status, body) = admin.delete("/v1/plugins/echo").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("default/echo-links"),
        "{body}"
    );

    // Installs survive a restart (the plugins directory is read at start), and the database
    // keeps them too: a host whose plugins directory lost the file installs it again from there.
    server.terminate(Duration::from_secs(10));
    let server = Server::start_fast(&data);
    assert!(installed(&server).await.contains(&"echo@2.0.0".to_string()));
    server.terminate(Duration::from_secs(10));
    std::fs::remove_file(data.join("plugins").join("echo.wasm")).unwrap();
    let server = Server::start_fast(&data);
    assert!(installed(&server).await.contains(&"echo@2.0.0".to_string()));
    assert!(data.join("plugins").join("echo.wasm").exists());
    assert_eq!(delivered_version(&server, &receiver, "v3").await, "2.0.0");

    // Removed once nothing uses it: gone now and after a restart.
    let admin = server.admin();
    let (_, automations) = admin.get("/v1/automations").await;
    let id = automations["automations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(admin.delete(&format!("/v1/automations/{id}")).await.0, 204);
    let output = herald(&[
        "--url",
        &server.url,
        "--key",
        ADMIN_KEY,
        "plugins",
        "remove",
        "echo",
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(installed(&server).await, builtins);
    server.terminate(Duration::from_secs(10));
    let server = Server::start_fast(&data);
    assert_eq!(installed(&server).await, builtins);
}

/// A plugin replaced while one of its executions waits on a slow receiver: that execution
/// finishes on the version it started with, while the next one already runs the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_in_flight_finishes_on_the_version_it_started_with() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let released = Arc::new(AtomicBool::new(false));
    let receiver = {
        let released = released.clone();
        Receiver::start(move |index, _| {
            // The first request is held until the test lets it go (10 s at most).
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while index == 0 && !released.load(Ordering::SeqCst) {
                assert!(std::time::Instant::now() < deadline, "never released");
                std::thread::sleep(Duration::from_millis(5));
            }
            (200, vec![], "ok".into())
        })
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &crate::common::FAST_DELIVERY_CONFIG
            .replace("request_timeout = \"1s\"", "request_timeout = \"20s\""),
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    let (status, _) = upload_plugin(
        &server,
        ADMIN_KEY,
        std::fs::read(fixture("echo-v1")).unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    automation_on_links(
        &admin,
        "echo-links",
        &receiver.url("/hook"),
        json!({"type": "echo"}),
    )
    .await;
    let link = |version: &str| {
        json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
               "collection": "churn", "version": version})
    };
    let first = post_event(&admin, &link("v1")).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // Replaced while the first execution's request is held.
    let (status, body) = upload_plugin(
        &server,
        ADMIN_KEY,
        std::fs::read(fixture("echo-v2")).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let second = post_event(&admin, &link("v2")).await;
    let seen = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        seen[1].header("x-echo-version"),
        "2.0.0",
        "the next execution runs the new version"
    );

    released.store(true, Ordering::SeqCst);
    for event in [&first, &second] {
        let execution = settled(&admin, event, Duration::from_secs(20)).await;
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert_eq!(execution["attempts"], 1, "{execution}");
    }
    assert_eq!(
        seen[0].header("x-echo-version"),
        "1.0.0",
        "the held one ran the old version"
    );
}
