//! The built-in webhook plugin, end to end through `herald plugin run --send` to a real receiver
//! on 127.0.0.1: body, headers, and both signatures checked by the test's own computation (and
//! by the reference documents' openssl pipeline).

use std::time::Duration;

use crate::common::{Receiver, herald, write_json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const TOKEN: &str = "tok-abcdef-123456";
const SIGNING_SECRET: &str = "sig-secret-\"quoted\"-and $dollar";

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    BASE64.encode(mac.finalize().into_bytes())
}

fn link_event() -> Value {
    json!({
        "type": "LINK_ARTIFACT", "entity": "acme", "registry": "models",
        "collection": "churn", "version": "v3", "version_index": 3,
        "author": "ana \"}],\"x\":\"\n\\ ünï"
    })
}

/// The reference receiver script's signature: `echo -n "$PAYLOAD" | openssl dgst -sha256
/// -hmac "$SECRET" -binary | base64`, run exactly so.
fn reference_script_signature(payload: &[u8], secret: &str) -> String {
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"echo -n "$PAYLOAD" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64"#)
        .env("PAYLOAD", std::str::from_utf8(payload).unwrap())
        .env("SECRET", secret)
        .output()
        .expect("bash and openssl run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn template_payload_arrives_signed_and_authorised() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let event = write_json(dir.path(), "event.json", &link_event());
    // The GitHub repository-dispatch example from the reference documents.
    let template = json!({
        "event_type": "BUILD_AND_DEPLOY",
        "client_payload": {
            "event_author": "${event_author}",
            "artifact_version": "${artifact_version}",
            "artifact_version_string": "${artifact_version_string}",
            "artifact_collection_name": "${artifact_collection_name}",
            "project_name": "${project_name}",
            "entity_name": "${entity_name}"
        }
    });
    let payload = write_json(dir.path(), "payload.json", &template);
    let target = receiver.url("/hook");
    let output = herald(&[
        "plugin",
        "run",
        "webhook",
        "--event",
        &event,
        "--payload",
        &payload,
        "--target",
        &target,
        "--token-secret",
        TOKEN,
        "--signing-secret",
        SIGNING_SECRET,
        "--execution-id",
        "exec-42",
        "--send",
        "--allow-cidr",
        "127.0.0.0/8",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("outcome: succeeded: delivered: 200"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(TOKEN) && !stdout.contains(SIGNING_SECRET),
        "secrets printed: {stdout}"
    );

    let requests = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.uri.path(), "/hook");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("authorization"), format!("Bearer {TOKEN}"));
    assert!(request.header("user-agent").starts_with("herald/"));

    let body = request.json();
    let author = link_event()["author"].clone();
    assert_eq!(body["event_type"], "BUILD_AND_DEPLOY");
    assert_eq!(
        body["client_payload"]["event_author"], author,
        "the hostile author stays one string"
    );
    assert_eq!(
        body["client_payload"]["artifact_version_string"],
        "acme/models/churn:v3"
    );
    assert_eq!(
        body["client_payload"]["artifact_version"],
        "herald-artifact://acme/models/churn:v3"
    );
    assert_eq!(body["client_payload"]["project_name"], "models");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["event_type", "client_payload"],
        "the template's key order is kept"
    );

    let signature = request.header("x-wandb-signature");
    assert_eq!(
        signature,
        hmac_b64(SIGNING_SECRET.as_bytes(), &request.body)
    );
    assert_eq!(
        signature,
        reference_script_signature(&request.body, SIGNING_SECRET)
    );

    assert_eq!(request.header("webhook-id"), "exec-42");
    let timestamp = request.header("webhook-timestamp");
    let signed = [b"exec-42.", timestamp.as_bytes(), b".", &request.body[..]].concat();
    assert_eq!(
        request.header("webhook-signature"),
        format!("v1,{}", hmac_b64(SIGNING_SECRET.as_bytes(), &signed))
    );
}

