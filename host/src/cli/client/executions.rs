//! `herald executions …`: one execution with its attempts, retrying one, and retrying many (a
//! background task).

use clap::Subcommand;
use serde_json::{Value, json};

use super::http::Client;
use super::output::Shape;

/// `herald executions …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum ExecutionsCommand {
    /// Show one execution with its attempts.
    Get {
        /// The execution id.
        id: String,
    },
    /// Run a finished execution again.
    Retry {
        /// The execution id.
        id: String,
    },
    /// Run again every finished execution a filter chooses, in a background task.
    RetryMany {
        /// From this instant (RFC 3339).
        #[arg(long)]
        since: String,
        /// Until this instant (RFC 3339, at most 14 days after --since); default now.
        #[arg(long)]
        until: Option<String>,
        /// Only executions of this automation (its id).
        #[arg(long)]
        automation: Option<String>,
        /// Only executions in these states (comma-separated: failed, succeeded, skipped);
        /// default failed.
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only executions whose last answer was 4xx, 5xx, or none.
        #[arg(long)]
        code_class: Option<String>,
        /// Follow the task until it has finished.
        #[arg(long)]
        wait: bool,
    },
}

/// Runs one `herald executions` command.
pub(super) async fn run(
    client: &Client,
    command: ExecutionsCommand,
) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        ExecutionsCommand::Get { id } => (
            client
                .call("GET", &format!("/v1/executions/{id}"), None, &[])
                .await?,
            Shape::Object,
        ),
        ExecutionsCommand::Retry { id } => (
            client
                .call("POST", &format!("/v1/executions/{id}/retry"), None, &[])
                .await?,
            Shape::Object,
        ),
        ExecutionsCommand::RetryMany {
            since,
            until,
            automation,
            status,
            code_class,
            wait,
        } => {
            let mut body = json!({"since": since});
            for (field, value) in [
                ("until", until),
                ("automation", automation),
                ("code_class", code_class),
            ] {
                if let Some(value) = value {
                    body[field] = value.into();
                }
            }
            if !status.is_empty() {
                body["statuses"] = status.into();
            }
            super::tasks::start(client, "/v1/executions/retry", &body, wait).await?
        }
    })
}
