//! The plugin contract a component must meet to load: the `herald:plugin` version line this host
//! runs, the world's imports and exports, and what `describe` must say; with the one-line
//! [`LoadError`] that names what is wrong.

use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::Component;

use super::PluginInfo;

/// The contract version this host implements: plugins built against any `0.2.x` load.
pub const CONTRACT_VERSION: &str = "0.2.0";
pub(super) const CONTRACT_PACKAGE: &str = "herald:plugin";
/// The version prefix every name of a loadable component carries.
pub(super) const CONTRACT_LINE: &str = "0.2.";
/// The interface every plugin exports, without its version.
const ACTION_EXPORT: &str = "herald:plugin/action";
/// The bare exports of the 0.1 contract, recognised only to say that a plugin is too old.
const V01_EXPORTS: [&str; 3] = ["describe", "validate-config", "execute"];

/// Why a component could not be loaded as a plugin. Each message is one line naming the problem.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly file (no `\\0asm` header)")]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "a core WebAssembly module, not a component: build the plugin for the wasm32-wasip2 target"
    )]
    CoreModule,
    /// The component failed to compile.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component was built for a newer contract version.
    #[error(
        "built for {CONTRACT_PACKAGE}@{found}, but this host runs {CONTRACT_PACKAGE}@0.2.x plugins"
    )]
    IncompatibleVersion {
        /// The version the component imports or exports.
        found: String,
    },
    /// The component was built for an older contract version that this host no longer runs.
    #[error(
        "built for {CONTRACT_PACKAGE}@{found}, an older contract: rebuild it against {CONTRACT_PACKAGE}@0.2.x (a current herald-sdk)"
    )]
    OlderContract {
        /// The version the component imports, or `0.1` when only its exports say so.
        found: String,
    },
    /// The component implements some other world.
    #[error("not a Herald action plugin: {0}")]
    WrongWorld(String),
    /// `describe` failed or returned something unusable.
    #[error("the plugin's describe() failed: {0}")]
    Describe(String),
}

/// Checks imports and exports against `herald:plugin/plugin@0.2.x` before linking, so that a
/// component of another world or version gets an error that says so.
pub(super) fn check_world(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(exports.iter().copied());
    for name in names {
        let Some(rest) = name.strip_prefix(&format!("{CONTRACT_PACKAGE}/")) else {
            continue;
        };
        let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
        if version.starts_with(CONTRACT_LINE) {
            continue;
        }
        let found = if version.is_empty() {
            "(unversioned)".to_string()
        } else {
            version.to_string()
        };
        return Err(if is_older(version) {
            LoadError::OlderContract { found }
        } else {
            LoadError::IncompatibleVersion { found }
        });
    }
    if let Some(name) = ty
        .imports(engine)
        .map(|(name, _)| name)
        .find(|name| !name.starts_with("wasi:") && !name.starts_with(CONTRACT_PACKAGE))
    {
        return Err(LoadError::WrongWorld(format!(
            "it imports `{name}`, which the plugin world does not provide"
        )));
    }
    if exports
        .iter()
        .any(|e| e.split('@').next() == Some(ACTION_EXPORT))
    {
        return Ok(());
    }
    // A 0.1 plugin that imports nothing from Herald says its age only through its bare exports.
    if V01_EXPORTS.iter().all(|e| exports.contains(e)) {
        return Err(LoadError::OlderContract {
            found: "0.1".into(),
        });
    }
    Err(LoadError::WrongWorld(format!(
        "missing export `{ACTION_EXPORT}@{CONTRACT_VERSION}` (it exports: {})",
        if exports.is_empty() {
            "nothing".into()
        } else {
            exports.join(", ")
        }
    )))
}

/// Whether a contract version is older than the line this host runs (`0.0.x` or `0.1.x`).
fn is_older(version: &str) -> bool {
    let mut parts = version.split('.').map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(0)), Some(Ok(minor))) => minor < 2,
        _ => false,
    }
}

/// Checks what a plugin's `describe` said of itself: its name, its default payload.
pub(super) fn validate_info(info: &PluginInfo) -> Result<(), String> {
    let name_ok = !info.name.is_empty()
        && info.name.len() <= 64
        && info
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(format!(
            "plugin name {:?} must be 1-64 lowercase letters, digits or `-`",
            info.name
        ));
    }
    if let Some(payload) = &info.default_payload {
        serde_json::from_str::<serde_json::Value>(payload)
            .map_err(|e| format!("default-payload is not JSON: {e}"))?;
    }
    Ok(())
}
