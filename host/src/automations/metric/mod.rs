//! Metric conditions: the threshold, change and z-score conditions of run-metric automations,
//! parsed once when an automation is saved or loaded, and evaluated against a run's window of
//! one metric after every sample.

use serde::Deserialize;
use serde_json::Value;

use super::TriggerKind;

mod input;

use input::from;
pub(crate) use input::{ChangeIn, ThresholdIn, ZScoreIn};

/// The largest window any condition may use, so that a run's kept values stay bounded.
pub const MAX_WINDOW: u32 = 1_000;
/// An automation fires at most once per run per this many seconds unless it says otherwise.
pub const DEFAULT_COOLDOWN_SECONDS: u64 = 86_400;

/// A metric condition, as saved in `event.metric`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricCondition {
    /// The metric it watches, e.g. `loss`.
    pub name: String,
    /// What it checks.
    pub rule: Rule,
    /// At most one firing per run per this many seconds.
    pub cooldown_seconds: u64,
}

/// What a condition checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// The newest value, or an aggregate of the newest `window`, compared with `value`.
    Threshold {
        /// Values aggregated (1 with [`Aggregation::None`]).
        window: u32,
        /// How they are aggregated.
        agg: Aggregation,
        /// The comparison.
        cmp: Comparison,
        /// The value compared with.
        value: f64,
    },
    /// The change between two consecutive windows.
    Change {
        /// The newest values.
        current_window: u32,
        /// The values just before them.
        prior_window: u32,
        /// How each window is aggregated.
        agg: Aggregation,
        /// Absolute or relative change.
        change: ChangeKind,
        /// Which way counts.
        direction: Direction,
        /// How much (> 0).
        amount: f64,
    },
    /// The newest value's z-score against the `window` values before it.
    ZScore {
        /// Values the mean and standard deviation are taken over.
        window: u32,
        /// |z| that counts.
        threshold: f64,
        /// Which way counts.
        direction: Direction,
    },
}

/// How a window is reduced to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub enum Aggregation {
    /// The largest.
    #[serde(rename = "MAX")]
    Max,
    /// The smallest.
    #[serde(rename = "MIN")]
    Min,
    /// The mean.
    #[serde(rename = "AVERAGE")]
    Average,
    /// No aggregation: the newest value.
    #[serde(rename = "none")]
    None,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub enum Comparison {
    /// `>`
    #[serde(rename = "$gt")]
    Gt,
    /// `>=`
    #[serde(rename = "$gte")]
    Gte,
    /// `<`
    #[serde(rename = "$lt")]
    Lt,
    /// `<=`
    #[serde(rename = "$lte")]
    Lte,
    /// `==`
    #[serde(rename = "$eq")]
    Eq,
    /// `!=`
    #[serde(rename = "$ne")]
    Ne,
}

/// Absolute or relative change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    /// `cur − prior`
    Absolute,
    /// `(cur − prior) / |prior|`
    Relative,
}

/// Which way a change or an outlier must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    /// Up by at least the amount.
    Increase,
    /// Down by at least the amount.
    Decrease,
    /// Either way.
    Any,
}

impl MetricCondition {
    /// Parses and checks a condition for its trigger kind; the error says what is wrong.
    pub fn parse(kind: TriggerKind, metric: &Value) -> Result<Self, String> {
        let window = |what: &str, n: u32| match n {
            1..=MAX_WINDOW => Ok(n),
            _ => Err(format!("{what} must be 1 to {MAX_WINDOW}")),
        };
        let positive = |what: &str, x: f64| {
            if x > 0.0 && x.is_finite() {
                Ok(x)
            } else {
                Err(format!("{what} must be a number greater than 0"))
            }
        };
        let parsed = match kind {
            TriggerKind::RunMetricThreshold => {
                let t: ThresholdIn = from(metric)?;
                let rule = Rule::Threshold {
                    window: if t.agg == Aggregation::None {
                        1
                    } else {
                        window("window", t.window)?
                    },
                    agg: t.agg,
                    cmp: t.cmp,
                    value: t.value,
                };
                (t.name, rule, t.cooldown_seconds)
            }
            TriggerKind::RunMetricChange => {
                let c: ChangeIn = from(metric)?;
                if c.agg == Aggregation::None {
                    return Err("agg must be MAX, MIN or AVERAGE for a change".into());
                }
                let rule = Rule::Change {
                    current_window: window("current_window", c.current_window)?,
                    prior_window: window("prior_window", c.prior_window)?,
                    agg: c.agg,
                    change: c.change,
                    direction: c.direction,
                    amount: positive("amount", c.amount)?,
                };
                (c.name, rule, c.cooldown_seconds)
            }
            TriggerKind::RunMetricZscore => {
                let z: ZScoreIn = from(metric)?;
                let rule = Rule::ZScore {
                    window: window("window", z.window)?,
                    threshold: positive("threshold", z.threshold)?,
                    direction: z.direction,
                };
                (z.name, rule, z.cooldown_seconds)
            }
            other => return Err(format!("{} takes no metric condition", other.as_str())),
        };
        let (name, rule, cooldown_seconds) = parsed;
        if !(1..=255).contains(&name.chars().count()) {
            return Err("name must be 1 to 255 characters".into());
        }
        Ok(Self {
            name,
            rule,
            cooldown_seconds,
        })
    }

