//! PostgreSQL: run liveness. Hosts claim silent runs with `FOR UPDATE SKIP LOCKED`, so each is
//! reported by one.

use tokio_postgres::Transaction;

use super::Postgres;
use crate::store::runs::*;
use crate::store::{EntityRecord, StoreError, unix_millis};

/// Records what an event (or a heartbeat) says of its run, at `now_ms`.
pub(super) async fn touch(
    tx: &Transaction<'_>,
    entity_id: i64,
    touch: &RunTouch,
    now_ms: i64,
) -> Result<(), StoreError> {
    let on_conflict = match touch.liveness {
        // A late sample or heartbeat never brings an ended run back.
        Liveness::Seen => {
            "last_seen = GREATEST(run_liveness.last_seen, excluded.last_seen),
             run_name = COALESCE(excluded.run_name, run_liveness.run_name)
             WHERE run_liveness.state = 'running'"
        }
        Liveness::Started => {
            "state = 'running', last_seen = excluded.last_seen, reported_at = NULL,
             run_name = COALESCE(excluded.run_name, run_liveness.run_name)"
        }
        Liveness::Ended => "state = 'ended', last_seen = excluded.last_seen",
    };
    tx.execute(
        &format!(
            "INSERT INTO run_liveness (entity_id, project, run_id, run_name, state, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (entity_id, project, run_id) DO UPDATE SET {on_conflict}"
        ),
        &[
            &entity_id,
            &touch.project,
            &touch.run_id,
            &touch.run_name,
            &touch.liveness.state(),
            &now_ms,
        ],
    )
    .await?;
    Ok(())
}

impl RunStore for Postgres {
    async fn run_heartbeat(
        &self,
        entity_id: i64,
        project: &str,
        run_id: &str,
    ) -> Result<bool, StoreError> {
        let run = RunTouch {
            project: project.to_string(),
            run_id: run_id.to_string(),
            run_name: None,
            liveness: Liveness::Seen,
        };
        self.transaction(async |tx| {
            touch(tx, entity_id, &run, unix_millis()).await?;
            let row = tx
                .query_one(
                    "SELECT state FROM run_liveness WHERE entity_id = $1 AND project = $2 AND run_id = $3",
                    &[&entity_id, &run.project, &run.run_id],
                )
                .await?;
            Ok(row.get::<_, &str>(0) == "running")
        })
        .await
    }

    async fn claim_silent_runs(
        &self,
        silent_since: i64,
        reclaim_ms: i64,
        limit: usize,
    ) -> Result<Vec<SilentRun>, StoreError> {
        let now = unix_millis();
        let rows = self
            .query(
                "WITH claimed AS (
                     UPDATE run_liveness SET reported_at = $1
                     WHERE (entity_id, project, run_id) IN (
                         SELECT entity_id, project, run_id FROM run_liveness
                         WHERE state = 'running' AND last_seen < $2
                           AND (reported_at IS NULL OR reported_at < $3)
                         LIMIT $4 FOR UPDATE SKIP LOCKED)
                     RETURNING entity_id, project, run_id, run_name, last_seen)
                 SELECT claimed.*, e.name, e.operator, e.created_at
                 FROM claimed JOIN entities e ON e.id = claimed.entity_id",
                &[&now, &silent_since, &(now - reclaim_ms), &(limit as i64)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| SilentRun {
                entity: EntityRecord {
                    id: row.get(0),
                    name: row.get(5),
                    operator: row.get(6),
                    created_at: row.get(7),
                },
                project: row.get(1),
                run_id: row.get(2),
                run_name: row.get(3),
                last_seen: row.get(4),
            })
            .collect())
    }
}
