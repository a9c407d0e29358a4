//! Builds the `plugins/` workspace for `wasm32-wasip2` and embeds the built-in action plugins.
//!
//! The components are built once per run into `<target>/wasm-plugins` (shared by every profile,
//! so `cargo test`, `cargo build --release` and `cargo clippy` build them once between them).
//! Crates named `herald-plugin-*` are the built-ins, embedded in the binary; crates named
//! `herald-fixture-*` are test-only components whose directory the tests receive through
//! `HERALD_FIXTURE_DIR`.
//!
//! It also lists the console's files (`src/console/assets`) for embedding, so that a new page is
//! a new file and nothing else here.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the repository")
        .to_path_buf();
    for watched in ["plugins", "sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-plugins");

    ensure_wasm_target();
    build_plugins(&root, &target_dir);

    let out_wasm = target_dir.join(WASM_TARGET).join("release");
    let mut builtins = String::from(
        "/// The built-in action plugins: (crate name, component bytes).\n\
         pub(super) static BUILTIN_COMPONENTS: &[(&str, &[u8])] = &[\n",
    );
    for krate in plugin_crates(&root.join("plugins")) {
        let file = out_wasm.join(format!("{}.wasm", krate.replace('-', "_")));
        assert!(file.exists(), "{} was not built", file.display());
        if krate.starts_with("herald-plugin-") {
            writeln!(
                builtins,
                "    ({krate:?}, include_bytes!({:?})),",
                file.display().to_string()
            )
            .unwrap();
        }
    }
    builtins.push_str("];\n");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("builtin_components.rs"), builtins).unwrap();
    embed_console(&manifest_dir.join("src/console/assets"), &out_dir);
    println!("cargo:rustc-env=HERALD_FIXTURE_DIR={}", out_wasm.display());
    println!(
        "cargo:rustc-env=HERALD_SDK_DIR={}",
        root.join("sdk").display()
    );
}

/// Installs the wasm32-wasip2 target through rustup when it is missing, so that a fresh machine
/// needs nothing but `cargo build`.
fn ensure_wasm_target() {
    let sysroot = Command::new(env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let installed = sysroot
        .map(|s| Path::new(&s).join("lib/rustlib").join(WASM_TARGET).exists())
        .unwrap_or(false);
    if installed {
        return;
    }
    println!("cargo:warning=installing the {WASM_TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ => panic!(
            "the {WASM_TARGET} Rust target is missing and `rustup target add {WASM_TARGET}` \
             failed; install it and build again"
        ),
    }
}

fn build_plugins(root: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--workspace", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(root.join("plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    // The outer cargo's settings (its rustflags, clippy's wrapper, its jobserver) are not meant
    // for the WebAssembly build and would make it rebuild on every profile.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "RUSTFLAGS"
        {
            command.env_remove(key.as_ref());
        }
    }
    let status = command
        .status()
        .expect("cargo can be run from a build script");
    assert!(
        status.success(),
        "building the plugins for {WASM_TARGET} failed (see above)"
    );
}

/// The package names of the plugins workspace's members, read from their manifests.
fn plugin_crates(plugins_dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut dirs = vec![plugins_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if !path.is_dir() || path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            let manifest = path.join("Cargo.toml");
            match std::fs::read_to_string(&manifest) {
                Ok(text) => names.extend(package_name(&text)),
                Err(_) => dirs.push(path),
            }
        }
    }
    names.sort();
    names
}

fn package_name(manifest: &str) -> Option<String> {
    manifest
        .lines()
        .skip_while(|line| line.trim() != "[package]")
        .find_map(|line| line.trim().strip_prefix("name = "))
        .map(|name| name.trim_matches('"').to_string())
}

/// Writes `console_assets.rs`: every file under the console's assets folder (but the page
/// itself, `index.html`) as (path under `/console/`, content type, content). A file of a kind
/// the console does not serve fails the build rather than being sent with a guessed type.
fn embed_console(assets: &Path, out_dir: &Path) {
    println!("cargo:rerun-if-changed={}", assets.display());
    let mut files = Vec::new();
    let mut folders = vec![assets.to_path_buf()];
    while let Some(folder) = folders.pop() {
        println!("cargo:rerun-if-changed={}", folder.display());
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut list = String::from(
        "/// The embedded files: path under `/console/`, content type, content.\n\
         const ASSETS: &[(&str, &str, &str)] = &[\n",
    );
    for file in files {
        let name = file
            .strip_prefix(assets)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if name == "index.html" {
            continue;
        }
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            other => panic!("console asset {name}: no content type for {other:?}"),
        };
        writeln!(
            list,
            "    ({name:?}, {kind:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    list.push_str("];\n");
    std::fs::write(out_dir.join("console_assets.rs"), list).unwrap();
}
