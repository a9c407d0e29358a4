//! SQLite: plugins installed and removed through the API.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::plugins::*;
use crate::store::{StoreError, now_rfc3339};

impl PluginStore for Sqlite {
    async fn put_plugin(
        &self,
        name: &str,
        digest: &str,
        component: Vec<u8>,
    ) -> Result<(), StoreError> {
        let (name, digest) = (name.to_string(), digest.to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO installed_plugins (name, digest, component, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET digest = ?2, component = ?3, updated_at = ?4",
                params![name, digest, component, now_rfc3339()],
            )?;
            Ok(())
        })
        .await
    }

    async fn remove_plugin(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO installed_plugins (name, digest, component, updated_at) VALUES (?1, NULL, NULL, ?2)
                 ON CONFLICT (name) DO UPDATE SET digest = NULL, component = NULL, updated_at = ?2",
                params![name, now_rfc3339()],
            )?;
            Ok(())
        })
        .await
    }

    async fn plugin_digests(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        self.read(|c| {
            let mut statement =
                c.prepare("SELECT name, digest FROM installed_plugins ORDER BY name")?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }

    async fn plugin_component(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT component FROM installed_plugins WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
        })
        .await
    }
}
