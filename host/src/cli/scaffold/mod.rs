//! `herald plugin new NAME --lang rust|python|javascript`: a ready plugin project (manifest, a source that
//! implements the world, a sample event and config, a README with the build command) that builds
//! and passes `herald plugin run` unchanged.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

/// The languages a project can be written in.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Lang {
    /// Rust with herald-sdk (`cargo build --target wasm32-wasip2`).
    Rust,
    /// Python, built with componentize-py against the contract's WIT.
    Python,
    /// JavaScript, built with componentize-js against the contract's WIT.
    #[value(alias = "js")]
    Javascript,
}

/// Options of `herald plugin new`.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The plugin's name (the automation's `action.type`): lowercase letters, digits and `-`.
    name: String,
    /// The language.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to write the project [default: ./NAME]; it must not exist or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Rust: the herald-sdk directory to depend on [default: this build's own, when present].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// The contract, for projects whose toolchain reads WIT directly.
const WIT: &str = include_str!("../../../../wit/plugin.wit");

const SAMPLE_EVENT: &str = r#"{
  "type": "LINK_ARTIFACT",
  "entity": "default",
  "registry": "model-registry",
  "collection": "churn",
  "version": "v3",
  "author": "ci-bot"
}
"#;

const SAMPLE_CONFIG: &str = "{\"label\": \"from-config\"}\n";

/// Writes the project and prints what to do next.
pub(crate) fn run(args: NewArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!("{} exists and is not empty", dir.display());
    }
    let fill = |template: &str, extra: &[(&str, &str)]| {
        let mut text = template.replace("{{name}}", &args.name);
        for (key, value) in extra {
            text = text.replace(&format!("{{{{{key}}}}}"), value);
        }
        text
    };
    let mut files: Vec<(&str, String)> = vec![
        ("event.json", SAMPLE_EVENT.to_string()),
        ("config.json", SAMPLE_CONFIG.to_string()),
    ];
    let build = match args.lang {
        Lang::Rust => {
            let sdk = sdk_dependency(args.sdk.as_deref())?;
            let crate_file = args.name.replace('-', "_");
            let extra = [
                ("sdk_dependency", sdk.as_str()),
                ("crate_file", crate_file.as_str()),
            ];
            files.push((
                "Cargo.toml",
                fill(include_str!("rust/Cargo.toml.tmpl"), &extra),
            ));
            files.push(("src/lib.rs", fill(include_str!("rust/lib.rs.tmpl"), &extra)));
            files.push((
                "README.md",
                fill(include_str!("rust/README.md.tmpl"), &extra),
            ));
            files.push((".gitignore", "/target\n".into()));
            format!(
                "cargo build --release --target wasm32-wasip2\n  herald plugin run \
                 target/wasm32-wasip2/release/{crate_file}.wasm --event event.json --config \
                 config.json --target https://example.com/hook"
            )
        }
        Lang::Python => {
            files.push(("app.py", fill(include_str!("python/app.py.tmpl"), &[])));
            files.push((
                "herald.py",
                fill(include_str!("python/herald.py.tmpl"), &[]),
            ));
            files.push((
                "README.md",
                fill(include_str!("python/README.md.tmpl"), &[]),
            ));
            files.push(("wit/plugin.wit", WIT.to_string()));
            files.push((".gitignore", "*.wasm\n__pycache__/\n".into()));
            format!(
                "componentize-py -d wit -w plugin componentize app -o {name}.wasm\n  herald plugin \
                 run {name}.wasm --event event.json --config config.json --target \
                 https://example.com/hook",
                name = args.name
            )
        }
        Lang::Javascript => {
            files.push(("app.js", fill(include_str!("javascript/app.js.tmpl"), &[])));
            files.push((
                "herald.js",
                fill(include_str!("javascript/herald.js.tmpl"), &[]),
            ));
            files.push((
                "package.json",
                fill(include_str!("javascript/package.json.tmpl"), &[]),
            ));
            files.push((
                "README.md",
                fill(include_str!("javascript/README.md.tmpl"), &[]),
            ));
            files.push(("wit/plugin.wit", WIT.to_string()));
            files.push((".gitignore", "node_modules/\n*.wasm\n".into()));
            format!(
                "npm install && npm run build\n  herald plugin run {name}.wasm --event event.json \
                 --config config.json --target https://example.com/hook",
                name = args.name
            )
        }
    };
    for (name, text) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("created {} in {}", args.name, dir.display());
    println!("next, in {}:\n  {build}", dir.display());
    Ok(())
}

/// The rule `describe` names must follow (the host refuses others at load).
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "{name:?} is not a plugin name: lowercase letters, digits and `-`, starting with a \
             letter, at most 64 characters"
        );
    }
    Ok(())
}

/// The `herald-sdk` line of a Rust project's Cargo.toml.
fn sdk_dependency(given: Option<&Path>) -> anyhow::Result<String> {
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    let dir = match given {
        Some(dir) => dir.to_path_buf(),
        None if own.join("Cargo.toml").exists() => own,
        None => {
            return Ok(
                "# Herald's SDK: a path to a Herald checkout's sdk/, or a git dependency on \
                 Herald's repository with package = \"herald-sdk\".\nherald-sdk = { path = \
                 \"../herald/sdk\" }"
                    .into(),
            );
        }
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("--sdk {}", dir.display()))?;
    if !dir.join("Cargo.toml").exists() {
        bail!("--sdk {}: no Cargo.toml there", dir.display());
    }
    Ok(format!(
        "herald-sdk = {{ path = {:?} }}",
        dir.display().to_string()
    ))
}
