//! The SQLite backend: WAL mode; numbered migrations applied at start; one writer thread that
//! commits concurrent writes together (group commit), and a small pool of read connections.
//!
//! Each write runs in its own savepoint, so one failing write rolls back alone while its batch
//! commits.

mod audit;
mod automations;
mod delivery;
mod entities;
mod events;
mod integrations;
mod launch;
mod leases;
mod migrations;
mod plugins;
mod retention;
mod runs;
mod secrets;
mod tasks;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, mpsc};

use rusqlite::{Connection, OpenFlags, Transaction};
use tokio::sync::oneshot;

use super::{Durability, Shared, StoreError};

/// How many writes one commit may carry.
const MAX_BATCH: usize = 512;
/// Read connections kept open. Every delivery attempt reads (its integration and secrets), so
/// the pool must cover the delivery workers: a read that finds it empty opens a connection, which
/// costs a schema parse.
const READ_POOL: usize = 64;

/// Execution statuses are stored by name.
/// Ids are stored as their text.
macro_rules! id_columns {
    ($($id:ty),*) => {$(
        impl rusqlite::types::ToSql for $id {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::Borrowed(
                    rusqlite::types::ValueRef::Text(self.as_str().as_bytes()),
                ))
            }
        }

        impl rusqlite::types::FromSql for $id {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                String::column_result(value).map(Self::from)
            }
        }
    )*};
}
id_columns!(
    crate::ids::EventId,
    crate::ids::AutomationId,
    crate::ids::ExecutionId
);

impl rusqlite::types::ToSql for crate::model::execution::ExecutionStatus {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for crate::model::execution::ExecutionStatus {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let name = value.as_str()?;
        Self::parse(name).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(
                format!("unknown execution status {name:?}").into(),
            )
        })
    }
}

/// Integration kinds are stored by name.
impl rusqlite::types::ToSql for crate::model::integration::IntegrationKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for crate::model::integration::IntegrationKind {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let name = value.as_str()?;
        Self::parse(name).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(
                format!("unknown integration kind {name:?}").into(),
            )
        })
    }
}

/// SQLite's codes for a database that cannot be written now.
pub(super) fn unavailable(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
        )
    )
}

/// Why a batch did not commit: the message, and whether the storage is unavailable.
type CommitError = (String, bool);

fn commit_error(error: &rusqlite::Error) -> CommitError {
    (error.to_string(), unavailable(error))
}

/// A write waiting for the writer thread.
trait Job: Send {
    /// Runs inside the batch's transaction; false when the job failed (and was rolled back).
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Delivers the result once the batch committed (or failed to).
    fn finish(self: Box<Self>, commit: Result<(), CommitError>);
}

struct WriteJob<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send,
    F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let work = self.work.take().expect("a job runs once");
        // Cached statements: SQLite would otherwise parse these for every write.
        let statement = |sql: &str| {
            tx.prepare_cached(sql)
                .and_then(|mut s| s.execute([]).map(|_| ()))
        };
        let result = match statement("SAVEPOINT job") {
            Ok(()) => {
                let result = work(tx);
                let closed = if result.is_ok() {
                    statement("RELEASE job")
                } else {
                    statement("ROLLBACK TO job").and_then(|()| statement("RELEASE job"))
                };
                match closed {
                    Ok(()) => result,
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), CommitError>) {
        let result = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Err((message, true)), _) => Err(StoreError::Unavailable(message)),
            (Err((message, false)), _) => Err(StoreError::CommitFailed(message)),
            (Ok(()), None) => Err(StoreError::Closed),
        };
        let _ = self.reply.send(result);
    }
}

