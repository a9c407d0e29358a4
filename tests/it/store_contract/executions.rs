//! The contract of events and their executions: ingest with idempotency keys, the history
//! reads, and delivery's claims, attempts, retries and releases.

use std::sync::Arc;

use herald::ids::ExecutionId;
use herald::model::event::{Event, EventInput};
use herald::model::execution::ExecutionStatus;
use herald::model::integration::HeldChoice;
use herald::store::{
    EventToStore, ExecutionQuery, FinishedAttempt, NewExecution, Settlement, unix_millis,
};
use serde_json::json;

use super::*;

/// A `RUN_STATE` event of entity `team`.
fn event(run: &str) -> Arc<Event> {
    let input: EventInput = serde_json::from_value(json!({
        "type": "RUN_STATE", "entity": "team", "project": "train", "run_id": run,
        "state": "FAILED",
    }))
    .unwrap();
    Arc::new(Event::new(input))
}

/// An execution of automation `automation` in `status`, with a payload.
fn execution(automation: &str, status: ExecutionStatus) -> NewExecution {
    let snapshot = super::automation(automation, automation, json!({"type": "entity"}));
    NewExecution {
        id: ExecutionId::generate(),
        automation_id: automation.into(),
        automation: serde_json::to_string(&snapshot).unwrap(),
        leased: false,
        payload: Some(r#"{"run":"r"}"#.into()),
        status,
        status_reason: (status == ExecutionStatus::Skipped).then(|| "rate limit".into()),
        trigger: None,
        rate_limit: None,
    }
}

fn stored(event: Arc<Event>, key: Option<&str>, executions: Vec<NewExecution>) -> EventToStore {
    EventToStore {
        event,
        idempotency_key: key.map(str::to_string),
        executions,
        run: None,
    }
}

fn query(automation: Option<&str>, statuses: &[ExecutionStatus]) -> ExecutionQuery {
    ExecutionQuery {
        automation: automation.map(Into::into),
        statuses: statuses.to_vec(),
        limit: 100,
        ..ExecutionQuery::default()
    }
}

contract!(
    /// Ingest and history: an idempotency key seen before names the first event and creates
    /// nothing; an event is read with its executions; the history narrows by automation, status,
    /// time and count, newest first; another entity sees none of it.
    events_and_history,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        let (other, _) = store.create_entity("other", "hk_other-0123456789".into()).await.unwrap();
        let first = event("r1");
        let executions = vec![
            execution("aut_a", ExecutionStatus::Pending),
            execution("aut_b", ExecutionStatus::Skipped),
        ];
        let outcomes = store
            .ingest(team.id, vec![stored(first.clone(), Some("k1"), executions), stored(event("r2"), None, vec![execution("aut_a", ExecutionStatus::Pending)])], None)
            .await
            .unwrap();
        assert_eq!(
            outcomes.iter().map(|o| (o.matched, o.duplicate)).collect::<Vec<_>>(),
            [(2, false), (1, false)]
        );
        let again = store
            .ingest(team.id, vec![stored(event("r3"), Some("k1"), vec![execution("aut_a", ExecutionStatus::Pending)])], None)
            .await
            .unwrap();
        assert_eq!((&again[0].event_id, again[0].matched, again[0].duplicate), (&first.id, 2, true));

        let (body, executions) = store.event(team.id, &first.id).await.unwrap();
        assert_eq!((body["run_id"].as_str(), executions.len()), (Some("r1"), 2));
        assert!(body["received_at"].is_string(), "{body}");
        not_found(store.event(other.id, &first.id).await);

        let all = store.executions(team.id, query(None, &[])).await.unwrap();
        assert_eq!(all.len(), 3, "the repeated key created nothing");
        let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        let mut newest_first = ids.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(ids, newest_first);
        assert_eq!(store.executions(team.id, query(Some("aut_a"), &[])).await.unwrap().len(), 2);
        let skipped = store.executions(team.id, query(None, &[ExecutionStatus::Skipped])).await.unwrap();
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].status_reason.as_deref(), Some("rate limit"));
        let pending_of_b = query(Some("aut_b"), &[ExecutionStatus::Pending]);
        assert!(store.executions(team.id, pending_of_b).await.unwrap().is_empty());
        let bounded = |since: Option<&str>, until: Option<&str>, limit| ExecutionQuery {
            since: since.map(str::to_string),
            until: until.map(str::to_string),
            limit,
            ..ExecutionQuery::default()
        };
        let (past, future) = ("2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z");
        assert_eq!(store.executions(team.id, bounded(Some(past), Some(future), 100)).await.unwrap().len(), 3);
        assert!(store.executions(team.id, bounded(Some(future), None, 100)).await.unwrap().is_empty());
        assert!(store.executions(team.id, bounded(None, Some(past), 100)).await.unwrap().is_empty());
        assert_eq!(store.executions(team.id, bounded(None, None, 1)).await.unwrap()[0].id, all[0].id);
        assert!(store.executions(other.id, query(None, &[])).await.unwrap().is_empty());

        let one = store.execution(team.id, &all[0].id).await.unwrap();
        assert_eq!((one.status, one.attempts), (ExecutionStatus::Pending, 0));
        assert_eq!(one.payload, Some(json!({"run": "r"})));
        assert_eq!(one.automation["id"], "aut_a");
        not_found(store.execution(other.id, &all[0].id).await);
        not_found(store.execution(team.id, &ExecutionId::generate()).await);
    }
);

