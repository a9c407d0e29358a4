//! The store: every SQL statement Herald runs lives under this module. One interface (the
//! per-topic traits declared with [`interface!`], implemented by each backend) and two backends:
//! SQLite (`sqlite/`, the default: one file, nothing to install) and PostgreSQL (`postgres/`, for
//! several hosts on one database). [`Store`] is the handle the rest of Herald holds; each of its
//! methods runs on whichever backend the configuration chose.
//!
//! A write is acknowledged only after the transaction holding it has committed.

mod audit;
mod automations;
mod delivery;
mod entities;
mod events;
mod integrations;
mod launch;
mod plugins;
mod postgres;
mod retention;
mod runs;
mod secrets;
mod sqlite;
mod tasks;

pub use audit::{AuditQuery, AuditRecord};
pub use automations::AutomationFilter;
pub use delivery::{Claimed, FinishedAttempt, Settlement};
pub use entities::{ApiKeyRecord, EntityRecord, NewKey};
pub(crate) use events::received_ms;
pub use events::{
    EventQuery, EventSummary, EventToStore, ExecutionQuery, ExecutionRecord, IngestOutcome,
    NewExecution, unix_millis,
};
pub use integrations::{IntegrationHealth, IntegrationRecord, Toggled};
pub use launch::{
    AgentRecord, ClaimTokens, ItemFilter, ItemRecord, JobRecord, NewItem, QueueRecord,
};
pub use runs::{Liveness, RunTouch, SilentRun};
pub use secrets::{PreviousValue, SealedSecret, SecretRecord};
pub use tasks::{NewTask, TaskBatch, TaskRecord};

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A connection pool's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open.
    pub size: usize,
    /// The most it opens.
    pub max_size: usize,
    /// Open and idle.
    pub available: usize,
    /// Requests waiting for one.
    pub waiting: usize,
    /// Connections taken from it so far.
    pub gets: u64,
    /// Requests that failed for the database's state so far.
    pub errors: u64,
    /// Time spent waiting for them so far, in all.
    pub waited: std::time::Duration,
}

/// Why a store operation failed. Callers branch on `NotFound` and `Conflict`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row.
    #[error("{0} not found")]
    NotFound(String),
    /// A unique name is taken, or a row is still referenced.
    #[error("{0}")]
    Conflict(String),
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("database error: {}", postgres::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The database settings are wrong (an unparsable `database_url`).
    #[error("{0}")]
    Config(String),
    /// A stored JSON document does not parse (a bug or a corrupted file).
    #[error("corrupt stored document: {0}")]
    Corrupt(String),
    /// The database did not answer in time (a frozen server): a write's outcome is unknown.
    #[error("{0}")]
    TimedOut(String),
    /// The batch this write was in failed to commit: the write did not happen.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The writer thread is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The database cannot be written now (disk full, read-only, an I/O error): worth retrying
    /// once the operator has freed space. Nothing of the write happened.
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Refuses to delete `what` while `users` (of kind `user_kind`) still name it.
    pub(crate) fn in_use(what: String, user_kind: &str, users: &[String]) -> Self {
        Self::Conflict(format!(
            "{what} is used by {user_kind}{} {}",
            if users.len() > 1 { "s" } else { "" },
            users.join(", ")
        ))
    }

    /// Whether a write that failed so may have been committed all the same: the connection to
    /// PostgreSQL was lost while the request's transaction was under way (perhaps after its
    /// commit landed). A SQLite write that failed, or a request that never got a connection,
    /// stored nothing.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::TimedOut(_) => true,
            Self::Postgres(error) => postgres::unavailable(error),
            _ => false,
        }
    }

    /// Whether the failure is the storage's state rather than the request: callers answer 503
    /// and retry later instead of reporting a bug.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::TimedOut(_) | Self::Closed => true,
            Self::Sqlite(error) => sqlite::unavailable(error),
            Self::Postgres(error) => postgres::unavailable(error),
            _ => false,
        }
    }
}

/// Durability of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Survives a killed process (WAL, `synchronous=NORMAL`).
    Process,
    /// Survives power loss too (`synchronous=FULL`: an fsync per commit, shared by the batch).
    Power,
}

/// Counters of the writer: how many writes, in how many commits (group commit at work when
/// commits < writes).
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Writes acknowledged.
    pub writes: AtomicU64,
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Connections taken from the PostgreSQL pool.
    pub pool_gets: AtomicU64,
    /// Microseconds spent waiting for them, in all.
    pub pool_wait_micros: AtomicU64,
    /// Requests that failed for the database's state (unreachable, timed out).
    pub database_errors: AtomicU64,
}

