//! Request schemas the derived document cannot state: rules that tie one field to another. An
//! event's fields depend on its `type` (one `oneOf` variant per type, made from
//! [`EventType::shape`]); an automation's `event.metric` is there exactly for the metric kinds;
//! a collection scope, like an alias event, names a project or a registry, not both.
//! Applied to the finished document's JSON, so that it accepts what the server accepts.

use serde_json::{Map, Value, json};

use crate::automations::{ScopeKind, TriggerKind};
use crate::events::EventType;
use crate::model::event::COMMON_FIELDS;

/// Rewrites the document's `EventInput` and `Trigger` schemas into their per-kind variants.
pub(super) fn apply(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    if let Some(event) = schemas.get("EventInput").cloned() {
        schemas["EventInput"] = event_variants(&event);
    }
    if let Some(trigger) = schemas.get("Trigger").cloned() {
        schemas["Trigger"] = trigger_variants(&trigger);
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

/// Two variants of a trigger: the metric kinds, which need `metric`, and the others, which take
/// none.
fn trigger_variants(trigger: &Value) -> Value {
    let properties = trigger["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let (metric, other): (Vec<TriggerKind>, Vec<TriggerKind>) =
        TriggerKind::ALL.iter().partition(|kind| kind.is_metric());
    let variant = |kinds: Vec<TriggerKind>, needs_metric: bool| {
        let mut own = properties.clone();
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        own.insert("type".into(), json!({"type": "string", "enum": names}));
        let mut required = vec!["type"];
        if needs_metric {
            own.insert("metric".into(), present(&properties["metric"]));
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
    json!({
        "description": trigger["description"],
        "oneOf": [variant(metric, true), variant(other, false)],
    })
}
