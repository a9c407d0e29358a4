//! A property test of run-metric evaluation through the real binary: random runs, with
//! automations disabled, enabled again and edited mid-run, steps repeated and late, and server
//! restarts, must fire exactly where a small reference model of the README's rules says.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, Server, expect_status};

/// A small deterministic generator (xorshift64*), so that a failure can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agg {
    Average,
    Max,
    Min,
}

/// An automation as the reference sees it.
#[derive(Debug, Clone)]
struct Rule {
    id: String,
    window: usize,
    agg: Agg,
    above: bool,
    value: f64,
    /// A cooldown longer than the test (else none).
    cooldown: bool,
    /// Evaluated only at samples flagged 1.
    flagged: bool,
    enabled: bool,
    /// The index of the first sample it sees (it was created, enabled or edited just before).
    armed: usize,
}

impl Rule {
    fn metric(&self) -> Value {
        let agg = match self.agg {
            Agg::Average => "AVERAGE",
            Agg::Max => "MAX",
            Agg::Min => "MIN",
        };
        json!({"name": "loss", "window": self.window, "agg": agg,
               "cmp": if self.above { "$gt" } else { "$lt" }, "value": self.value,
               "cooldown_seconds": if self.cooldown { 3600 } else { 0 }})
    }

    fn event(&self) -> Value {
        let mut event = json!({"type": "RUN_METRIC_THRESHOLD", "metric": self.metric()});
        if self.flagged {
            event["filter"] = json!({"metrics.flag": 1});
        }
        event
    }
}

/// The reference: the README's rules, written plainly.
#[derive(Default)]
struct Reference {
    /// (sample index, value) of every value in the run's window, oldest first.
    values: Vec<(usize, f64)>,
    /// The newest step, and whether its value is the newest in `values`.
    newest: Option<(u64, bool)>,
    /// Per automation, the sample index it last fired at.
    fired: HashMap<String, usize>,
}

impl Reference {
    /// Takes sample `index`; returns the automations that fire.
    fn sample(
        &mut self,
        rules: &[Rule],
        index: usize,
        step: u64,
        loss: f64,
        flag: u64,
    ) -> Vec<String> {
        match self.newest {
            Some((newest, _)) if step < newest => return Vec::new(),
            Some((newest, true)) if step == newest => {
                self.values.pop();
            }
            _ => {}
        }
        self.newest = Some((step, true));
        self.values.push((index, loss));
        let mut firing = Vec::new();
        for rule in rules {
            if !rule.enabled || (rule.flagged && flag != 1) || index < rule.armed {
                continue;
            }
            let seen: Vec<f64> = self
                .values
                .iter()
                .filter(|(at, _)| *at >= rule.armed)
                .map(|(_, v)| *v)
                .collect();
            if seen.len() < rule.window {
                continue;
            }
            let last = &seen[seen.len() - rule.window..];
            let x = match rule.agg {
                Agg::Average => last.iter().sum::<f64>() / last.len() as f64,
                Agg::Max => last.iter().copied().fold(f64::MIN, f64::max),
                Agg::Min => last.iter().copied().fold(f64::MAX, f64::min),
            };
            let holds = if rule.above {
                x > rule.value
            } else {
                x < rule.value
            };
            if !holds {
                continue;
            }
            let cooled =
                rule.cooldown && self.fired.get(&rule.id).is_some_and(|at| *at >= rule.armed);
            if !cooled {
                self.fired.insert(rule.id.clone(), index);
                firing.push(rule.id.clone());
            }
        }
        firing.sort();
        firing
    }
}

