//! Request schemas the derived document cannot state: rules that tie one field to another. An
//! event's fields depend on its `type` (one `oneOf` variant per type, made from
//! [`EventType::shape`]); an automation's `event.metric` is there exactly for the metric kinds;
//! a collection scope, like an alias event, names a project or a registry, not both; an
//! integration has a `url` or a `url_secret`, not both; only an agent key has queues; a job's
//! program is named.
//! Applied to the finished document's JSON, so that it accepts what the server accepts.

use serde_json::{Map, Value, json};

use crate::automations::{ScopeKind, TriggerKind, metric};
use crate::events::EventType;
use crate::events::filter::{COMBINATORS, CONDITIONS};
use crate::model::event::{COMMON_FIELDS, FILTER_FIELDS, FILTER_OBJECT_FIELDS};

/// Rewrites the document's `EventInput` and `Trigger` schemas into their per-kind variants.
pub(super) fn apply(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    if let Some(event) = schemas.get("EventInput").cloned() {
        schemas["EventInput"] = event_variants(&event);
    }
    if let Some(mut trigger) = schemas.get("Trigger").cloned() {
        filter_schemas(schemas);
        trigger["properties"]["filter"] = json!({"anyOf": [
            {"$ref": "#/components/schemas/Filter"},
            {"type": "null"},
        ]});
        schemas["Trigger"] = trigger_variants(&trigger);
    }
    metric_rules(schemas);
    // An integration's URL is given as itself or as a secret, never both.
    let given =
        |field: &str| json!({"required": [field], "properties": {field: {"type": "string"}}});
    if schemas.get("NewIntegration").is_some() {
        schemas["NewIntegration"]["oneOf"] = json!([
            {"allOf": [given("url"), {"properties": {"url_secret": {"type": "null"}}}]},
            {"allOf": [given("url_secret"), {"properties": {"url": {"type": "null"}}}]},
        ]);
    }
    if schemas.get("IntegrationPatch").is_some() {
        schemas["IntegrationPatch"]["not"] = json!({"allOf": [given("url"), given("url_secret")]});
    }
    // An agent key is bound to at least one queue; other keys to none (`Role::check_queues`).
    if schemas.get("NewKeyBody").is_some() {
        schemas["NewKeyBody"]["oneOf"] = json!([
            {"required": ["role", "queues"], "properties": {"role": {"const": "agent"}, "queues": {"minItems": 1}}},
            {"properties": {"role": {"enum": ["admin", "member"]}, "queues": {"maxItems": 0}}},
        ]);
    }
    // A job's program is named, nothing holds NUL, and `HERALD_` variables are the agent's
    // (`JobSpec::check`).
    if schemas.get("JobSpec").is_some() {
        let no_nul = json!({"type": "string", "pattern": "^[^\\u0000]*$"});
        let program = json!({"allOf": [no_nul, {"minLength": 1}]});
        let command = &mut schemas["JobSpec"]["properties"]["command"];
        command["prefixItems"] = json!([program]);
        command["items"] = no_nul.clone();
        let env = &mut schemas["JobSpec"]["properties"]["env"];
        env["propertyNames"] = json!({"pattern": "^(?!HERALD_)[A-Za-z_][A-Za-z0-9_]*$"});
        env["additionalProperties"] = no_nul;
    }
    // Which event kinds a scope takes (`ScopeKind::triggers`), for a new automation and for a
    // patch that names both.
    let pairs = scope_kinds();
    if schemas.get("AutomationInput").is_some() {
        schemas["AutomationInput"]["anyOf"] = pairs.clone();
    }
    if schemas.get("AutomationPatch").is_some() {
        let mut either = vec![json!({"not": {"required": ["scope", "event"]}})];
        either.extend(pairs.as_array().cloned().unwrap_or_default());
        schemas["AutomationPatch"]["anyOf"] = Value::Array(either);
    }
    // A collection scope names exactly one place: a project or a registry.
    if let Some(variants) = schemas["Scope"]["oneOf"].as_array_mut() {
        for variant in variants {
            if variant["properties"]["type"]["enum"][0] == "collection" {
                variant["oneOf"] = one_place();
            }
        }
    }
}

