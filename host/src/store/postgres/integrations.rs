//! PostgreSQL: integrations. Every change is announced, so other hosts' credential caches age.

use tokio_postgres::Row;

use super::notify::Notifier;
use super::{Postgres, conflict, execute, query};
use crate::model::integration::{HeldChoice, IntegrationKind};
use crate::store::integrations::*;
use crate::store::{Change, StoreError, now_rfc3339, unix_millis};

/// A held execution's integration, read from its automation snapshot.
const HELD_INTEGRATION: &str = "(automation::jsonb -> 'action' ->> 'integration')";

fn from_row(row: &Row) -> Result<IntegrationRecord, StoreError> {
    let kind: &str = row.get(2);
    Ok(IntegrationRecord {
        id: row.get(0),
        name: row.get(1),
        kind: IntegrationKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown integration kind {kind:?}")))?,
        url: row.get(3),
        access_token: row.get(4),
        signing_secret: row.get(5),
        created_at: row.get(6),
        updated_at: row.get(7),
        url_secret: row.get(8),
        secrets: grants_of(row.get(9))?,
        disable_after_ms: row.get(10),
        health: IntegrationHealth {
            consecutive_failures: row.get(11),
            failing_since_ms: row.get(12),
            disabled_at: row.get(13),
            disabled_reason: row.get(14),
        },
    })
}

