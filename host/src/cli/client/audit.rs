//! `herald audit`: the entity's audit log (admins), newest first, filtered like
//! `GET …/audit`; `--all` follows the cursor to the oldest entry.

use clap::Args;
use serde_json::Value;

use super::http::{Client, EntityArg, encode};
use super::output::Shape;

/// `herald audit`
#[derive(Debug, Args)]
pub(in crate::cli) struct AuditArgs {
    /// Only this action (e.g. `automation.updated`).
    #[arg(long)]
    action: Option<String>,
    /// Only changes to this kind of thing (automation, integration, secret, key, plugin, job,
    /// queue, entity, execution).
    #[arg(long)]
    target_kind: Option<String>,
    /// Only changes to the thing of this id or name.
    #[arg(long)]
    target: Option<String>,
    /// Only changes made with this key (its id).
    #[arg(long)]
    actor: Option<String>,
    /// Written at or after this instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Written before this instant (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// At most this many per page (default 100, at most 1000).
    #[arg(long)]
    limit: Option<u32>,
    /// Every page, not only the newest.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    entity: EntityArg,
}

/// The columns an entry shows in a table.
const COLUMNS: &[&str] = &["at", "actor.key_id", "actor.role", "action", "target"];

/// Runs `herald audit`.
pub(super) async fn run(client: &Client, args: AuditArgs) -> anyhow::Result<(Value, Shape)> {
    let entity = client.entity(&args.entity).await?;
    let mut query: Vec<String> = [
        ("action", &args.action),
        ("target_kind", &args.target_kind),
        ("target", &args.target),
        ("actor", &args.actor),
        ("since", &args.since),
        ("until", &args.until),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={}", encode(v))))
    .collect();
    if let Some(limit) = args.limit {
        query.push(format!("limit={limit}"));
    }
    let base = format!("/v1/entities/{}/audit?{}", encode(&entity), query.join("&"));
    let answer = if args.all {
        client.call_all(&base, "entries").await?
    } else {
        client.call("GET", &base, None, &[]).await?
    };
    Ok((answer, Shape::Table("entries", COLUMNS)))
}