/// The SQLite database. Cheap to clone.
#[derive(Clone)]
pub(super) struct Sqlite {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    shared: Arc<Shared>,
    writer: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    readers: Mutex<Vec<Connection>>,
    checkpoints: Arc<CheckpointSignal>,
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub(super) fn open(
        path: &Path,
        durability: Durability,
        shared: Arc<Shared>,
    ) -> Result<Self, StoreError> {
        let mut connection = open_connection(path, false)?;
        let synchronous = match durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        // Checkpoints run on their own thread (below): done by the writer, as SQLite does by
        // default, each one stalled every write queued behind it for milliseconds.
        connection.execute_batch(&format!(
            "PRAGMA synchronous = {synchronous}; PRAGMA wal_autocheckpoint = 0;"
        ))?;
        migrations::apply(&mut connection)?;
        let checkpointer = open_connection(path, false)?;
        let (sender, receiver) = mpsc::channel::<Box<dyn Job>>();
        let writer_shared = shared.clone();
        let signal = Arc::new(CheckpointSignal::default());
        let checkpoint_signal = signal.clone();
        let checkpoints = signal.clone();
        std::thread::Builder::new()
            .name("herald-store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, &checkpoint_signal))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;
        std::thread::Builder::new()
            .name("herald-store-writer".into())
            .spawn(move || {
                writer_loop(connection, receiver, &writer_shared.stats, &signal);
                signal.close();
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            shared,
            writer: Mutex::new(Some(sender)),
            readers: Mutex::new(Vec::new()),
            checkpoints,
        });
        Ok(Self { inner })
    }

    /// Runs `work` in a write transaction (batched with concurrent writes); returns once
    /// committed.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job = Box::new(WriteJob {
            work: Some(work),
            result: None,
            reply,
        });
        let sender = self
            .inner
            .writer
            .lock()
            .expect("not poisoned")
            .clone()
            .ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)?;
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// A write to secrets or integrations: once it is over (committed or not), the credentials
    /// generation moves on.
    async fn write_credentials<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let result = self.write(work).await;
        self.bump_credentials();
        result
    }

    /// Asks the checkpointer to cut the WAL back to nothing.
    pub(super) fn truncate_wal(&self) {
        self.inner.checkpoints.truncate();
    }

    /// Ages every cached credential (a write changed what they were read from).
    fn bump_credentials(&self) {
        self.inner
            .shared
            .credentials_generation
            .fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `work` on a read connection, off the async threads.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().expect("not poisoned").pop();
            let connection = match pooled {
                Some(connection) => connection,
                None => open_connection(&inner.path, true)?,
            };
            let result = work(&connection);
            let mut readers = inner.readers.lock().expect("not poisoned");
            if readers.len() < READ_POOL {
                readers.push(connection);
            }
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let mut connection = Connection::open_with_flags(path, flags)?;
    connection.busy_handler(Some(wait_for_lock))?;
    if !read_only {
        // Incremental auto-vacuum takes effect on a database created now (before its first
        // table): pages a purge frees can then leave the file. An older file keeps reusing them.
        connection.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;")?;
    }
    connection.execute_batch("PRAGMA foreign_keys = ON;")?;
    Ok(connection)
}

/// How long (at least) a connection waits for a lock another holds before it reports the database
/// busy.
const LOCK_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The step of that wait.
const LOCK_WAIT_STEP: std::time::Duration = std::time::Duration::from_micros(100);

/// SQLite's busy handler: waits for the lock in short steps. SQLite's own (`busy_timeout`) sleeps
/// 1, 2, 5, 10 ms and more between tries, so the writer, held back ~5 ms while the checkpointer
/// restarted the WAL, slept 8 ms or more: that overshoot was most of the p99 of deliveries at half
/// the maximum rate.
fn wait_for_lock(tries: i32) -> bool {
    let limit = LOCK_WAIT_LIMIT.as_micros() / LOCK_WAIT_STEP.as_micros();
    if u128::from(tries.unsigned_abs()) >= limit {
        return false;
    }
    std::thread::sleep(LOCK_WAIT_STEP);
    true
}

/// The writer thread: takes every waiting write, runs them in one transaction, commits once, then
/// answers them all. Under load a commit (and its fsync) is shared by the whole batch.
fn writer_loop(
    mut connection: Connection,
    jobs: mpsc::Receiver<Box<dyn Job>>,
    stats: &super::StoreStats,
    checkpoint: &CheckpointSignal,
) {
    let mut failing = false;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = match connection.transaction() {
            Ok(tx) => {
                for job in batch.iter_mut() {
                    job.run(&tx);
                }
                tx.commit().map_err(|e| commit_error(&e))
            }
            Err(e) => Err(commit_error(&e)),
        };
        if commit.is_ok() {
            checkpoint.committed();
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .writes
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        // Logged when the state changes, not for every failed commit: a full disk would
        // otherwise write an error line per retry.
        match (&commit, failing) {
            (Err((error, _)), false) => {
                tracing::error!(%error, writes = batch.len(), "commits fail; writes are reported as failed until one succeeds");
                failing = true;
            }
            (Ok(()), true) => {
                tracing::info!("commits succeed again");
                failing = false;
            }
            _ => {}
        }
        for job in batch {
            job.finish(commit.clone());
        }
    }
}

