//! PostgreSQL: plugins installed and removed through the API. Every change is announced, so the
//! other hosts install or remove the same plugin.

use super::Postgres;
use super::notify::Notifier;
use crate::store::plugins::*;
use crate::store::{Change, StoreError, now_rfc3339};

impl PluginStore for Postgres {
    async fn put_plugin(
        &self,
        name: &str,
        digest: &str,
        component: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            tx.execute(
                "INSERT INTO installed_plugins (name, digest, component, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET digest = $2, component = $3, updated_at = $4",
                &[&name, &digest, &component, &now_rfc3339()],
            )
            .await?;
            Notifier::announce(tx, Change::Plugins).await
        })
        .await
    }

    async fn remove_plugin(&self, name: &str) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            tx.execute(
                "INSERT INTO installed_plugins (name, digest, component, updated_at) VALUES ($1, NULL, NULL, $2)
                 ON CONFLICT (name) DO UPDATE SET digest = NULL, component = NULL, updated_at = $2",
                &[&name, &now_rfc3339()],
            )
            .await?;
            Notifier::announce(tx, Change::Plugins).await
        })
        .await
    }

    async fn plugin_digests(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(self
            .query(
                "SELECT name, digest FROM installed_plugins ORDER BY name",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    async fn plugin_component(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT component FROM installed_plugins WHERE name = $1",
                &[&name],
            )
            .await?
            .and_then(|r| r.get(0)))
    }
}
