//! The sandbox's limits: what one execution of a plugin may use.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Per-execution limits enforced by the host. Every field has a safe default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxLimits {
    /// CPU time the plugin's own code may use (time spent waiting on host HTTP is not counted).
    #[serde(with = "humantime_serde")]
    pub cpu_time: Duration,
    /// Wall-clock time one execution may take in all, HTTP included.
    #[serde(with = "humantime_serde")]
    pub wall_time: Duration,
    /// Linear memory one plugin instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// HTTP requests one execution may make.
    pub max_requests: u32,
    /// The largest request body a plugin may send, in bytes.
    pub max_request_bytes: usize,
    /// The largest response body handed back to a plugin, in bytes.
    pub max_response_bytes: usize,
    /// Log output kept per execution, in bytes (lines past it are counted, not kept).
    pub max_log_bytes: usize,
    /// Plugin instances that may run at once (the size of the instance pool).
    pub max_concurrent_instances: u32,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(1),
            wall_time: Duration::from_secs(60),
            memory_bytes: 64 << 20,
            max_requests: 8,
            max_request_bytes: 1 << 20,
            max_response_bytes: 1 << 20,
            max_log_bytes: 16 << 10,
            max_concurrent_instances: 256,
        }
    }
}

/// A size in bytes as people write it: `65536`, `64KiB`, `64MiB`, `2GiB` (also `K`/`KB`, ...).
pub(crate) fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number of bytes, e.g. 64MiB"))?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => return Err(format!("{other:?}: use B, KiB, MiB or GiB")),
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}
