//! `herald serve` on its defaults: built-in plugins embedded, third-party components loaded from a
//! plugins directory (bad files reported and skipped), and compiled components cached on disk so
//! that a restart does not compile them again.

use std::collections::BTreeMap;

use serde_json::json;

use crate::common::{Server, fixture};

/// A server with its own compile cache in its data directory (this test inspects it).
fn start(data_dir: &std::path::Path, plugins_dir: &str) -> Server {
    let config = format!(
        "compiled_dir = {:?}\n{}",
        data_dir.join("compiled").display().to_string(),
        crate::common::TEST_CONFIG
    );
    Server::start_with(
        data_dir,
        &config,
        &[("HERALD_BOOTSTRAP_KEY", crate::common::ADMIN_KEY)],
        &["--plugins-dir", plugins_dir],
    )
}

/// The cache's entries, each with its inode: a compile writes a new file (and renames it in), a
/// load only reads it and refreshes its modification time (the cache's least-recently-used mark),
/// so the same inode is the same compiled form.
fn cache_entries(data_dir: &std::path::Path) -> BTreeMap<String, u64> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::read_dir(data_dir.join("compiled"))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().ino(),
            )
        })
        .collect()
}

#[tokio::test]
async fn serves_builtin_and_third_party_plugins_and_restarts_without_recompiling() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    std::fs::copy(fixture("hostile"), plugins_dir.join("hostile.wasm")).unwrap();
    std::fs::copy(fixture("other-world"), plugins_dir.join("greeter.wasm")).unwrap();
    std::fs::write(plugins_dir.join("broken.wasm"), b"definitely not wasm").unwrap();
    std::fs::write(plugins_dir.join("notes.txt"), b"ignored: not .wasm").unwrap();
    let data_dir = dir.path().join("data");
    let plugins_arg = plugins_dir.display().to_string();

    let server = start(&data_dir, &plugins_arg);
    let health =
        crate::common::expect_status(&server.anonymous().get("/healthz").await, 200).clone();
    assert_eq!(health["status"], "ok");
    let ready = crate::common::expect_status(&server.anonymous().get("/readyz").await, 200).clone();
    assert_eq!(
        (&ready["status"], &ready["store"]),
        (&json!("ready"), &json!("ok"))
    );

    let listed =
        crate::common::expect_status(&server.admin().get("/v1/plugins").await, 200).clone();
    let plugins = listed["plugins"].as_array().unwrap();
    let names: Vec<&str> = plugins
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"webhook") && names.contains(&"hostile"),
        "{names:?}"
    );
    assert_eq!(
        names,
        [
            "github-dispatch",
            "hostile",
            "launch-job",
            "no-op",
            "slack",
            "teams",
            "webhook"
        ],
        "the six built-ins and the good third-party plugin; bad files are not loaded"
    );
    let webhook = plugins.iter().find(|p| p["name"] == "webhook").unwrap();
    assert_eq!(webhook["source"], "builtin");
    assert_eq!(webhook["config_schema"]["type"], "object");
    assert_eq!(webhook["version"], env!("CARGO_PKG_VERSION"));

    let log = server.log();
    assert!(
        log.contains("broken.wasm") && log.contains("not a WebAssembly file"),
        "{log}"
    );
    assert!(
        log.contains("greeter.wasm") && log.contains("missing export `herald:plugin/action@0.2.0`"),
        "{log}"
    );
    server.kill();

    let cached = cache_entries(&data_dir);
    // The six built-ins, hostile and greeter compile (greeter is then refused for its world);
    // the broken file never gets that far.
    assert_eq!(cached.len(), 8, "each component compiled once: {cached:?}");
    let server = start(&data_dir, &plugins_arg);
    let listed =
        crate::common::expect_status(&server.admin().get("/v1/plugins").await, 200).clone();
    assert_eq!(listed["plugins"].as_array().unwrap().len(), 7);
    assert_eq!(
        cache_entries(&data_dir),
        cached,
        "the restart loaded the cache instead of recompiling"
    );
}

#[tokio::test]
async fn a_bad_listen_address_or_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("herald.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let config_arg = config.display().to_string();
    let output = crate::common::herald(&["serve", "--config", &config_arg]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("herald.toml") && stderr.contains("unknown field `lisen`"),
        "{stderr}"
    );
}
