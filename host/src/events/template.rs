//! Payload templates: JSON documents whose string values may reference `${name}` (an event
//! variable or an entity secret). Rendering works on the parsed tree, so no value can break or
//! inject into the document; `$${` is a literal `${`.

use serde_json::Value;

use super::variables;

/// A template problem found when an automation is saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `${` without its closing `}` or with an empty or malformed name.
    #[error("{path}: {message}")]
    Syntax {
        /// Where in the template (a JSON path such as `$.blocks[0].text`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Names that are neither variables nor existing secrets.
    #[error("unknown template variable{} {}; valid names: {}", if .unknown.len() > 1 { "s" } else { "" }, .unknown.join(", "), .valid.join(", "))]
    Unknown {
        /// The unknown names.
        unknown: Vec<String>,
        /// Every valid name (variables, `artifact_metadata.KEY`, the entity's secrets).
        valid: Vec<String>,
    },
}

/// A piece of a template string.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Reference(String),
}

/// A parsed, checked template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    tree: Value,
    references: Vec<String>,
}

/// How one reference resolves when rendering.
pub enum Resolved<'a> {
    /// An event variable's value.
    Variable(&'a Value),
    /// The name is a secret: rendered as the placeholder the host fills in on the way out.
    Secret,
}

impl Template {
    /// Parses a template and checks its syntax (every `${...}` well formed).
    pub fn parse(tree: Value) -> Result<Self, TemplateError> {
        let mut references = Vec::new();
        collect(&tree, "$", &mut references)?;
        references.sort();
        references.dedup();
        Ok(Self { tree, references })
    }

    /// Checks that every referenced name is a variable or one of the entity's `secrets`; unknown
    /// names are an error listing every valid name. Done when an automation is saved (a stored
    /// template whose secret was deleted since still loads, and fails at delivery).
    pub fn check_names(&self, secrets: &[String]) -> Result<(), TemplateError> {
        let unknown: Vec<String> = self
            .references
            .iter()
            .filter(|name| !variables::is_variable(name) && !secrets.contains(name))
            .cloned()
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut valid: Vec<String> = variables::VARIABLE_NAMES
            .iter()
            .map(|n| n.to_string())
            .collect();
        valid.push(format!("{}KEY", variables::METADATA_PREFIX));
        valid.extend(secrets.iter().cloned());
        Err(TemplateError::Unknown { unknown, valid })
    }

    /// Every name the template references.
    pub fn references(&self) -> &[String] {
        &self.references
    }

    /// The template as JSON.
    pub fn tree(&self) -> &Value {
        &self.tree
    }

    /// Renders the template. `resolve` returns `None` for a name that has no value now (a
    /// variable that does not apply, or a secret deleted since): it renders as `""`.
    pub fn render<'a>(&self, resolve: impl Fn(&str) -> Option<Resolved<'a>>) -> Value {
        render_value(&self.tree, &resolve)
    }
}

fn collect(value: &Value, path: &str, out: &mut Vec<String>) -> Result<(), TemplateError> {
    match value {
        Value::String(s) => {
            for piece in split(s).map_err(|message| TemplateError::Syntax {
                path: path.into(),
                message,
            })? {
                if let Piece::Reference(name) = piece {
                    out.push(name);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, &format!("{path}[{i}]"), out)?;
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                collect(item, &format!("{path}.{key}"), out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Splits a template string into text and `${name}` references.
fn split(s: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(index) = rest.find('$') {
        text.push_str(&rest[..index]);
        let after = &rest[index..];
        if let Some(tail) = after.strip_prefix("$${") {
            text.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in {s:?}"))?;
            let name = &tail[..end];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
            if !valid {
                return Err(format!("`${{{name}}}` is not a valid variable reference"));
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Reference(name.to_string()));
            rest = &tail[end + 1..];
        } else {
            text.push('$');
            rest = &after[1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn render_value<'a>(value: &Value, resolve: &impl Fn(&str) -> Option<Resolved<'a>>) -> Value {
    match value {
        Value::String(s) => render_string(s, resolve),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_value(v, resolve)).collect())
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), render_value(v, resolve)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_string<'a>(s: &str, resolve: &impl Fn(&str) -> Option<Resolved<'a>>) -> Value {
    // Strings were checked at parse time; one that no longer splits is kept as it is.
    let Ok(pieces) = split(s) else {
        return Value::String(s.to_string());
    };
    if let [Piece::Reference(name)] = pieces.as_slice()
        && let Some(Resolved::Variable(value @ (Value::Object(_) | Value::Array(_)))) =
            resolve(name)
    {
        return value.clone();
    }
    let mut out = String::with_capacity(s.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Reference(name) => match resolve(&name) {
                Some(Resolved::Variable(Value::String(text))) => out.push_str(text),
                Some(Resolved::Variable(Value::Null)) | None => {}
                Some(Resolved::Variable(other)) => out.push_str(&other.to_string()),
                Some(Resolved::Secret) => out.push_str(&crate::engine::secret_placeholder(&name)),
            },
        }
    }
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: Value, vars: &Value) -> Value {
        let t = Template::parse(template).unwrap();
        t.check_names(&["API_KEY".into()]).unwrap();
        t.render(|name| match vars.get(name) {
            Some(v) => Some(Resolved::Variable(v)),
            None if name == "API_KEY" => Some(Resolved::Secret),
            None => None,
        })
    }

    #[test]
    fn hostile_values_stay_strings() {
        let author = "\"}],\"x\":\"\n\\ ${event_type} ünï";
        let out = render(
            json!({"a": "by ${event_author}!", "b": ["${event_author}"]}),
            &json!({"event_author": author}),
        );
        assert_eq!(out["a"], format!("by {author}!"));
        assert_eq!(out["b"][0], author);
        let text = serde_json::to_string(&out).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), out);
    }

    #[test]
    fn structured_values_and_escapes() {
        let out = render(
            json!({"v": "${metric_values}", "lit": "$${event_type} costs $5", "n": "${artifact_version_index}", "k": 3}),
            &json!({"metric_values": {"loss": [1, 2]}, "artifact_version_index": 4}),
        );
        assert_eq!(
            out,
            json!({"v": {"loss": [1, 2]}, "lit": "${event_type} costs $5", "n": "4", "k": 3})
        );
    }

    #[test]
    fn unknown_names_and_bad_syntax_are_rejected() {
        let e = Template::parse(json!({"a": "${nope}"}))
            .unwrap()
            .check_names(&[])
            .unwrap_err();
        assert!(
            e.to_string().contains("nope") && e.to_string().contains("event_type"),
            "{e}"
        );
        let e = Template::parse(json!({"a": {"b": ["${event_type"]}})).unwrap_err();
        assert!(e.to_string().starts_with("$.a.b[0]:"), "{e}");
        Template::parse(json!({"a": "${artifact_metadata.acc}"}))
            .unwrap()
            .check_names(&[])
            .unwrap();
    }
}
