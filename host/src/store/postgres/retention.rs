//! PostgreSQL: dropping old attempt bodies, a batch of executions per transaction. The mark's
//! row is locked for the batch, so that hosts purging at once take turns.

use super::{Postgres, count, execute, query};
use crate::store::StoreError;
use crate::store::retention::*;

impl RetentionStore for Postgres {
    async fn drop_attempt_bodies(
        &self,
        before_id: String,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let limit = limit as i64;
        self.transaction(async |tx| {
            let marked = query(
                tx,
                "SELECT mark FROM retention_marks WHERE name = $1 FOR UPDATE",
                &[&BODIES_MARK],
            )
            .await?;
            let mark: String = marked.first().map(|r| r.get(0)).unwrap_or_default();
            let ids: Vec<String> = query(
                tx,
                "SELECT id FROM executions WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3",
                &[&mark, &before_id, &limit],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            let Some(last) = ids.last() else {
                return Ok(0);
            };
            let rows = query(
                tx,
                "SELECT execution_id, number, record FROM attempts WHERE execution_id = ANY($1)",
                &[&ids],
            )
            .await?;
            for row in rows {
                let (id, number, record): (String, i64, String) =
                    (row.get(0), row.get(1), row.get(2));
                if let Some(smaller) = without_bodies(&record)? {
                    execute(
                        tx,
                        "UPDATE attempts SET record = $3 WHERE execution_id = $1 AND number = $2",
                        &[&id, &number, &smaller],
                    )
                    .await?;
                }
            }
            execute(
                tx,
                "UPDATE retention_marks SET mark = $2 WHERE name = $1",
                &[&BODIES_MARK, last],
            )
            .await?;
            Ok(count(ids.len() as u64))
        })
        .await
    }
}
