//! The API keeps the contract its OpenAPI document states, for requests generated from that
//! document: every operation, tried without a key, with a body that is not JSON, with a JSON body
//! of the wrong shape, with a query string that does not parse, and with a method its path does
//! not take. No answer is a 5xx; every status is one the operation documents (405 aside, which
//! no operation can document); every error answer is the JSON error body.

use serde_json::{Value, json};

use crate::common::{ADMIN_KEY, Server};

/// One generated request and what came back.
struct Tried {
    what: String,
    status: u16,
    content_type: String,
    body: String,
}

async fn send(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    key: bool,
    content_type: Option<&str>,
    body: Option<String>,
) -> Tried {
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut request = http.request(method.clone(), format!("{base}{path}"));
    if key {
        request = request.bearer_auth(ADMIN_KEY);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(body) = body.clone() {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    Tried {
        what: format!(
            "{method} {path} key={key} content-type={content_type:?} body={:?}",
            body.map(|b| b.chars().take(40).collect::<String>())
        ),
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default(),
        body: response.text().await.unwrap(),
    }
}

fn assert_error_body(tried: &Tried) {
    assert!(
        tried.content_type.starts_with("application/json"),
        "{}: {} answered {:?}: {}",
        tried.what,
        tried.status,
        tried.content_type,
        tried.body
    );
    let body: Value = serde_json::from_str(&tried.body).unwrap();
    assert!(
        body["error"]["code"].is_string() && body["error"]["message"].is_string(),
        "{}: not the error body: {}",
        tried.what,
        tried.body
    );
}

#[tokio::test]
async fn generated_requests_get_documented_statuses_and_json_error_bodies() {
    let server = Server::ingest_only();
    let http = reqwest::Client::new();
    let document = server.anonymous().get("/v1/openapi.json").await.1;
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "the document lists the routes");
    let mut tried_count = 0;
    // Requests sent without a key to operations that take one.
    let mut keyless = 0;
    for (template, item) in paths {
        // Path parameters: the bootstrap entity, and names that exist nowhere.
        let path = template
            .replace("{entity}", "default")
            .replace("{name}", "nothing-here")
            .replace("{id}", "nothing-here")
            .replace("{key_id}", "nothing-here");
        let methods: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|m| ["get", "put", "post", "delete", "patch"].contains(m))
            .collect();
        for method in &methods {
            let operation = &item[*method];
            let documented = |status: u16| {
                operation["responses"].as_object().is_some_and(|r| {
                    r.contains_key(&status.to_string()) || r.contains_key("default")
                })
            };
            // An operation without `security` of its own takes the document's (a key); one
            // with only an empty requirement (`{}`) takes none.
            let requirements = operation.get("security").unwrap_or(&document["security"]);
            let secured = requirements
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r != &serde_json::json!({})));
            let has_body = operation.get("requestBody").is_some();
            let has_query = operation["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["in"] == "query"));
            let mut tries = Vec::new();
            if secured {
                tries.push(send(&http, &server.url, method, &path, false, None, None).await);
                keyless += 1;
            }
            if has_body {
                // Not JSON, broken JSON, JSON of the wrong shape, and no body at all.
                let bodies = [
                    (Some("text/plain"), Some("not json")),
                    (Some("application/json"), Some("{\"x\":")),
                    (Some("application/json"), Some("[1, \"two\", null]")),
                    (None, None),
                ];
                for (content_type, body) in bodies {
                    let body = body.map(str::to_string);
                    tries.push(
                        send(&http, &server.url, method, &path, true, content_type, body).await,
                    );
                }
            }
            if has_query {
                let bad = format!("{path}?limit=minus-one&unknown_param=1");
                tries.push(send(&http, &server.url, method, &bad, true, None, None).await);
            }
            for tried in &tries {
                assert!(
                    tried.status < 500,
                    "{}: {} {}",
                    tried.what,
                    tried.status,
                    tried.body
                );
                assert!(
                    documented(tried.status),
                    "{}: {} is not documented: {}",
                    tried.what,
                    tried.status,
                    tried.body
                );
                if tried.status >= 400 {
                    assert_error_body(tried);
                }
            }
            tried_count += tries.len();
        }
        // A method the path does not take: 405, with the error body.
        let unsupported = ["put", "patch", "delete", "post", "get"]
            .into_iter()
            .find(|m| !methods.contains(m))
            .unwrap();
        let tried = send(&http, &server.url, unsupported, &path, true, None, None).await;
        assert_eq!(tried.status, 405, "{}: {}", tried.what, tried.body);
        assert_error_body(&tried);
        tried_count += 1;
    }
    assert!(tried_count > 60, "only {tried_count} requests generated");
    assert!(
        keyless >= 45,
        "only {keyless} operations tried without their key"
    );
}

