//! SQLite: launch job versions, queues and the items put on them (claims and leases are
//! `leases.rs`).

use crate::model::launch::{ItemStatus, JobRef, JobSpec};
use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value};

use super::{Sqlite, conflict};
use crate::store::launch::*;
use crate::store::{StoreError, json_column, now_rfc3339};

/// An item row as read by every launch and lease query.
pub(super) fn item_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawItem> {
    let status: String = row.get(9)?;
    Ok((
        ItemRecord {
            id: row.get(0)?,
            queue: row.get(1)?,
            job: row.get(2)?,
            job_version: row.get(3)?,
            config: Map::new(),
            project: row.get(5)?,
            run_id: row.get(6)?,
            enqueued_by: Value::Null,
            priority: row.get(8)?,
            status: ItemStatus::parse(&status).unwrap_or(ItemStatus::Failed),
            attempts: row.get(10)?,
            lease_owner: row.get(11)?,
            exit_code: row.get(12)?,
            output: row.get(13)?,
            created_at: row.get(14)?,
            updated_at: row.get(15)?,
            output_bytes: row.get::<_, i64>(16)?.max(0) as u64,
        },
        row.get(4)?,
        row.get(7)?,
        status,
    ))
}

impl LaunchStore for Sqlite {
    async fn save_job(
        &self,
        entity_id: i64,
        name: String,
        spec: JobSpec,
    ) -> Result<JobRecord, StoreError> {
        self.write(move |tx| {
            let version: u32 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM jobs WHERE entity_id = ?1 AND name = ?2",
                params![entity_id, name],
                |r| r.get(0),
            )?;
            let created_at = now_rfc3339();
            let json = serde_json::to_string(&spec).expect("a job spec serialises");
            tx.execute(
                "INSERT INTO jobs (entity_id, name, version, spec, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![entity_id, name, version, json, created_at],
            )?;
            Ok(JobRecord { name, version, spec, created_at })
        })
        .await
    }

    async fn job(&self, entity_id: i64, job: &JobRef) -> Result<JobRecord, StoreError> {
        let job = job.clone();
        self.read(move |c| {
            let row: Option<(u32, String, String)> = c
                .query_row(
                    "SELECT version, spec, created_at FROM jobs WHERE entity_id = ?1 AND name = ?2
                     AND (?3 IS NULL OR version = ?3) ORDER BY version DESC LIMIT 1",
                    params![entity_id, job.name, job.version],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let (version, spec, created_at) =
                row.ok_or_else(|| StoreError::NotFound(format!("job {job}")))?;
            Ok(JobRecord {
                name: job.name.clone(),
                version,
                spec: json_column(&spec)?,
                created_at,
            })
        })
        .await
    }

    async fn list_jobs(
        &self,
        entity_id: i64,
        versions_of: Option<String>,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare(
                "SELECT name, version, spec, created_at FROM jobs j WHERE entity_id = ?1
                 AND (?2 IS NULL AND version = (SELECT MAX(version) FROM jobs WHERE entity_id = j.entity_id AND name = j.name)
                      OR name = ?2)
                 ORDER BY name, version",
            )?;
            let rows = statement
                .query_map(params![entity_id, versions_of], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(name, version, spec, created_at)| {
                    Ok(JobRecord { name, version, spec: json_column(&spec)?, created_at })
                })
                .collect()
        })
        .await
    }

    async fn create_queue(&self, entity_id: i64, name: String) -> Result<QueueRecord, StoreError> {
        self.write(move |tx| {
            let created_at = now_rfc3339();
            tx.execute(
                "INSERT INTO queues (entity_id, name, created_at) VALUES (?1, ?2, ?3)",
                params![entity_id, name, created_at],
            )
            .map_err(|e| conflict(e, || format!("queue {name} already exists")))?;
            Ok(QueueRecord { name, created_at })
        })
        .await
    }

    async fn list_queues(&self, entity_id: i64) -> Result<Vec<QueueRecord>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare(
                "SELECT name, created_at FROM queues WHERE entity_id = ?1 ORDER BY name",
            )?;
            Ok(statement
                .query_map([entity_id], |r| {
                    Ok(QueueRecord {
                        name: r.get(0)?,
                        created_at: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn queue(&self, entity_id: i64, name: &str) -> Result<QueueRecord, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT name, created_at FROM queues WHERE entity_id = ?1 AND name = ?2",
                params![entity_id, name],
                |r| {
                    Ok(QueueRecord {
                        name: r.get(0)?,
                        created_at: r.get(1)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("queue {name}")))
        })
        .await
    }

    async fn enqueue(&self, entity_id: i64, item: NewItem) -> Result<ItemRecord, StoreError> {
        self.write(move |tx| {
            let id = crate::auth::random_id("item_");
            let now = now_rfc3339();
            tx.execute(
                "INSERT INTO queue_items (id, entity_id, queue, job, job_version, config, project, run_id,
                 enqueued_by, priority, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?1, ?8, ?9, 'queued', ?10, ?10)",
                params![
                    id, entity_id, item.queue, item.job, item.job_version,
                    Value::Object(item.config.clone()).to_string(), item.project,
                    item.enqueued_by.to_string(), item.priority, now
                ],
            )?;
            Ok(item.queued(id, now))
        })
        .await
    }

    async fn item(&self, entity_id: i64, id: &str) -> Result<ItemRecord, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let row = c
                .query_row(
                    &format!(
                        "SELECT {ITEM_COLUMNS} FROM queue_items WHERE entity_id = ?1 AND id = ?2"
                    ),
                    params![entity_id, id],
                    item_from_row,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
            finish_item(row)
        })
        .await
    }

    async fn list_items(
        &self,
        entity_id: i64,
        queue: &str,
        filter: ItemFilter,
    ) -> Result<Vec<ItemRecord>, StoreError> {
        let queue = queue.to_string();
        self.read(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {ITEM_COLUMNS} FROM queue_items WHERE entity_id = ?1 AND queue = ?2
                 AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR job = ?4)
                 AND (?6 IS NULL OR rowid < (SELECT rowid FROM queue_items WHERE id = ?6))
                 ORDER BY rowid DESC LIMIT ?5"
            ))?;
            let rows = statement
                .query_map(
                    params![
                        entity_id,
                        queue,
                        filter.status.map(ItemStatus::as_str),
                        filter.job,
                        filter.limit as i64,
                        filter.before
                    ],
                    item_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(finish_item).collect()
        })
        .await
    }

    async fn cancel_item(&self, entity_id: i64, id: &str) -> Result<ItemRecord, StoreError> {
        let id_owned = id.to_string();
        let changed = self
            .write(move |tx| {
                let status: Option<String> = tx
                    .query_row(
                        "SELECT status FROM queue_items WHERE entity_id = ?1 AND id = ?2",
                        params![entity_id, id_owned],
                        |r| r.get(0),
                    )
                    .optional()?;
                let status = status.ok_or_else(|| StoreError::NotFound(format!("queue item {id_owned}")))?;
                if ItemStatus::parse(&status).is_none_or(ItemStatus::is_final) {
                    return Err(StoreError::Conflict(format!("queue item {id_owned} is already {status}")));
                }
                tx.execute(
                    "UPDATE queue_items SET status = 'cancelled', updated_at = ?3 WHERE entity_id = ?1 AND id = ?2",
                    params![entity_id, id_owned, now_rfc3339()],
                )?;
                Ok(())
            })
            .await;
        changed?;
        self.item(entity_id, id).await
    }
}