/// The least time between two checkpoints, so that under load each copies many commits' pages
/// (and pays its fsync once for them).
const CHECKPOINT_SPACING: std::time::Duration = std::time::Duration::from_millis(10);

/// WAL pages beyond which the checkpointer restarts the WAL (64 MiB of 4 KiB pages).
const WAL_RESTART_FRAMES: i64 = 16_384;

/// Commits not yet checkpointed, whether the writer has stopped, and whether the next
/// checkpoint is to cut the WAL back to nothing (after a purge freed space).
#[derive(Default)]
struct CheckpointSignal {
    state: Mutex<(u64, bool, bool)>,
    changed: Condvar,
}

impl CheckpointSignal {
    fn committed(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        state.0 += 1;
        if state.0 == 1 {
            self.changed.notify_one();
        }
    }

    fn close(&self) {
        self.state.lock().expect("not poisoned").1 = true;
        self.changed.notify_one();
    }

    /// Asks the next checkpoint to truncate the WAL.
    fn truncate(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        state.2 = true;
        state.0 += 1;
        self.changed.notify_one();
    }

    /// Waits for commits to checkpoint; `None` once the writer stopped, else whether to
    /// truncate the WAL.
    fn wait(&self) -> Option<bool> {
        let mut state = self.state.lock().expect("not poisoned");
        while state.0 == 0 && !state.1 {
            state = self.changed.wait(state).expect("not poisoned");
        }
        state.0 = 0;
        (!state.1).then(|| std::mem::take(&mut state.2))
    }
}

/// Copies committed WAL pages into the database file beside the writer (a passive checkpoint
/// never blocks it), until the writer stops.
fn checkpoint_loop(connection: Connection, signal: &CheckpointSignal) {
    let checkpoint = |mode: &str| {
        connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        })
    };
    while let Some(truncate) = signal.wait() {
        if truncate {
            if let Err(error) = checkpoint("TRUNCATE") {
                tracing::warn!(%error, "truncating the WAL failed; the next purge tries again");
            }
            continue;
        }
        match checkpoint("PASSIVE") {
            // Under unbroken load a passive checkpoint never catches up with the writer, so the
            // WAL never starts over and would grow without end: now and then, hold the writer
            // back for the few pages left and restart it.
            Ok(frames) if frames > WAL_RESTART_FRAMES => {
                if let Err(error) = checkpoint("RESTART") {
                    tracing::warn!(%error, "WAL restart failed; the next commit tries again");
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "WAL checkpoint failed; the next commit tries again")
            }
        }
        std::thread::sleep(CHECKPOINT_SPACING);
    }
}

/// Maps a UNIQUE violation to `Conflict` with a message; other errors pass through.
pub(super) fn conflict(error: rusqlite::Error, message: impl FnOnce() -> String) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(e, _)
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(message())
        }
        _ => StoreError::Sqlite(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_a_failed_write_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Sqlite::open(&dir.path().join("t.db"), Durability::Power, Arc::default()).unwrap();
        store
            .write(|tx| Ok(tx.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")?))
            .await
            .unwrap();
        let before = store.inner.shared.stats.commits.load(Ordering::Relaxed);
        let writes: Vec<_> = (0..400)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    // Every tenth write collides with the previous value and must fail alone.
                    let value = if i % 10 == 9 { i - 1 } else { i };
                    store
                        .write(move |tx| Ok(tx.execute("INSERT INTO t (v) VALUES (?1)", [value])?))
                        .await
                })
            })
            .collect();
        let mut failed = 0;
        for write in writes {
            if write.await.unwrap().is_err() {
                failed += 1;
            }
        }
        let commits = store.inner.shared.stats.commits.load(Ordering::Relaxed) - before;
        let rows: i64 = store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(failed, 40);
        assert_eq!(rows, 360, "every other write committed");
        assert!(
            commits < 400,
            "400 concurrent writes took {commits} commits: no group commit"
        );
    }
}