/// An attempt's record, as delivery writes it.
fn record(status: u16) -> String {
    json!({"response": {"status": status}}).to_string()
}

/// Attempt `number`, answered `status`, through no integration.
fn attempt(number: u32, status: u16) -> FinishedAttempt {
    FinishedAttempt {
        number,
        record: record(status),
        duration_ms: 3.0,
        integration: None,
    }
}

contract!(
    /// Delivery: a due execution is claimed by one owner at a time, counting an attempt; only the
    /// owner's outcome settles it; a retry waits for its time; a manual retry takes only a
    /// finished execution; claims are given back at shutdown and after a crash of this host.
    claims_attempts_and_retries,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        let (a, b) = (execution("aut_a", ExecutionStatus::Pending), execution("aut_b", ExecutionStatus::Pending));
        let (a_id, b_id) = (a.id.clone(), b.id.clone());
        store.ingest(team.id, vec![stored(event("r1"), None, vec![a, b])], None).await.unwrap();
        assert_eq!(store.queue_depth().await.unwrap(), 2);
        assert!(store.next_due_ms().await.unwrap().is_some_and(|due| due <= unix_millis()));

        let claimed = store.claim_due("h1.1", 60_000, 10).await.unwrap();
        let mut ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
        ids.sort();
        let mut expected = vec![a_id.as_str(), b_id.as_str()];
        expected.sort();
        assert_eq!(ids, expected);
        assert!(claimed.iter().all(|c| c.attempt == 1 && c.entity_id == team.id));
        assert!(claimed.iter().all(|c| c.payload.as_deref() == Some(r#"{"run":"r"}"#)));
        assert_eq!(claimed[0].event.input.run_id.as_deref(), Some("r1"));
        assert!(store.claim_due("h1.2", 60_000, 10).await.unwrap().is_empty(), "claimed twice");
        // While both run, what comes next is the end of their leases.
        let leases_end = store.next_due_ms().await.unwrap().expect("the leases end");
        assert!(leases_end > unix_millis() + 50_000 && leases_end <= unix_millis() + 60_001);
        // A manual retry does not take an execution in progress.
        conflict(store.retry_execution(team.id, &a_id).await);

        // Another owner's outcome is recorded but settles nothing.
        let lost = store.finish_attempt(&a_id, "h1.2", attempt(1, 200), Settlement::Succeeded("200".into())).await.unwrap();
        assert!(!lost);
        assert_eq!(store.execution(team.id, &a_id).await.unwrap().status, ExecutionStatus::Running);
        let done = store.finish_attempt(&a_id, "h1.1", attempt(1, 200), Settlement::Succeeded("200".into())).await.unwrap();
        assert!(done);
        let a = store.execution(team.id, &a_id).await.unwrap();
        assert_eq!((a.status, a.attempts, a.attempt_log.len()), (ExecutionStatus::Succeeded, 1, 1));
        assert_eq!(a.attempt_log[0]["response"]["status"], 200);

        let later = unix_millis() + 3_600_000;
        let retry = Settlement::Retry { at_ms: later, reason: "503".into() };
        assert!(store.finish_attempt(&b_id, "h1.1", attempt(1, 503), retry).await.unwrap());
        let b = store.execution(team.id, &b_id).await.unwrap();
        assert_eq!((b.status, b.status_reason.as_deref()), (ExecutionStatus::Retrying, Some("503")));
        assert_eq!(store.next_due_ms().await.unwrap(), Some(later), "nothing runs: the retry is next");
        assert!(store.claim_due("h1.1", 60_000, 10).await.unwrap().is_empty(), "not due yet");
        assert_eq!(store.queue_depth().await.unwrap(), 1);
        conflict(store.retry_execution(team.id, &b_id).await);

        store.retry_execution(team.id, &a_id).await.unwrap();
        not_found(store.retry_execution(team.id, &ExecutionId::generate()).await);
        let again = store.claim_due("h1.1", 60_000, 10).await.unwrap();
        assert_eq!((again.len(), again[0].id.as_str(), again[0].attempt), (1, a_id.as_str(), 2));
        assert_eq!(store.release_claims("h1.1").await.unwrap(), 1);
        let released = store.execution(team.id, &a_id).await.unwrap();
        assert_eq!(released.status, ExecutionStatus::Retrying);

        // A claim of an earlier process of this host is given back; this process's is kept.
        let crashed = store.claim_due("h1.1", 60_000, 10).await.unwrap();
        assert_eq!(crashed.len(), 1);
        assert_eq!(store.recover_abandoned("h1", "h1.1").await.unwrap(), 0);
        assert_eq!(store.recover_abandoned("h1", "h1.2").await.unwrap(), 1);
        let recovered = store.execution(team.id, &a_id).await.unwrap();
        assert_eq!(recovered.status, ExecutionStatus::Retrying);
        assert_eq!(store.claim_due("h1.2", 60_000, 10).await.unwrap()[0].attempt, 4);
    }
);

contract!(
    /// Run samples: a run's `RUN_METRIC` events are read back in ingest order after a place in
    /// it, and the purge removes old samples that fired nothing, keeping those that did.
    run_samples_and_purge,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        let sample = |step: u32| -> Arc<Event> {
            let input: EventInput = serde_json::from_value(json!({
                "type": "RUN_METRIC", "entity": "team", "project": "train", "run_id": "r1",
                "step": step, "metrics": {"loss": 1.0 / f64::from(step + 1)},
            }))
            .unwrap();
            Arc::new(Event::new(input))
        };
        let fired = vec![execution("aut_a", ExecutionStatus::Pending)];
        let events = vec![
            stored(sample(0), None, Vec::new()),
            stored(sample(1), None, fired),
            stored(sample(2), None, Vec::new()),
            stored(event("r1"), None, Vec::new()),
        ];
        store.ingest(team.id, events, None).await.unwrap();
        let samples = store.run_samples(team.id, "train", "r1", 0).await.unwrap();
        let steps: Vec<Option<u64>> = samples.iter().map(|(_, _, e)| e.input.step).collect();
        assert_eq!(steps, [Some(0), Some(1), Some(2)], "only the run's metric samples, in order");
        let after_first = store.run_samples(team.id, "train", "r1", samples[0].0).await.unwrap();
        assert_eq!(after_first.len(), 2);
        assert!(store.run_samples(team.id, "train", "r2", 0).await.unwrap().is_empty());
        store.lock_runs(vec!["train/r1".into()]).await.unwrap().release().await;

        let future = "2999-01-01T00:00:00.000Z".to_string();
        assert_eq!(store.purge_run_samples("2000-01-01T00:00:00.000Z".into(), 10).await.unwrap(), 0);
        assert_eq!(store.purge_run_samples(future.clone(), 1).await.unwrap(), 1, "at most the limit");
        assert_eq!(store.purge_run_samples(future, 10).await.unwrap(), 1);
        let kept = store.run_samples(team.id, "train", "r1", 0).await.unwrap();
        assert_eq!(kept.iter().map(|(_, _, e)| e.input.step).collect::<Vec<_>>(), [Some(1)]);
        let (_, executions) = store.event(team.id, &kept[0].2.id).await.unwrap();
        assert_eq!(executions.len(), 1, "a sample that fired keeps its execution");
    }
);

/// An execution sending through integration `integration`.
fn through(integration: &str) -> NewExecution {
    let mut snapshot = super::automation("aut_i", "i", json!({"type": "entity"}));
    snapshot.action.integration = Some(integration.into());
    NewExecution {
        automation: serde_json::to_string(&snapshot).unwrap(),
        ..execution("aut_i", ExecutionStatus::Pending)
    }
}

contract!(
    /// Integration health: failures count up and a success resets them; exhausted failures that
    /// last `disable_after` disable it once; a claim on a disabled integration is held without
    /// counting an attempt; enabling releases what it held, oldest first, or discards it.
    integration_health_and_held_executions,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        store.create_integration(team.id, super::integration("ci")).await.unwrap();
        let health = async || store.integration(team.id, "ci").await.unwrap().health;
        not_found(store.set_integration_disabled(team.id, "nope", None, HeldChoice::Deliver).await);

        // A transient failure counts; it is not failing for good yet.
        assert!(store.integration_failed(team.id, "ci", false, 60_000).await.unwrap().is_none());
        assert_eq!((health().await.consecutive_failures, health().await.failing_since_ms), (1, None));
        // Failing for good starts the clock; a success stops it.
        assert!(store.integration_failed(team.id, "ci", true, 60_000).await.unwrap().is_none());
        assert!(health().await.failing_since_ms.is_some());
        let ok = through("ci");
        let ok_id = ok.id.clone();
        store.ingest(team.id, vec![stored(event("r0"), None, vec![ok])], None).await.unwrap();
        store.claim_due("h1.1", 60_000, 10).await.unwrap();
        let success = FinishedAttempt { integration: Some((team.id, "ci".into())), ..attempt(1, 200) };
        assert!(store.finish_attempt(&ok_id, "h1.1", success, Settlement::Succeeded("200".into())).await.unwrap());
        assert_eq!(health().await, Default::default(), "a success restores it");

        // With `disable_after` 0 it never disables; with 1 ms, the second failure for good does,
        // once.
        store.integration_failed(team.id, "ci", true, 0).await.unwrap();
        assert!(store.integration_failed(team.id, "ci", true, 0).await.unwrap().is_none());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(store.integration_failed(team.id, "ci", true, 1).await.unwrap().is_some());
        assert!(store.integration_failed(team.id, "ci", true, 1).await.unwrap().is_none(), "disabled once");
        let disabled = health().await;
        assert!(disabled.disabled_at.is_some() && disabled.disabled_reason.unwrap().contains("failed for good"));

        // Claims while disabled are held, oldest first, without counting their attempt.
        let held: Vec<NewExecution> = (0..3).map(|_| through("ci")).collect();
        let order: Vec<String> = held.iter().map(|e| e.id.to_string()).collect();
        for (n, execution) in held.into_iter().enumerate() {
            let event = stored(event(&format!("r{}", n + 1)), None, vec![execution]);
            store.ingest(team.id, vec![event], None).await.unwrap();
        }
        for claimed in store.claim_due("h1.1", 60_000, 10).await.unwrap() {
            assert!(store.hold_claim(&claimed.id, "h1.1", team.id, "ci").await.unwrap());
            assert!(!store.hold_claim(&claimed.id, "h1.1", team.id, "ci").await.unwrap(), "not claimed any more");
        }
        for id in &order {
            let execution = store.execution(team.id, &ExecutionId::from(id.clone())).await.unwrap();
            assert_eq!((execution.status, execution.attempts), (ExecutionStatus::Held, 0));
        }
        assert!(store.claim_due("h1.1", 60_000, 10).await.unwrap().is_empty(), "held is not due");
        assert_eq!(store.held_executions(team.id).await.unwrap(), [("ci".to_string(), 3)]);

        // Disabling again changes nothing; enabling releases all three, due in their order.
        let again = store.set_integration_disabled(team.id, "ci", Some("by hand".into()), HeldChoice::Deliver).await.unwrap();
        assert!(!again.changed);
        let enabled = store.set_integration_disabled(team.id, "ci", None, HeldChoice::Deliver).await.unwrap();
        assert!(enabled.changed && enabled.held == 3);
        assert_eq!(health().await, Default::default());
        let claimed: Vec<String> = store.claim_due("h1.1", 60_000, 10).await.unwrap().iter().map(|c| c.id.to_string()).collect();
        assert_eq!(claimed, order, "released oldest first");
        assert!(store.held_executions(team.id).await.unwrap().is_empty());

        // A claim held after its integration was enabled again is due at once instead.
        let late = &claimed[0];
        assert!(store.hold_claim(&ExecutionId::from(late.clone()), "h1.1", team.id, "ci").await.unwrap());
        let late = store.execution(team.id, &ExecutionId::from(late.clone())).await.unwrap();
        assert_eq!(late.status, ExecutionStatus::Retrying);

        // Discarding fails what was held, saying why.
        store.release_claims("h1.1").await.unwrap();
        store.set_integration_disabled(team.id, "ci", Some("by hand".into()), HeldChoice::Deliver).await.unwrap();
        let second = store.claim_due("h1.1", 60_000, 10).await.unwrap();
        assert_eq!(second.len(), 3);
        for claimed in &second {
            store.hold_claim(&claimed.id, "h1.1", team.id, "ci").await.unwrap();
        }
        let discarded = store.set_integration_disabled(team.id, "ci", None, HeldChoice::Discard).await.unwrap();
        assert_eq!(discarded.held, 3);
        let failed = store.execution(team.id, &second[0].id).await.unwrap();
        assert_eq!(failed.status, ExecutionStatus::Failed);
        assert!(failed.status_reason.unwrap().contains("discarded"));
    }
);

