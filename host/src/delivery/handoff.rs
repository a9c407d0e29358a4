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
    sender: mpsc::UnboundedSender<Claimed>,
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
    ) -> Option<mpsc::UnboundedReceiver<Claimed>> {
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

    /// A handed-over execution finished (or will never run here): its reservation is free again.
    pub fn finished(&self) {
        if let Some(direct) = self.inner.direct.get() {
            direct.unfinished.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Lease {
    /// Hands a committed, leased execution to the dispatcher.
    pub fn hand_over(&mut self, execution: Claimed) {
        let Some(direct) = self.link.inner.direct.get() else {
            return;
        };
        debug_assert!(self.handed < self.count, "more executions than leased");
        self.handed += 1;
        if direct.sender.send(execution).is_err() {
            // The dispatcher stopped: the execution stays leased in the store until the next
            // start recovers it.
            self.link.finished();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        for _ in self.handed..self.count {
            self.link.finished();
        }
    }
}
