//! The WebAssembly sandbox: one wasmtime `Engine` with a pooling allocator, loading plugins
//! (compile once, cache on disk, check the contract, pre-link), and running each call in a
//! fresh `Store` with a CPU deadline, a memory cap and a WASI context that grants nothing.

mod bindings;
mod cache;
pub mod outbound;
mod sandbox;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use bindings::{
    ActionError, Header, HttpError, HttpRequest, HttpResponse, Invocation, LogLevel, Outcome,
    PluginInfo, RunRequest, TransientFailure,
};
pub use sandbox::{HostIo, MAX_REQUEST_HEADER_BYTES, RequestRecord, ResponseRecord};
pub use state::LogLine;

mod limits;
mod output;
pub use limits::SandboxLimits;

use bindings::{Plugin as Bindings, PluginPre};
use state::ExecState;

/// The contract version this host implements: plugins built against any `0.2.x` load.
pub const CONTRACT_VERSION: &str = "0.2.0";
const CONTRACT_PACKAGE: &str = "herald:plugin";
/// The version prefix every name of a loadable component carries.
const CONTRACT_LINE: &str = "0.2.";
/// The interface every plugin exports, without its version.
const ACTION_EXPORT: &str = "herald:plugin/action";
const EPOCH_TICK: Duration = Duration::from_millis(5);
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

/// Why a call into a plugin did not return normally. The host never panics on any of these.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SandboxError {
    /// The plugin used more CPU time than allowed.
    #[error("the plugin exceeded its CPU time limit of {0:?}")]
    CpuDeadline(Duration),
    /// The execution took longer than the wall-clock limit (including HTTP).
    #[error("the plugin exceeded its wall-clock limit of {0:?}")]
    WallDeadline(Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("the plugin exceeded its memory limit of {limit_bytes} bytes")]
    MemoryExhausted {
        /// The cap, in bytes.
        limit_bytes: usize,
    },
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access, ...).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// Every pooled instance slot is busy; the call can be retried.
    #[error("no free plugin instance slot (all {0} in use)")]
    PoolExhausted(u32),
    /// The plugin broke the contract in a way the host detected.
    #[error("contract violation: {0}")]
    ContractViolation(String),
}

/// Why an action config was not accepted (see [`PluginEngine::check_config`]).
#[derive(Debug, Error)]
pub enum ConfigRefusal {
    /// It does not match the plugin's config schema; each failing place named by a JSON pointer.
    #[error("it does not match the plugin's config schema: {0}")]
    Schema(String),
    /// The plugin's `validate-config` refused it, with this message.
    #[error("the plugin refused it: {0}")]
    Refused(String),
    /// The plugin failed while checking it.
    #[error("the plugin failed to check it: {0}")]
    Failed(SandboxError),
}

impl ConfigRefusal {
    /// The refusal as one sentence for a user: `field` names what held the config (for example
    /// `action.config`), `plugin` the plugin.
    pub fn explain(&self, field: &str, plugin: &str) -> String {
        match self {
            Self::Schema(problem) => {
                format!("{field} does not match the {plugin} plugin's config schema: {problem}")
            }
            Self::Refused(refusal) => format!("the {plugin} plugin refused {field}: {refusal}"),
            Self::Failed(failure) => {
                format!("the {plugin} plugin failed to check {field}: {failure}")
            }
        }
    }
}

/// A loaded, pre-linked plugin, ready to instantiate.
pub struct Plugin {
    /// What the plugin said about itself.
    pub info: PluginInfo,
    /// The config JSON Schema, parsed.
    pub config_schema: serde_json::Value,
    /// The config schema, compiled: the host checks every config against it before the plugin's
    /// own `validate-config` sees it.
    config_validator: jsonschema::Validator,
    /// Where it came from (`builtin` or a file path), for messages.
    pub source: String,
    /// The SHA-256 of the component, in hex: it names the compiled-component cache's entry, and
    /// hosts sharing a database compare it with the version recorded there.
    pub digest: String,
    pre: PluginPre<ExecState>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("source", &self.source)
            .finish()
    }
}

