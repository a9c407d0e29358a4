//! SQLite: leases. Agents claim queue items, heartbeat and stream output under the claim's lease
//! token, and finish them; lapsed leases go back on their queue.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use super::launch::item_from_row;
use crate::model::launch::ItemStatus;
use crate::model::output::{OutputChunk, StoredOutput};
use crate::store::launch::*;
use crate::store::{StoreError, now_rfc3339, unix_millis};

impl LeaseStore for Sqlite {
    async fn claim_item(
        &self,
        entity_id: i64,
        queue: &str,
        owner: &str,
        lease_ms: i64,
        max_attempts: u32,
        tokens: ClaimTokens,
    ) -> Result<(Option<ItemRecord>, Vec<ItemRecord>), StoreError> {
        let (queue, owner) = (queue.to_string(), owner.to_string());
        self.write(move |tx| {
            let now = unix_millis();
            let stamp = now_rfc3339();
            // Items whose agent vanished: out of attempts → failed; otherwise ready again.
            let mut lost = tx.prepare_cached(&format!(
                "UPDATE queue_items SET status = CASE WHEN attempts >= ?3 THEN 'failed' ELSE 'queued' END,
                 lease_owner = NULL, lease_until = NULL, lease_hash = NULL, updated_at = ?4
                 WHERE entity_id = ?1 AND queue = ?2 AND status IN ('claimed', 'running') AND lease_until < ?5
                 RETURNING {ITEM_COLUMNS}"
            ))?;
            let expired = lost
                .query_map(params![entity_id, queue, max_attempts, stamp, now], item_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            drop(lost);
            let failed = expired
                .into_iter()
                .filter(|raw| raw.3 == "failed")
                .map(finish_item)
                .collect::<Result<Vec<_>, _>>()?;
            let run = tokens.run.to_vec();
            let lease = tokens.lease.to_vec();
            // The same claim again: the item it took, with these tokens (the first answer's
            // were lost with it).
            let repeated = match &tokens.idempotency_key {
                None => None,
                Some(key) => tx
                    .query_row(
                        &format!(
                            "UPDATE queue_items SET lease_until = ?4, updated_at = ?5, run_token = ?6, lease_hash = ?7
                             WHERE entity_id = ?1 AND queue = ?2 AND lease_owner = ?3 AND claim_key = ?8
                             AND status = 'claimed'
                             RETURNING {ITEM_COLUMNS}"
                        ),
                        params![entity_id, queue, owner, now + lease_ms, stamp, run, lease, key],
                        item_from_row,
                    )
                    .optional()?,
            };
            let claimed = match repeated {
                Some(row) => Some(row),
                None => tx
                    .query_row(
                        &format!(
                            "UPDATE queue_items SET status = 'claimed', attempts = attempts + 1,
                             lease_owner = ?3, lease_until = ?4, updated_at = ?5, run_token = ?6, lease_hash = ?7,
                             output = NULL, output_bytes = 0, claim_key = ?8
                             WHERE id = (SELECT id FROM queue_items WHERE entity_id = ?1 AND queue = ?2 AND status = 'queued'
                                         ORDER BY priority DESC, rowid LIMIT 1)
                             RETURNING {ITEM_COLUMNS}"
                        ),
                        params![entity_id, queue, owner, now + lease_ms, stamp, run, lease, tokens.idempotency_key],
                        item_from_row,
                    )
                    .optional()?,
            }
            .map(finish_item)
            .transpose()?;
            Ok((claimed, failed))
        })
        .await
    }

    async fn run_token(
        &self,
        hash: [u8; 32],
    ) -> Result<Option<(crate::store::EntityRecord, String, String)>, StoreError> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT e.id, e.name, e.operator, e.created_at, i.project, i.run_id
                 FROM queue_items i JOIN entities e ON e.id = i.entity_id
                 WHERE i.run_token = ?1 AND i.status IN ('claimed', 'running')",
                [hash.to_vec()],
                |r| {
                    Ok((
                        crate::store::EntityRecord {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            operator: r.get(2)?,
                            created_at: r.get(3)?,
                        },
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?)
        })
        .await
    }

