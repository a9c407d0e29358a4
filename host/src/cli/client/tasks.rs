//! `herald tasks …`, and starting one: `herald integrations recover`, `herald executions
//! retry-many`. Each start sends a fresh `Idempotency-Key` (one per command: the client's own
//! retries of a request name the same task) and, with `--wait`, follows the task to its end.

use std::time::Duration;

use clap::Subcommand;
use serde_json::Value;

use super::http::Client;
use super::output::Shape;

/// `herald tasks …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum TasksCommand {
    /// List the entity's tasks, newest first.
    List,
    /// Show one, with how far it got.
    Get {
        /// The task id.
        id: String,
    },
}

/// The columns a task shows in a table.
pub(super) const COLUMNS: &[&str] = &["id", "kind", "status", "scanned", "requeued", "created_at"];

/// Runs one `herald tasks` command.
pub(super) async fn run(client: &Client, command: TasksCommand) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        TasksCommand::List => (
            client.call("GET", "/v1/tasks", None, &[]).await?,
            Shape::Table("tasks", COLUMNS),
        ),
        TasksCommand::Get { id } => (
            client
                .call("GET", &format!("/v1/tasks/{id}"), None, &[])
                .await?,
            Shape::Object,
        ),
    })
}

/// Starts a task with `POST path body`; with `wait`, follows it until it has finished.
pub(super) async fn start(
    client: &Client,
    path: &str,
    body: &Value,
    wait: bool,
) -> anyhow::Result<(Value, Shape)> {
    let key = crate::auth::random_id("cli-");
    let mut task = client.call_idempotent("POST", path, body, &key).await?;
    while wait && task["status"] == "running" {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let id = task["id"].as_str().unwrap_or_default();
        task = client
            .call("GET", &format!("/v1/tasks/{id}"), None, &[])
            .await?;
    }
    let line = format!(
        "task {} {}: {} executions queued again",
        task["id"].as_str().unwrap_or_default(),
        task["status"].as_str().unwrap_or_default(),
        task["requeued"],
    );
    Ok((task, Shape::Done(line)))
}
