//! `herald plugin new` for each language, as a plugin author would use it: scaffold, build with
//! the language's own toolchain, `herald plugin run` the result unchanged, install it on a
//! running server, deliver an event through it to a real receiver, then build and upload a new
//! version and see the next execution use it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Receiver, Server, automation_on_links, herald, post_event, settled, upload_plugin,
};

/// componentize-py: `HERALD_COMPONENTIZE_PY`, else the one `cargo xtask test` installs into
/// target/python-venv.
fn componentize_py() -> PathBuf {
    if let Some(path) = std::env::var_os("HERALD_COMPONENTIZE_PY") {
        return path.into();
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/python-venv/bin/componentize-py");
    assert!(
        venv.exists(),
        "componentize-py is missing: `cargo xtask test` installs it (or set HERALD_COMPONENTIZE_PY)"
    );
    venv
}

/// componentize-js: `HERALD_COMPONENTIZE_JS`, else the one `cargo xtask test` installs into
/// target/node-tools.
fn componentize_js() -> PathBuf {
    if let Some(path) = std::env::var_os("HERALD_COMPONENTIZE_JS") {
        return path.into();
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/node-tools/node_modules/.bin/componentize-js");
    assert!(
        tools.exists(),
        "componentize-js is missing: `cargo xtask test` installs it (or set HERALD_COMPONENTIZE_JS)"
    );
    tools
}

/// Runs a build command, failing with its output.
fn build(command: &mut Command, what: &str) {
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key == "RUSTFLAGS" {
            command.env_remove(key);
        }
    }
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Scaffolds `name` in `lang` under `dir`; returns the project directory.
async fn scaffold(dir: &Path, name: &str, lang: &str) -> PathBuf {
    let project = dir.join(name);
    let project_arg = project.display().to_string();
    let mut args = vec!["plugin", "new", name, "--lang", lang, "--dir", &project_arg];
    let sdk = env!("HERALD_SDK_DIR");
    if lang == "rust" {
        args.extend(["--sdk", sdk]);
    }
    let output = herald(&args).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    project
}

/// Builds the project as its README says; returns the component.
fn build_project(project: &Path, name: &str, lang: &str) -> PathBuf {
    match lang {
        "rust" => {
            // A target dir kept between runs, so the SDK's dependencies stay compiled.
            let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/walkthrough");
            build(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .args(["build", "--release", "--target", "wasm32-wasip2"])
                    .env("CARGO_TARGET_DIR", &target)
                    .current_dir(project),
                "cargo build",
            );
            target.join(format!(
                "wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ))
        }
        "javascript" => {
            // The project's own build script (package.json), run with the shared componentize-js.
            let manifest: Value = serde_json::from_str(
                &std::fs::read_to_string(project.join("package.json")).unwrap(),
            )
            .unwrap();
            let script = manifest["scripts"]["build"].as_str().unwrap().to_string();
            let mut words = script.split_whitespace();
            assert_eq!(words.next(), Some("componentize-js"), "{script}");
            build(
                Command::new(componentize_js())
                    .args(words)
                    .current_dir(project),
                "npm run build",
            );
            project.join(format!("{name}.wasm"))
        }
        _ => {
            let out = format!("{name}.wasm");
            build(
                Command::new(componentize_py())
                    .args([
                        "-d",
                        "wit",
                        "-w",
                        "plugin",
                        "componentize",
                        "app",
                        "-o",
                        &out,
                    ])
                    .current_dir(project),
                "componentize-py",
            );
            project.join(out)
        }
    }
}

/// Sets the project's version to 0.2.0, as an author would before a release, and gives it a bug:
/// with the label `boom` its code throws (an `Error`, a Python exception, a Rust panic).
fn bump_version(project: &Path, lang: &str) {
    let edits: &[(&str, &str, &str)] = match lang {
        "rust" => &[
            ("Cargo.toml", "version = \"0.1.0\"", "version = \"0.2.0\""),
            (
                "src/lib.rs",
                "let url = invocation.integration_url()?;",
                "assert!(config.label.as_deref() != Some(\"boom\"), \"boom from the plugin\");\n        let url = invocation.integration_url()?;",
            ),
        ],
        "javascript" => &[
            ("app.js", "VERSION = \"0.1.0\"", "VERSION = \"0.2.0\""),
            (
                "app.js",
                "const settings = config(invocation);",
                "const settings = config(invocation);\n    if (settings.label === \"boom\") throw new Error(\"boom from the plugin\");",
            ),
        ],
        _ => &[
            ("app.py", "VERSION = \"0.1.0\"", "VERSION = \"0.2.0\""),
            (
                "app.py",
                "config = herald.config(invocation)",
                "config = herald.config(invocation)\n        if config.get(\"label\") == \"boom\":\n            raise ValueError(\"boom from the plugin\")",
            ),
        ],
    };
    for (file, from, to) in edits {
        let path = project.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
}

/// `herald plugin run` of `component` with `config`, every request answered `status`; the report.
async fn run_once(project: &Path, component: &Path, config: &Value, status: u16) -> Value {
    let config_file = project.join("run-config.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let ran = herald(&[
        "--json",
        "plugin",
        "run",
        &component.display().to_string(),
        "--event",
        &project.join("event.json").display().to_string(),
        "--config",
        &config_file.display().to_string(),
        "--target",
        "https://example.com/hook",
        "--respond-status",
        &status.to_string(),
        "--respond-body",
        "from the fixture",
    ])
    .await;
    serde_json::from_slice(&ran.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&ran.stderr)))
}

/// The contract's status table (plugin.wit, `response`): one fixture set, every language.
const STATUS_TABLE: [(u16, &str); 13] = [
    (200, "succeeded"),
    (204, "succeeded"),
    (301, "rejected"),
    (400, "rejected"),
    (401, "rejected"),
    (404, "rejected"),
    (408, "transient"),
    (409, "rejected"),
    (422, "rejected"),
    (429, "transient"),
    (500, "transient"),
    (503, "transient"),
    (599, "transient"),
];

/// Posts an event and returns the request the receiver got for it.
async fn deliver(server: &Server, receiver: &Receiver, version: &str) -> crate::common::Recorded {
    let admin = server.admin();
    let before = receiver.requests().len();
    let event = post_event(
        &admin,
        &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                "collection": "churn", "version": version, "author": "ci-bot"}),
    )
    .await;
    let execution = settled(&admin, &event, Duration::from_secs(60)).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    receiver
        .wait_for(before + 1, Duration::from_secs(5))
        .await
        .last()
        .unwrap()
        .clone()
}