    async fn heartbeat_item(
        &self,
        entity_id: i64,
        id: &str,
        lease: [u8; 32],
        lease_ms: i64,
        started: bool,
    ) -> Result<ItemStatus, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let status: Option<(String, Option<Vec<u8>>)> = tx
                .query_row(
                    "SELECT status, lease_hash FROM queue_items WHERE entity_id = ?1 AND id = ?2",
                    params![entity_id, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (status, holder) = status.ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
            let status = ItemStatus::parse(&status).unwrap_or(ItemStatus::Failed);
            if !holds(holder.as_deref(), &lease) {
                return Err(StoreError::Conflict(format!("queue item {id} is not held by this claim")));
            }
            if status == ItemStatus::Cancelled {
                return Ok(status);
            }
            if status.is_final() {
                return Err(StoreError::Conflict(format!("queue item {id} already ended")));
            }
            let next = if started { ItemStatus::Running } else { status };
            tx.execute(
                "UPDATE queue_items SET status = ?3, lease_until = ?4, updated_at = ?5 WHERE entity_id = ?1 AND id = ?2",
                params![entity_id, id, next.as_str(), unix_millis() + lease_ms, now_rfc3339()],
            )?;
            tx.execute(
                "UPDATE agents SET last_seen = ?3 WHERE entity_id = ?1
                 AND name = (SELECT lease_owner FROM queue_items WHERE entity_id = ?1 AND id = ?2)",
                params![entity_id, id, unix_millis()],
            )?;
            Ok(next)
        })
        .await
    }

    async fn append_output(
        &self,
        entity_id: i64,
        id: &str,
        lease: [u8; 32],
        chunk: OutputChunk,
    ) -> Result<u64, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let mut output = held_output(tx, entity_id, &id, &lease)?;
            output.append(&chunk);
            tx.execute(
                "UPDATE queue_items SET output = ?3, output_bytes = ?4 WHERE entity_id = ?1 AND id = ?2",
                params![entity_id, id, output.kept, output.total as i64],
            )?;
            Ok(output.total)
        })
        .await
    }

    async fn finish_item(
        &self,
        entity_id: i64,
        id: &str,
        lease: [u8; 32],
        exit_code: i32,
        chunk: OutputChunk,
    ) -> Result<(ItemRecord, bool), StoreError> {
        let id_owned = id.to_string();
        let finished = self.write(move |tx| {
            let recorded: Option<(Option<Vec<u8>>, Option<i32>)> = tx
                .query_row(
                    "SELECT finished_hash, exit_code FROM queue_items WHERE entity_id = ?1 AND id = ?2",
                    params![entity_id, id_owned],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((hash, Some(code))) = recorded
                && code == exit_code
                && holds(hash.as_deref(), &lease)
            {
                return Ok(false);
            }
            let mut output = held_output(tx, entity_id, &id_owned, &lease)?;
            output.append(&chunk);
            tx.execute(
                "UPDATE queue_items SET
                 status = CASE WHEN status = 'cancelled' THEN 'cancelled' WHEN ?3 = 0 THEN 'finished' ELSE 'failed' END,
                 exit_code = ?3, output = ?4, output_bytes = ?5, lease_owner = NULL, lease_until = NULL, lease_hash = NULL,
                 finished_hash = ?7, updated_at = ?6
                 WHERE entity_id = ?1 AND id = ?2",
                params![entity_id, id_owned, exit_code, output.kept, output.total as i64, now_rfc3339(), lease.to_vec()],
            )?;
            Ok(true)
        })
        .await?;
        Ok((self.item(entity_id, id).await?, finished))
    }

    async fn release_lapsed(
        &self,
        max_attempts: u32,
    ) -> Result<Vec<(crate::store::EntityRecord, ItemRecord)>, StoreError> {
        self.write(move |tx| {
            let mut lapsed = tx.prepare_cached(&format!(
                "UPDATE queue_items SET status = CASE WHEN attempts >= ?1 THEN 'failed' ELSE 'queued' END,
                 lease_owner = NULL, lease_until = NULL, lease_hash = NULL, updated_at = ?2
                 WHERE status IN ('claimed', 'running') AND lease_until < ?3
                 RETURNING {ITEM_COLUMNS}, entity_id"
            ))?;
            let released = lapsed
                .query_map(params![max_attempts, now_rfc3339(), unix_millis()], |row| {
                    Ok((item_from_row(row)?, row.get::<_, i64>(17)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            drop(lapsed);
            let mut failed = Vec::new();
            for (raw, entity_id) in released.into_iter().filter(|(raw, _)| raw.3 == "failed") {
                let entity = tx.query_row(
                    "SELECT id, name, operator, created_at FROM entities WHERE id = ?1",
                    [entity_id],
                    |r| {
                        Ok(crate::store::EntityRecord {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            operator: r.get(2)?,
                            created_at: r.get(3)?,
                        })
                    },
                )?;
                failed.push((entity, finish_item(raw)?));
            }
            Ok(failed)
        })
        .await
    }

    async fn agent_seen(&self, entity_id: i64, agent: AgentRecord) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO agents (entity_id, name, key_id, queues, slots, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (entity_id, name) DO UPDATE SET key_id = excluded.key_id,
                 queues = excluded.queues, slots = excluded.slots, last_seen = excluded.last_seen",
                params![
                    entity_id,
                    agent.name,
                    agent.key_id,
                    crate::store::entities::queues_text(&agent.queues),
                    agent.slots,
                    agent.last_seen
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_agents(&self, entity_id: i64) -> Result<Vec<(AgentRecord, u32)>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare(
                "SELECT a.name, a.key_id, a.queues, a.slots, a.last_seen,
                 (SELECT COUNT(*) FROM queue_items i WHERE i.entity_id = a.entity_id
                  AND i.lease_owner = a.name AND i.status IN ('claimed', 'running'))
                 FROM agents a WHERE a.entity_id = ?1 ORDER BY a.name",
            )?;
            let rows = statement.query_map([entity_id], |row| {
                let queues: String = row.get(2)?;
                Ok((
                    AgentRecord {
                        name: row.get(0)?,
                        key_id: row.get(1)?,
                        queues: crate::store::entities::queues_of(&queues).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                2,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })?,
                        slots: row.get(3)?,
                        last_seen: row.get(4)?,
                    },
                    row.get(5)?,
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }
}

/// The output of an item the claim with lease hash `lease` holds, while it has not ended (or was
/// cancelled and its agent is still stopping it); Conflict otherwise.
fn held_output(
    tx: &rusqlite::Transaction<'_>,
    entity_id: i64,
    id: &str,
    lease: &[u8; 32],
) -> Result<StoredOutput, StoreError> {
    /// Status, lease hash, kept output, bytes in all.
    type Held = (String, Option<Vec<u8>>, Option<String>, i64);
    let row: Option<Held> = tx
        .query_row(
            "SELECT status, lease_hash, output, output_bytes FROM queue_items WHERE entity_id = ?1 AND id = ?2",
            params![entity_id, id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (status, holder, kept, total) =
        row.ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
    let live = matches!(status.as_str(), "claimed" | "running" | "cancelled");
    if !live || !holds(holder.as_deref(), lease) {
        return Err(StoreError::Conflict(format!(
            "queue item {id} is not held by this claim"
        )));
    }
    Ok(StoredOutput {
        kept: kept.unwrap_or_default(),
        total: total.max(0) as u64,
    })
}