/// Validates a 2xx answer against the schema the document gives that operation and status.
fn check_answer(
    document: &Value,
    method: &str,
    template: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let operation = &document["paths"][template][method];
    if !operation.is_object() {
        return Err(format!("{method} {template} is not documented"));
    }
    let answer = &operation["responses"][status.to_string()];
    if !answer.is_object() {
        return Err(format!("{method} {template}: {status} is not documented"));
    }
    let Some(schema) = answer["content"]["application/json"]["schema"].as_object() else {
        // A documented answer without a JSON body (204) carries none.
        return match body.is_null() {
            true => Ok(()),
            false => Err(format!(
                "{method} {template}: {status} has an undocumented body"
            )),
        };
    };
    // References point into the document's components: validate inside a copy of them.
    let mut root = json!({"components": document["components"].clone()});
    for (key, value) in schema {
        root[key] = value.clone();
    }
    let validator = jsonschema::validator_for(&root).expect("the documented schema compiles");
    let problems: Vec<String> = validator
        .iter_errors(body)
        .take(3)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "{method} {template} {status} does not match its schema: {problems:?}"
        )),
    }
}

#[tokio::test]
async fn answers_match_their_documented_schemas() {
    let receiver = crate::common::Receiver::ok().await;
    let server = Server::fast();
    let admin = server.admin();
    let document = server.anonymous().get("/v1/openapi.json").await.1;
    let wrong = std::cell::RefCell::new(Vec::new());
    let call =
        async |method: &str, template: &str, path: &str, body: Option<Value>, status: u16| {
            let (got, answer) = admin
                .send(&method.to_ascii_uppercase(), path, body.as_ref(), &[])
                .await;
            assert_eq!(got, status, "{method} {path}: {answer}");
            if let Err(problem) = check_answer(&document, method, template, status, &answer) {
                wrong.borrow_mut().push(problem);
            }
            answer
        };
    call("get", "/v1/plugins", "/v1/plugins", None, 200).await;
    call("get", "/v1/me", "/v1/me", None, 200).await;
    call(
        "get",
        "/v1/entities/{entity}/keys",
        "/v1/entities/default/keys",
        None,
        200,
    )
    .await;
    let key = call(
        "post",
        "/v1/entities/{entity}/keys",
        "/v1/entities/default/keys",
        Some(json!({"role": "member"})),
        201,
    )
    .await;
    call(
        "put",
        "/v1/entities/{entity}/secrets/{name}",
        "/v1/entities/default/secrets/TOKEN",
        Some(json!({"value": "tok-contract-1"})),
        201,
    )
    .await;
    call(
        "get",
        "/v1/entities/{entity}/secrets",
        "/v1/entities/default/secrets",
        None,
        200,
    )
    .await;
    call("post", "/v1/entities/{entity}/integrations", "/v1/entities/default/integrations",
         Some(json!({"name": "hook", "kind": "webhook", "url": receiver.url("/h"), "access_token": "TOKEN"})), 201).await;
    call(
        "get",
        "/v1/entities/{entity}/integrations",
        "/v1/entities/default/integrations",
        None,
        200,
    )
    .await;
    call(
        "get",
        "/v1/entities/{entity}/integrations/{name}",
        "/v1/entities/default/integrations/hook",
        None,
        200,
    )
    .await;
    call(
        "patch",
        "/v1/entities/{entity}/integrations/{name}",
        "/v1/entities/default/integrations/hook",
        Some(json!({"access_token": null})),
        200,
    )
    .await;
    call(
        "post",
        "/v1/entities/{entity}/integrations/{name}/test",
        "/v1/entities/default/integrations/hook/test",
        Some(json!({})),
        200,
    )
    .await;
    let automation = call(
        "post",
        "/v1/automations",
        "/v1/automations",
        Some(
            json!({"name": "a", "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
                    "action": {"type": "webhook", "integration": "hook"}}),
        ),
        201,
    )
    .await;
    let id = automation["id"].as_str().unwrap().to_string();
    call("get", "/v1/automations", "/v1/automations", None, 200).await;
    call(
        "get",
        "/v1/automations/{id}",
        &format!("/v1/automations/{id}"),
        None,
        200,
    )
    .await;
    call(
        "patch",
        "/v1/automations/{id}",
        &format!("/v1/automations/{id}"),
        Some(json!({"description": "d"})),
        200,
    )
    .await;
    let event = json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                       "collection": "c", "version": "v1", "author": "ana"});
    let one = call("post", "/v1/events", "/v1/events", Some(event.clone()), 202).await;
    call(
        "post",
        "/v1/events/batch",
        "/v1/events/batch",
        Some(json!({"events": [event.clone(), event]})),
        202,
    )
    .await;
    let event_id = one["event_id"].as_str().unwrap().to_string();
    let execution =
        crate::common::settled(&admin, &event_id, std::time::Duration::from_secs(10)).await;
    let execution_id = execution["id"].as_str().unwrap().to_string();
    call(
        "get",
        "/v1/events/{id}",
        &format!("/v1/events/{event_id}"),
        None,
        200,
    )
    .await;
    call(
        "get",
        "/v1/executions/{id}",
        &format!("/v1/executions/{execution_id}"),
        None,
        200,
    )
    .await;
    call(
        "get",
        "/v1/automations/{id}/executions",
        &format!("/v1/automations/{id}/executions"),
        None,
        200,
    )
    .await;
    call(
        "post",
        "/v1/executions/{id}/retry",
        &format!("/v1/executions/{execution_id}/retry"),
        None,
        202,
    )
    .await;
    call(
        "delete",
        "/v1/automations/{id}",
        &format!("/v1/automations/{id}"),
        None,
        204,
    )
    .await;
    let key_id = key["id"].as_str().unwrap().to_string();
    call(
        "delete",
        "/v1/entities/{entity}/keys/{id}",
        &format!("/v1/entities/default/keys/{key_id}"),
        None,
        204,
    )
    .await;
    call(
        "delete",
        "/v1/entities/{entity}/secrets/{name}",
        "/v1/entities/default/secrets/TOKEN",
        None,
        204,
    )
    .await;
    call(
        "post",
        "/v1/entities",
        "/v1/entities",
        Some(json!({"name": "second"})),
        201,
    )
    .await;
    let wrong = wrong.into_inner();
    assert!(
        wrong.is_empty(),
        "{} answers break the document:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn inputs_the_schema_refuses_are_refused() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let automation = |name: &str, payload: Value| {
        json!({"name": name, "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
               "action": {"type": "no-op", "payload": payload}})
    };
    // The document says a payload template is an object, and a name is not empty.
    let (status, body) = admin
        .post("/v1/automations", &automation("arr", json!([1, 2])))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "action.payload: must be a JSON object"
    );
    let (status, body) = admin
        .post("/v1/automations", &automation("", json!({})))
        .await;
    assert_eq!(status, 400, "{body}");
    let document = server.anonymous().get("/v1/openapi.json").await.1;
    let name = &document["components"]["schemas"]["AutomationInput"]["properties"]["name"];
    assert_eq!(name["minLength"], 1, "{name}");
}

mod strict;
