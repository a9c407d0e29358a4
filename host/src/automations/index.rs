//! The in-memory index of enabled automations, kept in step with the store. Buckets by
//! (entity, trigger kind), then by scope (entity-wide, project or registry, collection), so an event
//! only meets the automations whose scope can contain it: matching cost grows with the
//! automations that can match, not with all automations.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::{Automation, Scope, TriggerKind};
use crate::events::event::EventInput;
use crate::events::filter::Filter;
use crate::events::template::Template;

/// An automation ready to match: its filter and template parsed once.
#[derive(Debug)]
pub struct Compiled {
    /// The definition.
    pub automation: Automation,
    /// The owning entity's id.
    pub entity_id: i64,
    /// The parsed filter (always holds when the automation has none).
    pub filter: Filter,
    /// The parsed payload template, if any.
    pub template: Option<Template>,
}

/// (registry?, name) of a project or registry.
type Space = (bool, String);

#[derive(Debug, Default)]
struct Buckets {
    entity_wide: Vec<Arc<Compiled>>,
    by_space: HashMap<Space, Vec<Arc<Compiled>>>,
    by_collection: HashMap<(Space, String), Vec<Arc<Compiled>>>,
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
                Place::Entity => buckets.entity_wide.push(compiled.clone()),
                Place::Space(space) => buckets
                    .by_space
                    .entry(space)
                    .or_default()
                    .push(compiled.clone()),
                Place::Collection(space, collection) => buckets
                    .by_collection
                    .entry((space, collection))
                    .or_default()
                    .push(compiled.clone()),
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
            let mut consider = |candidates: Option<&Vec<Arc<Compiled>>>| {
                for candidate in candidates.into_iter().flatten() {
                    if candidate.filter.matches(document) {
                        matched.push(candidate.clone());
                    }
                }
            };
            consider(Some(&buckets.entity_wide));
            if let Some(space) = &space {
                consider(buckets.by_space.get(space));
                if let Some(collection) = &event.collection {
                    consider(
                        buckets
                            .by_collection
                            .get(&(space.clone(), collection.clone())),
                    );
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
    let id = &old.automation.id;
    let keep = |c: &Arc<Compiled>| &c.automation.id != id;
    match place(&old.automation.scope) {
        Place::Entity => buckets.entity_wide.retain(keep),
        Place::Space(space) => {
            if let Some(list) = buckets.by_space.get_mut(&space) {
                list.retain(keep);
            }
        }
        Place::Collection(space, collection) => {
            if let Some(list) = buckets.by_collection.get_mut(&(space, collection)) {
                list.retain(keep);
            }
        }
    }
}
