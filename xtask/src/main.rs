//! `cargo xtask test`: every test of the repository in one command. It installs Debian's
//! `chromium` when missing (the console's tests drive it headless), starts one throwaway
//! PostgreSQL server (installing Debian's `postgresql` when missing), runs the Rust workspace
//! (`cargo test --workspace`: unit tests and the real binary end to end on SQLite), the end-to-end
//! suite again with every server on PostgreSQL, then the Python client's
//! tests against that same binary, in a virtual environment this task creates and fills from PyPI
//! when it is missing (`target/python-venv`: the client, pytest, componentize-py, which the
//! Python plugin template's end-to-end test builds with, and schemathesis; componentize-js for
//! the JavaScript one and axe-core, which the console tests check pages with, go to
//! `target/node-tools`), and last schemathesis over the API document
//! (`contract.rs`). Stops at the first suite that fails.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod contract;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        _ => Err("usage: cargo xtask test [-- <cargo test arguments>]".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lives in the repository")
        .to_path_buf()
}

/// Runs `command`, failing with `what` when it does not succeed.
fn run(command: &mut Command, what: &str) -> Result<(), String> {
    eprintln!("xtask: {what}");
    let status = command
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: failed ({status})"))
    }
}

fn test(cargo_args: &[String]) -> Result<(), String> {
    let root = root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = target_dir(&root);
    // The console's tests drive headless Chromium (one browser for the run, started by the
    // test binary itself).
    if std::env::var_os("HERALD_CHROMIUM").is_none() && !on_path(CHROMIUM_NAMES) {
        pgtemp::install_debian_packages(
            &["chromium"],
            "the console tests drive headless Chromium",
        )?;
    }
    // The Python environment first: the plugin templates' tests build with its componentize-py.
    let python = python_environment(&root, &target)?;
    let componentize_py = python.with_file_name("componentize-py");
    let (componentize_js, axe) = node_tools(&target)?;
    // One PostgreSQL server for the whole run; each test creates its own database in it.
    eprintln!("xtask: starting a throwaway PostgreSQL server");
    // Under the system's temporary directory: run as root, the server runs as `postgres`, which
    // may not be allowed into the checkout.
    let postgres_dir =
        std::env::temp_dir().join(format!("herald-test-postgres-{}", std::process::id()));
    let postgres = pgtemp::PgServer::start(&postgres_dir, pgtemp::Tuning::Fast)?;
    let database_url = postgres.url("postgres");
    run(
        Command::new(&cargo)
            .args(["test", "--workspace"])
            .args(cargo_args)
            .env("HERALD_TEST_DATABASE_URL", &database_url)
            .env("HERALD_COMPONENTIZE_PY", &componentize_py)
            .env("HERALD_COMPONENTIZE_JS", &componentize_js)
            .env("HERALD_AXE_JS", &axe)
            .current_dir(&root),
        "cargo test --workspace (end-to-end tests on SQLite)",
    )?;
    // The end-to-end suite again, every server on a PostgreSQL database of its own. Tests of
    // the SQLite file itself (its durability, a full disk, its write batching) only run above.
    run(
        Command::new(&cargo)
            .args(["test", "--workspace", "--test", "it"])
            .args(cargo_args)
            // The plugin templates' builds store nothing: they run once, above.
            .args([
                "--",
                "--skip",
                "sqlite_faults::",
                "--skip",
                "postgres::",
                "--skip",
                "plugin_scaffold::",
            ])
            .env("HERALD_TEST_DATABASE_URL", &database_url)
            .env("HERALD_TEST_BACKEND", "postgres")
            .env("HERALD_AXE_JS", &axe)
            .current_dir(&root),
        "the end-to-end tests on PostgreSQL",
    )?;
    drop(postgres);
    // What plugin authors read: the SDK's documentation builds, with no broken link.
    run(
        Command::new(&cargo)
            .args(["doc", "--package", "herald-sdk", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings")
            .current_dir(&root),
        "cargo doc --package herald-sdk",
    )?;
    // The binary the Python tests drive: the one `cargo test` built for the end-to-end tests
    // (building it alone would compile it again, without the test dependencies' features).
    let herald = target.join("debug").join("herald");
    if !herald.exists() {
        return Err(format!("{} is missing after cargo test", herald.display()));
    }
    run(
        Command::new(&python)
            .args(["-m", "pytest", "-q", "tests"])
            .current_dir(root.join("clients/python"))
            .env("HERALD_BIN", &herald),
        "the Python client's tests (pytest)",
    )?;
    // Last: the API document against the same binary, by requests generated from it.
    contract::check(&root, &herald, &python)
}

/// The npm packages the tests use, each at the version named: componentize-js (the one the
/// JavaScript plugin template's package.json names), which builds that template, and axe-core,
/// which the console tests run over every page state.
const NODE_PACKAGES: &[&str] = &[
    "@bytecodealliance/componentize-js@0.23.0",
    "axe-core@4.11.0",
];

/// The npm tools the tests use, installed into `target/node-tools` when missing (with Debian's
/// `nodejs` and `npm` first when they are missing): componentize-js's binary and axe-core's
/// script.
fn node_tools(target: &Path) -> Result<(PathBuf, PathBuf), String> {
    let tools = target.join("node-tools");
    let bin = tools.join("node_modules/.bin/componentize-js");
    let axe = tools.join("node_modules/axe-core/axe.min.js");
    if bin.exists() && axe.exists() {
        return Ok((bin, axe));
    }
    if !on_path(&["npm"]) {
        pgtemp::install_debian_packages(
            &["nodejs", "npm"],
            "building the JavaScript plugin template and checking the console with axe-core",
        )?;
    }
    std::fs::create_dir_all(&tools).map_err(|e| format!("{}: {e}", tools.display()))?;
    run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&tools)
            .args(NODE_PACKAGES),
        "installing componentize-js and axe-core from npm",
    )?;
    Ok((bin, axe))
}

/// The names the console tests look for Chromium under (`tests/it/browser.rs`).
const CHROMIUM_NAMES: &[&str] = &["chromium", "chromium-browser", "google-chrome"];

/// Whether one of `names` is a file in a `PATH` directory.
fn on_path(names: &[&str]) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| names.iter().any(|name| dir.join(name).is_file()))
    })
}

/// Where cargo builds.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// The virtual environment's Python, with the client, pytest, componentize-py and schemathesis installed;
/// created when missing.
fn python_environment(root: &Path, target: &Path) -> Result<PathBuf, String> {
    let venv = target.join("python-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        if !created {
            // A fresh Debian machine may lack Python or its venv module: install them, as the
            // suite's other system needs are installed (the suite runs as root).
            pgtemp::install_debian_packages(
                &["python3", "python3-venv"],
                "the Python client's tests",
            )?;
            let _ = std::fs::remove_dir_all(&venv);
            run(
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
                "creating the Python virtual environment",
            )?;
        }
    }
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-e",
            ])
            .arg(root.join("clients/python").display().to_string() + "[test]")
            // What the Python plugin template is built with (its tests in tests/it).
            .arg("componentize-py==0.25.1")
            // What holds the API document to the server (contract.rs).
            .arg("schemathesis==4.32.5"),
        "installing the Python client, pytest, componentize-py and schemathesis",
    )?;
    Ok(python)
}
