//! The filter language: MongoDB-style JSON conditions on an event's fields, parsed and checked
//! when an automation is saved (errors name the JSON path) and evaluated on every candidate event.
//!
//! `{"alias": {"$regex": "^prod"}}`, `{"run_name": "nightly"}` (a bare value is `$eq`),
//! `{"$or": [{"collection": "churn"}, {"metadata.accuracy": {"$gte": 0.9}}]}`. Several keys in one
//! object must all hold. Dotted field names reach into objects (`metadata.accuracy`). When the
//! field is an array, a value operator holds if it holds for any element (as in MongoDB).

use std::cmp::Ordering;

use regex::Regex;
use serde_json::Value;

/// A filter that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FilterError {
    /// The JSON path of the problem, e.g. `$.$or[1].alias.$regex`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// True for a `$regex` the regex engine does not take: the filter is in the language (the
    /// API document describes it), the engine refuses it.
    pub unsupported_regex: bool,
}

fn error(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_string(),
        message: message.into(),
        unsupported_regex: false,
    }
}

/// A parsed filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// All hold (also: several keys in one object).
    And(Vec<Filter>),
    /// At least one holds.
    Or(Vec<Filter>),
    /// None holds.
    Nor(Vec<Filter>),
    /// The inner filter does not hold.
    Not(Box<Filter>),
    /// A condition on one field.
    Field {
        /// The field path, split at dots.
        path: Vec<String>,
        /// What must hold of its value.
        condition: Condition,
    },
}

/// What must hold of one field's value.
#[derive(Debug, Clone)]
pub enum Condition {
    /// All hold (several operators on one field).
    All(Vec<Condition>),
    /// `$eq`.
    Eq(Value),
    /// `$ne`.
    Ne(Value),
    /// `$gt`, `$gte`, `$lt`, `$lte`: the ordering, and whether equality also holds.
    Compare(Ordering, bool, Value),
    /// `$in`.
    In(Vec<Value>),
    /// `$nin`.
    Nin(Vec<Value>),
    /// `$exists`.
    Exists(bool),
    /// `$regex` (on strings).
    Regex(Regex),
    /// `$contains`: a substring of a string, or an element of an array.
    Contains(Value),
    /// `$not`.
    Not(Box<Condition>),
}

/// The operators that combine filters: `{"$or": [filter, …]}`, `{"$not": filter}`.
pub const COMBINATORS: [&str; 4] = ["$and", "$or", "$nor", "$not"];

/// The operators that test a field's value: `{"alias": {"$regex": "^prod"}}`.
pub const CONDITIONS: [&str; 12] = [
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$regex",
    "$contains",
    "$not",
];

const OPERATORS: &str =
    "$and $or $nor $not $eq $ne $gt $gte $lt $lte $in $nin $exists $regex $contains";

impl Filter {
    /// Parses a filter document. `null` or `{}` is the filter that always holds.
    pub fn parse(value: &Value) -> Result<Self, FilterError> {
        Self::parse_checked(value, |_, _| Ok(()))
    }

    /// Parses a filter on events: as [`Filter::parse`], and a field no event has is refused
    /// (such a filter could never match).
    pub fn parse_for_events(value: &Value) -> Result<Self, FilterError> {
        Self::parse_checked(value, check_event_field)
    }

    fn parse_checked(value: &Value, check: FieldCheck) -> Result<Self, FilterError> {
        match value {
            Value::Null => Ok(Self::And(Vec::new())),
            other => parse_filter(other, "$", check),
        }
    }

    /// Whether the filter holds for `document` (the event's fields as JSON).
    pub fn matches(&self, document: &Value) -> bool {
        match self {
            Self::And(all) => all.iter().all(|f| f.matches(document)),
            Self::Or(any) => any.iter().any(|f| f.matches(document)),
            Self::Nor(none) => !none.iter().any(|f| f.matches(document)),
            Self::Not(inner) => !inner.matches(document),
            Self::Field { path, condition } => condition.holds(lookup(document, path)),
        }
    }

