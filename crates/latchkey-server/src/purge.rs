//! Deleting what expired, on a schedule: the purge task of `latchkey serve`
//! and the work behind `latchkey clients purge`.
//!
//! Every [`PurgeSettings::interval`] (`[purge] interval_secs`, default
//! [`DEFAULT_INTERVAL`]) one task deletes
//!
//! - dynamically registered clients that never obtained a token within the
//!   engine's `unused_client_ttl` (a day) of their registration
//!   (`ClientStore::purge_unused_clients`), when registration is on;
//! - codes, refresh families with the digests of their rotated tokens,
//!   access-token records and one-time `jti`s (DPoP proofs, client
//!   assertions) that expired (`GrantStore::purge_expired`). A code revoked
//!   by a replay keeps its tombstone for `CODE_TOMBSTONE_MARGIN` past its
//!   expiry; nothing live goes.
//!
//! Each store call deletes at most [`BATCH`] rows, one short write
//! transaction; the task calls again, yielding to the runtime in between,
//! until a batch comes back short. A large backlog therefore never holds the
//! SQLite writer for long: token requests queue behind one batch at most.
//!
//! The task never overlaps itself: one loop awaits each run before the next
//! tick (a run longer than the interval delays the next one). Each run that
//! deleted something is logged with its counts and duration; a failed run is
//! logged and retried at the next tick. The first run is at start, so a
//! backlog from before a restart goes first.
//!
//! What stays bounded, and by what: with the purge, the rows of a kind are
//! at most what was issued within its lifetime plus one interval (access
//! tokens: `access_token_lifetime_secs`; codes: 60 s plus the tombstone
//! margin; proofs: their acceptance window; families: their 30-day
//! lifetime), whatever the total number of requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_store::{ClientStore, GrantStore, StoreError};
use latchkey_types::UnixTime;
use tokio::task::JoinHandle;

use crate::Clock;

/// How often the purge runs when `[purge] interval_secs` is not set: 5 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// The most rows one store call deletes (one write transaction).
pub const BATCH: u64 = 500;

/// What the purge task does, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeSettings {
    /// Time between the starts of two runs.
    pub interval: Duration,
    /// How long a registered client may go without obtaining a token before
    /// it is deleted; `None` when dynamic registration is off (nothing to purge).
    pub unused_client_ttl: Option<Duration>,
}

/// What one run deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Expired codes, families, access-token records and one-time `jti`s.
    pub expired: u64,
    /// Registered clients that never obtained a token.
    pub unused_clients: u64,
    /// Store calls made (each one transaction of at most [`BATCH`] rows).
    pub batches: u64,
}

/// One run of the purge at `now`: unused clients (if `settings` name a TTL),
/// then expired records, each in batches of [`BATCH`] until one comes back short.
pub async fn run_once<S>(
    store: &S,
    settings: &PurgeSettings,
    now: UnixTime,
) -> Result<Purged, StoreError>
where
    S: ClientStore + GrantStore,
{
    let mut purged = Purged::default();
    if let Some(ttl) = settings.unused_client_ttl {
        let issued_before = now.saturating_sub(ttl);
        let (count, batches) =
            in_batches(|limit| store.purge_unused_clients(issued_before, limit)).await?;
        purged.unused_clients = count;
        purged.batches = purged.batches.saturating_add(batches);
    }
    let (count, batches) = in_batches(|limit| store.purge_expired(now, limit)).await?;
    purged.expired = count;
    purged.batches = purged.batches.saturating_add(batches);
    Ok(purged)
}

/// Deletes every client registered more than `ttl` before `now` that never
/// obtained a token, in batches; returns how many (`latchkey clients purge`).
pub async fn purge_unused_clients<S: ClientStore>(
    store: &S,
    ttl: Duration,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let issued_before = now.saturating_sub(ttl);
    let (count, _) = in_batches(|limit| store.purge_unused_clients(issued_before, limit)).await?;
    Ok(count)
}

