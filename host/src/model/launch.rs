//! The launch model: job definitions and references, the launch settings, queue item statuses,
//! and how a run config is merged from a job's defaults and an enqueue's overrides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Launch settings (`[launch]` in the config).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LaunchConfig {
    /// Claims an item may have: when the lease of the last one lapses (its agent died), the item
    /// fails and its run is reported `FAILED`.
    pub max_attempts: u32,
}

impl Default for LaunchConfig {
    fn default() -> Self {
        Self { max_attempts: 3 }
    }
}

/// A job definition as given (`PUT …/jobs/{name}`); each one saved is a new version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// What the job does, for people.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    /// The program and its arguments (run directly, never through a shell).
    #[schema(min_items = 1)]
    pub command: Vec<String>,
    /// Environment variables the process gets, besides Herald's own (`HERALD_RUN_ID`, …).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Defaults of the run config; an enqueue may override the values of these keys only.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
}

impl JobSpec {
    /// Checks what the schema cannot: a non-empty program, sane environment names.
    pub fn check(&self) -> Result<(), String> {
        match self.command.first() {
            None => return Err("command: must name a program".into()),
            Some(program) if program.is_empty() => {
                return Err("command[0]: must not be empty".into());
            }
            Some(_) => {}
        }
        if let Some(arg) = self.command.iter().position(|a| a.contains('\0')) {
            return Err(format!("command[{arg}]: must not contain NUL"));
        }
        for (name, value) in &self.env {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "env.{name}: a name is letters, digits and `_`, not starting with a digit"
                ));
            }
            if name.starts_with("HERALD_") {
                return Err(format!("env.{name}: HERALD_ names are set by the agent"));
            }
            if value.contains('\0') {
                return Err(format!("env.{name}: must not contain NUL"));
            }
        }
        if self.description.chars().count() > 2000 {
            return Err("description: at most 2000 characters".into());
        }
        Ok(())
    }
}

/// How a job is referred to: `name` (its latest version) or `name@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    /// The job's name.
    pub name: String,
    /// A version, or `None` for the latest.
    pub version: Option<u32>,
}

impl JobRef {
    /// Parses `name` or `name@version`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, version) = match text.split_once('@') {
            Some((name, version)) => {
                // Digits only (no sign), at most 999,999,999: exactly what the OpenAPI
                // document's pattern for a job reference says.
                let version = Some(version)
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|v| (1..=999_999_999).contains(v))
                    .ok_or_else(|| {
                        format!("{text:?}: the version after `@` is a number from 1 to 999999999")
                    })?;
                (name, Some(version))
            }
            None => (text, None),
        };
        check_name("job", name)?;
        Ok(Self {
            name: name.to_string(),
            version,
        })
    }
}

impl std::fmt::Display for JobRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(version) => write!(f, "{}@{version}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Checks a job or queue name: 1–128 letters, digits, `-`, `_`, `.`.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{what} name {name:?}: 1 to 128 letters, digits, `-`, `_` or `.`"
        ))
    }
}

/// The run config of an item: the job's defaults with `overrides` laid over them. An override
/// may change the value of a key the job declares, never add one: an automation changes values,
/// not what the job is.
pub fn merge_config(
    defaults: &Map<String, Value>,
    overrides: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let unknown: Vec<&str> = overrides
        .keys()
        .filter(|key| !defaults.contains_key(*key))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "overrides: {} not in the job's config (it has: {})",
            unknown
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if defaults.is_empty() {
                "nothing".to_string()
            } else {
                defaults.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        ));
    }
    let mut merged = defaults.clone();
    merged.extend(overrides.clone());
    Ok(merged)
}

/// Where a queue item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// Waiting for an agent.
    Queued,
    /// An agent holds it and is starting it.
    Claimed,
    /// Its process runs.
    Running,
    /// The process exited with 0.
    Finished,
    /// The process exited with another code, or the item ran out of attempts.
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl ItemStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Claimed => "claimed",
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Claimed,
            Self::Running,
            Self::Finished,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn job_refs_name_a_version_or_the_latest() {
        assert_eq!(
            JobRef::parse("eval@3").unwrap(),
            JobRef {
                name: "eval".into(),
                version: Some(3)
            }
        );
        assert_eq!(JobRef::parse("eval").unwrap().version, None);
        for bad in ["eval@0", "eval@x", "@1", "a b", ""] {
            assert!(JobRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overrides_change_declared_keys_only() {
        let defaults = json!({"model": "latest", "epochs": 3});
        let defaults = defaults.as_object().unwrap();
        let merged = merge_config(defaults, json!({"model": "v7"}).as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(merged), json!({"model": "v7", "epochs": 3}));
        let error =
            merge_config(defaults, json!({"command": "rm"}).as_object().unwrap()).unwrap_err();
        assert_eq!(
            error,
            "overrides: `command` not in the job's config (it has: model, epochs)"
        );
    }

    #[test]
    fn job_specs_need_a_program_and_plain_environment_names() {
        let spec = |command: Value, env: Value| -> JobSpec {
            serde_json::from_value(json!({"command": command, "env": env})).unwrap()
        };
        assert!(
            spec(json!(["python", "eval.py"]), json!({"A_1": "x"}))
                .check()
                .is_ok()
        );
        assert!(
            spec(json!([]), json!({}))
                .check()
                .unwrap_err()
                .contains("command")
        );
        assert!(
            spec(json!(["x"]), json!({"1A": "x"}))
                .check()
                .unwrap_err()
                .contains("env.1A")
        );
        assert!(
            spec(json!(["x"]), json!({"HERALD_RUN_ID": "x"}))
                .check()
                .unwrap_err()
                .contains("set by the agent")
        );
    }
}
