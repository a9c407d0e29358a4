//! PostgreSQL: launch jobs, queues and the items put on them (claims and leases are
//! `leases.rs`).

use serde_json::{Map, Value};
use tokio_postgres::Row;

use super::{Postgres, conflict, execute};
use crate::model::launch::{ItemStatus, JobRef, JobSpec};
use crate::store::launch::*;
use crate::store::{StoreError, json_column, now_rfc3339};

/// An item row as read by every launch and lease query.
pub(super) fn item_from_row(row: &Row) -> RawItem {
    let status: String = row.get(9);
    (
        ItemRecord {
            id: row.get(0),
            queue: row.get(1),
            job: row.get(2),
            job_version: row.get::<_, i64>(3) as u32,
            config: Map::new(),
            project: row.get(5),
            run_id: row.get(6),
            enqueued_by: Value::Null,
            priority: row.get(8),
            status: ItemStatus::parse(&status).unwrap_or(ItemStatus::Failed),
            attempts: row.get::<_, i64>(10) as u32,
            lease_owner: row.get(11),
            exit_code: row.get(12),
            output: row.get(13),
            created_at: row.get(14),
            updated_at: row.get(15),
            output_bytes: row.get::<_, i64>(16).max(0) as u64,
        },
        row.get(4),
        row.get(7),
        status,
    )
}

fn queue_from_row(row: &Row) -> QueueRecord {
    QueueRecord {
        name: row.get(0),
        created_at: row.get(1),
    }
}

