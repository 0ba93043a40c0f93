//! The token endpoint's single-use and rotation rules under real concurrency,
//! over every store: MemoryStore, SqliteStore (a temporary file in WAL mode)
//! and PostgresStore (a fresh schema; only when `LATCHKEY_TEST_POSTGRES_URL`
//! is set, otherwise each PostgreSQL test prints a skip line).
//!
//! - OAuth 2.1 section 4.1.3, RFC 9700 section 4.5: 64 concurrent
//!   redemptions of one code get exactly one 200, in each of 200 trials; the
//!   losers' replay then revokes what the winner got, even when the replay's
//!   revocation ran before the winner's tokens were stored.
//! - The same across two engine instances over one PostgreSQL schema.
//! - OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2: concurrent refreshes
//!   with one token: one rotation wins, every 200 carries the same successor;
//!   after a reuse the family and every access token issued under it are
//!   revoked (never half).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed step should panic"
)]

mod over_stores;

use std::sync::Arc;
use std::time::Duration;

use latchkey_engine::Engine;
use latchkey_store::{MemoryStore, Store};
use latchkey_token::refresh::{FamilyState, RefreshToken, RevocationReason};
use latchkey_types::UnixTime;
use over_stores::{
    PUBLIC, body, engine_over, issue_code, jti, now, post_token, redeem_params, refresh_params,
    rng, sqlite_store, with_postgres,
};
use tokio::task::JoinSet;

const RACERS: u64 = 64;
const TRIALS: u64 = 200;
const REFRESH_TRIALS: u64 = 20;

/// One trial: `RACERS` concurrent redemptions of one fresh code, spread over
/// `engines` round robin. Exactly one 200; the others `invalid_grant`; and the
/// winner's refresh family and access token end revoked by the replays.
async fn redemption_race<S: Store + 'static>(engines: &[Arc<Engine<S>>], trial: u64) {
    let mut code_rng = rng(1_000_000 + trial);
    let code = issue_code(&engines[0], PUBLIC, now(), &mut code_rng).await;
    let params = Arc::new(redeem_params(&code));
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS as usize));
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let engine = Arc::clone(&engines[(i as usize) % engines.len()]);
        let (params, barrier) = (Arc::clone(&params), Arc::clone(&barrier));
        racers.spawn(async move {
            let mut rng = rng(trial * RACERS + i);
            barrier.wait().await;
            engine.token(&params, &post_token(), now(), &mut rng).await
        });
    }
    let mut winners = Vec::new();
    while let Some(response) = racers.join_next().await {
        let response = response.expect("racer task");
        if response.status == 200 {
            winners.push(body(&response));
        } else {
            assert_eq!(response.status, 400, "trial {trial}");
            assert_eq!(body(&response)["error"], "invalid_grant", "trial {trial}");
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "trial {trial}: exactly one redemption wins"
    );
    let winner = &winners[0];
    let store = engines[0].store();
    let refresh = RefreshToken::new(winner["refresh_token"].as_str().unwrap().to_owned());
    let family = store
        .family_by_token(&refresh.digest())
        .await
        .unwrap()
        .expect("the winner's family is stored");
    assert!(
        matches!(
            family.state(),
            FamilyState::Revoked {
                reason: RevocationReason::CodeReplay,
                ..
            }
        ),
        "trial {trial}: the replays revoke the winner's family, got {:?}",
        family.state()
    );
    let record = store
        .access_token(&jti(winner["access_token"].as_str().unwrap()))
        .await
        .unwrap()
        .expect("the winner's access token is recorded");
    assert!(
        record.revoked,
        "trial {trial}: the replays revoke the winner's access token"
    );
}

async fn redemption_races<S: Store + 'static>(engines: Vec<Arc<Engine<S>>>) {
    for trial in 0..TRIALS {
        redemption_race(&engines, trial).await;
    }
}