async fn the_template_builds_runs_installs_and_upgrades(lang: &str) {
    let name = format!("hello-{lang}");
    let dir = tempfile::tempdir().unwrap();
    let project = scaffold(dir.path(), &name, lang).await;
    let component = build_project(&project, &name, lang);

    // `herald plugin run` on the unchanged project's sample event and config.
    let component_arg = component.display().to_string();
    let event = project.join("event.json").display().to_string();
    let config = project.join("config.json").display().to_string();
    let ran = herald(&[
        "--json",
        "plugin",
        "run",
        &component_arg,
        "--event",
        &event,
        "--config",
        &config,
        "--target",
        "https://example.com/hook",
    ])
    .await;
    let report: Value = serde_json::from_slice(&ran.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&ran.stderr)));
    assert_eq!(report["outcome"], "succeeded", "{report}");
    let headers = report["requests"][0]["headers"].to_string();
    assert!(
        headers.contains("from-config"),
        "the sample config's label: {headers}"
    );

    // Each answer's status classified by the one table.
    let mut classified = Vec::new();
    for (status, _) in STATUS_TABLE {
        let report = run_once(&project, &component, &json!({}), status).await;
        classified.push((
            status,
            report["outcome"].as_str().unwrap_or("?").to_string(),
        ));
    }
    let expected: Vec<(u16, String)> = STATUS_TABLE
        .iter()
        .map(|(status, outcome)| (*status, outcome.to_string()))
        .collect();
    assert_eq!(classified, expected, "{lang}: the status table");

    // Installed on a running server, it delivers an event to a real receiver.
    let receiver = Receiver::ok().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&data.path().join("data"));
    let admin = server.admin();
    let (status, installed) =
        upload_plugin(&server, ADMIN_KEY, std::fs::read(&component).unwrap()).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["plugin"]["version"], "0.1.0");
    automation_on_links(
        &admin,
        "via-template",
        &receiver.url("/hook"),
        json!({"type": name, "config": {"label": "v1"}}),
    )
    .await;
    let first = deliver(&server, &receiver, "v1").await;
    assert_eq!(first.header("x-label"), "v1");
    assert_eq!(first.json()["author"], "ci-bot", "{:?}", first.json());

    // A new version, built and uploaded: the next execution runs it.
    bump_version(&project, lang);
    let component = build_project(&project, &name, lang);
    let (status, replaced) =
        upload_plugin(&server, ADMIN_KEY, std::fs::read(&component).unwrap()).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        (
            replaced["replaced"].as_str(),
            replaced["plugin"]["version"].as_str()
        ),
        (Some("0.1.0"), Some("0.2.0"))
    );
    deliver(&server, &receiver, "v2").await;
    // Its bug fails the execution with the bug's message, never a bare trap.
    let report = run_once(&project, &component, &json!({"label": "boom"}), 200).await;
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        report["outcome"] != "succeeded" && message.contains("boom from the plugin"),
        "{lang}: {report}"
    );
    if lang != "rust" {
        assert_eq!(
            report["outcome"], "rejected",
            "{lang}: a bug is not retried: {report}"
        );
    }
    let (_, listed) = admin.get("/v1/plugins").await;
    let ours = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name.as_str())
        .cloned();
    assert_eq!(ours.unwrap()["version"], "0.2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_plugin_from_the_template_builds_runs_installs_and_upgrades() {
    the_template_builds_runs_installs_and_upgrades("rust").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_from_the_template_builds_runs_installs_and_upgrades() {
    the_template_builds_runs_installs_and_upgrades("python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_plugin_from_the_template_builds_runs_installs_and_upgrades() {
    the_template_builds_runs_installs_and_upgrades("javascript").await;
}

#[tokio::test]
async fn a_bad_name_or_a_taken_directory_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("file"), "x").unwrap();
    let taken = taken.display().to_string();
    for (args, expected) in [
        (vec!["plugin", "new", "Bad_Name"], "is not a plugin name"),
        (
            vec!["plugin", "new", "good", "--dir", &taken],
            "exists and is not empty",
        ),
        (
            vec!["plugin", "new", "good", "--lang", "cobol"],
            "invalid value 'cobol'",
        ),
    ] {
        let output = herald(&args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}
