//! The server under test: the real `herald` binary (run once, or served on an ephemeral port and
//! stopped when dropped), the configs tests start it with, the test components, and the
//! PostgreSQL databases of a PostgreSQL run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

/// The `herald` binary cargo built for these tests.
pub(crate) fn herald_bin() -> &'static str {
    env!("CARGO_BIN_EXE_herald")
}

/// A test-only component from `plugins/fixtures/` (e.g. `hostile`).
pub(crate) fn fixture(name: &str) -> PathBuf {
    let file = format!("herald_fixture_{}.wasm", name.replace('-', "_"));
    Path::new(env!("HERALD_FIXTURE_DIR")).join(file)
}

/// Runs `herald` with these arguments to completion.
pub(crate) async fn herald(args: &[&str]) -> std::process::Output {
    // `herald plugin run|inspect` keep compiled components in a cache of their own: under
    // target/, never the user's home.
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugin-cli-cache");
    tokio::process::Command::new(herald_bin())
        .args(args)
        .env("HERALD_CACHE_DIR", cache)
        .env_remove("HERALD_TOKEN_SECRET")
        .env_remove("HERALD_SIGNING_SECRET")
        .kill_on_drop(true)
        .output()
        .await
        .expect("herald runs")
}

/// Writes `value` as JSON into `dir/name` and returns the path as a string.
pub(crate) fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path.display().to_string()
}

/// The bootstrap admin key every test server is started with (`HERALD_BOOTSTRAP_KEY`).
pub(crate) const ADMIN_KEY: &str = "hk_test-bootstrap-admin-key-0123456789";

/// The config every test server gets unless told otherwise: receivers on 127.0.0.1 are allowed.
pub(crate) const TEST_CONFIG: &str = "[egress]\nallow_cidrs = [\"127.0.0.0/8\"]\n";

/// Retries a few hundred milliseconds apart and short timeouts, so delivery tests wait on
/// conditions, not on production schedules.
pub(crate) const FAST_DELIVERY_CONFIG: &str = r#"
[egress]
allow_cidrs = ["127.0.0.0/8"]
[delivery]
retry_schedule = ["200ms", "200ms"]
jitter = 0.0
request_timeout = "1s"
connect_timeout = "1s"
poll_interval = "100ms"
shutdown_grace = "5s"
"#;

/// A server that ingests but delivers nothing (`delivery.workers = 0`): for tests of the API
/// whose integrations point at names that must never be looked up.
pub(crate) const INGEST_ONLY_CONFIG: &str =
    "[egress]\nallow_cidrs = [\"127.0.0.0/8\"]\n[delivery]\nworkers = 0\n";

/// The test PostgreSQL server's URL (its `postgres` database), which `cargo xtask test` starts.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("HERALD_TEST_DATABASE_URL").expect(
        "HERALD_TEST_DATABASE_URL is not set: run the tests with `cargo xtask test`, which starts a PostgreSQL server",
    )
}

/// Whether this run puts every test server on PostgreSQL (`HERALD_TEST_BACKEND=postgres`, the
/// second pass of `cargo xtask test`) rather than on SQLite.
pub(crate) fn on_postgres() -> bool {
    std::env::var("HERALD_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// Creates an empty database on the test PostgreSQL server; its URL.
pub(crate) fn new_database() -> String {
    let admin = postgres_admin_url();
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let statement = format!("CREATE DATABASE {name}");
    let connect_to = admin.clone();
    // On a thread of its own: callers may be inside a runtime already.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&connect_to, tokio_postgres::NoTls)
                .await
                .expect("the test PostgreSQL server answers");
            tokio::spawn(connection);
            client.batch_execute(&statement).await.unwrap();
        });
    })
    .join()
    .unwrap();
    let (server, _) = admin.rsplit_once('/').expect("a URL with a database");
    format!("{server}/{name}")
}

/// The database of the test server in `data_dir` on a PostgreSQL run: made on its first start,
/// the same on every restart (as SQLite's file in the data directory is).
fn database_of(data_dir: &Path) -> String {
    let file = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return url;
    }
    let url = new_database();
    std::fs::write(&file, &url).unwrap();
    url
}

/// A `herald serve` process on an ephemeral port, killed when dropped.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Where its log (stderr) goes.
    pub log_path: PathBuf,
    /// What it printed on stdout before listening (the bootstrap line).
    pub banner: Vec<String>,
    /// The temporary directory it made for itself ([`Server::fast`], [`Server::ingest_only`]),
    /// removed after the process is stopped.
    home: Option<tempfile::TempDir>,
}

