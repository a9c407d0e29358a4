//! What a plugin says about itself: name, version, default payload, the integration kinds it
//! sends through. (The config schema is derived from [`Action::Config`](crate::Action::Config).)

use serde_json::Value;

/// What a plugin says about itself (see [`Action::describe`](crate::Action::describe)).
///
/// # Example
///
/// ```no_run
/// use herald_sdk::PluginInfo;
///
/// let info = PluginInfo::new("pager", "1.2.0", "Pages the on-call engineer.")
///     .integration_kinds(&["webhook"]);
/// ```
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) default_payload: Option<Value>,
    pub(crate) integration_kinds: Vec<String>,
}

impl PluginInfo {
    /// A plugin called `name` (lowercase letters, digits and `-`) at `version`, described in one
    /// sentence. It needs no integration until [`PluginInfo::integration_kinds`] says so.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let info = herald_sdk::PluginInfo::new("pager", env!("CARGO_PKG_VERSION"), "Pages the on-call engineer.");
    /// ```
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            default_payload: None,
            integration_kinds: Vec::new(),
        }
    }

    /// Sets the payload template used when an automation gives none.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let info = herald_sdk::PluginInfo::new("pager", "1.0.0", "Pages the on-call engineer.")
    ///     .default_payload(serde_json::json!({"summary": "${event_type} in ${project_name}"}));
    /// ```
    pub fn default_payload(mut self, template: Value) -> Self {
        self.default_payload = Some(template);
        self
    }

    /// Sets the integration kinds this action can send through.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let info = herald_sdk::PluginInfo::new("notify", "1.0.0", "Posts to chat.")
    ///     .integration_kinds(&["slack", "teams"]);
    /// ```
    pub fn integration_kinds(mut self, kinds: &[&str]) -> Self {
        self.integration_kinds = kinds.iter().map(|k| k.to_string()).collect();
        self
    }
}
