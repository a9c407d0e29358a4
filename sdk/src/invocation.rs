//! One triggering of one automation by one event: ids, the event's variables, the rendered
//! payload, the action config, the integration URL, and text templates over the variables.

use serde_json::{Map, Value};

use crate::__bindings::herald::plugin::types as wit;
use crate::ActionError;

/// One triggering of one automation by one event.
///
/// # Example
///
/// ```no_run
/// # fn f(invocation: herald_sdk::Invocation) {
/// herald_sdk::info!(
///     "{} (attempt {}) for {}",
///     invocation.event_type(),
///     invocation.attempt(),
///     invocation.automation_name()
/// );
/// # }
/// ```
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
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// // Stable across retries: a receiver can deduplicate on it.
    /// let request = herald_sdk::http::Request::post("https://api.example.com/jobs")
    ///     .header("idempotency-key", invocation.execution_id());
    /// # }
    /// ```
    pub fn execution_id(&self) -> &str {
        &self.raw.execution_id
    }

    /// 1 for the first attempt, 2 for the first retry, and so on.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// if invocation.attempt() > 1 {
    ///     herald_sdk::info!("retry {}", invocation.attempt() - 1);
    /// }
    /// # }
    /// ```
    pub fn attempt(&self) -> u32 {
        self.raw.attempt
    }

    /// The name of the automation that fired.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// let title = format!("[{}] fired", invocation.automation_name());
    /// # }
    /// ```
    pub fn automation_name(&self) -> &str {
        &self.raw.automation_name
    }

    /// The event type, e.g. `LINK_ARTIFACT`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// let is_run = invocation.event_type().starts_with("RUN_");
    /// # }
    /// ```
    pub fn event_type(&self) -> &str {
        &self.raw.event_type
    }

    /// Every event variable, name → value (parsed on first use).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// for (name, value) in invocation.variables() {
    ///     herald_sdk::debug!("{name} = {value}");
    /// }
    /// # }
    /// ```
    pub fn variables(&self) -> &Map<String, Value> {
        self.variables
            .get_or_init(|| match serde_json::from_str(&self.raw.variables) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            })
    }

    /// One variable's value, if the event has it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// let step = invocation.var("step").and_then(|v| v.as_u64());
    /// # }
    /// ```
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.variables().get(name)
    }

    /// One variable as text: strings as they are, numbers and other values as JSON, and `""` for
    /// a variable the event does not have.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// let model = invocation.var_str("artifact_version_string"); // "" when it does not apply
    /// # }
    /// ```
    pub fn var_str(&self, name: &str) -> String {
        match self.var(name) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }

    /// Every variable as one JSON object text, as the host sent it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// let body = invocation.variables_json(); // every variable, as one JSON object
    /// # }
    /// ```
    pub fn variables_json(&self) -> String {
        self.raw.variables.clone()
    }

    /// The rendered payload template (JSON text), if the automation has one.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// // Secret references in it are still placeholders: the host fills them in on the way out.
    /// let body = invocation.payload().unwrap_or("{}");
    /// # }
    /// ```
    pub fn payload(&self) -> Option<&str> {
        self.raw.payload.as_deref()
    }

    /// The action config as the host passed it (JSON text); `execute` also receives it parsed.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// herald_sdk::debug!("config: {}", invocation.config_json());
    /// # }
    /// ```
    pub fn config_json(&self) -> &str {
        &self.raw.config
    }

    /// The URL of the integration bound to the automation, or [`ActionError::Invalid`] when the
    /// automation has none.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) -> Result<(), herald_sdk::ActionError> {
    /// // An `invalid` error when the automation has no integration.
    /// let url = invocation.integration_url()?;
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// use herald_sdk::text;
    /// let title = invocation.render_text("Run ${run_name} failed", text::slack_mrkdwn);
    /// # }
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
