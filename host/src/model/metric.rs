//! Metric values as events carry them: numbers, or the non-finite values JSON cannot carry as
//! numbers (`"NaN"`, `"Infinity"`, `"-Infinity"`), and the context a metric automation adds to
//! the variables of the event that fired it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A logged metric value: JSON has no NaN or infinities, so those come as strings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MetricValue {
    /// A finite number.
    Number(f64),
    /// `"NaN"`, `"Infinity"` or `"-Infinity"`.
    Special(SpecialFloat),
}

/// The non-finite values JSON cannot carry as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SpecialFloat {
    /// Not a number.
    NaN,
    /// Positive infinity.
    Infinity,
    /// Negative infinity.
    #[serde(rename = "-Infinity")]
    NegInfinity,
}

/// `metrics`, with an error that names the metric and says what a value may be (an untagged
/// enum's own error names neither).
pub(super) fn metrics_field<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, MetricValue>>, D::Error> {
    let raw = Option::<Map<String, Value>>::deserialize(deserializer)?;
    raw.map(|raw| {
        raw.into_iter()
            .map(|(name, value)| match MetricValue::deserialize(&value) {
                Ok(parsed) => Ok((name, parsed)),
                Err(_) => Err(serde::de::Error::custom(format!(
                    "metrics.{name}: must be a number or one of \"NaN\", \"Infinity\", \"-Infinity\", not {}",
                    crate::bounded::cut(&value.to_string(), 64)
                ))),
            })
            .collect()
    })
    .transpose()
}

impl MetricValue {
    /// The value as an `f64`.
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Number(n) => n,
            Self::Special(SpecialFloat::NaN) => f64::NAN,
            Self::Special(SpecialFloat::Infinity) => f64::INFINITY,
            Self::Special(SpecialFloat::NegInfinity) => f64::NEG_INFINITY,
        }
    }
}

/// What a metric automation adds to the variables of the event that fired it; stored with the
/// execution.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct MetricContext {
    /// The metric's name.
    pub name: String,
    /// The value compared: the aggregate, the change or the z-score (`"NaN"`, `"Infinity"` or
    /// `"-Infinity"` when not finite).
    pub value: Value,
    /// The values the condition looked at, oldest first.
    pub values: Value,
    /// The condition, in words.
    pub condition: String,
}