contract!(
    /// Tasks: one per idempotency key; claimed by one owner while its lease lasts; each batch
    /// looks at a bounded slice of the window, queues again what the selection chooses and
    /// nothing else, and the last one finishes the task.
    tasks_run_in_bounded_batches,
    |store: Store| async move {
        use herald::ids::TaskId;
        use herald::model::task::{Selection, TaskKind, TaskStatus};
        use herald::store::NewTask;

        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        let from = ExecutionId::floor_at(unix_millis() - 1_000);
        // Five failed executions through `ci`, one through `other`, one succeeded.
        let mut chosen = Vec::new();
        let mut executions = Vec::new();
        for n in 0..7 {
            let mut execution = through(if n == 5 { "other" } else { "ci" });
            execution.status = if n == 6 { ExecutionStatus::Succeeded } else { ExecutionStatus::Failed };
            if n < 5 {
                chosen.push(execution.id.clone());
            }
            executions.push(execution);
        }
        store.ingest(team.id, vec![stored(event("r1"), None, executions)], None).await.unwrap();
        let until = ExecutionId::floor_at(unix_millis() + 1_000);
        let selection = Selection {
            from, until, statuses: vec![ExecutionStatus::Failed], integration: Some("ci".into()),
            automation: None, code_class: None,
        };
        let task = |key: &str| NewTask {
            id: TaskId::generate(), kind: TaskKind::Recover, request: "{}".into(),
            selection: selection.clone(), idempotency_key: Some(key.into()), created_by: "key_1".into(),
        };
        let (created, fresh) = store.create_task(team.id, task("k1")).await.unwrap();
        assert!(fresh && created.status == TaskStatus::Running);
        let (same, fresh) = store.create_task(team.id, task("k1")).await.unwrap();
        assert!(!fresh);
        assert_eq!(same.id, created.id);
        not_found(store.task(team.id + 1, &created.id).await);

        let (entity, claimed) = store.claim_task("h1.1", 60_000).await.unwrap().expect("a task to run");
        assert_eq!((entity, &claimed.id), (team.id, &created.id));
        assert!(store.claim_task("h2.1", 60_000).await.unwrap().is_none(), "claimed twice");
        assert!(store.run_task_batch(&created.id, "h2.1", 60_000, 3).await.unwrap().is_none(), "not its claim");

        let first = store.run_task_batch(&created.id, "h1.1", 60_000, 3).await.unwrap().unwrap();
        assert!(!first.done);
        let second = store.run_task_batch(&created.id, "h1.1", 60_000, 3).await.unwrap().unwrap();
        assert!(!second.done);
        let last = store.run_task_batch(&created.id, "h1.1", 60_000, 3).await.unwrap().unwrap();
        assert!(last.done && last.requeued == 0);
        assert_eq!(first.requeued + second.requeued, 5);
        let done = store.task(team.id, &created.id).await.unwrap();
        assert_eq!((done.status, done.scanned, done.requeued), (TaskStatus::Succeeded, 7, 5));
        assert!(done.finished_at.is_some());
        for id in &chosen {
            assert_eq!(store.execution(team.id, id).await.unwrap().status, ExecutionStatus::Pending);
        }
        let statuses: Vec<ExecutionStatus> = store
            .executions(team.id, query(None, &[ExecutionStatus::Failed, ExecutionStatus::Succeeded]))
            .await
            .unwrap()
            .iter()
            .map(|e| e.status)
            .collect();
        assert_eq!(statuses.len(), 2, "the other integration's and the succeeded one are left alone");
        assert!(store.claim_task("h1.1", 60_000).await.unwrap().is_none(), "nothing left to run");
        assert_eq!(store.list_tasks(team.id, None, 10).await.unwrap().len(), 1);
        let newest = store.list_tasks(team.id, None, 10).await.unwrap()[0].id.clone();
        assert!(store.list_tasks(team.id, Some(newest), 10).await.unwrap().is_empty());
    }
);

