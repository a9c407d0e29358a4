//! The API as tests call it: a JSON client that returns status and body, status assertions, and
//! the few calls most tests make (events, integrations, automations, secrets, keys, plugins,
//! queue items), with the waits on what they set going.

use std::time::Duration;

use super::*;

/// A JSON client for the API: every call returns the status and the parsed body.
#[derive(Clone)]
pub(crate) struct Api {
    pub(super) base: String,
    pub(super) key: Option<String>,
    pub(super) http: reqwest::Client,
}

impl Api {
    /// Sends `method path` with an optional JSON body and extra headers.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        (status, value)
    }

    /// GET.
    pub(crate) async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("GET", path, None, &[]).await
    }

    /// POST with a JSON body.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send("POST", path, Some(body), &[]).await
    }

    /// PUT with a JSON body.
    pub(crate) async fn put(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send("PUT", path, Some(body), &[]).await
    }

    /// PATCH with a JSON body.
    pub(crate) async fn patch(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send("PATCH", path, Some(body), &[]).await
    }

    /// DELETE.
    pub(crate) async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("DELETE", path, None, &[]).await
    }
}

/// Asserts a status, showing the body when it differs; returns the body.
#[track_caller]
pub(crate) fn expect_status(
    response: &(u16, serde_json::Value),
    status: u16,
) -> &serde_json::Value {
    assert_eq!(
        response.0, status,
        "unexpected status; body: {}",
        response.1
    );
    &response.1
}

/// An execution's status and attempt count, as the API shows them.
pub(crate) fn status_and_attempts(execution: &serde_json::Value) -> (Option<&str>, Option<i64>) {
    (execution["status"].as_str(), execution["attempts"].as_i64())
}

/// Posts one event; returns its id.
pub(crate) async fn post_event(api: &Api, event: &serde_json::Value) -> String {
    expect_status(&api.post("/v1/events", event).await, 202)["event_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until every execution of the event has a final status; returns them (as
/// `GET /v1/executions/{id}` shows them, attempts included).
pub(crate) async fn settled_all(
    api: &Api,
    event_id: &str,
    limit: std::time::Duration,
) -> Vec<serde_json::Value> {
    let what = format!("event {event_id}'s executions to settle");
    eventually(limit, &what, async || {
        let (_, event) = api.get(&format!("/v1/events/{event_id}")).await;
        let ids: Vec<String> = event["executions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["id"].as_str().map(str::to_string))
            .collect();
        let mut done = Vec::new();
        for id in &ids {
            let (_, execution) = api.get(&format!("/v1/executions/{id}")).await;
            if matches!(
                execution["status"].as_str(),
                Some("succeeded" | "failed" | "skipped")
            ) {
                done.push(execution);
            }
        }
        if !ids.is_empty() && done.len() == ids.len() {
            Ok(done)
        } else {
            Err(event.to_string())
        }
    })
    .await
}

/// Waits until the event's (first) execution has a final status; returns it.
pub(crate) async fn settled(
    api: &Api,
    event_id: &str,
    limit: std::time::Duration,
) -> serde_json::Value {
    settled_all(api, event_id, limit).await.remove(0)
}

/// Creates an integration of the `default` entity (`201` expected).
pub(crate) async fn create_integration(admin: &Api, body: serde_json::Value) {
    expect_status(
        &admin.post("/v1/entities/default/integrations", &body).await,
        201,
    );
}

/// Creates an automation (`201` expected); returns its id.
pub(crate) async fn create_automation(admin: &Api, body: serde_json::Value) -> String {
    expect_status(&admin.post("/v1/automations", &body).await, 201)["id"]
        .as_str()
        .expect("an automation has an id")
        .to_string()
}

/// The server's Prometheus metrics, as text.
pub(crate) async fn metrics_text(server: &Server) -> String {
    reqwest::get(format!("{}/metrics", server.url))
        .await
        .expect("the server answers")
        .text()
        .await
        .expect("a text body")
}

/// Sets (creates or replaces) a secret of the `default` entity.
pub(crate) async fn put_secret(admin: &Api, name: &str, value: &str) {
    let status = admin
        .put(
            &format!("/v1/entities/default/secrets/{name}"),
            &serde_json::json!({ "value": value }),
        )
        .await
        .0;
    assert!(status == 200 || status == 201, "secret {name}: {status}");
}

/// A new member key of the `default` entity, as a client.
pub(crate) async fn member(admin: &Api, server: &Server) -> Api {
    server.client(&member_key(admin, "").await)
}

/// A new member key of the `default` entity, labelled `label`.
pub(crate) async fn member_key(admin: &Api, label: &str) -> String {
    created(
        admin,
        "/v1/entities/default/keys",
        &serde_json::json!({"role": "member", "label": label}),
        "key",
    )
    .await
}

/// POSTs `body` to `path`, expects `201`, and returns the answer's string `field`.
pub(crate) async fn created(
    api: &Api,
    path: &str,
    body: &serde_json::Value,
    field: &str,
) -> String {
    expect_status(&api.post(path, body).await, 201)[field]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no {field} in the answer"))
        .to_string()
}

/// `POST /v1/plugins` with a component as the body, with `key`.
pub(crate) async fn upload_plugin(
    server: &Server,
    key: &str,
    component: Vec<u8>,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/plugins", server.url))
        .bearer_auth(key)
        .header("content-type", "application/wasm")
        .body(component)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, value)
}

/// A webhook integration `ci` to `url` and an entity-wide automation `name` that runs `action`
/// (sent through `ci`) on every `LINK_ARTIFACT`; returns the automation's id.
pub(crate) async fn automation_on_links(
    admin: &Api,
    name: &str,
    url: &str,
    mut action: serde_json::Value,
) -> String {
    create_integration(
        admin,
        serde_json::json!({"name": "ci", "kind": "webhook", "url": url}),
    )
    .await;
    action["integration"] = "ci".into();
    create_automation(
        admin,
        serde_json::json!({"name": name, "scope": {"type": "entity"},
                           "event": {"type": "LINK_ARTIFACT"}, "action": action}),
    )
    .await
}

/// An agent key of `default` bound to `queues` (created by `admin`).
pub(crate) async fn agent_key(admin: &Api, queues: &[&str]) -> String {
    created(
        admin,
        "/v1/entities/default/keys",
        &serde_json::json!({"role": "agent", "queues": queues, "label": "test agent"}),
        "key",
    )
    .await
}

/// Waits until a queue item of `default` has one of `statuses`; returns the item.
pub(crate) async fn wait_for_item(
    api: &Api,
    id: &str,
    statuses: &[&str],
    limit: Duration,
) -> serde_json::Value {
    let what = format!("item {id} to become one of {statuses:?}");
    eventually(limit, &what, async || {
        let (_, item) = api.get(&format!("/v1/entities/default/items/{id}")).await;
        if statuses.iter().any(|s| item["status"] == *s) {
            Ok(item)
        } else {
            Err(item.to_string())
        }
    })
    .await
}
