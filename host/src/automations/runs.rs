//! Run-metric state: for each run, the newest finite values of each watched metric and each
//! metric automation's last firing. Kept in memory, bounded, and rebuilt from the run's stored
//! samples (replayed through the same code) when a run is first seen after a start or an
//! eviction, so that a restart fires at exactly the samples an uninterrupted run would.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::index::Compiled;
use super::metric::Firing;
use crate::events::event::MetricValue;
use crate::ids::AutomationId;

/// How many runs' metric state is kept in memory by default. A run's state is, per metric some
/// automation watches, at most the largest window in use (≤ 1,001 values of 16 bytes).
pub const DEFAULT_MAX_RUNS: usize = 100_000;

/// Memory and storage bounds of run-metric automations (`[run_metrics]` in the config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunMetricsConfig {
    /// Runs whose windows are kept in memory; the least recently used beyond it are dropped and
    /// rebuilt from storage when they log again.
    pub max_runs: usize,
    /// Stored samples older than this are deleted in the background (those that fired an
    /// automation stay, with their executions). A run rebuilt after a restart sees only the
    /// samples still stored.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often the purge runs.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
}

impl Default for RunMetricsConfig {
    fn default() -> Self {
        Self {
            max_runs: DEFAULT_MAX_RUNS,
            retention: Duration::from_secs(30 * 86_400),
            purge_interval: Duration::from_secs(3_600),
        }
    }
}

/// A run, as metric state is kept for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunKey {
    /// The entity.
    pub entity_id: i64,
    /// The project the run logs to.
    pub project: String,
    /// The run's id.
    pub run_id: String,
}

impl RunKey {
    /// The name of the run's lock on a shared database.
    pub fn lock_name(&self) -> String {
        format!("run:{}:{}:{}", self.entity_id, self.project, self.run_id)
    }
}

/// One run's state.
#[derive(Debug, Default)]
pub struct RunState {
    /// Per metric: its newest finite values.
    values: HashMap<String, Window>,
    /// Per automation: when it last fired for this run (ms).
    fired: HashMap<AutomationId, i64>,
    /// The newest step the run logged: a sample for an older one changes nothing.
    newest_step: Option<u64>,
    touched: u64,
    /// The store sequence of the last stored sample taken in: on a shared database, the samples
    /// after it (other hosts') are taken in before the next one is evaluated.
    seen: i64,
}

/// A metric's newest finite values in a run.
#[derive(Debug, Default)]
struct Window {
    /// (received at, ms; value), oldest first.
    values: VecDeque<(i64, f64)>,
    /// The step of the newest value, when it came with one: a sample for that step again
    /// replaces it.
    step: Option<u64>,
}

/// What one sample did for one automation.
#[derive(Debug)]
pub enum Verdict {
    /// The condition held and the cooldown allowed it: create an execution.
    Fire(Firing),
    /// The condition held inside the cooldown: counted, nothing created.
    Suppressed,
}

/// One sample of one metric.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The metric's name.
    pub metric: &'a str,
    /// Its value.
    pub value: MetricValue,
    /// The step it was logged at, if it says.
    pub step: Option<u64>,
    /// When the host received it (ms).
    pub at_ms: i64,
}

impl RunState {
    /// Records that the stored sample `seq` has been taken in.
    pub fn stored(&mut self, seq: i64) {
        self.seen = self.seen.max(seq);
    }

    /// Takes a sample's step, before its metrics: false when it is older than the newest step
    /// the run logged, and then the sample changes nothing (W&B keys a run's history by step:
    /// a late step is history, not the newest value). A sample without a step is the newest.
    pub fn step(&mut self, step: Option<u64>) -> bool {
        match (step, self.newest_step) {
            (Some(step), Some(newest)) if step < newest => false,
            (Some(step), _) => {
                self.newest_step = Some(step);
                true
            }
            (None, _) => true,
        }
    }

