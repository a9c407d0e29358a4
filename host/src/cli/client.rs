//! The client subcommands: one for every API route, over HTTP with an API key. Lists print as
//! tables, single objects as `key: value` lines; `--json` prints the API's JSON as it is.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Where the server is and who is asking.
#[derive(Debug, Args)]
pub(super) struct Connection {
    /// The server's URL.
    #[arg(
        long,
        env = "HERALD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// An API key.
    #[arg(long, env = "HERALD_KEY", hide_env_values = true, global = true)]
    key: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

/// Resources the client manages.
#[derive(Debug, Subcommand)]
pub(super) enum ClientCommand {
    /// Events: send one or a batch, show one with what it triggered.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Automations.
    #[command(subcommand)]
    Automations(AutomationsCommand),
    /// Executions.
    #[command(subcommand)]
    Executions(ExecutionsCommand),
    /// An entity's integrations.
    #[command(subcommand)]
    Integrations(IntegrationsCommand),
    /// An entity's secrets (admins).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// An entity's API keys (admins).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Entities (operators).
    #[command(subcommand)]
    Entities(EntitiesCommand),
    /// Launch jobs: versioned commands agents run.
    #[command(subcommand)]
    Jobs(super::launch::JobsCommand),
    /// Launch queues and their items.
    #[command(subcommand)]
    Queues(super::launch::QueuesCommand),
    /// Installed action plugins on the server; install, replace or remove one (operators).
    Plugins {
        #[command(subcommand)]
        command: Option<PluginsCommand>,
    },
    /// Which entity and role the key has.
    Whoami,
}

/// `herald plugins …`
#[derive(Debug, Subcommand)]
pub(super) enum PluginsCommand {
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

/// `herald events …`
#[derive(Debug, Subcommand)]
pub(super) enum EventsCommand {
    /// Send an event (a JSON object) or a batch (`{"events": [...]}` or an array).
    Send {
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
        /// Makes a retried send return the same event id.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show an event and the executions it triggered.
    Get {
        /// The event id.
        id: String,
    },
}

/// `herald automations …`
#[derive(Debug, Subcommand)]
pub(super) enum AutomationsCommand {
    /// List automations.
    List {
        /// Only those scoped to this project or registry.
        #[arg(long)]
        project: Option<String>,
        /// Only those scoped to this collection.
        #[arg(long)]
        collection: Option<String>,
    },
    /// Show one.
    Get {
        /// The automation id.
        id: String,
    },
    /// Create one from a JSON file.
    Create {
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Change one with a JSON patch file (any subset of the fields).
    Update {
        /// The automation id.
        id: String,
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Enable one.
    Enable {
        /// The automation id.
        id: String,
    },
    /// Disable one.
    Disable {
        /// The automation id.
        id: String,
    },
    /// Delete one (its executions stay).
    Delete {
        /// The automation id.
        id: String,
    },
    /// An automation's executions, newest first.
    Executions {
        /// The automation id.
        id: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// `herald executions …`
#[derive(Debug, Subcommand)]
pub(super) enum ExecutionsCommand {
    /// Show one execution with its attempts.
    Get {
        /// The execution id.
        id: String,
    },
}

/// `herald integrations …`
#[derive(Debug, Subcommand)]
pub(super) enum IntegrationsCommand {
    /// List integrations.
    List(EntityArg),
    /// Show one.
    Get {
        /// Its name.
        name: String,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Create one from a JSON file.
    Create {
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Change one with a JSON patch file.
    Update {
        /// Its name.
        name: String,
        /// The JSON file (`-` for standard input).
        #[arg(long, short)]
        file: PathBuf,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Delete one.
    Delete {
        /// Its name.
        name: String,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Send a test payload through it, signed like a delivery, and show the receiver's answer.
    Test {
        /// Its name.
        name: String,
        /// A JSON file with the payload template (`-` for standard input); default
        /// `{"test": true}`.
        #[arg(long, short)]
        payload: Option<PathBuf>,
        #[command(flatten)]
        entity: EntityArg,
    },
}

/// `herald secrets …`
#[derive(Debug, Subcommand)]
pub(super) enum SecretsCommand {
    /// List secret names (never values).
    List(EntityArg),
    /// Set a secret; the value is read from standard input unless --value is given.
    Set {
        /// Its name.
        name: String,
        /// The value (prefer standard input: arguments show in process lists).
        #[arg(long)]
        value: Option<String>,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Delete a secret.
    Delete {
        /// Its name.
        name: String,
        #[command(flatten)]
        entity: EntityArg,
    },
}

/// `herald keys …`
#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// List keys.
    List(EntityArg),
    /// Create a key (printed once, or written to `--key-file`).
    Create {
        /// `admin`, `member` or `agent`.
        #[arg(long, default_value = "member")]
        role: String,
        /// A label to recognise it by.
        #[arg(long, default_value = "")]
        label: String,
        /// For an agent key: a queue it may claim from (repeat for several).
        #[arg(long = "queue")]
        queues: Vec<String>,
        /// Write the key to this new file (mode 0600) instead of printing it, e.g. for
        /// `herald agent --key-file`.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        entity: EntityArg,
    },
    /// Delete a key.
    Delete {
        /// The key's id.
        id: String,
        #[command(flatten)]
        entity: EntityArg,
    },
}

/// `herald entities …`
#[derive(Debug, Subcommand)]
pub(super) enum EntitiesCommand {
    /// Create an entity; prints its first admin key once.
    Create {
        /// The entity's name.
        name: String,
    },
}

/// The entity a command acts on (default: the key's own).
#[derive(Debug, Args)]
pub(super) struct EntityArg {
    /// The entity (default: the key's).
    #[arg(long)]
    entity: Option<String>,
}

impl Connection {
    /// The same connection with `key` instead of the one given by flag or environment.
    pub(super) fn with_key(mut self, key: String) -> Self {
        self.key = Some(key);
        self
    }

    /// Whether `--json` was given.
    pub(super) fn json(&self) -> bool {
        self.json
    }

    /// The server's URL.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// The API key, if one was given.
    pub(super) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

/// An HTTP client of the API with the connection's key.
pub(super) struct Client {
    url: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for a connection that must have a key.
    pub(super) fn from_connection(connection: Connection) -> anyhow::Result<Self> {
        if connection.key.is_none() {
            bail!("an API key is needed: --key or HERALD_KEY");
        }
        Ok(Self {
            url: connection.url,
            key: connection.key,
            http: reqwest::Client::new(),
        })
    }

    /// Calls the API; a non-2xx answer is an error carrying the API's code and message.
    pub(super) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.call_with(method, path, body, headers).await
    }

    /// Calls the API with a body of any content type (a component to install).
    pub(super) async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = self.http.request(method, &url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let message = value["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            bail!(
                "{} {}: {message}",
                status.as_u16(),
                value["error"]["code"].as_str().unwrap_or("error")
            );
        }
        Ok(value)
    }

    /// The entity given, or the key's.
    pub(super) async fn entity(&self, given: &EntityArg) -> anyhow::Result<String> {
        match &given.entity {
            Some(entity) => Ok(entity.clone()),
            None => Ok(self.call("GET", "/v1/me", None, &[]).await?["entity"]
                .as_str()
                .unwrap_or_default()
                .to_string()),
        }
    }
}

pub(super) fn read_json(path: &PathBuf) -> anyhow::Result<Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// How to show a result.
pub(super) enum Shape {
    /// A list under this key, with these columns (JSON pointer-ish dotted paths).
    Table(&'static str, &'static [&'static str]),
    /// One object.
    Object,
    /// Nothing to show (e.g. 204); print this line.
    Done(String),
    /// The command printed what it had to as it went.
    Printed,
}

pub(super) async fn run(
    connection: Connection,
    command: ClientCommand,
) -> anyhow::Result<ExitCode> {
    let client = Client {
        url: connection.url,
        key: connection.key,
        http: reqwest::Client::new(),
    };
    if client.key.is_none() {
        bail!("an API key is needed: --key or HERALD_KEY");
    }
    use ClientCommand as C;
    let (value, shape) = match command {
        C::Jobs(command) => super::launch::jobs(&client, command).await?,
        C::Queues(command) => super::launch::queues(&client, command).await?,
        C::Whoami => (
            client.call("GET", "/v1/me", None, &[]).await?,
            Shape::Object,
        ),
        C::Plugins {
            command: Some(PluginsCommand::Install { file }),
        } => {
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
        C::Plugins {
            command: Some(PluginsCommand::Remove { name }),
        } => {
            client
                .call("DELETE", &format!("/v1/plugins/{name}"), None, &[])
                .await?;
            (Value::Null, Shape::Done(format!("removed {name}")))
        }
        C::Plugins { command: None } => (
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
        C::Entities(EntitiesCommand::Create { name }) => (
            client
                .call("POST", "/v1/entities", Some(&json!({"name": name})), &[])
                .await?,
            Shape::Object,
        ),
        C::Keys(command) => match command {
            KeysCommand::List(entity) => {
                let entity = client.entity(&entity).await?;
                (
                    client
                        .call("GET", &format!("/v1/entities/{entity}/keys"), None, &[])
                        .await?,
                    Shape::Table("keys", &["id", "role", "label", "queues", "created_at"]),
                )
            }
            KeysCommand::Create {
                role,
                label,
                queues,
                key_file,
                entity,
            } => {
                let entity = client.entity(&entity).await?;
                let body = json!({"role": role, "label": label, "queues": queues});
                let mut created = client
                    .call(
                        "POST",
                        &format!("/v1/entities/{entity}/keys"),
                        Some(&body),
                        &[],
                    )
                    .await?;
                match key_file {
                    Some(path) => {
                        let key = created["key"].as_str().unwrap_or_default().to_string();
                        super::keyfile::write_new(&path, &key)?;
                        created["key"] = Value::String(format!("(written to {})", path.display()));
                        (created, Shape::Object)
                    }
                    None => (created, Shape::Object),
                }
            }
            KeysCommand::Delete { id, entity } => {
                let entity = client.entity(&entity).await?;
                client
                    .call(
                        "DELETE",
                        &format!("/v1/entities/{entity}/keys/{id}"),
                        None,
                        &[],
                    )
                    .await?;
                (Value::Null, Shape::Done(format!("deleted key {id}")))
            }
        },
        C::Secrets(command) => match command {
            SecretsCommand::List(entity) => {
                let entity = client.entity(&entity).await?;
                (
                    client
                        .call("GET", &format!("/v1/entities/{entity}/secrets"), None, &[])
                        .await?,
                    Shape::Table("secrets", &["name", "created_at", "updated_at"]),
                )
            }
            SecretsCommand::Set {
                name,
                value,
                entity,
            } => {
                let entity = client.entity(&entity).await?;
                let value = match value {
                    Some(value) => value,
                    None => std::io::read_to_string(std::io::stdin())?
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                };
                let body = json!({"value": value});
                let result = client
                    .call(
                        "PUT",
                        &format!("/v1/entities/{entity}/secrets/{name}"),
                        Some(&body),
                        &[],
                    )
                    .await?;
                let verb = if result["created"] == true {
                    "created"
                } else {
                    "replaced"
                };
                (result, Shape::Done(format!("{verb} secret {name}")))
            }
            SecretsCommand::Delete { name, entity } => {
                let entity = client.entity(&entity).await?;
                client
                    .call(
                        "DELETE",
                        &format!("/v1/entities/{entity}/secrets/{name}"),
                        None,
                        &[],
                    )
                    .await?;
                (Value::Null, Shape::Done(format!("deleted secret {name}")))
            }
        },
        C::Integrations(command) => {
            const COLUMNS: &[&str] = &[
                "name",
                "kind",
                "url",
                "access_token",
                "signing_secret",
                "secrets",
            ];
            match command {
                IntegrationsCommand::List(entity) => {
                    let entity = client.entity(&entity).await?;
                    (
                        client
                            .call(
                                "GET",
                                &format!("/v1/entities/{entity}/integrations"),
                                None,
                                &[],
                            )
                            .await?,
                        Shape::Table("integrations", COLUMNS),
                    )
                }
                IntegrationsCommand::Get { name, entity } => {
                    let entity = client.entity(&entity).await?;
                    (
                        client
                            .call(
                                "GET",
                                &format!("/v1/entities/{entity}/integrations/{name}"),
                                None,
                                &[],
                            )
                            .await?,
                        Shape::Object,
                    )
                }
                IntegrationsCommand::Create { file, entity } => {
                    let entity = client.entity(&entity).await?;
                    let body = read_json(&file)?;
                    (
                        client
                            .call(
                                "POST",
                                &format!("/v1/entities/{entity}/integrations"),
                                Some(&body),
                                &[],
                            )
                            .await?,
                        Shape::Object,
                    )
                }
                IntegrationsCommand::Test {
                    name,
                    payload,
                    entity,
                } => {
                    let entity = client.entity(&entity).await?;
                    let body = match payload {
                        Some(file) => json!({"payload": read_json(&file)?}),
                        None => json!({}),
                    };
                    let path = format!("/v1/entities/{entity}/integrations/{name}/test");
                    (
                        client.call("POST", &path, Some(&body), &[]).await?,
                        Shape::Object,
                    )
                }
                IntegrationsCommand::Update { name, file, entity } => {
                    let entity = client.entity(&entity).await?;
                    let body = read_json(&file)?;
                    let path = format!("/v1/entities/{entity}/integrations/{name}");
                    (
                        client.call("PATCH", &path, Some(&body), &[]).await?,
                        Shape::Object,
                    )
                }
                IntegrationsCommand::Delete { name, entity } => {
                    let entity = client.entity(&entity).await?;
                    client
                        .call(
                            "DELETE",
                            &format!("/v1/entities/{entity}/integrations/{name}"),
                            None,
                            &[],
                        )
                        .await?;
                    (
                        Value::Null,
                        Shape::Done(format!("deleted integration {name}")),
                    )
                }
            }
        }
        C::Automations(command) => {
            const COLUMNS: &[&str] = &[
                "id",
                "name",
                "enabled",
                "trigger_type",
                "action_type",
                "action_name",
                "queue",
                "scope.type",
            ];
            const EXECUTIONS: &[&str] =
                &["id", "status", "attempts", "created_at", "status_reason"];
            match command {
                AutomationsCommand::List {
                    project,
                    collection,
                } => {
                    let mut query = Vec::new();
                    if let Some(project) = project {
                        query.push(format!("project={}", encode(&project)));
                    }
                    if let Some(collection) = collection {
                        query.push(format!("collection={}", encode(&collection)));
                    }
                    let path = if query.is_empty() {
                        "/v1/automations".into()
                    } else {
                        format!("/v1/automations?{}", query.join("&"))
                    };
                    (
                        client.call("GET", &path, None, &[]).await?,
                        Shape::Table("automations", COLUMNS),
                    )
                }
                AutomationsCommand::Get { id } => (
                    client
                        .call("GET", &format!("/v1/automations/{id}"), None, &[])
                        .await?,
                    Shape::Object,
                ),
                AutomationsCommand::Create { file } => {
                    let body = read_json(&file)?;
                    (
                        client
                            .call("POST", "/v1/automations", Some(&body), &[])
                            .await?,
                        Shape::Object,
                    )
                }
                AutomationsCommand::Update { id, file } => {
                    let body = read_json(&file)?;
                    (
                        client
                            .call("PATCH", &format!("/v1/automations/{id}"), Some(&body), &[])
                            .await?,
                        Shape::Object,
                    )
                }
                AutomationsCommand::Enable { id } => {
                    let body = json!({"enabled": true});
                    client
                        .call("PATCH", &format!("/v1/automations/{id}"), Some(&body), &[])
                        .await?;
                    (Value::Null, Shape::Done(format!("enabled {id}")))
                }
                AutomationsCommand::Disable { id } => {
                    let body = json!({"enabled": false});
                    client
                        .call("PATCH", &format!("/v1/automations/{id}"), Some(&body), &[])
                        .await?;
                    (Value::Null, Shape::Done(format!("disabled {id}")))
                }
                AutomationsCommand::Delete { id } => {
                    client
                        .call("DELETE", &format!("/v1/automations/{id}"), None, &[])
                        .await?;
                    (Value::Null, Shape::Done(format!("deleted automation {id}")))
                }
                AutomationsCommand::Executions { id, limit } => (
                    client
                        .call(
                            "GET",
                            &format!("/v1/automations/{id}/executions?limit={limit}"),
                            None,
                            &[],
                        )
                        .await?,
                    Shape::Table("executions", EXECUTIONS),
                ),
            }
        }
        C::Executions(ExecutionsCommand::Get { id }) => (
            client
                .call("GET", &format!("/v1/executions/{id}"), None, &[])
                .await?,
            Shape::Object,
        ),
        C::Events(command) => match command {
            EventsCommand::Send {
                file,
                idempotency_key,
            } => {
                let body = read_json(&file)?;
                let headers: Vec<(&str, &str)> = idempotency_key
                    .as_deref()
                    .map(|k| vec![("idempotency-key", k)])
                    .unwrap_or_default();
                match body {
                    Value::Array(events) => (
                        client
                            .call(
                                "POST",
                                "/v1/events/batch",
                                Some(&json!({"events": events})),
                                &headers,
                            )
                            .await?,
                        Shape::Table("events", &["event_id", "matched", "duplicate"]),
                    ),
                    body if body.get("events").is_some() => (
                        client
                            .call("POST", "/v1/events/batch", Some(&body), &headers)
                            .await?,
                        Shape::Table("events", &["event_id", "matched", "duplicate"]),
                    ),
                    body => (
                        client
                            .call("POST", "/v1/events", Some(&body), &headers)
                            .await?,
                        Shape::Object,
                    ),
                }
            }
            EventsCommand::Get { id } => (
                client
                    .call("GET", &format!("/v1/events/{id}"), None, &[])
                    .await?,
                Shape::Object,
            ),
        },
    };
    if connection.json {
        if !value.is_null() {
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match shape {
        Shape::Table(key, columns) => print_table(
            value[key].as_array().map(Vec::as_slice).unwrap_or_default(),
            columns,
        ),
        Shape::Object => print_object(&value),
        Shape::Done(line) => println!("{line}"),
        Shape::Printed => {}
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn cell(value: &Value, column: &str) -> String {
    // An empty column is the value itself (an array's items).
    let value = if column.is_empty() {
        value
    } else {
        column.split('.').fold(value, |v, key| &v[key])
    };
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| cell(i, ""))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn print_table(rows: &[Value], columns: &[&str]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(row, c)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
                .min(60)
        })
        .collect();
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| {
                let v: String = v.chars().take(*w).collect();
                format!("{v:<w$}")
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!(
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    );
    for row in cells {
        println!("{}", line(row));
    }
    if rows.is_empty() {
        println!("(none)");
    }
}

fn print_object(value: &Value) {
    match value.as_object() {
        Some(fields) => {
            let width = fields.keys().map(String::len).max().unwrap_or(0);
            for (key, field) in fields {
                let text = match field {
                    Value::String(s) => s.clone(),
                    Value::Null => "-".into(),
                    other => other.to_string(),
                };
                println!("{key:<width$}  {text}");
            }
        }
        None => println!("{value}"),
    }
}
