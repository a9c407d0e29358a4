//! The HTTP API against the real binary and a real SQLite file, one file per question: who may
//! call what (`permissions.rs`), what is refused and how (`refusals.rs`), which automations an
//! event triggers and what their payloads hold (`matching.rs`), what a restart keeps
//! (`lifecycle.rs`), and a history of any size read page by page (`history.rs`). The world they share is set up here.

mod explain;
mod forms;
mod history;
mod lifecycle;
mod matching;
mod permissions;
mod refusals;

use serde_json::{Value, json};

use crate::common::{Api, Server, expect_status};

pub(super) const SECRET_VALUE: &str = "sk-live-7f3a9c1e-NEVER-SHOW-ME";

/// An automation body in the bootstrap entity with a webhook action through integration `ci`.
pub(super) fn automation(name: &str, scope: Value, event: Value) -> Value {
    json!({
        "name": name,
        "scope": scope,
        "event": event,
        "action": {"type": "webhook", "integration": "ci"}
    })
}

/// An `ADD_ARTIFACT_ALIAS` event in a project or registry (`space`).
pub(super) fn alias_event(
    entity: &str,
    space: (&str, &str),
    collection: &str,
    alias: &str,
) -> Value {
    json!({"type": "ADD_ARTIFACT_ALIAS", "entity": entity, space.0: space.1,
           "collection": collection, "version": "v1", "alias": alias, "author": "ana"})
}

/// The bootstrap entity with a secret, an integration, a member key, and a second entity.
pub(super) struct World {
    pub(super) server: Server,
    pub(super) admin: Api,
    pub(super) member: Api,
    pub(super) other: Api,
    _dir: tempfile::TempDir,
}

impl World {
    pub(super) async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_ingest_only(&dir.path().join("data"));
        let admin = server.admin();
        expect_status(
            &admin
                .put(
                    "/v1/entities/default/secrets/TOKEN",
                    &json!({"value": SECRET_VALUE}),
                )
                .await,
            201,
        );
        crate::common::create_integration(&admin, json!({"name": "ci", "kind": "webhook", "url": "https://ci.example.com/hook", "access_token": "TOKEN"})).await;
        let member_key = crate::common::member_key(&admin, "ci bot").await;
        let rival = expect_status(
            &admin.post("/v1/entities", &json!({"name": "rival"})).await,
            201,
        )
        .clone();
        let member = server.client(&member_key);
        let other = server.client(rival["admin_key"]["key"].as_str().unwrap());
        Self {
            server,
            admin,
            member,
            other,
            _dir: dir,
        }
    }
}
