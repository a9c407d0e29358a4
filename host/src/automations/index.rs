//! The in-memory index of enabled automations, kept in step with the store. Buckets by
//! (entity, trigger kind), then by scope (entity-wide, project or registry, collection), so an event
//! only meets the automations whose scope can contain it, and within a scope by the string equality
//! a filter cannot hold without (`"state": "FAILED"`), so an event never meets the automations whose
//! constant fields differ from its own: matching cost grows with the automations that can match,
//! not with all automations.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::{Automation, Scope, TriggerKind};
use crate::events::event::EventInput;
use crate::events::filter::{Filter, guard_keys};
use crate::events::template::Template;

/// An automation ready to match: its filter and template parsed once.
#[derive(Debug)]
pub struct Compiled {
    /// The definition, shared with the executions handed to delivery.
    pub automation: Arc<Automation>,
    /// The definition as JSON: the snapshot every execution stores, serialised once.
    pub snapshot: String,
    /// The owning entity's id.
    pub entity_id: i64,
    /// The parsed filter (always holds when the automation has none).
    pub filter: Filter,
    /// The parsed payload template, if any.
    pub template: Option<Template>,
}

/// (registry?, name) of a project or registry.
type Space = (bool, String);

/// Automations filed by the value their guard field must have.
type ByValue = HashMap<String, Vec<Arc<Compiled>>>;

/// The automations of one scope.
#[derive(Debug, Default)]
struct Candidates {
    /// Filters without a string equality: each is evaluated for every event.
    unguarded: Vec<Arc<Compiled>>,
    /// Filters with one: by the field it is on, then by the value it requires.
    guarded: Vec<(Vec<String>, ByValue)>,
}

impl Candidates {
    fn insert(&mut self, compiled: Arc<Compiled>) {
        let Some((path, value)) = compiled.filter.equality_guard() else {
            self.unguarded.push(compiled);
            return;
        };
        let by_value = match self.guarded.iter().position(|(p, _)| p == path) {
            Some(index) => &mut self.guarded[index].1,
            None => {
                self.guarded.push((path.to_vec(), HashMap::new()));
                &mut self.guarded.last_mut().expect("just pushed").1
            }
        };
        by_value
            .entry(value.to_string())
            .or_default()
            .push(compiled.clone());
    }

    fn remove(&mut self, old: &Compiled) {
        let id = &old.automation.id;
        let keep = |c: &Arc<Compiled>| &c.automation.id != id;
        let Some((path, value)) = old.filter.equality_guard() else {
            self.unguarded.retain(keep);
            return;
        };
        if let Some((_, by_value)) = self.guarded.iter_mut().find(|(p, _)| p == path)
            && let Some(list) = by_value.get_mut(value)
        {
            list.retain(keep);
            if list.is_empty() {
                by_value.remove(value);
            }
        }
        self.guarded.retain(|(_, by_value)| !by_value.is_empty());
    }

