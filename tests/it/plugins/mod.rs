//! The built-in Slack, Teams, GitHub dispatch and no-op plugins end to end: the real server, the
//! real components, and a receiver on 127.0.0.1 emulating each service. The exact request is
//! asserted, and every response class gives the execution outcome the service's semantics call for.
//!
//! Shared here: the recording services and the bench; `slack.rs` covers Slack, `others.rs` Teams,
//! GitHub dispatch and no-op.

mod others;
mod slack;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{
    Api, Receiver, Recorded, Server, eventually, expect_status, status_and_attempts,
};
use serde_json::{Value, json};

/// A receiver that answers by path: `answers[path]` lists the replies in order (the last one
/// repeats). Requests are kept by path.
async fn service(answers: BTreeMap<&'static str, Vec<crate::common::Reply>>) -> Receiver {
    let counts: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    Receiver::start(move |_, request| {
        let path = request.uri.path().to_string();
        let n = {
            let mut counts = counts.lock().unwrap();
            let n = counts.entry(path.clone()).or_default();
            *n += 1;
            *n - 1
        };
        match answers.get(path.as_str()) {
            Some(replies) => replies[n.min(replies.len() - 1)].clone(),
            None => (599, vec![], format!("no answer configured for {path}")),
        }
    })
    .await
}

fn by_path(receiver: &Receiver, path: &str) -> Vec<Recorded> {
    receiver
        .requests()
        .into_iter()
        .filter(|r| r.uri.path() == path)
        .collect()
}

struct Bench {
    admin: Api,
    _server: Server,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_fast(&dir.path().join("data"));
        Self {
            admin: server.admin(),
            _server: server,
            _dir: dir,
        }
    }

    async fn secret(&self, name: &str, value: &str) {
        crate::common::put_secret(&self.admin, name, value).await;
    }

    async fn integration(&self, body: Value) {
        expect_status(
            &self
                .admin
                .post("/v1/entities/default/integrations", &body)
                .await,
            201,
        );
    }

    /// An automation for LINK_ARTIFACT events of `collection`, then one such event; returns the
    /// settled execution.
    async fn run(&self, collection: &str, action: Value) -> Value {
        let automation = json!({
            "name": collection,
            "scope": {"type": "collection", "registry": "models", "collection": collection},
            "event": {"type": "LINK_ARTIFACT"},
            "action": action,
        });
        expect_status(&self.admin.post("/v1/automations", &automation).await, 201);
        let event = json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                           "collection": collection, "version": "v1", "author": "ana"});
        let event_id = expect_status(&self.admin.post("/v1/events", &event).await, 202)["event_id"]
            .as_str()
            .unwrap()
            .to_string();
        let what = format!("{collection}'s execution to settle");
        eventually(Duration::from_secs(15), &what, async || {
            let (_, event) = self.admin.get(&format!("/v1/events/{event_id}")).await;
            if let Some(id) = event["executions"][0]["id"].as_str() {
                let (_, execution) = self.admin.get(&format!("/v1/executions/{id}")).await;
                if matches!(execution["status"].as_str(), Some("succeeded" | "failed")) {
                    return Ok(execution);
                }
            }
            Err(event.to_string())
        })
        .await
    }
}

fn outcome(execution: &Value) -> (String, String) {
    (
        execution["status"].as_str().unwrap_or_default().to_string(),
        execution["status_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn reply(status: u16, body: &str) -> crate::common::Reply {
    (status, vec![], body.to_string())
}

/// One Slack stand-in for every Slack test: incoming-webhook paths under `/services/` and Web API
/// paths ending in `/chat.postMessage`, each answering as Slack does for one case.
async fn slack_service() -> Receiver {
    let ok = |body: &str| vec![reply(200, body)];
    service(BTreeMap::from([
        ("/services/ok", ok("ok")),
        ("/services/reference", ok("ok")),
        ("/services/invalid", vec![reply(400, "invalid_payload")]),
        ("/services/no-text", vec![reply(400, "no_text")]),
        (
            "/services/no-channel",
            vec![reply(404, "channel_not_found")],
        ),
        (
            "/services/prohibited",
            vec![reply(403, "action_prohibited")],
        ),
        (
            "/services/archived",
            vec![reply(410, "channel_is_archived")],
        ),
        ("/services/no-service", vec![reply(404, "no_service")]),
        (
            "/services/busy",
            vec![
                (
                    429,
                    vec![("retry-after", "1".into())],
                    "rate limited".into(),
                ),
                reply(200, "ok"),
            ],
        ),
        (
            "/api-ok/chat.postMessage",
            ok(r#"{"ok":true,"channel":"C1","ts":"1.2"}"#),
        ),
        (
            "/api-token/chat.postMessage",
            ok(r#"{"ok":false,"error":"invalid_token"}"#),
        ),
        (
            "/api-text/chat.postMessage",
            ok(r#"{"ok":false,"error":"no_text"}"#),
        ),
        (
            "/api-limited/chat.postMessage",
            vec![
                (
                    429,
                    vec![("retry-after", "1".into())],
                    r#"{"ok":false,"error":"ratelimited"}"#.into(),
                ),
                ok(r#"{"ok":true}"#)[0].clone(),
            ],
        ),
    ]))
    .await
}

/// Sends one LINK_ARTIFACT through a Slack incoming-webhook integration whose URL (a credential,
/// kept in a secret) is the receiver's `/services/{case}`.
async fn slack_hook(
    bench: &Bench,
    receiver: &Receiver,
    case: &str,
    payload: Option<Value>,
) -> Value {
    let secret = format!("HOOK_{}", case.replace('-', "_").to_uppercase());
    bench
        .secret(&secret, &receiver.url(&format!("/services/{case}")))
        .await;
    bench
        .integration(json!({"name": format!("hook-{case}"), "kind": "slack", "url_secret": secret}))
        .await;
    let mut action = json!({"type": "slack", "integration": format!("hook-{case}"),
                            "config": {"title": "Model alert", "severity": "error"}});
    if let Some(payload) = payload {
        action["payload"] = payload;
    }
    bench.run(case, action).await
}
