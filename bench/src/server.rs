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
    if !path.exists() {
        bail!(
            "{} is missing: run the bench with `cargo run --release -p herald-bench`",
            path.display()
        );
    }
    Ok(path)
}

impl HeraldProcess {
    /// Starts a server with `config` (TOML) on a fresh data directory.
    pub(crate) fn start(config: &str) -> anyhow::Result<Self> {
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
