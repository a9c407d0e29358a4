//! The audit log's contract: entries come back newest first, filtered by action, kind, thing,
//! key and id window, each entity's apart; a purge deletes only what is older than its bound.

use herald::ids::{AuditId, ExecutionId};
use herald::model::audit::{AuditAction, TargetKind};
use herald::store::{AuditQuery, AuditRecord};

use super::*;

fn entry(action: AuditAction, target: &str, actor: &str) -> AuditRecord {
    AuditRecord {
        id: AuditId::generate(),
        at: herald::store::now_rfc3339(),
        actor: actor.into(),
        actor_role: "admin".into(),
        action,
        target: target.into(),
        before: None,
        after: Some(format!("{{\"name\":\"{target}\"}}")),
    }
}

fn all(limit: usize) -> AuditQuery {
    AuditQuery {
        limit,
        ..Default::default()
    }
}

contract!(
    audit_log_reads_newest_first_filtered_and_purges_by_age,
    |store: Store| async move {
        let (team, _) = store
            .create_entity("team", "hk_team-0123456789".into())
            .await
            .unwrap();
        let (other, _) = store
            .create_entity("other", "hk_other-0123456789".into())
            .await
            .unwrap();
        let mut written = Vec::new();
        for (action, target, actor) in [
            (AuditAction::SecretSet, "TOKEN", "key_a"),
            (AuditAction::AutomationCreated, "aut_1", "key_b"),
            (AuditAction::AutomationUpdated, "aut_1", "key_a"),
            (AuditAction::IntegrationDeleted, "ci", "key_b"),
        ] {
            let e = entry(action, target, actor);
            store.record_audit(team.id, e.clone()).await.unwrap();
            written.push(e);
            // Ids and times are of the millisecond: a few apart, their order is certain.
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        store
            .record_audit(other.id, entry(AuditAction::KeyCreated, "k", "key_c"))
            .await
            .unwrap();

        let read = store.audit_log(team.id, all(100)).await.unwrap();
        let expected: Vec<AuditRecord> = written.iter().rev().cloned().collect();
        assert_eq!(read, expected);
        assert_eq!(
            store.audit_log(team.id, all(2)).await.unwrap(),
            expected[..2]
        );

        let only = |query: AuditQuery| {
            let store = store.clone();
            async move {
                let read = store
                    .audit_log(
                        team.id,
                        AuditQuery {
                            limit: 100,
                            ..query
                        },
                    )
                    .await
                    .unwrap();
                read.into_iter().map(|e| e.action).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            only(AuditQuery {
                target_kind: Some(TargetKind::Automation),
                ..Default::default()
            })
            .await,
            [
                AuditAction::AutomationUpdated,
                AuditAction::AutomationCreated
            ]
        );
        assert_eq!(
            only(AuditQuery {
                action: Some(AuditAction::SecretSet),
                ..Default::default()
            })
            .await,
            [AuditAction::SecretSet]
        );
        assert_eq!(
            only(AuditQuery {
                actor: Some("key_b".into()),
                target: Some("ci".into()),
                ..Default::default()
            })
            .await,
            [AuditAction::IntegrationDeleted]
        );
        // From the third entry's time to the fourth's: the third alone.
        let window = AuditQuery {
            since: Some(written[2].at.clone()),
            until: Some(written[3].at.clone()),
            ..Default::default()
        };
        assert_eq!(only(window).await, [AuditAction::AutomationUpdated]);
        // Below an entry's id (a page's cursor): the older ones.
        let window = AuditQuery {
            below_id: Some(written[3].id.to_string()),
            since: Some(written[2].at.clone()),
            ..Default::default()
        };
        assert_eq!(only(window).await, [AuditAction::AutomationUpdated]);

        // A purge bounded by id (time) and count: older ones go, of every entity, newer stay.
        let far_future = ExecutionId::floor_at(herald::store::unix_millis() + 60_000);
        assert_eq!(
            store
                .purge_audit(written[2].id.to_string(), 100)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store.audit_log(team.id, all(100)).await.unwrap(),
            expected[..2]
        );
        assert_eq!(store.purge_audit(far_future.clone(), 1).await.unwrap(), 1);
        assert_eq!(store.purge_audit(far_future, 100).await.unwrap(), 2);
        assert!(
            store
                .audit_log(other.id, all(100))
                .await
                .unwrap()
                .is_empty()
        );
    }
);
