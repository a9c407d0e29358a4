//! `herald agent`: claims items from launch queues and runs their jobs as local processes
//! (never through a shell), heartbeating while they run, stopping them when cancelled, and
//! reporting how they ended.

use std::collections::VecDeque;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;

use super::client::{Client, Connection};
use crate::launch::OUTPUT_TAIL_BYTES;

/// `herald agent` arguments.
#[derive(Debug, Args)]
pub(super) struct AgentArgs {
    /// A queue to take items from (repeat for several; they are polled in turn).
    #[arg(long = "queue", required = true)]
    queues: Vec<String>,
    /// Items run at once.
    #[arg(long, default_value_t = 1)]
    max_jobs: usize,
    /// The entity whose queues these are (default: the key's).
    #[arg(long)]
    entity: Option<String>,
    /// This agent's name, recorded on the items it holds (default: host name and process id).
    #[arg(long)]
    name: Option<String>,
    /// How long a claim holds without a heartbeat; heartbeats go three times per lease.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    lease: Duration,
    /// How long to wait between claims when every queue is empty.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    poll: Duration,
    /// After SIGTERM, how long a cancelled job's process has before SIGKILL.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    grace: Duration,
}

/// What every running item needs.
struct Agent {
    client: Client,
    entity: String,
    name: String,
    lease: Duration,
    grace: Duration,
    url: String,
}

pub(super) async fn run(connection: Connection, args: AgentArgs) -> anyhow::Result<ExitCode> {
    let url = connection.url().to_string();
    let client = Client::from_connection(connection)?;
    let entity = match &args.entity {
        Some(entity) => entity.clone(),
        None => client.call("GET", "/v1/me", None, &[]).await?["entity"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    if args.max_jobs == 0 {
        bail!("--max-jobs must be at least 1");
    }
    let lease_seconds = args.lease.as_secs().clamp(1, 3600);
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let agent = Arc::new(Agent {
        client,
        entity,
        name,
        lease: Duration::from_secs(lease_seconds),
        grace: args.grace,
        url,
    });
    eprintln!(
        "herald agent {} taking items from {} ({} at once)",
        agent.name,
        args.queues.join(", "),
        args.max_jobs
    );
    let mut running = JoinSet::new();
    let mut turn = 0;
    loop {
        while let Some(done) = running.try_join_next() {
            if let Err(error) = done {
                eprintln!("error: an item's task failed: {error}");
            }
        }
        if running.len() >= args.max_jobs {
            running.join_next().await;
            continue;
        }
        let mut claimed = None;
        for _ in 0..args.queues.len() {
            let queue = &args.queues[turn % args.queues.len()];
            turn += 1;
            let path = format!("/v1/entities/{}/queues/{queue}/claim", agent.entity);
            let body = json!({"agent": agent.name, "lease_seconds": lease_seconds});
            match agent.client.call("POST", &path, Some(&body), &[]).await {
                Ok(answer) if !answer["item"].is_null() => {
                    claimed = Some(answer);
                    break;
                }
                Ok(_) => {}
                Err(error) => eprintln!("error: claiming from {queue}: {error:#}"),
            }
        }
        match claimed {
            Some(answer) => {
                let agent = agent.clone();
                running.spawn(async move { agent.run_item(answer).await });
            }
            None => tokio::time::sleep(args.poll).await,
        }
    }
}

impl Agent {
    /// Runs one claimed item to its end and reports it; errors are printed, never fatal.
    async fn run_item(&self, claim: Value) {
        let id = claim["item"]["id"].as_str().unwrap_or_default().to_string();
        if let Err(error) = self.try_run_item(&id, &claim).await {
            eprintln!("error: item {id}: {error:#}");
        }
    }

    async fn try_run_item(&self, id: &str, claim: &Value) -> anyhow::Result<()> {
        let item = &claim["item"];
        let job = &claim["job"];
        let command: Vec<String> = serde_json::from_value(job["command"].clone())
            .context("the job's command is not a list of strings")?;
        let Some((program, arguments)) = command.split_first() else {
            bail!("the job has no command");
        };
        // The config file lives as long as this run; the item id is unique, so is the name.
        let config_path = std::env::temp_dir().join(format!("herald-run-{id}.json"));
        std::fs::write(&config_path, item["config"].to_string())
            .with_context(|| format!("writing {}", config_path.display()))?;
        let _remove = RemoveOnDrop(config_path.clone());
        let mut process = tokio::process::Command::new(program);
        process
            .args(arguments)
            // Only what the job declares and Herald's own variables: never the agent's key.
            .env_clear()
            .envs(
                job["env"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))),
            )
            .env("HERALD_RUN_ID", item["run_id"].as_str().unwrap_or_default())
            .env("HERALD_URL", &self.url)
            .env("HERALD_RUN_CONFIG", &config_path)
            .env(
                "HERALD_RUN_TOKEN",
                claim["run_token"].as_str().unwrap_or_default(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that stopping the run stops what it started too.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            // So that a command like `python3` resolves as it would in the agent's shell.
            process.env("PATH", path);
        }
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(OUTPUT_TAIL_BYTES)));
        let mut child = match process.spawn() {
            Ok(child) => child,
            Err(error) => {
                let message = format!("cannot start {program:?}: {error}");
                self.finish(id, 127, message).await?;
                return Ok(());
            }
        };
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(keep_tail(stdout, tail.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(keep_tail(stderr, tail.clone())));
        }
        self.heartbeat(id, true).await?;
        let every = self.lease / 3;
        let group = child.id();
        let status = loop {
            tokio::select! {
                status = child.wait() => break status?,
                _ = tokio::time::sleep(every) => {
                    match self.heartbeat(id, false).await {
                        Ok(true) => {
                            eprintln!("item {id} was cancelled: stopping its process");
                            break stop(&mut child, group, self.grace).await?;
                        }
                        Ok(false) => {}
                        // Another agent holds it now (this one was cut off past its lease):
                        // two processes must not run one item.
                        Err(error) if error.to_string().starts_with("409 ") => {
                            eprintln!("item {id}: lost its lease ({error:#}); stopping its process");
                            stop(&mut child, group, self.grace).await?;
                            return Ok(());
                        }
                        Err(error) => eprintln!("error: heartbeat of {id}: {error:#}"),
                    }
                }
            }
        };
        // The run is over: whatever it left running in its group goes too, and output still
        // held open by such a process is not waited for.
        signal_group(group, libc::SIGKILL);
        for reader in readers {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        let output = {
            let tail = tail.lock().expect("not poisoned");
            String::from_utf8_lossy(&tail.iter().copied().collect::<Vec<u8>>()).into_owned()
        };
        self.finish(id, exit_code(status), output).await
    }

    /// Extends the lease; true when the item was cancelled.
    async fn heartbeat(&self, id: &str, started: bool) -> anyhow::Result<bool> {
        let path = format!("/v1/entities/{}/items/{id}/heartbeat", self.entity);
        let body =
            json!({"agent": self.name, "started": started, "lease_seconds": self.lease.as_secs()});
        let answer = self.client.call("POST", &path, Some(&body), &[]).await?;
        Ok(answer["status"] == "cancelled")
    }

    async fn finish(&self, id: &str, exit_code: i32, output: String) -> anyhow::Result<()> {
        let path = format!("/v1/entities/{}/items/{id}/finish", self.entity);
        let body = json!({"agent": self.name, "exit_code": exit_code, "output": output});
        let answer = self.client.call("POST", &path, Some(&body), &[]).await?;
        eprintln!(
            "item {id}: {} (exit code {exit_code})",
            answer["status"].as_str().unwrap_or("?")
        );
        Ok(())
    }
}