    /// How many of a run's newest finite values the condition looks at.
    pub fn needed(&self) -> usize {
        match self.rule {
            Rule::Threshold { window, .. } => window as usize,
            Rule::Change {
                current_window,
                prior_window,
                ..
            } => (current_window + prior_window) as usize,
            Rule::ZScore { window, .. } => window as usize + 1,
        }
    }

    /// Evaluates the condition after a sample. `window` holds the run's finite values of this
    /// metric, oldest first, the newest last (the sample itself when it was finite). A sample that
    /// is NaN or infinite holds every condition at once: `sample` is then that value.
    pub fn evaluate(&self, window: &[f64], sample: f64) -> Option<Firing> {
        if !sample.is_finite() {
            return Some(Firing {
                value: sample,
                values: vec![sample],
            });
        }
        let newest = window.get(window.len().checked_sub(self.needed())?..)?;
        let value = match self.rule {
            Rule::Threshold {
                agg, cmp, value, ..
            } => {
                let x = aggregate(agg, newest);
                cmp.holds(x, value).then_some(x)?
            }
            Rule::Change {
                current_window,
                agg,
                change,
                direction,
                amount,
                ..
            } => {
                let (prior, current) = newest.split_at(newest.len() - current_window as usize);
                let (cur, prior) = (aggregate(agg, current), aggregate(agg, prior));
                let delta = match change {
                    ChangeKind::Absolute => cur - prior,
                    ChangeKind::Relative if prior == 0.0 => {
                        if cur == 0.0 {
                            0.0
                        } else {
                            f64::INFINITY.copysign(cur)
                        }
                    }
                    ChangeKind::Relative => (cur - prior) / prior.abs(),
                };
                direction.holds(delta, amount).then_some(delta)?
            }
            Rule::ZScore {
                threshold,
                direction,
                ..
            } => {
                let (before, last) = newest.split_at(newest.len() - 1);
                let mean = mean(before);
                let variance =
                    before.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / before.len() as f64;
                let std = variance.sqrt();
                let z = if std == 0.0 {
                    if close(last[0], mean) {
                        0.0
                    } else {
                        f64::INFINITY.copysign(last[0] - mean)
                    }
                } else {
                    (last[0] - mean) / std
                };
                direction.holds(z, threshold).then_some(z)?
            }
        };
        Some(Firing {
            value,
            values: newest.to_vec(),
        })
    }

    /// The condition in words, e.g. "average of loss over the last 5 values > 0.5".
    pub fn describe(&self) -> String {
        let name = &self.name;
        match &self.rule {
            Rule::Threshold {
                window,
                agg,
                cmp,
                value,
            } => match agg.word() {
                None => format!("{name} {} {value}", cmp.symbol()),
                Some(word) => format!(
                    "{word} of {name} over the last {window} values {} {value}",
                    cmp.symbol()
                ),
            },
            Rule::Change {
                current_window,
                prior_window,
                agg,
                change,
                direction,
                amount,
            } => format!(
                "{} of {name} over the last {current_window} values {} by at least {} against the {prior_window} values before",
                agg.word().unwrap_or("value"),
                direction.verb(),
                match change {
                    ChangeKind::Absolute => amount.to_string(),
                    ChangeKind::Relative => format!("{}%", amount * 100.0),
                },
            ),
            Rule::ZScore {
                window,
                threshold,
                direction,
            } => format!(
                "z-score of {name} against the previous {window} values {} {threshold}",
                match direction {
                    Direction::Increase => "≥",
                    Direction::Decrease => "≤ −",
                    Direction::Any => "|z| ≥",
                }
            ),
        }
    }
}

