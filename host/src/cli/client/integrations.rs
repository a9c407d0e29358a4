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
    /// Disable one by hand: its executions are held (not attempted) until it is enabled.
    Disable {
        /// Its name.
        name: String,
        /// Why (shown with its state).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Queue again every execution through it that failed in a window (a background task).
    Recover {
        /// Its name.
        name: String,
        /// From this instant (RFC 3339).
        #[arg(long)]
        since: String,
        /// Until this instant (RFC 3339, at most 14 days after --since); default now.
        #[arg(long)]
        until: Option<String>,
        /// Follow the task until it has finished.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Enable one again: what it held is delivered, oldest first (or discarded).
    Enable {
        /// Its name.
        name: String,
        /// Fail the held executions instead of delivering them.
        #[arg(long)]
        discard_held: bool,
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
            "health.state",
            "health.held",
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
            IntegrationsCommand::Disable {
                name,
                reason,
                entity,
            } => {
                let entity = client.entity(&entity).await?;
                let path = format!("/v1/entities/{entity}/integrations/{name}/disable");
                let body = json!({"reason": reason});
                (
                    client.call("POST", &path, Some(&body), &[]).await?,
                    Shape::Object,
                )
            }
            IntegrationsCommand::Enable {
                name,
                discard_held,
                entity,
            } => {
                let entity = client.entity(&entity).await?;
                let path = format!("/v1/entities/{entity}/integrations/{name}/enable");
                let held = if discard_held { "discard" } else { "deliver" };
                let answer = client
                    .call("POST", &path, Some(&json!({"held": held})), &[])
                    .await?;
                let released = answer["released"].as_u64().unwrap_or(0);
                let line = match (answer["changed"].as_bool(), discard_held) {
                    (Some(false), _) => format!("integration {name} was already enabled"),
                    (_, false) => format!(
                        "enabled integration {name}; {released} held executions are due again"
                    ),
                    (_, true) => {
                        format!("enabled integration {name}; {released} held executions discarded")
                    }
                };
                (answer, Shape::Done(line))
            }
            IntegrationsCommand::Recover {
                name,
                since,
                until,
                wait,
                entity,
            } => {
                let entity = client.entity(&entity).await?;
                let path = format!("/v1/entities/{entity}/integrations/{name}/recover");
                let mut body = json!({"since": since});
                if let Some(until) = until {
                    body["until"] = until.into();
                }
                super::tasks::start(client, &path, &body, wait).await?
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
