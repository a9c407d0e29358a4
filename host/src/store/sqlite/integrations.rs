//! SQLite: integrations: an entity's named destinations.

use rusqlite::{OptionalExtension, params};

use super::{Sqlite, conflict};
use crate::model::integration::HeldChoice;
use crate::store::integrations::*;
use crate::store::{StoreError, now_rfc3339, unix_millis};

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IntegrationRecord> {
    Ok(IntegrationRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.get(2)?,
        url: row.get(3)?,
        access_token: row.get(4)?,
        signing_secret: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        url_secret: row.get(8)?,
        secrets: grants_of(row.get(9)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, Box::new(e))
        })?,
        disable_after_ms: row.get(10)?,
        health: IntegrationHealth {
            consecutive_failures: row.get(11)?,
            failing_since_ms: row.get(12)?,
            disabled_at: row.get(13)?,
            disabled_reason: row.get(14)?,
        },
    })
}

impl IntegrationStore for Sqlite {
    async fn create_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.write_credentials(move |tx| {
            tx.execute(
                "INSERT INTO integrations (id, entity_id, name, kind, url, access_token_secret, signing_secret, created_at, updated_at, url_secret, granted_secrets, disable_after_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    record.id, entity_id, record.name, record.kind, record.url, record.access_token,
                    record.signing_secret, record.created_at, record.updated_at, record.url_secret,
                    grants_text(&record.secrets), record.disable_after_ms
                ],
            )
            .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            Ok(record)
        })
        .await
    }

    async fn update_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.write_credentials(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE integrations SET name = ?3, kind = ?4, url = ?5, access_token_secret = ?6,
                     signing_secret = ?7, updated_at = ?8, url_secret = ?9, granted_secrets = ?10,
                     disable_after_ms = ?11
                     WHERE entity_id = ?1 AND id = ?2",
                    params![
                        entity_id, record.id, record.name, record.kind, record.url, record.access_token,
                        record.signing_secret, record.updated_at, record.url_secret,
                        grants_text(&record.secrets), record.disable_after_ms
                    ],
                )
                .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("integration {}", record.name)));
            }
            Ok(record)
        })
        .await
    }

    async fn integration(
        &self,
        entity_id: i64,
        name: &str,
    ) -> Result<IntegrationRecord, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM integrations WHERE entity_id = ?1 AND name = ?2"
            ))?
            .query_row(params![entity_id, name], from_row)
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("integration {name}")))
        })
        .await
    }

    async fn list_integrations(
        &self,
        entity_id: i64,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS} FROM integrations WHERE entity_id = ?1 ORDER BY name"
            ))?;
            let rows = statement.query_map([entity_id], from_row)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }

    async fn delete_integration(&self, entity_id: i64, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.write_credentials(move |tx| {
            let mut statement =
                tx.prepare("SELECT name FROM automations WHERE entity_id = ?1 AND integration = ?2 ORDER BY name")?;
            let users: Vec<String> =
                statement.query_map(params![entity_id, name], |r| r.get(0))?.collect::<Result<_, _>>()?;
            if !users.is_empty() {
                return Err(StoreError::in_use(format!("integration {name}"), "automation", &users));
            }
            let deleted =
                tx.execute("DELETE FROM integrations WHERE entity_id = ?1 AND name = ?2", params![entity_id, name])?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("integration {name}")));
            }
            Ok(())
        })
        .await
    }

    async fn ungranted_integrations(&self) -> Result<Vec<(i64, IntegrationRecord)>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS}, entity_id FROM integrations WHERE granted_secrets IS NULL ORDER BY entity_id, name"
            ))?;
            let rows = statement.query_map([], |row| Ok((row.get(15)?, from_row(row)?)))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }

    async fn grant_first(
        &self,
        entity_id: i64,
        id: &str,
        secrets: Vec<String>,
    ) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write_credentials(move |tx| {
            let updated = tx.execute(
                "UPDATE integrations SET granted_secrets = ?3 WHERE entity_id = ?1 AND id = ?2 AND granted_secrets IS NULL",
                params![entity_id, id, grants_text(&secrets)],
            )?;
            Ok(updated == 1)
        })
        .await
    }

    async fn integration_failed(
        &self,
        entity_id: i64,
        name: &str,
        exhausted: bool,
        default_disable_after_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let name = name.to_string();
        let now = unix_millis();
        let disabled = self
                .write(move |tx| {
                    let counted = tx
                        .prepare_cached(
                            "UPDATE integrations SET consecutive_failures = consecutive_failures + 1,
                             failing_since_ms = CASE WHEN ?3 AND failing_since_ms IS NULL THEN ?4
                                                     ELSE failing_since_ms END
                             WHERE entity_id = ?1 AND name = ?2
                             RETURNING failing_since_ms, COALESCE(disable_after_ms, ?5), disabled_at IS NOT NULL",
                        )?
                        .query_row(
                            params![entity_id, name, exhausted, now, default_disable_after_ms],
                            |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, i64>(1)?, r.get::<_, bool>(2)?)),
                        )
                        .optional()?;
                    let Some((Some(since), after, false)) = counted else {
                        return Ok(None);
                    };
                    if !exhausted || after <= 0 || now - since < after {
                        return Ok(None);
                    }
                    let reason = disabled_reason(after);
                    let changed = tx.execute(
                        "UPDATE integrations SET disabled_at = ?3, disabled_reason = ?4
                         WHERE entity_id = ?1 AND name = ?2 AND disabled_at IS NULL",
                        params![entity_id, name, now_rfc3339(), reason],
                    )?;
                    Ok((changed == 1).then_some(reason))
                })
                .await?;
        if disabled.is_some() {
            // Attempts read the disabled state with the credentials: theirs must age.
            self.bump_credentials();
        }
        Ok(disabled)
    }

    async fn set_integration_disabled(
        &self,
        entity_id: i64,
        name: &str,
        disabled: Option<String>,
        held: HeldChoice,
    ) -> Result<Toggled, StoreError> {
        let name = name.to_string();
        self.write_credentials(move |tx| {
            let was_disabled: bool = tx
                .query_row(
                    "SELECT disabled_at IS NOT NULL FROM integrations WHERE entity_id = ?1 AND name = ?2",
                    params![entity_id, name],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("integration {name}")))?;
            let now = now_rfc3339();
            match disabled {
                Some(reason) => {
                    if !was_disabled {
                        tx.execute(
                            "UPDATE integrations SET disabled_at = ?3, disabled_reason = ?4
                             WHERE entity_id = ?1 AND name = ?2",
                            params![entity_id, name, now, reason],
                        )?;
                    }
                    Ok(Toggled { changed: !was_disabled, held: 0 })
                }
                None => {
                    tx.execute(
                        "UPDATE integrations SET disabled_at = NULL, disabled_reason = NULL,
                         consecutive_failures = 0, failing_since_ms = NULL
                         WHERE entity_id = ?1 AND name = ?2",
                        params![entity_id, name],
                    )?;
                    let released = match held {
                        // Due by now, a millisecond apart in the order they were created: claims take
                        // the earliest due first.
                        HeldChoice::Deliver => tx.execute(
                            "UPDATE executions SET status = 'pending', status_reason = NULL,
                             next_attempt_at = ?3 - r.n + r.rank, updated_at = ?4
                             FROM (SELECT id AS held_id, COUNT(*) OVER () AS n,
                                          ROW_NUMBER() OVER (ORDER BY created_at, rowid) AS rank
                                   FROM executions WHERE status = 'held' AND entity_id = ?1
                                     AND json_extract(automation, '$.action.integration') = ?2) AS r
                             WHERE executions.id = r.held_id",
                            params![entity_id, name, unix_millis(), now],
                        )?,
                        HeldChoice::Discard => tx.execute(
                            "UPDATE executions SET status = 'failed', updated_at = ?3,
                             status_reason = 'discarded: held while integration ' || ?2 || ' was disabled'
                             WHERE status = 'held' AND entity_id = ?1
                               AND json_extract(automation, '$.action.integration') = ?2",
                            params![entity_id, name, now],
                        )?,
                    };
                    Ok(Toggled { changed: was_disabled, held: released })
                }
            }
        })
        .await
    }

    async fn held_executions(&self, entity_id: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT json_extract(automation, '$.action.integration') AS integration, COUNT(*)
                 FROM executions WHERE status = 'held' AND entity_id = ?1
                 GROUP BY integration ORDER BY integration",
            )?;
            let rows = statement.query_map([entity_id], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get(1)?,
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Into::into)
        })
        .await
    }
}
