//! The database levels off under a sustained stream of short-lived tokens
//! when expired records are purged between rounds, as `latchkey serve` does
//! on a schedule: rounds of client-credentials tokens with a 1-second
//! lifetime (half of them DPoP-bound, plus refused requests with fresh
//! proofs), the clock moved past every lifetime, a batched purge, and the row
//! and page counts of the SQLite file measured after each round.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup should panic"
)]

mod over_stores;

use std::sync::Arc;
use std::time::Duration;

use latchkey_jose::{Algorithm, JoseHeader, SigningKey};
use latchkey_store::GrantStore;
use latchkey_types::UnixTime;
use over_stores::*;

/// Tokens issued per round.
const TOKENS: u64 = 120;
/// Refused requests (wrong secret) with fresh proofs per round.
const REFUSED: u64 = 40;
const ROUNDS: u64 = 6;
/// Seconds between rounds: past the tokens' 1 s and the proofs' 60 s (+5 s
/// skew) lifetimes.
const ROUND_SECS: u64 = 300;
/// Rows per purge call.
const BATCH: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_and_file_level_off_when_expired_records_are_purged() {
    let (store, path) = sqlite_store("levels-off").await;
    let store = Arc::new(store);
    let engine = engine_over_with(Arc::clone(&store), true, |config| {
        config.access_token_lifetime = Duration::from_secs(1);
    })
    .await;
    let mut rng = rng(11);
    let dpop_key = SigningKey::generate(Algorithm::Es256, "dpop".to_owned(), &mut rng);
    let counts = Counter::open(&path).await;

    let mut after_issuing = Vec::new();
    let mut pages = Vec::new();
    for round in 0..ROUNDS {
        let at = UnixTime::from_secs(NOW + round * ROUND_SECS);
        for i in 0..TOKENS {
            let http = if i % 2 == 0 {
                basic_token().with_dpop(proof(&dpop_key, at, &format!("{round}-{i}")))
            } else {
                basic_token()
            };
            let response = engine
                .token(&client_credentials_params(), &http, at, &mut rng)
                .await;
            assert_eq!(response.status, 200, "{:?}", response.body);
        }
        for i in 0..REFUSED {
            let http = latchkey_engine::HttpContext::new("POST", TOKEN_ENDPOINT)
                .with_authorization(basic_wrong_secret())
                .with_dpop(proof(&dpop_key, at, &format!("refused-{round}-{i}")));
            let response = engine
                .token(&client_credentials_params(), &http, at, &mut rng)
                .await;
            assert_eq!(response.status, 401);
        }
        let issued = counts.rows().await;
        // Every round stores exactly what it issued: earlier rounds are gone,
        // and refused requests stored no proof.
        assert_eq!(
            issued,
            Rows {
                access_tokens: TOKENS,
                replay: TOKENS / 2,
            },
            "round {round}"
        );
        after_issuing.push(issued);
        pages.push(counts.pages().await);

        // Just before the next round: everything of this one has expired.
        let purge_at = UnixTime::from_secs(NOW + (round + 1) * ROUND_SECS - 1);
        let mut purged = 0;
        loop {
            let batch = store.purge_expired(purge_at, BATCH).await.unwrap();
            assert!(batch <= BATCH);
            purged += batch;
            if batch < BATCH {
                break;
            }
        }
        assert_eq!(purged, TOKENS + TOKENS / 2, "round {round}");
        assert_eq!(
            counts.rows().await,
            Rows {
                access_tokens: 0,
                replay: 0
            }
        );
    }
    // The file stops growing once freed pages are reused: no round after the
    // second needs more pages than the second did.
    let settled = pages[1];
    for (round, &count) in pages.iter().enumerate().skip(2) {
        assert!(
            count <= settled,
            "round {round} grew the database to {count} pages from {settled}: {pages:?}"
        );
    }
    println!("rows after issuing, per round: {after_issuing:?}; pages: {pages:?}");
    counts.close().await;
    store.close().await;
    remove_sqlite(&path);
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Rows {
    access_tokens: u64,
    replay: u64,
}

/// A read-only connection to the database, for counting.
struct Counter(std::sync::Mutex<rusqlite::Connection>);

impl Counter {
    async fn open(path: &std::path::Path) -> Self {
        let connection =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        Self(std::sync::Mutex::new(connection))
    }

    async fn rows(&self) -> Rows {
        Rows {
            access_tokens: self.count("SELECT COUNT(*) FROM access_tokens").await,
            replay: self.count("SELECT COUNT(*) FROM replay").await,
        }
    }

    async fn count(&self, query: &'static str) -> u64 {
        let connection = self.0.lock().unwrap();
        let count: i64 = connection.query_row(query, [], |row| row.get(0)).unwrap();
        u64::try_from(count).unwrap()
    }

    /// Pages in use or free in the database (its size in pages).
    async fn pages(&self) -> i64 {
        let connection = self.0.lock().unwrap();
        connection
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap()
    }

    async fn close(self) {
        drop(self.0.into_inner());
    }
}

fn basic_wrong_secret() -> String {
    use base64ct::{Base64, Encoding};
    format!(
        "Basic {}",
        Base64::encode_string(format!("{BASIC}:not the secret").as_bytes())
    )
}

/// A DPoP proof (RFC 9449 section 4.2) for POST to the token endpoint.
fn proof(key: &SigningKey, iat: UnixTime, jti: &str) -> String {
    let header = JoseHeader::new(key.algorithm())
        .with_typ("dpop+jwt")
        .with_jwk(key.public_jwk());
    let claims = serde_json::json!({
        "jti": jti, "htm": "POST", "htu": TOKEN_ENDPOINT, "iat": iat.as_secs(),
    });
    key.sign_compact(&header, claims.to_string().as_bytes())
}
