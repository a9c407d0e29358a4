//! The ingest side's link to this process's dispatcher. An ingest that creates executions leases
//! some of them to the dispatcher in its own transaction and hands them over, in memory, once that
//! transaction has committed: a fresh execution then costs no claim transaction and no second read
//! of its event and automation. What is not handed over stays `pending` in the store, and a wake-up
//! tells the dispatcher to claim it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{Notify, mpsc};

use crate::store::{Claimed, unix_millis};

/// Shared by the API and the dispatcher. Cheap to clone.
#[derive(Clone, Default)]
pub struct DeliveryLink {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    wake: Notify,
    /// Set once the dispatcher runs; an ingest-only host never sets it.
    direct: OnceLock<Direct>,
}

struct Direct {
    owner: String,
    lease_ms: i64,
    /// At most this many handed-over executions may be unfinished at once, so that the claim loop
    /// always has slots for retries and older executions, and no execution waits in memory long
    /// enough for its lease to lapse.
    capacity: usize,
    unfinished: AtomicUsize,
    sender: mpsc::UnboundedSender<(Claimed, Reservation)>,
}

/// A handed-over execution's place in the capacity: given back when dropped, that is when its
/// attempt is over, or when it never runs here (the dispatcher stopped first).
pub struct Reservation {
    link: DeliveryLink,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.link.release(1);
    }
}

/// Executions leased to the dispatcher, to be written with this owner and lease, then handed over.
/// Dropping it without handing them over gives the reservation back.
pub struct Lease {
    link: DeliveryLink,
    /// How many executions the lease covers (possibly fewer than asked for, possibly none).
    pub count: usize,
    /// The dispatcher's owner id, for `lease_owner`.
    pub owner: String,
    /// When the lease ends (Unix ms), for `lease_until`.
    pub until_ms: i64,
    handed: usize,
}

impl DeliveryLink {
    /// Wakes the dispatcher: executions are due in the store.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Resolves when [`DeliveryLink::wake`] was called (a wake-up before the wait counts).
    pub async fn woken(&self) {
        self.inner.wake.notified().await;
    }

    /// Connects the dispatcher: from now on ingests lease it up to `capacity` executions at once.
    /// Returns the receiving end, or `None` when a dispatcher is already connected.
    pub fn connect(
        &self,
        owner: &str,
        lease_ms: i64,
        capacity: usize,
    ) -> Option<mpsc::UnboundedReceiver<(Claimed, Reservation)>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let direct = Direct {
            owner: owner.to_string(),
            lease_ms,
            capacity: capacity.max(1),
            unfinished: AtomicUsize::new(0),
            sender,
        };
        self.inner.direct.set(direct).ok().map(|()| receiver)
    }

    /// Reserves up to `wanted` executions for the dispatcher; `None` without a dispatcher or with
    /// no room.
    pub fn lease(&self, wanted: usize) -> Option<Lease> {
        let direct = self.inner.direct.get()?;
        if wanted == 0 {
            return None;
        }
        let mut current = direct.unfinished.load(Ordering::Relaxed);
        loop {
            let count = wanted.min(direct.capacity.saturating_sub(current));
            if count == 0 {
                return None;
            }
            match direct.unfinished.compare_exchange_weak(
                current,
                current + count,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Lease {
                        link: self.clone(),
                        count,
                        owner: direct.owner.clone(),
                        until_ms: unix_millis() + direct.lease_ms,
                        handed: 0,
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }

    fn release(&self, count: usize) {
        if let Some(direct) = self.inner.direct.get() {
            direct.unfinished.fetch_sub(count, Ordering::AcqRel);
        }
    }
}

impl Lease {
    /// Hands a committed, leased execution to the dispatcher.
    pub fn hand_over(&mut self, execution: Claimed) {
        let Some(direct) = self.link.inner.direct.get() else {
            return;
        };
        if self.handed == self.count {
            // Not leased (a caller's bug): it stays pending in the store and is claimed.
            tracing::error!(execution = %execution.id, "handed over beyond the lease");
            return;
        }
        self.handed += 1;
        let reservation = Reservation {
            link: self.link.clone(),
        };
        // When the dispatcher has stopped, the reservation drops with the message; the execution
        // stays leased in the store until the next start recovers it.
        let _ = direct.sender.send((execution, reservation));
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.link.release(self.count - self.handed);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::Event;

    fn claimed(id: &str) -> Claimed {
        let automation = serde_json::from_value(json!({
            "id": "a", "entity": "e", "name": "a", "description": "", "enabled": true,
            "scope": {"type": "entity"}, "event": {"type": "RUN_STATE"},
            "action": {"type": "no-op"}, "rate_limit": null, "created_at": "", "updated_at": ""
        }))
        .unwrap();
        let input = serde_json::from_value(json!({
            "type": "RUN_STATE", "entity": "e", "project": "p", "run_id": "r", "state": "FAILED"
        }))
        .unwrap();
        Claimed {
            id: id.into(),
            entity_id: 1,
            attempt: 1,
            automation: Arc::new(automation),
            event: Arc::new(Event::new(input)),
            payload: None,
            metric: None,
        }
    }

    #[tokio::test]
    async fn reservations_come_back_when_attempts_end_or_leases_go_unused() {
        let link = DeliveryLink::default();
        assert!(link.lease(1).is_none(), "no dispatcher connected yet");
        let mut handed = link.connect("host_a", 60_000, 3).unwrap();
        assert!(
            link.connect("host_b", 60_000, 3).is_none(),
            "one dispatcher"
        );

        let mut lease = link.lease(5).unwrap();
        assert_eq!((lease.count, lease.owner.as_str()), (3, "host_a"));
        assert!(link.lease(1).is_none(), "every reservation is taken");
        lease.hand_over(claimed("first"));
        drop(lease);
        let unused = link.lease(5).unwrap();
        assert_eq!(unused.count, 2, "the two never handed over came back");
        drop(unused);

        let (execution, reservation) = handed.recv().await.unwrap();
        assert_eq!(execution.id, "first");
        assert_eq!(link.lease(5).unwrap().count, 2, "still held while it runs");
        drop(reservation);
        assert_eq!(link.lease(5).unwrap().count, 3, "given back when it ended");

        // A stopped dispatcher: what is handed over gives its reservation straight back.
        drop(handed);
        let mut lease = link.lease(1).unwrap();
        lease.hand_over(claimed("orphan"));
        drop(lease);
        assert_eq!(link.lease(5).unwrap().count, 3);
    }
}
