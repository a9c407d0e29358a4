//! Installing a plugin while the server runs: the component validated and compiled, recorded
//! for every host, installed here, and the automations that use it compiled again.

use std::sync::Arc;

use super::AppState;
use crate::engine::Plugin;
use crate::plugins::InstallError;
use crate::store::StoreError;

/// Why an upload was not installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallFailure {
    /// Not a component of the `herald:plugin` world this host takes; the message says why.
    #[error("component: {0}")]
    Component(String),
    /// A built-in's name, or the plugin directory failed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The automations could not be compiled again.
    #[error("compiling the automations again: {0:#}")]
    Reload(anyhow::Error),
}

impl AppState {
    /// Installs `component`, or replaces the third-party plugin of its name: returns the plugin
    /// and the version it replaced. Executions already running finish on the version they
    /// started with.
    pub async fn install_plugin(
        &self,
        component: &[u8],
    ) -> Result<(Arc<Plugin>, Option<String>), InstallFailure> {
        let plugin = self
            .engine
            .load(component, "upload")
            .await
            .map_err(|e| InstallFailure::Component(e.to_string()))?;
        // Asked before anything is recorded, so that a built-in's name is refused here and never
        // reaches the other hosts.
        let replaced = self.plugins.installable(&plugin.info.name)?;
        // Recorded first, for every host (this one included, should it restart before the next
        // line); then installed here. On PostgreSQL this host's own notice may install it too
        // (`plugins::sync_from_store`): either way, this component.
        self.store
            .put_plugin(&plugin.info.name, &plugin.digest, component.to_vec())
            .await?;
        let installed = self.plugins.install(plugin, component)?;
        // Automations of this plugin were compiled with its previous default payload.
        self.reload_automations()
            .await
            .map_err(InstallFailure::Reload)?;
        tracing::info!(
            plugin = %installed.info.name,
            version = %installed.info.version,
            replaced = ?replaced,
            "plugin installed"
        );
        Ok((installed, replaced))
    }
}