/// What a condition found when it held.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// The value compared: the aggregate, the change or the z-score (or the non-finite sample).
    pub value: f64,
    /// The window's values.
    pub values: Vec<f64>,
}

fn aggregate(agg: Aggregation, values: &[f64]) -> f64 {
    match agg {
        Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregation::Average => values.iter().sum::<f64>() / values.len() as f64,
        Aggregation::None => *values.last().expect("a window holds at least one value"),
    }
}

impl Aggregation {
    fn word(self) -> Option<&'static str> {
        match self {
            Self::Max => Some("max"),
            Self::Min => Some("min"),
            Self::Average => Some("average"),
            Self::None => None,
        }
    }
}

/// Values this close are the same value: computed aggregates, changes and z-scores carry a few
/// ulps of rounding (an average of 0.1, 0.2, 0.3 is 0.20000000000000004), and a condition must
/// not fire or miss because of it. The tolerance is relative: [`ULPS`] units in the last place of
/// the larger magnitude.
fn close(x: f64, y: f64) -> bool {
    x == y || (x - y).abs() <= ULPS * f64::EPSILON * x.abs().max(y.abs())
}

/// How many units in the last place two values may differ by and still compare equal.
const ULPS: f64 = 4.0;

/// The mean, corrected by a second pass (the sum's rounding error is measured against the first
/// estimate and taken back out), so that equal values have exactly their value as mean and a
/// flat window has a deviation of exactly 0.
fn mean(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let first = values.iter().sum::<f64>() / n;
    first + values.iter().map(|x| x - first).sum::<f64>() / n
}

impl Comparison {
    fn holds(self, x: f64, y: f64) -> bool {
        match self {
            Self::Gt => x > y && !close(x, y),
            Self::Gte => x >= y || close(x, y),
            Self::Lt => x < y && !close(x, y),
            Self::Lte => x <= y || close(x, y),
            Self::Eq => close(x, y),
            Self::Ne => !close(x, y),
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Gte => "≥",
            Self::Lt => "<",
            Self::Lte => "≤",
            Self::Eq => "=",
            Self::Ne => "≠",
        }
    }
}

impl Direction {
    fn holds(self, delta: f64, amount: f64) -> bool {
        let reaches = |x: f64| x >= amount || close(x, amount);
        match self {
            Self::Increase => reaches(delta),
            Self::Decrease => reaches(-delta),
            Self::Any => reaches(delta.abs()),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Increase => "increased",
            Self::Decrease => "decreased",
            Self::Any => "changed",
        }
    }
}