    /// Takes one sample into the metric's window, which keeps its newest `keep` values (the
    /// largest window of any automation watching the metric), and evaluates the `candidates`
    /// watching it (those whose scope, trigger and filter hold on the sample's event), calling
    /// `verdict` for each that held. Live ingest and the replay after a restart both come
    /// through here, so they cannot disagree.
    ///
    /// A sample for the step of the metric's newest value replaces that value. The caller has
    /// checked the sample's step first ([`RunState::step`]).
    pub fn apply(
        &mut self,
        keep: usize,
        candidates: &[Arc<Compiled>],
        sample: Sample<'_>,
        scratch: &mut Vec<f64>,
        mut verdict: impl FnMut(&Arc<Compiled>, Verdict),
    ) {
        if keep == 0 {
            // No automation watches this metric: no window work at all.
            return;
        }
        let Sample {
            metric,
            value,
            step,
            at_ms,
        } = sample;
        let value = value.as_f64();
        let window = self.values.entry(metric.to_string()).or_default();
        if step.is_some() && window.step == step {
            window.values.pop_back();
        }
        window.step = step.filter(|_| value.is_finite());
        if value.is_finite() {
            window.values.push_back((at_ms, value));
        }
        while window.values.len() > keep {
            window.values.pop_front();
        }
        for compiled in candidates {
            let Some(condition) = compiled.metric.as_ref().filter(|m| m.name == metric) else {
                continue;
            };
            // An automation sees only samples from when it last started listening.
            if at_ms < compiled.armed_ms {
                continue;
            }
            scratch.clear();
            scratch.extend(
                window
                    .values
                    .iter()
                    .filter(|(t, _)| *t >= compiled.armed_ms)
                    .map(|(_, v)| *v),
            );
            let Some(firing) = condition.evaluate(scratch, value) else {
                continue;
            };
            let id = &compiled.automation.id;
            let cooldown_ms = condition.cooldown_seconds.saturating_mul(1000) as i64;
            match self.fired.get(id) {
                // A firing from before it last started listening does not count: its cooldown
                // started anew too.
                Some(&last)
                    if last >= compiled.armed_ms && at_ms.saturating_sub(last) < cooldown_ms =>
                {
                    verdict(compiled, Verdict::Suppressed);
                }
                _ => {
                    self.fired.insert(id.clone(), at_ms);
                    verdict(compiled, Verdict::Fire(firing));
                }
            }
        }
    }
}

/// Every run's state, bounded to `max_runs` (the least recently used are evicted and rebuilt
/// from storage when they log again). Runs a request is working on are pinned: never evicted
/// until it is done, so a batch over more runs than `max_runs` evaluates each from its real
/// state (memory then briefly holds `max_runs` plus the runs in flight).
#[derive(Debug)]
pub struct RunStates {
    runs: Mutex<HashMap<RunKey, RunState>>,
    /// Runs requests are working on, with how many requests each.
    pinned: Mutex<HashMap<RunKey, usize>>,
    max_runs: usize,
    clock: AtomicU64,
}

/// Runs pinned in memory until dropped.
pub struct Pinned<'a> {
    states: &'a RunStates,
    keys: Vec<RunKey>,
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        let mut pinned = self.states.pinned.lock().expect("not poisoned");
        for key in &self.keys {
            if let Some(count) = pinned.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    pinned.remove(key);
                }
            }
        }
    }
}

impl RunStates {
    /// Keeps at most `max_runs` runs in memory.
    pub fn new(max_runs: usize) -> Self {
        Self {
            runs: Mutex::new(HashMap::new()),
            pinned: Mutex::new(HashMap::new()),
            max_runs: max_runs.max(1),
            clock: AtomicU64::new(0),
        }
    }

