//! SQLite: entities and their API keys.

use crate::auth::{Role, hash_key, random_id};
use rusqlite::{OptionalExtension, params};

use super::{Sqlite, conflict};
use crate::store::entities::*;
use crate::store::{StoreError, now_rfc3339};

fn entity_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EntityRecord> {
    Ok(EntityRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        operator: row.get(2)?,
        created_at: row.get(3)?,
    })
}

fn insert_entity(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    operator: bool,
) -> Result<EntityRecord, StoreError> {
    let created_at = now_rfc3339();
    tx.execute(
        "INSERT INTO entities (name, operator, created_at) VALUES (?1, ?2, ?3)",
        params![name, operator, created_at],
    )
    .map_err(|e| conflict(e, || format!("entity {name} already exists")))?;
    Ok(EntityRecord {
        id: tx.last_insert_rowid(),
        name: name.into(),
        operator,
        created_at,
    })
}

fn insert_key(
    tx: &rusqlite::Transaction<'_>,
    entity_id: i64,
    role: Role,
    label: &str,
    key: String,
    queues: &[String],
) -> Result<NewKey, StoreError> {
    let id = random_id("key_");
    tx.execute(
        "INSERT INTO api_keys (id, entity_id, role, key_hash, label, created_at, queues) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, entity_id, role.as_str(), hash_key(&key).to_vec(), label, now_rfc3339(), queues_text(queues)],
    )
    .map_err(|e| conflict(e, || "that key is already in use".into()))?;
    Ok(NewKey { id, key, role })
}

impl EntityStore for Sqlite {
    async fn bootstrap(
        &self,
        entity: &str,
        key: String,
    ) -> Result<Option<(EntityRecord, NewKey)>, StoreError> {
        let entity = entity.to_string();
        self.write(move |tx| {
            let count: i64 = tx.query_row("SELECT COUNT(*) FROM entities", [], |r| r.get(0))?;
            if count > 0 {
                return Ok(None);
            }
            let record = insert_entity(tx, &entity, true)?;
            let key = insert_key(tx, record.id, Role::Admin, "bootstrap", key, &[])?;
            Ok(Some((record, key)))
        })
        .await
    }

    async fn create_entity(
        &self,
        name: &str,
        admin_key: String,
    ) -> Result<(EntityRecord, NewKey), StoreError> {
        let name = name.to_string();
        self.write(move |tx| {
            let record = insert_entity(tx, &name, false)?;
            let key = insert_key(tx, record.id, Role::Admin, "first admin", admin_key, &[])?;
            Ok((record, key))
        })
        .await
    }

    async fn entity(&self, name: &str) -> Result<EntityRecord, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, name, operator, created_at FROM entities WHERE name = ?1",
                [&name],
                entity_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("entity {name}")))
        })
        .await
    }

    async fn create_key(
        &self,
        entity_id: i64,
        role: Role,
        label: &str,
        key: String,
        queues: Vec<String>,
    ) -> Result<NewKey, StoreError> {
        let label = label.to_string();
        self.write(move |tx| insert_key(tx, entity_id, role, &label, key, &queues))
            .await
    }

    async fn key_by_hash(&self, hash: [u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read(move |c| {
            c.query_row(
                "SELECT k.id, k.role, k.label, k.key_hash, k.created_at, e.id, e.name, e.operator, e.created_at, k.queues
                 FROM api_keys k JOIN entities e ON e.id = k.entity_id WHERE k.key_hash = ?1",
                [hash.to_vec()],
                |row| {
                    let role: String = row.get(1)?;
                    Ok(ApiKeyRecord {
                        id: row.get(0)?,
                        role: Role::parse(&role).unwrap_or(Role::Member),
                        label: row.get(2)?,
                        queues: queues_of(&row.get::<_, String>(9)?).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, Box::new(e))
                        })?,
                        key_hash: row.get(3)?,
                        created_at: row.get(4)?,
                        entity: EntityRecord {
                            id: row.get(5)?,
                            name: row.get(6)?,
                            operator: row.get(7)?,
                            created_at: row.get(8)?,
                        },
                    })
                },
            )
            .optional()
            .map_err(Into::into)
        })
        .await
    }

    async fn list_keys(
        &self,
        entity_id: i64,
    ) -> Result<Vec<(String, Role, String, String, Vec<String>)>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare(
                "SELECT id, role, label, created_at, queues FROM api_keys WHERE entity_id = ?1 ORDER BY created_at, id",
            )?;
            let rows = statement.query_map([entity_id], |row| {
                let role: String = row.get(1)?;
                let queues = queues_of(&row.get::<_, String>(4)?).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
                })?;
                Ok((row.get(0)?, Role::parse(&role).unwrap_or(Role::Member), row.get(2)?, row.get(3)?, queues))
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }

    async fn delete_key(&self, entity_id: i64, id: &str) -> Result<Vec<u8>, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let found: Option<(String, Vec<u8>)> = tx
                .query_row(
                    "SELECT role, key_hash FROM api_keys WHERE entity_id = ?1 AND id = ?2",
                    params![entity_id, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((role, hash)) = found else {
                return Err(StoreError::NotFound(format!("key {id}")));
            };
            if role == "admin" {
                let admins: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM api_keys WHERE entity_id = ?1 AND role = 'admin'",
                    [entity_id],
                    |r| r.get(0),
                )?;
                if admins <= 1 {
                    return Err(StoreError::Conflict(
                        "the last admin key of an entity cannot be deleted".into(),
                    ));
                }
            }
            tx.execute("DELETE FROM api_keys WHERE id = ?1", [&id])?;
            Ok(hash)
        })
        .await
    }
}
