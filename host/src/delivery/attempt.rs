//! One attempt at one execution: resolve the integration and its secrets, run the plugin with
//! them kept outside the sandbox, and turn the report into a redacted attempt record and a verdict.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::outbound::{Credentials, DeliveryPort};
use super::redact::{REDACTED, Redactor};
use super::transport::Transport;
use crate::bounded::cut;
use crate::engine::outbound::Launcher;
use crate::engine::{
    ActionError, ExecutionReport, HostIo, Invocation, Plugin, PluginEngine, SandboxError,
};
use crate::events::Variables;
use crate::ids::ExecutionId;
use crate::launch::enqueue::QueueLauncher;
use crate::plugins::PluginRegistry;
use crate::secrets::MasterKey;
use crate::secrets::refs::RefTag;
use crate::store::{Claimed, Store, StoreError};

/// The most of a request or response body an attempt record keeps.
pub const RECORD_BODY_LIMIT: usize = 64 << 10;
/// The most body bytes one attempt record keeps across all its requests and responses; bodies
/// past it are recorded by their length only.
pub const RECORD_BODIES_LIMIT: usize = 256 << 10;
/// The longest message (a plugin's summary or error, a log line) a record keeps.
pub const MAX_MESSAGE_BYTES: usize = 4 << 10;

/// What an attempt needs from the host.
#[derive(Clone)]
pub struct Deliverer {
    /// The database (integrations, secrets).
    pub store: Store,
    /// Decrypts secrets.
    pub master_key: MasterKey,
    /// The sandbox.
    pub engine: PluginEngine,
    /// Installed plugins.
    pub plugins: Arc<PluginRegistry>,
    /// Where requests go out.
    pub transport: Arc<dyn Transport>,
    /// Origins the operator granted each plugin besides its integration's.
    pub grants: Arc<BTreeMap<String, Vec<url::Origin>>>,
    /// Credentials already read and decrypted, so that an attempt does not read the store.
    pub credentials_cache: Arc<CredentialCache>,
}

/// What [`Deliverer::credentials`] found for (entity, integration, payload secrets).
type CacheKey = (i64, String, Vec<String>);

/// Decrypted credentials, valid while the store's credentials generation stays the one they were
/// read under (any write to secrets or integrations moves it on). Errors are never cached.
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<CacheKey, (u64, Credentials, Redactor)>>,
}

/// Entries kept at most; beyond, the cache starts over (a bound, not an eviction policy: the
/// working set is one entry per integration in use).
const CACHE_ENTRIES: usize = 4096;

impl CredentialCache {
    fn get(&self, key: &CacheKey, generation: u64) -> Option<(Credentials, Redactor)> {
        let entries = self.entries.lock().expect("not poisoned");
        let (read_under, credentials, redactor) = entries.get(key)?;
        (*read_under == generation).then(|| (credentials.clone(), redactor.clone()))
    }

    fn put(&self, key: CacheKey, generation: u64, credentials: &Credentials, redactor: &Redactor) {
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (generation, credentials.clone(), redactor.clone()));
    }
}

/// Why an attempt could not even start; never retried.
#[derive(Debug, Clone)]
pub struct Unrunnable(pub String);

/// Why an attempt will never work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The plugin found the action itself wrong (config, payload).
    Invalid,
    /// The receiver refused it for good.
    Rejected,
    /// The plugin trapped, ran out of CPU time or memory, or broke the contract.
    SandboxError,
    /// Its plugin, integration or a secret is gone.
    Unrunnable,
}

impl FailureKind {
    /// The name as recorded: `invalid`, `rejected`, `sandbox-error`, `unrunnable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Rejected => "rejected",
            Self::SandboxError => "sandbox-error",
            Self::Unrunnable => "unrunnable",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered; the plugin's summary.
    Succeeded(String),
    /// Will never work.
    Permanent {
        /// Which kind of permanent failure.
        kind: FailureKind,
        /// Why.
        message: String,
    },
    /// Worth retrying, no sooner than the receiver's `Retry-After` if it gave one.
    Transient {
        /// Why.
        reason: String,
        /// The receiver's `Retry-After`, verbatim.
        retry_after: Option<String>,
    },
}

