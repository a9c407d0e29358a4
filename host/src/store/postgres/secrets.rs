//! PostgreSQL: entity secrets. Every change is announced, so other hosts' credential caches age.

use super::notify::Notifier;
use super::{Postgres, execute, query};
use crate::store::secrets::*;
use crate::store::{Change, StoreError, now_rfc3339};

impl SecretStore for Postgres {
    async fn put_secret(
        &self,
        entity_id: i64,
        name: &str,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<bool, StoreError> {
        self.transaction(async |tx| {
            let now = now_rfc3339();
            // xmax = 0 only on a row this statement inserted (an update leaves its own xid).
            let row = tx
                .query_one(
                    "INSERT INTO secrets (entity_id, name, nonce, ciphertext, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5)
                     ON CONFLICT (entity_id, name) DO UPDATE SET nonce = $3, ciphertext = $4, updated_at = $5,
                     previous_nonce = NULL, previous_ciphertext = NULL, previous_until = NULL
                     RETURNING (xmax = 0)",
                    &[&entity_id, &name, &nonce, &ciphertext, &now],
                )
                .await?;
            Notifier::announce(tx, Change::Credentials).await?;
            Ok(row.get(0))
        })
        .await
    }

    async fn delete_secret(&self, entity_id: i64, name: &str) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            let users: Vec<String> = query(
                tx,
                "SELECT name FROM integrations WHERE entity_id = $1
                 AND (access_token_secret = $2 OR signing_secret = $2 OR url_secret = $2
                 OR granted_secrets::jsonb ? $2) ORDER BY name",
                &[&entity_id, &name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            if !users.is_empty() {
                return Err(StoreError::in_use(
                    format!("secret {name}"),
                    "integration",
                    &users,
                ));
            }
            let deleted = execute(
                tx,
                "DELETE FROM secrets WHERE entity_id = $1 AND name = $2",
                &[&entity_id, &name],
            )
            .await?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("secret {name}")));
            }
            Notifier::announce(tx, Change::Credentials).await
        })
        .await
    }

    async fn list_secrets(&self, entity_id: i64) -> Result<Vec<SecretRecord>, StoreError> {
        Ok(self
            .query(
                "SELECT name, created_at, updated_at FROM secrets WHERE entity_id = $1 ORDER BY name",
                &[&entity_id],
            )
            .await?
            .iter()
            .map(|r| SecretRecord {
                name: r.get(0),
                created_at: r.get(1),
                updated_at: r.get(2),
            })
            .collect())
    }

    async fn sealed_secrets(
        &self,
        entity_id: i64,
        names: Vec<String>,
        now_ms: i64,
    ) -> Result<Vec<SealedSecret>, StoreError> {
        Ok(self
            .query(
                "SELECT name, nonce, ciphertext, previous_nonce, previous_ciphertext, previous_until
                 FROM secrets WHERE entity_id = $1 AND name = ANY($2)",
                &[&entity_id, &names],
            )
            .await?
            .iter()
            .map(|r| {
                let previous = (r.get(3), r.get(4), r.get(5));
                SealedSecret::from_columns(r.get(0), (r.get(1), r.get(2)), previous, now_ms)
            })
            .collect())
    }

    async fn rotate_secret(
        &self,
        entity_id: i64,
        name: &str,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
        previous_until_ms: i64,
    ) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            let rotated = execute(
                tx,
                "UPDATE secrets SET previous_nonce = nonce, previous_ciphertext = ciphertext,
                 previous_until = $3, nonce = $4, ciphertext = $5, updated_at = $6
                 WHERE entity_id = $1 AND name = $2",
                &[
                    &entity_id,
                    &name,
                    &previous_until_ms,
                    &nonce,
                    &ciphertext,
                    &now_rfc3339(),
                ],
            )
            .await?;
            if rotated == 0 {
                return Err(StoreError::NotFound(format!("secret {name}")));
            }
            Notifier::announce(tx, Change::Credentials).await?;
            Ok(())
        })
        .await
    }
}
