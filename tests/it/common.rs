//! The one harness every end-to-end test shares: the real `herald` binary, real components
//! built from `plugins/`, a recording HTTP receiver on 127.0.0.1, a connection probe, and a
//! server started on an ephemeral port and stopped when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use tokio::sync::Notify;

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

/// One request a [`Receiver`] saw.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// The method.
    pub method: Method,
    /// Path and query.
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl Recorded {
    /// A header's value as text ("" when absent).
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// The body parsed as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// What a [`Receiver`] answers: status, headers, body.
pub(crate) type Reply = (u16, Vec<(&'static str, String)>, String);

type Responder = Arc<dyn Fn(usize, &Recorded) -> Reply + Send + Sync>;

/// A real HTTP server on 127.0.0.1 that records every request and answers as told.
pub(crate) struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers every request `200 ok`.
    pub(crate) async fn ok() -> Self {
        Self::start(|_, _| (200, vec![], "ok".into())).await
    }

    /// A receiver whose answer to the n-th request (0-based) `respond` decides.
    pub(crate) async fn start(
        respond: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let responder: Responder = Arc::new(respond);
        let app = {
            let requests = requests.clone();
            let arrived = arrived.clone();
            axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let requests = requests.clone();
                    let arrived = arrived.clone();
                    let responder = responder.clone();
                    async move {
                        let recorded = Recorded {
                            method,
                            uri,
                            headers,
                            body,
                        };
                        let index = {
                            let mut all = requests.lock().unwrap();
                            all.push(recorded.clone());
                            all.len() - 1
                        };
                        arrived.notify_waiters();
                        // On a blocking thread, so that a responder may sleep (a slow receiver)
                        // without stalling the others.
                        let (status, headers, body) =
                            tokio::task::spawn_blocking(move || responder(index, &recorded))
                                .await
                                .unwrap();
                        let mut response =
                            axum::response::Response::new(axum::body::Body::from(body));
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                        for (name, value) in headers {
                            response.headers_mut().insert(name, value.parse().unwrap());
                        }
                        response
                    }
                },
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            requests,
            arrived,
            task,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived (panics after `limit`).
    pub(crate) async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.arrived.notified();
            let seen = self.requests();
            if seen.len() >= count {
                return seen;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "waited {limit:?} for {count} requests, saw {}",
                    self.requests().len()
                );
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP listener that only counts connections: proof that nothing was sent somewhere.
pub(crate) struct ConnectionProbe {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<Mutex<Vec<SocketAddr>>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectionProbe {
    /// Starts listening on an ephemeral port.
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (seen, notify) = (accepted.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            while let Ok((_, peer)) = listener.accept().await {
                seen.lock().unwrap().push(peer);
                notify.notify_waiters();
            }
        });
        Self {
            addr,
            accepted,
            arrived,
            task,
        }
    }

    /// How many connections arrived before now. The probe connects to itself and waits until
    /// that marker is accepted: the backlog is FIFO, so every earlier connection has been
    /// counted by then. No sleeping, no race.
    pub(crate) async fn connections(&self) -> usize {
        let marker = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let marker_addr = marker.local_addr().unwrap();
        loop {
            let notified = self.arrived.notified();
            let seen = self.accepted.lock().unwrap().clone();
            if let Some(position) = seen.iter().position(|peer| *peer == marker_addr) {
                // Remove the marker so that the probe can be asked again.
                self.accepted.lock().unwrap().remove(position);
                return position;
            }
            tokio::time::timeout(Duration::from_secs(5), notified)
                .await
                .expect("the marker arrives");
        }
    }
}

impl Drop for ConnectionProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
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
}

impl Server {
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
    pub(crate) fn restart(self, config: &str, env: &[(&str, &str)], down: Duration) -> Self {
        let listen = self.url.trim_start_matches("http://").to_string();
        let data_dir = self.log_path.parent().unwrap().to_path_buf();
        self.kill();
        std::thread::sleep(down);
        Self::start_listening(&data_dir, config, env, &[], &listen)
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

/// A JSON client for the API: every call returns the status and the parsed body.
#[derive(Clone)]
pub(crate) struct Api {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl Api {
    /// Sends `method path` with an optional JSON body and extra headers.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        (status, value)
    }

    /// GET.
    pub(crate) async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("GET", path, None, &[]).await
    }

    /// POST with a JSON body.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send("POST", path, Some(body), &[]).await
    }

    /// PUT with a JSON body.
    pub(crate) async fn put(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send("PUT", path, Some(body), &[]).await
    }

    /// PATCH with a JSON body.
    pub(crate) async fn patch(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send("PATCH", path, Some(body), &[]).await
    }

    /// DELETE.
    pub(crate) async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("DELETE", path, None, &[]).await
    }
}

/// Asserts a status, showing the body when it differs; returns the body.
#[track_caller]
pub(crate) fn expect_status(
    response: &(u16, serde_json::Value),
    status: u16,
) -> &serde_json::Value {
    assert_eq!(
        response.0, status,
        "unexpected status; body: {}",
        response.1
    );
    &response.1
}

/// An execution's status and attempt count, as the API shows them.
pub(crate) fn status_and_attempts(execution: &serde_json::Value) -> (Option<&str>, Option<i64>) {
    (execution["status"].as_str(), execution["attempts"].as_i64())
}

/// Posts one event; returns its id.
pub(crate) async fn post_event(api: &Api, event: &serde_json::Value) -> String {
    expect_status(&api.post("/v1/events", event).await, 202)["event_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until every execution of the event has a final status; returns them (as
/// `GET /v1/executions/{id}` shows them, attempts included).
pub(crate) async fn settled_all(
    api: &Api,
    event_id: &str,
    limit: std::time::Duration,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let (_, event) = api.get(&format!("/v1/events/{event_id}")).await;
        let ids: Vec<String> = event["executions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["id"].as_str().map(str::to_string))
            .collect();
        let mut done = Vec::new();
        for id in &ids {
            let (_, execution) = api.get(&format!("/v1/executions/{id}")).await;
            if matches!(
                execution["status"].as_str(),
                Some("succeeded" | "failed" | "skipped")
            ) {
                done.push(execution);
            }
        }
        if !ids.is_empty() && done.len() == ids.len() {
            return done;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "event {event_id} did not settle: {event}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Waits until the event's (first) execution has a final status; returns it.
pub(crate) async fn settled(
    api: &Api,
    event_id: &str,
    limit: std::time::Duration,
) -> serde_json::Value {
    settled_all(api, event_id, limit).await.remove(0)
}

/// Creates an integration of the `default` entity (`201` expected).
pub(crate) async fn create_integration(admin: &Api, body: serde_json::Value) {
    expect_status(
        &admin.post("/v1/entities/default/integrations", &body).await,
        201,
    );
}

/// Creates an automation (`201` expected); returns its id.
pub(crate) async fn create_automation(admin: &Api, body: serde_json::Value) -> String {
    expect_status(&admin.post("/v1/automations", &body).await, 201)["id"]
        .as_str()
        .expect("an automation has an id")
        .to_string()
}

/// The server's Prometheus metrics, as text.
pub(crate) async fn metrics_text(server: &Server) -> String {
    reqwest::get(format!("{}/metrics", server.url))
        .await
        .expect("the server answers")
        .text()
        .await
        .expect("a text body")
}

/// Sets (creates or replaces) a secret of the `default` entity.
pub(crate) async fn put_secret(admin: &Api, name: &str, value: &str) {
    let status = admin
        .put(
            &format!("/v1/entities/default/secrets/{name}"),
            &serde_json::json!({ "value": value }),
        )
        .await
        .0;
    assert!(status == 200 || status == 201, "secret {name}: {status}");
}

/// A new member key of the `default` entity, as a client.
pub(crate) async fn member(admin: &Api, server: &Server) -> Api {
    server.client(&member_key(admin, "").await)
}

/// A new member key of the `default` entity, labelled `label`.
pub(crate) async fn member_key(admin: &Api, label: &str) -> String {
    created(
        admin,
        "/v1/entities/default/keys",
        &serde_json::json!({"role": "member", "label": label}),
        "key",
    )
    .await
}

/// POSTs `body` to `path`, expects `201`, and returns the answer's string `field`.
pub(crate) async fn created(
    api: &Api,
    path: &str,
    body: &serde_json::Value,
    field: &str,
) -> String {
    expect_status(&api.post(path, body).await, 201)[field]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no {field} in the answer"))
        .to_string()
}

/// The fenced code blocks of one `## section` of the README, as (info string, body).
pub(crate) fn readme_blocks(section: &str) -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let heading = format!("## {section}");
    let mut blocks = Vec::new();
    let mut lines = readme
        .lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !l.starts_with("## "));
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        blocks.push((info.to_string(), body.join("\n") + "\n"));
    }
    assert!(
        !blocks.is_empty(),
        "the README has no section {heading:?} with code"
    );
    blocks
}

/// The blocks of a README section whose info string names a file (`file=NAME`): (name, body).
pub(crate) fn readme_files(section: &str) -> Vec<(String, String)> {
    readme_blocks(section)
        .into_iter()
        .filter_map(|(info, body)| {
            info.split_whitespace()
                .find_map(|word| word.strip_prefix("file="))
                .map(|name| (name.to_string(), body))
        })
        .collect()
}

/// `POST /v1/plugins` with a component as the body, with `key`.
pub(crate) async fn upload_plugin(
    server: &Server,
    key: &str,
    component: Vec<u8>,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/plugins", server.url))
        .bearer_auth(key)
        .header("content-type", "application/wasm")
        .body(component)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, value)
}

/// A webhook integration `ci` to `url` and an entity-wide automation `name` that runs `action`
/// (sent through `ci`) on every `LINK_ARTIFACT`; returns the automation's id.
pub(crate) async fn automation_on_links(
    admin: &Api,
    name: &str,
    url: &str,
    mut action: serde_json::Value,
) -> String {
    create_integration(
        admin,
        serde_json::json!({"name": "ci", "kind": "webhook", "url": url}),
    )
    .await;
    action["integration"] = "ci".into();
    create_automation(
        admin,
        serde_json::json!({"name": name, "scope": {"type": "entity"},
                           "event": {"type": "LINK_ARTIFACT"}, "action": action}),
    )
    .await
}

/// An agent key of `default` bound to `queues` (created by `admin`).
pub(crate) async fn agent_key(admin: &Api, queues: &[&str]) -> String {
    created(
        admin,
        "/v1/entities/default/keys",
        &serde_json::json!({"role": "agent", "queues": queues, "label": "test agent"}),
        "key",
    )
    .await
}

/// Waits until a queue item of `default` has one of `statuses`; returns the item.
pub(crate) async fn wait_for_item(
    api: &Api,
    id: &str,
    statuses: &[&str],
    limit: Duration,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (_, item) = api.get(&format!("/v1/entities/default/items/{id}")).await;
        if statuses.iter().any(|s| item["status"] == *s) {
            return item;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "item {id} never became {statuses:?}: {item}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
