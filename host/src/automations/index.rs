//! The in-memory index of enabled automations, kept in step with the store. Buckets by
//! (entity, trigger kind), then by scope (entity-wide, project or registry, collection), so an event
//! only meets the automations whose scope can contain it, and within a scope by the string equality
//! a filter cannot hold without (`"state": "FAILED"`), so an event never meets the automations whose
//! constant fields differ from its own: matching cost grows with the automations that can match,
//! not with all automations.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::{Automation, Scope, TriggerKind};
use crate::events::event::EventInput;
use crate::events::filter::{Filter, guard_keys};
use crate::events::template::Template;
use crate::ids::AutomationId;

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
    /// The metric condition, for a run-metric automation.
    pub metric: Option<super::metric::MetricCondition>,
    /// When the automation last started listening anew (ms; see `Automation::armed_at`): a
    /// metric condition sees only samples from then on.
    pub armed_ms: i64,
}

/// Where a scope puts an automation, or one of the places an event is in: the entity, a project
/// or registry (`registry?`, name), a collection in one. Borrowed, so that an event finds its
/// candidates without copying its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place<'a> {
    Entity,
    Space(bool, &'a str),
    Collection(bool, &'a str, &'a str),
}

impl<'a> Place<'a> {
    fn of_scope(scope: &'a Scope) -> Self {
        match scope {
            Scope::Entity => Self::Entity,
            Scope::Project { project } => Self::Space(false, project),
            Scope::Registry { registry } => Self::Space(true, registry),
            Scope::Collection {
                project,
                registry,
                collection,
            } => match (project, registry) {
                (Some(project), _) => Self::Collection(false, project, collection),
                (None, Some(registry)) => Self::Collection(true, registry, collection),
                (None, None) => Self::Collection(false, "", collection),
            },
        }
    }

    /// The places an event is in, widest first.
    fn of_event(event: &'a EventInput) -> impl Iterator<Item = Self> {
        let space = match (&event.project, &event.registry) {
            (Some(project), _) => Some((false, project.as_str())),
            (None, Some(registry)) => Some((true, registry.as_str())),
            (None, None) => None,
        };
        let collection = space.zip(event.collection.as_deref());
        std::iter::once(Self::Entity)
            .chain(space.map(|(registry, name)| Self::Space(registry, name)))
            .chain(collection.map(|((registry, name), c)| Self::Collection(registry, name, c)))
    }
}

/// Whether `scope` contains the event (the check matching makes by looking the event up at its
/// places).
pub fn scope_holds(scope: &Scope, event: &EventInput) -> bool {
    let place = Place::of_scope(scope);
    Place::of_event(event).any(|p| p == place)
}

/// Automations filed under a digest of where they are (and, when guarded, of the field and value
/// their filter requires). An event computes the same digests from its own places and fields
/// and reads only the lists they name: with 100,000 automations over 10,000 projects an event
/// that matches nothing touches one or two table slots, not each project's structures. A digest
/// is a hash, so every candidate found is checked against the place, guard and filter it was
/// looked up by; a collision costs a check, never a wrong match.
#[derive(Debug, Default)]
struct Buckets {
    /// Filters without a string equality, by place: each is evaluated for every event there.
    unguarded: HashMap<u64, Vec<Arc<Compiled>>>,
    /// The guard fields in use, with how many automations use each.
    guard_paths: Vec<(Vec<String>, usize)>,
    /// Filters with one, by (place, index in `guard_paths`, value required).
    guarded: HashMap<u64, Vec<Arc<Compiled>>>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<AutomationId, Arc<Compiled>>,
    buckets: HashMap<(i64, TriggerKind), Buckets>,
    /// Per entity and metric, the values each enabled automation watching it needs: a run keeps
    /// the largest of them for the metric, whichever automations an event matches, so that one
    /// automation's window never depends on another's filter.
    windows: HashMap<i64, HashMap<String, Vec<usize>>>,
    /// Keys the digests (randomly per process, so nobody can aim collisions at one list).
    digests: RandomState,
}

impl Inner {
    fn digest(&self, key: impl Hash) -> u64 {
        self.digests.hash_one(key)
    }

    fn insert(&mut self, compiled: &Arc<Compiled>) {
        if let Some(metric) = &compiled.metric {
            self.windows
                .entry(compiled.entity_id)
                .or_default()
                .entry(metric.name.clone())
                .or_default()
                .push(metric.needed());
        }
        let place = Place::of_scope(&compiled.automation.scope);
        let digests = &self.digests;
        let buckets = self
            .buckets
            .entry((compiled.entity_id, compiled.automation.event.kind))
            .or_default();
        let (lists, key) = match compiled.filter.equality_guard() {
            Some((path, value)) => {
                let paths = &mut buckets.guard_paths;
                let index = match paths.iter().position(|(p, _)| p == path) {
                    Some(index) => index,
                    None => {
                        paths.push((path.to_vec(), 0));
                        paths.len() - 1
                    }
                };
                paths[index].1 += 1;
                (
                    &mut buckets.guarded,
                    digests.hash_one((place, index, value)),
                )
            }
            None => (&mut buckets.unguarded, digests.hash_one(place)),
        };
        lists.entry(key).or_default().push(compiled.clone());
    }

