//! SQLite: entity secrets: sealed values, names and times.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::secrets::*;
use crate::store::{StoreError, now_rfc3339};

impl SecretStore for Sqlite {
    async fn put_secret(
        &self,
        entity_id: i64,
        name: &str,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.write_credentials(move |tx| {
            let now = now_rfc3339();
            let existed = tx
                .query_row("SELECT 1 FROM secrets WHERE entity_id = ?1 AND name = ?2", params![entity_id, name], |_| Ok(()))
                .optional()?
                .is_some();
            tx.execute(
                "INSERT INTO secrets (entity_id, name, nonce, ciphertext, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (entity_id, name) DO UPDATE SET nonce = ?3, ciphertext = ?4, updated_at = ?5,
                 previous_nonce = NULL, previous_ciphertext = NULL, previous_until = NULL",
                params![entity_id, name, nonce, ciphertext, now],
            )?;
            Ok(!existed)
        })
        .await
    }

    async fn delete_secret(&self, entity_id: i64, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.write_credentials(move |tx| {
            let mut statement = tx.prepare(
                "SELECT name FROM integrations WHERE entity_id = ?1 AND (access_token_secret = ?2 OR signing_secret = ?2 OR url_secret = ?2
                 OR EXISTS (SELECT 1 FROM json_each(granted_secrets) WHERE value = ?2)) ORDER BY name",
            )?;
            let users: Vec<String> =
                statement.query_map(params![entity_id, name], |r| r.get(0))?.collect::<Result<_, _>>()?;
            if !users.is_empty() {
                return Err(StoreError::in_use(format!("secret {name}"), "integration", &users));
            }
            let deleted = tx.execute("DELETE FROM secrets WHERE entity_id = ?1 AND name = ?2", params![entity_id, name])?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("secret {name}")));
            }
            Ok(())
        })
        .await
    }

    async fn list_secrets(&self, entity_id: i64) -> Result<Vec<SecretRecord>, StoreError> {
        self.read(move |c| {
            let mut statement =
                c.prepare("SELECT name, created_at, updated_at FROM secrets WHERE entity_id = ?1 ORDER BY name")?;
            let rows = statement.query_map([entity_id], |r| {
                Ok(SecretRecord { name: r.get(0)?, created_at: r.get(1)?, updated_at: r.get(2)? })
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }

    async fn sealed_secrets(
        &self,
        entity_id: i64,
        names: Vec<String>,
        now_ms: i64,
    ) -> Result<Vec<SealedSecret>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT nonce, ciphertext, previous_nonce, previous_ciphertext, previous_until
                 FROM secrets WHERE entity_id = ?1 AND name = ?2",
            )?;
            let mut found = Vec::new();
            for name in names {
                let row = statement
                    .query_row(params![entity_id, name], |r| {
                        Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?, r.get(4)?)))
                    })
                    .optional()?;
                if let Some((current, previous)) = row {
                    found.push(SealedSecret::from_columns(name, current, previous, now_ms));
                }
            }
            Ok(found)
        })
        .await
    }

    async fn rotate_secret(
        &self,
        entity_id: i64,
        name: &str,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
        previous_until_ms: i64,
    ) -> Result<(), StoreError> {
        let name = name.to_string();
        self.write_credentials(move |tx| {
            let rotated = tx.execute(
                "UPDATE secrets SET previous_nonce = nonce, previous_ciphertext = ciphertext,
                 previous_until = ?3, nonce = ?4, ciphertext = ?5, updated_at = ?6
                 WHERE entity_id = ?1 AND name = ?2",
                params![
                    entity_id,
                    name,
                    previous_until_ms,
                    nonce,
                    ciphertext,
                    now_rfc3339()
                ],
            )?;
            match rotated {
                0 => Err(StoreError::NotFound(format!("secret {name}"))),
                _ => Ok(()),
            }
        })
        .await
    }
}
