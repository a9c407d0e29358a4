//! The PostgreSQL backend against a real server (the one `cargo xtask test` starts): two
//! handles on one database stand for two hosts.

use std::collections::HashSet;

use crate::ids::ExecutionId;
use crate::store::{EventToStore, Store};

/// A store on a database of its own on the test server.
async fn fresh() -> Store {
    let admin = std::env::var("HERALD_TEST_DATABASE_URL").expect(
        "HERALD_TEST_DATABASE_URL is not set: run the tests with `cargo xtask test`, which starts a PostgreSQL server",
    );
    let name = format!("u_{}", uuid::Uuid::now_v7().simple());
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (server, _) = admin.rsplit_once('/').unwrap();
    Store::connect(&format!("{server}/{name}"), 8)
        .await
        .unwrap()
}

/// Another host on the same database.
async fn second_host(store: &Store) -> Store {
    let super::super::Backend::Postgres(backend) = &store.backend else {
        unreachable!("a PostgreSQL store")
    };
    let url = backend.url.clone();
    Store::connect(&url, 8).await.unwrap()
}

fn event(entity: &str, key: Option<&str>, executions: usize) -> EventToStore {
    let ids = (0..executions).map(|_| ExecutionId::generate()).collect();
    crate::store::events::test_event(entity, key, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_claiming_at_once_never_take_the_same_execution() {
    let a = fresh().await;
    let b = second_host(&a).await;
    let (entity, _) = a
        .create_entity("claims", crate::auth::generate_key())
        .await
        .unwrap();
    a.ingest(entity.id, vec![event("claims", None, 400)], None)
        .await
        .unwrap();
    let claim_all = |store: Store, owner: &'static str| {
        tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let claimed = store.claim_due(owner, 60_000, 7).await.unwrap();
                if claimed.is_empty() {
                    return taken;
                }
                taken.extend(claimed.into_iter().map(|c| c.id));
            }
        })
    };
    let (from_a, from_b) = (claim_all(a, "a.1"), claim_all(b, "b.1"));
    let (from_a, from_b) = (from_a.await.unwrap(), from_b.await.unwrap());
    let all: HashSet<_> = from_a.iter().chain(&from_b).collect();
    assert_eq!(from_a.len() + from_b.len(), 400, "each claimed once");
    assert_eq!(all.len(), 400, "no execution claimed by both");
    assert!(
        !from_a.is_empty() && !from_b.is_empty(),
        "both hosts took work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_stored_by_two_hosts_at_once_is_one_event() {
    let a = fresh().await;
    let b = second_host(&a).await;
    let (entity, _) = a
        .create_entity("keys", crate::auth::generate_key())
        .await
        .unwrap();
    for round in 0..20 {
        let key = format!("key-{round}");
        let (first, second) = tokio::join!(
            a.ingest(entity.id, vec![event("keys", Some(&key), 1)], None),
            b.ingest(entity.id, vec![event("keys", Some(&key), 1)], None),
        );
        let (first, second) = (first.unwrap().remove(0), second.unwrap().remove(0));
        assert_eq!(first.event_id, second.event_id, "round {round}");
        assert!(
            first.duplicate != second.duplicate,
            "round {round}: one stored it"
        );
    }
}

#[tokio::test]
async fn a_restarted_host_takes_back_its_own_claims_and_leaves_live_hosts_alone() {
    let store = fresh().await;
    let (entity, _) = store
        .create_entity("hosts", crate::auth::generate_key())
        .await
        .unwrap();
    store
        .ingest(entity.id, vec![event("hosts", None, 4)], None)
        .await
        .unwrap();
    // host_a's dead process holds two, live host_b holds two.
    assert_eq!(
        store
            .claim_due("host_a.old", 600_000, 2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .claim_due("host_b.live", 600_000, 2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .recover_abandoned("host_a", "host_a.new")
            .await
            .unwrap(),
        2
    );
    let retaken = store.claim_due("host_a.new", 600_000, 10).await.unwrap();
    assert_eq!(retaken.len(), 2, "host_b's live claims stay with it");
    assert!(retaken.iter().all(|c| c.attempt == 2));
    // A lapsed lease is anyone's.
    store
        .ingest(entity.id, vec![event("hosts", None, 1)], None)
        .await
        .unwrap();
    assert_eq!(store.claim_due("host_c.x", -1, 1).await.unwrap().len(), 1);
    assert_eq!(
        store.claim_due("host_d.y", 600_000, 5).await.unwrap().len(),
        1
    );
}