/// One trial of concurrent refreshes with one token, then a reuse racing a
/// rotation, over `engines` round robin.
async fn refresh_race<S: Store + 'static>(engines: &[Arc<Engine<S>>], trial: u64) {
    let mut setup_rng = rng(2_000_000 + trial);
    let code = issue_code(&engines[0], PUBLIC, now(), &mut setup_rng).await;
    let first = engines[0]
        .token(&redeem_params(&code), &post_token(), now(), &mut setup_rng)
        .await;
    assert_eq!(first.status, 200);
    let first = body(&first);
    let r0 = first["refresh_token"].as_str().unwrap().to_owned();
    let mut issued_jtis = vec![jti(first["access_token"].as_str().unwrap())];

    // Phase 1: RACERS refreshes with r0 at once. One rotation wins; the
    // others either lose the compare-and-set and retry into the same
    // successor (the retry rule), or are refused; never a second successor.
    let at = now().saturating_add(Duration::from_secs(1));
    let answers = race_refreshes(engines, 3_000_000 + trial * RACERS, &[r0.as_str()], at).await;
    let successes: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert!(!successes.is_empty(), "trial {trial}: one rotation wins");
    let r1 = successes[0].1["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r0);
    for (status, answer) in &answers {
        if *status == 200 {
            assert_eq!(
                answer["refresh_token"].as_str(),
                Some(r1.as_str()),
                "trial {trial}: every 200 carries the same successor"
            );
            issued_jtis.push(jti(answer["access_token"].as_str().unwrap()));
        } else {
            assert_eq!(answer["error"], "invalid_grant", "trial {trial}");
        }
    }
    let store = engines[0].store();
    let family = store
        .family_by_token(&RefreshToken::new(r1.clone()).digest())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        family.generation(),
        1,
        "trial {trial}: exactly one rotation"
    );
    assert_eq!(family.state(), FamilyState::Active);

    // Phase 2, past the retry window: r0 again is reuse (revokes the family)
    // while r1 is presented concurrently (a rotation that may win first).
    let later = now().saturating_add(Duration::from_secs(120));
    let answers = race_refreshes(
        engines,
        4_000_000 + trial * RACERS,
        &[r0.as_str(), r1.as_str()],
        later,
    )
    .await;
    let mut successors = Vec::new();
    for (status, answer) in &answers {
        if *status == 200 {
            successors.push(answer["refresh_token"].as_str().unwrap().to_owned());
            issued_jtis.push(jti(answer["access_token"].as_str().unwrap()));
        } else {
            assert_eq!(answer["error"], "invalid_grant", "trial {trial}");
        }
    }
    successors.dedup();
    assert!(successors.len() <= 1, "trial {trial}: one successor of r1");
    // Never half-revoked: the family and every access token issued under it.
    let family = store
        .family_by_token(&RefreshToken::new(r0).digest())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(family.state(), FamilyState::Revoked { .. }),
        "trial {trial}: reuse revokes the family"
    );
    for jti in &issued_jtis {
        let record = store.access_token(jti).await.unwrap().unwrap();
        assert!(
            record.revoked,
            "trial {trial}: an access token of the family escaped its revocation"
        );
    }
}

/// `RACERS` concurrent refreshes, presenting `tokens` round robin at `at`,
/// racer `i` drawing from the RNG seeded `seed + i` (distinct seeds, distinct
/// `jti`s); each answer's status and JSON body.
async fn race_refreshes<S: Store + 'static>(
    engines: &[Arc<Engine<S>>],
    seed: u64,
    tokens: &[&str],
    at: UnixTime,
) -> Vec<(u16, serde_json::Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS as usize));
    let mut racers = JoinSet::new();
    for i in 0..RACERS {
        let engine = Arc::clone(&engines[(i as usize) % engines.len()]);
        let params = refresh_params(tokens[(i as usize) % tokens.len()]);
        let barrier = Arc::clone(&barrier);
        racers.spawn(async move {
            let mut rng = rng(seed + i);
            barrier.wait().await;
            engine.token(&params, &post_token(), at, &mut rng).await
        });
    }
    let mut answers = Vec::new();
    while let Some(response) = racers.join_next().await {
        let response = response.expect("racer task");
        answers.push((response.status.as_u16(), body(&response)));
    }
    answers
}

async fn refresh_races<S: Store + 'static>(engines: Vec<Arc<Engine<S>>>) {
    for trial in 0..REFRESH_TRIALS {
        refresh_race(&engines, trial).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_2_1_section_4_1_3_one_of_64_redemptions_wins_memory() {
    let engine = engine_over(Arc::new(MemoryStore::new()), true).await;
    redemption_races(vec![Arc::new(engine)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_2_1_section_4_1_3_one_of_64_redemptions_wins_sqlite() {
    let (store, path) = sqlite_store("redeem").await;
    let engine = engine_over(Arc::new(store), true).await;
    redemption_races(vec![Arc::new(engine)]).await;
    over_stores::remove_sqlite(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_2_1_section_4_1_3_one_of_64_redemptions_wins_postgres() {
    with_postgres(
        "one_of_64_redemptions_wins_postgres",
        1,
        |stores| async move {
            let mut engines = Vec::new();
            for store in stores {
                engines.push(Arc::new(engine_over(Arc::new(store), true).await));
            }
            redemption_races(engines).await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_2_1_section_4_1_3_one_of_64_redemptions_wins_across_two_postgres_engines() {
    with_postgres(
        "redemptions_across_two_postgres_engines",
        2,
        |stores| async move {
            let mut engines = Vec::new();
            for (i, store) in stores.into_iter().enumerate() {
                engines.push(Arc::new(engine_over(Arc::new(store), i == 0).await));
            }
            assert_eq!(
                engines[0].keys().active().kid().to_owned(),
                engines[1].keys().active().kid().to_owned(),
                "both instances sign with the one stored key"
            );
            redemption_races(engines).await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_2_1_section_4_3_1_one_rotation_wins_and_reuse_revokes_all_memory() {
    let engine = engine_over(Arc::new(MemoryStore::new()), true).await;
    refresh_races(vec![Arc::new(engine)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_2_1_section_4_3_1_one_rotation_wins_and_reuse_revokes_all_sqlite() {
    let (store, path) = sqlite_store("refresh").await;
    let engine = engine_over(Arc::new(store), true).await;
    refresh_races(vec![Arc::new(engine)]).await;
    over_stores::remove_sqlite(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_2_1_section_4_3_1_one_rotation_wins_and_reuse_revokes_all_postgres() {
    with_postgres("one_rotation_wins_postgres", 2, |stores| async move {
        let mut engines = Vec::new();
        for (i, store) in stores.into_iter().enumerate() {
            engines.push(Arc::new(engine_over(Arc::new(store), i == 0).await));
        }
        refresh_races(engines).await;
    })
    .await;
}
