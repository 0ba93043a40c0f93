//! The store's connections, held directly instead of through a `sqlx::Pool`.
//!
//! Every `sqlx` SQLite connection runs its statements on a worker thread of
//! its own, so each statement is one hand-off to that thread and back. A pool
//! adds a second hand-off per use: it pings the connection when it comes back
//! (`sqlx-core`'s `return_to_pool`), and spawns a task to do so. A store
//! operation of one statement therefore cost two trips through the worker
//! instead of one. Here each connection sits behind an async mutex; holding
//! the guard is holding the connection.
//!
//! Cancellation stays safe without the pool's ping: a statement whose future
//! is dropped is still stepped to its end or reset by the worker (`sqlx`'s
//! `ExecuteIter` resets on drop), and a dropped `sqlx::Transaction` queues its
//! `ROLLBACK` on the worker before the guard is released, so the next holder's
//! statements always run after it. The one exception is a multi-statement
//! batch that opens its own transaction ([`Connections::batch`]): it marks the
//! connection before it starts and unmarks it when it has read every result, and
//! the next holder of a marked connection rolls back first.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use latchkey_store::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Connection, Executor};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::codec::{Query, backend, insert_error};

/// One connection and whether a batch may have left a transaction open on it.
struct Slot {
    connection: Option<SqliteConnection>,
    interrupted: bool,
}

/// A fixed set of connections to one database.
pub(crate) struct Connections {
    slots: Box<[Mutex<Slot>]>,
    next: AtomicUsize,
}

/// A connection held for exclusive use until the guard is dropped.
pub(crate) type Held<'a> = MappedMutexGuard<'a, SqliteConnection>;

impl Connections {
    /// Opens `count` connections (at least one) with `options`.
    pub(crate) async fn open(
        options: &SqliteConnectOptions,
        count: usize,
    ) -> Result<Connections, StoreError> {
        let mut slots = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            let connection = SqliteConnection::connect_with(options)
                .await
                .map_err(backend)?;
            slots.push(Mutex::new(Slot {
                connection: Some(connection),
                interrupted: false,
            }));
        }
        Ok(Connections {
            slots: slots.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// A free connection if there is one, else the next one in turn once it is
    /// free.
    pub(crate) async fn get(&self) -> Result<Held<'_>, StoreError> {
        let slot = self.ready_slot().await?;
        MutexGuard::try_map(slot, |slot| slot.connection.as_mut()).map_err(|_| closed())
    }

    /// Runs several statements (one SQL text, `;`-separated, numbered `?NNN`
    /// parameters shared by all of them) as one hand-off to the worker thread,
    /// and returns the rows they produced (their `RETURNING` clauses). The text
    /// must open and close its own transaction (`BEGIN IMMEDIATE; ...;
    /// COMMIT`): if any statement fails, the transaction is rolled back and the
    /// error returned (a unique violation as [`StoreError::Duplicate`]), so the
    /// batch is all or nothing.
    pub(crate) async fn batch(&self, query: Query<'_>) -> Result<Vec<SqliteRow>, StoreError> {
        let mut slot = self.ready_slot().await?;
        // Marked until every statement's result is read: a caller dropped in
        // between leaves the mark, and the next holder rolls back.
        slot.interrupted = true;
        let connection = slot.connection.as_mut().ok_or_else(closed)?;
        match query.fetch_all(connection).await {
            Ok(rows) => {
                slot.interrupted = false;
                Ok(rows)
            }
            Err(error) => {
                recover(&mut slot).await?;
                Err(insert_error(error))
            }
        }
    }

    /// Closes every connection, waiting for the operations that hold one.
    pub(crate) async fn close(&self) {
        for slot in &self.slots {
            let mut slot = slot.lock().await;
            if let Some(connection) = slot.connection.take() {
                // Closing is best effort: the connection is gone either way.
                let _ = connection.close().await;
            }
        }
    }

    /// A slot to use: locked, and rolled back first if a batch was cut short on it.
    async fn ready_slot(&self) -> Result<MutexGuard<'_, Slot>, StoreError> {
        let mut slot = self.lock_slot().await;
        if slot.interrupted {
            recover(&mut slot).await?;
        }
        Ok(slot)
    }

    async fn lock_slot(&self) -> MutexGuard<'_, Slot> {
        for slot in &self.slots {
            if let Ok(guard) = slot.try_lock() {
                return guard;
            }
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        self.slots[index].lock().await
    }
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("count", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// Rolls back whatever transaction an interrupted or failed batch left open.
/// "No transaction is active" is the expected answer when the batch had
/// already committed or never began, so the result of the `ROLLBACK` itself is
/// not an error; only a connection that cannot run it is.
async fn recover(slot: &mut Slot) -> Result<(), StoreError> {
    let connection = slot.connection.as_mut().ok_or_else(closed)?;
    // An error here means nothing was open, or the connection is broken; the
    // next statement finds out which.
    let _rolled_back = connection.execute("ROLLBACK").await;
    slot.interrupted = false;
    Ok(())
}

fn closed() -> StoreError {
    StoreError::Backend("the store is closed".into())
}
