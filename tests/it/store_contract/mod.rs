//! One contract for both storage backends: every test here runs through the `Store` interface
//! on a real SQLite file and on a real PostgreSQL database, and both must behave alike — the
//! same answers, the same errors (`NotFound`, `Conflict`) for the same edge cases.

use herald::auth::Role;
use herald::model::integration::IntegrationKind;
use herald::store::{
    Durability, IntegrationRecord, PreviousValue, SealedSecret, Store, StoreError,
};
use serde_json::json;

/// A store on a backend, and what keeps it (a SQLite file's directory).
struct Backend {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

async fn on_sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("herald.db"), Durability::Process).unwrap();
    Backend {
        store,
        _dir: Some(dir),
    }
}

async fn on_postgres() -> Backend {
    let store = Store::connect(&crate::common::new_database(), 4)
        .await
        .unwrap();
    Backend { store, _dir: None }
}

/// Declares a contract test: `$name::sqlite` and `$name::postgres` run `$body` (an async
/// function of the store) on each backend.
macro_rules! contract {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let backend = on_sqlite().await;
                ($body)(backend.store.clone()).await;
            }

            #[tokio::test]
            async fn postgres() {
                let backend = on_postgres().await;
                ($body)(backend.store.clone()).await;
            }
        }
    };
}

fn not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
}

contract!(
    /// Entities and keys: the bootstrap happens once, names are unique, a key is found by its
    /// hash until it is deleted, and what does not exist is `NotFound`.
    entities_and_keys,
    |store: Store| async move {
        let (entity, key) = store
            .bootstrap("ops", "hk_first-key-0123456789".into())
            .await
            .unwrap()
            .expect("the first start bootstraps");
        assert!(entity.operator);
        assert!(store.bootstrap("ops", "hk_again".into()).await.unwrap().is_none());
        conflict(store.create_entity("ops", "hk_dup-0123456789".into()).await);
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        assert!(!team.operator);
        assert_eq!(store.entity("team").await.unwrap().id, team.id);
        not_found(store.entity("nobody").await);

        let hash = herald::auth::hash_key(&key.key);
        let found = store.key_by_hash(hash).await.unwrap().expect("the key is found");
        assert_eq!((found.role, found.entity.name.as_str()), (Role::Admin, "ops"));
        let member = store
            .create_key(team.id, Role::Member, "bot", "hk_member-0123456789".into(), vec![])
            .await
            .unwrap();
        let listed = store.list_keys(team.id).await.unwrap();
        assert!(listed.iter().any(|k| k.0 == member.id && k.1 == Role::Member && k.2 == "bot"));
        let deleted = store.delete_key(team.id, &member.id).await.unwrap();
        assert_eq!(deleted, herald::auth::hash_key(&member.key).to_vec());
        assert!(
            store
                .key_by_hash(herald::auth::hash_key(&member.key))
                .await
                .unwrap()
                .is_none()
        );
        not_found(store.delete_key(team.id, &member.id).await);
        // Another entity's key is not this entity's to delete.
        not_found(store.delete_key(team.id, &key.id).await);
    }
);