    /// Adds to `matched` the candidates whose filter holds for `document`.
    fn matching(&self, document: &Value, matched: &mut Vec<Arc<Compiled>>) {
        let mut consider = |candidates: &[Arc<Compiled>]| {
            for candidate in candidates {
                if candidate.filter.matches(document) {
                    matched.push(candidate.clone());
                }
            }
        };
        consider(&self.unguarded);
        for (path, by_value) in &self.guarded {
            for (index, key) in guard_keys(document, path).enumerate() {
                // An array may hold a value twice; its automations still fire once.
                if guard_keys(document, path).take(index).any(|k| k == key) {
                    continue;
                }
                if let Some(list) = by_value.get(key) {
                    consider(list);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Buckets {
    entity_wide: Candidates,
    by_space: HashMap<Space, Candidates>,
    by_collection: HashMap<(Space, String), Candidates>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Arc<Compiled>>,
    buckets: HashMap<(i64, TriggerKind), Buckets>,
}

/// The index. Reads (matching) share a lock; writes (create, update, delete) are rare.
#[derive(Debug, Default)]
pub struct AutomationIndex {
    inner: RwLock<Inner>,
}

impl AutomationIndex {
    /// Adds or replaces an automation (a disabled one is removed from matching).
    pub fn upsert(&self, compiled: Compiled) {
        let compiled = Arc::new(compiled);
        let mut inner = self.inner.write().expect("not poisoned");
        if let Some(old) = inner.by_id.remove(&compiled.automation.id) {
            remove_from_buckets(&mut inner, &old);
        }
        if compiled.automation.enabled {
            let key = (compiled.entity_id, compiled.automation.event.kind);
            let buckets = inner.buckets.entry(key).or_default();
            match place(&compiled.automation.scope) {
                Place::Entity => buckets.entity_wide.insert(compiled.clone()),
                Place::Space(space) => buckets
                    .by_space
                    .entry(space)
                    .or_default()
                    .insert(compiled.clone()),
                Place::Collection(space, collection) => buckets
                    .by_collection
                    .entry((space, collection))
                    .or_default()
                    .insert(compiled.clone()),
            }
        }
        inner.by_id.insert(compiled.automation.id.clone(), compiled);
    }

    /// Removes an automation.
    pub fn remove(&self, id: &str) {
        let mut inner = self.inner.write().expect("not poisoned");
        if let Some(old) = inner.by_id.remove(id) {
            remove_from_buckets(&mut inner, &old);
        }
    }

    /// The enabled automations of `entity_id` whose trigger, scope and filter match the event.
    /// `document` is the event's fields as JSON (what filters look at).
    pub fn matching(
        &self,
        entity_id: i64,
        event: &EventInput,
        document: &Value,
    ) -> Vec<Arc<Compiled>> {
        let inner = self.inner.read().expect("not poisoned");
        let space: Option<Space> = match (&event.project, &event.registry) {
            (Some(project), _) => Some((false, project.clone())),
            (None, Some(registry)) => Some((true, registry.clone())),
            (None, None) => None,
        };
        let mut matched = Vec::new();
        for kind in TriggerKind::for_event(event.event_type) {
            let Some(buckets) = inner.buckets.get(&(entity_id, *kind)) else {
                continue;
            };
            buckets.entity_wide.matching(document, &mut matched);
            if let Some(space) = &space {
                if let Some(candidates) = buckets.by_space.get(space) {
                    candidates.matching(document, &mut matched);
                }
                if let Some(collection) = &event.collection
                    && let Some(candidates) = buckets
                        .by_collection
                        .get(&(space.clone(), collection.clone()))
                {
                    candidates.matching(document, &mut matched);
                }
            }
        }
        matched
    }

    /// How many automations the index holds (enabled or not).
    pub fn len(&self) -> usize {
        self.inner.read().expect("not poisoned").by_id.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

enum Place {
    Entity,
    Space(Space),
    Collection(Space, String),
}

fn place(scope: &Scope) -> Place {
    match scope {
        Scope::Entity => Place::Entity,
        Scope::Project { project } => Place::Space((false, project.clone())),
        Scope::Registry { registry } => Place::Space((true, registry.clone())),
        Scope::Collection {
            project,
            registry,
            collection,
        } => {
            let space = match (project, registry) {
                (Some(p), _) => (false, p.clone()),
                (None, Some(r)) => (true, r.clone()),
                (None, None) => (false, String::new()),
            };
            Place::Collection(space, collection.clone())
        }
    }
}

fn remove_from_buckets(inner: &mut Inner, old: &Arc<Compiled>) {
    let key = (old.entity_id, old.automation.event.kind);
    let Some(buckets) = inner.buckets.get_mut(&key) else {
        return;
    };
    match place(&old.automation.scope) {
        Place::Entity => buckets.entity_wide.remove(old),
        Place::Space(space) => {
            if let Some(candidates) = buckets.by_space.get_mut(&space) {
                candidates.remove(old);
            }
        }
        Place::Collection(space, collection) => {
            if let Some(candidates) = buckets.by_collection.get_mut(&(space, collection)) {
                candidates.remove(old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compiled(id: &str, project: &str, filter: Value) -> Compiled {
        let automation: Automation = serde_json::from_value(json!({
            "id": id, "entity": "e", "name": id, "description": "", "enabled": true,
            "scope": {"type": "project", "project": project},
            "event": {"type": "RUN_STATE", "filter": filter},
            "action": {"type": "no-op"}, "rate_limit": null, "created_at": "", "updated_at": ""
        }))
        .unwrap();
        Compiled {
            filter: Filter::parse(&filter).unwrap(),
            snapshot: serde_json::to_string(&automation).unwrap(),
            automation: Arc::new(automation),
            entity_id: 1,
            template: None,
        }
    }

    fn matched(index: &AutomationIndex, document: Value) -> Vec<String> {
        let event: EventInput = serde_json::from_value(json!({
            "type": "RUN_STATE", "entity": "e", "project": "p", "run_id": "r", "state": "FAILED"
        }))
        .unwrap();
        let mut ids: Vec<String> = index
            .matching(1, &event, &document)
            .iter()
            .map(|c| c.automation.id.clone())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn guarded_and_unguarded_filters_match_exactly_as_evaluated() {
        let index = AutomationIndex::default();
        index.upsert(compiled("failed", "p", json!({"state": "FAILED"})));
        index.upsert(compiled("finished", "p", json!({"state": "FINISHED"})));
        index.upsert(compiled(
            "either",
            "p",
            json!({"$or": [{"state": "FAILED"}, {"state": "CRASHED"}]}),
        ));
        index.upsert(compiled(
            "failed-nightly",
            "p",
            json!({"state": "FAILED", "run_name": {"$regex": "^nightly"}}),
        ));
        index.upsert(compiled("tagged", "p", json!({"tags": "prod"})));
        index.upsert(compiled("elsewhere", "q", json!({"state": "FAILED"})));

        assert_eq!(
            matched(&index, json!({"state": "FAILED", "run_name": "nightly-7"})),
            ["either", "failed", "failed-nightly"]
        );
        assert_eq!(matched(&index, json!({"state": "CRASHED"})), ["either"]);
        assert_eq!(matched(&index, json!({"state": "FINISHED"})), ["finished"]);
        assert_eq!(
            matched(&index, json!({"tags": ["prod", "x", "prod"]})),
            ["tagged"],
            "an array holding the value twice fires once"
        );
        assert!(matched(&index, json!({"state": 3})).is_empty());

        index.remove("failed");
        let mut disabled = compiled("finished", "p", json!({"state": "FINISHED"}));
        Arc::make_mut(&mut disabled.automation).enabled = false;
        index.upsert(disabled);
        assert_eq!(
            matched(&index, json!({"state": "FAILED", "run_name": "nightly"})),
            ["either", "failed-nightly"]
        );
        assert!(matched(&index, json!({"state": "FINISHED"})).is_empty());
        let mut moved = compiled("failed-nightly", "p", json!({"state": "CRASHED"}));
        Arc::make_mut(&mut moved.automation).name = "moved".into();
        index.upsert(moved);
        assert_eq!(
            matched(&index, json!({"state": "CRASHED"})),
            ["either", "failed-nightly"]
        );
        assert_eq!(
            index.len(),
            5,
            "the removed one is gone, the disabled one kept"
        );
    }
}
