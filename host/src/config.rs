//! Configuration: built-in defaults, an optional TOML file, then `HERALD_*` environment
//! overrides. Defaults need no file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::automations::runs::RunMetricsConfig;
use crate::delivery::config::DeliveryConfig;
use crate::delivery::egress::EgressConfig;
use crate::engine::SandboxLimits;
use crate::launch::LaunchConfig;
use crate::store::Durability;

/// Everything `herald serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The address the HTTP API listens on.
    pub listen: SocketAddr,
    /// A separate address for `GET /metrics` (e.g. one only the monitoring network reaches);
    /// when set, the API's own address no longer serves it. `HERALD_METRICS_LISTEN` overrides it.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the database, the master key and the compiled-plugin cache live.
    pub data_dir: PathBuf,
    /// The directory of third-party plugin components (`*.wasm`), read at start; components
    /// installed through the API are kept here (default `<data_dir>/plugins`).
    pub plugins_dir: Option<PathBuf>,
    /// Where compiled components are cached (default `<data_dir>/compiled`). It must be writable
    /// only by the operator: cached code is loaded as is.
    pub compiled_dir: Option<PathBuf>,
    /// Limits of the plugin sandbox.
    pub sandbox: SandboxLimits,
    /// Extra origins (e.g. `https://api.example.com`) each plugin may reach, by plugin name.
    pub plugin_grants: BTreeMap<String, Vec<String>>,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// The entity created (with an admin key) on the first start.
    pub bootstrap_entity: String,
    /// `power` (the default: fsync every commit, shared by concurrent requests, so an
    /// acknowledged event survives a power loss) or `process` (survive a killed process only).
    pub durability: Durability,
    /// A PostgreSQL database (`postgres://user:password@host:port/dbname`) for several hosts to
    /// share; without it, SQLite in the data directory. `HERALD_DATABASE_URL` overrides it.
    pub database_url: Option<String>,
    /// At most this many connections to PostgreSQL per host.
    pub database_pool: usize,
    /// The master key file (default `<data_dir>/master.key`, created on first start);
    /// `HERALD_MASTER_KEY` (base64) takes precedence.
    pub master_key_file: Option<PathBuf>,
    /// Destinations allowed beyond public DNS names.
    pub egress: EgressConfig,
    /// Workers, retries, timeouts and shutdown of delivery.
    pub delivery: DeliveryConfig,
    /// Run-metric automations: runs kept in memory, retention of stored samples.
    pub run_metrics: RunMetricsConfig,
    /// How long the history (events, executions, attempts) is kept.
    pub retention: crate::retention::RetentionConfig,
    /// Launch queues.
    pub launch: LaunchConfig,
    /// Runs reported from training code: when a silent one counts as crashed.
    pub runs: crate::ingest::liveness::RunsConfig,
}

/// The format of Herald's own log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            data_dir: PathBuf::from("herald-data"),
            plugins_dir: None,
            compiled_dir: None,
            sandbox: SandboxLimits::default(),
            plugin_grants: BTreeMap::new(),
            log_format: LogFormat::Text,
            bootstrap_entity: "default".into(),
            durability: Durability::Power,
            database_url: None,
            database_pool: 16,
            master_key_file: None,
            egress: EgressConfig::default(),
            delivery: DeliveryConfig::default(),
            run_metrics: RunMetricsConfig::default(),
            retention: Default::default(),
            runs: Default::default(),
            launch: LaunchConfig::default(),
        }
    }
}

impl Config {
    /// Reads `path` (if given) over the defaults, then applies environment overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("in the config file {}", path.display()))?
            }
            None => Self::default(),
        };
        config.apply_env(|key| std::env::var(key).ok())?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(listen) = var("HERALD_LISTEN") {
            self.listen = listen
                .parse()
                .with_context(|| format!("HERALD_LISTEN={listen:?} is not an address"))?;
        }
        if let Some(listen) = var("HERALD_METRICS_LISTEN") {
            self.metrics_listen =
                Some(listen.parse().with_context(|| {
                    format!("HERALD_METRICS_LISTEN={listen:?} is not an address")
                })?);
        }
        if let Some(dir) = var("HERALD_DATA_DIR") {
            self.data_dir = dir.into();
        }
        if let Some(dir) = var("HERALD_PLUGINS_DIR") {
            self.plugins_dir = Some(dir.into());
        }
        if let Some(url) = var("HERALD_DATABASE_URL").filter(|u| !u.is_empty()) {
            self.database_url = Some(url);
        }
        if let Some(durability) = var("HERALD_DURABILITY") {
            self.durability = match durability.as_str() {
                "process" => Durability::Process,
                "power" => Durability::Power,
                other => anyhow::bail!("HERALD_DURABILITY={other:?}: expected process or power"),
            };
        }
        if let Some(format) = var("HERALD_LOG_FORMAT") {
            self.log_format = match format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => anyhow::bail!("HERALD_LOG_FORMAT={other:?}: expected text or json"),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let mut config: Config = toml::from_str(
            "listen = \"127.0.0.1:9000\"\n[sandbox]\ncpu_time = \"250ms\"\nmemory_bytes = 1048576\n",
        )
        .unwrap();
        assert_eq!(
            config.sandbox.cpu_time,
            std::time::Duration::from_millis(250)
        );
        config
            .apply_env(|k| (k == "HERALD_DATA_DIR").then(|| "/tmp/x".into()))
            .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.database_url, None, "SQLite unless told otherwise");
        config
            .apply_env(|k| (k == "HERALD_DATABASE_URL").then(|| "postgres://h@db/herald".into()))
            .unwrap();
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://h@db/herald")
        );
        assert!(toml::from_str::<Config>("lisen = 1").is_err());
    }
}