impl IntegrationStore for Postgres {
    async fn create_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.transaction(async |tx| {
            execute(
                tx,
                "INSERT INTO integrations (id, entity_id, name, kind, url, access_token_secret, signing_secret,
                 created_at, updated_at, url_secret, granted_secrets, disable_after_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &record.id, &entity_id, &record.name, &record.kind.as_str(), &record.url, &record.access_token,
                    &record.signing_secret, &record.created_at, &record.updated_at, &record.url_secret,
                    &grants_text(&record.secrets), &record.disable_after_ms,
                ],
            )
            .await
            .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            Notifier::announce(tx, Change::Credentials).await
        })
        .await?;
        Ok(record)
    }

    async fn update_integration(
        &self,
        entity_id: i64,
        record: IntegrationRecord,
    ) -> Result<IntegrationRecord, StoreError> {
        self.transaction(async |tx| {
            let updated = execute(
                tx,
                "UPDATE integrations SET name = $3, kind = $4, url = $5, access_token_secret = $6,
                 signing_secret = $7, updated_at = $8, url_secret = $9, granted_secrets = $10,
                 disable_after_ms = $11
                 WHERE entity_id = $1 AND id = $2",
                &[
                    &entity_id,
                    &record.id,
                    &record.name,
                    &record.kind.as_str(),
                    &record.url,
                    &record.access_token,
                    &record.signing_secret,
                    &record.updated_at,
                    &record.url_secret,
                    &grants_text(&record.secrets),
                    &record.disable_after_ms,
                ],
            )
            .await
            .map_err(|e| conflict(e, || format!("integration {} already exists", record.name)))?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("integration {}", record.name)));
            }
            Notifier::announce(tx, Change::Credentials).await
        })
        .await?;
        Ok(record)
    }

    async fn integration(
        &self,
        entity_id: i64,
        name: &str,
    ) -> Result<IntegrationRecord, StoreError> {
        let row = self
            .query_opt(
                &format!("SELECT {COLUMNS} FROM integrations WHERE entity_id = $1 AND name = $2"),
                &[&entity_id, &name],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("integration {name}")))?;
        from_row(&row)
    }

    async fn list_integrations(
        &self,
        entity_id: i64,
    ) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM integrations WHERE entity_id = $1 ORDER BY name"),
            &[&entity_id],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn delete_integration(&self, entity_id: i64, name: &str) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            let users: Vec<String> = query(
                tx,
                "SELECT name FROM automations WHERE entity_id = $1 AND integration = $2 ORDER BY name",
                &[&entity_id, &name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            if !users.is_empty() {
                return Err(StoreError::in_use(format!("integration {name}"), "automation", &users));
            }
            let deleted = execute(
                tx,
                "DELETE FROM integrations WHERE entity_id = $1 AND name = $2",
                &[&entity_id, &name],
            )
            .await?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("integration {name}")));
            }
            Notifier::announce(tx, Change::Credentials).await
        })
        .await
    }

    async fn ungranted_integrations(&self) -> Result<Vec<(i64, IntegrationRecord)>, StoreError> {
        self.query(
            &format!(
                "SELECT {COLUMNS}, entity_id FROM integrations WHERE granted_secrets IS NULL ORDER BY entity_id, name"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| Ok((row.get(15), from_row(row)?)))
        .collect()
    }

    async fn grant_first(
        &self,
        entity_id: i64,
        id: &str,
        secrets: Vec<String>,
    ) -> Result<bool, StoreError> {
        self.transaction(async |tx| {
            let updated = execute(
                tx,
                "UPDATE integrations SET granted_secrets = $3
                 WHERE entity_id = $1 AND id = $2 AND granted_secrets IS NULL",
                &[&entity_id, &id, &grants_text(&secrets)],
            )
            .await?;
            if updated == 1 {
                Notifier::announce(tx, Change::Credentials).await?;
            }
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
        let now = unix_millis();
        self.transaction(async |tx| {
            let counted = query(
                tx,
                "UPDATE integrations SET consecutive_failures = consecutive_failures + 1,
                 failing_since_ms = CASE WHEN $3 AND failing_since_ms IS NULL THEN $4
                                         ELSE failing_since_ms END
                 WHERE entity_id = $1 AND name = $2
                 RETURNING failing_since_ms, COALESCE(disable_after_ms, $5), disabled_at IS NOT NULL",
                &[&entity_id, &name, &exhausted, &now, &default_disable_after_ms],
            )
            .await?;
            let Some(row) = counted.first() else {
                return Ok(None);
            };
            let (since, after, disabled): (Option<i64>, i64, bool) = (row.get(0), row.get(1), row.get(2));
            let Some(since) = since else { return Ok(None) };
            if disabled || !exhausted || after <= 0 || now - since < after {
                return Ok(None);
            }
            let reason = disabled_reason(after);
            // Conditional, so that of two hosts counting failures at once one disables it.
            let changed = execute(
                tx,
                "UPDATE integrations SET disabled_at = $3, disabled_reason = $4
                 WHERE entity_id = $1 AND name = $2 AND disabled_at IS NULL",
                &[&entity_id, &name, &now_rfc3339(), &reason],
            )
            .await?;
            if changed == 1 {
                // Attempts read the disabled state with the credentials: every host's must age.
                Notifier::announce(tx, Change::Credentials).await?;
            }
            Ok((changed == 1).then_some(reason))
        })
        .await
    }

    async fn set_integration_disabled(
        &self,
        entity_id: i64,
        name: &str,
        disabled: Option<String>,
        held: HeldChoice,
    ) -> Result<Toggled, StoreError> {
        self.transaction(async |tx| {
            // Locked: an attempt holding an execution reads it FOR SHARE, so that an execution
            // is never held after the enabling that releases held ones has read them.
            let was_disabled: bool = query(
                tx,
                "SELECT disabled_at IS NOT NULL FROM integrations
                 WHERE entity_id = $1 AND name = $2 FOR UPDATE",
                &[&entity_id, &name],
            )
            .await?
            .first()
            .map(|r| r.get(0))
            .ok_or_else(|| StoreError::NotFound(format!("integration {name}")))?;
            let now = now_rfc3339();
            let toggled = match disabled {
                Some(reason) => {
                    if !was_disabled {
                        execute(
                            tx,
                            "UPDATE integrations SET disabled_at = $3, disabled_reason = $4
                             WHERE entity_id = $1 AND name = $2",
                            &[&entity_id, &name, &now, &reason],
                        )
                        .await?;
                    }
                    Toggled { changed: !was_disabled, held: 0 }
                }
                None => {
                    execute(
                        tx,
                        "UPDATE integrations SET disabled_at = NULL, disabled_reason = NULL,
                         consecutive_failures = 0, failing_since_ms = NULL
                         WHERE entity_id = $1 AND name = $2",
                        &[&entity_id, &name],
                    )
                    .await?;
                    let released = match held {
                        // Due by now, a millisecond apart in the order they were created: claims take
                        // the earliest due first.
                        HeldChoice::Deliver => execute(
                            tx,
                            &format!(
                                "UPDATE executions x SET status = 'pending', status_reason = NULL,
                                 next_attempt_at = $3 - r.n + r.rank, updated_at = $4
                                 FROM (SELECT id, COUNT(*) OVER () AS n,
                                              ROW_NUMBER() OVER (ORDER BY created_at, id) AS rank
                                       FROM executions
                                       WHERE status = 'held' AND entity_id = $1 AND {HELD_INTEGRATION} = $2) r
                                 WHERE x.id = r.id"
                            ),
                            &[&entity_id, &name, &unix_millis(), &now],
                        )
                        .await?,
                        HeldChoice::Discard => execute(
                            tx,
                            &format!(
                                "UPDATE executions SET status = 'failed', updated_at = $3,
                                 status_reason = 'discarded: held while integration ' || $2 || ' was disabled'
                                 WHERE status = 'held' AND entity_id = $1 AND {HELD_INTEGRATION} = $2"
                            ),
                            &[&entity_id, &name, &now],
                        )
                        .await?,
                    };
                    Toggled { changed: was_disabled, held: released as usize }
                }
            };
            if toggled.changed {
                Notifier::announce(tx, Change::Credentials).await?;
            }
            Ok(toggled)
        })
        .await
    }

    async fn held_executions(&self, entity_id: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(self
            .query(
                &format!(
                    "SELECT COALESCE({HELD_INTEGRATION}, '') AS integration, COUNT(*)
                     FROM executions WHERE status = 'held' AND entity_id = $1
                     GROUP BY integration ORDER BY integration"
                ),
                &[&entity_id],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }
}
