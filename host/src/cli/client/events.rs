//! `herald events …`: send one event or a batch, show one with what it triggered.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::http::{Client, read_json};
use super::output::Shape;

/// `herald events …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum EventsCommand {
    /// Send an event (a JSON object) or a batch (`{"events": [...]}` or an array).
    Send {
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
        /// Makes a retried send return the same event id.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show an event and the executions it triggered.
    Get {
        /// The event id.
        id: String,
    },
}

/// Runs one `herald events` command.
pub(super) async fn run(client: &Client, command: EventsCommand) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        EventsCommand::Send {
            file,
            idempotency_key,
        } => {
            let body = read_json(&file)?;
            let headers: Vec<(&str, &str)> = idempotency_key
                .as_deref()
                .map(|k| vec![("idempotency-key", k)])
                .unwrap_or_default();
            match body {
                Value::Array(events) => (
                    client
                        .call(
                            "POST",
                            "/v1/events/batch",
                            Some(&json!({"events": events})),
                            &headers,
                        )
                        .await?,
                    Shape::Table("events", &["event_id", "matched", "duplicate"]),
                ),
                body if body.get("events").is_some() => (
                    client
                        .call("POST", "/v1/events/batch", Some(&body), &headers)
                        .await?,
                    Shape::Table("events", &["event_id", "matched", "duplicate"]),
                ),
                body => (
                    client
                        .call("POST", "/v1/events", Some(&body), &headers)
                        .await?,
                    Shape::Object,
                ),
            }
        }
        EventsCommand::Get { id } => (
            client
                .call("GET", &format!("/v1/events/{id}"), None, &[])
                .await?,
            Shape::Object,
        ),
    })
}
