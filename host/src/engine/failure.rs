//! How a call into a plugin can fail: the [`SandboxError`] a trap, a limit or a broken contract
//! becomes, and the [`ConfigRefusal`] of an action config.

use thiserror::Error;

use super::SandboxLimits;
use super::state::ExecState;
use std::time::Duration;

/// Why a call into a plugin did not return normally. The host never panics on any of these.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SandboxError {
    /// The plugin used more CPU time than allowed.
    #[error("the plugin exceeded its CPU time limit of {0:?}")]
    CpuDeadline(Duration),
    /// The execution took longer than the wall-clock limit (including HTTP).
    #[error("the plugin exceeded its wall-clock limit of {0:?}")]
    WallDeadline(Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("the plugin exceeded its memory limit of {limit_bytes} bytes")]
    MemoryExhausted {
        /// The cap, in bytes.
        limit_bytes: usize,
    },
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access, ...).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// Every pooled instance slot is busy; the call can be retried.
    #[error("no free plugin instance slot (all {0} in use)")]
    PoolExhausted(u32),
    /// The plugin broke the contract in a way the host detected.
    #[error("contract violation: {0}")]
    ContractViolation(String),
}

/// Why an action config was not accepted (see [`PluginEngine::check_config`]).
#[derive(Debug, Error)]
pub enum ConfigRefusal {
    /// It does not match the plugin's config schema; each failing place named by a JSON pointer.
    #[error("it does not match the plugin's config schema: {0}")]
    Schema(String),
    /// The plugin's `validate-config` refused it, with this message.
    #[error("the plugin refused it: {0}")]
    Refused(String),
    /// The plugin failed while checking it.
    #[error("the plugin failed to check it: {0}")]
    Failed(SandboxError),
}

impl ConfigRefusal {
    /// The refusal as one sentence for a user: `field` names what held the config (for example
    /// `action.config`), `plugin` the plugin.
    pub fn explain(&self, field: &str, plugin: &str) -> String {
        match self {
            Self::Schema(problem) => {
                format!("{field} does not match the {plugin} plugin's config schema: {problem}")
            }
            Self::Refused(refusal) => format!("the {plugin} plugin refused {field}: {refusal}"),
            Self::Failed(failure) => {
                format!("the {plugin} plugin failed to check {field}: {failure}")
            }
        }
    }
}

/// What a failed call into a plugin was: a limit hit, a trap, a full pool, a broken contract.
pub(super) fn classify(
    error: &wasmtime::Error,
    state: &ExecState,
    limits: &SandboxLimits,
) -> SandboxError {
    if state.memory_exhausted() {
        return SandboxError::MemoryExhausted {
            limit_bytes: limits.memory_bytes,
        };
    }
    if state.cpu_deadline_hit() {
        return SandboxError::CpuDeadline(limits.cpu_time);
    }
    let message = one_line(error);
    if message.contains("maximum concurrent") || message.contains("pooling allocator") {
        return SandboxError::PoolExhausted(limits.max_concurrent_instances);
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        let panic = state.stderr_tail();
        return SandboxError::Trap(if panic.is_empty() {
            trap.to_string()
        } else {
            format!("{trap} ({panic})")
        });
    }
    SandboxError::ContractViolation(message)
}

/// An error chain folded into one line (wasmtime errors carry a multi-line backtrace).
pub(super) fn one_line(error: &wasmtime::Error) -> String {
    let text = format!("{error:#}");
    text.lines().next().unwrap_or_default().trim().to_string()
}
