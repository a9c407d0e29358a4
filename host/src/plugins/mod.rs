//! The registry of installed action plugins: the built-ins embedded in the binary, and
//! third-party components loaded from the operator's plugins directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::engine::{LoadError, Plugin, PluginEngine};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_components.rs"));
}

/// The built-in components: (crate name, bytes). Exposed for the benchmark and `plugin inspect`.
pub fn builtin_components() -> &'static [(&'static str, &'static [u8])] {
    builtin::BUILTIN_COMPONENTS
}

/// The bytes of the built-in plugin called `name` (`webhook`, ...), if there is one.
pub fn builtin_bytes(name: &str) -> Option<&'static [u8]> {
    let crate_name = format!("herald-plugin-{name}");
    builtin_components()
        .iter()
        .find(|(krate, _)| *krate == crate_name)
        .map(|(_, bytes)| *bytes)
}

/// Where this build put the components built from `plugins/` (the built-ins and the test
/// fixtures), for the tests and the benchmark.
pub const BUILT_COMPONENTS_DIR: &str = env!("HERALD_FIXTURE_DIR");

/// Installed plugins by name.
#[derive(Debug, Default)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, Arc<Plugin>>,
}

/// A plugin file in the plugins directory that could not be loaded.
#[derive(Debug)]
pub struct Rejected {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

impl PluginRegistry {
    /// Loads every built-in, then every `*.wasm` in `dir`. A third-party file that does not load
    /// (or that reuses a taken name) is reported in the second value and skipped: one bad file
    /// must not stop the host.
    pub async fn load(
        engine: &PluginEngine,
        dir: Option<&Path>,
    ) -> anyhow::Result<(Self, Vec<Rejected>)> {
        let mut registry = Self::default();
        for (krate, bytes) in builtin_components() {
            let plugin = engine
                .load(bytes, "builtin")
                .await
                .with_context(|| format!("the built-in plugin {krate} does not load"))?;
            registry
                .plugins
                .insert(plugin.info.name.clone(), Arc::new(plugin));
        }
        let mut rejected = Vec::new();
        let Some(dir) = dir else {
            return Ok((registry, rejected));
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the plugins directory {}", dir.display()))?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
            .collect();
        files.sort();
        for path in files {
            let shown = path.display().to_string();
            let result = match std::fs::read(&path) {
                Ok(bytes) => engine.load(&bytes, &shown).await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("cannot read it: {e}")),
            };
            match result {
                Ok(plugin) if registry.plugins.contains_key(&plugin.info.name) => {
                    rejected.push(Rejected {
                        path: shown,
                        reason: format!("the name `{}` is already taken", plugin.info.name),
                    })
                }
                Ok(plugin) => {
                    registry
                        .plugins
                        .insert(plugin.info.name.clone(), Arc::new(plugin));
                }
                Err(reason) => rejected.push(Rejected {
                    path: shown,
                    reason,
                }),
            }
        }
        Ok((registry, rejected))
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.get(name).cloned()
    }

    /// Every plugin, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.values()
    }
}

/// Loads one plugin named on the command line: a built-in's name, or a path to a `.wasm` file.
pub async fn load_one(engine: &PluginEngine, spec: &str) -> anyhow::Result<Plugin> {
    let (bytes, source) = read_one(spec)?;
    engine
        .load(&bytes, &source)
        .await
        .map_err(|e: LoadError| anyhow::anyhow!("{spec}: {e}"))
}

/// The bytes of a built-in plugin's component (by name) or of a component file, and where they
/// came from (`builtin` or the path).
pub fn read_one(spec: &str) -> anyhow::Result<(Vec<u8>, String)> {
    match builtin_bytes(spec) {
        Some(bytes) if !Path::new(spec).exists() => Ok((bytes.to_vec(), "builtin".to_string())),
        _ => {
            let bytes = std::fs::read(spec).with_context(|| {
                format!(
                    "{spec}: neither a built-in plugin ({}) nor a readable file",
                    builtin_names().join(", ")
                )
            })?;
            Ok((bytes, spec.to_string()))
        }
    }
}

fn builtin_names() -> Vec<String> {
    builtin_components()
        .iter()
        .map(|(krate, _)| krate.trim_start_matches("herald-plugin-").to_string())
        .collect()
}

/// An installed plugin as the API lists it and `herald plugin inspect` prints it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PluginOut {
    /// Its name (an automation's `action.type`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// One sentence.
    pub description: String,
    /// `builtin` or the file it came from.
    pub source: String,
    /// The integration kinds it sends through.
    pub integration_kinds: Vec<String>,
    /// The JSON Schema its action config must match (the host checks it).
    #[schema(value_type = Object)]
    pub config_schema: serde_json::Value,
    /// The payload template used when an automation has none.
    #[schema(value_type = Option<Object>)]
    pub default_payload: Option<serde_json::Value>,
}

impl From<&Plugin> for PluginOut {
    fn from(plugin: &Plugin) -> Self {
        let info = &plugin.info;
        Self {
            name: info.name.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            source: plugin.source.clone(),
            integration_kinds: info.integration_kinds.clone(),
            config_schema: plugin.config_schema.clone(),
            default_payload: info
                .default_payload
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
        }
    }
}

/// A plugin as JSON (see [`PluginOut`]).
pub fn plugin_json(plugin: &Plugin) -> serde_json::Value {
    serde_json::to_value(PluginOut::from(plugin)).expect("a plugin serialises")
}
