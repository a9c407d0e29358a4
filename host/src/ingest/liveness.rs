//! Run liveness: a run reported from training code (not launched: a launched run's liveness is
//! its queue item's lease) that sends nothing — no sample, no state, no heartbeat — for
//! `[runs] crash_after` is reported `RUN_STATE FAILED` with reason `crashed`, once, by one host,
//! as W&B turns a crashed run into a failed one. Which events count and how often they are
//! written is decided here; the record is `store/runs.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Ingest;
use crate::model::event::{Event, EventInput, EventType, RunState};
use crate::store::{Liveness, RunTouch, SilentRun};

/// The reason a silent run is reported `FAILED` with.
pub const CRASHED: &str = "crashed";

/// Run liveness settings (`[runs]` in the config).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunsConfig {
    /// A running run that sends nothing (samples, states, heartbeats) for this long is reported
    /// `FAILED` (`crashed`). `0s` turns it off.
    #[serde(with = "humantime_serde")]
    pub crash_after: Duration,
}

impl Default for RunsConfig {
    fn default() -> Self {
        Self {
            crash_after: Duration::from_secs(300),
        }
    }
}

impl RunsConfig {
    /// Whether silent runs are looked for at all.
    pub fn enabled(&self) -> bool {
        !self.crash_after.is_zero()
    }

    /// How often a busy run's liveness is written (a sample need not write each time): a
    /// quarter of `crash_after`, at most 5 s.
    fn write_every_ms(&self) -> i64 {
        (self.crash_after.as_millis() as i64 / 4).clamp(1, 5_000)
    }

    /// How often hosts look for silent runs.
    pub fn sweep_every(&self) -> Duration {
        (self.crash_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
    }
}

/// Decides what each event records of its run's liveness, writing a busy run's at most every
/// few seconds (a run logging thousands of samples a second costs one upsert per interval).
#[derive(Debug)]
pub struct RunLiveness {
    config: RunsConfig,
    /// When this host last wrote each run's liveness (ms).
    written: Mutex<HashMap<(i64, String, String), i64>>,
}

/// Runs whose last write is remembered; past it the memory is cleared (a run then writes once
/// more than it needed to).
const REMEMBERED: usize = 100_000;

impl RunLiveness {
    /// Liveness as `config` says.
    pub fn new(config: RunsConfig) -> Self {
        Self {
            config,
            written: Mutex::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> RunsConfig {
        self.config
    }

    /// What `event`, received at `now_ms`, records of its run: `None` for events of no run, of a
    /// launched run, or a sample of a run written recently.
    pub fn touch(&self, entity_id: i64, event: &Event, now_ms: i64) -> Option<RunTouch> {
        if event.launched || !self.config.enabled() {
            return None;
        }
        let input = &event.input;
        let liveness = match (input.event_type, input.state) {
            (EventType::RunState, Some(RunState::Running)) => Liveness::Started,
            (EventType::RunState, Some(RunState::Finished | RunState::Failed)) => Liveness::Ended,
            (EventType::RunMetric, _) => Liveness::Seen,
            _ => return None,
        };
        let run_id = input.run_id.clone()?;
        let key = (entity_id, input.project_name().to_string(), run_id);
        {
            let mut written = self.written.lock().expect("not poisoned");
            if liveness == Liveness::Seen
                && written
                    .get(&key)
                    .is_some_and(|at| now_ms - at < self.config.write_every_ms())
            {
                return None;
            }
            if written.len() >= REMEMBERED {
                written.clear();
            }
            if liveness == Liveness::Ended {
                written.remove(&key);
            } else {
                written.insert(key.clone(), now_ms);
            }
        }
        Some(RunTouch {
            project: key.1,
            run_id: key.2,
            run_name: input.run_name.clone(),
            liveness,
        })
    }
}

/// Runs forever on every host: claims the runs silent for `crash_after` and records
/// `RUN_STATE FAILED` (`crashed`) for each, through ingest like any posted event (idempotent: a
/// host that dies mid-report and the one that takes over record it once).
pub async fn report_silent_runs(ingest: Ingest) {
    let config = ingest.liveness.config();
    if !config.enabled() {
        return;
    }
    let mut tick = tokio::time::interval(config.sweep_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A host that claimed a run and died before reporting it: another takes it after this.
    let reclaim_ms = 60_000;
    loop {
        tick.tick().await;
        let silent_since = crate::store::unix_millis() - config.crash_after.as_millis() as i64;
        let silent = match ingest
            .store
            .claim_silent_runs(silent_since, reclaim_ms, 500)
            .await
        {
            Ok(silent) => silent,
            Err(error) => {
                tracing::warn!(%error, "looking for silent runs failed; retrying");
                continue;
            }
        };
        for run in silent {
            tracing::info!(project = %run.project, run = %run.run_id, "a run went silent: reporting it crashed");
            if let Err(error) = report_crashed(&ingest, &run).await {
                tracing::warn!(run = %run.run_id, %error, "reporting a crashed run");
            }
        }
    }
}

async fn report_crashed(ingest: &Ingest, run: &SilentRun) -> Result<(), crate::store::StoreError> {
    let mut fields = json!({
        "type": "RUN_STATE", "entity": run.entity.name, "project": run.project,
        "run_id": run.run_id, "state": "FAILED", "reason": CRASHED, "author": "herald",
    });
    if let Some(name) = &run.run_name {
        fields["run_name"] = name.as_str().into();
    }
    let input: EventInput = serde_json::from_value(fields)
        .expect("every field is one the run's events carried, checked when they were posted");
    // A line break no header value can hold: no posted key can stand for this one.
    let key = format!(
        "crashed\n{}\n{}\n{}",
        run.project, run.run_id, run.last_seen
    );
    ingest
        .events(run.entity.id, vec![(Event::new(input), Some(key))])
        .await?;
    Ok(())
}
