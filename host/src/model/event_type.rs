//! The kinds of event a client can post, with what each must and may carry (its shape) and the
//! fields a form asks for: the one table the event check, the OpenAPI document's per-type
//! schemas and the console's send form all read.

use serde::{Deserialize, Serialize};

/// The kinds of event a client can post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// A new artifact version in a project's collection.
    CreateArtifact,
    /// An artifact version linked to a registered model (a registry collection).
    LinkArtifact,
    /// An alias added to an artifact version.
    AddArtifactAlias,
    /// A run changed state.
    RunState,
    /// A run logged metric values.
    RunMetric,
    /// Operational: an integration was disabled (by hand, or after failing for
    /// `disable_after`); its executions are held. Raised by Herald, never posted.
    IntegrationDisabled,
    /// Operational: an integration was enabled again. Raised by Herald, never posted.
    IntegrationEnabled,
    /// Operational: an execution's attempt number `failing_after_attempts` failed; it will be
    /// retried. Raised by Herald, never posted.
    ExecutionFailing,
    /// Operational: an execution failed for good (out of attempts, or a permanent failure).
    /// Raised by Herald, never posted.
    ExecutionExhausted,
    /// Operational: an execution that had raised `EXECUTION_FAILING` succeeded. Raised by
    /// Herald, never posted.
    ExecutionRecovered,
}

impl EventType {
    /// Every event type a client can post, in the order forms offer them.
    pub const ALL: [Self; 5] = [
        Self::CreateArtifact,
        Self::LinkArtifact,
        Self::AddArtifactAlias,
        Self::RunState,
        Self::RunMetric,
    ];

    /// The operational event types: Herald raises them in an entity (no project or registry)
    /// about its own integrations and executions; a client cannot post them.
    pub const OPERATIONAL: [Self; 5] = [
        Self::IntegrationDisabled,
        Self::IntegrationEnabled,
        Self::ExecutionFailing,
        Self::ExecutionExhausted,
        Self::ExecutionRecovered,
    ];

    /// Whether Herald raises events of this type itself (see [`EventType::OPERATIONAL`]).
    pub fn is_operational(self) -> bool {
        Self::OPERATIONAL.contains(&self)
    }

    /// The fields an event of this type carries besides `type` and `entity` (optional ones
    /// included), in the order a form asks for them. An artifact event that may happen in a
    /// project or a registry lists both: it carries one of them.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::CreateArtifact => &["project", "collection", "version", "author"],
            Self::LinkArtifact => &["registry", "collection", "version", "author"],
            Self::AddArtifactAlias => &[
                "project",
                "registry",
                "collection",
                "version",
                "alias",
                "author",
            ],
            Self::RunState => &["project", "run_id", "run_name", "state", "author"],
            Self::RunMetric => &["project", "run_id", "run_name", "step", "metrics"],
            Self::IntegrationDisabled | Self::IntegrationEnabled => &["integration", "reason"],
            Self::ExecutionFailing | Self::ExecutionExhausted | Self::ExecutionRecovered => &[
                "integration",
                "automation",
                "execution_id",
                "attempt",
                "reason",
            ],
        }
    }

    /// Which fields an event of this type must carry (non-null) and which it may (a field in
    /// neither may only be absent or `null`), besides `type`, `entity`, `author` and
    /// `occurred_at`, which every event may carry. An `ADD_ARTIFACT_ALIAS` carries exactly one of
    /// `project` and `registry`, so both are in its optional list. `EventInput::validate` holds
    /// to this (a unit test checks), and the OpenAPI document's per-type schemas are made from it.
    pub fn shape(self) -> EventShape {
        const ARTIFACT: [&str; 4] = ["version_index", "aliases", "metadata", "source_artifact"];
        match self {
            Self::CreateArtifact => EventShape {
                required: &["project", "collection", "version"],
                optional: &ARTIFACT,
            },
            Self::LinkArtifact => EventShape {
                required: &["registry", "collection", "version"],
                optional: &ARTIFACT,
            },
            Self::AddArtifactAlias => EventShape {
                required: &["collection", "version", "alias"],
                optional: &[
                    "project",
                    "registry",
                    "version_index",
                    "aliases",
                    "metadata",
                    "source_artifact",
                ],
            },
            Self::RunState => EventShape {
                required: &["project", "run_id", "state"],
                optional: &["run_name", "reason", "exit_code", "output_tail"],
            },
            Self::RunMetric => EventShape {
                required: &["project", "run_id", "metrics"],
                optional: &["run_name", "step"],
            },
            Self::IntegrationDisabled | Self::IntegrationEnabled => EventShape {
                required: &["integration"],
                optional: &["reason"],
            },
            Self::ExecutionFailing | Self::ExecutionExhausted | Self::ExecutionRecovered => {
                EventShape {
                    required: &["automation", "execution_id", "attempt"],
                    optional: &["integration", "reason"],
                }
            }
        }
    }

    /// The wire name, e.g. `LINK_ARTIFACT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateArtifact => "CREATE_ARTIFACT",
            Self::LinkArtifact => "LINK_ARTIFACT",
            Self::AddArtifactAlias => "ADD_ARTIFACT_ALIAS",
            Self::RunState => "RUN_STATE",
            Self::RunMetric => "RUN_METRIC",
            Self::IntegrationDisabled => "INTEGRATION_DISABLED",
            Self::IntegrationEnabled => "INTEGRATION_ENABLED",
            Self::ExecutionFailing => "EXECUTION_FAILING",
            Self::ExecutionExhausted => "EXECUTION_EXHAUSTED",
            Self::ExecutionRecovered => "EXECUTION_RECOVERED",
        }
    }

    /// Whether events of this type are about an artifact version (not a run).
    pub(crate) fn is_artifact(self) -> bool {
        matches!(
            self,
            Self::CreateArtifact | Self::LinkArtifact | Self::AddArtifactAlias
        )
    }
}

/// The fields an event type must and may carry: see [`EventType::shape`].
#[derive(Debug, Clone, Copy)]
pub struct EventShape {
    /// Fields it must carry, not null.
    pub required: &'static [&'static str],
    /// Fields it may carry.
    pub optional: &'static [&'static str],
}

/// The fields every event may carry, whatever its type (`entity` must).
pub const COMMON_FIELDS: [&str; 4] = ["type", "entity", "author", "occurred_at"];
