//! Launch through the real binary and real `herald agent` processes: jobs and their versions,
//! queues, priorities, cancelling a running process, an agent killed mid-run, what the job's
//! process sees, and the RUN_STATE events that come back.
//!
//! Shared here: the agent processes, the bench and the waits; `running.rs` runs jobs as agents do,
//! `triggered.rs` launches from automations and run tokens, `lost.rs` answers the network loses.

mod lost;
mod running;
mod triggered;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    Api, Receiver, Server, eventually, expect_status, herald_bin, wait_for_item as wait_for,
};

/// A `herald agent` process, killed when dropped.
struct Agent {
    child: Child,
}

impl Agent {
    fn start(server: &Server, key: &str, args: &[&str]) -> Self {
        Self::start_at(&server.url, key, args)
    }

    /// An agent that reaches the server at `url` (through a relay, say).
    fn start_at(url: &str, key: &str, args: &[&str]) -> Self {
        let child = Command::new(herald_bin())
            .args(["agent", "--poll", "50ms", "--lease", "2s", "--grace", "2s"])
            .args(args)
            .env("HERALD_URL", url)
            .env("HERALD_KEY", key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("herald agent starts");
        Self { child }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Saves a job whose process runs `script` with `sh -c`, with `OUT` set to `out`.
async fn job(admin: &Api, name: &str, script: &str, out: &Path, config: Value) -> Value {
    expect_status(
        &admin
            .put(
                &format!("/v1/entities/default/jobs/{name}"),
                &json!({"description": "test job", "command": ["sh", "-c", script],
                        "env": {"OUT": out.display().to_string()}, "config": config}),
            )
            .await,
        201,
    )
    .clone()
}

async fn enqueue(api: &Api, queue: &str, body: Value) -> String {
    let path = format!("/v1/entities/default/queues/{queue}/items");
    crate::common::created(api, &path, &body, "id").await
}

/// Waits (up to 20 s) until item `id` of `default` has ended (it has an exit code); returns it.
async fn ended(api: &Api, id: &str, what: &str) -> Value {
    eventually(Duration::from_secs(20), what, async || {
        let (_, item) = api.get(&format!("/v1/entities/default/items/{id}")).await;
        if item["exit_code"].is_null() {
            Err(item.to_string())
        } else {
            Ok(item)
        }
    })
    .await
}

/// Waits until `automation` has `count` executions; returns them.
async fn wait_executions(api: &Api, automation: &str, count: usize, limit: Duration) -> Vec<Value> {
    let what = format!("{count} executions of {automation}");
    eventually(limit, &what, async || {
        let (_, page) = api
            .get(&format!("/v1/automations/{automation}/executions"))
            .await;
        let executions = page["executions"].as_array().cloned().unwrap_or_default();
        if executions.len() >= count {
            Ok(executions)
        } else {
            Err(format!("{} executions", executions.len()))
        }
    })
    .await
}

struct Bench {
    server: Server,
    admin: Api,
    member_key: String,
    /// An agent key bound to queue `gpu`.
    agent_key: String,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new() -> Self {
        Self::with_config("").await
    }

    /// A server with fast delivery and `extra` (TOML) in its config.
    async fn with_config(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_with(
            &dir.path().join("data"),
            &format!("{}{extra}", crate::common::FAST_DELIVERY_CONFIG),
            &[("HERALD_BOOTSTRAP_KEY", crate::common::ADMIN_KEY)],
            &[],
        );
        let admin = server.admin();
        let member_key = crate::common::member_key(&admin, "agent").await;
        expect_status(
            &admin
                .post("/v1/entities/default/queues", &json!({"name": "gpu"}))
                .await,
            201,
        );
        let agent_key = crate::common::agent_key(&admin, &["gpu"]).await;
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        Self {
            server,
            admin,
            member_key,
            agent_key,
            out,
            _dir: dir,
        }
    }
}

/// Whether a process is alive (and not a zombie waiting to be reaped).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}
