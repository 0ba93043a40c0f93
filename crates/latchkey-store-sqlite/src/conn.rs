//! The store's connections: one writer thread doing group commit, and
//! read-only connections used inline on the calling thread.
//!
//! # The writer
//!
//! One thread owns the only connection that writes. Operations reach it over
//! a channel as [`Op`]s. The thread takes the first waiting operation, then
//! every other one already queued (up to [`MAX_BATCH`]), and runs them all in
//! one `BEGIN IMMEDIATE` transaction, each inside a `SAVEPOINT` of its own: an
//! operation that fails is rolled back to its savepoint alone, the others
//! keep their effects. Then one `COMMIT`, and only after it does any caller
//! get its answer. If the commit fails, every operation of the batch gets an
//! error, and none of them took effect. So an answered write is a committed
//! write, exactly as with one transaction per operation, but concurrent
//! writers share the cost of a commit (and with `synchronous=FULL`, of its
//! `fsync`).
//!
//! Within a batch the operations run one after another on one connection, so
//! each sees the effects of those before it: the batch is a serial order of
//! its operations, like separate transactions would be.
//!
//! A caller that stops waiting (its future dropped) does not stop its
//! operation: it still runs, atomically, and its answer is discarded.
//!
//! # The readers
//!
//! Single-row lookups run inline on the calling (async) thread on a
//! read-only connection taken from a small pool: a primary-key lookup on a
//! WAL database is a few microseconds of CPU, less than a hand-off to another
//! thread and back. In WAL mode readers do not wait for the writer; they see
//! the last committed state, and since a write is answered only after its
//! commit, a caller always reads its own answered writes. Reads whose size
//! is not bounded (listing every client or user) run on tokio's blocking
//! pool instead.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use latchkey_store::StoreError;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::codec::backend;
use crate::{BUSY_TIMEOUT, Synchronous};

/// The most operations one transaction of the writer holds.
pub const MAX_BATCH: usize = 256;

/// How many prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 64;

/// The most idle read connections kept; more are opened under load and
/// closed when they come back to a full pool.
const MAX_IDLE_READERS: usize = 8;

/// One operation queued for the writer.
trait Op: Send {
    /// Runs the operation inside the batch's transaction; `true` if it
    /// succeeded (so its savepoint is released, not rolled back).
    fn run(&mut self, connection: &Connection) -> bool;
    /// Answers the caller once the batch's fate is known.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

/// An operation, its result once run, and where the answer goes.
struct Pending<F, T> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> Op for Pending<F, T>
where
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
    T: Send,
{
    fn run(&mut self, connection: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(connection);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Err(message), _) => Err(StoreError::Backend(message.into())),
            (Ok(()), None) => Err(closed()),
        };
        // The caller may have stopped waiting; its answer is then discarded.
        let _ = self.reply.send(answer);
    }
}

/// Where the database lives.
#[derive(Clone, Debug)]
pub(crate) enum Location {
    /// A file.
    File(PathBuf),
    /// Memory: the writer's connection is the only one, and reads go
    /// through it.
    Memory,
}

/// The writer thread and the pool of readers of one database.
pub(crate) struct Connections {
    sender: Mutex<Option<mpsc::Sender<Box<dyn Op>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    location: Location,
    readers: Mutex<Vec<Connection>>,
    commits: Arc<AtomicU64>,
}

