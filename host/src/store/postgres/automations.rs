//! PostgreSQL: automations. Every change is announced, so other hosts reload their index.

use super::notify::Notifier;
use super::{Postgres, conflict, execute};
use crate::ids::AutomationId;
use crate::model::automation::Automation;
use crate::store::automations::*;
use crate::store::{Change, StoreError, json_column};

impl AutomationStore for Postgres {
    async fn insert_automation(
        &self,
        entity_id: i64,
        automation: Automation,
    ) -> Result<Automation, StoreError> {
        self.transaction(async |tx| {
            execute(
                tx,
                "INSERT INTO automations (id, entity_id, name, project, collection, integration, definition, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &automation.id.as_str(), &entity_id, &automation.name, &automation.scope_space(),
                    &automation.scope_collection(), &automation.action.integration, &definition(&automation),
                    &automation.created_at, &automation.updated_at,
                ],
            )
            .await
            .map_err(|e| conflict(e, || format!("an automation named {:?} already exists", automation.name)))?;
            Notifier::announce(tx, Change::Automations).await?;
            Ok(())
        })
        .await?;
        Ok(automation)
    }

    async fn update_automation(
        &self,
        entity_id: i64,
        automation: Automation,
    ) -> Result<Automation, StoreError> {
        self.transaction(async |tx| {
            let updated = execute(
                tx,
                "UPDATE automations SET name = $3, project = $4, collection = $5, integration = $6, definition = $7,
                 updated_at = $8 WHERE entity_id = $1 AND id = $2",
                &[
                    &entity_id, &automation.id.as_str(), &automation.name, &automation.scope_space(),
                    &automation.scope_collection(), &automation.action.integration, &definition(&automation),
                    &automation.updated_at,
                ],
            )
            .await
            .map_err(|e| conflict(e, || format!("an automation named {:?} already exists", automation.name)))?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("automation {}", automation.id)));
            }
            Notifier::announce(tx, Change::Automations).await
        })
        .await?;
        Ok(automation)
    }

    async fn delete_automation(&self, entity_id: i64, id: &AutomationId) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            let deleted = execute(
                tx,
                "DELETE FROM automations WHERE entity_id = $1 AND id = $2",
                &[&entity_id, &id.as_str()],
            )
            .await?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("automation {id}")));
            }
            Notifier::announce(tx, Change::Automations).await
        })
        .await
    }

    async fn automation(
        &self,
        entity_id: i64,
        id: &AutomationId,
    ) -> Result<Automation, StoreError> {
        let row = self
            .query_opt(
                "SELECT definition FROM automations WHERE entity_id = $1 AND id = $2",
                &[&entity_id, &id.as_str()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("automation {id}")))?;
        json_column(row.get(0))
    }

    async fn list_automations(
        &self,
        entity_id: i64,
        filter: AutomationFilter,
    ) -> Result<Vec<Automation>, StoreError> {
        self.query(
            "SELECT definition FROM automations WHERE entity_id = $1
             AND ($2::TEXT IS NULL OR project = $2) AND ($3::TEXT IS NULL OR collection = $3)
             AND ($4::TEXT IS NULL OR name COLLATE \"C\" > $4) ORDER BY name COLLATE \"C\" LIMIT $5",
            &[&entity_id, &filter.project, &filter.collection, &filter.after, &filter.limit.map(|n| n as i64)],
        )
        .await?
        .iter()
        .map(|row| json_column(row.get(0)))
        .collect()
    }

    async fn all_automations(&self) -> Result<Vec<(i64, Automation)>, StoreError> {
        self.query("SELECT entity_id, definition FROM automations", &[])
            .await?
            .iter()
            .map(|row| Ok((row.get(0), json_column(row.get(1))?)))
            .collect()
    }
}
