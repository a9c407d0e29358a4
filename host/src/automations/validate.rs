//! Every check an automation must pass before it is saved: its definition, its plugin and
//! integration, the secrets its template may name (those its integration grants), the plugin's
//! config schema and `validate-config`, and for `launch-job` the queue, job and overrides.

use super::compile;
use super::grants::usable_secrets;
use super::index::Compiled;
use super::rules::check_definition;
use crate::engine::PluginEngine;
use crate::model::automation::Automation;
use crate::plugins::PluginRegistry;
use crate::store::{Store, StoreError};
use Refusal::Invalid;

/// Why an automation may not be saved.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A field is wrong; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// A field names something that does not exist (a plugin, an integration, a queue, a job);
    /// the message names the field.
    #[error("{0}")]
    Missing(String),
    /// The plugin's schema or `validate-config` refused the action config.
    #[error("{0}")]
    PluginRefused(String),
    /// Well-formed, but refused by what the document cannot state: a job reference in the
    /// action config that does not parse, an override of a key the job does not declare, a
    /// filter's `$regex` the regex engine does not take.
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every check an automation must pass before it is saved.
pub async fn validate(
    store: &Store,
    plugins: &PluginRegistry,
    engine: &PluginEngine,
    entity_id: i64,
    automation: Automation,
) -> Result<Compiled, Refusal> {
    check_definition(&automation).map_err(|e| Invalid(e.to_string()))?;
    let plugin_name = automation.action.plugin.clone();
    let Some(plugin) = plugins.get(&plugin_name) else {
        let installed: Vec<String> = plugins.all().iter().map(|p| p.info.name.clone()).collect();
        return Err(Refusal::Missing(format!(
            "action.type: no plugin named {plugin_name:?} (installed: {})",
            installed.join(", ")
        )));
    };
    let compiled = compile(
        entity_id,
        automation,
        plugin.info.default_payload.as_deref(),
    )
    .map_err(|e| match e {
        compile::CompileError::Invalid(message) => Invalid(message),
        compile::CompileError::Regex(message) => Refusal::Refused(message),
    })?;
    let automation = &compiled.automation;
    let action = &automation.action;
    let kinds = &plugin.info.integration_kinds;
    let mut bound = None;
    match (&action.integration, kinds.is_empty()) {
        (None, false) => {
            return Err(Invalid(format!(
                "action.integration: the {} action needs an integration of kind {}",
                action.plugin,
                kinds.join(" or ")
            )));
        }
        (Some(_), true) => {
            return Err(Invalid(format!(
                "action.integration: the {} action takes no integration",
                action.plugin
            )));
        }
        (Some(name), false) => {
            let integration = store
                .integration(entity_id, name)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(_) => {
                        Refusal::Missing(format!("action.integration: no integration named {name}"))
                    }
                    other => Refusal::Store(other),
                })?;
            if !integration.kind.served_by(kinds) {
                return Err(Invalid(format!(
                    "action.integration: {name} is a {} integration; the {} action sends through {}",
                    integration.kind,
                    action.plugin,
                    kinds.join(" or ")
                )));
            }
            bound = Some(integration);
        }
        (None, true) => {}
    }
    if let Some(template) = &compiled.template {
        // Only the secrets the bound integration grants: whoever saves the automation (a member
        // too) can send a secret only where an admin chose to.
        template
            .check_names(
                &usable_secrets(bound.as_ref()),
                action.integration.as_deref(),
            )
            .map_err(|e| Invalid(format!("action.payload: {e}")))?;
    }
    if !action.config.is_object() {
        return Err(Invalid("action.config: must be a JSON object".into()));
    }
    engine
        .check_config(&plugin, &action.config)
        .await
        .map_err(|refusal| {
            Refusal::PluginRefused(refusal.explain("action.config", &plugin.info.name))
        })?;
    if action.plugin == LAUNCH_JOB {
        check_launch(store, entity_id, &action.config).await?;
    }
    Ok(compiled)
}

/// The built-in action that enqueues launch jobs: its queue, job and override keys are checked
/// against the entity's queues and jobs when the automation is saved (at execution too, since
/// either may change later).
const LAUNCH_JOB: &str = "launch-job";

async fn check_launch(
    store: &Store,
    entity_id: i64,
    config: &serde_json::Value,
) -> Result<(), Refusal> {
    let text = |key: &str| config[key].as_str().unwrap_or_default().to_string();
    let missing = |field: &'static str| {
        move |e: StoreError| match e {
            StoreError::NotFound(what) => {
                Refusal::Missing(format!("action.config.{field}: {what} not found"))
            }
            other => Refusal::Store(other),
        }
    };
    store
        .queue(entity_id, &text("queue"))
        .await
        .map_err(missing("queue"))?;
    let job = crate::launch::JobRef::parse(&text("job"))
        .map_err(|e| Refusal::Refused(format!("action.config.job: {e}")))?;
    let job = store.job(entity_id, &job).await.map_err(missing("job"))?;
    let overrides = config["overrides"].as_object().cloned().unwrap_or_default();
    crate::launch::merge_config(&job.spec.config, &overrides)
        .map_err(|e| Refusal::Refused(format!("action.config.{e}")))?;
    Ok(())
}
