//! `herald automations …`: list, show, create, change, enable, disable and delete automations, and list an automation's executions.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::http::{Client, encode, read_json};
use super::output::Shape;

/// `herald automations …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum AutomationsCommand {
    /// List automations.
    List {
        /// Only those scoped to this project or registry.
        #[arg(long)]
        project: Option<String>,
        /// Only those scoped to this collection.
        #[arg(long)]
        collection: Option<String>,
    },
    /// Show one.
    Get {
        /// The automation id.
        id: String,
    },
    /// Create one from a JSON file.
    Create {
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Change one with a JSON patch file (any subset of the fields).
    Update {
        /// The automation id.
        id: String,
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Enable one.
    Enable {
        /// The automation id.
        id: String,
    },
    /// Disable one.
    Disable {
        /// The automation id.
        id: String,
    },
    /// Delete one (its executions stay).
    Delete {
        /// The automation id.
        id: String,
    },
    /// An automation's executions, newest first.
    Executions {
        /// The automation id.
        id: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// Runs one `herald automations` command.
pub(super) async fn run(
    client: &Client,
    command: AutomationsCommand,
) -> anyhow::Result<(Value, Shape)> {
    Ok({
        const COLUMNS: &[&str] = &[
            "id",
            "name",
            "enabled",
            "trigger_type",
            "action_type",
            "action_name",
            "queue",
            "scope.type",
        ];
        const EXECUTIONS: &[&str] = &["id", "status", "attempts", "created_at", "status_reason"];
        match command {
            AutomationsCommand::List {
                project,
                collection,
            } => {
                // Every page: a list is the whole list, however long.
                let mut query = vec!["limit=1000".to_string()];
                if let Some(project) = project {
                    query.push(format!("project={}", encode(&project)));
                }
                if let Some(collection) = collection {
                    query.push(format!("collection={}", encode(&collection)));
                }
                let path = format!("/v1/automations?{}", query.join("&"));
                (
                    client.call_all(&path, "automations").await?,
                    Shape::Table("automations", COLUMNS),
                )
            }
            AutomationsCommand::Get { id } => (
                client
                    .call("GET", &format!("/v1/automations/{id}"), None, &[])
                    .await?,
                Shape::Object,
            ),
            AutomationsCommand::Create { file } => {
                let body = read_json(&file)?;
                (
                    client
                        .call("POST", "/v1/automations", Some(&body), &[])
                        .await?,
                    Shape::Object,
                )
            }
            AutomationsCommand::Update { id, file } => {
                let body = read_json(&file)?;
                (
                    client
                        .call("PATCH", &format!("/v1/automations/{id}"), Some(&body), &[])
                        .await?,
                    Shape::Object,
                )
            }
            AutomationsCommand::Enable { id } => {
                let body = json!({"enabled": true});
                client
                    .call("PATCH", &format!("/v1/automations/{id}"), Some(&body), &[])
                    .await?;
                (Value::Null, Shape::Done(format!("enabled {id}")))
            }
            AutomationsCommand::Disable { id } => {
                let body = json!({"enabled": false});
                client
                    .call("PATCH", &format!("/v1/automations/{id}"), Some(&body), &[])
                    .await?;
                (Value::Null, Shape::Done(format!("disabled {id}")))
            }
            AutomationsCommand::Delete { id } => {
                client
                    .call("DELETE", &format!("/v1/automations/{id}"), None, &[])
                    .await?;
                (Value::Null, Shape::Done(format!("deleted automation {id}")))
            }
            AutomationsCommand::Executions { id, limit } => (
                client
                    .call(
                        "GET",
                        &format!("/v1/automations/{id}/executions?limit={limit}"),
                        None,
                        &[],
                    )
                    .await?,
                Shape::Table("executions", EXECUTIONS),
            ),
        }
    })
}
