//! SQLite: run liveness.

use rusqlite::{Transaction, params};

use super::Sqlite;
use crate::store::runs::*;
use crate::store::{EntityRecord, StoreError, unix_millis};

/// Records what an event (or a heartbeat) says of its run, at `now_ms`.
pub(super) fn touch(
    tx: &Transaction<'_>,
    entity_id: i64,
    touch: &RunTouch,
    now_ms: i64,
) -> Result<(), StoreError> {
    let on_conflict = match touch.liveness {
        // A late sample or heartbeat never brings an ended run back.
        Liveness::Seen => {
            "last_seen = max(last_seen, excluded.last_seen),
             run_name = COALESCE(excluded.run_name, run_name) WHERE state = 'running'"
        }
        Liveness::Started => {
            "state = 'running', last_seen = excluded.last_seen, reported_at = NULL,
             run_name = COALESCE(excluded.run_name, run_name)"
        }
        Liveness::Ended => "state = 'ended', last_seen = excluded.last_seen",
    };
    tx.prepare_cached(&format!(
        "INSERT INTO run_liveness (entity_id, project, run_id, run_name, state, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (entity_id, project, run_id) DO UPDATE SET {on_conflict}"
    ))?
    .execute(params![
        entity_id,
        touch.project,
        touch.run_id,
        touch.run_name,
        touch.liveness.state(),
        now_ms
    ])?;
    Ok(())
}

impl RunStore for Sqlite {
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
        self.write(move |tx| {
            touch(tx, entity_id, &run, unix_millis())?;
            let state: String = tx.query_row(
                "SELECT state FROM run_liveness WHERE entity_id = ?1 AND project = ?2 AND run_id = ?3",
                params![entity_id, run.project, run.run_id],
                |r| r.get(0),
            )?;
            Ok(state == "running")
        })
        .await
    }

    async fn claim_silent_runs(
        &self,
        silent_since: i64,
        reclaim_ms: i64,
        limit: usize,
    ) -> Result<Vec<SilentRun>, StoreError> {
        self.write(move |tx| {
            let now = unix_millis();
            let mut claim = tx.prepare_cached(
                "UPDATE run_liveness SET reported_at = ?1
                 WHERE rowid IN (SELECT rowid FROM run_liveness
                                 WHERE state = 'running' AND last_seen < ?2
                                   AND (reported_at IS NULL OR reported_at < ?3)
                                 LIMIT ?4)
                 RETURNING entity_id, project, run_id, run_name, last_seen",
            )?;
            let claimed = claim
                .query_map(
                    params![now, silent_since, now - reclaim_ms, limit as i64],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, i64>(4)?,
                        ))
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            drop(claim);
            let mut entity = tx.prepare_cached(
                "SELECT id, name, operator, created_at FROM entities WHERE id = ?1",
            )?;
            claimed
                .into_iter()
                .map(|(entity_id, project, run_id, run_name, last_seen)| {
                    let entity = entity.query_row([entity_id], |r| {
                        Ok(EntityRecord {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            operator: r.get(2)?,
                            created_at: r.get(3)?,
                        })
                    })?;
                    Ok(SilentRun {
                        entity,
                        project,
                        run_id,
                        run_name,
                        last_seen,
                    })
                })
                .collect()
        })
        .await
    }
}
