//! `herald plugins …`: the plugins installed on the server; installing, replacing and removing one.

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::Value;

use super::http::Client;
use super::output::Shape;

/// `herald plugins …`
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum PluginsCommand {
    /// Install a component (.wasm) while the server runs, or replace the installed version of
    /// the same plugin; the server validates it first.
    Install {
        /// The component file.
        file: std::path::PathBuf,
    },
    /// Remove an installed third-party plugin (refused while automations use it).
    Remove {
        /// The plugin's name.
        name: String,
    },
}

/// Runs one `herald plugins` command (none: the list).
pub(super) async fn run(
    client: &Client,
    command: Option<PluginsCommand>,
) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        Some(PluginsCommand::Install { file }) => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("reading the component {}", file.display()))?;
            let installed = client
                .call_with(
                    "POST",
                    "/v1/plugins",
                    Some(("application/wasm", bytes)),
                    &[],
                )
                .await?;
            let plugin = &installed["plugin"];
            let (name, version) = (
                plugin["name"].as_str().unwrap_or_default(),
                plugin["version"].as_str().unwrap_or_default(),
            );
            let line = match installed["replaced"].as_str() {
                Some(old) => format!("replaced {name} {old} with {version}"),
                None => format!("installed {name} {version}"),
            };
            (installed, Shape::Done(line))
        }
        Some(PluginsCommand::Remove { name }) => {
            client
                .call("DELETE", &format!("/v1/plugins/{name}"), None, &[])
                .await?;
            (Value::Null, Shape::Done(format!("removed {name}")))
        }
        None => (
            client.call("GET", "/v1/plugins", None, &[]).await?,
            Shape::Table(
                "plugins",
                &[
                    "name",
                    "version",
                    "source",
                    "integration_kinds",
                    "description",
                ],
            ),
        ),
    })
}
