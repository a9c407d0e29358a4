//! `herald-sdk`: write a Herald action plugin as a plain Rust type.
//!
//! A plugin is a WebAssembly component that implements the `herald:plugin/action` world
//! (`wit/plugin.wit`). This crate hides the generated bindings: you implement [`Action`] on a type,
//! export it with [`export_action!`], and build with
//! `cargo build --target wasm32-wasip2 --release`. The only way out of the sandbox is the host:
//! [`http`] (the host checks the destination, adds credentials and signatures), [`log`] and
//! [`launch`].
//!
//! # Example
//!
//! A complete plugin that posts the rendered payload (or a small default document) to the
//! integration's URL:
//!
//! ```no_run
//! use herald_sdk::{Action, ActionError, Invocation, Outcome, PluginInfo, http};
//! use serde_json::json;
//!
//! struct Echo;
//!
//! impl Action for Echo {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("echo", env!("CARGO_PKG_VERSION"), "Posts the event to a URL.")
//!             .integration_kinds(&["webhook"])
//!     }
//!
//!     fn execute(invocation: Invocation) -> Result<Outcome, ActionError> {
//!         let url = invocation.integration_url()?;
//!         let body = match invocation.payload() {
//!             Some(rendered) => rendered.as_bytes().to_vec(),
//!             None => serde_json::to_vec(&json!({
//!                 "event": invocation.event_type(),
//!                 "author": invocation.var_str("event_author"),
//!             }))
//!             .expect("a JSON value always serialises"),
//!         };
//!         let response = http::Request::post(url).json_bytes(body).send()?;
//!         let response = response.classify()?;
//!         Ok(Outcome::delivered(response.status))
//!     }
//! }
//!
//! herald_sdk::export_action!(Echo);
//! ```

// The generated bindings name this crate by its external path so that `export_action!` works
// in plugin crates; this alias makes the same path resolve inside the SDK itself.
extern crate self as herald_sdk;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

#[doc(hidden)]
pub mod __bindings {
    //! The wit-bindgen output for `herald:plugin/action`; not part of the SDK's API.
    wit_bindgen::generate!({
        world: "action",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_action_world",
        default_bindings_module: "herald_sdk::__bindings",
        runtime_path: "herald_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

use __bindings::herald::plugin::types as wit;

/// Exports a type implementing [`Action`] as the plugin's entry points.
///
/// Use it once per plugin crate, at the crate root: `herald_sdk::export_action!(MyAction);`.
#[macro_export]
macro_rules! export_action {
    ($ty:ty) => {
        #[doc(hidden)]
        struct __HeraldExport;

        impl $crate::__bindings::Guest for __HeraldExport {
            fn describe() -> $crate::__bindings::PluginInfo {
                $crate::__export::describe::<$ty>()
            }
            fn validate_config(config: ::std::string::String) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__export::validate_config::<$ty>(config)
            }
            fn execute(
                invocation: $crate::__bindings::Invocation,
            ) -> ::core::result::Result<$crate::__bindings::Outcome, $crate::__bindings::ActionError> {
                $crate::__export::execute::<$ty>(invocation)
            }
        }

        $crate::__bindings::__export_action_world!(__HeraldExport with_types_in $crate::__bindings);
    };
}

/// An action plugin. Implement it on a plain type and export the type with [`export_action!`].
pub trait Action {
    /// Says what the plugin is; called once when the host loads it. Must not do I/O.
    fn describe() -> PluginInfo;

    /// Checks an action config when an automation is saved. The error text is shown to the user
    /// (the API answers 422 with it). The default accepts any JSON object.
    fn validate_config(config: &Value) -> Result<(), String> {
        if config.is_object() {
            Ok(())
        } else {
            Err("the action config must be a JSON object".into())
        }
    }

    /// Runs the action once for one event.
    fn execute(invocation: Invocation) -> Result<Outcome, ActionError>;
}

/// What a plugin says about itself (see [`Action::describe`]).
#[derive(Debug, Clone)]
pub struct PluginInfo {
    name: String,
    version: String,
    description: String,
    config_schema: Value,
    default_payload: Option<Value>,
    integration_kinds: Vec<String>,
}

impl PluginInfo {
    /// A plugin called `name` (lowercase letters, digits and `-`) at `version`, described in one
    /// sentence. Its config schema starts as "any object" and it needs no integration.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            config_schema: serde_json::json!({"type": "object"}),
            default_payload: None,
            integration_kinds: Vec::new(),
        }
    }

    /// Sets the JSON Schema of the action config (shown by `GET /v1/plugins`).
    pub fn config_schema(mut self, schema: Value) -> Self {
        self.config_schema = schema;
        self
    }

    /// Sets the payload template used when an automation gives none.
    pub fn default_payload(mut self, template: Value) -> Self {
        self.default_payload = Some(template);
        self
    }

    /// Sets the integration kinds this action can send through.
    pub fn integration_kinds(mut self, kinds: &[&str]) -> Self {
        self.integration_kinds = kinds.iter().map(|k| k.to_string()).collect();
        self
    }
}

