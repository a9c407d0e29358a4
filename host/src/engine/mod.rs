//! The WebAssembly sandbox: one wasmtime `Engine` with a pooling allocator, loading plugins
//! (compile once, cache on disk, check the contract, pre-link), and running each call in a
//! fresh `Store` with a CPU deadline, a memory cap and a WASI context that grants nothing.

mod bindings;
mod cache;
mod contract;
mod failure;
mod imports;
mod io;
pub mod outbound;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use bindings::{
    ActionError, Header, HttpError, HttpRequest, HttpResponse, Invocation, LogLevel, Outcome,
    PluginInfo, RunRequest, TransientFailure,
};
pub use contract::{CONTRACT_VERSION, LoadError};
pub use failure::{ConfigRefusal, SandboxError};
pub use imports::MAX_REQUEST_HEADER_BYTES;
pub use io::{HostIo, RequestRecord, ResponseRecord};
pub use state::LogLine;

mod limits;
mod output;
pub use limits::SandboxLimits;
pub(crate) use limits::parse_bytes;

use bindings::{Plugin as Bindings, PluginPre};
use contract::{check_world, validate_info};
use failure::{classify, one_line};
use state::ExecState;

const EPOCH_TICK: Duration = Duration::from_millis(5);
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
