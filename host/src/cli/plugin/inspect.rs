//! How `herald plugin inspect` prints a plugin's description: its name, version, integration
//! kinds, config schema (as an indented outline) and default payload.

use serde_json::Value;

/// Prints what `herald plugin inspect` shows of a plugin's description.
pub(super) fn print_description(described: &Value) {
    let text = |key: &str| described[key].as_str().unwrap_or_default().to_string();
    println!("{} {}", text("name"), text("version"));
    println!("  {}", text("description"));
    println!("  source: {}", text("source"));
    let kinds: Vec<&str> = described["integration_kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "  integrations: {}",
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(", ")
        }
    );
    print_schema(&described["config_schema"]);
    match &described["default_payload"] {
        Value::Null => println!("\ndefault payload: built by the plugin"),
        payload => println!(
            "\ndefault payload:\n{}",
            indent(&serde_json::to_string_pretty(payload).unwrap_or_default())
        ),
    }
}

/// The config schema as a list of keys: type, required or default, description. The JSON
/// Schema itself is in `--json`.
fn print_schema(schema: &Value) {
    let properties = schema["properties"].as_object();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!();
    match properties {
        None => println!("config: any JSON object (the plugin declares no keys)"),
        Some(properties) if properties.is_empty() => println!("config: none (use {{}})"),
        Some(properties) => {
            let closed = schema["additionalProperties"] == false;
            println!(
                "config ({}; checked by the host before the plugin sees it):",
                if closed {
                    "only these keys"
                } else {
                    "these keys and others"
                }
            );
            for (name, property) in properties {
                let kind = kind_of(resolved(schema, property));
                let presence = if required.contains(&name.as_str()) {
                    "required".to_string()
                } else {
                    match &property["default"] {
                        Value::Null => "optional".into(),
                        default => format!("default {default}"),
                    }
                };
                println!("  {name}: {kind}, {presence}");
                if let Some(description) = property["description"].as_str() {
                    println!("      {description}");
                }
                if let Some(pattern) = property["pattern"].as_str() {
                    println!("      matches {pattern}");
                }
            }
        }
    }
}

/// A property's schema with a `$ref` into the schema's own `$defs` (or `definitions`) followed,
/// as schemars writes a Rust enum or struct: the property's own keys (its description) first.
fn resolved(root: &Value, property: &Value) -> Value {
    let target = property["$ref"].as_str().and_then(|reference| {
        let name = reference
            .strip_prefix("#/$defs/")
            .or_else(|| reference.strip_prefix("#/definitions/"))?;
        root["$defs"]
            .get(name)
            .or_else(|| root["definitions"].get(name))
    });
    match (target, property.as_object()) {
        (Some(Value::Object(target)), Some(own)) => {
            let mut merged = target.clone();
            merged.extend(
                own.iter()
                    .filter(|(k, _)| *k != "$ref")
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            Value::Object(merged)
        }
        _ => property.clone(),
    }
}

/// What values a property takes, in words: its choices (an `enum`, or a `oneOf`/`anyOf` of
/// `const`s), else its type(s).
fn kind_of(property: Value) -> String {
    let consts: Vec<&Value> = ["oneOf", "anyOf"]
        .iter()
        .filter_map(|key| property[*key].as_array())
        .flatten()
        .filter_map(|choice| choice.get("const"))
        .collect();
    if let Some(values) = property["enum"].as_array() {
        return format!("one of {}", Value::Array(values.clone()));
    }
    if !consts.is_empty() {
        return format!(
            "one of {}",
            Value::Array(consts.into_iter().cloned().collect())
        );
    }
    match &property["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
