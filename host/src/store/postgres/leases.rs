//! PostgreSQL: leases. Agents talking to different hosts claim from one queue: `FOR UPDATE SKIP
//! LOCKED` gives each item to one of them; heartbeats, output and finishes hold only under the
//! claim's lease token, and lapsed leases go back on their queue.

use super::launch::item_from_row;
use super::{Postgres, execute};
use crate::model::launch::ItemStatus;
use crate::model::output::{OutputChunk, StoredOutput};
use crate::store::launch::*;
use crate::store::{EntityRecord, StoreError, now_rfc3339, unix_millis};

impl LeaseStore for Postgres {
    async fn claim_item(
        &self,
        entity_id: i64,
        queue: &str,
        owner: &str,
        lease_ms: i64,
        max_attempts: u32,
        tokens: ClaimTokens,
    ) -> Result<(Option<ItemRecord>, Vec<ItemRecord>), StoreError> {
        let now = unix_millis();
        let stamp = now_rfc3339();
        let (claimed, expired) = self
            .transaction(async |tx| {
                let expired = super::query(
                    tx,
                    &format!(
                        "UPDATE queue_items SET status = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'queued' END,
                         lease_owner = NULL, lease_until = NULL, lease_hash = NULL, updated_at = $4
                         WHERE id IN (SELECT id FROM queue_items WHERE entity_id = $1 AND queue = $2
                                      AND status IN ('claimed', 'running') AND lease_until < $5
                                      FOR UPDATE SKIP LOCKED)
                         RETURNING {ITEM_COLUMNS}"
                    ),
                    &[&entity_id, &queue, &i64::from(max_attempts), &stamp, &now],
                )
                .await?;
                let (run, lease) = (tokens.run.to_vec(), tokens.lease.to_vec());
                // The same claim again: the item it took, with these tokens (the first answer's
                // were lost with it).
                let repeated = match &tokens.idempotency_key {
                    None => None,
                    Some(key) => {
                        tx.query_opt(
                            &format!(
                                "UPDATE queue_items SET lease_until = $4, updated_at = $5, run_token = $6, lease_hash = $7
                                 WHERE entity_id = $1 AND queue = $2 AND lease_owner = $3 AND claim_key = $8
                                 AND status = 'claimed'
                                 RETURNING {ITEM_COLUMNS}"
                            ),
                            &[&entity_id, &queue, &owner, &(now + lease_ms), &stamp, &run, &lease, key],
                        )
                        .await?
                    }
                };
                let claimed = match repeated {
                    Some(row) => Some(row),
                    None => {
                        tx.query_opt(
                            &format!(
                                "UPDATE queue_items SET status = 'claimed', attempts = attempts + 1,
                                 lease_owner = $3, lease_until = $4, updated_at = $5, run_token = $6, lease_hash = $7,
                                 output = NULL, output_bytes = 0, claim_key = $8
                                 WHERE id = (SELECT id FROM queue_items WHERE entity_id = $1 AND queue = $2
                                             AND status = 'queued' ORDER BY priority DESC, seq LIMIT 1
                                             FOR UPDATE SKIP LOCKED)
                                 RETURNING {ITEM_COLUMNS}"
                            ),
                            &[&entity_id, &queue, &owner, &(now + lease_ms), &stamp, &run, &lease, &tokens.idempotency_key],
                        )
                        .await?
                    }
                };
                Ok((claimed, expired))
            })
            .await?;
        let failed = expired
            .iter()
            .map(item_from_row)
            .filter(|raw| raw.3 == "failed")
            .map(finish_item)
            .collect::<Result<Vec<_>, _>>()?;
        let claimed = claimed
            .map(|row| finish_item(item_from_row(&row)))
            .transpose()?;
        Ok((claimed, failed))
    }