contract!(
    /// Secrets: created once, replaced after, listed by name, read back sealed (with the value a
    /// rotation replaced, until its overlap ends), and deleted once.
    secrets,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        assert!(store.put_secret(team.id, "TOKEN", vec![1; 12], vec![2; 20]).await.unwrap());
        assert!(!store.put_secret(team.id, "TOKEN", vec![3; 12], vec![4; 20]).await.unwrap());
        store.put_secret(team.id, "OTHER", vec![5; 12], vec![6; 20]).await.unwrap();
        let names: Vec<String> = store
            .list_secrets(team.id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["OTHER", "TOKEN"]);
        let now = herald::store::unix_millis();
        let sealed = |names: &[&str], at: i64| {
            let names = names.iter().map(|n| n.to_string()).collect();
            let store = store.clone();
            async move { store.sealed_secrets(team.id, names, at).await.unwrap() }
        };
        let token = |nonce: u8, ciphertext: u8, previous: Option<PreviousValue>| SealedSecret {
            name: "TOKEN".into(),
            nonce: vec![nonce; 12],
            ciphertext: vec![ciphertext; 20],
            previous,
        };
        assert_eq!(sealed(&["TOKEN", "MISSING"], now).await, [token(3, 4, None)]);

        // A rotation keeps the value it replaced until the overlap ends; a plain set ends it.
        store.rotate_secret(team.id, "TOKEN", vec![7; 12], vec![8; 20], now + 60_000).await.unwrap();
        let old = PreviousValue { nonce: vec![3; 12], ciphertext: vec![4; 20], until_ms: now + 60_000 };
        assert_eq!(sealed(&["TOKEN"], now).await, [token(7, 8, Some(old))]);
        assert_eq!(sealed(&["TOKEN"], now + 60_000).await, [token(7, 8, None)], "the overlap ended");
        not_found(store.rotate_secret(team.id, "MISSING", vec![1; 12], vec![1; 20], now).await);
        store.put_secret(team.id, "TOKEN", vec![9; 12], vec![9; 20]).await.unwrap();
        assert_eq!(sealed(&["TOKEN"], now).await, [token(9, 9, None)]);
        store.delete_secret(team.id, "TOKEN").await.unwrap();
        not_found(store.delete_secret(team.id, "TOKEN").await);
        assert_eq!(store.secret_names(team.id).await.unwrap(), ["OTHER"]);
    }
);

fn integration(name: &str) -> IntegrationRecord {
    IntegrationRecord {
        id: format!("int_{name}"),
        name: name.into(),
        kind: IntegrationKind::Webhook,
        url: "https://hooks.example.com/x".into(),
        url_secret: None,
        access_token: None,
        signing_secret: None,
        secrets: vec!["A".into()],
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
        disable_after_ms: None,
        health: Default::default(),
    }
}

contract!(
    /// Integrations: names are unique in an entity, updates keep the id, and a deleted one is gone.
    integrations,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        store.create_integration(team.id, integration("ci")).await.unwrap();
        conflict(store.create_integration(team.id, integration("ci")).await);
        let mut changed = store.integration(team.id, "ci").await.unwrap();
        changed.url = "https://hooks.example.com/y".into();
        changed.secrets = vec!["A".into(), "B".into()];
        let updated = store.update_integration(team.id, changed).await.unwrap();
        assert_eq!((updated.id.as_str(), updated.secrets.len()), ("int_ci", 2));
        assert_eq!(store.integration(team.id, "ci").await.unwrap().url, "https://hooks.example.com/y");
        assert_eq!(store.list_integrations(team.id).await.unwrap().len(), 1);
        // One stored with its grants is not among those stored before grants existed, and its
        // grants are not set a first time again.
        assert!(store.ungranted_integrations().await.unwrap().is_empty());
        assert!(!store.grant_first(team.id, "int_ci", vec!["C".into()]).await.unwrap());
        assert_eq!(store.integration(team.id, "ci").await.unwrap().secrets, ["A", "B"]);
        store.delete_integration(team.id, "ci").await.unwrap();
        not_found(store.integration(team.id, "ci").await);
        not_found(store.delete_integration(team.id, "ci").await);
    }
);

contract!(
    /// Installed plugins: recorded with their digest, read back, removed.
    plugins,
    |store: Store| async move {
        store.put_plugin("echo", "sha256:aa", vec![0, 97, 115, 109]).await.unwrap();
        store.put_plugin("echo", "sha256:bb", vec![1, 2, 3]).await.unwrap();
        assert!(
            store
                .plugin_digests()
                .await
                .unwrap()
                .contains(&("echo".into(), Some("sha256:bb".into())))
        );
        assert_eq!(store.plugin_component("echo").await.unwrap(), Some(vec![1, 2, 3]));
        store.remove_plugin("echo").await.unwrap();
        assert_eq!(store.plugin_component("echo").await.unwrap(), None);
    }
);