/// Reads a stream to its end, keeping its last [`OUTPUT_TAIL_BYTES`] (both streams share one
/// tail, interleaved as they arrive).
async fn keep_tail(mut stream: impl AsyncRead + Unpin, tail: Arc<Mutex<VecDeque<u8>>>) {
    let mut buffer = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let mut tail = tail.lock().expect("not poisoned");
        tail.extend(&buffer[..n]);
        let excess = tail.len().saturating_sub(OUTPUT_TAIL_BYTES);
        tail.drain(..excess);
    }
}

/// SIGTERM to the run's process group, then SIGKILL after `grace`; returns how the process
/// ended.
async fn stop(
    child: &mut tokio::process::Child,
    group: Option<u32>,
    grace: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    signal_group(group, libc::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            signal_group(group, libc::SIGKILL);
            Ok(child.wait().await?)
        }
    }
}

/// Sends `signal` to the process group the run's process leads (its id is the group's).
fn signal_group(group: Option<u32>, signal: libc::c_int) {
    if let Some(group) = group {
        // SAFETY: `kill` with a negative pid signals the process group this agent created for
        // the run (`process_group(0)`); it reads no memory of ours.
        unsafe {
            libc::kill(-(group as libc::pid_t), signal);
        }
    }
}

/// The exit code, or 128 + the signal's number for a process a signal ended.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Deletes a file when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "agent".into())
}
