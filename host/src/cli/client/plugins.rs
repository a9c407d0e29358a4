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
            let size = bytes.len();
            let started = std::time::Instant::now();
            let upload = client.call_with(
                "POST",
                "/v1/plugins",
                Some(("application/wasm", bytes)),
                &[],
            );
            let installed = with_progress(upload, size).await?;
            let plugin = &installed["plugin"];
            let (name, version) = (
                plugin["name"].as_str().unwrap_or_default(),
                plugin["version"].as_str().unwrap_or_default(),
            );
            let line = match installed["replaced"].as_str() {
                Some(old) => format!("replaced {name} {old} with {version}"),
                None => format!("installed {name} {version}"),
            };
            eprintln!(
                "uploaded, compiled and checked in {:.1} s",
                started.elapsed().as_secs_f64()
            );
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

/// Waits for an install, saying on a terminal what is taking the time: the server compiles the
/// component before it answers, which for a Python or JavaScript component (tens of MiB of
/// interpreter) takes tens of seconds the first time.
async fn with_progress<T>(
    upload: impl std::future::Future<Output = anyhow::Result<T>>,
    size: usize,
) -> anyhow::Result<T> {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return upload.await;
    }
    let started = std::time::Instant::now();
    eprintln!(
        "uploading {:.1} MiB; the server compiles it before it answers (a Python or JavaScript \
         component takes 10-50 s the first time)",
        size as f64 / f64::from(1 << 20)
    );
    let mut upload = std::pin::pin!(upload);
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
    ticks.tick().await;
    loop {
        tokio::select! {
            done = &mut upload => return done,
            _ = ticks.tick() => eprintln!("  still compiling ({} s)", started.elapsed().as_secs()),
        }
    }
}