contract!(
    /// Claims lost in a database failure: an owner's claims made before it that it does not
    /// hold are due again; those it holds, those made since, and other owners' are kept.
    lost_claims_are_released,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        let executions: Vec<NewExecution> =
            (0..3).map(|_| execution("aut_a", ExecutionStatus::Pending)).collect();
        store.ingest(team.id, vec![stored(event("r1"), None, executions)], None).await.unwrap();
        let mut claimed = store.claim_due("h1.1", 60_000, 3).await.unwrap();
        claimed.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        let held = vec![claimed[0].id.to_string()];
        let before = unix_millis() + 60_000;
        // Made since the failure (its lease ends later): kept.
        assert_eq!(store.release_lost_claims("h1.1", before - 120_000, held.clone()).await.unwrap(), 0);
        assert_eq!(store.release_lost_claims("h2.1", before, Vec::new()).await.unwrap(), 0, "not its claims");
        assert_eq!(store.release_lost_claims("h1.1", before, held).await.unwrap(), 2);
        let kept = store.execution(team.id, &claimed[0].id).await.unwrap();
        assert_eq!(kept.status, ExecutionStatus::Running);
        for lost in &claimed[1..] {
            let lost = store.execution(team.id, &lost.id).await.unwrap();
            assert_eq!(lost.status, ExecutionStatus::Retrying);
        }
        assert_eq!(store.claim_due("h1.1", 60_000, 3).await.unwrap().len(), 2, "due again at once");
    }
);