impl Verdict {
    /// The verdict as the execution's status reason, e.g. `rejected: HTTP 404`.
    pub fn describe(&self) -> String {
        match self {
            Self::Succeeded(summary) => summary.clone(),
            Self::Permanent { kind, message } => format!("{kind}: {message}"),
            Self::Transient { reason, .. } => reason.clone(),
        }
    }

    /// The verdict with its messages redacted and cut to [`MAX_MESSAGE_BYTES`]: it becomes the
    /// execution's status reason.
    pub fn redacted(self, redactor: &Redactor) -> Self {
        let clean = |text: String| cut(&redactor.text(&text), MAX_MESSAGE_BYTES);
        match self {
            Self::Succeeded(summary) => Self::Succeeded(clean(summary)),
            Self::Permanent { kind, message } => Self::Permanent {
                kind,
                message: clean(message),
            },
            Self::Transient {
                reason,
                retry_after,
            } => Self::Transient {
                reason: clean(reason),
                retry_after: retry_after.map(|r| cut(&r, 64)),
            },
        }
    }

    fn unrunnable(message: String) -> Self {
        Self::Permanent {
            kind: FailureKind::Unrunnable,
            message,
        }
    }
}

impl Deliverer {
    /// The integration's credentials with every secret they and the payload need, decrypted,
    /// plus a redactor for those values.
    pub async fn credentials(
        &self,
        entity_id: i64,
        integration: &str,
        payload_secrets: Vec<String>,
    ) -> Result<(Credentials, Redactor), Unrunnable> {
        // Read before the store is: a write that lands meanwhile makes this entry stale at once.
        let generation = self.store.credentials_generation();
        let key = (entity_id, integration.to_string(), payload_secrets);
        if let Some(hit) = self.credentials_cache.get(&key, generation) {
            return Ok(hit);
        }
        let (credentials, redactor) = self
            .read_credentials(entity_id, integration, key.2.clone())
            .await?;
        self.credentials_cache
            .put(key, generation, &credentials, &redactor);
        Ok((credentials, redactor))
    }

    async fn read_credentials(
        &self,
        entity_id: i64,
        integration: &str,
        payload_secrets: Vec<String>,
    ) -> Result<(Credentials, Redactor), Unrunnable> {
        let record = match self.store.integration(entity_id, integration).await {
            Ok(record) => record,
            Err(StoreError::NotFound(_)) => {
                return Err(Unrunnable(format!(
                    "integration {integration} no longer exists"
                )));
            }
            Err(other) => return Err(Unrunnable(format!("store: {other}"))),
        };
        // Checked when the automation was saved; checked again here, since an admin may have
        // withdrawn a grant since (or the execution predates it).
        if let Some(ungranted) = payload_secrets.iter().find(|name| !record.may_use(name)) {
            return Err(Unrunnable(format!(
                "secret {ungranted} is not granted by integration {integration}"
            )));
        }
        let key_payload = payload_secrets.clone();
        let mut wanted: Vec<String> = payload_secrets;
        wanted.extend(record.access_token.iter().cloned());
        wanted.extend(record.signing_secret.iter().cloned());
        wanted.extend(record.url_secret.iter().cloned());
        wanted.sort();
        wanted.dedup();
        let sealed = self
            .store
            .sealed_secrets(entity_id, wanted.clone())
            .await
            .map_err(|e| Unrunnable(format!("store: {e}")))?;
        let mut values = Vec::with_capacity(sealed.len());
        for (name, nonce, ciphertext) in sealed {
            let value = self
                .master_key
                .open(entity_id, &name, &nonce, &ciphertext)
                .map_err(|e| Unrunnable(e.to_string()))?;
            values.push((name, value));
        }
        if let Some(missing) = wanted
            .iter()
            .find(|name| !values.iter().any(|(n, _)| n == *name))
        {
            return Err(Unrunnable(format!("secret {missing} no longer exists")));
        }
        let value_of = |name: &Option<String>| {
            name.as_ref()
                .and_then(|n| values.iter().find(|(v, _)| v == n))
                .map(|(_, v)| v.clone())
        };
        let url_text = match &record.url_secret {
            Some(_) => value_of(&record.url_secret).unwrap_or_default(),
            None => record.url.clone(),
        };
        let url = url::Url::parse(&url_text).map_err(|_| {
            Unrunnable(format!("integration {integration}: its URL does not parse"))
        })?;
        // Only the secrets the payload references are filled in: the integration's own
        // credentials go where the host puts them (headers, the real URL), never into a body.
        let referenced = values
            .iter()
            .filter(|(name, _)| key_payload.contains(name))
            .cloned()
            .collect();
        let credentials = Credentials {
            url,
            hidden_url: record.url_secret.is_some(),
            access_token: value_of(&record.access_token),
            signing_secret: value_of(&record.signing_secret),
            payload_secrets: referenced,
        };
        Ok((
            credentials,
            Redactor::new(values.into_iter().map(|(_, v)| v)),
        ))
    }

