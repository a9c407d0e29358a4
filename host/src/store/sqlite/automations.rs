//! SQLite: automations: definitions and the columns lists filter on.

use crate::ids::AutomationId;
use crate::model::automation::Automation;
use rusqlite::{OptionalExtension, params};

use super::{Sqlite, conflict};
use crate::store::automations::*;
use crate::store::{StoreError, json_column};

impl AutomationStore for Sqlite {
    async fn insert_automation(
        &self,
        entity_id: i64,
        automation: Automation,
    ) -> Result<Automation, StoreError> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO automations (id, entity_id, name, project, collection, integration, definition, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    automation.id, entity_id, automation.name, automation.scope_space(), automation.scope_collection(),
                    automation.action.integration, definition(&automation), automation.created_at, automation.updated_at
                ],
            )
            .map_err(|e| conflict(e, || format!("an automation named {:?} already exists", automation.name)))?;
            Ok(automation)
        })
        .await
    }

    async fn update_automation(
        &self,
        entity_id: i64,
        automation: Automation,
    ) -> Result<Automation, StoreError> {
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE automations SET name = ?3, project = ?4, collection = ?5, integration = ?6, definition = ?7,
                     updated_at = ?8 WHERE entity_id = ?1 AND id = ?2",
                    params![
                        entity_id, automation.id, automation.name, automation.scope_space(), automation.scope_collection(),
                        automation.action.integration, definition(&automation), automation.updated_at
                    ],
                )
                .map_err(|e| conflict(e, || format!("an automation named {:?} already exists", automation.name)))?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("automation {}", automation.id)));
            }
            Ok(automation)
        })
        .await
    }

    async fn delete_automation(&self, entity_id: i64, id: &AutomationId) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            match tx.execute(
                "DELETE FROM automations WHERE entity_id = ?1 AND id = ?2",
                params![entity_id, id],
            )? {
                0 => Err(StoreError::NotFound(format!("automation {id}"))),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn automation(
        &self,
        entity_id: i64,
        id: &AutomationId,
    ) -> Result<Automation, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let text: Option<String> = c
                .query_row(
                    "SELECT definition FROM automations WHERE entity_id = ?1 AND id = ?2",
                    params![entity_id, id],
                    |r| r.get(0),
                )
                .optional()?;
            json_column(&text.ok_or_else(|| StoreError::NotFound(format!("automation {id}")))?)
        })
        .await
    }

    async fn list_automations(
        &self,
        entity_id: i64,
        filter: AutomationFilter,
    ) -> Result<Vec<Automation>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT definition FROM automations WHERE entity_id = ?1
                 AND (?2 IS NULL OR project = ?2) AND (?3 IS NULL OR collection = ?3)
                 AND (?4 IS NULL OR name > ?4) ORDER BY name LIMIT ?5",
            )?;
            let limit = filter.limit.map_or(-1, |n| n as i64);
            let values = params![
                entity_id,
                filter.project,
                filter.collection,
                filter.after,
                limit
            ];
            let rows = statement.query_map(values, |r| r.get::<_, String>(0))?;
            rows.map(|text| json_column(&text?)).collect()
        })
        .await
    }

    async fn all_automations(&self) -> Result<Vec<(i64, Automation)>, StoreError> {
        self.read(|c| {
            let mut statement = c.prepare("SELECT entity_id, definition FROM automations")?;
            let rows =
                statement.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            rows.map(|row| {
                let (entity_id, text) = row?;
                Ok((entity_id, json_column(&text)?))
            })
            .collect()
        })
        .await
    }
}
