//! Integrations: an entity's named destinations and the secrets they use.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, conflict};
use crate::delivery::integration::IntegrationKind;

/// An integration as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrationRecord {
    /// Its id.
    pub id: String,
    /// Its name, unique in the entity.
    pub name: String,
    /// What it points at.
    pub kind: IntegrationKind,
    /// Where requests go (empty when `url_secret` holds it).
    pub url: String,
    /// The secret whose value is the URL, when the URL is itself a credential.
    pub url_secret: Option<String>,
    /// The secret sent as `Authorization: Bearer`.
    pub access_token: Option<String>,
    /// The secret that signs requests.
    pub signing_secret: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

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
    })
}

const COLUMNS: &str =
    "id, name, kind, url, access_token_secret, signing_secret, created_at, updated_at, url_secret";

impl Store {
    /// Creates an integration (Conflict on a taken name).
    pub async fn create_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.write_credentials(move |tx| {
            tx.execute(
                "INSERT INTO integrations (id, entity_id, name, kind, url, access_token_secret, signing_secret, created_at, updated_at, url_secret) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    record.id, entity_id, record.name, record.kind, record.url, record.access_token,
                    record.signing_secret, record.created_at, record.updated_at, record.url_secret
                ],
            )
            .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            Ok(record)
        })
        .await
    }

    /// Replaces an integration's fields (by id).
    pub async fn update_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.write_credentials(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE integrations SET name = ?3, kind = ?4, url = ?5, access_token_secret = ?6,
                     signing_secret = ?7, updated_at = ?8, url_secret = ?9 WHERE entity_id = ?1 AND id = ?2",
                    params![
                        entity_id, record.id, record.name, record.kind, record.url, record.access_token,
                        record.signing_secret, record.updated_at, record.url_secret
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

    /// The integration called `name`.
    pub async fn integration(
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

    /// An entity's integrations, by name.
    pub async fn list_integrations(
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

    /// Deletes an integration; refused (Conflict, naming them) while automations use it.
    pub async fn delete_integration(&self, entity_id: i64, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.write_credentials(move |tx| {
            let mut statement =
                tx.prepare("SELECT name FROM automations WHERE entity_id = ?1 AND integration = ?2 ORDER BY name")?;
            let users: Vec<String> =
                statement.query_map(params![entity_id, name], |r| r.get(0))?.collect::<Result<_, _>>()?;
            if !users.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "integration {name} is used by automation{} {}",
                    if users.len() > 1 { "s" } else { "" },
                    users.join(", ")
                )));
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
}
