//! `herald executions …`: one execution with its attempts.

use clap::Subcommand;
use serde_json::Value;

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
    })
}
