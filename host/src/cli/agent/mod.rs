//! `herald agent`: claims items from launch queues and runs their jobs as local processes
//! (never through a shell), heartbeating while they run, stopping them when cancelled, and
//! reporting how they ended. Its key comes from `HERALD_KEY` or `--key-file`, never the command
//! line; how a job is kept away from it is `process.rs`; how its output reaches the server while
//! it runs is `output.rs`.

mod output;
mod process;

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::client::{Client, Connection};
use crate::launch::OutputChunk;
use output::Output;
pub(crate) use process::reap;
use process::{Reaper, RunAs, RunDir, die_with_parent, exit_code, signal_group, stop};

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
    /// Read the API key (an agent key: `herald keys create --role agent --queue Q --key-file F`)
    /// from this file, which only its owner may read. Without it, `HERALD_KEY`. Never `--key`:
    /// every local user can read a process's arguments.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Variables of the agent's own environment that jobs get too (comma-separated), besides
    /// the job's `env` and Herald's `HERALD_*`; nothing else of it reaches them.
    #[arg(long, value_delimiter = ',', default_value = "PATH,HOME")]
    pass_env: Vec<String>,
    /// Run jobs as this user (the agent must be root): then a job cannot read the agent's
    /// memory, environment or key file at all. `HOME` is that user's.
    #[arg(long)]
    run_as: Option<String>,
    /// Where each run's private directory is made (default: the system's temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// How often a running job's output is sent.
const OUTPUT_EVERY: Duration = Duration::from_secs(1);

/// What every running item needs.
struct Agent {
    client: Client,
    /// The agent's key, redacted from jobs' output (a job should never see it, but if it does,
    /// members reading the output must not).
    key: String,
    entity: String,
    name: String,
    lease: Duration,
    grace: Duration,
    url: String,
    pass_env: Vec<(String, String)>,
    run_as: Option<RunAs>,
    work_dir: PathBuf,
}

