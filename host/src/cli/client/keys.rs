//! `herald keys …`: an entity's API keys and agent keys.

use clap::Subcommand;
use serde_json::{Value, json};

use super::http::{Client, EntityArg};
use super::output::Shape;

/// `herald keys …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum KeysCommand {
    /// List keys.
    List(EntityArg),
    /// Create a key (printed once, or written to `--key-file`).
    Create {
        /// `admin`, `member` or `agent`.
        #[arg(long, default_value = "member")]
        role: String,
        /// A label to recognise it by.
        #[arg(long, default_value = "")]
        label: String,
        /// For an agent key: a queue it may claim from (repeat for several).
        #[arg(long = "queue")]
        queues: Vec<String>,
        /// Write the key to this new file (mode 0600) instead of printing it, e.g. for
        /// `herald agent --key-file`.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Delete a key.
    Delete {
        /// The key's id.
        id: String,
        #[command(flatten)]
        entity: EntityArg,
    },
}

/// Runs one `herald keys` command.
pub(super) async fn run(client: &Client, command: KeysCommand) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        KeysCommand::List(entity) => {
            let entity = client.entity(&entity).await?;
            (
                client
                    .call("GET", &format!("/v1/entities/{entity}/keys"), None, &[])
                    .await?,
                Shape::Table("keys", &["id", "role", "label", "queues", "created_at"]),
            )
        }
        KeysCommand::Create {
            role,
            label,
            queues,
            key_file,
            entity,
        } => {
            let entity = client.entity(&entity).await?;
            let body = json!({"role": role, "label": label, "queues": queues});
            let mut created = client
                .call(
                    "POST",
                    &format!("/v1/entities/{entity}/keys"),
                    Some(&body),
                    &[],
                )
                .await?;
            match key_file {
                Some(path) => {
                    let key = created["key"].as_str().unwrap_or_default().to_string();
                    crate::cli::keyfile::write_new(&path, &key)?;
                    created["key"] = Value::String(format!("(written to {})", path.display()));
                    (created, Shape::Object)
                }
                None => (created, Shape::Object),
            }
        }
        KeysCommand::Delete { id, entity } => {
            let entity = client.entity(&entity).await?;
            client
                .call(
                    "DELETE",
                    &format!("/v1/entities/{entity}/keys/{id}"),
                    None,
                    &[],
                )
                .await?;
            (Value::Null, Shape::Done(format!("deleted key {id}")))
        }
    })
}