impl Connections {
    /// Starts the writer thread on `writer` (already configured and
    /// migrated).
    pub(crate) fn start(writer: Connection, location: Location) -> Result<Self, StoreError> {
        let (sender, receiver) = mpsc::channel::<Box<dyn Op>>();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commits);
        let thread = std::thread::Builder::new()
            .name("latchkey-sqlite-writer".into())
            .spawn(move || write_loop(&writer, &receiver, &counter))
            .map_err(backend)?;
        Ok(Self {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            location,
            readers: Mutex::new(Vec::new()),
            commits,
        })
    }

    /// Runs `work` on the writer inside a transaction shared with the other
    /// operations queued at the same time; answers once that transaction
    /// committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Box::new(Pending {
            work: Some(work),
            result: None,
            reply,
        });
        {
            let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
            sender
                .as_ref()
                .ok_or_else(closed)?
                .send(op)
                .map_err(|_| closed())?;
        }
        answer.await.map_err(|_| closed())?
    }

    /// Runs a bounded read inline on a read-only connection (through the
    /// writer for an in-memory store).
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        match &self.location {
            Location::Memory => self.write(work).await,
            Location::File(path) => self.read_now(path, work),
        }
    }

    /// Runs a read of unbounded size on tokio's blocking pool (through the
    /// writer for an in-memory store).
    pub(crate) async fn read_large<T, F>(self: &Arc<Self>, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        match &self.location {
            Location::Memory => self.write(work).await,
            Location::File(path) => {
                let this = Arc::clone(self);
                let path = path.clone();
                tokio::task::spawn_blocking(move || this.read_now(&path, work))
                    .await
                    .map_err(backend)?
            }
        }
    }

    fn read_now<T>(
        &self,
        path: &std::path::Path,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let connection = match idle {
            Some(connection) => connection,
            None => {
                if self
                    .sender
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_none()
                {
                    return Err(closed());
                }
                open_reader(path)?
            }
        };
        let result = work(&connection);
        // A statement left mid-step would hold a read snapshot; every read
        // here steps its statements to the end or drops them, which resets
        // them, so the connection goes back with no transaction open.
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < MAX_IDLE_READERS && connection.is_autocommit() {
            readers.push(connection);
        }
        result
    }

    /// How many transactions the writer has committed.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Stops the writer once the operations already queued are done, and
    /// closes every connection; the writer's close checkpoints the WAL into
    /// the database file.
    pub(crate) async fn close(&self) {
        drop(
            self.readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain(..),
        );
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // Joining blocks until the queue drains; done off the async
            // threads. A writer thread that panicked has nothing left to
            // close.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        // Dropping the sender lets the writer finish what is queued and
        // exit on its own; it is not joined here, so a drop never blocks.
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Opens the writer's connection (creating the file if needed) and applies
/// its pragmas: WAL, the chosen `synchronous`, foreign keys, busy timeout.
pub(crate) fn open_writer(
    location: &Location,
    synchronous: Synchronous,
) -> Result<Connection, StoreError> {
    let connection = match location {
        Location::File(path) => Connection::open(path).map_err(backend)?,
        Location::Memory => Connection::open_in_memory().map_err(backend)?,
    };
    configure(&connection)?;
    if let Location::File(_) = location {
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(
                format!("the database refused WAL mode ({mode})").into(),
            ));
        }
    }
    connection
        .execute_batch(match synchronous {
            Synchronous::Normal => "PRAGMA synchronous = NORMAL",
            Synchronous::Full => "PRAGMA synchronous = FULL",
        })
        .map_err(backend)?;
    Ok(connection)
}

/// A read-only connection to the file the writer set to WAL mode.
fn open_reader(path: &std::path::Path) -> Result<Connection, StoreError> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(backend)?;
    configure(&connection)?;
    connection
        .execute_batch("PRAGMA query_only = ON")
        .map_err(backend)?;
    Ok(connection)
}

fn configure(connection: &Connection) -> Result<(), StoreError> {
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    connection
        .execute_batch("PRAGMA foreign_keys = ON")
        .map_err(backend)
}

/// The writer thread: batches of queued operations, one transaction each.
fn write_loop(
    connection: &Connection,
    receiver: &mpsc::Receiver<Box<dyn Op>>,
    commits: &AtomicU64,
) {
    let mut batch: Vec<Box<dyn Op>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let committed = run_batch(connection, &mut batch);
        if committed.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        for op in batch.drain(..) {
            op.finish(committed.clone());
        }
    }
    // The channel is closed and drained: close the connection, which
    // checkpoints the WAL when it is the last one.
}

/// Runs every operation of `batch` in one transaction, each in a savepoint.
fn run_batch(connection: &Connection, batch: &mut [Box<dyn Op>]) -> Result<(), String> {
    if let Err(error) = cached(connection, "BEGIN IMMEDIATE") {
        return Err(format!("could not begin a transaction: {error}"));
    }
    for op in batch.iter_mut() {
        if let Err(error) = cached(connection, "SAVEPOINT op") {
            rollback(connection);
            return Err(format!("could not open a savepoint: {error}"));
        }
        let ok = op.run(connection);
        let end = if ok {
            cached(connection, "RELEASE op")
        } else {
            cached(connection, "ROLLBACK TO op").and_then(|()| cached(connection, "RELEASE op"))
        };
        if let Err(error) = end {
            rollback(connection);
            return Err(format!("could not close a savepoint: {error}"));
        }
    }
    if let Err(error) = cached(connection, "COMMIT") {
        rollback(connection);
        return Err(format!("the commit failed: {error}"));
    }
    Ok(())
}

fn rollback(connection: &Connection) {
    // "No transaction is active" is possible after a failed COMMIT that
    // already rolled back; either way nothing is left open.
    let _ = connection.execute_batch("ROLLBACK");
}

/// Runs a statement without parameters through the statement cache.
fn cached(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([])?;
    Ok(())
}

pub(crate) fn closed() -> StoreError {
    StoreError::Backend("the store is closed".into())
}
