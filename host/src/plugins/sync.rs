//! Plugins the database keeps for every host. An install or a removal through the API is recorded
//! in the store (and announced to the other hosts on PostgreSQL); at start, and whenever a notice
//! says so, each host installs every recorded component it does not run yet and removes every
//! plugin recorded as removed, so that an execution claimed by any host finds its plugin.

use super::PluginRegistry;
use crate::engine::PluginEngine;
use crate::store::{Store, StoreError};

/// Brings the registry in line with what the database records; true when it changed anything
/// (the automations compiled against a plugin must then be compiled again). A recorded component
/// that does not load on this host is logged and skipped: the host keeps running what it has.
pub async fn sync_from_store(
    engine: &PluginEngine,
    registry: &PluginRegistry,
    store: &Store,
) -> Result<bool, StoreError> {
    let mut changed = false;
    for (name, recorded) in store.plugin_digests().await? {
        let running = registry.digest_of(&name);
        match recorded {
            Some(recorded) if running.as_deref() != Some(recorded.as_str()) => {
                // Removed since the digests were read: the next notice says so.
                let Some(bytes) = store.plugin_component(&name).await? else {
                    continue;
                };
                let plugin = match engine.load(&bytes, "database").await {
                    Ok(plugin) if plugin.info.name == name => plugin,
                    Ok(plugin) => {
                        tracing::error!(plugin = %name, describes_itself_as = %plugin.info.name, "recorded plugin not installed: another name");
                        continue;
                    }
                    Err(error) => {
                        tracing::error!(plugin = %name, %error, "recorded plugin not installed: it does not load on this host");
                        continue;
                    }
                };
                match registry.install(plugin, &bytes) {
                    Ok(installed) => {
                        tracing::info!(plugin = %name, version = %installed.info.version, "plugin installed from the database");
                        changed = true;
                    }
                    Err(error) => {
                        tracing::error!(plugin = %name, %error, "recorded plugin not installed")
                    }
                }
            }
            // `digest_of` names third-party plugins only: a built-in is never removed.
            None if running.is_some() => match registry.remove(&name) {
                Ok(_) => {
                    tracing::info!(plugin = %name, "plugin removed, as the database records");
                    changed = true;
                }
                Err(error) => {
                    tracing::error!(plugin = %name, %error, "recorded removal not applied")
                }
            },
            _ => {}
        }
    }
    Ok(changed)
}
