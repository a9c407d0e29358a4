//! Payload templates: JSON documents whose string values may reference `${name}` (an event
//! variable or an entity secret). Rendering works on the parsed tree, so no value can break or
//! inject into the document; `$${` is a literal `${`. A rendered document is bounded
//! ([`MAX_RENDERED_BYTES`]) while it is rendered, so a short template cannot multiply a large
//! event into an unbounded payload.

use serde_json::Value;

use super::variables;
use crate::secrets::refs::RefTag;

/// The most a rendered payload may hold, in bytes of its strings, numbers and keys (about its
/// JSON size). A payload over it fails its execution as `invalid`.
pub const MAX_RENDERED_BYTES: usize = 1 << 20;

/// A rendered payload went over [`MAX_RENDERED_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the rendered payload is over the {limit} byte limit")]
pub struct TooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

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
    /// Names that are neither variables nor secrets the template may use. The message lists
    /// the variables and never a secret's name (whether a secret of that name exists is not
    /// told either: a member may use the secrets an integration grants, not discover others).
    #[error("{} {}: not a variable{}; valid names: {}", if .unknown.len() > 1 { "references" } else { "reference" }, .unknown.iter().map(|n| format!("${{{n}}}")).collect::<Vec<_>>().join(", "), match .integration { Some(i) => format!(" nor a secret integration {i} grants"), None => " nor a secret this template may use".to_string() }, .valid.join(", "))]
    Unknown {
        /// The unknown names.
        unknown: Vec<String>,
        /// Every variable name (with `artifact_metadata.KEY`).
        valid: Vec<String>,
        /// The integration whose grants were checked, if any.
        integration: Option<String>,
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
    /// The name is a secret: rendered as the execution's placeholder, filled in on the way out.
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

    /// Checks that every referenced name is a variable or one of `secrets` (what the template
    /// may use: the grants of `integration`); unknown names are an error listing every variable.
    /// Done when an automation is saved (a stored template whose grant was withdrawn since still
    /// loads, and fails at delivery).
    pub fn check_names(
        &self,
        secrets: &[String],
        integration: Option<&str>,
    ) -> Result<(), TemplateError> {
        let unknown: Vec<String> = self
            .references
            .iter()
            .filter(|name| !variables::is_variable(name) && !secrets.contains(name))
            .cloned()
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut valid: Vec<String> = variables::variable_names().map(str::to_string).collect();
        valid.push(format!("{}KEY", variables::METADATA_PREFIX));
        Err(TemplateError::Unknown {
            unknown,
            valid,
            integration: integration.map(str::to_string),
        })
    }

    /// Every name the template references.
    pub fn references(&self) -> &[String] {
        &self.references
    }

    /// The template as JSON.
    pub fn tree(&self) -> &Value {
        &self.tree
    }

    /// Renders the template; secrets become placeholders tagged with `tag` (the execution's).
    /// `resolve` returns `None` for a name that has no value now (a variable that does not apply,
    /// or a secret deleted since): it renders as `""`. Stops as soon as the output passes
    /// [`MAX_RENDERED_BYTES`].
    pub fn render<'a>(
        &self,
        tag: &RefTag,
        resolve: impl Fn(&str) -> Option<Resolved<'a>>,
    ) -> Result<Value, TooLarge> {
        let mut renderer = Renderer {
            tag,
            resolve,
            budget: MAX_RENDERED_BYTES,
        };
        renderer.value(&self.tree)
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

/// Renders a tree while counting what it produces against a budget.
struct Renderer<'t, R> {
    tag: &'t RefTag,
    resolve: R,
    budget: usize,
}

