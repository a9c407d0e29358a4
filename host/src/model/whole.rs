//! Whole numbers as JSON Schema counts them: `3.0` is an `integer` (any number with a zero
//! fraction is), so every integer field of the API takes it, as the OpenAPI document promises.
//! serde alone refuses a float for an integer type; these are the `deserialize_with` helpers
//! that accept one, and refuse a fraction or a value out of the field's range saying so.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// The number as an `i128` when it is whole, whatever way the JSON wrote it.
fn whole_of(number: &serde_json::Number) -> Option<i128> {
    if let Some(n) = number.as_i64() {
        return Some(n.into());
    }
    if let Some(n) = number.as_u64() {
        return Some(n.into());
    }
    let n = number.as_f64()?;
    // Past 2^63 a float no longer names one integer; such a value is out of every field's range.
    (n.is_finite() && n.fract() == 0.0 && n.abs() < 9.2e18).then_some(n as i128)
}

/// An integer field that also takes a whole number written with a fraction (`3.0`).
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let Some(whole) = whole_of(&number) else {
        return Err(D::Error::custom(format!("{number} is not a whole number")));
    };
    // The document says `int64` of every integer field, `u64` ones included: past it, nothing.
    if whole > i128::from(i64::MAX) {
        return Err(D::Error::custom(format!(
            "{number} is out of range (int64)"
        )));
    }
    T::try_from(whole).map_err(|_| {
        D::Error::custom(format!(
            "{number} is out of range for a {}",
            std::any::type_name::<T>()
        ))
    })
}

/// An optional integer field (absent or `null` is `None`) that also takes `3.0`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<i128>>(#[serde(deserialize_with = "integer")] T);
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|Whole(value)| value))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Fields {
        #[serde(deserialize_with = "super::integer")]
        count: u32,
        #[serde(default, deserialize_with = "super::optional")]
        step: Option<u64>,
    }

    fn parse(json: &str) -> Result<Fields, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_zero_fraction_is_whole_and_a_real_fraction_or_range_is_named() {
        let fields = parse(r#"{"count": 3.0, "step": 1e3}"#).unwrap();
        assert_eq!((fields.count, fields.step), (3, Some(1000)));
        assert_eq!(parse(r#"{"count": 7}"#).unwrap().step, None);
        assert_eq!(parse(r#"{"count": 7, "step": null}"#).unwrap().step, None);
        assert!(
            parse(r#"{"count": 2.5}"#)
                .unwrap_err()
                .contains("2.5 is not a whole number")
        );
        assert!(
            parse(r#"{"count": -1}"#)
                .unwrap_err()
                .contains("-1 is out of range for a u32")
        );
        assert!(
            parse(r#"{"count": 1e300}"#)
                .unwrap_err()
                .contains("not a whole number")
        );
        assert!(parse(r#"{"count": "3"}"#).is_err());
        // A u64 field ends where the document's int64 does.
        let max = r#"{"count": 1, "step": 9223372036854775807}"#;
        assert_eq!(parse(max).unwrap().step, Some(i64::MAX as u64));
        assert!(
            parse(r#"{"count": 1, "step": 9223372036854775808}"#)
                .unwrap_err()
                .contains("out of range (int64)")
        );
    }
}
