//! The audit log: `GET /v1/entities/{entity}/audit` (admins), every change to the entity's
//! configuration, newest first, filtered by action, kind of thing, thing and key, paged with a
//! cursor. Entries are written by the handlers that make the changes (`app/audit.rs`).

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Admin;
use super::executions::instant_param;
use super::paging;
use crate::error::{ApiError, ErrorBody};
use crate::ids::AuditId;
use crate::model::audit::{AuditAction, TargetKind};
use crate::store::{AuditQuery, AuditRecord};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Which entries `GET …/audit` lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    /// Only this action (`automation.updated`).
    pub action: Option<AuditAction>,
    /// Only changes to this kind of thing.
    pub target_kind: Option<TargetKind>,
    /// Only changes to the thing of this id or name.
    pub target: Option<String>,
    /// Only changes made with this key (its id).
    pub actor: Option<String>,
    /// Written at or after this instant (RFC 3339, any offset; to the millisecond).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Written before this instant (RFC 3339, any offset).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// At most this many, newest first (default 100; more than 1000 reads 1000).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The page after the one that answered this `next_cursor` (same filter).
    #[param(pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub cursor: Option<String>,
}

/// Who made a change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActorOut {
    /// The key's id (`herald` for Herald itself).
    pub key_id: String,
    /// Its role: `admin`, `member`, `agent`, or `system` for Herald itself.
    pub role: String,
}

/// One change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntryOut {
    /// The entry's id.
    #[schema(value_type = String)]
    pub id: AuditId,
    /// When the change was made.
    pub at: String,
    /// Who made it.
    pub actor: ActorOut,
    /// What it did.
    pub action: AuditAction,
    /// The kind of thing it changed.
    pub target_kind: TargetKind,
    /// The id or name of what it changed.
    pub target: String,
    /// The thing's fields before, as the API shows them (secret values never appear); absent
    /// for a creation.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The thing's fields after; absent for a deletion.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

impl From<AuditRecord> for AuditEntryOut {
    fn from(record: AuditRecord) -> Self {
        let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        Self {
            id: record.id,
            at: record.at,
            actor: ActorOut {
                key_id: record.actor,
                role: record.actor_role,
            },
            target_kind: record.action.target_kind(),
            action: record.action,
            target: record.target,
            before: parse(record.before),
            after: parse(record.after),
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditLogOut {
    /// Newest first.
    pub entries: Vec<AuditEntryOut>,
    /// Whether older entries match the filter.
    pub has_more: bool,
    /// Present when more exist: pass it as `cursor` (with the same filter) for the next page.
    pub next_cursor: Option<String>,
}

impl AuditParams {
    /// The store query (one more than the page, see [`paging::page`]), or 400 naming the
    /// parameter that does not parse.
    fn parse(self) -> Result<(AuditQuery, usize), ApiError> {
        let limit = paging::limit(self.limit, 100);
        let query = AuditQuery {
            action: self.action,
            target_kind: self.target_kind,
            target: self.target,
            actor: self.actor,
            since: instant_param("since", self.since.as_deref())?,
            until: instant_param("until", self.until.as_deref())?,
            below_id: self
                .cursor
                .as_deref()
                .map(paging::uuid_cursor)
                .transpose()?,
            limit: limit + 1,
        };
        Ok((query, limit))
    }
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/audit",
    tag = "audit",
    params(("entity" = String, Path), AuditParams),
    responses(
        (status = 200, body = AuditLogOut, description = "Changes to the entity's automations, integrations, secrets, keys, plugins, jobs and queues, newest first"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Only admins read the audit log"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditLogOut>, ApiError> {
    let (query, limit) = params.parse()?;
    let records = state.store.audit_log(principal.entity.id, query).await?;
    let (records, has_more, next_cursor) = paging::page(records, limit, |last| last.id.to_string());
    Ok(Json(AuditLogOut {
        entries: records.into_iter().map(Into::into).collect(),
        has_more,
        next_cursor,
    }))
}
