//! Integrations as delivery needs them to be: what makes one valid (a name, a URL the egress
//! policy allows, secrets that exist), what a change must keep (the secrets its automations
//! use), and its Test: one attempt through the delivery path with a given payload, recorded
//! nowhere.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use super::attempt::{Deliverer, Reach, execute};
use super::credentials::Unrunnable;
use super::egress::EgressConfig;
use super::record::{AttemptRecord, attempt_record};
use super::verdict::verdict;
use crate::automations::grants::{referenced_secrets, usable_secrets};
use crate::engine::{Invocation, Plugin};
use crate::events::template::{Resolved, Template};
use crate::events::variables::is_variable;
use crate::model::integration::IntegrationKind;
use crate::plugins::PluginRegistry;
use crate::store::{IntegrationRecord, Store, StoreError};

/// Why an integration, a change to one or its test was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// A field is wrong; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// A field names a secret or plugin that does not exist; the message names the field.
    #[error("{0}")]
    Missing(String),
    /// Automations stand in the way; the message names them.
    #[error("{0}")]
    Conflict(String),
    /// The egress policy refused the URL (well-formed, but not a destination it allows).
    #[error("{0}")]
    Egress(String),
    /// The plugin's schema or `validate-config` refused the action config.
    #[error("{0}")]
    PluginRefused(String),
    /// The test payload renders past the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be decrypted.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The reason an admin gives for disabling an integration, checked (default, and for a blank
/// one: `disabled by an admin`).
pub fn disable_reason(reason: Option<String>) -> Result<String, IntegrationError> {
    match reason {
        None => Ok("disabled by an admin".to_string()),
        Some(text) if text.trim().is_empty() => Ok("disabled by an admin".to_string()),
        Some(text) if text.chars().count() > 255 => Err(IntegrationError::Invalid(
            "reason: at most 255 characters".to_string(),
        )),
        Some(text) if text.chars().any(char::is_control) => Err(IntegrationError::Invalid(
            "reason: no control characters".to_string(),
        )),
        Some(text) => Ok(text),
    }
}

/// Whether `name` may name an integration: 1-128 letters, digits, `-`, `_` or `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks every field of an integration against the rules, the egress policy and the entity's
/// secrets.
pub async fn check(
    deliverer: &Deliverer,
    egress: &EgressConfig,
    entity_id: i64,
    record: &IntegrationRecord,
) -> Result<(), IntegrationError> {
    use IntegrationError::Invalid;
    if !valid_name(&record.name) {
        return Err(Invalid(format!(
            "name: {:?} must be 1-128 letters, digits, `-`, `_` or `.`",
            record.name
        )));
    }
    let store = &deliverer.store;
    match &record.url_secret {
        None => {
            egress
                .check_url(&record.url)
                .map_err(|m| IntegrationError::Egress(format!("url: {m}")))?;
        }
        Some(_) if !record.url.is_empty() => {
            return Err(Invalid(
                "url: give exactly one of url and url_secret".into(),
            ));
        }
        Some(secret) => {
            let now = crate::store::unix_millis();
            let sealed = store
                .sealed_secrets(entity_id, vec![secret.clone()], now)
                .await?;
            let Some(sealed) = sealed.into_iter().next() else {
                return Err(IntegrationError::Missing(format!(
                    "url_secret: no secret named {secret} (create it first)"
                )));
            };
            let value = deliverer.master_key.open(
                entity_id,
                &sealed.name,
                &sealed.nonce,
                &sealed.ciphertext,
            )?;
            // The message must not echo the value: it is a credential.
            egress.check_url(&value).map_err(|_| {
                IntegrationError::Egress(format!(
                    "url_secret: the value of {secret} is not an allowed http(s) URL with a DNS name"
                ))
            })?;
        }
    }
    let existing: Vec<String> = store.secret_names(entity_id).await?;
    for (field, secret) in [
        ("access_token", &record.access_token),
        ("signing_secret", &record.signing_secret),
    ] {
        if let Some(secret) = secret
            && !existing.contains(secret)
        {
            return Err(IntegrationError::Missing(format!(
                "{field}: no secret named {secret} (create it first)"
            )));
        }
    }
    for (index, secret) in record.secrets.iter().enumerate() {
        if !existing.contains(secret) {
            return Err(IntegrationError::Missing(format!(
                "secrets[{index}]: no secret named {secret} (create it first)"
            )));
        }
        if record.secrets[..index].contains(secret) {
            return Err(Invalid(format!(
                "secrets[{index}]: {secret} is listed twice"
            )));
        }
    }
    Ok(())
}

