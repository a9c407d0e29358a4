//! The PostgreSQL backend, for several Herald hosts on one database: a pool of connections
//! (deadpool-postgres) with each connection's prepared statements cached, numbered migrations
//! applied under an advisory lock (so hosts starting together apply them once), and claims taken
//! with `FOR UPDATE SKIP LOCKED`. Changes other hosts must see (automations, credentials, keys)
//! are announced with `NOTIFY` in the transaction that makes them (see `notify.rs`).

mod audit;
mod automations;
mod delivery;
mod entities;
mod events;
mod integrations;
mod launch;
mod leases;
mod migrations;
pub(super) mod notify;
mod outcomes;
mod plugins;
mod retention;
mod runs;
mod secrets;
mod tasks;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::{Shared, StoreError};

/// How long a request waits for a pooled connection (or for a new one to open) before it fails
/// with 503: a database that is down must not hold requests for the client's whole timeout.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// How long one statement or transaction may take before it fails with 503: a frozen database
/// must not hold requests, `/readyz` or `/metrics` for the client's whole timeout. (Waits that
/// are meant to be long, a run lock held by another host, do not go through this bound.)
const STATEMENT_WAIT: Duration = Duration::from_secs(5);

/// `work`, failed with `TimedOut` past [`STATEMENT_WAIT`] (dropping it: the connection is let
/// go, and a transaction's rollback sent, by the driver).
async fn bounded<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(STATEMENT_WAIT, work)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::TimedOut(format!(
                "the database did not answer within {STATEMENT_WAIT:?}"
            )))
        })
}

/// The PostgreSQL database. Cheap to clone.
#[derive(Clone)]
pub(super) struct Postgres {
    pool: Pool,
    shared: Arc<Shared>,
    /// Announces changes to the other hosts and hears theirs.
    pub(super) notify: notify::Notifier,
    /// Writes attempt outcomes in batches (set once the store exists).
    finisher: std::sync::OnceLock<outcomes::Finisher>,
    /// Bounds the connections holding run locks to half the pool: each holder waits for another
    /// connection to store its events, and a pool full of holders would wait for itself.
    run_lockers: Arc<tokio::sync::Semaphore>,
    /// Where it connected (tests open a second host on it).
    #[cfg(test)]
    url: String,
}

impl Postgres {
    /// Connects to `url`, applies pending migrations and starts listening for other hosts'
    /// changes. `pool_size` bounds the connections this host opens.
    pub(super) async fn connect(
        url: &str,
        pool_size: usize,
        shared: Arc<Shared>,
    ) -> Result<Self, StoreError> {
        // Two at least: a run-lock holder and the connection that stores its events.
        let pool_size = pool_size.max(2);
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("database_url: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection the server closed is found by the next query (and the pool drops
                // it), not by a round trip before every checkout.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Config(format!("database pool: {e}")))?;
        let store = Self {
            notify: notify::Notifier::start(config, shared.clone()),
            pool,
            shared,
            finisher: std::sync::OnceLock::new(),
            run_lockers: Arc::new(tokio::sync::Semaphore::new((pool_size / 2).max(1))),
            #[cfg(test)]
            url: url.to_string(),
        };
        let mut client = store.client().await?;
        migrations::apply(&mut client).await?;
        let _ = store.finisher.set(outcomes::Finisher::start(store.clone()));
        Ok(store)
    }

    /// The pool as it stands.
    pub(super) fn pool_status(&self) -> super::PoolStatus {
        let status = self.pool.status();
        super::PoolStatus {
            size: status.size,
            max_size: status.max_size,
            available: status.available,
            waiting: status.waiting,
            gets: self.shared.stats.pool_gets.load(Ordering::Relaxed),
            errors: self.shared.stats.database_errors.load(Ordering::Relaxed),
            waited: std::time::Duration::from_micros(
                self.shared.stats.pool_wait_micros.load(Ordering::Relaxed),
            ),
        }
    }

    /// A pooled connection; `Unavailable` when the database cannot be reached. The wait is
    /// counted (`herald_database_pool_wait_seconds_total`).
    pub(super) async fn client(&self) -> Result<Object, StoreError> {
        let started = std::time::Instant::now();
        let client = self.pool.get().await;
        let stats = &self.shared.stats;
        stats.pool_gets.fetch_add(1, Ordering::Relaxed);
        let waited = started.elapsed().as_micros() as u64;
        stats.pool_wait_micros.fetch_add(waited, Ordering::Relaxed);
        client.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
            other => StoreError::Unavailable(format!("no database connection: {other}")),
        })
    }

    /// Runs `work` in a transaction and commits it; rolled back when `work` fails.
    pub(super) async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let value = self.counted(
            bounded(async {
                let mut client = self.client().await?;
                let tx = client.transaction().await?;
                let value = work(&tx).await?;
                tx.commit().await?;
                Ok(value)
            })
            .await,
        )?;
        self.committed(1);
        Ok(value)
    }

    /// `result`, counted in `herald_database_errors_total` when it failed for the database's
    /// state (unreachable, timed out), not for the request.
    fn counted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.as_ref().is_err_and(StoreError::is_unavailable) {
            self.shared
                .stats
                .database_errors
                .fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// The rows of one (cached) statement.
    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.counted(
            bounded(async {
                let client = self.client().await?;
                let statement = client.prepare_cached(sql).await?;
                Ok(client.query(&statement, params).await?)
            })
            .await,
        )
    }

    /// The row of one (cached) statement, if any.
    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        self.counted(
            bounded(async {
                let client = self.client().await?;
                let statement = client.prepare_cached(sql).await?;
                Ok(client.query_opt(&statement, params).await?)
            })
            .await,
        )
    }

    /// Counts an acknowledged write (for the writes/commits counters the SQLite writer keeps).
    pub(super) fn committed(&self, writes: u64) {
        self.shared.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.shared
            .stats
            .writes
            .fetch_add(writes, Ordering::Relaxed);
    }
}

/// Whether a PostgreSQL error is the database's state (down, restarting, out of connections)
/// rather than the request: the caller answers 503.
pub(super) fn unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // No SQLSTATE: the connection failed (refused, reset, timed out).
        None => error.as_db_error().is_none(),
        Some(code) => {
            let class = &code.code()[..2];
            // 08: connection exception; 53: insufficient resources; 57: operator intervention
            // (admin shutdown, crash shutdown, cannot connect now).
            matches!(class, "08" | "53" | "57")
        }
    }
}

/// A PostgreSQL error in words: the server's message when it sent one (the driver's own text is
/// only "db error"), else the driver's text and its cause (a refused connection, say).
pub(super) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}

/// Maps a unique violation to `Conflict` with a message; other errors pass through.
pub(super) fn conflict(
    error: tokio_postgres::Error,
    message: impl FnOnce() -> String,
) -> StoreError {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict(message())
    } else {
        StoreError::from(error)
    }
}

/// Runs one (cached) statement in `tx`; the number of rows it changed.
pub(super) async fn execute(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.execute(&statement, params).await
}

/// The rows of one (cached) statement in `tx`.
pub(super) async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = tx.prepare_cached(sql).await?;
    tx.query(&statement, params).await
}

/// A row count as `usize`.
fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
