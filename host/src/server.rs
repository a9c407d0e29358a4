//! The composition root: a server wired from its config (data directory, master key, store,
//! plugins, the automation index, the bootstrap key) and the one router that mounts the API and
//! the console side by side. `herald serve` and the benchmark both start here.

use std::sync::Arc;

use anyhow::Context as _;

use crate::app::AppState;
use crate::automations::index::AutomationIndex;
use crate::config::Config;
use crate::delivery::transport::{HttpTransport, Timeouts};
use crate::engine::PluginEngine;
use crate::plugins::PluginRegistry;
use crate::secrets::MasterKey;
use crate::store::Store;

/// The bootstrap admin key created on the first start, to print once.
pub struct Bootstrap {
    /// The operator entity's name.
    pub entity: String,
    /// The key; `None` when it came from `HERALD_BOOTSTRAP_KEY` (the operator already has it).
    pub key: Option<String>,
}

/// Bytes written to prove the data directory can take writes: enough that a disk with only a
/// few blocks left fails here rather than on the first event.
const WRITE_CHECK_BYTES: usize = 256 << 10;

/// Fails, saying why, when the data directory cannot take a write (full or read-only): the
/// server must not announce that it listens and then fail every request.
fn check_writable(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let path = dir.join(".herald-write-check");
    let result = std::fs::File::create(&path).and_then(|mut file| {
        file.write_all(&vec![0; WRITE_CHECK_BYTES])?;
        file.sync_all()
    });
    let _ = std::fs::remove_file(&path);
    result.with_context(|| {
        format!(
            "the data directory {} cannot be written (is the disk full or read-only?)",
            dir.display()
        )
    })
}

/// This host's lasting name, kept in the data directory (`host-id`, made on the first start).
/// Hosts sharing a database each need a data directory of their own.
pub fn host_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("host-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let id = crate::auth::random_id("host_");
            std::fs::write(&path, &id)
                .with_context(|| format!("writing the host id to {}", path.display()))?;
            Ok(id)
        }
    }
}

/// The whole HTTP surface: the API under `/v1`, the console, and the API's error body for
/// everything else.
pub fn router(state: AppState) -> axum::Router {
    crate::api::routes()
        .merge(crate::console::routes())
        .fallback(crate::api::no_such_route)
        .layer(axum::middleware::map_response(crate::api::error_bodies))
        // gzip for clients that ask, except on the ingest path (see `api::compression`).
        .layer(crate::api::compression::layer())
        .with_state(state)
}

