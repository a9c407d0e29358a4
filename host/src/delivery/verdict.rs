//! The verdict on one attempt: succeeded, failed for good (and why), or worth retrying, read
//! from the plugin's report.

use super::record::MAX_MESSAGE_BYTES;
use super::redact::Redactor;
use crate::bounded::cut;
use crate::engine::{ActionError, ExecutionReport, SandboxError};

/// Why an attempt will never work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The plugin found the action itself wrong (config, payload).
    Invalid,
    /// The receiver refused it for good.
    Rejected,
    /// The plugin trapped, ran out of CPU time or memory, or broke the contract.
    SandboxError,
    /// Its plugin, integration or a secret is gone.
    Unrunnable,
}

impl FailureKind {
    /// The name as recorded: `invalid`, `rejected`, `sandbox-error`, `unrunnable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Rejected => "rejected",
            Self::SandboxError => "sandbox-error",
            Self::Unrunnable => "unrunnable",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered; the plugin's summary.
    Succeeded(String),
    /// Will never work.
    Permanent {
        /// Which kind of permanent failure.
        kind: FailureKind,
        /// Why.
        message: String,
    },
    /// Worth retrying, no sooner than the receiver's `Retry-After` if it gave one.
    Transient {
        /// Why.
        reason: String,
        /// The receiver's `Retry-After`, verbatim.
        retry_after: Option<String>,
    },
}

impl Verdict {
    /// The verdict as the execution's status reason, e.g. `rejected: HTTP 404`.
    pub fn describe(&self) -> String {
        match self {
            Self::Succeeded(summary) => summary.clone(),
            Self::Permanent { kind, message } => format!("{kind}: {message}"),
            Self::Transient { reason, .. } => reason.clone(),
        }
    }

    /// The verdict with its messages redacted and cut to [`MAX_MESSAGE_BYTES`]: it becomes the
    /// execution's status reason.
    pub fn redacted(self, redactor: &Redactor) -> Self {
        let clean = |text: String| cut(&redactor.text(&text), MAX_MESSAGE_BYTES);
        match self {
            Self::Succeeded(summary) => Self::Succeeded(clean(summary)),
            Self::Permanent { kind, message } => Self::Permanent {
                kind,
                message: clean(message),
            },
            Self::Transient {
                reason,
                retry_after,
            } => Self::Transient {
                reason: clean(reason),
                retry_after: retry_after.map(|r| cut(&r, 64)),
            },
        }
    }

    pub(super) fn unrunnable(message: String) -> Self {
        Self::Permanent {
            kind: FailureKind::Unrunnable,
            message,
        }
    }
}

/// What the report of an execution means for it.
pub fn verdict(report: &ExecutionReport) -> Verdict {
    match &report.result {
        Ok(Ok(outcome)) => Verdict::Succeeded(outcome.summary.clone()),
        Ok(Err(ActionError::Invalid(message))) => Verdict::Permanent {
            kind: FailureKind::Invalid,
            message: message.clone(),
        },
        Ok(Err(ActionError::Rejected(message))) => Verdict::Permanent {
            kind: FailureKind::Rejected,
            message: message.clone(),
        },
        Ok(Err(ActionError::Transient(failure))) => Verdict::Transient {
            reason: failure.message.clone(),
            retry_after: failure.retry_after.clone(),
        },
        Err(error @ (SandboxError::PoolExhausted(_) | SandboxError::WallDeadline(_))) => {
            Verdict::Transient {
                reason: error.to_string(),
                retry_after: None,
            }
        }
        Err(error) => Verdict::Permanent {
            kind: FailureKind::SandboxError,
            message: error.to_string(),
        },
    }
}