/// Declares one topic of the store interface: a trait every backend implements, and the [`Store`]
/// methods that run it on the configured backend. Its input reads as what it generates: `async
/// fn` signatures with their docs, the one list that is the interface; the compiler holds each
/// backend to it, and `tests/it/store_contract.rs` holds both backends to the same behaviour.
macro_rules! interface {
    (
        $(#[$trait_meta:meta])*
        trait $trait:ident {
            $(
                $(#[$meta:meta])*
                async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
            )*
        }
    ) => {
        $(#[$trait_meta])*
        pub(crate) trait $trait {
            $(
                $(#[$meta])*
                async fn $name(&self $(, $arg: $ty)*) -> $ret;
            )*
        }

        impl $crate::store::Store {
            $(
                $(#[$meta])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    use $crate::store::Backend;
                    match &self.backend {
                        Backend::Sqlite(backend) => $trait::$name(backend $(, $arg)*).await,
                        Backend::Postgres(backend) => $trait::$name(backend $(, $arg)*).await,
                    }
                }
            )*
        }
    };
}
pub(crate) use interface;

/// The database, on whichever backend the configuration chose. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    shared: Arc<Shared>,
}

/// The backends.
#[derive(Clone)]
enum Backend {
    /// One SQLite file (the default).
    Sqlite(sqlite::Sqlite),
    /// A PostgreSQL database, which several hosts may share.
    Postgres(postgres::Postgres),
}

/// A kind of change other hosts cache, announced to them when it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An automation was created, changed or deleted: the matching index reloads.
    Automations,
    /// A secret or an integration changed: cached credentials age.
    Credentials,
    /// An API key was deleted: cached key lookups are dropped.
    Keys,
    /// A plugin was installed or removed through the API: every host installs or removes it.
    Plugins,
}

impl Change {
    /// Every kind (what a host assumes changed after missing notices).
    pub const ALL: [Change; 4] = [
        Self::Automations,
        Self::Credentials,
        Self::Keys,
        Self::Plugins,
    ];

    /// The notice's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automations => "automations",
            Self::Credentials => "credentials",
            Self::Keys => "keys",
            Self::Plugins => "plugins",
        }
    }

    /// The kind a notice names.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// What the facade and its backend share.
#[derive(Default)]
struct Shared {
    stats: StoreStats,
    /// Bumped by every write to secrets or integrations, so that caches of them know they aged.
    credentials_generation: AtomicU64,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies pending migrations.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared::default());
        let backend = Backend::Sqlite(sqlite::Sqlite::open(path, durability, shared.clone())?);
        Ok(Self { backend, shared })
    }

    /// Connects to the PostgreSQL database at `url` (opening at most `pool_size` connections)
    /// and applies pending migrations.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared::default());
        let backend =
            Backend::Postgres(postgres::Postgres::connect(url, pool_size, shared.clone()).await?);
        Ok(Self { backend, shared })
    }

    /// Whether other hosts may share this database (PostgreSQL): then what one host caches in
    /// memory must be checked against, or told about, what the others do.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The changes other hosts (and this one) commit, for caches to follow; `None` when no
    /// other host can change this database (SQLite).
    pub fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(backend) => Some(backend.notify.subscribe()),
        }
    }

    /// Changes whenever secrets or integrations may have changed. A cache of them is fresh while
    /// this reads as it did before the cache read the store.
    pub fn credentials_generation(&self) -> u64 {
        self.shared.credentials_generation.load(Ordering::Acquire)
    }

    /// The PostgreSQL connection pool as it stands (`None` on SQLite, which has no pool).
    pub fn pool_status(&self) -> Option<PoolStatus> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(backend) => Some(backend.pool_status()),
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> &StoreStats {
        &self.shared.stats
    }

    /// The SQLite backend, for tests that look beneath the interface.
    #[cfg(test)]
    fn sqlite(&self) -> &sqlite::Sqlite {
        match &self.backend {
            Backend::Sqlite(backend) => backend,
            Backend::Postgres(_) => panic!("not a SQLite store"),
        }
    }
}

/// Seconds since the Unix epoch, as stored in `*_at` columns together with RFC 3339 text.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A Unix-ms time as RFC 3339 text (ms precision, UTC).
pub fn rfc3339_of_millis(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

pub(crate) fn json_column<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}