    /// Runs one attempt of a claimed execution; returns the verdict and the attempt record
    /// (redacted).
    pub async fn attempt(&self, execution: &Claimed) -> (Verdict, AttemptRecord, Duration) {
        let Claimed {
            id: execution_id,
            entity_id,
            attempt,
            automation,
            event,
            payload,
            metric,
        } = execution;
        let (entity_id, attempt, payload) = (*entity_id, *attempt, payload.clone());
        let metric = metric.as_ref();
        let started = SystemTime::now();
        let Some(plugin) = self.plugins.get(&automation.action.plugin) else {
            let reason = format!("plugin {} is no longer installed", automation.action.plugin);
            return (
                Verdict::unrunnable(reason.clone()),
                unrunnable_record(attempt, started, &reason),
                Duration::ZERO,
            );
        };
        let tag = self.master_key.refs().tag(execution_id.as_str());
        let (integration, redactor) = match &automation.action.integration {
            Some(name) => {
                let secrets = payload
                    .as_deref()
                    .map(|payload| tag.names_in(payload))
                    .unwrap_or_default();
                match self.credentials(entity_id, name, secrets).await {
                    Ok((credentials, redactor)) => (Some(credentials), redactor),
                    Err(Unrunnable(reason)) => {
                        return (
                            Verdict::unrunnable(reason.clone()),
                            unrunnable_record(attempt, started, &reason),
                            Duration::ZERO,
                        );
                    }
                }
            }
            None => (None, Redactor::default()),
        };
        let invocation = Invocation {
            execution_id: execution_id.to_string(),
            attempt,
            automation_name: automation.name.clone(),
            event_type: event.input.event_type.as_str().to_string(),
            variables: Variables::of(event, &automation.name, metric).to_json(),
            payload,
            config: automation.action.config.to_string(),
            integration_url: None,
        };
        let granted = self
            .grants
            .get(&automation.action.plugin)
            .cloned()
            .unwrap_or_default();
        let launcher = QueueLauncher {
            store: self.store.clone(),
            entity_id,
            project: event.input.project_name().to_string(),
            enqueued_by: serde_json::json!({"automation": automation.id, "execution": execution_id}),
        };
        let reach = Reach {
            credentials: integration,
            granted,
            refs: tag,
            transport: self.transport.clone(),
            launcher: Some(Box::new(launcher)),
            redactor: redactor.clone(),
        };
        let report = execute(&self.engine, &plugin, invocation, reach).await;
        let verdict = verdict(&report).redacted(&redactor);
        let record = attempt_record(attempt, started, &report, &verdict, &redactor);
        let waiting: Duration = report.requests.iter().map(|r| r.duration).sum();
        (verdict, record, report.duration.saturating_sub(waiting))
    }
}