/// Starts the purge task: a run at once, then one every `settings.interval`
/// by `clock`, until the returned handle is aborted or the runtime stops.
pub fn spawn<S>(store: Arc<S>, settings: PurgeSettings, clock: Clock) -> JoinHandle<()>
where
    S: ClientStore + GrantStore + 'static,
{
    let interval = settings.interval;
    let settings = Arc::new(settings);
    schedule(interval, clock, move |now| {
        let (store, settings) = (Arc::clone(&store), Arc::clone(&settings));
        async move { run_once(store.as_ref(), &settings, now).await }
    })
}

/// The loop of [`spawn`]: `run` at once and then every `interval`, one run
/// at a time, each logged; a failed run is logged and the loop goes on.
fn schedule<R, Fut>(interval: Duration, clock: Clock, mut run: R) -> JoinHandle<()>
where
    R: FnMut(UnixTime) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Purged, StoreError>> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        // A run longer than the interval delays the next one; runs never
        // pile up or overlap.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let started = Instant::now();
            match run(clock.now()).await {
                Ok(purged) if purged.expired == 0 && purged.unused_clients == 0 => {
                    tracing::debug!("purge: nothing expired");
                }
                Ok(purged) => tracing::info!(
                    expired = purged.expired,
                    unused_clients = purged.unused_clients,
                    batches = purged.batches,
                    millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "purged expired records"
                ),
                Err(error) => tracing::warn!(
                    %error,
                    retry_in_secs = interval.as_secs(),
                    "purge failed; it runs again at the next tick"
                ),
            }
        }
    })
}

