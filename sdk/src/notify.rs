//! What chat notifications share: a severity from the config, and the facts of an event.

use crate::Invocation;

/// How serious a notification is, as chat plugins take it in their config
/// (`"severity": "info" | "warn" | "error"`, default `info`).
///
/// # Example
///
/// ```no_run
/// use herald_sdk::Severity;
///
/// let color = match Severity::Warn {
///     Severity::Info => "#2eb67d",
///     Severity::Warn => "#ecb22e",
///     Severity::Error => "#e01e5a",
/// };
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    #[default]
    Info,
    /// Something to look at.
    Warn,
    /// Something is wrong.
    Error,
}

/// A plain string enum (not one `const` per documented variant), so that a wrong value gets a
/// one-line error from the host's schema check.
impl schemars::JsonSchema for Severity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Severity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": ["info", "warn", "error"],
            "default": "info",
        })
    }
}

impl Severity {
    /// `info`, `warn` or `error`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let label = herald_sdk::Severity::Error.as_str(); // "error"
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// The facts of an event, as chat messages and cards show them.
///
/// # Example
///
/// ```no_run
/// # fn f(invocation: herald_sdk::Invocation) {
/// let facts = invocation.facts();
/// let line = format!("{} in {} by {}", facts.event_type, facts.place, facts.author);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    /// `LINK_ARTIFACT`, `RUN_STATE`, ...
    pub event_type: String,
    /// Who caused it (may be empty).
    pub author: String,
    /// `entity/project`.
    pub place: String,
    /// The subject: the artifact version string, or the run's name and state.
    pub subject: (String, String),
    /// For a run-metric automation, what crossed and by how much, e.g. `loss = 0.62 (average of
    /// loss over the last 5 values > 0.5) at step 1200`; empty otherwise.
    pub metric: String,
}

impl Invocation {
    /// The facts every notification shows: event type, author, where, and what (the artifact
    /// version string, or the run and its state).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn f(invocation: herald_sdk::Invocation) {
    /// let (label, value) = invocation.facts().subject;
    /// # }
    /// ```
    pub fn facts(&self) -> EventFacts {
        let version = self.var_str("artifact_version_string");
        let subject = if !version.is_empty() {
            ("Version".to_string(), version)
        } else {
            let run = self.var_str("run_name");
            let state = self.var_str("run_state");
            let text = if state.is_empty() {
                run
            } else {
                format!("{run} ({state})")
            };
            ("Run".to_string(), text)
        };
        EventFacts {
            event_type: self.event_type().to_string(),
            author: self.var_str("event_author"),
            place: format!(
                "{}/{}",
                self.var_str("entity_name"),
                self.var_str("project_name")
            ),
            subject,
            metric: self.metric_summary(),
        }
    }

    /// What crossed and by how much, from the metric variables; empty for other events.
    fn metric_summary(&self) -> String {
        let name = self.var_str("metric_name");
        if name.is_empty() {
            return String::new();
        }
        let step = self.var_str("step");
        format!(
            "{name} = {} ({}){}",
            self.var_str("metric_value"),
            self.var_str("metric_condition"),
            if step.is_empty() {
                String::new()
            } else {
                format!(" at step {step}")
            }
        )
    }
}
