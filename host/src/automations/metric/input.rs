//! `event.metric` as an automation states it: the three forms of a condition (threshold, change,
//! z-score), the defaults of what they leave out, and their schemas in the API document.

use serde::Deserialize;
use serde_json::Value;

use super::{Aggregation, ChangeKind, Comparison, DEFAULT_COOLDOWN_SECONDS, Direction};
use crate::model::whole;

/// `event.metric` of a `RUN_METRIC_THRESHOLD` automation: the newest value, or an aggregate of
/// the newest `window` values, compared with `value`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MetricThreshold)]
pub(crate) struct ThresholdIn {
    /// The metric, e.g. `loss`.
    #[schema(min_length = 1, max_length = 255)]
    pub(super) name: String,
    /// Values aggregated: 1 to 1000, ignored when `agg` is `none`.
    #[serde(default = "five", deserialize_with = "whole::integer")]
    #[schema(default = 5)]
    pub(super) window: u32,
    /// How the window is reduced; `none` compares the newest value.
    #[serde(default = "no_agg")]
    #[schema(default = "none")]
    pub(super) agg: Aggregation,
    /// The comparison.
    pub(super) cmp: Comparison,
    /// The value compared with.
    pub(super) value: f64,
    /// At most one firing per run per this many seconds.
    #[serde(default = "default_cooldown", deserialize_with = "whole::integer")]
    #[schema(default = 86400)]
    pub(super) cooldown_seconds: u64,
}

/// `event.metric` of a `RUN_METRIC_CHANGE` automation: the change between the newest
/// `current_window` values and the `prior_window` values before them.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MetricChange)]
pub(crate) struct ChangeIn {
    /// The metric, e.g. `loss`.
    #[schema(min_length = 1, max_length = 255)]
    pub(super) name: String,
    /// The newest values: 1 to 1000.
    #[serde(deserialize_with = "whole::integer")]
    #[schema(minimum = 1, maximum = 1000)]
    pub(super) current_window: u32,
    /// The values just before them: 1 to 1000.
    #[serde(deserialize_with = "whole::integer")]
    #[schema(minimum = 1, maximum = 1000)]
    pub(super) prior_window: u32,
    /// How each window is reduced (not `none`).
    #[serde(default = "average")]
    #[schema(default = "AVERAGE")]
    pub(super) agg: Aggregation,
    /// Absolute or relative change.
    pub(super) change: ChangeKind,
    /// Which way counts.
    pub(super) direction: Direction,
    /// How much (greater than 0).
    #[schema(exclusive_minimum = 0)]
    pub(super) amount: f64,
    /// At most one firing per run per this many seconds.
    #[serde(default = "default_cooldown", deserialize_with = "whole::integer")]
    #[schema(default = 86400)]
    pub(super) cooldown_seconds: u64,
}

/// `event.metric` of a `RUN_METRIC_ZSCORE` automation: the newest value's z-score against the
/// `window` values before it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MetricZScore)]
pub(crate) struct ZScoreIn {
    /// The metric, e.g. `loss`.
    #[schema(min_length = 1, max_length = 255)]
    pub(super) name: String,
    /// Values the mean and standard deviation are taken over: 1 to 1000.
    #[serde(default = "thirty", deserialize_with = "whole::integer")]
    #[schema(default = 30, minimum = 1, maximum = 1000)]
    pub(super) window: u32,
    /// |z| that counts (greater than 0).
    #[serde(default = "three")]
    #[schema(default = 3.0, exclusive_minimum = 0)]
    pub(super) threshold: f64,
    /// Which way counts.
    pub(super) direction: Direction,
    /// At most one firing per run per this many seconds.
    #[serde(default = "default_cooldown", deserialize_with = "whole::integer")]
    #[schema(default = 86400)]
    pub(super) cooldown_seconds: u64,
}

fn five() -> u32 {
    5
}
fn thirty() -> u32 {
    30
}
fn three() -> f64 {
    3.0
}
fn no_agg() -> Aggregation {
    Aggregation::None
}
fn average() -> Aggregation {
    Aggregation::Average
}
fn default_cooldown() -> u64 {
    DEFAULT_COOLDOWN_SECONDS
}

pub(super) fn from<T: serde::de::DeserializeOwned>(metric: &Value) -> Result<T, String> {
    serde_json::from_value(metric.clone()).map_err(|e| e.to_string())
}