/// One triggering of one automation by one event.
#[derive(Debug)]
pub struct Invocation {
    raw: wit::Invocation,
    variables: std::cell::OnceCell<Map<String, Value>>,
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

    /// The action config, raw JSON text.
    pub fn config_json(&self) -> &str {
        &self.raw.config
    }

    /// The action config, deserialised; a config that does not fit is [`ActionError::Invalid`].
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, ActionError> {
        serde_json::from_str(&self.raw.config)
            .map_err(|e| ActionError::Invalid(format!("action config: {e}")))
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

/// Escaping of client data for the text formats chat services render.
pub mod text {
    /// For Slack `mrkdwn` (and a message's top-level `text`): `&`, `<` and `>` as entities, as
    /// Slack documents, so that `<!channel>`, `<@user>` or a link cannot be injected.
    pub fn slack_mrkdwn(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    /// For Markdown as Microsoft Teams renders it (connector cards with `"markdown": true`, and
    /// Adaptive Card `TextBlock` and `FactSet` text): the marks that make emphasis, code and links
    /// escaped with a backslash, and `<`, `>` and `&` as entities (connector cards also render
    /// HTML, and `<at>` makes a mention).
    pub fn teams_markdown(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// No escaping: for plain-text fields (Slack `plain_text`).
    pub fn plain(text: &str) -> String {
        text.to_string()
    }
}

/// How serious a notification is, as chat plugins take it in their config
/// (`"severity": "info" | "warn" | "error"`, default `info`).
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

impl Severity {
    /// `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// The facts of an event, as chat messages and cards show them.
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
}

impl Invocation {
    /// The facts every notification shows: event type, author, where, and what (the artifact
    /// version string, or the run and its state).
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
        }
    }
}

/// What a successful execution reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One line for the execution record.
    pub summary: String,
    /// The status of the response that settled it, if a request was made.
    pub status: Option<u16>,
}

impl Outcome {
    /// "delivered: <status>".
    pub fn delivered(status: u16) -> Self {
        Self {
            summary: format!("delivered: {status}"),
            status: Some(status),
        }
    }

    /// A free-form summary, without a response status.
    pub fn note(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            status: None,
        }
    }
}

/// Why an execution failed; the variant decides whether the host retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The input can never work: never retried.
    Invalid(String),
    /// The receiver refused permanently: never retried.
    Rejected(String),
    /// Worth retrying, after the receiver's `Retry-After` if it gave one.
    Transient {
        /// Why the attempt failed.
        message: String,
        /// The receiver's `Retry-After` value, verbatim.
        retry_after: Option<String>,
    },
}

impl ActionError {
    /// A transient failure without a `Retry-After`.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(m) => write!(f, "invalid: {m}"),
            Self::Rejected(m) => write!(f, "rejected: {m}"),
            Self::Transient { message, .. } => write!(f, "transient: {message}"),
        }
    }
}

impl std::error::Error for ActionError {}

/// HTTP through the host: the only network a plugin has.
pub mod http {
    use super::ActionError;
    use crate::__bindings::herald::plugin::http as wit;

    pub use wit::HttpError;

    /// A request to send through the host (see [`Request::post`]).
    #[derive(Debug, Clone)]
    pub struct Request {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Request {
        /// A request with any method.
        pub fn new(method: &str, url: &str) -> Self {
            Self {
                method: method.into(),
                url: url.into(),
                headers: Vec::new(),
                body: Vec::new(),
            }
        }

        /// A `POST` request.
        pub fn post(url: &str) -> Self {
            Self::new("POST", url)
        }

        /// Adds a header.
        pub fn header(mut self, name: &str, value: &str) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }

        /// Sets the body to these JSON bytes, sent as they are, with `Content-Type: application/json`.
        pub fn json_bytes(mut self, body: impl Into<Vec<u8>>) -> Self {
            self.body = body.into();
            self.header("content-type", "application/json")
        }

        /// Sets the body to a serialised JSON value, with `Content-Type: application/json`.
        pub fn json(self, value: &serde_json::Value) -> Self {
            let bytes = serde_json::to_vec(value).expect("a JSON value always serialises");
            self.json_bytes(bytes)
        }

        /// Sets a raw body.
        pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
            self.body = body.into();
            self
        }

        /// Asks the host to send the request. Transport failures become [`ActionError`]s: a
        /// denied destination or a malformed request is `Invalid`, a response too large is
        /// `Rejected`, and network trouble is `Transient`.
        pub fn send(self) -> Result<Response, ActionError> {
            self.try_send().map_err(http_error_to_action_error)
        }

