//! Background tasks: a recover (every execution through an integration that failed in a window,
//! queued again) and a bulk retry (executions chosen by automation, status, time and the class of
//! the last answer). Both run in bounded batches and report their progress.

use serde::{Deserialize, Serialize};

use super::execution::ExecutionStatus;

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// `POST …/integrations/{name}/recover`.
    Recover,
    /// `POST /v1/executions/retry`.
    Retry,
}

impl TaskKind {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recover => "recover",
            Self::Retry => "retry",
        }
    }

    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Recover, Self::Retry]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Still going through its window.
    Running,
    /// Done: every execution it chose is queued again.
    Succeeded,
}

impl TaskStatus {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
        }
    }

    /// The status of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// The class of an execution's last answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CodeClass {
    /// The receiver answered 4xx.
    #[serde(rename = "4xx")]
    Client,
    /// The receiver answered 5xx.
    #[serde(rename = "5xx")]
    Server,
    /// No answer (timeout, connection refused, refused by the egress policy, a plugin error).
    #[serde(rename = "none")]
    NoAnswer,
}

/// Which executions a task queues again: those of the entity created in `[from, until)` (as
/// execution ids, UUIDv7, whose order is their creation time), in one of `statuses`, and
/// matching each filter given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The smallest id in the window.
    pub from: String,
    /// The first id past the window.
    pub until: String,
    /// Only executions in these states (final ones only).
    pub statuses: Vec<ExecutionStatus>,
    /// Only executions sending through this integration.
    pub integration: Option<String>,
    /// Only executions of this automation (its id).
    pub automation: Option<String>,
    /// Only executions whose last answer was of this class.
    pub code_class: Option<CodeClass>,
}
