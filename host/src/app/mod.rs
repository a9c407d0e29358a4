//! The application's shared state: the handles every request handler and background task
//! reaches (store, index, engine, plugins, delivery link, caches), and what is assembled from
//! them (an ingest, a deliverer). Built once by the composition root, `server.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::automations::compile;
use crate::automations::index::AutomationIndex;
use crate::automations::ratelimit::RateLimiter;
use crate::automations::runs::RunStates;
use crate::delivery::attempt::Deliverer;
use crate::delivery::egress::EgressConfig;
use crate::delivery::handoff::DeliveryLink;
use crate::delivery::transport::Transport;
use crate::engine::PluginEngine;
use crate::ingest::Ingest;
use crate::ingest::liveness::RunLiveness;
use crate::metrics::Metrics;
use crate::plugins::PluginRegistry;
use crate::secrets::MasterKey;
use crate::store::Store;

pub mod audit;
mod plugins;
pub mod principal;

pub use plugins::InstallFailure;

/// What every route can reach, built once by `server.rs`.
#[derive(Clone)]
pub struct AppState {
    /// The sandbox.
    pub engine: PluginEngine,
    /// Installed plugins.
    pub plugins: Arc<PluginRegistry>,
    /// The database.
    pub store: Store,
    /// Enabled automations, indexed for matching.
    pub index: Arc<AutomationIndex>,
    /// Encrypts secrets.
    pub master_key: MasterKey,
    /// Verified API keys.
    pub keys: Arc<principal::KeyCache>,
    /// The egress policy.
    pub egress: Arc<EgressConfig>,
    /// Where deliveries and integration tests send (the egress policy applied).
    pub transport: Arc<dyn Transport>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Wakes the delivery dispatcher, and hands it the executions an ingest leased to it.
    pub delivery: DeliveryLink,
    /// Per-automation rate limits.
    pub rate_limiter: Arc<RateLimiter>,
    /// Run-metric windows and cooldowns.
    pub runs: Arc<RunStates>,
    /// What events record of their runs' liveness.
    pub liveness: Arc<RunLiveness>,
    /// Extra origins each plugin may reach, by plugin name.
    pub grants: Arc<BTreeMap<String, Vec<url::Origin>>>,
    /// Launch settings.
    pub launch: crate::launch::LaunchConfig,
    /// Whether `GET /metrics` is served with the API (false when it has its own address).
    pub metrics_on_api: bool,
    /// Wakes this host's task runner: a task was created.
    pub tasks: Arc<tokio::sync::Notify>,
    /// The delivery backlog, which event posts wait on past its bound.
    pub backlog: Arc<crate::ingest::backpressure::Backlog>,
}

impl AppState {
    /// What ingest needs, from the state's parts.
    pub fn ingest(&self) -> Ingest {
        Ingest {
            store: self.store.clone(),
            index: self.index.clone(),
            rate_limiter: self.rate_limiter.clone(),
            runs: self.runs.clone(),
            liveness: self.liveness.clone(),
            refs: self.master_key.refs().clone(),
            delivery: self.delivery.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Admits an event post: at once, or once the delivery backlog has dropped below its bound;
    /// refuses it (counted) if the backlog stays past it for the admission wait.
    pub async fn admit_events(&self) -> Result<(), crate::error::ApiError> {
        let wait = crate::ingest::backpressure::ADMIT_WAIT;
        match self.backlog.admit(wait).await {
            None => Ok(()),
            Some(why) => {
                self.metrics.refused_for_backlog();
                Err(crate::error::ApiError::Busy(why))
            }
        }
    }

    /// What an attempt needs, from the state's parts.
    pub fn deliverer(&self) -> Deliverer {
        Deliverer {
            store: self.store.clone(),
            master_key: self.master_key.clone(),
            engine: self.engine.clone(),
            plugins: self.plugins.clone(),
            transport: self.transport.clone(),
            grants: self.grants.clone(),
            credentials_cache: Arc::default(),
        }
    }

    /// Compiles every stored automation again and swaps them into the index (after a plugin
    /// changed its default payload, or another host changed automations). One that no longer
    /// compiles is logged and left out: it will not match.
    pub async fn reload_automations(&self) -> anyhow::Result<()> {
        let mut compiled = Vec::new();
        for (entity_id, automation) in self.store.all_automations().await? {
            let id = automation.id.clone();
            let default_payload = self
                .plugins
                .get(&automation.action.plugin)
                .and_then(|p| p.info.default_payload.clone());
            match compile(entity_id, automation, default_payload.as_deref()) {
                Ok(one) => compiled.push(one),
                Err(error) => {
                    tracing::error!(automation = %id, %error, "stored automation does not load; it will not match")
                }
            }
        }
        self.index.replace_all(compiled);
        Ok(())
    }
}
