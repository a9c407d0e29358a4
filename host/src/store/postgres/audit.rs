//! PostgreSQL: the audit log.

use tokio_postgres::types::ToSql;

use super::Postgres;
use crate::ids::AuditId;
use crate::store::StoreError;
use crate::store::audit::*;

impl AuditStore for Postgres {
    async fn record_audit(&self, entity_id: i64, entry: AuditRecord) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            super::execute(
                tx,
                "INSERT INTO audit_log (id, entity_id, at, actor, actor_role, action, target_kind,
                 target, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &entry.id.as_str(),
                    &entity_id,
                    &entry.at,
                    &entry.actor,
                    &entry.actor_role,
                    &entry.action.as_str(),
                    &entry.action.target_kind().as_str(),
                    &entry.target,
                    &entry.before,
                    &entry.after,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn audit_log(
        &self,
        entity_id: i64,
        query: AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (conditions, values) = query.conditions(|n| format!("${n}"));
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE entity_id = $1{conditions}
             ORDER BY id DESC LIMIT ${}",
            values.len() + 2
        );
        let limit = query.limit as i64;
        let mut parameters: Vec<&(dyn ToSql + Sync)> = vec![&entity_id];
        parameters.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
        parameters.push(&limit);
        self.query(&sql, &parameters)
            .await?
            .iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: AuditId::from(row.get::<_, String>(0)),
                    at: row.get(1),
                    actor: row.get(2),
                    actor_role: row.get(3),
                    action: action_of(row.get(4))?,
                    target: row.get(5),
                    before: row.get(6),
                    after: row.get(7),
                })
            })
            .collect()
    }

    async fn purge_audit(&self, before_id: String, limit: usize) -> Result<usize, StoreError> {
        let limit = limit as i64;
        self.transaction(async |tx| {
            let n = super::execute(
                tx,
                "DELETE FROM audit_log WHERE id IN
                 (SELECT id FROM audit_log WHERE id < $1 ORDER BY id LIMIT $2)",
                &[&before_id, &limit],
            )
            .await?;
            Ok(super::count(n))
        })
        .await
    }
}
