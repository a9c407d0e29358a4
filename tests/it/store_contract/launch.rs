//! The contract of launch: jobs and their versions, queues and items, claims and their leases,
//! leases that lapse, and the agents that hold them.

use std::collections::BTreeMap;

use herald::model::launch::{ItemStatus, JobRef, JobSpec};
use herald::model::output::OutputChunk;
use herald::store::{AgentRecord, ClaimTokens, ItemFilter, NewItem, unix_millis};
use serde_json::{Map, json};

use super::*;

/// An item of job `eval` (version `job_version`) on queue `gpu`.
fn item(job_version: u32, priority: i32) -> NewItem {
    NewItem {
        queue: "gpu".into(),
        job: "eval".into(),
        job_version,
        config: Map::new(),
        project: "p".into(),
        enqueued_by: json!({"key": "k"}),
        priority,
    }
}

fn job(command: &str) -> JobSpec {
    JobSpec {
        description: String::new(),
        command: vec!["sh".into(), "-c".into(), command.into()],
        env: BTreeMap::new(),
        config: Map::new(),
    }
}

contract!(
    /// Jobs and queues: each save is a new version, the latest is read by name, queue names are
    /// unique, and items are listed newest first and cancelled once.
    jobs_queues_and_items,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        assert_eq!(store.save_job(team.id, "eval".into(), job("true")).await.unwrap().version, 1);
        assert_eq!(store.save_job(team.id, "eval".into(), job("false")).await.unwrap().version, 2);
        let latest = store.job(team.id, &JobRef::parse("eval").unwrap()).await.unwrap();
        assert_eq!(latest.version, 2);
        let first = store.job(team.id, &JobRef::parse("eval@1").unwrap()).await.unwrap();
        assert_eq!(first.spec.command[2], "true");
        not_found(store.job(team.id, &JobRef::parse("eval@3").unwrap()).await);
        assert_eq!(store.list_jobs(team.id, Some("eval".into())).await.unwrap().len(), 2);
        assert_eq!(store.list_jobs(team.id, None).await.unwrap().len(), 1);

        store.create_queue(team.id, "gpu".into()).await.unwrap();
        conflict(store.create_queue(team.id, "gpu".into()).await);
        store.create_queue(team.id, "cpu-a".into()).await.unwrap();
        let queues = store.list_queues(team.id).await.unwrap();
        assert_eq!(queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(), ["cpu-a", "gpu"]);
        not_found(store.queue(team.id, "cpu").await);
        let low = store.enqueue(team.id, item(2, 0)).await.unwrap();
        let high = store.enqueue(team.id, item(2, 5)).await.unwrap();
        assert_eq!(low.status, ItemStatus::Queued);
        let listed = store
            .list_items(team.id, "gpu", ItemFilter { status: None, job: None, before: None, limit: 10 })
            .await
            .unwrap();
        assert_eq!(listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [&high.id, &low.id]);
        let cancelled = store.cancel_item(team.id, &low.id).await.unwrap();
        assert_eq!(cancelled.status, ItemStatus::Cancelled);
        conflict(store.cancel_item(team.id, &low.id).await);
        not_found(store.item(team.id, "no-such-item").await);
    }
);

