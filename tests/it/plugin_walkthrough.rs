//! Follows the README's "Writing a plugin" walkthrough literally, in a fresh crate outside the
//! workspace: the files are the README's own code blocks (`file=` blocks), the crate is built for
//! wasm32-wasip2, and `herald plugin inspect|run` execute it.

use std::path::Path;
use std::process::Command;

use crate::common::{Receiver, herald};

/// The "Writing a plugin" section's fenced blocks that name a file
/// (```` ```rust file=src/lib.rs ````).
fn readme_files() -> Vec<(String, String)> {
    crate::common::readme_files("Writing a plugin")
}

#[tokio::test]
async fn the_readme_walkthrough_builds_a_plugin_that_herald_runs() {
    let files = readme_files();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Cargo.toml", "src/lib.rs", "event.json", "config.json"]
    );

    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("my-action");
    let sdk = env!("HERALD_SDK_DIR");
    for (name, text) in &files {
        let path = krate.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // The README assumes a Herald checkout next to the crate; point at this one instead.
        std::fs::write(&path, text.replace("../herald/sdk", sdk)).unwrap();
    }

    // Step 3, as written, with a target dir kept between runs so the dependencies stay warm.
    let target_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/walkthrough");
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .args(["build", "--target", "wasm32-wasip2", "--release"])
        .current_dir(&krate);
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key == "RUSTFLAGS" {
            build.env_remove(key);
        }
    }
    build.env("CARGO_TARGET_DIR", &target_dir);
    let built = build.output().unwrap();
    assert!(
        built.status.success(),
        "the walkthrough crate does not build:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let wasm = target_dir
        .join("wasm32-wasip2/release/my_action.wasm")
        .display()
        .to_string();

    // Step 4: inspect, then run (dry run), then run for real against a local receiver.
    let inspected = herald(&["plugin", "inspect", &wasm]).await;
    let stdout = String::from_utf8_lossy(&inspected.stdout);
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    assert!(stdout.starts_with("notify 0.1.0"), "{stdout}");

    let event = krate.join("event.json").display().to_string();
    let config = krate.join("config.json").display().to_string();
    let dry = herald(&[
        "plugin",
        "run",
        &wasm,
        "--event",
        &event,
        "--config",
        &config,
        "--target",
        "https://chat.example.com/hook",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        stdout.contains("request 1: POST https://chat.example.com/hook  (not sent)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("log info: notifying #ml-alerts"),
        "{stdout}"
    );
    assert!(
        stdout.contains("outcome: succeeded: delivered: 200"),
        "{stdout}"
    );

    let receiver = Receiver::ok().await;
    let target = receiver.url("/hook");
    let sent = herald(&[
        "plugin",
        "run",
        &wasm,
        "--event",
        &event,
        "--config",
        &config,
        "--target",
        &target,
        "--send",
        "--allow-cidr",
        "127.0.0.0/8",
    ])
    .await;
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stdout)
    );
    let request = &receiver
        .wait_for(1, std::time::Duration::from_secs(5))
        .await[0];
    assert_eq!(
        request.json(),
        serde_json::json!({"channel": "#ml-alerts", "text": "ADD_ARTIFACT_ALIAS by ana in default/models"})
    );
}