    /// A string equality the filter cannot hold without: `(path, value)` such that the filter
    /// can only hold when the field at `path` is `value`, or an array holding it. Matching indexes
    /// automations by it, so that an event never meets the filters whose constant fields differ.
    pub fn equality_guard(&self) -> Option<(&[String], &str)> {
        match self {
            Self::And(all) => all.iter().find_map(Self::equality_guard),
            Self::Field { path, condition } => condition.string_equality().map(|v| (&path[..], v)),
            Self::Or(_) | Self::Nor(_) | Self::Not(_) => None,
        }
    }
}

/// The strings the field at `path` of `document` may equal for a guarded filter to hold: the
/// value itself, or each element of an array.
pub fn guard_keys<'a>(document: &'a Value, path: &[String]) -> impl Iterator<Item = &'a str> {
    let value = lookup(document, path);
    let (single, many) = match value {
        Some(Value::String(s)) => (Some(s.as_str()), None),
        Some(Value::Array(items)) => (None, Some(items.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    single.into_iter().chain(many.into_iter().flatten())
}

/// What a field name must satisfy: (the field, its JSON path) → ok or the error.
type FieldCheck = fn(&str, &str) -> Result<(), FilterError>;

fn parse_filter(value: &Value, path: &str, check: FieldCheck) -> Result<Filter, FilterError> {
    let Value::Object(fields) = value else {
        return Err(error(path, "a filter must be a JSON object"));
    };
    let mut parts = Vec::with_capacity(fields.len());
    for (key, operand) in fields {
        let here = format!("{path}.{key}");
        let part = match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Value::Array(items) = operand else {
                    return Err(error(&here, format!("{key} takes an array of filters")));
                };
                if items.is_empty() {
                    return Err(error(&here, format!("{key} needs at least one filter")));
                }
                let inner = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_filter(item, &format!("{here}[{i}]"), check))
                    .collect::<Result<Vec<_>, _>>()?;
                match key.as_str() {
                    "$and" => Filter::And(inner),
                    "$or" => Filter::Or(inner),
                    _ => Filter::Nor(inner),
                }
            }
            "$not" => Filter::Not(Box::new(parse_filter(operand, &here, check)?)),
            operator if operator.starts_with('$') => {
                return Err(error(
                    &here,
                    format!("unknown operator {operator} (known: {OPERATORS})"),
                ));
            }
            field => {
                if field.is_empty() || field.split('.').any(str::is_empty) {
                    return Err(error(
                        &here,
                        "a field name must not be empty or have empty parts",
                    ));
                }
                check(field, &here)?;
                Filter::Field {
                    path: field.split('.').map(str::to_string).collect(),
                    condition: parse_condition(operand, &here)?,
                }
            }
        };
        parts.push(part);
    }
    Ok(if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Filter::And(parts)
    })
}

/// Refuses a field no event has (it could never match): the first part must be an event field,
/// and only an object field (`metadata`, `metrics`) has parts below it.
fn check_event_field(field: &str, path: &str) -> Result<(), FilterError> {
    use super::event::{FILTER_FIELDS, FILTER_OBJECT_FIELDS};
    let (first, rest) = match field.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (field, None),
    };
    if !FILTER_FIELDS.contains(&first) {
        return Err(error(
            path,
            format!(
                "no event has a field {first:?} (fields: {})",
                FILTER_FIELDS.join(", ")
            ),
        ));
    }
    if rest.is_some() && !FILTER_OBJECT_FIELDS.contains(&first) {
        return Err(error(
            path,
            format!(
                "{first} has no fields of its own (only {} do)",
                FILTER_OBJECT_FIELDS.join(" and ")
            ),
        ));
    }
    Ok(())
}