contract!(
    /// Leases: the highest priority is claimed first, only the claim's lease token heartbeats,
    /// appends (once per offset) and finishes, and the run token works while the item runs.
    claims_and_leases,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        store.save_job(team.id, "eval".into(), job("true")).await.unwrap();
        store.create_queue(team.id, "gpu".into()).await.unwrap();
        for priority in [0, 9] {
            store.enqueue(team.id, item(1, priority)).await.unwrap();
        }
        let key = Some("claim-1".to_string());
        let first = ClaimTokens { run: [5; 32], lease: [6; 32], idempotency_key: key.clone() };
        let (lost, failed) = store.claim_item(team.id, "gpu", "agent-1", 60_000, 3, first).await.unwrap();
        let lost = lost.expect("an item is ready");
        assert!(failed.is_empty());
        // The same claim again (its answer lost): the same item, with the new tokens only.
        let tokens = ClaimTokens { run: [7; 32], lease: [8; 32], idempotency_key: key };
        let (claimed, _) = store
            .claim_item(team.id, "gpu", "agent-1", 60_000, 3, tokens)
            .await
            .unwrap();
        let claimed = claimed.expect("the same item");
        assert_eq!((claimed.id.as_str(), claimed.attempts), (lost.id.as_str(), 1));
        assert!(store.run_token([5; 32]).await.unwrap().is_none(), "the lost answer's token is dead");
        assert_eq!((claimed.priority, claimed.status), (9, ItemStatus::Claimed));
        let run = store.run_token([7; 32]).await.unwrap().expect("the run token is live");
        assert_eq!((run.1.as_str(), run.2.as_str()), ("p", claimed.run_id.as_str()));

        conflict(store.heartbeat_item(team.id, &claimed.id, [9; 32], 60_000, true).await);
        let status = store
            .heartbeat_item(team.id, &claimed.id, [8; 32], 60_000, true)
            .await
            .unwrap();
        assert_eq!(status, ItemStatus::Running);

        let chunk = |offset, text: &str| OutputChunk { offset: Some(offset), text: text.into() };
        assert_eq!(store.append_output(team.id, &claimed.id, [8; 32], chunk(0, "one\n")).await.unwrap(), 4);
        // The same chunk again (a retry) is taken once.
        assert_eq!(store.append_output(team.id, &claimed.id, [8; 32], chunk(0, "one\n")).await.unwrap(), 4);
        conflict(store.append_output(team.id, &claimed.id, [9; 32], chunk(4, "x")).await);
        let (done, finished) = store
            .finish_item(team.id, &claimed.id, [8; 32], 0, chunk(4, "two\n"))
            .await
            .unwrap();
        assert!(finished);
        assert_eq!((done.status, done.exit_code), (ItemStatus::Finished, Some(0)));
        assert_eq!(done.output.as_deref(), Some("one\ntwo\n"));
        assert!(store.run_token([7; 32]).await.unwrap().is_none(), "an ended run's token is dead");
        // The same finish again (its answer lost) is recognised; another one is refused.
        let (again, finished) = store
            .finish_item(team.id, &claimed.id, [8; 32], 0, chunk(4, "two\n"))
            .await
            .unwrap();
        assert!(!finished);
        assert_eq!(again.output.as_deref(), Some("one\ntwo\n"), "appended once");
        conflict(store.finish_item(team.id, &claimed.id, [8; 32], 1, chunk(8, "")).await);
        conflict(store.finish_item(team.id, &claimed.id, [9; 32], 0, chunk(8, "")).await);
        assert!(store.release_lapsed(3).await.unwrap().is_empty());
    }
);

contract!(
    /// Lapsed leases: an item whose claim's lease lapsed is queued again, and failed once it has
    /// had its attempts (only those are returned, with their entity); an agent is upserted by
    /// name and counts the items it holds.
    lapsed_leases_and_agents,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        store.save_job(team.id, "eval".into(), job("true")).await.unwrap();
        store.create_queue(team.id, "gpu".into()).await.unwrap();
        let queued = store.enqueue(team.id, item(1, 0)).await.unwrap();
        let agent = |slots| AgentRecord {
            name: "agent-1".into(),
            key_id: "key_1".into(),
            queues: vec!["gpu".into()],
            slots,
            last_seen: unix_millis(),
        };
        store.agent_seen(team.id, agent(2)).await.unwrap();
        // A lease that ends before it begins has lapsed at once: no waiting in a test.
        let claim = |n: u8| store.claim_item(team.id, "gpu", "agent-1", -1_000, 2, ClaimTokens { run: [n; 32], lease: [n + 1; 32], idempotency_key: None });
        let (claimed, _) = claim(1).await.unwrap();
        assert_eq!(claimed.expect("the item is ready").attempts, 1);
        let agents = store.list_agents(team.id).await.unwrap();
        let held = |agents: &[(AgentRecord, u32)]| {
            agents.iter().map(|(a, n)| (a.name.clone(), a.queues.clone(), a.slots, *n)).collect::<Vec<_>>()
        };
        assert_eq!(held(&agents), [("agent-1".to_string(), vec!["gpu".to_string()], 2, 1)]);
        assert!(store.release_lapsed(2).await.unwrap().is_empty(), "attempts remain: queued again");
        assert_eq!(store.item(team.id, &queued.id).await.unwrap().status, ItemStatus::Queued);
        assert_eq!(held(&store.list_agents(team.id).await.unwrap())[0].3, 0);

        let (claimed, _) = claim(3).await.unwrap();
        assert_eq!(claimed.expect("queued again").attempts, 2);
        let failed = store.release_lapsed(2).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].0.id, failed[0].1.status), (team.id, ItemStatus::Failed));
        assert_eq!(failed[0].1.id, queued.id);
        assert!(store.release_lapsed(2).await.unwrap().is_empty(), "released once");

        store.agent_seen(team.id, agent(3)).await.unwrap();
        let agents = store.list_agents(team.id).await.unwrap();
        assert_eq!((agents.len(), agents[0].0.slots), (1, 3), "upserted by name");
    }
);
