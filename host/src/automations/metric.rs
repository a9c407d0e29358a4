//! Metric condition shapes: the threshold, change and z-score conditions of run-metric
//! automations, checked when an automation is saved.

use serde::Deserialize;
use serde_json::Value;

use super::TriggerKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the fields are checked when saved; evaluation will read them"
)]
struct Threshold {
    name: String,
    #[serde(default)]
    window: Option<u32>,
    #[serde(default)]
    agg: Option<Aggregation>,
    cmp: Comparison,
    value: f64,
    #[serde(default)]
    cooldown_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the fields are checked when saved; evaluation will read them"
)]
struct Change {
    name: String,
    current_window: u32,
    prior_window: u32,
    #[serde(default)]
    agg: Option<Aggregation>,
    change: ChangeKind,
    direction: Direction,
    amount: f64,
    #[serde(default)]
    cooldown_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "the fields are checked when saved; evaluation will read them"
)]
struct ZScore {
    name: String,
    #[serde(default)]
    window: Option<u32>,
    #[serde(default)]
    threshold: Option<f64>,
    direction: Direction,
    #[serde(default)]
    cooldown_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Aggregation {
    Max,
    Min,
    Average,
    #[serde(rename = "none")]
    None,
}

#[derive(Deserialize)]
enum Comparison {
    #[serde(rename = "$gt")]
    Gt,
    #[serde(rename = "$gte")]
    Gte,
    #[serde(rename = "$lt")]
    Lt,
    #[serde(rename = "$lte")]
    Lte,
    #[serde(rename = "$eq")]
    Eq,
    #[serde(rename = "$ne")]
    Ne,
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum ChangeKind {
    Absolute,
    Relative,
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Direction {
    Increase,
    Decrease,
    Any,
}

/// Checks a metric condition's shape for its trigger kind.
pub fn check(kind: TriggerKind, metric: &Value) -> Result<(), String> {
    let positive = |what: &str, n: Option<u32>| match n {
        Some(0) => Err(format!("{what} must be at least 1")),
        _ => Ok(()),
    };
    match kind {
        TriggerKind::RunMetricThreshold => {
            let t: Threshold = serde_json::from_value(metric.clone()).map_err(|e| e.to_string())?;
            positive("window", t.window)?;
            non_empty(&t.name)
        }
        TriggerKind::RunMetricChange => {
            let c: Change = serde_json::from_value(metric.clone()).map_err(|e| e.to_string())?;
            positive("current_window", Some(c.current_window))?;
            positive("prior_window", Some(c.prior_window))?;
            if c.amount.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                return Err("amount must be greater than 0".into());
            }
            non_empty(&c.name)
        }
        TriggerKind::RunMetricZscore => {
            let z: ZScore = serde_json::from_value(metric.clone()).map_err(|e| e.to_string())?;
            positive("window", z.window)?;
            if z.threshold
                .is_some_and(|t| t.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
            {
                return Err("threshold must be greater than 0".into());
            }
            non_empty(&z.name)
        }
        _ => Ok(()),
    }
}

fn non_empty(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("name must not be empty".into())
    } else {
        Ok(())
    }
}