impl Server {
    /// A server of its own in a temporary directory it removes when dropped, as
    /// [`Server::start_fast`] starts it: the one-line test host.
    pub(crate) fn fast() -> Self {
        let home = tempfile::tempdir().unwrap();
        let server = Self::start_fast(&home.path().join("data"));
        server.at_home(home)
    }

    /// [`Server::fast`], ingesting only, as [`Server::start_ingest_only`] starts it.
    pub(crate) fn ingest_only() -> Self {
        let home = tempfile::tempdir().unwrap();
        let server = Self::start_ingest_only(&home.path().join("data"));
        server.at_home(home)
    }

    fn at_home(mut self, home: tempfile::TempDir) -> Self {
        self.home = Some(home);
        self
    }

    /// Starts a server that delivers at once and retries within milliseconds
    /// ([`FAST_DELIVERY_CONFIG`]), with the bootstrap admin key.
    pub(crate) fn start_fast(data_dir: &Path) -> Self {
        Self::start_with(
            data_dir,
            FAST_DELIVERY_CONFIG,
            &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
            &[],
        )
    }

    /// Starts a server that ingests but never delivers.
    pub(crate) fn start_ingest_only(data_dir: &Path) -> Self {
        Self::start_with(
            data_dir,
            INGEST_ONLY_CONFIG,
            &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
            &[],
        )
    }

    /// Starts `herald serve` with a config file holding `config` (TOML) and extra environment.
    pub(crate) fn start_with(
        data_dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        extra_args: &[&str],
    ) -> Self {
        Self::start_listening(data_dir, config, env, extra_args, "127.0.0.1:0")
    }

    /// Kills this server and, `down` later, starts it again on the same data and the same
    /// port, as a host restarting under its clients does (blocks for `down`).
    pub(crate) fn restart(mut self, config: &str, env: &[(&str, &str)], down: Duration) -> Self {
        let listen = self.url.trim_start_matches("http://").to_string();
        let data_dir = self.log_path.parent().unwrap().to_path_buf();
        let home = self.home.take();
        self.kill();
        std::thread::sleep(down);
        let mut restarted = Self::start_listening(&data_dir, config, env, &[], &listen);
        restarted.home = home;
        restarted
    }

    fn start_listening(
        data_dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        extra_args: &[&str],
        listen: &str,
    ) -> Self {
        std::fs::create_dir_all(data_dir).unwrap();
        let config_path = data_dir.join("herald-test.toml");
        // Every test server shares one compiled-component cache, so each plugin is compiled once
        // per run rather than once per server (a test that inspects the cache sets its own).
        let config = if config.contains("compiled_dir") {
            config.to_string()
        } else {
            let shared =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-compiled-plugins");
            format!(
                "compiled_dir = {:?}\n{config}",
                shared.display().to_string()
            )
        };
        std::fs::write(&config_path, config).unwrap();
        let log_path = data_dir.join("server.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut command = Command::new(herald_bin());
        command
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .arg("--config")
            .arg(&config_path)
            .args(extra_args)
            .env_remove("HERALD_BOOTSTRAP_KEY")
            .env_remove("HERALD_MASTER_KEY")
            .env_remove("HERALD_DATABASE_URL")
            .env("HERALD_LOG", "info,herald=debug");
        if on_postgres() && !env.iter().any(|(name, _)| *name == "HERALD_DATABASE_URL") {
            command.env("HERALD_DATABASE_URL", database_of(data_dir));
        }
        command
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().expect("herald serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("herald listening on ") {
                        break url.to_string();
                    }
                    banner.push(line);
                }
                _ => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    panic!("herald serve exited before listening; its log:\n{log}");
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url,
            log_path,
            banner,
            home: None,
        }
    }

    /// A client for this server with `key`.
    pub(crate) fn client(&self, key: &str) -> Api {
        Api {
            base: self.url.clone(),
            key: Some(key.to_string()),
            http: reqwest::Client::new(),
        }
    }

    /// A client with the bootstrap admin key.
    pub(crate) fn admin(&self) -> Api {
        self.client(ADMIN_KEY)
    }

    /// A client with no key at all.
    pub(crate) fn anonymous(&self) -> Api {
        Api {
            base: self.url.clone(),
            key: None,
            http: reqwest::Client::new(),
        }
    }

    /// The server's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (up to `limit`) for the server to exit; returns its exit status.
    pub(crate) fn terminate(mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not stop within {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