impl Plugin {
    /// Checks a config against the plugin's declared JSON Schema; the error names each failing
    /// place as a JSON pointer into the config (at most five).
    fn check_schema(&self, config: &serde_json::Value) -> Result<(), String> {
        let problems: Vec<String> = self
            .config_validator
            .iter_errors(config)
            .take(5)
            .map(|error| {
                let path = error.instance_path().to_string();
                // The error quotes the offending value, which may be long.
                let text = crate::bounded::cut(&error.to_string(), 300);
                format!("{}: {text}", if path.is_empty() { "/" } else { &path })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The result of one `execute` call: what the plugin returned, plus everything it did.
#[derive(Debug)]
pub struct ExecutionReport {
    /// The plugin's answer, or why the sandbox stopped it.
    pub result: Result<Result<Outcome, ActionError>, SandboxError>,
    /// Every request the plugin asked for, in order (headers and body as sent, not redacted).
    pub requests: Vec<RequestRecord>,
    /// The plugin's log lines (and its stderr, as `warn` lines).
    pub logs: Vec<LogLine>,
    /// How long the call took, instantiation included.
    pub duration: Duration,
}

/// The sandbox host: one per process, shared by every execution.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    engine: Engine,
    linker: Linker<ExecState>,
    limits: SandboxLimits,
    cache_dir: Option<PathBuf>,
}

impl PluginEngine {
    /// Builds the engine. `cache_dir`, when given, holds compiled components so that a restart
    /// does not compile them again; it must be writable only by the operator.
    pub fn new(limits: SandboxLimits, cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::new();
        let slots = limits.max_concurrent_instances;
        // A Rust wasm32-wasip2 component holds a handful of core instances (the program, the
        // WASI adapter, shims); these are counts, not memory, so they are generous.
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .total_stacks(slots)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memory_size(limits.memory_bytes)
            // Reusing a slot's pages instead of returning them to the kernel keeps
            // instantiation in the microseconds: with PAGEMAP_SCAN (Linux 6.7+) only the pages
            // a plugin dirtied are reset, so a large keep-resident window costs nothing extra.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(4 << 20)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(256 << 10);

        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .wasm_component_model(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::<ExecState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Bindings::add_to_linker::<ExecState, wasmtime::component::HasSelf<ExecState>>(
            &mut linker,
            |state| state,
        )?;
        spawn_epoch_ticker(&engine);
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self {
            inner: Arc::new(EngineInner {
                engine,
                linker,
                limits,
                cache_dir,
            }),
        })
    }

    /// The limits every execution runs under.
    pub fn limits(&self) -> &SandboxLimits {
        &self.inner.limits
    }

    /// Compiles (or loads from the cache), checks and pre-links a component, then asks it to
    /// describe itself.
    pub async fn load(&self, bytes: &[u8], source: &str) -> Result<Plugin, LoadError> {
        // Compiling a large component (an interpreter built in) takes seconds of CPU: on a
        // blocking thread, not on one of the workers that answer requests.
        let digest = cache::digest(bytes);
        let component = {
            let (engine, bytes, digest) = (self.clone(), bytes.to_vec(), digest.clone());
            tokio::task::spawn_blocking(move || engine.compile(&bytes, &digest))
                .await
                .map_err(|e| LoadError::Compile(e.to_string()))??
        };
        check_world(&self.inner.engine, &component)?;
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld(one_line(&e)))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(one_line(&e)))?;
        let mut plugin = Plugin {
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                description: String::new(),
                config_schema: String::new(),
                default_payload: None,
                integration_kinds: Vec::new(),
            },
            config_schema: serde_json::Value::Null,
            config_validator: jsonschema::validator_for(&serde_json::Value::Bool(true))
                .expect("`true` is a schema"),
            source: source.to_string(),
            digest,
            pre,
        };
        let info = self
            .call(&plugin, None, async |action, store| {
                action.herald_plugin_action().call_describe(store).await
            })
            .await
            .0
            .map_err(|e| LoadError::Describe(e.to_string()))?;
        validate_info(&info).map_err(LoadError::Describe)?;
        plugin.config_schema = serde_json::from_str(&info.config_schema)
            .map_err(|e| LoadError::Describe(format!("config-schema is not JSON: {e}")))?;
        plugin.config_validator = jsonschema::validator_for(&plugin.config_schema)
            .map_err(|e| LoadError::Describe(format!("config-schema is not a JSON Schema: {e}")))?;
        plugin.info = info;
        Ok(plugin)
    }

    /// The one config check every caller makes (saving an automation, testing an integration,
    /// `herald plugin run`): the plugin's declared JSON Schema first, then its `validate-config`.
    pub async fn check_config(
        &self,
        plugin: &Plugin,
        config: &serde_json::Value,
    ) -> Result<(), ConfigRefusal> {
        plugin.check_schema(config).map_err(ConfigRefusal::Schema)?;
        match self.validate_config(plugin, &config.to_string()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => Err(ConfigRefusal::Refused(refusal)),
            Err(failure) => Err(ConfigRefusal::Failed(failure)),
        }
    }