    async fn run_token(
        &self,
        hash: [u8; 32],
    ) -> Result<Option<(EntityRecord, String, String)>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT e.id, e.name, e.operator, e.created_at, i.project, i.run_id
                 FROM queue_items i JOIN entities e ON e.id = i.entity_id
                 WHERE i.run_token = $1 AND i.status IN ('claimed', 'running')",
                &[&hash.to_vec()],
            )
            .await?
            .map(|r| {
                (
                    EntityRecord {
                        id: r.get(0),
                        name: r.get(1),
                        operator: r.get(2),
                        created_at: r.get(3),
                    },
                    r.get(4),
                    r.get(5),
                )
            }))
    }

    async fn heartbeat_item(
        &self,
        entity_id: i64,
        id: &str,
        lease: [u8; 32],
        lease_ms: i64,
        started: bool,
    ) -> Result<ItemStatus, StoreError> {
        self.transaction(async |tx| {
            let row = tx
                .query_opt(
                    "SELECT status, lease_hash FROM queue_items WHERE entity_id = $1 AND id = $2 FOR UPDATE",
                    &[&entity_id, &id],
                )
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
            let status = ItemStatus::parse(row.get(0)).unwrap_or(ItemStatus::Failed);
            let holder: Option<&[u8]> = row.get(1);
            if !holds(holder, &lease) {
                return Err(StoreError::Conflict(format!(
                    "queue item {id} is not held by this claim"
                )));
            }
            if status == ItemStatus::Cancelled {
                return Ok(status);
            }
            if status.is_final() {
                return Err(StoreError::Conflict(format!("queue item {id} already ended")));
            }
            let next = if started { ItemStatus::Running } else { status };
            execute(
                tx,
                "UPDATE queue_items SET status = $3, lease_until = $4, updated_at = $5 WHERE entity_id = $1 AND id = $2",
                &[&entity_id, &id, &next.as_str(), &(unix_millis() + lease_ms), &now_rfc3339()],
            )
            .await?;
            execute(
                tx,
                "UPDATE agents SET last_seen = $3 WHERE entity_id = $1
                 AND name = (SELECT lease_owner FROM queue_items WHERE entity_id = $1 AND id = $2)",
                &[&entity_id, &id, &unix_millis()],
            )
            .await?;
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
        self.transaction(async |tx| {
            let mut output = held_output(tx, entity_id, id, &lease).await?;
            output.append(&chunk);
            execute(
                tx,
                "UPDATE queue_items SET output = $3, output_bytes = $4 WHERE entity_id = $1 AND id = $2",
                &[&entity_id, &id, &output.kept, &(output.total as i64)],
            )
            .await?;
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
        let finished = self
            .transaction(async |tx| {
                let recorded = tx
                    .query_opt(
                        "SELECT finished_hash, exit_code FROM queue_items
                         WHERE entity_id = $1 AND id = $2 FOR UPDATE",
                        &[&entity_id, &id],
                    )
                    .await?;
                if let Some(row) = recorded
                    && row.get::<_, Option<i32>>(1) == Some(exit_code)
                    && holds(row.get(0), &lease)
                {
                    return Ok(false);
                }
                let mut output = held_output(tx, entity_id, id, &lease).await?;
                output.append(&chunk);
                execute(
                    tx,
                    "UPDATE queue_items SET
                     status = CASE WHEN status = 'cancelled' THEN 'cancelled' WHEN $3 = 0 THEN 'finished' ELSE 'failed' END,
                     exit_code = $3, output = $4, output_bytes = $5, lease_owner = NULL, lease_until = NULL,
                     lease_hash = NULL, finished_hash = $7, updated_at = $6
                     WHERE entity_id = $1 AND id = $2",
                    &[&entity_id, &id, &exit_code, &output.kept, &(output.total as i64), &now_rfc3339(), &lease.as_slice()],
                )
                .await?;
                Ok(true)
            })
            .await?;
        Ok((self.item(entity_id, id).await?, finished))
    }

    async fn release_lapsed(
        &self,
        max_attempts: u32,
    ) -> Result<Vec<(EntityRecord, ItemRecord)>, StoreError> {
        // One statement: the release and the read of what it failed are one atomic step.
        let rows = self
            .query(
                &format!(
                        "WITH released AS (
                             UPDATE queue_items SET status = CASE WHEN attempts >= $1 THEN 'failed' ELSE 'queued' END,
                             lease_owner = NULL, lease_until = NULL, lease_hash = NULL, updated_at = $2
                             WHERE id IN (SELECT id FROM queue_items WHERE status IN ('claimed', 'running')
                                          AND lease_until < $3 FOR UPDATE SKIP LOCKED)
                             RETURNING {ITEM_COLUMNS}, entity_id)
                         SELECT released.*, e.name, e.operator, e.created_at
                         FROM released JOIN entities e ON e.id = released.entity_id
                         WHERE released.status = 'failed'"
                    ),
                &[&i64::from(max_attempts), &now_rfc3339(), &unix_millis()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let entity = EntityRecord {
                    id: row.get(17),
                    name: row.get(18),
                    operator: row.get(19),
                    created_at: row.get(20),
                };
                Ok((entity, finish_item(item_from_row(row))?))
            })
            .collect()
    }

    async fn agent_seen(&self, entity_id: i64, agent: AgentRecord) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            execute(
                tx,
                "INSERT INTO agents (entity_id, name, key_id, queues, slots, last_seen)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (entity_id, name) DO UPDATE SET key_id = excluded.key_id,
                 queues = excluded.queues, slots = excluded.slots, last_seen = excluded.last_seen",
                &[
                    &entity_id,
                    &agent.name,
                    &agent.key_id,
                    &crate::store::entities::queues_text(&agent.queues),
                    &i64::from(agent.slots),
                    &agent.last_seen,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn list_agents(&self, entity_id: i64) -> Result<Vec<(AgentRecord, u32)>, StoreError> {
        self.query(
            "SELECT a.name, a.key_id, a.queues, a.slots, a.last_seen,
             (SELECT COUNT(*) FROM queue_items i WHERE i.entity_id = a.entity_id
              AND i.lease_owner = a.name AND i.status IN ('claimed', 'running'))
             FROM agents a WHERE a.entity_id = $1 ORDER BY a.name",
            &[&entity_id],
        )
        .await?
        .iter()
        .map(|row| {
            let slots: i64 = row.get(3);
            let in_use: i64 = row.get(5);
            Ok((
                AgentRecord {
                    name: row.get(0),
                    key_id: row.get(1),
                    queues: crate::store::entities::queues_of(row.get(2))?,
                    slots: u32::try_from(slots).unwrap_or(u32::MAX),
                    last_seen: row.get(4),
                },
                u32::try_from(in_use).unwrap_or(u32::MAX),
            ))
        })
        .collect()
    }
}

/// The output of an item the claim with lease hash `lease` holds, while it has not ended (or was
/// cancelled and its agent is still stopping it), locked for the transaction; Conflict otherwise.
async fn held_output(
    tx: &tokio_postgres::Transaction<'_>,
    entity_id: i64,
    id: &str,
    lease: &[u8; 32],
) -> Result<StoredOutput, StoreError> {
    let row = tx
        .query_opt(
            "SELECT status, lease_hash, output, output_bytes FROM queue_items
             WHERE entity_id = $1 AND id = $2 FOR UPDATE",
            &[&entity_id, &id],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
    let status: &str = row.get(0);
    let live = matches!(status, "claimed" | "running" | "cancelled");
    if !live || !holds(row.get(1), lease) {
        return Err(StoreError::Conflict(format!(
            "queue item {id} is not held by this claim"
        )));
    }
    Ok(StoredOutput {
        kept: row.get::<_, Option<String>>(2).unwrap_or_default(),
        total: row.get::<_, i64>(3).max(0) as u64,
    })
}