contract!(
    /// History retention: events before the cutoff go with their executions and attempts once
    /// every execution of theirs has finished, a bounded number per call; the others stay.
    history_is_purged_once_finished,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        let done = execution("aut_a", ExecutionStatus::Succeeded);
        let live = execution("aut_a", ExecutionStatus::Pending);
        let live_id = live.id.clone();
        let events = vec![
            stored(event("r1"), None, vec![done]),
            stored(event("r2"), None, vec![live]),
            stored(event("r3"), None, Vec::new()),
        ];
        let outcomes = store.ingest(team.id, events, None).await.unwrap();
        assert_eq!(store.purge_history(ExecutionId::floor_at(0), 10).await.unwrap(), 0, "nothing that old");
        let later = ExecutionId::floor_at(unix_millis() + 1_000);
        assert_eq!(store.purge_history(later.clone(), 1).await.unwrap(), 1, "at most the limit");
        assert_eq!(store.purge_history(later.clone(), 10).await.unwrap(), 1);
        assert_eq!(store.purge_history(later, 10).await.unwrap(), 0);
        store.reclaim_space().await.unwrap();
        let kept = store.execution(team.id, &live_id).await.unwrap();
        assert_eq!(kept.status, ExecutionStatus::Pending, "an event still to deliver stays");
        not_found(store.event(team.id, &outcomes[0].event_id).await);
        not_found(store.event(team.id, &outcomes[2].event_id).await);
        assert!(store.event(team.id, &outcomes[1].event_id).await.is_ok());
    }
);

