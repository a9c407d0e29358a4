//! `herald events …`: send one event or a batch, show one with what it triggered, say why it
//! fired what it did (and not the rest).

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
        /// Makes a retried send return the same event id (default: a fresh key, which the
        /// command's own retries after a 503 reuse).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show an event and the executions it triggered.
    Get {
        /// The event id.
        id: String,
    },
    /// Why an event fired what it fired, and why not each other automation listening for its
    /// type (scope, filter, disabled, rate limit, cooldown, ...).
    Why {
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
            // Always a key: sent again after a 503 (its outcome unknown), the post counts once.
            let key = idempotency_key.unwrap_or_else(|| crate::auth::random_id("cli-"));
            let table = Shape::Table("events", &["event_id", "matched", "duplicate"]);
            match body {
                Value::Array(events) => {
                    let body = json!({"events": events});
                    let path = "/v1/events/batch";
                    (
                        client.call_idempotent("POST", path, &body, &key).await?,
                        table,
                    )
                }
                body if body.get("events").is_some() => {
                    let path = "/v1/events/batch";
                    (
                        client.call_idempotent("POST", path, &body, &key).await?,
                        table,
                    )
                }
                body => (
                    client
                        .call_idempotent("POST", "/v1/events", &body, &key)
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
        EventsCommand::Why { id } => (
            client
                .call("GET", &format!("/v1/events/{id}/explanation"), None, &[])
                .await?,
            Shape::Table("considered", &["verdict", "name", "reason"]),
        ),
    })
}