/// One alternative per kind of scope: a scope of that kind with an event of a kind it takes.
fn scope_kinds() -> Value {
    let alternatives: Vec<Value> = ScopeKind::ALL
        .iter()
        .map(|&kind| {
            let scope = match kind {
                ScopeKind::Entity => json!({"properties": {"type": {"const": "entity"}}}),
                ScopeKind::Project => json!({"properties": {"type": {"const": "project"}}}),
                ScopeKind::Registry => json!({"properties": {"type": {"const": "registry"}}}),
                ScopeKind::ProjectCollection => json!({
                    "required": ["project"],
                    "properties": {"type": {"const": "collection"}, "project": {"type": "string"}},
                }),
                ScopeKind::RegistryCollection => json!({
                    "required": ["registry"],
                    "properties": {"type": {"const": "collection"}, "registry": {"type": "string"}},
                }),
            };
            let kinds: Vec<&str> = kind.triggers().iter().map(|t| t.as_str()).collect();
            json!({"properties": {
                "scope": scope,
                "event": {"properties": {"type": {"enum": kinds}}},
            }})
        })
        .collect();
    Value::Array(alternatives)
}

/// Exactly one of `project` and `registry`, as a string (the other absent or null).
fn one_place() -> Value {
    json!([
        {"required": ["project"], "properties": {"project": {"type": "string"}}},
        {"required": ["registry"], "properties": {"registry": {"type": "string"}}},
    ])
}

/// A property that must be there and not null: its schema, less `null`.
fn present(schema: &Value) -> Value {
    json!({"allOf": [schema, {"not": {"type": "null"}}]})
}

/// One variant per event type: its required fields present and not null, its optional ones as
/// derived, every other field of an event absent or null, nothing else.
fn event_variants(event: &Value) -> Value {
    let properties = event["properties"].as_object().cloned().unwrap_or_default();
    let variants: Vec<Value> = EventType::ALL
        .iter()
        .map(|&kind| {
            let shape = kind.shape();
            let mut own = Map::new();
            for (name, schema) in &properties {
                let name_str = name.as_str();
                let schema = if name_str == "type" {
                    json!({"type": "string", "enum": [kind.as_str()]})
                } else if name_str == "metrics" && shape.required.contains(&name_str) {
                    json!({"allOf": [schema, {"type": "object", "minProperties": 1}]})
                } else if shape.required.contains(&name_str) {
                    present(schema)
                } else if COMMON_FIELDS.contains(&name_str) || shape.optional.contains(&name_str) {
                    schema.clone()
                } else {
                    json!({"type": "null"})
                };
                own.insert(name.clone(), schema);
            }
            let mut required = vec!["type", "entity"];
            required.extend(shape.required);
            let mut variant = json!({
                "title": kind.as_str(),
                "type": "object",
                "required": required,
                "properties": own,
                "additionalProperties": false,
            });
            if kind == EventType::AddArtifactAlias {
                variant["oneOf"] = one_place();
            }
            variant
        })
        .collect();
    json!({"description": event["description"], "oneOf": variants})
}

/// The variants of a trigger: one per metric kind, whose `metric` is that kind's condition, and
/// one for the other kinds, which take none.
fn trigger_variants(trigger: &Value) -> Value {
    let properties = trigger["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let variant = |kinds: &[TriggerKind], metric: Option<Value>| {
        let mut own = properties.clone();
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        own.insert("type".into(), json!({"type": "string", "enum": names}));
        let mut required = vec!["type"];
        if let Some(condition) = metric {
            own.insert("metric".into(), condition);
            required.push("metric");
        } else {
            own.insert("metric".into(), json!({"type": "null"}));
        }
        json!({
            "type": "object",
            "required": required,
            "properties": own,
            "additionalProperties": false,
        })
    };
    let mut variants = Vec::new();
    let mut other = Vec::new();
    for &kind in TriggerKind::ALL.iter() {
        match metric_schema(kind) {
            Some(name) => variants.push(variant(
                &[kind],
                Some(json!({"$ref": format!("#/components/schemas/{name}")})),
            )),
            None => other.push(kind),
        }
    }
    variants.push(variant(&other, None));
    json!({"description": trigger["description"], "oneOf": variants})
}