        /// Like [`Request::send`], but returns the host's error unclassified.
        pub fn try_send(self) -> Result<Response, HttpError> {
            let request = wit::Request {
                method: self.method,
                url: self.url,
                headers: self
                    .headers
                    .into_iter()
                    .map(|(name, value)| crate::wit::Header { name, value })
                    .collect(),
                body: self.body,
            };
            wit::send(&request).map(|r| Response {
                status: r.status,
                headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                body: r.body,
            })
        }
    }

    /// Turns a host transport error into the action error the host should act on.
    pub fn http_error_to_action_error(error: HttpError) -> ActionError {
        match error {
            HttpError::Denied(m) => ActionError::Invalid(format!("destination denied: {m}")),
            HttpError::InvalidRequest(m) => ActionError::Invalid(format!("invalid request: {m}")),
            HttpError::LimitExceeded(m) => ActionError::Invalid(format!("limit exceeded: {m}")),
            HttpError::ResponseTooLarge(m) => {
                ActionError::Rejected(format!("response too large: {m}"))
            }
            HttpError::Dns(m) => ActionError::transient(format!("dns: {m}")),
            HttpError::Connect(m) => ActionError::transient(format!("connect: {m}")),
            HttpError::Timeout(m) => ActionError::transient(format!("timeout: {m}")),
            HttpError::Other(m) => ActionError::transient(m),
        }
    }

    /// The receiver's answer.
    #[derive(Debug, Clone)]
    pub struct Response {
        /// The status code.
        pub status: u16,
        /// The headers, in the order received.
        pub headers: Vec<(String, String)>,
        /// The body.
        pub body: Vec<u8>,
    }

    impl Response {
        /// The first header of that name (case-insensitive).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        /// The body as text (lossy UTF-8).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        /// The body parsed as JSON, if it is JSON.
        pub fn json(&self) -> Option<serde_json::Value> {
            serde_json::from_slice(&self.body).ok()
        }

        /// Classifies the status the way Herald's delivery does: 2xx is success; 408, 429 and
        /// 5xx are transient (with the receiver's `Retry-After`); 3xx is rejected (redirects are
        /// never followed); any other 4xx is rejected.
        pub fn classify(self) -> Result<Response, ActionError> {
            let status = self.status;
            let detail = || {
                let text = self.text();
                let text = text.trim();
                if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {}", truncate(text, 200))
                }
            };
            match status {
                200..=299 => Ok(self),
                408 | 429 | 500..=599 => Err(ActionError::Transient {
                    message: detail(),
                    retry_after: self.header("retry-after").map(str::to_owned),
                }),
                300..=399 => Err(ActionError::Rejected(format!(
                    "{} (redirect to {}; redirects are not followed)",
                    detail(),
                    self.header("location").unwrap_or("nowhere")
                ))),
                _ => Err(ActionError::Rejected(detail())),
            }
        }
    }

    fn truncate(text: &str, max_chars: usize) -> &str {
        match text.char_indices().nth(max_chars) {
            Some((index, _)) => &text[..index],
            None => text,
        }
    }
}

/// Log lines attached to the execution record.
pub mod log {
    use crate::__bindings::herald::plugin::log::{Level, write};

    /// Detail for plugin authors.
    pub fn debug(message: &str) {
        write(Level::Debug, message)
    }
    /// Normal progress.
    pub fn info(message: &str) {
        write(Level::Info, message)
    }
    /// Something odd that did not stop the action.
    pub fn warn(message: &str) {
        write(Level::Warn, message)
    }
    /// Something that made the action fail.
    pub fn error(message: &str) {
        write(Level::Error, message)
    }
}

/// Launch queues.
pub mod launch {
    use crate::__bindings::herald::plugin::launch as wit;

    /// Enqueues a run of `job` on `queue` with config overrides; returns the queue item's id.
    pub fn enqueue(
        queue: &str,
        job: &str,
        config: &serde_json::Value,
        priority: i32,
    ) -> Result<String, String> {
        wit::enqueue(&wit::RunRequest {
            queue: queue.into(),
            job: job.into(),
            config: config.to_string(),
            priority,
        })
    }
}

#[doc(hidden)]
pub mod __export {
    //! Glue between the generated `Guest` trait and [`Action`]; used by [`export_action!`].
    use super::*;
    use crate::__bindings as b;

    pub fn describe<A: Action>() -> b::PluginInfo {
        let info = A::describe();
        b::PluginInfo {
            name: info.name,
            version: info.version,
            description: info.description,
            config_schema: info.config_schema.to_string(),
            default_payload: info.default_payload.map(|p| p.to_string()),
            integration_kinds: info.integration_kinds,
        }
    }

    pub fn validate_config<A: Action>(config: String) -> Result<(), String> {
        let value: Value =
            serde_json::from_str(&config).map_err(|e| format!("the config is not JSON: {e}"))?;
        A::validate_config(&value)
    }

    pub fn execute<A: Action>(invocation: b::Invocation) -> Result<b::Outcome, b::ActionError> {
        let invocation = Invocation {
            raw: invocation,
            variables: Default::default(),
        };
        match A::execute(invocation) {
            Ok(outcome) => Ok(b::Outcome {
                summary: outcome.summary,
                status: outcome.status,
            }),
            Err(ActionError::Invalid(m)) => Err(b::ActionError::Invalid(m)),
            Err(ActionError::Rejected(m)) => Err(b::ActionError::Rejected(m)),
            Err(ActionError::Transient {
                message,
                retry_after,
            }) => Err(b::ActionError::Transient(wit::TransientFailure {
                message,
                retry_after,
            })),
        }
    }
}
