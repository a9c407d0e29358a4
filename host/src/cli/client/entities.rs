//! `herald entities …`: creating an entity (operators).

use clap::Subcommand;
use serde_json::{Value, json};

use super::http::Client;
use super::output::Shape;

/// `herald entities …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum EntitiesCommand {
    /// Create an entity; prints its first admin key once.
    Create {
        /// The entity's name.
        name: String,
    },
}

/// Runs one `herald entities` command.
pub(super) async fn run(
    client: &Client,
    command: EntitiesCommand,
) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        EntitiesCommand::Create { name } => (
            client
                .call("POST", "/v1/entities", Some(&json!({"name": name})), &[])
                .await?,
            Shape::Object,
        ),
    })
}
