//! The `github-dispatch` action: a `repository_dispatch` event on a GitHub repository, which starts
//! the workflows that listen for its `event_type`. The token is the integration's access token,
//! added by the host as `Authorization: Bearer`; the plugin never sees it.

use herald_sdk::{Action, ActionError, Invocation, Outcome, PluginInfo, http};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The action config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The repository's owner.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,100}$"))]
    owner: String,
    /// The repository.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,100}$"))]
    repo: String,
    /// The dispatch event type (what `on.repository_dispatch.types` matches), 1–100 characters.
    #[schemars(length(min = 1, max = 100))]
    event_type: String,
    /// The API base (GitHub Enterprise); default: the integration's URL.
    #[serde(default)]
    #[schemars(regex(pattern = r"^https?://"))]
    api_base: Option<String>,
}

const MAX_CLIENT_PAYLOAD_KEYS: usize = 10;

fn valid_segment(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_event_type(event_type: &str) -> Result<(), String> {
    match event_type.chars().count() {
        1..=100 => Ok(()),
        n => Err(format!("event_type must be 1 to 100 characters, not {n}")),
    }
}

struct GitHubDispatch;

impl Action for GitHubDispatch {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "github-dispatch",
            env!("CARGO_PKG_VERSION"),
            "Sends a GitHub repository_dispatch event to start workflows.",
        )
        .integration_kinds(&["github"])
        // The reference documents' example client payload.
        .default_payload(json!({
            "client_payload": {
                "event_author": "${event_author}",
                "artifact_version": "${artifact_version}",
                "artifact_version_string": "${artifact_version_string}",
                "artifact_collection_name": "${artifact_collection_name}",
                "project_name": "${project_name}",
                "entity_name": "${entity_name}"
            }
        }))
    }

    /// The schema says the same; this check keeps the messages readable and guards hosts that
    /// skip the schema (`herald plugin run`).
    fn check_config(config: &Config) -> Result<(), String> {
        if !valid_segment(&config.owner) {
            return Err(format!(
                "owner {:?} is not a GitHub owner name",
                config.owner
            ));
        }
        if !valid_segment(&config.repo) {
            return Err(format!(
                "repo {:?} is not a GitHub repository name",
                config.repo
            ));
        }
        check_event_type(&config.event_type)?;
        match &config.api_base {
            Some(base) if !(base.starts_with("https://") || base.starts_with("http://")) => {
                Err(format!("api_base {base:?} must be an http(s) URL"))
            }
            _ => Ok(()),
        }
    }

    fn execute(invocation: Invocation, config: Config) -> Result<Outcome, ActionError> {
        let body = dispatch_body(&invocation, &config)?;
        let base = config
            .api_base
            .as_deref()
            .unwrap_or(invocation.integration_url()?)
            .trim_end_matches('/');
        let url = format!("{base}/repos/{}/{}/dispatches", config.owner, config.repo);
        let response = http::Request::post(&url)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header(
                "user-agent",
                concat!("herald-github-dispatch/", env!("CARGO_PKG_VERSION")),
            )
            .json(&body)
            .send()?;
        match response.status {
            204 | 200 => Ok(Outcome::delivered(response.status)),
            401 | 403 | 404 | 422 => {
                let message = response
                    .json()
                    .and_then(|body| body["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| response.text());
                Err(ActionError::Rejected(format!(
                    "github {}: {message}",
                    response.status
                )))
            }
            _ => response.classify().map(|r| Outcome::delivered(r.status)),
        }
    }
}

/// `{"event_type", "client_payload"}`: the rendered payload may be the whole document (as in the
/// reference example, which names its own event type) or just the client payload.
fn dispatch_body(invocation: &Invocation, config: &Config) -> Result<Value, ActionError> {
    let payload: Value = match invocation.payload() {
        Some(rendered) => serde_json::from_str(rendered)
            .map_err(|e| ActionError::Invalid(format!("the rendered payload is not JSON: {e}")))?,
        None => json!({}),
    };
    let (event_type, client_payload) = match payload {
        Value::Object(mut document)
            if document.contains_key("client_payload") || document.contains_key("event_type") =>
        {
            let event_type = match document.remove("event_type") {
                Some(Value::String(event_type)) => event_type,
                Some(other) => {
                    return Err(ActionError::Invalid(format!(
                        "event_type must be a string, not {other}"
                    )));
                }
                None => config.event_type.clone(),
            };
            (
                event_type,
                document
                    .remove("client_payload")
                    .unwrap_or(Value::Object(Map::new())),
            )
        }
        other => (config.event_type.clone(), other),
    };
    check_event_type(&event_type).map_err(ActionError::Invalid)?;
    match &client_payload {
        Value::Object(fields) if fields.len() > MAX_CLIENT_PAYLOAD_KEYS => {
            return Err(ActionError::Invalid(format!(
                "client_payload has {} top-level keys; GitHub accepts at most {MAX_CLIENT_PAYLOAD_KEYS}",
                fields.len()
            )));
        }
        Value::Object(_) => {}
        other => {
            return Err(ActionError::Invalid(format!(
                "client_payload must be a JSON object, not {other}"
            )));
        }
    }
    Ok(json!({"event_type": event_type, "client_payload": client_payload}))
}

herald_sdk::export_action!(GitHubDispatch);
