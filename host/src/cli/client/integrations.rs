//! `herald integrations …`: an entity's integrations, and sending a test through one.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::http::{Client, EntityArg, read_json};
use super::output::Shape;

/// `herald integrations …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum IntegrationsCommand {
    /// List integrations.
    List(EntityArg),
    /// Show one.
    Get {
        /// Its name.
        name: String,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Create one from a JSON file.
    Create {
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Change one with a JSON patch file.
    Update {
        /// Its name.
        name: String,
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Delete one.
    Delete {
        /// Its name.
        name: String,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Send a test payload through it, signed like a delivery, and show the receiver's answer.
    Test {
        /// Its name.
        name: String,
        /// A JSON file with the payload template (`-` for standard input); default
        /// `{"test": true}`.
        #[arg(long, short)]
        payload: Option<PathBuf>,
        #[command(flatten)]
        entity: EntityArg,
    },
}

/// Runs one `herald integrations` command.
pub(super) async fn run(
    client: &Client,
    command: IntegrationsCommand,
) -> anyhow::Result<(Value, Shape)> {
    Ok({
        const COLUMNS: &[&str] = &[
            "name",
            "kind",
            "url",
            "access_token",
            "signing_secret",
            "secrets",
        ];
        match command {
            IntegrationsCommand::List(entity) => {
                let entity = client.entity(&entity).await?;
                (
                    client
                        .call(
                            "GET",
                            &format!("/v1/entities/{entity}/integrations"),
                            None,
                            &[],
                        )
                        .await?,
                    Shape::Table("integrations", COLUMNS),
                )
            }
            IntegrationsCommand::Get { name, entity } => {
                let entity = client.entity(&entity).await?;
                (
                    client
                        .call(
                            "GET",
                            &format!("/v1/entities/{entity}/integrations/{name}"),
                            None,
                            &[],
                        )
                        .await?,
                    Shape::Object,
                )
            }
            IntegrationsCommand::Create { file, entity } => {
                let entity = client.entity(&entity).await?;
                let body = read_json(&file)?;
                (
                    client
                        .call(
                            "POST",
                            &format!("/v1/entities/{entity}/integrations"),
                            Some(&body),
                            &[],
                        )
                        .await?,
                    Shape::Object,
                )
            }
            IntegrationsCommand::Test {
                name,
                payload,
                entity,
            } => {
                let entity = client.entity(&entity).await?;
                let body = match payload {
                    Some(file) => json!({"payload": read_json(&file)?}),
                    None => json!({}),
                };
                let path = format!("/v1/entities/{entity}/integrations/{name}/test");
                (
                    client.call("POST", &path, Some(&body), &[]).await?,
                    Shape::Object,
                )
            }
            IntegrationsCommand::Update { name, file, entity } => {
                let entity = client.entity(&entity).await?;
                let body = read_json(&file)?;
                let path = format!("/v1/entities/{entity}/integrations/{name}");
                (
                    client.call("PATCH", &path, Some(&body), &[]).await?,
                    Shape::Object,
                )
            }
            IntegrationsCommand::Delete { name, entity } => {
                let entity = client.entity(&entity).await?;
                client
                    .call(
                        "DELETE",
                        &format!("/v1/entities/{entity}/integrations/{name}"),
                        None,
                        &[],
                    )
                    .await?;
                (
                    Value::Null,
                    Shape::Done(format!("deleted integration {name}")),
                )
            }
        }
    })
}
