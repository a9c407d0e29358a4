//! PostgreSQL: integrations. Every change is announced, so other hosts' credential caches age.

use tokio_postgres::Row;

use super::notify::Notifier;
use super::{Postgres, conflict, execute, query};
use crate::model::integration::IntegrationKind;
use crate::store::integrations::*;
use crate::store::{Change, StoreError};

fn from_row(row: &Row) -> Result<IntegrationRecord, StoreError> {
    let kind: &str = row.get(2);
    Ok(IntegrationRecord {
        id: row.get(0),
        name: row.get(1),
        kind: IntegrationKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown integration kind {kind:?}")))?,
        url: row.get(3),
        access_token: row.get(4),
        signing_secret: row.get(5),
        created_at: row.get(6),
        updated_at: row.get(7),
        url_secret: row.get(8),
        secrets: grants_of(row.get(9))?,
    })
}

impl IntegrationStore for Postgres {
    async fn create_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.transaction(async |tx| {
            execute(
                tx,
                "INSERT INTO integrations (id, entity_id, name, kind, url, access_token_secret, signing_secret,
                 created_at, updated_at, url_secret, granted_secrets) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &record.id, &entity_id, &record.name, &record.kind.as_str(), &record.url, &record.access_token,
                    &record.signing_secret, &record.created_at, &record.updated_at, &record.url_secret,
                    &grants_text(&record.secrets),
                ],
            )
            .await
            .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            Notifier::announce(tx, Change::Credentials).await
        })
        .await?;
        Ok(record)
    }

    async fn update_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.transaction(async |tx| {
            let updated = execute(
                tx,
                "UPDATE integrations SET name = $3, kind = $4, url = $5, access_token_secret = $6,
                 signing_secret = $7, updated_at = $8, url_secret = $9, granted_secrets = $10
                 WHERE entity_id = $1 AND id = $2",
                &[
                    &entity_id,
                    &record.id,
                    &record.name,
                    &record.kind.as_str(),
                    &record.url,
                    &record.access_token,
                    &record.signing_secret,
                    &record.updated_at,
                    &record.url_secret,
                    &grants_text(&record.secrets),
                ],
            )
            .await
            .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("integration {}", record.name)));
            }
            Notifier::announce(tx, Change::Credentials).await
        })
        .await?;
        Ok(record)
    }

    async fn integration(
        &self,
        entity_id: i64,
        name: &str,
    ) -> Result<IntegrationRecord, StoreError> {
        let row = self
            .query_opt(
                &format!("SELECT {COLUMNS} FROM integrations WHERE entity_id = $1 AND name = $2"),
                &[&entity_id, &name],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("integration {name}")))?;
        from_row(&row)
    }

    async fn list_integrations(
        &self,
        entity_id: i64,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM integrations WHERE entity_id = $1 ORDER BY name"),
            &[&entity_id],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn delete_integration(&self, entity_id: i64, name: &str) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            let users: Vec<String> = query(
                tx,
                "SELECT name FROM automations WHERE entity_id = $1 AND integration = $2 ORDER BY name",
                &[&entity_id, &name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            if !users.is_empty() {
                return Err(StoreError::in_use(format!("integration {name}"), "automation", &users));
            }
            let deleted = execute(
                tx,
                "DELETE FROM integrations WHERE entity_id = $1 AND name = $2",
                &[&entity_id, &name],
            )
            .await?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("integration {name}")));
            }
            Notifier::announce(tx, Change::Credentials).await
        })
        .await
    }

    async fn ungranted_integrations(&self) -> Result<Vec<(i64, IntegrationRecord)>, StoreError> {
        self.query(
            &format!(
                "SELECT {COLUMNS}, entity_id FROM integrations WHERE granted_secrets IS NULL ORDER BY entity_id, name"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| Ok((row.get(10), from_row(row)?)))
        .collect()
    }

    async fn grant_first(
        &self,
        entity_id: i64,
        id: &str,
        secrets: Vec<String>,
    ) -> Result<bool, StoreError> {
        self.transaction(async |tx| {
            let updated = execute(
                tx,
                "UPDATE integrations SET granted_secrets = $3
                 WHERE entity_id = $1 AND id = $2 AND granted_secrets IS NULL",
                &[&entity_id, &id, &grants_text(&secrets)],
            )
            .await?;
            if updated == 1 {
                Notifier::announce(tx, Change::Credentials).await?;
            }
            Ok(updated == 1)
        })
        .await
    }
}
