//! The `slack` action: a message to a Slack channel, through an incoming webhook (the
//! integration's URL, itself a credential) or through the Web API's `chat.postMessage` with a bot
//! token (the integration's access token, added by the host).

use herald_sdk::http::Response;
use herald_sdk::{Action, ActionError, Invocation, Outcome, PluginInfo, Severity, http, text};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The action config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// `webhook` (the integration's URL is an incoming webhook) or `bot` (`chat.postMessage`
    /// with the integration's bot token).
    #[serde(default)]
    mode: Mode,
    /// The channel (`#name` or an id); required in `bot` mode.
    #[serde(default)]
    #[schemars(length(min = 1))]
    channel: Option<String>,
    /// The message's title; `${variables}` are filled in.
    #[serde(default)]
    title: Option<String>,
    /// Extra text under the title (mrkdwn); `${variables}` are filled in, escaped.
    #[serde(default)]
    message: Option<String>,
    /// How serious the message is: `info`, `warn` or `error`.
    #[serde(default)]
    severity: Severity,
}

/// How the message reaches Slack.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Webhook,
    Bot,
}

struct Slack;

impl Action for Slack {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "slack",
            env!("CARGO_PKG_VERSION"),
            "Posts a Block Kit message to Slack, by incoming webhook or by bot token.",
        )
        .integration_kinds(&["slack"])
    }

    fn check_config(config: &Config) -> Result<(), String> {
        if config.mode == Mode::Bot && config.channel.as_deref().is_none_or(str::is_empty) {
            return Err("channel is required in bot mode".into());
        }
        Ok(())
    }

    fn execute(invocation: Invocation, config: Config) -> Result<Outcome, ActionError> {
        let mut message = match invocation.payload() {
            // A custom template is sent as given.
            Some(rendered) => serde_json::from_str(rendered).map_err(|e| {
                ActionError::Invalid(format!("the rendered payload is not JSON: {e}"))
            })?,
            None => default_message(&invocation, &config),
        };
        let url = invocation.integration_url()?;
        if config.mode == Mode::Bot {
            if let (Some(body), Some(channel)) = (message.as_object_mut(), &config.channel) {
                body.entry("channel")
                    .or_insert_with(|| channel.clone().into());
            }
            let endpoint = format!("{}/chat.postMessage", url.trim_end_matches('/'));
            let response = http::Request::post(&endpoint)
                .header("content-type", "application/json; charset=utf-8")
                .body(serde_json::to_vec(&message).expect("JSON serialises"))
                .send()?;
            api_outcome(response)
        } else {
            let response = http::Request::post(url).json(&message).send()?;
            webhook_outcome(response)
        }
    }
}

/// The default Block Kit message: title, what happened, severity, and a text fallback for
/// notifications. Every piece of event data in mrkdwn is escaped: an author named `<!channel>`
/// must not ping a channel.
fn default_message(invocation: &Invocation, config: &Config) -> Value {
    let facts = invocation.facts();
    let esc = text::slack_mrkdwn;
    let title_template = config.title.as_deref().unwrap_or("Herald: ${event_type}");
    // The header block is plain text; the fallback is mrkdwn.
    let title = invocation.render_text(title_template, text::plain);
    let title_mrkdwn = invocation.render_text(title_template, esc);
    let (badge, label) = match config.severity {
        Severity::Error => (":red_circle:", "error"),
        Severity::Warn => (":large_yellow_circle:", "warning"),
        _ => (":large_blue_circle:", "info"),
    };
    let mut lines = vec![format!("*Event:* {}", esc(&facts.event_type))];
    if !facts.author.is_empty() {
        lines.push(format!("*Author:* {}", esc(&facts.author)));
    }
    lines.push(format!("*Where:* {}", esc(&facts.place)));
    if !facts.subject.1.is_empty() {
        lines.push(format!("*{}:* {}", facts.subject.0, esc(&facts.subject.1)));
    }
    if !facts.metric.is_empty() {
        lines.push(format!("*Metric:* {}", esc(&facts.metric)));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}}),
    ];
    if let Some(message) = &config.message {
        let message = invocation.render_text(message, esc);
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": message}}));
    }
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}));
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("{badge} Severity: {label}")}]}));
    let fallback = format!(
        "[{}] {title_mrkdwn}: {} in {}{}",
        label.to_uppercase(),
        esc(&facts.event_type),
        esc(&facts.place),
        if facts.subject.1.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc(&facts.subject.1))
        }
    );
    json!({"text": fallback, "blocks": blocks})
}

/// Slack's error codes that mean the message itself is wrong.
const INVALID: [&str; 4] = [
    "invalid_payload",
    "no_text",
    "invalid_blocks",
    "too_many_attachments",
];
/// Error codes that mean retrying later may work.
const TRANSIENT: [&str; 5] = [
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

fn classify_code(code: &str, response: &Response) -> ActionError {
    if INVALID.contains(&code) {
        ActionError::Invalid(format!("slack: {code}"))
    } else if TRANSIENT.contains(&code) || response.status == 429 || response.status >= 500 {
        ActionError::Transient {
            message: format!("slack: {code}"),
            retry_after: response.header("retry-after").map(str::to_owned),
        }
    } else {
        ActionError::Rejected(format!("slack: {code}"))
    }
}

/// Incoming webhooks answer `200 ok`, or an error code as plain text with a 4xx/5xx status.
fn webhook_outcome(response: Response) -> Result<Outcome, ActionError> {
    let text = response.text();
    let code = text.trim();
    if response.status == 200 && code == "ok" {
        return Ok(Outcome::delivered(200));
    }
    if (300..400).contains(&response.status) || code.is_empty() || response.status == 200 {
        // A redirect, an empty error, or a 200 that is not "ok": the generic classification.
        return response.classify().map(|r| Outcome::delivered(r.status));
    }
    Err(classify_code(code, &response))
}

/// The Web API answers 200 with `{"ok": true}` or `{"ok": false, "error": "<code>"}`.
fn api_outcome(response: Response) -> Result<Outcome, ActionError> {
    if response.status == 429 || response.status >= 500 {
        return Err(response
            .classify()
            .expect_err("429 and 5xx are not success"));
    }
    match response.json() {
        Some(body) if body["ok"] == true => Ok(Outcome::delivered(response.status)),
        Some(body) => {
            let code = body["error"]
                .as_str()
                .unwrap_or("unknown_error")
                .to_string();
            Err(classify_code(&code, &response))
        }
        None => response.classify().and_then(|r| {
            Err(ActionError::Rejected(format!(
                "slack: HTTP {} without a JSON answer",
                r.status
            )))
        }),
    }
}

herald_sdk::export_action!(Slack);