/// Refuses a change to integration `old_name` that its automations cannot follow: a rename
/// while automations name it, or grants withdrawn from secrets their templates reference
/// (Conflict, naming them).
pub async fn check_change(
    store: &Store,
    plugins: &PluginRegistry,
    entity_id: i64,
    old_name: &str,
    record: &IntegrationRecord,
) -> Result<(), IntegrationError> {
    let automations = store
        .list_automations(entity_id, Default::default())
        .await?;
    let mut users = automations
        .iter()
        .filter(|a| a.action.integration.as_deref() == Some(old_name))
        .peekable();
    if record.name != old_name && users.peek().is_some() {
        return Err(IntegrationError::Conflict(format!(
            "integration {old_name} is used by automations; it cannot be renamed"
        )));
    }
    let mut broken = Vec::new();
    for automation in users {
        let default = plugins
            .get(&automation.action.plugin)
            .and_then(|p| p.info.default_payload.clone());
        for secret in referenced_secrets(automation, default.as_deref()) {
            if !record.may_use(&secret) {
                broken.push(format!("{} (uses {secret})", automation.name));
            }
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    Err(IntegrationError::Conflict(format!(
        "secrets: automations still reference secrets this change would stop granting: {}",
        broken.join(", ")
    )))
}

/// The plugin that sends through an integration of `kind`: `wanted`, if it takes the kind, or
/// else the built-in one for the kind, as an automation's delivery would use.
pub fn plugin_for(
    plugins: &PluginRegistry,
    kind: IntegrationKind,
    wanted: Option<&str>,
) -> Result<Arc<Plugin>, IntegrationError> {
    let takes_kind = |p: &Arc<Plugin>| kind.served_by(&p.info.integration_kinds);
    match wanted {
        Some(wanted) => {
            let plugin = plugins.get(wanted).ok_or_else(|| {
                IntegrationError::Missing(format!("plugin: no installed plugin {wanted:?}"))
            })?;
            if takes_kind(&plugin) {
                Ok(plugin)
            } else {
                Err(IntegrationError::Invalid(format!(
                    "plugin: {wanted:?} does not take {kind} integrations"
                )))
            }
        }
        None => plugins
            .all()
            .into_iter()
            .find(|p| p.source == "builtin" && takes_kind(p))
            .ok_or_else(|| {
                IntegrationError::Invalid(format!("no built-in plugin takes {kind} integrations"))
            }),
    }
}

/// What an empty event variable renders as in a test payload (there is no event).
static NOTHING: Value = Value::Null;

/// Checks `plugin`'s action `config` as an automation's would be, then sends `payload` (a
/// template: secrets resolved, variables empty) through `integration` with them, signed and
/// credentialed like a real delivery; returns the attempt's record, redacted. Nothing is stored
/// and nothing is enqueued.
pub async fn test(
    deliverer: &Deliverer,
    entity_id: i64,
    integration: &IntegrationRecord,
    plugin: &Plugin,
    config: &Value,
    payload: Value,
) -> Result<AttemptRecord, IntegrationError> {
    use IntegrationError::Invalid;
    // Checked as an automation's action config is (`automations/validate.rs`).
    deliverer
        .engine
        .check_config(plugin, config)
        .await
        .map_err(|refusal| {
            IntegrationError::PluginRefused(refusal.explain("config", &plugin.info.name))
        })?;
    if !payload.is_object() {
        return Err(Invalid("payload: must be a JSON object".into()));
    }
    let name = &integration.name;
    let template = Template::parse(payload).map_err(|e| Invalid(format!("payload: {e}")))?;
    // What a real delivery through this integration could send, and no more.
    template
        .check_names(&usable_secrets(Some(integration)), Some(name))
        .map_err(|e| Invalid(format!("payload: {e}")))?;
    let id = crate::auth::random_id("test_");
    let tag = deliverer.master_key.refs().tag(&id);
    let payload = template
        .render(&tag, |name| {
            Some(if is_variable(name) {
                Resolved::Variable(&NOTHING)
            } else {
                Resolved::Secret
            })
        })
        .map_err(|e| IntegrationError::TooLarge(format!("payload: {e}")))?
        .to_string();
    let (credentials, redactor) = deliverer
        .credentials(entity_id, name, tag.names_in(&payload))
        .await
        .map_err(|Unrunnable(reason)| Invalid(reason))?;
    let invocation = Invocation {
        execution_id: id,
        attempt: 1,
        automation_name: format!("test of {name}"),
        event_type: "TEST".into(),
        variables: "{}".into(),
        payload: Some(payload),
        config: config.to_string(),
        integration_url: None,
    };
    let reach = Reach {
        credentials: Some(credentials),
        granted: deliverer
            .grants
            .get(&plugin.info.name)
            .cloned()
            .unwrap_or_default(),
        refs: tag,
        transport: deliverer.transport.clone(),
        // A test enqueues nothing: the plugin is told launch queues are not available here.
        launcher: None,
        redactor: redactor.clone(),
    };
    let started = SystemTime::now();
    let report = execute(&deliverer.engine, plugin, invocation, reach).await;
    let verdict = verdict(&report).redacted(&redactor);
    Ok(attempt_record(1, started, &report, &verdict, &redactor))
}
