//! `herald jobs …` and `herald queues …`: launch jobs, queues and their items, over the API.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::http::{Client, EntityArg, encode, read_json};
use super::output::Shape;

const JOB_COLUMNS: &[&str] = &["name", "version", "command", "description", "created_at"];
const ITEM_COLUMNS: &[&str] = &[
    "id",
    "job",
    "status",
    "priority",
    "attempts",
    "agent",
    "exit_code",
    "created_at",
];

/// `herald jobs …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum JobsCommand {
    /// Save a job from a JSON file (`{"command": [...], "env": {}, "config": {}}`): a new version.
    Put {
        /// The job's name.
        name: String,
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// List jobs (each one's latest version).
    List(EntityArg),
    /// Show a job: `name` (the latest version) or `name@version`.
    Get {
        /// The job.
        job: String,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// List a job's versions.
    Versions {
        /// The job's name.
        name: String,
        #[command(flatten)]
        entity: EntityArg,
    },
}

/// `herald queues …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum QueuesCommand {
    /// Create a queue.
    Create {
        /// Its name.
        name: String,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// List queues.
    List(EntityArg),
    /// Put a run of a job on a queue.
    Enqueue {
        /// The queue.
        queue: String,
        /// The job: `name` or `name@version`.
        job: String,
        /// The project the run belongs to.
        #[arg(long)]
        project: String,
        /// Higher runs first.
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// A JSON file of config overrides.
        #[arg(long)]
        overrides: Option<PathBuf>,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// List a queue's items, newest first.
    Items {
        /// The queue.
        queue: String,
        /// Only items in this status (queued, claimed, running, finished, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// Only items of this job.
        #[arg(long)]
        job: Option<String>,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Show one item, with its output.
    Item {
        /// The item id.
        id: String,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Print an item's output (the last 64 KiB are kept); with `-f`, follow it until the item
    /// ends.
    Logs {
        /// The item id.
        id: String,
        /// Keep printing output as the job writes it, until the item ends.
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Cancel an item (a running process is stopped by its agent).
    Cancel {
        /// The item id.
        id: String,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// List the agents that claim from the entity's queues: their queues, slots in use, and
    /// when each was last seen.
    Agents(EntityArg),
}

/// Runs a `jobs` command.
pub(super) async fn jobs(client: &Client, command: JobsCommand) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        JobsCommand::Put { name, file, entity } => {
            let entity = client.entity(&entity).await?;
            let body = read_json(&file)?;
            let path = format!("/v1/entities/{entity}/jobs/{}", encode(&name));
            (
                client.call("PUT", &path, Some(&body), &[]).await?,
                Shape::Object,
            )
        }
        JobsCommand::List(entity) => {
            let entity = client.entity(&entity).await?;
            let path = format!("/v1/entities/{entity}/jobs");
            (
                client.call("GET", &path, None, &[]).await?,
                Shape::Table("jobs", JOB_COLUMNS),
            )
        }
        JobsCommand::Get { job, entity } => {
            let entity = client.entity(&entity).await?;
            let path = format!("/v1/entities/{entity}/jobs/{}", encode(&job));
            (client.call("GET", &path, None, &[]).await?, Shape::Object)
        }
        JobsCommand::Versions { name, entity } => {
            let entity = client.entity(&entity).await?;
            let path = format!("/v1/entities/{entity}/jobs/{}/versions", encode(&name));
            (
                client.call("GET", &path, None, &[]).await?,
                Shape::Table("jobs", JOB_COLUMNS),
            )
        }
    })
}

/// Runs a `queues` command.
pub(super) async fn queues(
    client: &Client,
    command: QueuesCommand,
) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        QueuesCommand::Create { name, entity } => {
            let entity = client.entity(&entity).await?;
            let path = format!("/v1/entities/{entity}/queues");
            let body = json!({ "name": name });
            (
                client.call("POST", &path, Some(&body), &[]).await?,
                Shape::Object,
            )
        }
        QueuesCommand::Agents(entity) => {
            let entity = client.entity(&entity).await?;
            let path = format!("/v1/entities/{entity}/agents");
            (
                client.call("GET", &path, None, &[]).await?,
                Shape::Table(
                    "agents",
                    &["name", "queues", "slots", "slots_in_use", "last_seen_at"],
                ),
            )
        }
        QueuesCommand::List(entity) => {
            let entity = client.entity(&entity).await?;
            let path = format!("/v1/entities/{entity}/queues");
            (
                client.call("GET", &path, None, &[]).await?,
                Shape::Table("queues", &["name", "created_at"]),
            )
        }
        QueuesCommand::Enqueue {
            queue,
            job,
            project,
            priority,
            overrides,
            entity,
        } => {
            let entity = client.entity(&entity).await?;
            let overrides = match overrides {
                Some(file) => read_json(&file)?,
                None => json!({}),
            };
            let body = json!({"job": job, "project": project, "priority": priority, "overrides": overrides});
            let path = format!("/v1/entities/{entity}/queues/{}/items", encode(&queue));
            (
                client.call("POST", &path, Some(&body), &[]).await?,
                Shape::Object,
            )
        }
        QueuesCommand::Items {
            queue,
            status,
            job,
            entity,
        } => {
            let entity = client.entity(&entity).await?;
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(format!("status={}", encode(&status)));
            }
            if let Some(job) = job {
                query.push(format!("job={}", encode(&job)));
            }
            let path = format!(
                "/v1/entities/{entity}/queues/{}/items{}{}",
                encode(&queue),
                if query.is_empty() { "" } else { "?" },
                query.join("&")
            );
            (
                client.call("GET", &path, None, &[]).await?,
                Shape::Table("items", ITEM_COLUMNS),
            )
        }
        QueuesCommand::Item { id, entity } => {
            let entity = client.entity(&entity).await?;
            let path = format!("/v1/entities/{entity}/items/{}", encode(&id));
            (client.call("GET", &path, None, &[]).await?, Shape::Object)
        }
        QueuesCommand::Logs { id, follow, entity } => {
            let entity = client.entity(&entity).await?;
            logs(client, &entity, &id, follow).await?;
            (Value::Null, Shape::Printed)
        }
        QueuesCommand::Cancel { id, entity } => {
            let entity = client.entity(&entity).await?;
            let path = format!("/v1/entities/{entity}/items/{}/cancel", encode(&id));
            (client.call("POST", &path, None, &[]).await?, Shape::Object)
        }
    })
}

/// How often `logs -f` asks for more.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Prints an item's output from its start (as far as it is kept), then, when following, what
/// comes until the item ends. A cut is said where it is, on standard error.
async fn logs(client: &Client, entity: &str, id: &str, follow: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let path = format!("/v1/entities/{entity}/items/{}/output", encode(id));
    let mut offset = 0u64;
    loop {
        let answer = client
            .call("GET", &format!("{path}?offset={offset}"), None, &[])
            .await?;
        let start = answer["start"].as_u64().unwrap_or(offset);
        if start > offset {
            eprintln!(
                "[herald: {} bytes of output were cut here; only the last 64 KiB are kept]",
                start - offset
            );
        }
        let text = answer["text"].as_str().unwrap_or_default();
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
        drop(stdout);
        offset = answer["output_bytes"].as_u64().unwrap_or(offset);
        let ended = matches!(
            answer["status"].as_str(),
            Some("finished" | "failed" | "cancelled")
        );
        if !follow || ended {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}
