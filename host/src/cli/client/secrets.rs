//! `herald secrets …`: an entity's secrets, by name (values are written, never read).

use clap::Subcommand;
use serde_json::{Value, json};

use super::http::{Client, EntityArg};
use super::output::Shape;

/// `herald secrets …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum SecretsCommand {
    /// List secret names (never values).
    List(EntityArg),
    /// Set a secret; the value is read from standard input unless --value is given.
    Set {
        /// Its name.
        name: String,
        /// The value (prefer standard input: arguments show in process lists).
        #[arg(long)]
        value: Option<String>,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Rotate a secret: a new value (made by Herald and printed once, unless --value-stdin),
    /// while the old one keeps signing for the overlap.
    Rotate {
        /// Its name.
        name: String,
        /// How long the old value keeps signing (e.g. `24h`, `30m`; at most 7 days; `0s` ends
        /// it at once).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        overlap: std::time::Duration,
        /// Read the new value from standard input instead of having Herald make one.
        #[arg(long)]
        value_stdin: bool,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Delete a secret.
    Delete {
        /// Its name.
        name: String,
        #[command(flatten)]
        entity: EntityArg,
    },
}

/// Runs one `herald secrets` command.
pub(super) async fn run(
    client: &Client,
    command: SecretsCommand,
) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        SecretsCommand::List(entity) => {
            let entity = client.entity(&entity).await?;
            (
                client
                    .call("GET", &format!("/v1/entities/{entity}/secrets"), None, &[])
                    .await?,
                Shape::Table("secrets", &["name", "created_at", "updated_at"]),
            )
        }
        SecretsCommand::Set {
            name,
            value,
            entity,
        } => {
            let entity = client.entity(&entity).await?;
            let value = match value {
                Some(value) => value,
                None => std::io::read_to_string(std::io::stdin())?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            };
            let body = json!({"value": value});
            let result = client
                .call(
                    "PUT",
                    &format!("/v1/entities/{entity}/secrets/{name}"),
                    Some(&body),
                    &[],
                )
                .await?;
            let verb = if result["created"] == true {
                "created"
            } else {
                "replaced"
            };
            (result, Shape::Done(format!("{verb} secret {name}")))
        }
        SecretsCommand::Rotate {
            name,
            overlap,
            value_stdin,
            entity,
        } => {
            let entity = client.entity(&entity).await?;
            let mut body = json!({"overlap_seconds": overlap.as_secs()});
            if value_stdin {
                let value = std::io::read_to_string(std::io::stdin())?;
                body["value"] = json!(value.trim_end_matches(['\n', '\r']));
            }
            let path = format!("/v1/entities/{entity}/secrets/{name}/rotate");
            let result = client.call("POST", &path, Some(&body), &[]).await?;
            let until = result["previous_valid_until"].as_str().unwrap_or_default();
            let mut done = format!("rotated secret {name}; the old value signs too until {until}");
            if let Some(value) = result["value"].as_str() {
                done.push_str(&format!("\nnew value (shown once): {value}"));
            }
            (result, Shape::Done(done))
        }
        SecretsCommand::Delete { name, entity } => {
            let entity = client.entity(&entity).await?;
            client
                .call(
                    "DELETE",
                    &format!("/v1/entities/{entity}/secrets/{name}"),
                    None,
                    &[],
                )
                .await?;
            (Value::Null, Shape::Done(format!("deleted secret {name}")))
        }
    })
}