impl<'a, R: Fn(&str) -> Option<Resolved<'a>>> Renderer<'_, R> {
    fn spend(&mut self, bytes: usize) -> Result<(), TooLarge> {
        self.budget = self.budget.checked_sub(bytes).ok_or(TooLarge {
            limit: MAX_RENDERED_BYTES,
        })?;
        Ok(())
    }

    fn value(&mut self, value: &Value) -> Result<Value, TooLarge> {
        Ok(match value {
            Value::String(s) => self.string(s)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.value(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(fields) => {
                let mut out = serde_json::Map::with_capacity(fields.len());
                for (k, v) in fields {
                    self.spend(k.len())?;
                    out.insert(k.clone(), self.value(v)?);
                }
                Value::Object(out)
            }
            other => {
                self.spend(8)?;
                other.clone()
            }
        })
    }

    fn string(&mut self, s: &str) -> Result<Value, TooLarge> {
        // Strings were checked at parse time; one that no longer splits is kept as it is.
        let Ok(pieces) = split(s) else {
            self.spend(s.len())?;
            return Ok(Value::String(s.to_string()));
        };
        if let [Piece::Reference(name)] = pieces.as_slice()
            && let Some(Resolved::Variable(value @ (Value::Object(_) | Value::Array(_)))) =
                (self.resolve)(name)
        {
            self.spend(serde_json::to_string(value).map_or(usize::MAX, |t| t.len()))?;
            return Ok(value.clone());
        }
        let mut out = String::with_capacity(s.len());
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    self.spend(text.len())?;
                    out.push_str(&text);
                }
                Piece::Reference(name) => match (self.resolve)(&name) {
                    Some(Resolved::Variable(Value::String(text))) => {
                        self.spend(text.len())?;
                        out.push_str(text);
                    }
                    Some(Resolved::Variable(Value::Null)) | None => {}
                    Some(Resolved::Variable(other)) => {
                        let text = other.to_string();
                        self.spend(text.len())?;
                        out.push_str(&text);
                    }
                    Some(Resolved::Secret) => {
                        let placeholder = self.tag.placeholder(&name);
                        self.spend(placeholder.len())?;
                        out.push_str(&placeholder);
                    }
                },
            }
        }
        Ok(Value::String(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tag() -> RefTag {
        crate::secrets::refs::RefKey::derive(&[1; 32]).tag("execution")
    }

    fn render(template: Value, vars: &Value) -> Value {
        let t = Template::parse(template).unwrap();
        t.check_names(&["API_KEY".into()], None).unwrap();
        t.render(&tag(), |name| match vars.get(name) {
            Some(v) => Some(Resolved::Variable(v)),
            None if name == "API_KEY" => Some(Resolved::Secret),
            None => None,
        })
        .unwrap()
    }

    #[test]
    fn secrets_render_as_this_executions_placeholders() {
        let out = render(json!({"k": "Bearer ${API_KEY}"}), &json!({}));
        assert_eq!(out["k"], format!("Bearer {}", tag().placeholder("API_KEY")));
    }

    #[test]
    fn rendering_stops_at_the_size_limit() {
        let big = "x".repeat(100 << 10);
        let template = Template::parse(json!({"a": "${event_author}".repeat(11)})).unwrap();
        let vars = json!({"event_author": big});
        let resolve = |name: &str| vars.get(name).map(Resolved::Variable);
        assert_eq!(
            template.render(&tag(), resolve),
            Err(TooLarge {
                limit: MAX_RENDERED_BYTES
            })
        );
        let template = Template::parse(json!({"a": "${event_author}".repeat(10)})).unwrap();
        assert!(template.render(&tag(), resolve).is_ok());
    }

    #[test]
    fn the_unknown_name_error_lists_no_secret() {
        let e = Template::parse(json!({"a": "${nope}"}))
            .unwrap()
            .check_names(&["HIDDEN_SECRET".into()], Some("hook"))
            .unwrap_err();
        assert!(!e.to_string().contains("HIDDEN_SECRET"), "{e}");
        assert!(
            e.to_string().starts_with(
                "reference ${nope}: not a variable nor a secret integration hook grants"
            ),
            "{e}"
        );
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
            .check_names(&[], None)
            .unwrap_err();
        assert!(
            e.to_string().contains("nope") && e.to_string().contains("event_type"),
            "{e}"
        );
        let e = Template::parse(json!({"a": {"b": ["${event_type"]}})).unwrap_err();
        assert!(e.to_string().starts_with("$.a.b[0]:"), "{e}");
        Template::parse(json!({"a": "${artifact_metadata.acc}"}))
            .unwrap()
            .check_names(&[], None)
            .unwrap();
    }
}