contract!(
    /// Attempt bodies past their retention go, by their length; the rest of the record stays,
    /// and a later purge starts where the last one ended.
    attempt_bodies_are_dropped_once,
    |store: Store| async move {
        let (team, _) = store.create_entity("team", "hk_team-0123456789".into()).await.unwrap();
        let with_bodies = |n: u32| FinishedAttempt {
            number: n,
            record: json!({"requests": [{"method": "POST", "headers": [["x", "y"]], "body": "hello",
                           "response": {"status": 500, "headers": [], "body": "oops!!"}}]})
            .to_string(),
            duration_ms: 1.0,
            integration: None,
        };
        let first = execution("aut_a", ExecutionStatus::Pending);
        let first_id = first.id.clone();
        store.ingest(team.id, vec![stored(event("r1"), None, vec![first])], None).await.unwrap();
        store.claim_due("h1.1", 60_000, 10).await.unwrap();
        let failed = Settlement::Failed("500".into());
        assert!(store.finish_attempt(&first_id, "h1.1", with_bodies(1), failed).await.unwrap());

        assert_eq!(store.drop_attempt_bodies(ExecutionId::floor_at(0), 10).await.unwrap(), 0, "nothing that old");
        let later = ExecutionId::floor_at(unix_millis() + 1_000);
        assert_eq!(store.drop_attempt_bodies(later.clone(), 10).await.unwrap(), 1);
        let log = store.execution(team.id, &first_id).await.unwrap().attempt_log;
        let request = &log[0]["requests"][0];
        assert_eq!(request["body"], json!({"omitted": true, "length": 5}));
        assert_eq!(request["response"]["body"], json!({"omitted": true, "length": 6}));
        assert_eq!(request["response"]["status"], 500);
        assert_eq!(request["headers"], json!([["x", "y"]]));
        assert_eq!(store.drop_attempt_bodies(later, 10).await.unwrap(), 0, "past the mark");

        // A newer execution is gone through by the next purge, from the mark on.
        let second = execution("aut_a", ExecutionStatus::Pending);
        let second_id = second.id.clone();
        store.ingest(team.id, vec![stored(event("r2"), None, vec![second])], None).await.unwrap();
        store.claim_due("h1.1", 60_000, 10).await.unwrap();
        let failed = Settlement::Failed("500".into());
        assert!(store.finish_attempt(&second_id, "h1.1", with_bodies(1), failed).await.unwrap());
        let later = ExecutionId::floor_at(unix_millis() + 1_000);
        assert_eq!(store.drop_attempt_bodies(later, 10).await.unwrap(), 1);
        let log = store.execution(team.id, &second_id).await.unwrap().attempt_log;
        assert_eq!(log[0]["requests"][0]["body"]["omitted"], true);
    }
);
