//! One attempt at one execution: resolve the integration and its secrets, run the plugin with
//! them kept outside the sandbox, and turn the report into a redacted attempt record and a verdict.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::credentials::{CredentialCache, Unrunnable};
use super::outbound::{Credentials, DeliveryPort};
use super::record::{AttemptRecord, attempt_record, unrunnable_record};
use super::redact::Redactor;
use super::transport::Transport;
use super::verdict::{Verdict, verdict};
use crate::engine::outbound::Launcher;
use crate::engine::{ExecutionReport, HostIo, Invocation, Plugin, PluginEngine};
use crate::events::Variables;
use crate::ids::ExecutionId;
use crate::launch::enqueue::QueueLauncher;
use crate::plugins::PluginRegistry;
use crate::secrets::MasterKey;
use crate::secrets::refs::RefTag;
use crate::store::{Claimed, Store};

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

impl Deliverer {
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