#[tokio::test]
async fn whsec_secrets_sign_with_their_decoded_key_and_unsigned_integrations_carry_no_signature() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let event = write_json(dir.path(), "event.json", &link_event());
    let key = b"0123456789abcdef0123456789abcdef";
    let secret = format!("whsec_{}", BASE64.encode(key));
    let target = receiver.url("/signed");
    let output = herald(&[
        "plugin",
        "run",
        "webhook",
        "--event",
        &event,
        "--target",
        &target,
        "--signing-secret",
        &secret,
        "--execution-id",
        "exec-7",
        "--send",
        "--allow-cidr",
        "127.0.0.0/8",
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let target = receiver.url("/plain");
    let output = herald(&[
        "plugin",
        "run",
        "webhook",
        "--event",
        &event,
        "--target",
        &target,
        "--send",
        "--allow-cidr",
        "127.0.0.0/8",
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    let requests = receiver.wait_for(2, Duration::from_secs(5)).await;
    let signed = &requests[0];
    let message = [
        b"exec-7.",
        signed.header("webhook-timestamp").as_bytes(),
        b".",
        &signed.body[..],
    ]
    .concat();
    assert_eq!(
        signed.header("webhook-signature"),
        format!("v1,{}", hmac_b64(key, &message))
    );
    assert_eq!(
        signed.header("x-wandb-signature"),
        hmac_b64(secret.as_bytes(), &signed.body)
    );

    let plain = &requests[1];
    for header in [
        "authorization",
        "x-wandb-signature",
        "webhook-signature",
        "webhook-timestamp",
    ] {
        assert!(plain.headers.get(header).is_none(), "unexpected {header}");
    }
    // Unsigned requests still name their execution, so that receivers can deduplicate.
    assert!(!plain.header("webhook-id").is_empty());
}

#[tokio::test]
async fn without_a_template_the_default_document_carries_every_variable() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let event = write_json(
        dir.path(),
        "event.json",
        &json!({"type": "RUN_STATE", "entity": "acme", "project": "vision", "run_id": "r1",
                "run_name": "resnet-7", "state": "CRASHED", "author": "bo"}),
    );
    let target = receiver.url("/default");
    let output = herald(&[
        "plugin",
        "run",
        "webhook",
        "--event",
        &event,
        "--target",
        &target,
        "--send",
        "--allow-cidr",
        "127.0.0.0/8",
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let body = receiver.wait_for(1, Duration::from_secs(5)).await[0].json();
    assert_eq!(body["event_type"], "RUN_STATE");
    assert_eq!(body["event_author"], "bo");
    assert_eq!(body["entity_name"], "acme");
    assert_eq!(body["project_name"], "vision");
    assert_eq!(body["automation_name"], "local-run");
    assert_eq!(body["variables"]["run_state"], "FAILED");
    assert_eq!(body["variables"]["run_name"], "resnet-7");
    assert_eq!(
        body["variables"]["artifact_version_string"], "",
        "variables that do not apply are empty"
    );
}

#[tokio::test]
async fn receiver_answers_are_classified() {
    let receiver = Receiver::start(|index, _| match index {
        0 => (500, vec![], "boom".into()),
        1 => (429, vec![("retry-after", "7".into())], "slow down".into()),
        2 => (404, vec![], "no such hook".into()),
        _ => (
            302,
            vec![("location", "http://127.0.0.1:9/elsewhere".into())],
            String::new(),
        ),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let event = write_json(dir.path(), "event.json", &link_event());
    let target = receiver.url("/hook");
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        let output = herald(&[
            "plugin",
            "run",
            "webhook",
            "--event",
            &event,
            "--target",
            &target,
            "--send",
            "--allow-cidr",
            "127.0.0.0/8",
            "--json",
        ])
        .await;
        assert_eq!(output.status.code(), Some(1), "a failed action exits 1");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        outcomes.push(report.clone());
    }
    assert_eq!(outcomes[0]["outcome"], "transient");
    assert!(
        outcomes[0]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 500: boom")
    );
    assert_eq!(outcomes[1]["outcome"], "transient");
    assert_eq!(outcomes[1]["retry_after"], "7");
    assert_eq!(outcomes[2]["outcome"], "rejected");
    assert_eq!(outcomes[3]["outcome"], "rejected");
    assert!(
        outcomes[3]["message"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    assert_eq!(
        receiver.requests().len(),
        4,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn dry_run_sends_nothing_and_shows_the_request() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let event = write_json(dir.path(), "event.json", &link_event());
    let target = receiver.url("/hook");
    let output = herald(&[
        "plugin",
        "run",
        "webhook",
        "--event",
        &event,
        "--target",
        &target,
        "--token-secret",
        TOKEN,
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("request 1: POST {target}  (not sent)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("authorization: Bearer [REDACTED]"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));
    assert!(receiver.requests().is_empty(), "a dry run must not send");
}