/// An automation of entity `team` in `scope`, as the API would store it.
fn automation(
    id: &str,
    name: &str,
    scope: serde_json::Value,
) -> herald::model::automation::Automation {
    serde_json::from_value(json!({
        "id": id, "entity": "team", "name": name, "description": "", "enabled": true,
        "scope": scope, "event": {"type": "RUN_STATE"}, "action": {"type": "no-op"},
        "rate_limit": null, "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z"
    }))
    .unwrap()
}

contract!(
    /// Automations: names are unique in an entity, lists filter by the project or collection a
    /// scope names, updates are read back whole, and a deleted one is gone.
    automations,
    |store: Store| async move {
        use herald::store::AutomationFilter;
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        let project = json!({"type": "project", "project": "train"});
        let collection = json!({"type": "collection", "registry": "models", "collection": "churn"});
        let a = store.insert_automation(team.id, automation("aut_a", "a", project)).await.unwrap();
        store.insert_automation(team.id, automation("aut_b", "b", collection)).await.unwrap();
        conflict(store.insert_automation(team.id, automation("aut_c", "a", json!({"type": "entity"}))).await);
        let filter = |project: Option<&str>, collection: Option<&str>| AutomationFilter {
            project: project.map(str::to_string),
            collection: collection.map(str::to_string),
            ..Default::default()
        };
        let names = |list: Vec<herald::model::automation::Automation>| {
            list.into_iter().map(|a| a.name).collect::<Vec<_>>()
        };
        assert_eq!(names(store.list_automations(team.id, filter(None, None)).await.unwrap()), ["a", "b"]);
        // A page: after a name, at most so many.
        let page = AutomationFilter { after: Some("a".into()), limit: Some(1), ..Default::default() };
        assert_eq!(names(store.list_automations(team.id, page).await.unwrap()), ["b"]);
        let page = AutomationFilter { limit: Some(1), ..Default::default() };
        assert_eq!(names(store.list_automations(team.id, page).await.unwrap()), ["a"]);
        assert_eq!(names(store.list_automations(team.id, filter(Some("train"), None)).await.unwrap()), ["a"]);
        assert_eq!(names(store.list_automations(team.id, filter(None, Some("churn"))).await.unwrap()), ["b"]);
        let mut changed = a.clone();
        changed.enabled = false;
        changed.description = "paused".into();
        store.update_automation(team.id, changed.clone()).await.unwrap();
        assert_eq!(store.automation(team.id, &a.id).await.unwrap(), changed);
        assert_eq!(store.all_automations().await.unwrap().len(), 2);
        store.delete_automation(team.id, &a.id).await.unwrap();
        not_found(store.automation(team.id, &a.id).await);
        not_found(store.delete_automation(team.id, &a.id).await);
    }
);

contract!(
    /// Run liveness: a heartbeat for a run never seen starts it alive; a run silent past the cut
    /// is claimed once, by one caller, until the reclaim time passes.
    run_liveness,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        assert!(store.run_heartbeat(team.id, "train", "run-1").await.unwrap());
        let later = herald::store::unix_millis() + 60_000;
        let silent = store.claim_silent_runs(later, 600_000, 10).await.unwrap();
        assert_eq!(silent.len(), 1, "{silent:?}");
        assert!(store.claim_silent_runs(later, 600_000, 10).await.unwrap().is_empty(), "claimed twice");
        // Nothing is silent yet at the time of the heartbeat itself.
        assert!(store.run_heartbeat(team.id, "train", "run-2").await.unwrap());
        let now = herald::store::unix_millis() - 60_000;
        assert!(store.claim_silent_runs(now, 600_000, 10).await.unwrap().is_empty());
    }
);

mod audit;
mod executions;
mod launch;