fn parse_condition(value: &Value, path: &str) -> Result<Condition, FilterError> {
    let Value::Object(ops) = value else {
        return Ok(Condition::Eq(value.clone()));
    };
    if ops.is_empty() || !ops.keys().all(|k| k.starts_with('$')) {
        // An object without operators is compared as a value, as in MongoDB.
        if ops.keys().any(|k| k.starts_with('$')) {
            return Err(error(
                path,
                "do not mix operators and plain keys in one object",
            ));
        }
        return Ok(Condition::Eq(value.clone()));
    }
    let mut all = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let here = format!("{path}.{op}");
        let list = |operand: &Value| match operand {
            Value::Array(items) => Ok(items.clone()),
            _ => Err(error(&here, format!("{op} takes an array"))),
        };
        let comparable = |operand: &Value| match operand {
            Value::Number(_) | Value::String(_) => Ok(operand.clone()),
            _ => Err(error(&here, format!("{op} compares numbers or strings"))),
        };
        all.push(match op.as_str() {
            "$eq" => Condition::Eq(operand.clone()),
            "$ne" => Condition::Ne(operand.clone()),
            "$gt" => Condition::Compare(Ordering::Greater, false, comparable(operand)?),
            "$gte" => Condition::Compare(Ordering::Greater, true, comparable(operand)?),
            "$lt" => Condition::Compare(Ordering::Less, false, comparable(operand)?),
            "$lte" => Condition::Compare(Ordering::Less, true, comparable(operand)?),
            "$in" => Condition::In(list(operand)?),
            "$nin" => Condition::Nin(list(operand)?),
            "$exists" => match operand {
                Value::Bool(b) => Condition::Exists(*b),
                _ => return Err(error(&here, "$exists takes true or false")),
            },
            "$regex" => match operand {
                Value::String(pattern) => Condition::Regex(
                    regex::RegexBuilder::new(pattern)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| FilterError {
                            unsupported_regex: true,
                            ..error(
                                &here,
                                format!("invalid regex: {}", one_line(&e.to_string())),
                            )
                        })?,
                ),
                _ => return Err(error(&here, "$regex takes a string")),
            },
            "$contains" => Condition::Contains(operand.clone()),
            "$not" => Condition::Not(Box::new(parse_condition(operand, &here)?)),
            other => {
                return Err(error(
                    &here,
                    format!("unknown operator {other} (known: {OPERATORS})"),
                ));
            }
        });
    }
    Ok(if all.len() == 1 {
        all.pop().expect("one condition")
    } else {
        Condition::All(all)
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn lookup<'a>(document: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(document, |value, key| value.get(key.as_str()))
}

impl Condition {
    /// The string this condition requires its field to equal, if it requires one.
    fn string_equality(&self) -> Option<&str> {
        match self {
            Self::Eq(Value::String(value)) => Some(value),
            Self::All(all) => all.iter().find_map(Self::string_equality),
            _ => None,
        }
    }

    fn holds(&self, value: Option<&Value>) -> bool {
        match self {
            Self::All(all) => all.iter().all(|c| c.holds(value)),
            Self::Exists(expected) => value.is_some_and(|v| !v.is_null()) == *expected,
            Self::Not(inner) => !inner.holds(value),
            Self::Ne(operand) => !Self::Eq(operand.clone()).holds(value),
            Self::Nin(operands) => !Self::In(operands.clone()).holds(value),
            _ => match value {
                None => matches!(self, Self::Eq(Value::Null)),
                Some(Value::Array(items)) => {
                    // The array itself (for `$eq: [..]`, `$contains`), or any element.
                    self.holds_scalar(value.expect("some"))
                        || items.iter().any(|i| self.holds_scalar(i))
                }
                Some(scalar) => self.holds_scalar(scalar),
            },
        }
    }

    fn holds_scalar(&self, value: &Value) -> bool {
        match self {
            Self::Eq(operand) => equal(value, operand),
            Self::Compare(direction, or_equal, operand) => match compare(value, operand) {
                Some(Ordering::Equal) => *or_equal,
                Some(ordering) => ordering == *direction,
                None => false,
            },
            Self::In(operands) => operands.iter().any(|o| equal(value, o)),
            Self::Regex(regex) => value.as_str().is_some_and(|s| regex.is_match(s)),
            Self::Contains(operand) => match (value, operand) {
                (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
                (Value::Array(items), needle) => items.iter().any(|i| equal(i, needle)),
                _ => false,
            },
            _ => false,
        }
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Numbers with numbers, strings with strings; anything else does not compare.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(filter: Value, document: Value) -> bool {
        Filter::parse(&filter).unwrap().matches(&document)
    }

    fn parse_error(filter: Value) -> String {
        Filter::parse(&filter).unwrap_err().to_string()
    }

    #[test]
    fn the_message_names_every_operator() {
        let mut named: Vec<&str> = OPERATORS.split(' ').collect();
        let mut all: Vec<&str> = COMBINATORS.iter().chain(&CONDITIONS).copied().collect();
        named.sort();
        all.sort();
        all.dedup();
        assert_eq!(named, all);
    }

    #[test]
    fn every_operator() {
        let event = json!({
            "alias": "production", "collection": "churn", "version_index": 7,
            "aliases": ["latest", "production"], "metadata": {"accuracy": 0.93, "tags": ["a"]},
            "run_name": null
        });
        let cases = [
            (json!({"alias": "production"}), true),
            (json!({"alias": {"$eq": "staging"}}), false),
            (json!({"alias": {"$ne": "staging"}}), true),
            (json!({"version_index": {"$gt": 6}}), true),
            (json!({"version_index": {"$gt": 7}}), false),
            (json!({"version_index": {"$gte": 7}}), true),
            (json!({"version_index": {"$lt": 7}}), false),
            (json!({"version_index": {"$lte": 7.0}}), true),
            (json!({"version_index": {"$gt": 5, "$lt": 8}}), true),
            (json!({"collection": {"$in": ["churn", "fraud"]}}), true),
            (json!({"collection": {"$nin": ["churn"]}}), false),
            (json!({"alias": {"$exists": true}}), true),
            (json!({"run_name": {"$exists": true}}), false),
            (json!({"missing": {"$exists": false}}), true),
            (json!({"alias": {"$regex": "^prod"}}), true),
            (json!({"alias": {"$not": {"$regex": "^prod"}}}), false),
            (json!({"alias": {"$contains": "duct"}}), true),
            (json!({"aliases": {"$contains": "latest"}}), true),
            (json!({"aliases": "production"}), true),
            (json!({"aliases": {"$regex": "^lat"}}), true),
            (json!({"metadata.accuracy": {"$gte": 0.9}}), true),
            (json!({"metadata.tags": ["a"]}), true),
            (
                json!({"$and": [{"alias": "production"}, {"collection": "churn"}]}),
                true,
            ),
            (
                json!({"$or": [{"alias": "staging"}, {"collection": "churn"}]}),
                true,
            ),
            (
                json!({"$nor": [{"alias": "staging"}, {"collection": "fraud"}]}),
                true,
            ),
            (json!({"$not": {"alias": "production"}}), false),
            (
                json!({"$or": [{"$and": [{"alias": "production"}, {"$not": {"collection": "x"}}]}]}),
                true,
            ),
            (json!({"alias": "production", "collection": "fraud"}), false),
            (json!({}), true),
        ];
        for (filter, expected) in cases {
            assert_eq!(holds(filter.clone(), event.clone()), expected, "{filter}");
        }
    }

    #[test]
    fn a_filter_never_holds_without_its_guard() {
        let documents = [
            json!({"state": "FAILED", "run_name": "nightly", "tags": ["a", "b"]}),
            json!({"state": "RUNNING", "run_name": "nightly", "tags": "a"}),
            json!({"state": ["FAILED", "CRASHED"], "meta": {"stage": "prod"}}),
            json!({"meta": {"stage": ["dev", "prod"]}}),
            json!({}),
        ];
        let filters = [
            (json!({"state": "FAILED"}), Some("FAILED")),
            (
                json!({"run_name": {"$regex": "^n"}, "state": "FAILED"}),
                Some("FAILED"),
            ),
            (
                json!({"state": {"$eq": "FAILED", "$ne": "x"}}),
                Some("FAILED"),
            ),
            (
                json!({"$and": [{"tags": {"$exists": true}}, {"tags": "a"}]}),
                Some("a"),
            ),
            (json!({"meta.stage": "prod"}), Some("prod")),
            (
                json!({"$or": [{"state": "FAILED"}, {"state": "CRASHED"}]}),
                None,
            ),
            (json!({"state": {"$ne": "FAILED"}}), None),
            (json!({"$not": {"state": "FAILED"}}), None),
            (json!({"count": 3}), None),
        ];
        for (filter, expected) in filters {
            let parsed = Filter::parse(&filter).unwrap();
            let guard = parsed.equality_guard();
            assert_eq!(guard.map(|(_, value)| value), expected, "{filter}");
            let Some((path, value)) = guard else { continue };
            for document in &documents {
                if parsed.matches(document) {
                    assert!(
                        guard_keys(document, path).any(|key| key == value),
                        "{filter} holds for {document} without its guard"
                    );
                }
            }
        }
        let document = json!({"state": ["FAILED", 3, "CRASHED"]});
        let path = ["state".to_string()];
        assert_eq!(
            guard_keys(&document, &path).collect::<Vec<_>>(),
            ["FAILED", "CRASHED"]
        );
    }

    #[test]
    fn type_mismatches_never_hold() {
        let event = json!({"alias": "production", "version_index": 7});
        assert!(!holds(json!({"alias": {"$gt": 5}}), event.clone()));
        assert!(!holds(
            json!({"version_index": {"$gt": "5"}}),
            event.clone()
        ));
        assert!(!holds(
            json!({"version_index": {"$regex": "7"}}),
            event.clone()
        ));
        assert!(!holds(json!({"version_index": "7"}), event.clone()));
        assert!(!holds(json!({"alias": {"$contains": 1}}), event));
    }

    #[test]
    fn an_event_filter_names_only_fields_events_have() {
        let refused = |filter: Value| Filter::parse_for_events(&filter).unwrap_err().to_string();
        assert!(refused(json!({"aliass": "prod"})).starts_with("$.aliass: no event has a field"));
        assert!(
            refused(json!({"$or": [{"alias": "p"}, {"$not": {"colection": "c"}}]}))
                .starts_with("$.$or[1].$not.colection:")
        );
        assert!(refused(json!({"alias.x": "p"})).contains("alias has no fields of its own"));
        Filter::parse_for_events(&json!({"metadata.a.b": 1, "metrics.loss": {"$gt": 1}})).unwrap();
        Filter::parse(&json!({"anything": 1})).unwrap();
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(
            parse_error(json!({"alias": {"$regex": "(unclosed"}}))
                .split(": ")
                .next(),
            Some("$.alias.$regex")
        );
        assert!(parse_error(json!({"alias": {"$regex": "(unclosed"}})).contains("invalid regex"));
        assert!(
            parse_error(json!({"$or": [{"a": 1}, {"b": {"$near": 1}}]}))
                .starts_with("$.$or[1].b.$near: unknown operator $near")
        );
        assert!(parse_error(json!({"$foo": 1})).starts_with("$.$foo: unknown operator"));
        assert!(parse_error(json!({"a": {"$in": 3}})).starts_with("$.a.$in: $in takes an array"));
        assert!(parse_error(json!({"a": {"$gt": [1]}})).starts_with("$.a.$gt:"));
        assert!(parse_error(json!({"a": {"$exists": 1}})).starts_with("$.a.$exists:"));
        assert!(parse_error(json!({"$and": []})).starts_with("$.$and:"));
        assert!(parse_error(json!({"$and": {}})).starts_with("$.$and:"));
        assert!(parse_error(json!([1])).starts_with("$: a filter must be a JSON object"));
        assert!(parse_error(json!({"a": {"$eq": 1, "plain": 2}})).starts_with("$.a: do not mix"));
    }
}