    /// Keeps these runs in memory until the guard is dropped.
    pub fn pin(&self, keys: impl IntoIterator<Item = RunKey>) -> Pinned<'_> {
        let keys: Vec<RunKey> = keys.into_iter().collect();
        let mut pinned = self.pinned.lock().expect("not poisoned");
        for key in &keys {
            *pinned.entry(key.clone()).or_default() += 1;
        }
        Pinned { states: self, keys }
    }

    /// Whether the run's state is in memory.
    pub fn contains(&self, key: &RunKey) -> bool {
        self.runs.lock().expect("not poisoned").contains_key(key)
    }

    /// Puts a rebuilt run in (unless a concurrent request got there first).
    pub fn insert(&self, key: RunKey, state: RunState) {
        let mut runs = self.runs.lock().expect("not poisoned");
        let touched = self.clock.fetch_add(1, Ordering::Relaxed);
        runs.entry(key).or_insert(RunState { touched, ..state });
        self.evict_over_limit(&mut runs);
    }

    /// Runs `f` on a run's state (a fresh one if it is not in memory).
    pub fn with<R>(&self, key: &RunKey, f: impl FnOnce(&mut RunState) -> R) -> R {
        let mut runs = self.runs.lock().expect("not poisoned");
        let touched = self.clock.fetch_add(1, Ordering::Relaxed);
        if !runs.contains_key(key) {
            runs.insert(key.clone(), RunState::default());
            runs.get_mut(key).expect("just inserted").touched = touched;
            self.evict_over_limit(&mut runs);
        }
        let state = runs.get_mut(key).expect("the newest run is never evicted");
        state.touched = touched;
        f(state)
    }

    /// The store sequence of the last sample the run's state took in; `None` when the run is not
    /// in memory.
    pub fn seen(&self, key: &RunKey) -> Option<i64> {
        self.runs
            .lock()
            .expect("not poisoned")
            .get(key)
            .map(|state| state.seen)
    }

    /// Takes the step of a sample no automation watches, if the run is in memory (so that its
    /// newest step is the same as a run rebuilt from storage would have).
    pub fn step(&self, key: &RunKey, step: Option<u64>) {
        if let Some(state) = self.runs.lock().expect("not poisoned").get_mut(key) {
            state.step(step);
        }
    }

    /// Records, if the run is in memory, that its stored sample `seq` has been taken in.
    pub fn stored(&self, key: &RunKey, seq: i64) {
        if let Some(state) = self.runs.lock().expect("not poisoned").get_mut(key) {
            state.stored(seq);
        }
    }

    /// Forgets a run: it finished, or what was applied in memory was not stored.
    pub fn forget(&self, key: &RunKey) {
        self.runs.lock().expect("not poisoned").remove(key);
    }

    /// How many runs are in memory.
    pub fn len(&self) -> usize {
        self.runs.lock().expect("not poisoned").len()
    }

    /// Whether no run is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn evict_over_limit(&self, runs: &mut HashMap<RunKey, RunState>) {
        if runs.len() <= self.max_runs {
            return;
        }
        // Evict the least recently used tenth at once, so eviction is amortised.
        let mut ages: Vec<u64> = runs.values().map(|r| r.touched).collect();
        let cut = (runs.len() / 10).max(runs.len() - self.max_runs);
        let (_, nth, _) = ages.select_nth_unstable(cut - 1);
        let oldest_kept = *nth;
        let pinned = self.pinned.lock().expect("not poisoned");
        runs.retain(|key, run| run.touched > oldest_kept || pinned.contains_key(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> RunKey {
        RunKey {
            entity_id: 1,
            project: "p".into(),
            run_id: format!("r{n}"),
        }
    }

    #[test]
    fn the_least_recently_used_runs_are_evicted_past_the_limit() {
        let runs = RunStates::new(10);
        for n in 0..10 {
            runs.with(&key(n), |_| ());
        }
        // r0 is used again, so r1 is now the least recently used.
        runs.with(&key(0), |_| ());
        runs.with(&key(10), |_| ());
        assert_eq!(runs.len(), 10);
        assert!(runs.contains(&key(0)) && runs.contains(&key(10)));
        assert!(!runs.contains(&key(1)));
        runs.forget(&key(0));
        assert!(!runs.contains(&key(0)));
    }

    #[test]
    fn pinned_runs_stay_past_the_limit_until_released() {
        let runs = RunStates::new(3);
        let pin = runs.pin((0..5).map(key));
        for n in 0..5 {
            runs.with(&key(n), |_| ());
        }
        assert!((0..5).all(|n| runs.contains(&key(n))));
        drop(pin);
        runs.with(&key(5), |_| ());
        assert!(runs.len() <= 3 && runs.contains(&key(5)));
    }
}
