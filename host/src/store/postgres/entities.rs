//! PostgreSQL: entities and their API keys. Deleting a key is announced, so other hosts drop
//! their cached lookup of it.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::notify::Notifier;
use super::{Postgres, conflict, execute};
use crate::auth::{Role, hash_key, random_id};
use crate::store::entities::*;
use crate::store::{Change, StoreError, now_rfc3339};

fn entity_from_row(row: &Row, first: usize) -> EntityRecord {
    EntityRecord {
        id: row.get(first),
        name: row.get(first + 1),
        operator: row.get(first + 2),
        created_at: row.get(first + 3),
    }
}

async fn insert_entity(
    tx: &Transaction<'_>,
    name: &str,
    operator: bool,
) -> Result<EntityRecord, StoreError> {
    let created_at = now_rfc3339();
    let statement = tx
        .prepare_cached(
            "INSERT INTO entities (name, operator, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(&statement, &[&name, &operator, &created_at])
        .await
        .map_err(|e| conflict(e, || format!("entity {name} already exists")))?;
    Ok(EntityRecord {
        id: row.get(0),
        name: name.into(),
        operator,
        created_at,
    })
}

async fn insert_key(
    tx: &Transaction<'_>,
    entity_id: i64,
    role: Role,
    label: &str,
    key: String,
    queues: &[String],
) -> Result<NewKey, StoreError> {
    let id = random_id("key_");
    execute(
        tx,
        "INSERT INTO api_keys (id, entity_id, role, key_hash, label, created_at, queues) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&id, &entity_id, &role.as_str(), &hash_key(&key).to_vec(), &label, &now_rfc3339(), &queues_text(queues)],
    )
    .await
    .map_err(|e| conflict(e, || "that key is already in use".into()))?;
    Ok(NewKey { id, key, role })
}

impl EntityStore for Postgres {
    async fn bootstrap(
        &self,
        entity: &str,
        key: String,
    ) -> Result<Option<(EntityRecord, NewKey)>, StoreError> {
        self.transaction(async |tx| {
            // Hosts starting together: one creates the bootstrap entity, the others wait and
            // then find it.
            tx.batch_execute("LOCK TABLE entities IN SHARE ROW EXCLUSIVE MODE")
                .await?;
            let count: i64 = tx
                .query_one("SELECT COUNT(*) FROM entities", &[])
                .await?
                .get(0);
            if count > 0 {
                return Ok(None);
            }
            let record = insert_entity(tx, entity, true).await?;
            let key = insert_key(tx, record.id, Role::Admin, "bootstrap", key, &[]).await?;
            Ok(Some((record, key)))
        })
        .await
    }

    async fn create_entity(
        &self,
        name: &str,
        admin_key: String,
    ) -> Result<(EntityRecord, NewKey), StoreError> {
        self.transaction(async |tx| {
            let record = insert_entity(tx, name, false).await?;
            let key = insert_key(tx, record.id, Role::Admin, "first admin", admin_key, &[]).await?;
            Ok((record, key))
        })
        .await
    }

    async fn entity(&self, name: &str) -> Result<EntityRecord, StoreError> {
        self.query_opt(
            "SELECT id, name, operator, created_at FROM entities WHERE name = $1",
            &[&name],
        )
        .await?
        .map(|row| entity_from_row(&row, 0))
        .ok_or_else(|| StoreError::NotFound(format!("entity {name}")))
    }

    async fn create_key(
        &self,
        entity_id: i64,
        role: Role,
        label: &str,
        key: String,
        queues: Vec<String>,
    ) -> Result<NewKey, StoreError> {
        self.transaction(async |tx| insert_key(tx, entity_id, role, label, key, &queues).await)
            .await
    }

    async fn key_by_hash(&self, hash: [u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = self
            .query_opt(
                "SELECT k.id, k.role, k.label, k.key_hash, k.created_at, e.id, e.name, e.operator, e.created_at, k.queues
                 FROM api_keys k JOIN entities e ON e.id = k.entity_id WHERE k.key_hash = $1",
                &[&hash.to_vec()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ApiKeyRecord {
            id: row.get(0),
            role: Role::parse(row.get(1)).unwrap_or(Role::Member),
            label: row.get(2),
            queues: queues_of(row.get(9))?,
            key_hash: row.get(3),
            created_at: row.get(4),
            entity: entity_from_row(&row, 5),
        }))
    }

    async fn list_keys(
        &self,
        entity_id: i64,
    ) -> Result<Vec<(String, Role, String, String, Vec<String>)>, StoreError> {
        self.query(
            "SELECT id, role, label, created_at, queues FROM api_keys WHERE entity_id = $1 ORDER BY created_at, id",
            &[&entity_id],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.get(0),
                Role::parse(row.get(1)).unwrap_or(Role::Member),
                row.get(2),
                row.get(3),
                queues_of(row.get(4))?,
            ))
        })
        .collect()
    }

    async fn delete_key(&self, entity_id: i64, id: &str) -> Result<Vec<u8>, StoreError> {
        self.transaction(async |tx| {
            // Locks the entity's keys: two hosts deleting its last two admin keys at once must
            // not both see another admin left.
            let keys = tx
                .query(
                    "SELECT id, role, key_hash FROM api_keys WHERE entity_id = $1 FOR UPDATE",
                    &[&entity_id],
                )
                .await?;
            let Some(key) = keys.iter().find(|k| k.get::<_, &str>(0) == id) else {
                return Err(StoreError::NotFound(format!("key {id}")));
            };
            let admins = keys
                .iter()
                .filter(|k| k.get::<_, &str>(1) == "admin")
                .count();
            if key.get::<_, &str>(1) == "admin" && admins <= 1 {
                return Err(StoreError::Conflict(
                    "the last admin key of an entity cannot be deleted".into(),
                ));
            }
            execute(tx, "DELETE FROM api_keys WHERE id = $1", &[&id]).await?;
            Notifier::announce(tx, Change::Keys).await?;
            Ok(key.get(2))
        })
        .await
    }
}