/// Posts a sample; returns the automations it fired, sorted.
async fn post(admin: &Api, project: &str, step: u64, loss: f64, flag: u64) -> Vec<String> {
    let body = json!({"type": "RUN_METRIC", "entity": "default", "project": project, "run_id": "run",
                      "step": step, "metrics": {"loss": loss, "flag": flag}});
    let posted = expect_status(&admin.post("/v1/events", &body).await, 202).clone();
    let id = posted["event_id"].as_str().unwrap();
    let event = expect_status(&admin.get(&format!("/v1/events/{id}")).await, 200).clone();
    let mut fired: Vec<String> = event["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["automation_id"].as_str().unwrap().to_string())
        .collect();
    fired.sort();
    fired
}

/// A change that takes effect between two samples: kept a couple of milliseconds away from
/// both, since a sample and an edit in the same millisecond are concurrent either way.
async fn between_samples() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

#[tokio::test]
async fn random_runs_with_edits_and_restarts_fire_where_the_reference_says() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start_ingest_only(&data);
    let mut admin = server.admin();
    let scenarios = 12;
    let mut samples_checked = 0;
    let mut firings = 0;
    for scenario in 0..scenarios {
        let seed =
            0x9e37_79b9_7f4a_7c15_u64 ^ (scenario as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let mut rng = Rng(seed);
        let project = format!("p{scenario}");
        let mut rules = Vec::new();
        for n in 0..3 {
            let mut rule = Rule {
                id: String::new(),
                window: 1 + rng.below(3) as usize,
                agg: [Agg::Average, Agg::Max, Agg::Min][rng.below(3) as usize],
                above: rng.below(2) == 0,
                value: [0.5, 1.5, 2.5][rng.below(3) as usize],
                cooldown: rng.below(3) == 0,
                flagged: rng.below(3) == 0,
                enabled: true,
                armed: 0,
            };
            let body = json!({"name": format!("{project}-r{n}"), "scope": {"type": "project", "project": project},
                              "event": rule.event(), "action": {"type": "no-op"}});
            rule.id = crate::common::create_automation(&admin, body).await;
            rules.push(rule);
        }
        between_samples().await;
        let mut reference = Reference::default();
        let mut index = 0;
        let mut newest = 0u64;
        for op in 0..40 {
            let roll = rng.below(100);
            if roll < 8 {
                // Disable or enable one: enabled again, it starts anew.
                let rule = &mut rules[rng.below(3) as usize];
                rule.enabled = !rule.enabled;
                if rule.enabled {
                    rule.armed = index;
                }
                let path = format!("/v1/automations/{}", rule.id);
                expect_status(
                    &admin.patch(&path, &json!({"enabled": rule.enabled})).await,
                    200,
                );
                between_samples().await;
            } else if roll < 15 {
                // Edit one's window: it starts anew from the next sample.
                let rule = &mut rules[rng.below(3) as usize];
                rule.window = 1 + (rule.window % 3);
                rule.armed = index;
                let path = format!("/v1/automations/{}", rule.id);
                expect_status(
                    &admin.patch(&path, &json!({"event": rule.event()})).await,
                    200,
                );
                between_samples().await;
            } else if roll < 19 {
                server.terminate(Duration::from_secs(10));
                server = Server::start_ingest_only(&data);
                admin = server.admin();
            } else {
                let step = match rng.below(10) {
                    0 if newest > 0 => newest,
                    1 if newest > 1 => newest - 1 - rng.below(newest - 1),
                    _ => newest + 1,
                };
                newest = newest.max(step);
                let loss = rng.below(4) as f64;
                let flag = rng.below(2);
                let expected = reference.sample(&rules, index, step, loss, flag);
                let got = post(&admin, &project, step, loss, flag).await;
                assert_eq!(
                    got, expected,
                    "scenario {scenario} (seed {seed:#x}), op {op}, sample {index} (step {step}, \
                     loss {loss}, flag {flag}); rules: {rules:#?}"
                );
                firings += got.len();
                samples_checked += 1;
                index += 1;
            }
        }
    }
    // Not vacuous: the scenarios fire, and often.
    assert!(
        samples_checked > 300 && firings > 50,
        "{samples_checked} samples, {firings} firings"
    );
}