/// What one attempt may reach outside its sandbox.
pub struct Reach {
    /// The integration: its origin is reachable, with these credentials added by the host.
    pub credentials: Option<Credentials>,
    /// Origins the operator granted the plugin besides (reached without credentials).
    pub granted: Vec<url::Origin>,
    /// Tags the execution's secret placeholders (only those are filled).
    pub refs: RefTag,
    /// Where requests go.
    pub transport: Arc<dyn Transport>,
    /// Launch queues, when the attempt may enqueue (an automation's execution).
    pub launcher: Option<Box<dyn Launcher>>,
    /// Every secret value the attempt holds: answers are cleaned of them before the plugin
    /// sees them.
    pub redactor: Redactor,
}

/// Runs one plugin attempt: the one path that the dispatcher, an integration's test,
/// `herald plugin run` and the benchmark share. The invocation's integration URL is set from the
/// credentials (a hidden URL as its placeholder).
pub async fn execute(
    engine: &PluginEngine,
    plugin: &Plugin,
    mut invocation: Invocation,
    reach: Reach,
) -> ExecutionReport {
    invocation.integration_url = reach.credentials.as_ref().map(Credentials::url_for_plugin);
    let port = DeliveryPort {
        credentials: reach.credentials,
        execution_id: ExecutionId::from(invocation.execution_id.as_str()),
        refs: reach.refs,
        transport: reach.transport,
        redactor: reach.redactor,
    };
    let gate = port.gate(reach.granted);
    let mut io = HostIo::new(gate, Box::new(port));
    if let Some(launcher) = reach.launcher {
        io = io.with_launcher(launcher);
    }
    engine.execute(plugin, &invocation, io).await
}

/// What the report of an execution means for it.
pub fn verdict(report: &ExecutionReport) -> Verdict {
    match &report.result {
        Ok(Ok(outcome)) => Verdict::Succeeded(outcome.summary.clone()),
        Ok(Err(ActionError::Invalid(message))) => Verdict::Permanent {
            kind: FailureKind::Invalid,
            message: message.clone(),
        },
        Ok(Err(ActionError::Rejected(message))) => Verdict::Permanent {
            kind: FailureKind::Rejected,
            message: message.clone(),
        },
        Ok(Err(ActionError::Transient(failure))) => Verdict::Transient {
            reason: failure.message.clone(),
            retry_after: failure.retry_after.clone(),
        },
        Err(error @ (SandboxError::PoolExhausted(_) | SandboxError::WallDeadline(_))) => {
            Verdict::Transient {
                reason: error.to_string(),
                retry_after: None,
            }
        }
        Err(error) => Verdict::Permanent {
            kind: FailureKind::SandboxError,
            message: error.to_string(),
        },
    }
}

/// The error class of an attempt: the last request's, `http` for a refused response, `plugin`
/// for a sandbox failure, or none.
fn error_class(report: &ExecutionReport, verdict: &Verdict) -> Option<String> {
    if matches!(verdict, Verdict::Succeeded(_)) {
        return None;
    }
    if report.result.is_err() {
        return Some("plugin".into());
    }
    match report.requests.last() {
        Some(request) => match &request.error {
            Some((class, _)) => Some(class.clone()),
            None => Some("http".into()),
        },
        None => Some("plugin".into()),
    }
}

/// An attempt as stored and shown: every request with secrets redacted and bodies capped at
/// 64 KiB. Serialised straight to its JSON text (no intermediate `Value` tree: this is built for
/// every delivery).
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    /// The attempt's number, 1 for the first.
    pub number: u32,
    /// When it started (RFC 3339, milliseconds).
    pub started_at: String,
    /// How long the plugin ran, its requests included.
    pub duration_ms: f64,
    /// `succeeded`, `invalid`, `rejected`, `sandbox-error`, `unrunnable` or `transient`.
    pub outcome: &'static str,
    /// The plugin's summary or the reason it failed.
    pub message: String,
    /// The receiver's `Retry-After`, for a transient failure that had one.
    pub retry_after: Option<String>,
    /// What kind of failure, if it failed (`timeout`, `connect`, `http`, `plugin`, `config`, ...).
    pub error_class: Option<String>,
    /// The requests the plugin made, in order.
    pub requests: Vec<RequestView>,
    /// The plugin's log lines.
    pub logs: Vec<LogView>,
}

