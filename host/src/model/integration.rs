//! The kinds of destination an entity configures as an integration, each served by the built-in
//! plugin of the same kind.

use serde::{Deserialize, Serialize};

/// What an integration points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    /// Any HTTP endpoint (signed webhooks).
    Webhook,
    /// A Slack incoming webhook or the Slack Web API.
    Slack,
    /// A Microsoft Teams connector or Workflows webhook.
    Teams,
    /// The GitHub REST API (`repository_dispatch`).
    Github,
}

impl IntegrationKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Webhook, Self::Slack, Self::Teams, Self::Github];

    /// The name as stored, shown, and declared by plugins (`integration-kinds`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Github => "github",
        }
    }

    /// The kind of a stored or declared name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether a plugin that declares `kinds` sends through integrations of this kind.
    pub fn served_by(self, kinds: &[String]) -> bool {
        kinds.iter().any(|k| k == self.as_str())
    }
}

impl std::fmt::Display for IntegrationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What enabling an integration does with the executions held while it was disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HeldChoice {
    /// Deliver them, oldest first.
    #[default]
    Deliver,
    /// Fail them without an attempt, saying why.
    Discard,
}
