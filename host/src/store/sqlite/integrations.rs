//! SQLite: integrations: an entity's named destinations.

use rusqlite::{OptionalExtension, params};

use super::{Sqlite, conflict};
use crate::store::StoreError;
use crate::store::integrations::*;

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IntegrationRecord> {
    Ok(IntegrationRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.get(2)?,
        url: row.get(3)?,
        access_token: row.get(4)?,
        signing_secret: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        url_secret: row.get(8)?,
        secrets: grants_of(row.get(9)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, Box::new(e))
        })?,
    })
}

impl IntegrationStore for Sqlite {
    async fn create_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.write_credentials(move |tx| {
            tx.execute(
                "INSERT INTO integrations (id, entity_id, name, kind, url, access_token_secret, signing_secret, created_at, updated_at, url_secret, granted_secrets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    record.id, entity_id, record.name, record.kind, record.url, record.access_token,
                    record.signing_secret, record.created_at, record.updated_at, record.url_secret,
                    grants_text(&record.secrets)
                ],
            )
            .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            Ok(record)
        })
        .await
    }

    async fn update_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.write_credentials(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE integrations SET name = ?3, kind = ?4, url = ?5, access_token_secret = ?6,
                     signing_secret = ?7, updated_at = ?8, url_secret = ?9, granted_secrets = ?10
                     WHERE entity_id = ?1 AND id = ?2",
                    params![
                        entity_id, record.id, record.name, record.kind, record.url, record.access_token,
                        record.signing_secret, record.updated_at, record.url_secret,
                        grants_text(&record.secrets)
                    ],
                )
                .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("integration {}", record.name)));
            }
            Ok(record)
        })
        .await
    }

    async fn integration(
        &self,
        entity_id: i64,
        name: &str,
    ) -> Result<IntegrationRecord, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM integrations WHERE entity_id = ?1 AND name = ?2"
            ))?
            .query_row(params![entity_id, name], from_row)
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("integration {name}")))
        })
        .await
    }

    async fn list_integrations(
        &self,
        entity_id: i64,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS} FROM integrations WHERE entity_id = ?1 ORDER BY name"
            ))?;
            let rows = statement.query_map([entity_id], from_row)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }

    async fn delete_integration(&self, entity_id: i64, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.write_credentials(move |tx| {
            let mut statement =
                tx.prepare("SELECT name FROM automations WHERE entity_id = ?1 AND integration = ?2 ORDER BY name")?;
            let users: Vec<String> =
                statement.query_map(params![entity_id, name], |r| r.get(0))?.collect::<Result<_, _>>()?;
            if !users.is_empty() {
                return Err(StoreError::in_use(format!("integration {name}"), "automation", &users));
            }
            let deleted =
                tx.execute("DELETE FROM integrations WHERE entity_id = ?1 AND name = ?2", params![entity_id, name])?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("integration {name}")));
            }
            Ok(())
        })
        .await
    }

    async fn ungranted_integrations(&self) -> Result<Vec<(i64, IntegrationRecord)>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS}, entity_id FROM integrations WHERE granted_secrets IS NULL ORDER BY entity_id, name"
            ))?;
            let rows = statement.query_map([], |row| Ok((row.get(10)?, from_row(row)?)))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }

    async fn grant_first(
        &self,
        entity_id: i64,
        id: &str,
        secrets: Vec<String>,
    ) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write_credentials(move |tx| {
            let updated = tx.execute(
                "UPDATE integrations SET granted_secrets = ?3 WHERE entity_id = ?1 AND id = ?2 AND granted_secrets IS NULL",
                params![entity_id, id, grants_text(&secrets)],
            )?;
            Ok(updated == 1)
        })
        .await
    }
}