/// One request of an attempt, redacted.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    /// When it was made (RFC 3339, milliseconds).
    pub at: String,
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The headers as sent, `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: BodyView,
    /// Time from sending to the end of the response.
    pub duration_ms: f64,
    /// The receiver's answer, if one came.
    pub response: Option<ResponseView>,
    /// Why no answer came.
    pub error: Option<ErrorView>,
}

/// A receiver's answer, redacted.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseView {
    /// The status code.
    pub status: u16,
    /// The headers, `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: BodyView,
}

/// A body as text, or its first 64 KiB and its length when it was longer, or only its length
/// once the attempt's record has kept [`RECORD_BODIES_LIMIT`] bytes of bodies.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BodyView {
    /// The whole body.
    Whole(String),
    /// The body's start.
    Truncated {
        /// The first 64 KiB.
        text: String,
        /// Always true.
        truncated: bool,
        /// The whole body's length in bytes.
        length: usize,
    },
    /// Not kept: the attempt's record already holds as many body bytes as it may.
    Omitted {
        /// Always true.
        omitted: bool,
        /// The body's length in bytes.
        length: usize,
    },
}

/// Why a request got no answer.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    /// `denied`, `dns`, `connect`, `timeout`, ...
    pub class: String,
    /// What happened, redacted.
    pub message: String,
}

/// A plugin's log line, redacted.
#[derive(Debug, Clone, Serialize)]
pub struct LogView {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The text.
    pub message: String,
}