/// Checks a metric condition's shape for its trigger kind.
pub fn check(kind: TriggerKind, metric: &Value) -> Result<(), String> {
    MetricCondition::parse(kind, metric).map(|_| ())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn condition(kind: TriggerKind, metric: Value) -> MetricCondition {
        MetricCondition::parse(kind, &metric).unwrap()
    }

    /// Feeds `samples` one by one (finite ones join the window) and returns the 1-based indexes
    /// of the samples after which the condition held, with the value compared.
    fn firings(c: &MetricCondition, samples: &[f64]) -> Vec<(usize, f64)> {
        let mut window = Vec::new();
        let mut fired = Vec::new();
        for (i, &x) in samples.iter().enumerate() {
            if x.is_finite() {
                window.push(x);
            }
            if let Some(f) = c.evaluate(&window, x) {
                fired.push((i + 1, f.value));
            }
        }
        fired
    }

    #[test]
    fn threshold_compares_the_newest_value_or_a_full_windows_aggregate() {
        let newest = condition(
            TriggerKind::RunMetricThreshold,
            json!({"name": "loss", "cmp": "$gte", "value": 0.5}),
        );
        assert_eq!(firings(&newest, &[0.4, 0.5, 0.6]), [(2, 0.5), (3, 0.6)]);
        for (cmp, expected) in [
            ("$gt", vec![3]),
            ("$gte", vec![2, 3]),
            ("$lt", vec![1]),
            ("$lte", vec![1, 2]),
            ("$eq", vec![2]),
            ("$ne", vec![1, 3]),
        ] {
            let c = condition(
                TriggerKind::RunMetricThreshold,
                json!({"name": "x", "cmp": cmp, "value": 2.0}),
            );
            let at: Vec<usize> = firings(&c, &[1.0, 2.0, 3.0]).iter().map(|f| f.0).collect();
            assert_eq!(at, expected, "{cmp}");
        }
        let average = condition(
            TriggerKind::RunMetricThreshold,
            json!({"name": "loss", "window": 3, "agg": "AVERAGE", "cmp": "$gt", "value": 0.5}),
        );
        // Not before the window is full, although 0.9 alone is over.
        assert_eq!(firings(&average, &[0.9, 0.9, 0.0, 0.0]), [(3, 0.6)]);
        let max = condition(
            TriggerKind::RunMetricThreshold,
            json!({"name": "m", "window": 2, "agg": "MAX", "cmp": "$lt", "value": 1.0}),
        );
        assert_eq!(firings(&max, &[0.5, 2.0, 0.5, 0.5]), [(4, 0.5)]);
        let min = condition(
            TriggerKind::RunMetricThreshold,
            json!({"name": "m", "window": 2, "agg": "MIN", "cmp": "$gt", "value": 1.0}),
        );
        assert_eq!(firings(&min, &[2.0, 0.5, 2.0, 3.0]), [(4, 2.0)]);
    }

    #[test]
    fn change_compares_consecutive_windows() {
        let up = condition(
            TriggerKind::RunMetricChange,
            json!({"name": "loss", "current_window": 2, "prior_window": 2, "change": "ABSOLUTE",
                   "direction": "INCREASE", "amount": 1.0}),
        );
        // prior = avg(1,1) = 1, cur = avg(2,2) = 2: +1, exactly the amount.
        assert_eq!(firings(&up, &[1.0, 1.0, 2.0, 2.0]), [(4, 1.0)]);
        assert!(
            firings(&up, &[1.0, 1.0, 2.0]).is_empty(),
            "not before both windows are full"
        );
        let down = condition(
            TriggerKind::RunMetricChange,
            json!({"name": "acc", "current_window": 1, "prior_window": 1, "change": "RELATIVE",
                   "direction": "DECREASE", "amount": 0.5}),
        );
        assert_eq!(firings(&down, &[0.8, 0.4, 0.3]), [(2, -0.5)]);
        let any = condition(
            TriggerKind::RunMetricChange,
            json!({"name": "x", "current_window": 1, "prior_window": 1, "change": "RELATIVE",
                   "direction": "ANY", "amount": 1.0}),
        );
        // prior = 0: no change when cur = 0, infinite otherwise.
        assert_eq!(firings(&any, &[0.0, 0.0, 5.0]), [(3, f64::INFINITY)]);
    }

    #[test]
    fn zscore_uses_the_population_deviation_of_the_values_before_the_newest() {
        let z = condition(
            TriggerKind::RunMetricZscore,
            json!({"name": "x", "window": 4, "threshold": 2.0, "direction": "INCREASE"}),
        );
        // mean 2, population std 1 (values 1,3,1,3): 4 is z = 2.
        assert_eq!(firings(&z, &[1.0, 3.0, 1.0, 3.0, 4.0]), [(5, 2.0)]);
        let flat = condition(
            TriggerKind::RunMetricZscore,
            json!({"name": "x", "window": 2, "direction": "ANY"}),
        );
        // std = 0: z = 0 at the mean, infinite elsewhere.
        assert_eq!(firings(&flat, &[5.0, 5.0, 5.0, 6.0]), [(4, f64::INFINITY)]);
        let down = condition(
            TriggerKind::RunMetricZscore,
            json!({"name": "x", "window": 2, "threshold": 1.0, "direction": "DECREASE"}),
        );
        // At 2: mean 2, std 1, z = 0. At 0: mean 2.5, std 0.5, z = −5.
        assert_eq!(firings(&down, &[1.0, 3.0, 2.0, 0.0]), [(4, -5.0)]);
    }

    #[test]
    fn a_flat_window_has_a_z_score_of_exactly_zero() {
        let z = condition(
            TriggerKind::RunMetricZscore,
            json!({"name": "x", "window": 30, "threshold": 1.0, "direction": "ANY"}),
        );
        // 1.4 summed 30 times is not 30 × 1.4: a one-pass mean is an ulp off, and every
        // deviation then looks like one standard deviation.
        for value in [1.4, 0.1, 1e-7, 123456.789, -3.3] {
            assert_eq!(firings(&z, &[value; 60]), [], "{value}");
        }
    }

    #[test]
    fn exact_inputs_reach_exact_boundaries() {
        // z = −3 exactly in real numbers: mean 5, population std 2 of [3, 7], newest −1.
        let z = condition(
            TriggerKind::RunMetricZscore,
            json!({"name": "x", "window": 2, "threshold": 3.0, "direction": "DECREASE"}),
        );
        assert_eq!(firings(&z, &[3.0, 7.0, -1.0]).len(), 1);
        // The average of 0.1, 0.2, 0.3 is 0.2: not above it, and at least it.
        let avg = |cmp: &str| {
            condition(
                TriggerKind::RunMetricThreshold,
                json!({"name": "x", "window": 3, "agg": "AVERAGE", "cmp": cmp, "value": 0.2}),
            )
        };
        assert_eq!(firings(&avg("$gt"), &[0.1, 0.2, 0.3]), []);
        assert_eq!(firings(&avg("$gte"), &[0.1, 0.2, 0.3]).len(), 1);
        assert_eq!(firings(&avg("$eq"), &[0.1, 0.2, 0.3]).len(), 1);
        // An absolute change of 0.3 − 0.1 reaches 0.2.
        let change = condition(
            TriggerKind::RunMetricChange,
            json!({"name": "x", "current_window": 1, "prior_window": 1, "agg": "AVERAGE",
                   "change": "ABSOLUTE", "direction": "INCREASE", "amount": 0.2}),
        );
        assert_eq!(firings(&change, &[0.1, 0.3]).len(), 1);
        assert!(!close(1.0, 1.0 + 1e-9) && close(0.1 + 0.2, 0.3));
    }

    #[test]
    fn a_non_finite_sample_holds_every_condition_and_never_joins_a_window() {
        let c = condition(
            TriggerKind::RunMetricThreshold,
            json!({"name": "loss", "window": 2, "agg": "AVERAGE", "cmp": "$gt", "value": 10.0}),
        );
        let fired = firings(&c, &[1.0, f64::NAN, 1.0, f64::INFINITY]);
        assert_eq!(fired.len(), 2);
        assert_eq!(fired[0].0, 2);
        assert!(fired[0].1.is_nan());
        assert_eq!(fired[1], (4, f64::INFINITY));
    }

    #[test]
    fn bad_conditions_say_what_is_wrong() {
        for (kind, metric, expected) in [
            (
                TriggerKind::RunMetricThreshold,
                json!({"name": "x", "cmp": "$gt"}),
                "missing field `value`",
            ),
            (
                TriggerKind::RunMetricThreshold,
                json!({"name": "", "cmp": "$gt", "value": 1}),
                "name must be",
            ),
            (
                TriggerKind::RunMetricThreshold,
                json!({"name": "x", "agg": "MAX", "window": 0, "cmp": "$gt", "value": 1}),
                "window must be 1 to 1000",
            ),
            (
                TriggerKind::RunMetricChange,
                json!({"name": "x", "current_window": 1, "prior_window": 1, "change": "ABSOLUTE", "direction": "ANY", "amount": 0}),
                "amount must be",
            ),
            (
                TriggerKind::RunMetricZscore,
                json!({"name": "x", "direction": "UP"}),
                "unknown variant `UP`",
            ),
        ] {
            let error = MetricCondition::parse(kind, &metric).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn conditions_describe_themselves() {
        let c = condition(
            TriggerKind::RunMetricThreshold,
            json!({"name": "loss", "agg": "AVERAGE", "cmp": "$gt", "value": 0.5}),
        );
        assert_eq!(c.describe(), "average of loss over the last 5 values > 0.5");
        assert_eq!(c.cooldown_seconds, DEFAULT_COOLDOWN_SECONDS);
    }
}
