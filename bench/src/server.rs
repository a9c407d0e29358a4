//! A Herald server for the benchmark: the real `herald` binary (built with the bench as
//! `herald-server`) in its own process, so its peak memory is its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};
use serde_json::Value;

/// The bootstrap key the bench's servers start with.
pub(crate) const KEY: &str = "hk_bench-admin-key-0123456789abcdef";

/// A running server, stopped when dropped.
pub(crate) struct HeraldProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    _dir: tempfile::TempDir,
}

/// The server binary: `HERALD_BENCH_SERVER` when set (to measure another build, e.g. the commit
/// before a change, with the same benchmark), else `herald-server` beside the bench.
fn server_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("HERALD_BENCH_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(format!("herald-server{}", std::env::consts::EXE_SUFFIX));
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| build_server(&exe, &path))
        .clone()
        .map_err(anyhow::Error::msg)?;
    Ok(path)
}

/// `cargo run -p herald-bench` builds the bench binary only: a `herald-server` beside it that is
/// missing or older than the bench (a stale build would be measured) is built first, with the
/// cargo that runs the bench.
fn build_server(bench: &Path, server: &Path) -> Result<(), String> {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if modified(server)
        .zip(modified(bench))
        .is_some_and(|(s, b)| s >= b)
    {
        return Ok(());
    }
    let cargo = std::env::var_os("CARGO").ok_or_else(|| {
        format!(
            "{} is missing or older than the bench: run the bench with `cargo run --release -p herald-bench`",
            server.display()
        )
    })?;
    eprintln!("building herald-server (the server the bench measures)");
    let mut command = Command::new(cargo);
    command
        .args(["build", "--bin", "herald-server", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        other => Err(format!("building herald-server failed: {other:?}")),
    }
}

impl HeraldProcess {
    /// Starts a server with `config` (TOML) on a fresh data directory.
    pub(crate) fn start(config: &str) -> anyhow::Result<Self> {
        Self::start_with(config, &[])
    }

    /// Starts a server with `config` (TOML) and extra environment on a fresh data directory.
    pub(crate) fn start_with(config: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config_path = dir.path().join("herald.toml");
        std::fs::write(&config_path, config)?;
        let mut child = Command::new(server_binary()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("HERALD_BOOTSTRAP_KEY", KEY)
            .env("HERALD_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting herald-server")?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("herald listening on ") {
                        break url.to_string();
                    }
                }
                _ => bail!("herald-server exited before listening"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            url,
            _dir: dir,
        })
    }

    /// The CPU time the server has used so far.
    pub(crate) fn cpu_time(&self) -> Option<std::time::Duration> {
        cpu_time(&self.child.id().to_string())
    }

    /// The bytes in the server's data directory (database, WAL, key, compiled plugins).
    pub(crate) fn data_bytes(&self) -> Option<u64> {
        fn size(path: &Path) -> u64 {
            match std::fs::read_dir(path) {
                Ok(entries) => entries
                    .flatten()
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => size(&e.path()),
                        _ => e.metadata().map_or(0, |m| m.len()),
                    })
                    .sum(),
                Err(_) => 0,
            }
        }
        Some(size(&self._dir.path().join("data")))
    }

    /// The server's peak resident memory so far (Linux `VmHWM`), in bytes.
    pub(crate) fn peak_rss(&self) -> Option<u64> {
        peak_rss(
            &Path::new("/proc")
                .join(self.child.id().to_string())
                .join("status"),
        )
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat` (Linux).
pub(crate) fn cpu_time(pid: &str) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")).ok()?;
    // Fields after the command name, which is in parentheses and may itself hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // In USER_HZ, which the kernel's ABI fixes at 100 on the architectures Herald builds for.
    Some(std::time::Duration::from_millis(ticks * 10))
}

/// CPU time a process and all its children (living, and exited ones it waited for) have used:
/// a PostgreSQL server's postmaster and its backends.
pub(crate) fn cpu_time_with_children(pid: u32) -> Option<std::time::Duration> {
    let fields = |pid: &str| -> Option<Vec<u64>> {
        let stat = std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")).ok()?;
        let rest = stat.rsplit_once(')')?.1;
        Some(
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect(),
        )
    };
    // After the name: state ppid … utime(11) stime(12) cutime(13) cstime(14), in USER_HZ (100).
    let own = fields(&pid.to_string())?;
    let mut ticks = own.get(11)? + own.get(12)? + own.get(13)? + own.get(14)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(child) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if let Some(f) = fields(child)
            && f.get(1) == Some(&u64::from(pid))
        {
            ticks += f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0);
        }
    }
    Some(std::time::Duration::from_millis(ticks * 10))
}

fn peak_rss(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Drop for HeraldProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON client for the bench's server.
#[derive(Clone)]
pub(crate) struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for `base` with the bench's key.
    pub(crate) fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("a client");
        Self {
            base: base.to_string(),
            http,
        }
    }

    /// Sends a JSON body; fails unless the status is `expected`.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        expected: u16,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != expected {
            bail!("{path}: {status} {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// POST; the status and, for a 503, the `Retry-After` it asked for.
    pub(crate) async fn post_answer(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Option<std::time::Duration>)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        response.bytes().await?;
        Ok((status, retry_after))
    }

    /// POST, expecting `expected`.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &Value,
        expected: u16,
    ) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, body, expected).await
    }

    /// PUT, expecting `expected`.
    pub(crate) async fn put(
        &self,
        path: &str,
        body: &Value,
        expected: u16,
    ) -> anyhow::Result<Value> {
        self.send(reqwest::Method::PUT, path, body, expected).await
    }
}
