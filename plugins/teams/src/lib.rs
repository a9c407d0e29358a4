//! The `teams` action: a Microsoft Teams message, as a legacy connector MessageCard or, for
//! Workflows webhooks, an Adaptive Card (schema 1.4) inside a `message` attachment.

use herald_sdk::http::Response;
use herald_sdk::{
    Action, ActionError, EventFacts, Invocation, Outcome, PluginInfo, Severity, http, text,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The action config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// `messagecard` (a legacy Office 365 connector) or `adaptive` (a Workflows webhook).
    #[serde(default)]
    format: Format,
    /// The card's title; `${variables}` are filled in.
    #[serde(default)]
    title: Option<String>,
    /// Extra text under the title; `${variables}` are filled in, escaped.
    #[serde(default)]
    message: Option<String>,
    /// How serious the message is: `info`, `warn` or `error`.
    #[serde(default)]
    severity: Severity,
}

/// The card format the receiver takes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    #[default]
    Messagecard,
    Adaptive,
}

struct Teams;

impl Action for Teams {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "teams",
            env!("CARGO_PKG_VERSION"),
            "Posts a card to Microsoft Teams: a connector MessageCard or a Workflows Adaptive Card.",
        )
        .integration_kinds(&["teams"])
    }

    fn execute(invocation: Invocation, config: Config) -> Result<Outcome, ActionError> {
        let body = match invocation.payload() {
            Some(rendered) => rendered.as_bytes().to_vec(),
            None => {
                let facts = invocation.facts();
                let card = match config.format {
                    Format::Adaptive => adaptive_card(&invocation, &facts, &config),
                    Format::Messagecard => message_card(&invocation, &facts, &config),
                };
                serde_json::to_vec(&card).expect("JSON serialises")
            }
        };
        let response = http::Request::post(invocation.integration_url()?)
            .json_bytes(body)
            .send()?;
        outcome(response)
    }
}

/// The title with its `${variables}` filled in through `escape`.
fn title(invocation: &Invocation, config: &Config, escape: fn(&str) -> String) -> String {
    invocation.render_text(
        config.title.as_deref().unwrap_or("Herald: ${event_type}"),
        escape,
    )
}

/// The message with its `${variables}` filled in, escaped.
fn message(invocation: &Invocation, config: &Config) -> Option<String> {
    let message = config.message.as_deref()?;
    Some(invocation.render_text(message, text::teams_markdown))
}

/// The facts, every piece of event data escaped for Teams Markdown.
fn fact_list(facts: &EventFacts, config: &Config) -> Vec<(String, String)> {
    let esc = text::teams_markdown;
    // The event type is one of Herald's own names, not client data.
    let mut list = vec![("Event type".to_string(), facts.event_type.clone())];
    if !facts.author.is_empty() {
        list.push(("Author".into(), esc(&facts.author)));
    }
    list.push(("Where".into(), esc(&facts.place)));
    if !facts.subject.1.is_empty() {
        list.push((facts.subject.0.clone(), esc(&facts.subject.1)));
    }
    if !facts.metric.is_empty() {
        list.push(("Metric".into(), esc(&facts.metric)));
    }
    list.push(("Severity".into(), config.severity.as_str().to_string()));
    list
}

/// The legacy connector card (the reference documents' format).
fn message_card(invocation: &Invocation, facts: &EventFacts, config: &Config) -> Value {
    let colour = match config.severity {
        Severity::Error => "D13438",
        Severity::Warn => "FFB900",
        _ => "0078D7",
    };
    let summary = title(invocation, config, text::plain);
    let title = title(invocation, config, text::teams_markdown);
    let facts: Vec<Value> = fact_list(facts, config)
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let mut section = json!({"activityTitle": title, "facts": facts, "markdown": true});
    if let Some(message) = message(invocation, config) {
        section["text"] = message.into();
    }
    json!({
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "summary": summary,
        "themeColor": colour,
        "title": title,
        "sections": [section]
    })
}

/// A Workflows message: an Adaptive Card 1.4 as the one attachment.
fn adaptive_card(invocation: &Invocation, facts: &EventFacts, config: &Config) -> Value {
    let colour = match config.severity {
        Severity::Error => "Attention",
        Severity::Warn => "Warning",
        _ => "Accent",
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": title(invocation, config, text::teams_markdown), "weight": "Bolder", "size": "Medium", "color": colour, "wrap": true}),
    ];
    if let Some(message) = message(invocation, config) {
        body.push(json!({"type": "TextBlock", "text": message, "wrap": true}));
    }
    let facts: Vec<Value> = fact_list(facts, config)
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": value}))
        .collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body
            }
        }]
    })
}

/// Connectors answer `200` with body `1`; a `200` whose body reports an error (e.g. "HTTP error
/// 429") is not a success. Workflows answer `202`.
fn outcome(response: Response) -> Result<Outcome, ActionError> {
    match response.status {
        202 => Ok(Outcome::delivered(202)),
        200 => {
            let text = response.text();
            let body = text.trim();
            if body == "1" || body.is_empty() {
                Ok(Outcome::delivered(200))
            } else if body.contains("429") {
                Err(ActionError::Transient {
                    message: format!("teams: {body}"),
                    retry_after: response.header("retry-after").map(str::to_owned),
                })
            } else {
                Err(ActionError::Rejected(format!("teams: {body}")))
            }
        }
        _ => response.classify().map(|r| Outcome::delivered(r.status)),
    }
}

herald_sdk::export_action!(Teams);
