//! The HTTP side of the client commands: where the server is and which key asks
//! ([`Connection`], shared with `herald agent` and `herald plugin replay`), the [`Client`] that
//! calls the API and turns an error answer into an error, and the small helpers every resource's
//! commands use.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::Value;

/// Where the server is and who is asking.
#[derive(Debug, Args)]
pub(in crate::cli) struct Connection {
    /// The server's URL.
    #[arg(
        long,
        env = "HERALD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// An API key.
    #[arg(long, env = "HERALD_KEY", hide_env_values = true, global = true)]
    key: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

/// The entity a command acts on (default: the key's own).
#[derive(Debug, Args)]
pub(in crate::cli) struct EntityArg {
    /// The entity (default: the key's).
    #[arg(long)]
    entity: Option<String>,
}

impl Connection {
    /// The same connection with `key` instead of the one given by flag or environment.
    pub(in crate::cli) fn with_key(mut self, key: String) -> Self {
        self.key = Some(key);
        self
    }

    /// Whether `--json` was given.
    pub(in crate::cli) fn json(&self) -> bool {
        self.json
    }

    /// The server's URL.
    pub(in crate::cli) fn url(&self) -> &str {
        &self.url
    }

    /// The API key, if one was given.
    pub(in crate::cli) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

/// An HTTP client of the API with the connection's key.
pub(in crate::cli) struct Client {
    url: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for a connection that must have a key.
    pub(in crate::cli) fn from_connection(connection: Connection) -> anyhow::Result<Self> {
        if connection.key.is_none() {
            bail!("an API key is needed: --key or HERALD_KEY");
        }
        Ok(Self {
            url: connection.url,
            key: connection.key,
            http: reqwest::Client::new(),
        })
    }

    /// Calls the API; a non-2xx answer is an error carrying the API's code and message.
    pub(in crate::cli) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.call_with(method, path, body, headers).await
    }

    /// GETs `path` (which has a query string) and every page after it, following
    /// `next_cursor`; answers the first page with the items under `key` of every page.
    pub(in crate::cli) async fn call_all(&self, path: &str, key: &str) -> anyhow::Result<Value> {
        let mut page = self.call("GET", path, None, &[]).await?;
        let mut items = page[key].as_array().cloned().unwrap_or_default();
        while let Some(cursor) = page["next_cursor"].as_str() {
            let next = format!("{path}&cursor={}", encode(cursor));
            page = self.call("GET", &next, None, &[]).await?;
            items.extend(page[key].as_array().cloned().unwrap_or_default());
        }
        Ok(serde_json::json!({ key: items, "has_more": false, "next_cursor": null }))
    }

    /// Calls the API with a body of any content type (a component to install).
    pub(in crate::cli) async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let (status, _, value) = self.send(method, path, body, headers).await?;
        answer(status, value)
    }

    /// Calls the API with `Idempotency-Key: key`, sending the request again (with the same key)
    /// while the server answers 503: its storage was unavailable, and a write may or may not
    /// have landed; the key makes a repeat count once. Gives up after about 30 seconds.
    pub(in crate::cli) async fn call_idempotent(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        key: &str,
    ) -> anyhow::Result<Value> {
        let headers = [("idempotency-key", key)];
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let bytes = body.to_string().into_bytes();
            let (status, retry_after, value) = self
                .send(method, path, Some(("application/json", bytes)), &headers)
                .await?;
            if status != reqwest::StatusCode::SERVICE_UNAVAILABLE
                || std::time::Instant::now() >= deadline
            {
                return answer(status, value)
                    .with_context(|| format!("sent with Idempotency-Key {key}"));
            }
            let wait = retry_after
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(5));
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends one request; returns the status, the `Retry-After` it asked for, and the body.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(reqwest::StatusCode, Option<Duration>, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = self.http.request(method, &url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, retry_after, value))
    }

    /// The entity given, or the key's.
    pub(in crate::cli) async fn entity(&self, given: &EntityArg) -> anyhow::Result<String> {
        match &given.entity {
            Some(entity) => Ok(entity.clone()),
            None => Ok(self.call("GET", "/v1/me", None, &[]).await?["entity"]
                .as_str()
                .unwrap_or_default()
                .to_string()),
        }
    }
}

/// The body of a successful answer, or the error it carries as one line.
fn answer(status: reqwest::StatusCode, value: Value) -> anyhow::Result<Value> {
    if !status.is_success() {
        let message = value["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        bail!(
            "{} {}: {message}",
            status.as_u16(),
            value["error"]["code"].as_str().unwrap_or("error")
        );
    }
    Ok(value)
}

/// Reads a JSON file (`-`: standard input).
pub(in crate::cli) fn read_json(path: &PathBuf) -> anyhow::Result<Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// `text` made safe for a query string.
pub(in crate::cli) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