    /// Asks the plugin whether it accepts an action config. `Ok(Err(message))` is a refusal.
    async fn validate_config(
        &self,
        plugin: &Plugin,
        config: &str,
    ) -> Result<Result<(), String>, SandboxError> {
        self.call(plugin, None, async |action, store| {
            action
                .herald_plugin_action()
                .call_validate_config(store, config)
                .await
        })
        .await
        .0
    }

    /// Runs the action once. `io` carries the egress grant, credentials and transport.
    pub async fn execute(
        &self,
        plugin: &Plugin,
        invocation: &Invocation,
        io: HostIo,
    ) -> ExecutionReport {
        let started = Instant::now();
        let (result, state) = self
            .call(plugin, Some(io), async |action, store| {
                action
                    .herald_plugin_action()
                    .call_execute(store, invocation)
                    .await
            })
            .await;
        let (requests, logs) = state.into_records();
        ExecutionReport {
            result,
            requests,
            logs,
            duration: started.elapsed(),
        }
    }

    /// Instantiates the plugin in a fresh store, runs `f`, and classifies any failure.
    async fn call<R>(
        &self,
        plugin: &Plugin,
        io: Option<HostIo>,
        f: impl AsyncFnOnce(&Bindings, &mut wasmtime::Store<ExecState>) -> wasmtime::Result<R>,
    ) -> (Result<R, SandboxError>, ExecState) {
        let limits = &self.inner.limits;
        let mut store = state::new_store(&self.inner.engine, limits, io, EPOCH_TICK);
        let run = async {
            let action = plugin.pre.instantiate_async(&mut store).await?;
            f(&action, &mut store).await
        };
        let outcome = tokio::time::timeout(limits.wall_time, run).await;
        let result = match outcome {
            Err(_) => Err(SandboxError::WallDeadline(limits.wall_time)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(classify(&error, store.data(), limits)),
        };
        (result, store.into_data())
    }

    /// Whether the on-disk cache holds this component compiled already (loading it will not
    /// compile it).
    pub fn is_cached(&self, bytes: &[u8]) -> bool {
        self.inner
            .cache_dir
            .as_deref()
            .is_some_and(|dir| cache::holds(&self.inner.engine, dir, &cache::digest(bytes)))
    }

    /// Compiles a component, going through the on-disk cache when there is one.
    fn compile(&self, bytes: &[u8], digest: &str) -> Result<Component, LoadError> {
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(LoadError::NotWasm);
        }
        // Core modules carry version 1 in bytes 4..8; components carry a layer of 1 in 6..8.
        if bytes[4..8] == [1, 0, 0, 0] {
            return Err(LoadError::CoreModule);
        }
        let engine = &self.inner.engine;
        match &self.inner.cache_dir {
            Some(dir) => cache::load_or_compile(engine, dir, bytes, digest),
            None => Component::new(engine, bytes).map_err(|e| LoadError::Compile(one_line(&e))),
        }
    }
}

/// Advances the engine's epoch every tick, for CPU deadlines. Stops when the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("herald-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("the epoch thread starts");
}

/// Checks imports and exports against `herald:plugin/plugin@0.2.x` before linking, so that a
/// component of another world or version gets an error that says so.
fn check_world(engine: &Engine, component: &Component) -> Result<(), LoadError> {
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

fn validate_info(info: &PluginInfo) -> Result<(), String> {
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

fn classify(error: &wasmtime::Error, state: &ExecState, limits: &SandboxLimits) -> SandboxError {
    if state.memory_exhausted() {
        return SandboxError::MemoryExhausted {
            limit_bytes: limits.memory_bytes,
        };
    }
    if state.cpu_deadline_hit() {
        return SandboxError::CpuDeadline(limits.cpu_time);
    }
    let message = one_line(error);
    if message.contains("maximum concurrent") || message.contains("pooling allocator") {
        return SandboxError::PoolExhausted(limits.max_concurrent_instances);
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        let panic = state.stderr_tail();
        return SandboxError::Trap(if panic.is_empty() {
            trap.to_string()
        } else {
            format!("{trap} ({panic})")
        });
    }
    SandboxError::ContractViolation(message)
}

/// An error chain folded into one line (wasmtime errors carry a multi-line backtrace).
fn one_line(error: &wasmtime::Error) -> String {
    let text = format!("{error:#}");
    text.lines().next().unwrap_or_default().trim().to_string()
}