impl LaunchStore for Postgres {
    async fn save_job(
        &self,
        entity_id: i64,
        name: String,
        spec: JobSpec,
    ) -> Result<JobRecord, StoreError> {
        let json = serde_json::to_string(&spec).expect("a job spec serialises");
        let created_at = now_rfc3339();
        let version = self
            .transaction(async |tx| {
                // Two hosts saving the same job at once: one waits, then numbers after it.
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    &[&(entity_id as i32), &name],
                )
                .await?;
                let row = tx
                    .query_one(
                        "INSERT INTO jobs (entity_id, name, version, spec, created_at)
                         SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4 FROM jobs
                         WHERE entity_id = $1 AND name = $2
                         RETURNING version",
                        &[&entity_id, &name, &json, &created_at],
                    )
                    .await?;
                Ok(row.get::<_, i64>(0) as u32)
            })
            .await?;
        Ok(JobRecord {
            name,
            version,
            spec,
            created_at,
        })
    }

    async fn job(&self, entity_id: i64, job: &JobRef) -> Result<JobRecord, StoreError> {
        let version = job.version.map(i64::from);
        let row = self
            .query_opt(
                "SELECT version, spec, created_at FROM jobs WHERE entity_id = $1 AND name = $2
                 AND ($3::BIGINT IS NULL OR version = $3) ORDER BY version DESC LIMIT 1",
                &[&entity_id, &job.name, &version],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("job {job}")))?;
        Ok(JobRecord {
            name: job.name.clone(),
            version: row.get::<_, i64>(0) as u32,
            spec: json_column(row.get(1))?,
            created_at: row.get(2),
        })
    }

    async fn list_jobs(
        &self,
        entity_id: i64,
        versions_of: Option<String>,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.query(
            "SELECT name, version, spec, created_at FROM jobs j WHERE entity_id = $1
             AND ($2::TEXT IS NULL AND version = (SELECT MAX(version) FROM jobs WHERE entity_id = j.entity_id AND name = j.name)
                  OR name = $2)
             ORDER BY name, version",
            &[&entity_id, &versions_of],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(JobRecord {
                name: row.get(0),
                version: row.get::<_, i64>(1) as u32,
                spec: json_column(row.get(2))?,
                created_at: row.get(3),
            })
        })
        .collect()
    }

    async fn create_queue(&self, entity_id: i64, name: String) -> Result<QueueRecord, StoreError> {
        let created_at = now_rfc3339();
        self.transaction(async |tx| {
            execute(
                tx,
                "INSERT INTO queues (entity_id, name, created_at) VALUES ($1, $2, $3)",
                &[&entity_id, &name, &created_at],
            )
            .await
            .map_err(|e| conflict(e, || format!("queue {name} already exists")))
        })
        .await?;
        Ok(QueueRecord { name, created_at })
    }

    async fn list_queues(&self, entity_id: i64) -> Result<Vec<QueueRecord>, StoreError> {
        Ok(self
            .query(
                "SELECT name, created_at FROM queues WHERE entity_id = $1 ORDER BY name",
                &[&entity_id],
            )
            .await?
            .iter()
            .map(queue_from_row)
            .collect())
    }

    async fn queue(&self, entity_id: i64, name: &str) -> Result<QueueRecord, StoreError> {
        self.query_opt(
            "SELECT name, created_at FROM queues WHERE entity_id = $1 AND name = $2",
            &[&entity_id, &name],
        )
        .await?
        .map(|row| queue_from_row(&row))
        .ok_or_else(|| StoreError::NotFound(format!("queue {name}")))
    }

    async fn enqueue(&self, entity_id: i64, item: NewItem) -> Result<ItemRecord, StoreError> {
        let id = crate::auth::random_id("item_");
        let now = now_rfc3339();
        let config = Value::Object(item.config.clone()).to_string();
        let enqueued_by = item.enqueued_by.to_string();
        self.transaction(async |tx| {
            execute(
                tx,
                "INSERT INTO queue_items (id, entity_id, queue, job, job_version, config, project, run_id,
                 enqueued_by, priority, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $1, $8, $9, 'queued', $10, $10)",
                &[
                    &id, &entity_id, &item.queue, &item.job, &i64::from(item.job_version), &config,
                    &item.project, &enqueued_by, &item.priority, &now,
                ],
            )
            .await?;
            Ok(())
        })
        .await?;
        Ok(item.queued(id, now))
    }

    async fn item(&self, entity_id: i64, id: &str) -> Result<ItemRecord, StoreError> {
        let row = self
            .query_opt(
                &format!("SELECT {ITEM_COLUMNS} FROM queue_items WHERE entity_id = $1 AND id = $2"),
                &[&entity_id, &id],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
        finish_item(item_from_row(&row))
    }

    async fn list_items(
        &self,
        entity_id: i64,
        queue: &str,
        filter: ItemFilter,
    ) -> Result<Vec<ItemRecord>, StoreError> {
        self.query(
            &format!(
                "SELECT {ITEM_COLUMNS} FROM queue_items WHERE entity_id = $1 AND queue = $2
                 AND ($3::TEXT IS NULL OR status = $3) AND ($4::TEXT IS NULL OR job = $4)
                 AND ($6::TEXT IS NULL OR seq < (SELECT seq FROM queue_items WHERE id = $6))
                 ORDER BY seq DESC LIMIT $5"
            ),
            &[
                &entity_id,
                &queue,
                &filter.status.map(ItemStatus::as_str),
                &filter.job,
                &(filter.limit as i64),
                &filter.before,
            ],
        )
        .await?
        .iter()
        .map(|row| finish_item(item_from_row(row)))
        .collect()
    }

    async fn cancel_item(&self, entity_id: i64, id: &str) -> Result<ItemRecord, StoreError> {
        self.transaction(async |tx| {
            let row = tx
                .query_opt(
                    "SELECT status FROM queue_items WHERE entity_id = $1 AND id = $2 FOR UPDATE",
                    &[&entity_id, &id],
                )
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
            let status: &str = row.get(0);
            if ItemStatus::parse(status).is_none_or(ItemStatus::is_final) {
                return Err(StoreError::Conflict(format!(
                    "queue item {id} is already {status}"
                )));
            }
            execute(
                tx,
                "UPDATE queue_items SET status = 'cancelled', updated_at = $3 WHERE entity_id = $1 AND id = $2",
                &[&entity_id, &id, &now_rfc3339()],
            )
            .await?;
            Ok(())
        })
        .await?;
        self.item(entity_id, id).await
    }
}
