//! The registry of installed action plugins: the built-ins embedded in the binary, and
//! third-party components loaded from the operator's plugins directory or installed through the
//! API (which the database keeps for every host: `sync.rs`).

mod sync;

pub use sync::sync_from_store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

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

/// Installed plugins by name. Installing, replacing and removing happen while the server runs:
/// lookups hand out an `Arc`, so an execution that started on one version finishes on it.
#[derive(Debug)]
pub struct PluginRegistry {
    plugins: RwLock<BTreeMap<String, Arc<Plugin>>>,
    /// Where installed components are kept (`<name>.wasm`), read again at start.
    dir: PathBuf,
}

/// A plugin file in the plugins directory that could not be loaded.
#[derive(Debug)]
pub struct Rejected {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Why an install or a removal was refused.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Built-in plugins are part of the binary.
    #[error("{0} is a built-in plugin: it cannot be replaced or removed")]
    Builtin(String),
    /// No plugin has that name.
    #[error("no plugin named {0}")]
    NotFound(String),
    /// The component could not be kept on disk.
    #[error("cannot write the plugins directory: {0}")]
    Io(String),
}

impl PluginRegistry {
    /// Loads every built-in, then every `*.wasm` in `dir` (where installs are kept too). A
    /// third-party file that does not load (or that reuses a taken name) is reported in the
    /// second value and skipped: one bad file must not stop the host.
    pub async fn load(engine: &PluginEngine, dir: &Path) -> anyhow::Result<(Self, Vec<Rejected>)> {
        let mut plugins = BTreeMap::new();
        for (krate, bytes) in builtin_components() {
            let plugin = engine
                .load(bytes, "builtin")
                .await
                .with_context(|| format!("the built-in plugin {krate} does not load"))?;
            plugins.insert(plugin.info.name.clone(), Arc::new(plugin));
        }
        let mut rejected = Vec::new();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the plugins directory {}", dir.display()))?;
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
                Ok(plugin) if plugins.contains_key(&plugin.info.name) => rejected.push(Rejected {
                    path: shown,
                    reason: format!("the name `{}` is already taken", plugin.info.name),
                }),
                Ok(plugin) => {
                    plugins.insert(plugin.info.name.clone(), Arc::new(plugin));
                }
                Err(reason) => rejected.push(Rejected {
                    path: shown,
                    reason,
                }),
            }
        }
        let registry = Self {
            plugins: RwLock::new(plugins),
            dir: dir.to_path_buf(),
        };
        Ok((registry, rejected))
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins
            .read()
            .expect("not poisoned")
            .get(name)
            .cloned()
    }

    /// The digest of the third-party component installed as `name` (a built-in has none here:
    /// the database never records one).
    pub(crate) fn digest_of(&self, name: &str) -> Option<String> {
        self.get(name)
            .filter(|plugin| plugin.source != "builtin")
            .map(|plugin| plugin.digest.clone())
    }

    /// Every plugin, by name.
    pub fn all(&self) -> Vec<Arc<Plugin>> {
        self.plugins
            .read()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// Installs a loaded (so validated) component under its name, replacing a third-party
    /// plugin of that name, and keeps its bytes in the plugins directory as `<name>.wasm`.
    pub fn install(&self, mut plugin: Plugin, bytes: &[u8]) -> Result<Arc<Plugin>, InstallError> {
        let name = plugin.info.name.clone();
        let path = self.dir.join(format!("{name}.wasm"));
        let mut plugins = self.plugins.write().expect("not poisoned");
        let previous = plugins.get(&name).cloned();
        if previous.as_ref().is_some_and(|p| p.source == "builtin") {
            return Err(InstallError::Builtin(name));
        }
        // Written under another name, then renamed: a crash never leaves half a component.
        let temporary = path.with_extension(format!("wasm.tmp{}", std::process::id()));
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| InstallError::Io(e.to_string()))?;
        if let Some(previous) = &previous
            && Path::new(&previous.source) != path
        {
            // The replaced version came from a file of another name: it must not load again.
            let _ = std::fs::remove_file(&previous.source);
        }
        plugin.source = path.display().to_string();
        let plugin = Arc::new(plugin);
        plugins.insert(name, plugin.clone());
        Ok(plugin)
    }

    /// Whether a component called `name` may be installed: the version it would replace, or
    /// `Builtin`.
    pub fn installable(&self, name: &str) -> Result<Option<String>, InstallError> {
        match self.get(name) {
            Some(plugin) if plugin.source == "builtin" => {
                Err(InstallError::Builtin(name.to_string()))
            }
            other => Ok(other.map(|plugin| plugin.info.version.clone())),
        }
    }

    /// Whether `name` is a third-party plugin that may be removed (`NotFound` or `Builtin` if not).
    pub fn removable(&self, name: &str) -> Result<(), InstallError> {
        match self.get(name) {
            None => Err(InstallError::NotFound(name.to_string())),
            Some(plugin) if plugin.source == "builtin" => {
                Err(InstallError::Builtin(name.to_string()))
            }
            Some(_) => Ok(()),
        }
    }

    /// Removes a third-party plugin and its file.
    pub fn remove(&self, name: &str) -> Result<Arc<Plugin>, InstallError> {
        let mut plugins = self.plugins.write().expect("not poisoned");
        let plugin = plugins
            .get(name)
            .cloned()
            .ok_or_else(|| InstallError::NotFound(name.to_string()))?;
        if plugin.source == "builtin" {
            return Err(InstallError::Builtin(name.to_string()));
        }
        match std::fs::remove_file(&plugin.source) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(InstallError::Io(e.to_string())),
        }
        plugins.remove(name);
        Ok(plugin)
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
    /// Whether it is embedded in the binary (the others were installed by the operator).
    pub builtin: bool,
    /// `builtin` or the file it came from: a path on the server, so shown to the operator only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
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
            builtin: plugin.source == "builtin",
            source: Some(plugin.source.clone()),
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