/// The name of the schema of a metric kind's condition.
fn metric_schema(kind: TriggerKind) -> Option<String> {
    use utoipa::ToSchema;
    Some(
        match kind {
            TriggerKind::RunMetricThreshold => metric::ThresholdIn::name(),
            TriggerKind::RunMetricChange => metric::ChangeIn::name(),
            TriggerKind::RunMetricZscore => metric::ZScoreIn::name(),
            _ => return None,
        }
        .into_owned(),
    )
}

/// What the conditions' derived schemas cannot say: a threshold's `window` counts (1 to 1000)
/// only when it aggregates, and a change always aggregates.
fn metric_rules(schemas: &mut Value) {
    if let Some(name) = metric_schema(TriggerKind::RunMetricThreshold) {
        schemas[&name]["anyOf"] = json!([
            {"properties": {"agg": {"const": "none"}}},
            {"properties": {"window": {"minimum": 1, "maximum": metric::MAX_WINDOW}}},
        ]);
    }
    if let Some(name) = metric_schema(TriggerKind::RunMetricChange) {
        schemas[&name]["properties"]["agg"] = json!({
            "allOf": [{"$ref": "#/components/schemas/Aggregation"}, {"not": {"const": "none"}}],
            "default": "AVERAGE",
        });
    }
}

/// The filter language (`events::filter`) as two schemas: `Filter`, whose keys are combinators
/// or event fields (a dotted path below `metadata` and `metrics`), and `FilterCondition`, what a
/// field is tested with (a value, compared for equality, or an object of operators).
fn filter_schemas(schemas: &mut Value) {
    let filter = json!({"$ref": "#/components/schemas/Filter"});
    let condition = json!({"$ref": "#/components/schemas/FilterCondition"});
    let filters = json!({"type": "array", "minItems": 1, "items": filter});
    let mut combinators = Map::new();
    for name in COMBINATORS {
        let operand = if name == "$not" { &filter } else { &filters };
        combinators.insert(name.into(), operand.clone());
    }
    let fields = format!(
        "^(?:{})$|^(?:{})(?:\\.[^.]+)+$",
        FILTER_FIELDS.join("|"),
        FILTER_OBJECT_FIELDS.join("|"),
    );
    schemas["Filter"] = json!({
        "description": "A MongoDB-style condition on an event's fields; several keys must all hold.",
        "type": "object",
        "properties": combinators,
        "propertyNames": {"anyOf": [{"enum": COMBINATORS}, {"pattern": fields}]},
        "additionalProperties": condition,
    });
    let operand = |name: &str| match name {
        "$gt" | "$gte" | "$lt" | "$lte" => json!({"type": ["number", "string"]}),
        "$in" | "$nin" => json!({"type": "array"}),
        "$exists" => json!({"type": "boolean"}),
        "$regex" => json!({"type": "string"}),
        "$not" => condition.clone(),
        _ => json!({}),
    };
    let operators: Map<String, Value> = CONDITIONS
        .iter()
        .map(|&name| (name.to_string(), operand(name)))
        .collect();
    schemas["FilterCondition"] = json!({
        "description": "A value the field must equal, or an object of operators that must all hold.",
        "anyOf": [
            {"not": {"type": "object"}},
            {"type": "object", "propertyNames": {"not": {"pattern": "^\\$"}}},
            {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"enum": CONDITIONS},
                "properties": operators,
            },
        ],
    });
}