/// A body as recorded: redacted whole first (so that a secret cut by the limit leaves no
/// prefix behind), then cut to what the attempt's remaining `budget` allows.
fn recorded_body(redactor: &Redactor, bytes: &[u8], budget: &mut usize) -> BodyView {
    if bytes.is_empty() {
        return BodyView::Whole(String::new());
    }
    if *budget == 0 {
        return BodyView::Omitted {
            omitted: true,
            length: bytes.len(),
        };
    }
    let text = redactor.bytes(bytes);
    let limit = RECORD_BODY_LIMIT.min(*budget);
    if text.len() <= limit {
        *budget -= text.len();
        return BodyView::Whole(text);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // Never end inside a redaction marker: a cut marker would read as part of the body.
    if let Some(start) = text[..end].rfind('[')
        && REDACTED.starts_with(&text[start..end])
    {
        end = start;
    }
    *budget -= end;
    BodyView::Truncated {
        text: text[..end].to_string(),
        truncated: true,
        length: bytes.len(),
    }
}

/// The most header bytes a record keeps per request or response; the rest are counted.
const RECORD_HEADERS_LIMIT: usize = 16 << 10;

/// Headers as recorded: redacted, and at most [`RECORD_HEADERS_LIMIT`] bytes of them, with a
/// last pseudo-header saying how many were left out.
fn recorded_headers(redactor: &Redactor, headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut kept = Vec::new();
    let mut bytes = 0;
    let redacted = redactor.headers(headers);
    let total = redacted.len();
    for (name, value) in redacted {
        bytes += name.len() + value.len();
        if bytes > RECORD_HEADERS_LIMIT {
            break;
        }
        kept.push((name, value));
    }
    if kept.len() < total {
        let left = total - kept.len();
        kept.push((
            "x-herald-note".into(),
            format!("{left} more header(s) not recorded: record limit reached"),
        ));
    }
    kept
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn rfc3339_millis(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// The attempt as stored: every request with secrets redacted and bodies capped at 64 KiB.
pub fn attempt_record(
    attempt: u32,
    started: SystemTime,
    report: &ExecutionReport,
    verdict: &Verdict,
    redactor: &Redactor,
) -> AttemptRecord {
    let mut budget = RECORD_BODIES_LIMIT;
    let requests = report
        .requests
        .iter()
        .map(|r| RequestView {
            at: rfc3339_millis(r.at),
            method: r.method.clone(),
            url: redactor.text(&r.url),
            headers: recorded_headers(redactor, &r.headers),
            body: recorded_body(redactor, &r.body, &mut budget),
            duration_ms: millis(r.duration),
            response: r.response.as_ref().map(|response| ResponseView {
                status: response.status,
                headers: recorded_headers(redactor, &response.headers),
                body: recorded_body(redactor, &response.body, &mut budget),
            }),
            error: r.error.as_ref().map(|(class, message)| ErrorView {
                class: class.clone(),
                message: cut(&redactor.text(message), MAX_MESSAGE_BYTES),
            }),
        })
        .collect();
    let (outcome, message, retry_after) = match verdict {
        Verdict::Succeeded(summary) => ("succeeded", summary, None),
        Verdict::Permanent { kind, message } => (kind.as_str(), message, None),
        Verdict::Transient {
            reason,
            retry_after,
        } => ("transient", reason, retry_after.clone()),
    };
    AttemptRecord {
        number: attempt,
        started_at: rfc3339_millis(started),
        duration_ms: millis(report.duration),
        outcome,
        message: cut(&redactor.text(message), MAX_MESSAGE_BYTES),
        retry_after,
        error_class: error_class(report, verdict),
        requests,
        logs: report
            .logs
            .iter()
            .map(|line| LogView {
                level: line.level,
                message: redactor.text(&line.message),
            })
            .collect(),
    }
}

fn unrunnable_record(attempt: u32, started: SystemTime, reason: &str) -> AttemptRecord {
    AttemptRecord {
        number: attempt,
        started_at: rfc3339_millis(started),
        duration_ms: 0.0,
        outcome: "unrunnable",
        message: reason.to_string(),
        retry_after: None,
        error_class: Some("config".into()),
        requests: Vec::new(),
        logs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_cut_by_the_body_limit_leaves_no_prefix() {
        let secret = "S3CRET-VALUE-1234567890";
        let redactor = Redactor::new([secret]);
        // The secret straddles the 64 KiB boundary.
        let mut body = "x".repeat(RECORD_BODY_LIMIT - 5);
        body.push_str(secret);
        body.push_str(&"y".repeat(100));
        let mut budget = RECORD_BODIES_LIMIT;
        let BodyView::Truncated { text, .. } =
            recorded_body(&redactor, body.as_bytes(), &mut budget)
        else {
            panic!("not truncated")
        };
        assert!(!text.contains("S3CR"), "a prefix of the secret was kept");
        assert!(text.ends_with('x') || text.ends_with(REDACTED));
    }

    #[test]
    fn bodies_past_the_attempt_budget_are_omitted() {
        let redactor = Redactor::default();
        let body = vec![b'a'; RECORD_BODY_LIMIT * 2];
        let mut budget = RECORD_BODIES_LIMIT;
        for _ in 0..RECORD_BODIES_LIMIT / RECORD_BODY_LIMIT {
            assert!(matches!(
                recorded_body(&redactor, &body, &mut budget),
                BodyView::Truncated { .. }
            ));
        }
        assert!(matches!(
            recorded_body(&redactor, &body, &mut budget),
            BodyView::Omitted { length, .. } if length == body.len()
        ));
    }

    #[test]
    fn messages_are_cut_and_say_so() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let kept = cut(&long, MAX_MESSAGE_BYTES);
        assert!(kept.len() < MAX_MESSAGE_BYTES + 40);
        assert!(kept.ends_with(&format!("[cut: {} bytes in all]", long.len())));
    }
}
