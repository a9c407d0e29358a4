//! SQLite: dropping old attempt bodies, a batch of executions per transaction.

use rusqlite::params;

use super::Sqlite;
use crate::store::StoreError;
use crate::store::retention::*;

impl RetentionStore for Sqlite {
    async fn drop_attempt_bodies(
        &self,
        before_id: String,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.write(move |tx| {
            let mark: String = tx.query_row(
                "SELECT mark FROM retention_marks WHERE name = ?1",
                [BODIES_MARK],
                |r| r.get(0),
            )?;
            let ids: Vec<String> = tx
                .prepare_cached(
                    "SELECT id FROM executions WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT ?3",
                )?
                .query_map(params![mark, before_id, limit as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let Some(last) = ids.last() else {
                return Ok(0);
            };
            let mut attempts =
                tx.prepare_cached("SELECT number, record FROM attempts WHERE execution_id = ?1")?;
            let mut update = tx.prepare_cached(
                "UPDATE attempts SET record = ?3 WHERE execution_id = ?1 AND number = ?2",
            )?;
            for id in &ids {
                let rows: Vec<(i64, String)> = attempts
                    .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                for (number, record) in rows {
                    if let Some(smaller) = without_bodies(&record)? {
                        update.execute(params![id, number, smaller])?;
                    }
                }
            }
            tx.execute(
                "UPDATE retention_marks SET mark = ?2 WHERE name = ?1",
                params![BODIES_MARK, last],
            )?;
            Ok(ids.len())
        })
        .await
    }
}