pub(super) async fn run(connection: Connection, args: AgentArgs) -> anyhow::Result<ExitCode> {
    process::protect_self()?;
    if std::env::args().any(|a| a == "--key" || a.starts_with("--key=")) {
        bail!(
            "herald agent does not take --key: every local user can read a process's arguments \
             (/proc/<pid>/cmdline). Give the key in HERALD_KEY or a file only you can read \
             (--key-file)"
        );
    }
    let connection = match &args.key_file {
        Some(path) => connection.with_key(super::keyfile::read(path)?),
        None => connection,
    };
    let run_as = args.run_as.as_deref().map(RunAs::lookup).transpose()?;
    let pass_env = args
        .pass_env
        .iter()
        .filter(|name| !name.is_empty() && !name.starts_with("HERALD_"))
        .filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value)))
        .collect();
    let url = connection.url().to_string();
    let key = connection.key().unwrap_or_default().to_string();
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
        key,
        entity,
        name,
        lease: Duration::from_secs(lease_seconds),
        grace: args.grace,
        url,
        pass_env,
        run_as,
        work_dir: args.work_dir.clone().unwrap_or_else(std::env::temp_dir),
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
            let body = json!({"agent": agent.name, "lease_seconds": lease_seconds,
                              "slots": args.max_jobs});
            match agent.claim(&path, &body).await {
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
        let lease = Lease {
            id: id.to_string(),
            token: claim["lease_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            renewed: Mutex::new(Instant::now()),
        };
        let command: Vec<String> = serde_json::from_value(job["command"].clone())
            .context("the job's command is not a list of strings")?;
        let Some((program, arguments)) = command.split_first() else {
            bail!("the job has no command");
        };
        // The run's private directory lives as long as this run.
        let run_dir = match RunDir::create(
            &self.work_dir,
            id,
            &item["config"].to_string(),
            self.run_as.as_ref(),
        ) {
            Ok(dir) => dir,
            Err(error) => {
                self.finish(&lease, 126, message(format!("{error:#}")))
                    .await?;
                return Ok(());
            }
        };
        let mut process = tokio::process::Command::new(program);
        process
            .args(arguments)
            // Only the variables named by --pass-env, the job's own and Herald's: never the
            // agent's key.
            .env_clear()
            .envs(self.pass_env.iter().map(|(k, v)| (k, v)))
            .envs(
                job["env"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))),
            )
            .env("HERALD_RUN_ID", item["run_id"].as_str().unwrap_or_default())
            .env("HERALD_URL", &self.url)
            .env("HERALD_RUN_CONFIG", &run_dir.config)
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
        if let Some(user) = &self.run_as {
            process.uid(user.uid).gid(user.gid).env("HOME", &user.home);
        }
        die_with_parent(&mut process);
        let output = Output::new([
            lease.token.clone(),
            claim["run_token"].as_str().unwrap_or_default().to_string(),
            self.key.clone(),
        ]);
        let mut child = match process.spawn() {
            Ok(child) => child,
            Err(error) => {
                let message = format!("cannot start {program:?}: {error}");
                self.finish(&lease, 127, self::message(message)).await?;
                return Ok(());
            }
        };
        let group = child.id();
        // From here the group dies with the agent, whatever ends the agent.
        let reaper = match group
            .map(|group| Reaper::start(group, run_dir.path()))
            .transpose()
        {
            Ok(reaper) => reaper,
            Err(error) => {
                signal_group(group, libc::SIGKILL);
                let _ = child.wait().await;
                self.finish(&lease, 126, message(format!("{error:#}")))
                    .await?;
                return Ok(());
            }
        };
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(output.clone().read(stdout)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(output.clone().read(stderr)));
        }
        self.heartbeat(&lease, true).await?;
        let ended = Notify::new();
        let streaming = self.stream_output(&lease, &output, &ended);
        tokio::pin!(streaming);
        let every = self.lease / 3;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status?,
                () = &mut streaming => unreachable!("output streams until the run ends"),
                _ = tokio::time::sleep(every) => {
                    match self.heartbeat(&lease, false).await {
                        Ok(true) => {
                            eprintln!("item {id} was cancelled: stopping its process");
                            break stop(&mut child, group, self.grace).await?;
                        }
                        Ok(false) => {}
                        // Another agent holds it now (this one was cut off past its lease), or
                        // the lease lapsed while the server was unreachable: two processes must
                        // not run one item.
                        Err(error) => {
                            eprintln!("item {id}: lost its lease ({error:#}); stopping its process");
                            stop(&mut child, group, self.grace).await?;
                            if let Some(reaper) = reaper {
                                reaper.finish().await;
                            }
                            ended.notify_one();
                            streaming.await;
                            return Ok(());
                        }
                    }
                }
            }
        };
        // The run is over: whatever it left running in its group goes too, and output still
        // held open by such a process is not waited for.
        signal_group(group, libc::SIGKILL);
        if let Some(reaper) = reaper {
            reaper.finish().await;
        }
        for reader in readers {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        // What was sent while it ran is sent; the rest goes with the finish report.
        ended.notify_one();
        streaming.await;
        let last = output.take(true);
        drop(run_dir);
        self.finish(&lease, exit_code(status), last).await
    }

    /// Sends the run's output as it comes, every [`OUTPUT_EVERY`], until `ended` is notified
    /// (the rest is the caller's to send). A chunk that cannot be delivered is logged and shows
    /// as a cut; the run goes on.
    async fn stream_output(&self, lease: &Lease, output: &Output, ended: &Notify) {
        let path = format!("/v1/entities/{}/items/{}/output", self.entity, lease.id);
        loop {
            tokio::select! {
                () = ended.notified() => return,
                () = tokio::time::sleep(OUTPUT_EVERY) => {}
            }
            let Some(chunk) = output.take(false) else {
                continue;
            };
            let body =
                json!({"lease_token": lease.token, "offset": chunk.offset, "text": chunk.text});
            if let Err(error) = self.report(lease, &path, &body).await {
                eprintln!(
                    "item {}: {} bytes of output were not taken: {error:#}",
                    lease.id,
                    chunk.text.len()
                );
            }
        }
    }

    /// Extends the lease; true when the item was cancelled. Retried while the lease holds.
    async fn heartbeat(&self, lease: &Lease, started: bool) -> anyhow::Result<bool> {
        let path = format!("/v1/entities/{}/items/{}/heartbeat", self.entity, lease.id);
        let body = json!({"lease_token": lease.token, "started": started,
                          "lease_seconds": self.lease.as_secs()});
        let answer = self.report(lease, &path, &body).await?;
        *lease.renewed.lock().expect("not poisoned") = Instant::now();
        Ok(answer["status"] == "cancelled")
    }

    /// Reports how the run ended, with the last of its output. Retried while the lease holds; a
    /// refusal (another agent holds the item now) is logged.
    async fn finish(
        &self,
        lease: &Lease,
        exit_code: i32,
        output: Option<OutputChunk>,
    ) -> anyhow::Result<()> {
        let path = format!("/v1/entities/{}/items/{}/finish", self.entity, lease.id);
        let mut body = json!({"lease_token": lease.token, "exit_code": exit_code});
        if let Some(chunk) = output {
            body["output"] = chunk.text.into();
            body["output_offset"] = chunk.offset.into();
        }
        match self.report(lease, &path, &body).await {
            Ok(answer) => {
                eprintln!(
                    "item {}: {} (exit code {exit_code})",
                    lease.id,
                    answer["status"].as_str().unwrap_or("?")
                );
                Ok(())
            }
            Err(error) => {
                eprintln!(
                    "item {}: its finish report (exit code {exit_code}) was not taken: {error:#}",
                    lease.id
                );
                Ok(())
            }
        }
    }

    /// POSTs a claim under a fresh `Idempotency-Key`, sending it again (same key) when the
    /// answer is lost or the server is unavailable, up to 5 times: a claim that landed but whose
    /// answer did not comes back with its item, not as a second item or an item stranded until
    /// its lease lapses.
    async fn claim(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let key = crate::auth::random_id("agent-");
        let mut wait = Duration::from_millis(100);
        for _ in 0..4 {
            match self.client.call_idempotent("POST", path, body, &key).await {
                Err(error) if !refused(&error) => {
                    eprintln!("claim sent again in {wait:?} (same key): {error:#}");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                answer => return answer,
            }
        }
        self.client.call_idempotent("POST", path, body, &key).await
    }

    /// POSTs a report, retrying with backoff (100 ms doubling to 2 s) on anything but a refusal
    /// (4xx), until the lease would have lapsed.
    async fn report(&self, lease: &Lease, path: &str, body: &Value) -> anyhow::Result<Value> {
        let mut wait = Duration::from_millis(100);
        loop {
            match self.client.call("POST", path, Some(body), &[]).await {
                Ok(answer) => return Ok(answer),
                Err(error) if refused(&error) => return Err(error),
                Err(error) => {
                    let lapses = *lease.renewed.lock().expect("not poisoned") + self.lease;
                    if Instant::now() + wait >= lapses {
                        return Err(error.context("gave up: the lease lapsed meanwhile"));
                    }
                    eprintln!(
                        "item {}: retrying a report in {wait:?}: {error:#}",
                        lease.id
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// The claim an agent holds on one item.
struct Lease {
    /// The item's id.
    id: String,
    /// The claim's lease token: only its holder may report on the item.
    token: String,
    /// When the server last extended the lease.
    renewed: Mutex<Instant>,
}

/// Whether an API error is a refusal (4xx), which retrying would not change.
fn refused(error: &anyhow::Error) -> bool {
    let text = error.to_string();
    text.get(..3)
        .and_then(|code| code.parse::<u16>().ok())
        .is_some_and(|code| (400..500).contains(&code))
}

/// The output of a run that never started: why.
fn message(text: String) -> Option<OutputChunk> {
    Some(OutputChunk {
        offset: Some(0),
        text,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "agent".into())
}
