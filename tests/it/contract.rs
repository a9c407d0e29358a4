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
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let http = reqwest::Client::new();
    let document = server.anonymous().get("/v1/openapi.json").await.1;
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "the document lists the routes");
    let mut tried_count = 0;
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
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            let has_body = operation.get("requestBody").is_some();
            let has_query = operation["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["in"] == "query"));
            let mut tries = Vec::new();
            if secured {
                tries.push(send(&http, &server.url, method, &path, false, None, None).await);
            }
            if has_body {
                tries.push(
                    send(
                        &http,
                        &server.url,
                        method,
                        &path,
                        true,
                        Some("text/plain"),
                        Some("not json".into()),
                    )
                    .await,
                );
                tries.push(
                    send(
                        &http,
                        &server.url,
                        method,
                        &path,
                        true,
                        Some("application/json"),
                        Some("{\"x\":".into()),
                    )
                    .await,
                );
                tries.push(
                    send(
                        &http,
                        &server.url,
                        method,
                        &path,
                        true,
                        Some("application/json"),
                        Some(json!([1, "two", null]).to_string()),
                    )
                    .await,
                );
                tries.push(send(&http, &server.url, method, &path, true, None, None).await);
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
}
