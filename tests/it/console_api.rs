//! What the console relies on, through plain HTTP: the session cookie and the rules that keep it
//! from being used by another site, the entity's execution history with its filters, the trigger
//! catalog, and error answers that name their field.

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Receiver, Server, create_automation, create_integration, expect_status, post_event,
    settled_all,
};

#[tokio::test]
async fn the_session_cookie_works_only_from_the_consoles_own_pages() {
    let server = Server::ingest_only();
    let session = format!("{}/console/session", server.url);
    let me = format!("{}/v1/me", server.url);
    let plain = reqwest::Client::new();

    // Sign-in needs the console's header (no signing someone in from another site) and a key.
    let answer = plain
        .post(&session)
        .header("content-type", "application/json")
        .body((json!({"key": ADMIN_KEY})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let answer = plain
        .post(&session)
        .header("x-herald-console", "1")
        .header("content-type", "application/json")
        .body((json!({"key": "hk_not-a-real-key"})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let answer = plain
        .post(&session)
        .header("x-herald-console", "1")
        .header("content-type", "application/json")
        .body((json!({"key": ADMIN_KEY})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["herald_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains("Max-Age"),
        "a session cookie ends with the browser: {cookie}"
    );
    let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"entity": "default", "role": "admin", "operator": true, "key_id": body["key_id"]})
    );
    // What a browser sends back: the cookie's name and value.
    let sent_back = cookie.split(';').next().unwrap().to_string();
    let client = reqwest::Client::builder()
        .default_headers(
            [(reqwest::header::COOKIE, sent_back.parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap();

    // The cookie authenticates the console's requests, and nothing without its header or from
    // another origin.
    let status = |r: reqwest::Response| r.status().as_u16();
    let with = client
        .get(&me)
        .header("x-herald-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    // Sign-in answers what `GET /v1/me` answers for the key.
    let answered: serde_json::Value = serde_json::from_str(&with.text().await.unwrap()).unwrap();
    assert_eq!(answered, body);
    assert!(
        body["key_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    let without = client.get(&me).send().await.unwrap();
    assert_eq!(without.status(), 403);
    let body: serde_json::Value = serde_json::from_str(&without.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    let elsewhere = client
        .get(&me)
        .header("x-herald-console", "1")
        .header("origin", "http://127.0.0.1:1")
        .send()
        .await
        .unwrap();
    assert_eq!(status(elsewhere), 403);
    let cross_site = client
        .get(&me)
        .header("x-herald-console", "1")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(status(cross_site), 403);
    let same_origin = client
        .get(&me)
        .header("x-herald-console", "1")
        .header("origin", &server.url)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(status(same_origin), 200);

    // A run token cannot sign in; sign-out clears the cookie.
    let answer = client
        .post(&session)
        .header("x-herald-console", "1")
        .header("content-type", "application/json")
        .body((json!({"key": "hr_whatever"})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let out = client
        .delete(&session)
        .header("x-herald-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = plain
        .get(&me)
        .header("x-herald-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    // The key itself stays valid: a stolen cookie is as good as the key, so sign-out is no
    // revocation (deleting the key is).
    let still = client
        .get(&me)
        .header("x-herald-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);

    // The pages themselves carry the policy.
    let page = reqwest::get(format!("{}/", server.url)).await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let script = reqwest::get(format!("{}/console/js/app.js", server.url))
        .await
        .unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript");
    let missing = reqwest::get(format!("{}/console/js/nothing.js", server.url))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn the_entity_history_filters_by_automation_status_and_time() {
    let receiver = Receiver::start(|_, request| match request.uri.path() {
        "/bad" => (400, vec![], "no".into()),
        _ => (200, vec![], "ok".into()),
    })
    .await;
    let server = Server::fast();
    let admin = server.admin();
    for (name, path) in [("good", "/ok"), ("bad", "/bad")] {
        create_integration(
            &admin,
            json!({"name": name, "kind": "webhook", "url": receiver.url(path)}),
        )
        .await;
    }
    let mut ids = Vec::new();
    for name in ["good", "bad"] {
        ids.push(
            create_automation(
                &admin,
                json!({"name": name, "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
                       "action": {"type": "webhook", "integration": name}}),
            )
            .await,
        );
    }
    let event = json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "r",
                       "collection": "c", "version": "v1"});
    let before = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let event_id = post_event(&admin, &event).await;
    let settled = settled_all(&admin, &event_id, std::time::Duration::from_secs(10)).await;
    assert_eq!(settled.len(), 2);
    let (_, all) = admin.get("/v1/executions").await;
    assert_eq!(all["executions"].as_array().unwrap().len(), 2);

    let count = |v: &serde_json::Value| v["executions"].as_array().unwrap().len();
    let (_, succeeded) = admin.get("/v1/executions?status=succeeded").await;
    assert_eq!(count(&succeeded), 1);
    assert_eq!(succeeded["executions"][0]["automation_id"], ids[0].as_str());
    let (_, either) = admin.get("/v1/executions?status=succeeded,failed").await;
    assert_eq!(count(&either), 2);
    let (_, one) = admin
        .get(&format!("/v1/executions?automation={}", ids[1]))
        .await;
    assert_eq!(count(&one), 1);
    assert_eq!(one["executions"][0]["status"], "failed");
    let (_, later) = admin.get("/v1/executions?since=2999-01-01T00:00:00Z").await;
    assert_eq!(count(&later), 0);
    let (_, earlier) = admin.get(&format!("/v1/executions?until={before}")).await;
    assert_eq!(count(&earlier), 0);
    let (_, since) = admin
        .get(&format!("/v1/executions?since={before}&limit=1"))
        .await;
    assert_eq!(count(&since), 1);
    let (_, per_automation) = admin
        .get(&format!(
            "/v1/automations/{}/executions?status=failed",
            ids[0]
        ))
        .await;
    assert_eq!(count(&per_automation), 0);

    let (status, bad) = admin.get("/v1/executions?status=done").await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("status")),
        "{bad}"
    );
    let (status, bad) = admin.get("/v1/executions?since=yesterday").await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("since")),
        "{bad}"
    );
    // Another entity's history is its own.
    let (_, other) = admin
        .post("/v1/entities", &json!({"name": "other-team"}))
        .await;
    let other = server.client(other["admin_key"]["key"].as_str().unwrap());
    let (_, theirs) = other.get("/v1/executions").await;
    assert_eq!(count(&theirs), 0);
}

#[tokio::test]
async fn the_trigger_catalog_is_what_validation_accepts_and_errors_name_their_field() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let (status, catalog) = admin.get("/v1/triggers").await;
    assert_eq!(status, 200);
    let scopes = catalog["scopes"].as_array().unwrap();
    let of = |kind: &str| {
        scopes
            .iter()
            .find(|s| s["scope"] == kind)
            .unwrap_or_else(|| panic!("{kind} in {catalog}"))["event_types"]
            .clone()
    };
    assert_eq!(
        of("registry"),
        json!(["LINK_ARTIFACT", "ADD_ARTIFACT_ALIAS"])
    );
    assert_eq!(
        of("project_collection"),
        json!(["CREATE_ARTIFACT", "ADD_ARTIFACT_ALIAS"])
    );
    assert!(
        catalog["variables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "event_author" && v["set_by"] == "every event")
    );

    // What the catalog leaves out of a scope, the server refuses, naming the field.
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": "http://127.0.0.1:9/x"}),
    )
    .await;
    let refused = admin
        .send(
            "POST",
            "/v1/automations",
            Some(
                &json!({"name": "x", "scope": {"type": "registry", "registry": "r"},
                         "event": {"type": "RUN_STATE"},
                         "action": {"type": "webhook", "integration": "ci"}}),
            ),
            &[],
        )
        .await;
    let body = expect_status(&refused, 400);
    assert_eq!(body["error"]["field"], "event.type", "{body}");
    let (_, body) = admin
        .post(
            "/v1/automations",
            &json!({"name": "x", "scope": {"type": "entity"},
                    "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "(("}}},
                    "action": {"type": "webhook", "integration": "ci"}}),
        )
        .await;
    assert_eq!(body["error"]["field"], "event.filter", "{body}");
    // A message that names no field has none.
    let (status, body) = server.anonymous().get("/v1/me").await;
    assert_eq!(status, 401);
    assert!(body["error"].get("field").is_none(), "{body}");
}

#[tokio::test]
async fn console_files_are_revalidated_by_their_tag_and_sent_compressed_on_request() {
    let server = Server::ingest_only();
    let http = reqwest::Client::new();
    let get = async |url: &str, headers: &[(&str, &str)]| {
        let mut request = http.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    };
    const GZIP: (&str, &str) = ("accept-encoding", "gzip");
    for path in [
        "/",
        "/console/style.css",
        "/console/js/app.js",
        "/console/js/history.js",
    ] {
        let url = format!("{}{path}", server.url);
        let first = get(&url, &[]).await;
        assert_eq!(first.status(), 200, "{path}");
        let tag = first.headers()["etag"].to_str().unwrap().to_string();
        assert!(
            tag.starts_with("W/\""),
            "weak: one tag for the plain and the gzipped file"
        );
        let plain = first.bytes().await.unwrap().len();
        // A reload: the browser's copy is current, nothing is sent again.
        let again = get(&url, &[("if-none-match", &tag)]).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"], tag.as_str());
        assert!(
            again.bytes().await.unwrap().is_empty(),
            "{path}: a 304 has no body"
        );
        // An old copy is sent the file again.
        let stale = get(&url, &[("if-none-match", "\"old\"")]).await;
        assert_eq!(stale.status(), 200, "{path}");
        // Asked for gzip, it comes gzipped, and smaller (from 1 KiB on; the page itself is not).
        let zipped = get(&url, &[GZIP]).await;
        if plain < 1024 {
            assert!(zipped.headers().get("content-encoding").is_none(), "{path}");
            continue;
        }
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{path}");
        assert_eq!(zipped.headers()["etag"], tag.as_str(), "one tag for both");
        let zipped = zipped.bytes().await.unwrap().len();
        assert!(zipped < plain, "{path}: {zipped} of {plain} bytes");
        // A browser's gzipped copy is revalidated by the same tag.
        let again = get(&url, &[GZIP, ("if-none-match", &tag)]).await;
        assert_eq!(again.status(), 304, "{path}");
    }
    // The API too, when asked; never unasked.
    let url = format!("{}/v1/openapi.json", server.url);
    let zipped = get(&url, &[GZIP]).await;
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let plain = get(&url, &[]).await;
    assert!(plain.headers().get("content-encoding").is_none());
    // A small read is not worth compressing.
    let small = get(&format!("{}/healthz", server.url), &[GZIP]).await;
    assert!(small.headers().get("content-encoding").is_none());
    // An event's answer stays plain even when asked (httpx asks by default): small, on the
    // hot path, relayed as it came, with its length.
    for (path, body) in [
        ("/v1/events", RUN_FAILED.clone()),
        (
            "/v1/events/batch",
            json!({"events": vec![RUN_FAILED.clone(); 40]}),
        ),
    ] {
        let answer = http
            .post(format!("{}{path}", server.url))
            .bearer_auth(ADMIN_KEY)
            .header("accept-encoding", "gzip")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202, "{path}");
        assert!(answer.headers().get("content-encoding").is_none(), "{path}");
        let length: usize = answer.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(answer.bytes().await.unwrap().len(), length, "{path}");
    }
}

/// A failed run, as training code posts it.
static RUN_FAILED: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r1",
           "state": "FAILED"})
});
