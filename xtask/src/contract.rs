//! The API document held to the server: schemathesis (installed in the Python environment)
//! generates requests from `GET /v1/openapi.json` in every phase (coverage, fuzzing, stateful,
//! following the document's links) against a real `herald serve` on loopback, and fails on a
//! schema-valid request refused, a schema-invalid one accepted, an answer the document does not
//! describe, or a 5xx. What the run is told beyond the document, and why, is in
//! `tests/schemathesis/schemathesis.toml`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The bootstrap key of the server the run talks to.
const KEY: &str = "hk_schemathesis-run-0123456789abcdef";

/// A `herald serve` process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `herald` on a free port with a data directory under `dir`; returns it and its URL.
fn start(herald: &Path, dir: &Path) -> Result<(Server, String), String> {
    let config = dir.join("herald.toml");
    // Ingest only: automations the run creates must never send to the names it generates.
    std::fs::write(&config, "[delivery]\nworkers = 0\n")
        .map_err(|e| format!("writing {}: {e}", config.display()))?;
    let mut child = Command::new(herald)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("HERALD_BOOTSTRAP_KEY", KEY)
        .env("HERALD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", herald.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("herald listening on ")
                .map(str::to_string)
        })
        .ok_or("herald exited before listening")?;
    // Keep reading, so that the pipe never fills.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((server, url))
}

/// Runs schemathesis (`python`'s environment) over the document of `herald`.
pub(crate) fn check(root: &Path, herald: &Path, python: &Path) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("herald-schemathesis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let (server, url) = start(herald, &dir)?;
    let settings = root.join("tests/schemathesis");
    let result = crate::run(
        Command::new(python.with_file_name("schemathesis"))
            .arg("--config-file")
            .arg(settings.join("schemathesis.toml"))
            .args(["run", &format!("{url}/v1/openapi.json"), "--checks", "all"])
            .args(["-H", &format!("Authorization: Bearer {KEY}")])
            .arg("--no-color")
            // The hooks file is named relative to here.
            .current_dir(&settings),
        "schemathesis over the API document",
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    result
}
