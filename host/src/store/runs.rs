//! Run liveness: when each run reported outside launch last sent anything, so that a run that
//! went silent (its process killed) is noticed and reported `FAILED` once, by one host.

use super::{EntityRecord, StoreError};

/// What an event (or a heartbeat) says of its run's liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// It sent something: a running run is alive now (an ended one stays ended; a run never
    /// seen starts running).
    Seen,
    /// `RUN_STATE RUNNING`: it runs (again) from now, whatever it was.
    Started,
    /// `RUN_STATE FINISHED` or `FAILED`: it ended; nothing more is expected of it.
    Ended,
}

impl Liveness {
    /// The state a new row gets.
    pub(crate) fn state(self) -> &'static str {
        match self {
            Self::Seen | Self::Started => "running",
            Self::Ended => "ended",
        }
    }
}

/// A run's liveness change, stored with the event that made it.
#[derive(Debug, Clone)]
pub struct RunTouch {
    /// The run's project.
    pub project: String,
    /// The run's id.
    pub run_id: String,
    /// Its display name, if the event had one.
    pub run_name: Option<String>,
    /// What the event says.
    pub liveness: Liveness,
}

/// A running run that went silent, claimed by this host to report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentRun {
    /// Its entity.
    pub entity: EntityRecord,
    /// Its project.
    pub project: String,
    /// Its id.
    pub run_id: String,
    /// Its display name, if it ever sent one.
    pub run_name: Option<String>,
    /// When it last sent anything (Unix milliseconds).
    pub last_seen: i64,
}

super::interface! {
    /// Run liveness.
    trait RunStore {
        /// Records that a run sent a heartbeat now (as [`Liveness::Seen`]); returns whether it
        /// is running (false once it ended).
        async fn run_heartbeat(
            &self,
            entity_id: i64,
            project: &str,
            run_id: &str,
        ) -> Result<bool, StoreError>;
        /// Claims the running runs silent since before `silent_since` (Unix ms) that no host
        /// claimed in the last `reclaim_ms` (a host that claimed one and died): this host reports
        /// them. Safe to run on several hosts at once: each run is claimed by one.
        async fn claim_silent_runs(
            &self,
            silent_since: i64,
            reclaim_ms: i64,
            limit: usize,
        ) -> Result<Vec<SilentRun>, StoreError>;
    }
}
