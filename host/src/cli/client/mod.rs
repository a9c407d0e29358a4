//! The client subcommands: one for every API route, over HTTP with an API key, one file per
//! resource. Lists print as tables, single objects as `key: value` lines; `--json` prints the
//! API's JSON as it is.

mod audit;
mod automations;
mod entities;
mod events;
mod executions;
mod http;
mod integrations;
mod keys;
mod launch;
mod output;
mod plugins;
mod secrets;
mod tasks;

use std::process::ExitCode;

use clap::Subcommand;

pub(in crate::cli) use http::{Client, Connection};

/// Resources the client manages.
#[derive(Debug, Subcommand)]
pub(in crate::cli) enum ClientCommand {
    /// Events: send one or a batch, show one with what it triggered.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Automations.
    #[command(subcommand)]
    Automations(automations::AutomationsCommand),
    /// Executions.
    #[command(subcommand)]
    Executions(executions::ExecutionsCommand),
    /// Background tasks (recovers, bulk retries) and how far they got.
    #[command(subcommand)]
    Tasks(tasks::TasksCommand),
    /// An entity's integrations.
    #[command(subcommand)]
    Integrations(integrations::IntegrationsCommand),
    /// An entity's secrets (admins).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// An entity's API keys (admins).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Entities (operators).
    #[command(subcommand)]
    Entities(entities::EntitiesCommand),
    /// Launch jobs: versioned commands agents run.
    #[command(subcommand)]
    Jobs(launch::JobsCommand),
    /// Launch queues and their items.
    #[command(subcommand)]
    Queues(launch::QueuesCommand),
    /// Installed action plugins on the server; install, replace or remove one (operators).
    Plugins {
        #[command(subcommand)]
        command: Option<plugins::PluginsCommand>,
    },
    /// The entity's audit log: who changed what, when (admins).
    Audit(audit::AuditArgs),
    /// Which entity and role the key has.
    Whoami,
}

/// Runs one client command and prints its answer.
pub(in crate::cli) async fn run(
    connection: Connection,
    command: ClientCommand,
) -> anyhow::Result<ExitCode> {
    let json = connection.json();
    let client = http::Client::from_connection(connection)?;
    use ClientCommand as C;
    let (value, shape) = match command {
        C::Events(command) => events::run(&client, command).await?,
        C::Automations(command) => automations::run(&client, command).await?,
        C::Executions(command) => executions::run(&client, command).await?,
        C::Tasks(command) => tasks::run(&client, command).await?,
        C::Integrations(command) => integrations::run(&client, command).await?,
        C::Secrets(command) => secrets::run(&client, command).await?,
        C::Keys(command) => keys::run(&client, command).await?,
        C::Entities(command) => entities::run(&client, command).await?,
        C::Jobs(command) => launch::jobs(&client, command).await?,
        C::Queues(command) => launch::queues(&client, command).await?,
        C::Plugins { command } => plugins::run(&client, command).await?,
        C::Audit(args) => audit::run(&client, args).await?,
        C::Whoami => (
            client.call("GET", "/v1/me", None, &[]).await?,
            output::Shape::Object,
        ),
    };
    output::show(&value, shape, json)?;
    Ok(ExitCode::SUCCESS)
}
