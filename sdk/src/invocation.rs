//! One triggering of one automation by one event: ids, the event's variables, the rendered
//! payload, the action config, the integration URL, and text templates over the variables.

use serde_json::{Map, Value};

use crate::__bindings::herald::plugin::types as wit;
use crate::ActionError;

/// One triggering of one automation by one event.
#[derive(Debug)]
pub struct Invocation {
    raw: wit::Invocation,
    variables: std::cell::OnceCell<Map<String, Value>>,
}

impl Invocation {
    /// Wraps what the host passed to `execute`.
    pub(crate) fn from_raw(raw: wit::Invocation) -> Self {
        Self {
            raw,
            variables: Default::default(),
        }
    }
}

impl Invocation {
    /// The execution id: the same on every retry, so receivers can deduplicate on it.
    pub fn execution_id(&self) -> &str {
        &self.raw.execution_id
    }

    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.raw.attempt
    }

    /// The name of the automation that fired.
    pub fn automation_name(&self) -> &str {
        &self.raw.automation_name
    }

    /// The event type, e.g. `LINK_ARTIFACT`.
    pub fn event_type(&self) -> &str {
        &self.raw.event_type
    }

    /// Every event variable, name → value (parsed on first use).
    pub fn variables(&self) -> &Map<String, Value> {
        self.variables
            .get_or_init(|| match serde_json::from_str(&self.raw.variables) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            })
    }

    /// One variable's value, if the event has it.
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.variables().get(name)
    }

    /// One variable as text: strings as they are, numbers and other values as JSON, and `""` for
    /// a variable the event does not have.
    pub fn var_str(&self, name: &str) -> String {
        match self.var(name) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }

    /// Every variable as one JSON object text, as the host sent it.
    pub fn variables_json(&self) -> String {
        self.raw.variables.clone()
    }

    /// The rendered payload template (JSON text), if the automation has one.
    pub fn payload(&self) -> Option<&str> {
        self.raw.payload.as_deref()
    }

    /// The action config as the host passed it (JSON text); `execute` also receives it parsed.
    pub fn config_json(&self) -> &str {
        &self.raw.config
    }

    /// The URL of the integration bound to the automation, or [`ActionError::Invalid`] when the
    /// automation has none.
    pub fn integration_url(&self) -> Result<&str, ActionError> {
        self.raw
            .integration_url
            .as_deref()
            .ok_or_else(|| ActionError::Invalid("this action needs an integration".into()))
    }
}

impl Invocation {
    /// Renders a text template from the config (a chat title or message): each `${name}` becomes
    /// the variable's text passed through `escape`, so that event data cannot add markup to the
    /// text the operator wrote; `$${` is a literal `${`; an unknown name renders as `""`.
    ///
    /// ```ignore
    /// let title = invocation.render_text("Run ${run_name} failed", text::slack_mrkdwn);
    /// ```
    pub fn render_text(&self, template: &str, escape: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(index) = rest.find('$') {
            out.push_str(&rest[..index]);
            let after = &rest[index..];
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
            } else if let Some((name, tail)) = after
                .strip_prefix("${")
                .and_then(|tail| tail.split_once('}'))
            {
                out.push_str(&escape(&self.var_str(name)));
                rest = tail;
            } else {
                out.push('$');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        out
    }
}
