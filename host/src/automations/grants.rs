//! Which secrets an automation's payload template references, checked against what its
//! integration grants, and the one-time granting of integrations stored before grants existed
//! (each is granted exactly what its automations already reference, so no working setup breaks).

use std::collections::BTreeSet;

use crate::events::template::Template;
use crate::events::variables::is_variable;
use crate::model::automation::Automation;
use crate::store::{IntegrationRecord, Store};

/// The secrets (names that are not variables) the template an automation renders references:
/// its own payload, or else its plugin's default one.
pub fn referenced_secrets(automation: &Automation, default_payload: Option<&str>) -> Vec<String> {
    // A stored template that no longer parses references nothing: it does not load either.
    match super::compile::template_of(automation, default_payload) {
        Ok(Some(template)) => secrets_in(&template),
        Ok(None) | Err(_) => Vec::new(),
    }
}

/// The names a template references that are not variables.
pub fn secrets_in(template: &Template) -> Vec<String> {
    template
        .references()
        .iter()
        .filter(|name| !is_variable(name))
        .cloned()
        .collect()
}

/// The secrets a template may name when it sends through `integration` (none without one).
pub fn usable_secrets(integration: Option<&IntegrationRecord>) -> Vec<String> {
    let Some(integration) = integration else {
        return Vec::new();
    };
    let own = [
        &integration.url_secret,
        &integration.access_token,
        &integration.signing_secret,
    ];
    own.into_iter()
        .flatten()
        .chain(integration.secrets.iter())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Grants every integration stored before grants existed exactly the secrets its automations
/// reference (beyond its own credentials, and only secrets that still exist), and logs what it
/// granted. Runs at start; on a shared database a host that finds one already granted by another
/// leaves it.
pub async fn grant_existing(
    store: &Store,
    default_payload: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    let ungranted = store.ungranted_integrations().await?;
    if ungranted.is_empty() {
        return Ok(());
    }
    let automations = store.all_automations().await?;
    for (entity_id, integration) in ungranted {
        let existing = store.secret_names(entity_id).await?;
        let mut granted = BTreeSet::new();
        let mut missing = BTreeSet::new();
        for (_, automation) in automations.iter().filter(|(e, a)| {
            *e == entity_id && a.action.integration.as_deref() == Some(integration.name.as_str())
        }) {
            let default = default_payload(&automation.action.plugin);
            for secret in referenced_secrets(automation, default.as_deref()) {
                if integration.may_use(&secret) {
                    continue;
                }
                if existing.contains(&secret) {
                    granted.insert(secret);
                } else {
                    missing.insert(secret);
                }
            }
        }
        let granted: Vec<String> = granted.into_iter().collect();
        if store
            .grant_first(entity_id, &integration.id, granted.clone())
            .await?
        {
            tracing::info!(
                entity_id,
                integration = %integration.name,
                granted = %granted.join(", "),
                "granted the integration the secrets its automations reference"
            );
            if !missing.is_empty() {
                let missing: Vec<String> = missing.into_iter().collect();
                tracing::warn!(
                    entity_id,
                    integration = %integration.name,
                    secrets = %missing.join(", "),
                    "automations reference secrets that do not exist; not granted"
                );
            }
        }
    }
    Ok(())
}