    fn remove(&mut self, old: &Arc<Compiled>) {
        if let Some(metric) = &old.metric
            && let Some(metrics) = self.windows.get_mut(&old.entity_id)
            && let Some(needs) = metrics.get_mut(&metric.name)
        {
            if let Some(at) = needs.iter().position(|n| *n == metric.needed()) {
                needs.swap_remove(at);
            }
            if needs.is_empty() {
                metrics.remove(&metric.name);
            }
            if metrics.is_empty() {
                self.windows.remove(&old.entity_id);
            }
        }
        let bucket_key = (old.entity_id, old.automation.event.kind);
        let place = Place::of_scope(&old.automation.scope);
        let digests = &self.digests;
        let Some(buckets) = self.buckets.get_mut(&bucket_key) else {
            return;
        };
        let (lists, key) = match old.filter.equality_guard() {
            Some((path, value)) => {
                let paths = &mut buckets.guard_paths;
                let Some(index) = paths.iter().position(|(p, _)| p == path) else {
                    return;
                };
                // A path keeps its index while in use (digests were made with it); only unused
                // paths at the end are let go.
                paths[index].1 -= 1;
                while paths.last().is_some_and(|(_, users)| *users == 0) {
                    paths.pop();
                }
                (
                    &mut buckets.guarded,
                    digests.hash_one((place, index, value)),
                )
            }
            None => (&mut buckets.unguarded, digests.hash_one(place)),
        };
        if let Some(list) = lists.get_mut(&key) {
            list.retain(|c| !Arc::ptr_eq(c, old));
            if list.is_empty() {
                lists.remove(&key);
            }
        }
        if buckets.unguarded.is_empty() && buckets.guarded.is_empty() {
            self.buckets.remove(&bucket_key);
        }
    }
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
            inner.remove(&old);
        }
        if compiled.automation.enabled {
            inner.insert(&compiled);
        }
        inner.by_id.insert(compiled.automation.id.clone(), compiled);
    }

    /// Replaces every automation at once (after another host changed some): matching sees the
    /// old set or the new one, never a mix.
    pub fn replace_all(&self, all: Vec<Compiled>) {
        let mut fresh = Inner::default();
        for compiled in all {
            let compiled = Arc::new(compiled);
            if compiled.automation.enabled {
                fresh.insert(&compiled);
            }
            fresh.by_id.insert(compiled.automation.id.clone(), compiled);
        }
        *self.inner.write().expect("not poisoned") = fresh;
    }

    /// Removes an automation.
    pub fn remove(&self, id: &AutomationId) {
        let mut inner = self.inner.write().expect("not poisoned");
        if let Some(old) = inner.by_id.remove(id) {
            inner.remove(&old);
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
        let mut matched = Vec::new();
        for kind in TriggerKind::for_event(event.event_type) {
            let Some(buckets) = inner.buckets.get(&(entity_id, *kind)) else {
                continue;
            };
            // A digest only narrows the search: each candidate found must be at the place and
            // have the guard (none, for the unguarded) it was looked up by.
            let mut consider = |list: Option<&Vec<Arc<Compiled>>>,
                                place: Place<'_>,
                                guard: Option<(&[String], &str)>| {
                for candidate in list.into_iter().flatten() {
                    if Place::of_scope(&candidate.automation.scope) == place
                        && candidate.filter.equality_guard() == guard
                        && candidate.filter.matches(document)
                    {
                        matched.push(candidate.clone());
                    }
                }
            };
            if !buckets.unguarded.is_empty() {
                for place in Place::of_event(event) {
                    consider(buckets.unguarded.get(&inner.digest(place)), place, None);
                }
            }
            for (index, (path, _)) in buckets.guard_paths.iter().enumerate() {
                for (nth, key) in guard_keys(document, path).enumerate() {
                    // An array may hold a value twice; its automations still fire once.
                    if guard_keys(document, path).take(nth).any(|k| k == key) {
                        continue;
                    }
                    for place in Place::of_event(event) {
                        let list = buckets.guarded.get(&inner.digest((place, index, key)));
                        consider(list, place, Some((path, key)));
                    }
                }
            }
        }
        matched
    }

    /// How many values of `metric` a run of `entity_id` keeps: the largest window of any enabled
    /// automation watching it (0 when none does).
    pub fn window(&self, entity_id: i64, metric: &str) -> usize {
        let inner = self.inner.read().expect("not poisoned");
        inner
            .windows
            .get(&entity_id)
            .and_then(|metrics| metrics.get(metric))
            .and_then(|needs| needs.iter().copied().max())
            .unwrap_or(0)
    }

    /// Whether any metric of a sample is watched in `entity_id`.
    pub fn watches_any<'a>(
        &self,
        entity_id: i64,
        metrics: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        let inner = self.inner.read().expect("not poisoned");
        let Some(watched) = inner.windows.get(&entity_id) else {
            return false;
        };
        metrics.into_iter().any(|m| watched.contains_key(m))
    }

    /// Every automation of `entity_id`, enabled or not, in no particular order (for explaining
    /// and for the places forms suggest; matching never walks them all).
    pub fn of_entity(&self, entity_id: i64) -> Vec<Arc<Compiled>> {
        let inner = self.inner.read().expect("not poisoned");
        inner
            .by_id
            .values()
            .filter(|c| c.entity_id == entity_id)
            .cloned()
            .collect()
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compiled(id: &str, project: &str, filter: Value) -> Compiled {
        scoped(
            id,
            json!({"type": "project", "project": project}),
            "RUN_STATE",
            filter,
        )
    }

    fn scoped(id: &str, scope: Value, trigger: &str, filter: Value) -> Compiled {
        let automation: Automation = serde_json::from_value(json!({
            "id": id, "entity": "e", "name": id, "description": "", "enabled": true,
            "scope": scope,
            "event": {"type": trigger, "filter": filter},
            "action": {"type": "no-op"}, "rate_limit": null, "created_at": "", "updated_at": ""
        }))
        .unwrap();
        Compiled {
            filter: Filter::parse(&filter).unwrap(),
            snapshot: serde_json::to_string(&automation).unwrap(),
            automation: Arc::new(automation),
            entity_id: 1,
            template: None,
            metric: None,
            armed_ms: 0,
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
            .map(|c| c.automation.id.to_string())
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

        index.remove(&"failed".into());
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

    #[test]
    fn each_event_meets_the_automations_of_its_places_only() {
        let index = AutomationIndex::default();
        let alias = "ADD_ARTIFACT_ALIAS";
        let state = json!({"alias": "production"});
        let anything = json!({});
        let automations = [
            ("entity", json!({"type": "entity"}), &state),
            ("entity-any", json!({"type": "entity"}), &anything),
            (
                "registry",
                json!({"type": "registry", "registry": "models"}),
                &state,
            ),
            (
                "registry-any",
                json!({"type": "registry", "registry": "models"}),
                &anything,
            ),
            (
                "same-name-project",
                json!({"type": "project", "project": "models"}),
                &state,
            ),
            (
                "collection",
                json!({"type": "collection", "registry": "models", "collection": "clf"}),
                &state,
            ),
            (
                "collection-any",
                json!({"type": "collection", "registry": "models", "collection": "clf"}),
                &anything,
            ),
            (
                "other-collection",
                json!({"type": "collection", "registry": "models", "collection": "reg"}),
                &state,
            ),
            (
                "project-collection",
                json!({"type": "collection", "project": "models", "collection": "clf"}),
                &state,
            ),
        ];
        for (id, scope, filter) in &automations {
            index.upsert(scoped(id, scope.clone(), alias, (*filter).clone()));
        }
        let event = |fields: Value| -> EventInput { serde_json::from_value(fields).unwrap() };
        let ids = |event: &EventInput, document: Value| {
            let mut ids: Vec<String> = index
                .matching(1, event, &document)
                .iter()
                .map(|c| c.automation.id.to_string())
                .collect();
            ids.sort();
            ids
        };
        let in_collection = event(json!({
            "type": "ADD_ARTIFACT_ALIAS", "entity": "e", "registry": "models",
            "collection": "clf", "version": "v1", "alias": "production"
        }));
        assert_eq!(
            ids(&in_collection, json!({"alias": "production"})),
            [
                "collection",
                "collection-any",
                "entity",
                "entity-any",
                "registry",
                "registry-any"
            ]
        );
        assert_eq!(
            ids(&in_collection, json!({"alias": "staging"})),
            ["collection-any", "entity-any", "registry-any"]
        );
        let in_project = event(json!({
            "type": "ADD_ARTIFACT_ALIAS", "entity": "e", "project": "models",
            "collection": "clf", "version": "v1", "alias": "production"
        }));
        assert_eq!(
            ids(&in_project, json!({"alias": "production"})),
            [
                "entity",
                "entity-any",
                "project-collection",
                "same-name-project"
            ]
        );
        let nowhere = event(json!({"type": "ADD_ARTIFACT_ALIAS", "entity": "e"}));
        assert_eq!(
            ids(&nowhere, json!({"alias": "production"})),
            ["entity", "entity-any"]
        );

        for (id, ..) in &automations {
            index.remove(&(*id).into());
        }
        assert!(ids(&in_collection, json!({"alias": "production"})).is_empty());
        assert!(
            index.inner.read().unwrap().buckets.is_empty(),
            "nothing is left behind once every automation is gone"
        );
    }
}
