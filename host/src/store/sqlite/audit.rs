//! SQLite: the audit log.

use rusqlite::params_from_iter;

use super::Sqlite;
use crate::ids::AuditId;
use crate::store::StoreError;
use crate::store::audit::*;

/// A row of `COLUMNS`; the inner error is a stored action this version does not know.
fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<AuditRecord, StoreError>> {
    let action: String = row.get(4)?;
    let record = AuditRecord {
        id: AuditId::from(row.get::<_, String>(0)?),
        at: row.get(1)?,
        actor: row.get(2)?,
        actor_role: row.get(3)?,
        action: match action_of(&action) {
            Ok(action) => action,
            Err(error) => return Ok(Err(error)),
        },
        target: row.get(5)?,
        before: row.get(6)?,
        after: row.get(7)?,
    };
    Ok(Ok(record))
}

impl AuditStore for Sqlite {
    async fn record_audit(&self, entity_id: i64, entry: AuditRecord) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO audit_log (id, entity_id, at, actor, actor_role, action, target_kind,
                 target, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(rusqlite::params![
                entry.id.as_str(),
                entity_id,
                entry.at,
                entry.actor,
                entry.actor_role,
                entry.action.as_str(),
                entry.action.target_kind().as_str(),
                entry.target,
                entry.before,
                entry.after,
            ])?;
            Ok(())
        })
        .await
    }

    async fn audit_log(
        &self,
        entity_id: i64,
        query: AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(move |c| {
            let (conditions, values) = query.conditions(|n| format!("?{n}"));
            let sql = format!(
                "SELECT {COLUMNS} FROM audit_log WHERE entity_id = ?1{conditions}
                 ORDER BY id DESC LIMIT ?{}",
                values.len() + 2
            );
            let mut statement = c.prepare_cached(&sql)?;
            let parameters = std::iter::once(rusqlite::types::Value::from(entity_id))
                .chain(values.into_iter().map(rusqlite::types::Value::from))
                .chain(std::iter::once(rusqlite::types::Value::from(
                    query.limit as i64,
                )));
            let rows = statement.query_map(params_from_iter(parameters), from_row)?;
            rows.map(|row| row?).collect()
        })
        .await
    }

    async fn purge_audit(&self, before_id: String, limit: usize) -> Result<usize, StoreError> {
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM audit_log WHERE id IN
                 (SELECT id FROM audit_log WHERE id < ?1 ORDER BY id LIMIT ?2)",
                rusqlite::params![before_id, limit as i64],
            )?)
        })
        .await
    }
}
