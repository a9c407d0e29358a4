//! The audit log's nouns: what a change was ([`AuditAction`]) and the kind of thing it changed
//! ([`TargetKind`]). An entry records who (the key and its role), what, when, and the changed
//! thing's non-secret fields before and after.

use serde::{Deserialize, Serialize};

/// The kind of thing a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// An automation (its id).
    Automation,
    /// An integration (its name); grants of secrets are its fields.
    Integration,
    /// A secret (its name; values are never recorded).
    Secret,
    /// An API key or agent key (its id).
    Key,
    /// An installed plugin (its name).
    Plugin,
    /// A launch job (its name).
    Job,
    /// A launch queue (its name).
    Queue,
    /// An entity (its name), created by the operator.
    Entity,
    /// Executions queued again (an execution id, or a task id for a bulk retry).
    Execution,
}

impl TargetKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [Self; 9] = [
        Self::Automation,
        Self::Integration,
        Self::Secret,
        Self::Key,
        Self::Plugin,
        Self::Job,
        Self::Queue,
        Self::Entity,
        Self::Execution,
    ];

    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automation => "automation",
            Self::Integration => "integration",
            Self::Secret => "secret",
            Self::Key => "key",
            Self::Plugin => "plugin",
            Self::Job => "job",
            Self::Queue => "queue",
            Self::Entity => "entity",
            Self::Execution => "execution",
        }
    }

    /// The kind of a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Declares [`AuditAction`]: each action's variant, its name (`kind.verb`) and its target kind,
/// listed once.
macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident = $name:literal on $kind:ident,)*) => {
        /// What a change did, named `kind.verb` (`automation.updated`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)*
        }

        impl AuditAction {
            /// Every action.
            pub const ALL: &[Self] = &[$(Self::$variant,)*];

            /// The name as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The kind of thing the action changes.
            pub fn target_kind(self) -> TargetKind {
                match self {
                    $(Self::$variant => TargetKind::$kind,)*
                }
            }
        }
    };
}

actions! {
    /// An automation was created.
    AutomationCreated = "automation.created" on Automation,
    /// An automation was changed (enabled and disabled included).
    AutomationUpdated = "automation.updated" on Automation,
    /// An automation was deleted.
    AutomationDeleted = "automation.deleted" on Automation,
    /// An integration was created.
    IntegrationCreated = "integration.created" on Integration,
    /// An integration was changed (its grants of secrets included).
    IntegrationUpdated = "integration.updated" on Integration,
    /// An integration was deleted.
    IntegrationDeleted = "integration.deleted" on Integration,
    /// An integration was disabled, by an admin or by Herald for its failures (actor `herald`).
    IntegrationDisabled = "integration.disabled" on Integration,
    /// An integration was enabled again, its held executions delivered or discarded.
    IntegrationEnabled = "integration.enabled" on Integration,
    /// A recover of an integration's failed executions was started.
    IntegrationRecovered = "integration.recovered" on Integration,
    /// A secret was created or given a new value.
    SecretSet = "secret.set" on Secret,
    /// A secret was rotated (a new value, the old one still valid for the overlap).
    SecretRotated = "secret.rotated" on Secret,
    /// A secret was deleted.
    SecretDeleted = "secret.deleted" on Secret,
    /// A key was created.
    KeyCreated = "key.created" on Key,
    /// A key was revoked.
    KeyRevoked = "key.revoked" on Key,
    /// A plugin was installed or upgraded.
    PluginInstalled = "plugin.installed" on Plugin,
    /// A plugin was removed.
    PluginRemoved = "plugin.removed" on Plugin,
    /// A job version was saved.
    JobSaved = "job.saved" on Job,
    /// A queue was created.
    QueueCreated = "queue.created" on Queue,
    /// An entity was created.
    EntityCreated = "entity.created" on Entity,
    /// An execution was run again.
    ExecutionRetried = "execution.retried" on Execution,
    /// A bulk retry of executions was started.
    ExecutionsRetried = "executions.retried" on Execution,
}

impl AuditAction {
    /// The action of a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }
}

impl Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|a| a.as_str()).collect();
            serde::de::Error::custom(format!(
                "no audit action {name:?} (one of {})",
                known.join(", ")
            ))
        })
    }
}

impl utoipa::PartialSchema for AuditAction {
    /// A string, one of the actions' names: the list in the document is this enum's.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.iter().map(|a| a.as_str())))
            .description(Some("What a change did, named `kind.verb`"))
            .into()
    }
}

impl utoipa::ToSchema for AuditAction {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_names_its_kind_first() {
        for action in AuditAction::ALL {
            let (kind, _) = action.as_str().split_once('.').expect("kind.verb");
            let kind = kind.strip_suffix('s').unwrap_or(kind);
            assert_eq!(kind, action.target_kind().as_str(), "{action:?}");
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
        }
    }
}
