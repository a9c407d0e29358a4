//! Ingest as the sink of operational events: each is stored and matched like a posted event
//! (its idempotency key makes a repeat a no-op), on a task of its own so that whoever raised it
//! (a delivery worker, a request) does not wait for it.

use crate::delivery::operational::{Operational, OperationalSink};
use crate::model::event::Event;

use super::Ingest;

impl OperationalSink for Ingest {
    fn raise(&self, entity_id: i64, event: Operational) {
        let ingest = self.clone();
        tokio::spawn(async move {
            let key = event.idempotency_key();
            let stored = Event::new(event.input());
            match ingest.events(entity_id, vec![(stored, Some(key))]).await {
                Ok(_) => tracing::debug!(kind = event.kind.as_str(), "operational event raised"),
                Err(error) => tracing::warn!(
                    kind = event.kind.as_str(),
                    integration = event.integration.as_deref().unwrap_or_default(),
                    %error,
                    "an operational event could not be stored; it is lost"
                ),
            }
        });
    }
}