/// Calls `batch` with [`BATCH`] until it deletes fewer, yielding in between;
/// returns the total and the number of calls.
async fn in_batches<F, Fut>(mut batch: F) -> Result<(u64, u64), StoreError>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let (mut total, mut calls) = (0u64, 0u64);
    loop {
        let deleted = batch(BATCH).await?;
        total = total.saturating_add(deleted);
        calls = calls.saturating_add(1);
        if deleted < BATCH {
            return Ok((total, calls));
        }
        // Let waiting requests have the store (and the runtime) before the
        // next batch.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use latchkey_store::{AccessTokenRecord, ClientRecord, MemoryStore, ReplayStore};
    use latchkey_types::ClientId;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn token(i: u64, expires_at: UnixTime) -> AccessTokenRecord {
        AccessTokenRecord {
            jti: format!("jti-{i}"),
            client_id: ClientId::parse("client").unwrap(),
            subject: None,
            family: None,
            from_code: None,
            expires_at,
            revoked: false,
        }
    }

    fn client(id: &str, issued_at: u64) -> ClientRecord {
        let mut metadata = serde_json::Map::new();
        metadata.insert("client_name".into(), "Purge".into());
        metadata.insert(
            "redirect_uris".into(),
            serde_json::json!(["http://127.0.0.1/cb"]),
        );
        ClientRecord {
            client_id: ClientId::parse(id).unwrap(),
            metadata,
            secret_digest: None,
            secret_expires_at: None,
            registration_token_digest: None,
            fingerprint: None,
            issued_at: UnixTime::from_secs(issued_at),
            first_used_at: None,
            may_introspect: false,
        }
    }

    async fn count_live(store: &MemoryStore, n: u64) -> u64 {
        let mut live = 0;
        for i in 0..n {
            if store
                .access_token(&format!("jti-{i}"))
                .await
                .unwrap()
                .is_some()
            {
                live += 1;
            }
        }
        live
    }

    /// One run drains a backlog larger than a batch, in batches, and keeps
    /// what has not expired.
    #[tokio::test]
    async fn one_run_purges_a_backlog_in_batches_and_keeps_live_records() {
        let store = MemoryStore::new();
        let expired_at = UnixTime::from_secs(NOW + 1);
        let backlog = BATCH * 2 + 7;
        for i in 0..backlog {
            store
                .record_access_token(&token(i, expired_at))
                .await
                .unwrap();
        }
        let live_at = UnixTime::from_secs(NOW + 3600);
        store
            .record_access_token(&token(backlog, live_at))
            .await
            .unwrap();
        assert!(
            store
                .remember_once(&[1; 32], expired_at, UnixTime::from_secs(NOW))
                .await
                .unwrap()
        );
        store
            .register_client(&client("old-unused", NOW - 2 * 86_400), u64::MAX)
            .await
            .unwrap();
        store
            .register_client(&client("recent", NOW), u64::MAX)
            .await
            .unwrap();
        let settings = PurgeSettings {
            interval: DEFAULT_INTERVAL,
            unused_client_ttl: Some(Duration::from_secs(86_400)),
        };
        let purged = run_once(&store, &settings, UnixTime::from_secs(NOW + 10))
            .await
            .unwrap();
        assert_eq!(
            purged,
            Purged {
                expired: backlog + 1,
                unused_clients: 1,
                // One short batch of clients; three of expired records.
                batches: 4,
            }
        );
        assert_eq!(count_live(&store, backlog + 1).await, 1);
        let clients = store.list_clients().await.unwrap();
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0].client_id.as_str(), "recent");
        // Nothing left: the next run deletes nothing.
        let again = run_once(&store, &settings, UnixTime::from_secs(NOW + 10))
            .await
            .unwrap();
        assert_eq!((again.expired, again.unused_clients), (0, 0));
    }

    /// The spawned task runs at start and then on every tick of its interval,
    /// reading the clock it was given (tokio's paused time; no sleeping).
    #[tokio::test(start_paused = true)]
    async fn the_task_runs_at_start_and_on_every_interval() {
        let store = Arc::new(MemoryStore::new());
        let clock_secs = Arc::new(AtomicU64::new(NOW));
        let clock = {
            let secs = Arc::clone(&clock_secs);
            Clock::from_fn(move || UnixTime::from_secs(secs.load(Ordering::SeqCst)))
        };
        // Expires in 30 s; purged by the first run after that.
        store
            .record_access_token(&token(0, UnixTime::from_secs(NOW + 30)))
            .await
            .unwrap();
        store
            .record_access_token(&token(1, UnixTime::from_secs(NOW - 1)))
            .await
            .unwrap();
        let settings = PurgeSettings {
            interval: Duration::from_secs(60),
            unused_client_ttl: None,
        };
        let task = spawn(Arc::clone(&store), settings, clock);
        // The run at start: the already expired token goes, the other stays.
        settle(&store, 1).await;
        assert!(store.access_token("jti-0").await.unwrap().is_some());
        // A minute later by both clocks, the next run purges the other one.
        clock_secs.store(NOW + 60, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(60)).await;
        settle(&store, 0).await;
        task.abort();
    }

    /// A failed run is no end of the task: the next tick runs again.
    #[tokio::test(start_paused = true)]
    async fn a_failed_run_is_retried_at_the_next_tick() {
        let runs = Arc::new(AtomicU64::new(0));
        let task = {
            let runs = Arc::clone(&runs);
            schedule(Duration::from_secs(60), Clock::system(), move |_| {
                let run = runs.fetch_add(1, Ordering::SeqCst);
                async move {
                    if run == 0 {
                        Err(StoreError::Backend("the database is locked".into()))
                    } else {
                        Ok(Purged::default())
                    }
                }
            })
        };
        wait_for(&runs, 1).await;
        tokio::time::advance(Duration::from_secs(60)).await;
        wait_for(&runs, 2).await;
        // One run per tick, never two at once or back to back.
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        task.abort();
    }

    async fn wait_for(runs: &AtomicU64, expected: u64) {
        for _ in 0..1_000 {
            if runs.load(Ordering::SeqCst) >= expected {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the purge task did not run {expected} times");
    }

    /// Lets the task run until `expected` of the two tokens are left (the
    /// memory store answers without real waiting, so a bounded number of
    /// yields is enough).
    async fn settle(store: &MemoryStore, expected: u64) {
        for _ in 0..1_000 {
            if count_live(store, 2).await == expected {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the purge task did not run");
    }
}