/// Opens everything the server needs.
pub async fn build(config: &Config) -> anyhow::Result<(AppState, Option<Bootstrap>)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    check_writable(&config.data_dir)?;
    let master_key = match std::env::var("HERALD_MASTER_KEY") {
        Ok(text) => MasterKey::from_base64(&text).context("HERALD_MASTER_KEY")?,
        Err(_) => {
            let path = config
                .master_key_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join("master.key"));
            MasterKey::load_or_create(&path)?
        }
    };
    let store = match &config.database_url {
        Some(url) => connect_when_reachable(url, config.database_pool).await?,
        None => {
            let database = config.data_dir.join("herald.db");
            Store::open(&database, config.durability)
                .with_context(|| format!("opening the database {}", database.display()))?
        }
    };

    let compiled = config
        .compiled_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("compiled"));
    let engine = PluginEngine::new(config.sandbox.clone(), Some(compiled))?;
    // Installed components are kept here, and read again at every start.
    let plugins_dir = config
        .plugins_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("plugins"));
    let (plugins, rejected) = PluginRegistry::load(&engine, &plugins_dir).await?;
    for file in &rejected {
        tracing::error!(path = %file.path, reason = %file.reason, "plugin not loaded");
    }
    // Installs and removals made through the API, on this host or another sharing the database.
    crate::plugins::sync_from_store(&engine, &plugins, &store)
        .await
        .context("reading the plugins the database records")?;
    let names: Vec<String> = plugins
        .all()
        .iter()
        .map(|p| format!("{}@{}", p.info.name, p.info.version))
        .collect();
    tracing::info!(plugins = %names.join(", "), "plugins loaded");

    crate::automations::grants::grant_existing(&store, |plugin| {
        plugins
            .get(plugin)
            .and_then(|p| p.info.default_payload.clone())
    })
    .await
    .context("granting integrations the secrets their automations use")?;

    let preset = std::env::var("HERALD_BOOTSTRAP_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    let key = preset.clone().unwrap_or_else(crate::auth::generate_key);
    let bootstrap = store
        .bootstrap(&config.bootstrap_entity, key)
        .await?
        .map(|(entity, key)| Bootstrap {
            entity: entity.name,
            key: preset.is_none().then_some(key.key),
        });

    let mut grants = std::collections::BTreeMap::new();
    for (plugin, origins) in &config.plugin_grants {
        let parsed = origins
            .iter()
            .map(|o| {
                url::Url::parse(o)
                    .map(|u| u.origin())
                    .with_context(|| format!("plugin_grants.{plugin}: {o:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        grants.insert(plugin.clone(), parsed);
    }
    let egress = Arc::new(config.egress.clone());
    let timeouts = Timeouts {
        connect: config.delivery.connect_timeout,
        total: config.delivery.request_timeout,
    };
    let transport = Arc::new(HttpTransport::new(timeouts, egress.clone())?);
    let state = AppState {
        engine,
        plugins: Arc::new(plugins),
        store,
        index: Arc::new(AutomationIndex::default()),
        master_key,
        keys: Arc::default(),
        egress,
        transport,
        metrics: Arc::default(),
        delivery: Default::default(),
        rate_limiter: Arc::default(),
        runs: Arc::new(crate::automations::runs::RunStates::new(
            config.run_metrics.max_runs,
        )),
        liveness: Arc::new(crate::ingest::liveness::RunLiveness::new(config.runs)),
        grants: Arc::new(grants),
        launch: config.launch,
        metrics_on_api: config.metrics_listen.is_none(),
        tasks: Arc::default(),
        backlog: Arc::new(crate::ingest::backpressure::Backlog::new(
            config.delivery.max_backlog,
        )),
    };
    state.reload_automations().await?;
    tracing::info!(automations = state.index.len(), "automations loaded");
    if let Some(changes) = state.store.changes() {
        tokio::spawn(follow_changes(state.clone(), changes));
    }
    Ok((state, bootstrap))
}

/// On a shared database: follows what other hosts change. Plugins installed or removed
/// elsewhere are installed or removed here, the automation index is reloaded, cached key lookups
/// are dropped (the credentials cache follows the store's generation by itself). A notice arrives within milliseconds of the commit; a host that lost its listening
/// connection treats everything as changed once it is back.
async fn follow_changes(
    state: AppState,
    mut changes: tokio::sync::broadcast::Receiver<crate::store::Change>,
) {
    use crate::store::Change;
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let change = match changes.recv().await {
            Ok(change) => Some(change),
            // Notices were dropped while this task lagged: reload everything.
            Err(RecvError::Lagged(_)) => None,
            Err(RecvError::Closed) => return,
        };
        if matches!(change, None | Some(Change::Keys)) {
            state.keys.clear();
        }
        // Automations compiled against a plugin that changed are compiled again.
        let plugins_changed = matches!(change, None | Some(Change::Plugins))
            && match crate::plugins::sync_from_store(&state.engine, &state.plugins, &state.store)
                .await
            {
                Ok(changed) => changed,
                Err(error) => {
                    tracing::warn!(%error, "could not apply plugin changes made on another host");
                    false
                }
            };
        if plugins_changed || matches!(change, None | Some(Change::Automations)) {
            // A failed reload keeps the current index; the next notice (or reconnection) retries.
            if let Err(error) = state.reload_automations().await {
                tracing::warn!(%error, "could not reload automations after a change on another host")
            }
        }
    }
}

/// Connects to PostgreSQL, waiting for it while it cannot be reached (a host started before its
/// database, or while it restarts), backing off from 1 s to 30 s and saying so at each try. A
/// wrong setting (a URL that does not parse, a refused login, a failed migration) fails at once.
async fn connect_when_reachable(url: &str, pool: usize) -> anyhow::Result<Store> {
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        match Store::connect(url, pool).await {
            Ok(store) => return Ok(store),
            Err(error) if error.is_unavailable() => {
                tracing::warn!(%error, retry_in = ?wait, "the PostgreSQL database cannot be reached yet; waiting for it");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(30));
            }
            Err(error) => {
                return Err(error).context("connecting to the PostgreSQL database (database_url)");
            }
        }
    }
}
