//! A database written by the earlier `sqlx`-based store opens with this one,
//! keeps its data and its migration history.
//!
//! `tests/fixtures/sqlx-0008.db` was written by that store (schema version
//! 8, migrations recorded by `sqlx` in `_sqlx_migrations`): one client, one
//! unused code, one consumed code, a refresh family issued from it with an
//! access token, a user, a signing key, a consent and a replay key, all made
//! from the seeded generator below, so this test can make them again and
//! compare.

use std::path::{Path, PathBuf};

use latchkey_store::conformance::{self, NOW};
use latchkey_store::{
    ClientStore, ConsentStore, Consumption, GrantStore, KeyStatus, KeyStore, ReplayStore, UserStore,
};
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::{Scope, Subject, TokenDigest, UnixTime};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sqlx-0008.db");

/// A copy of the fixture in a fresh directory, so the test never changes it.
fn copy_fixture(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "latchkey-store-sqlite-upgrade-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let path = dir.join("latchkey.db");
    std::fs::copy(FIXTURE, &path).expect("copy the fixture");
    (dir, path)
}

fn migrations(path: &Path) -> Vec<(i64, String, bool)> {
    let connection = rusqlite::Connection::open(path).expect("open");
    let mut statement = connection
        .prepare("SELECT version, description, success FROM _sqlx_migrations ORDER BY version")
        .expect("prepare");
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test]
async fn a_database_written_by_the_sqlx_store_opens_with_its_data() {
    let (dir, path) = copy_fixture("data");
    let before = migrations(&path);
    assert_eq!(before.len(), 8, "the fixture is at schema version 8");
    let store = SqliteStore::open(&path)
        .await
        .expect("open the old database");

    // The same records, made again from the same seed.
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let client = conformance::client_record(&mut rng, Some(TokenDigest::of(b"fingerprint")));
    let code = conformance::code_record(&client.client_id, &mut rng);
    let used = conformance::code_record(&client.client_id, &mut rng);
    let (_, family) = conformance::family(&client.client_id, &mut rng);

    assert_eq!(
        store.client(&client.client_id).await.expect("client"),
        Some(client.clone())
    );
    assert_eq!(
        store.list_clients().await.expect("list"),
        vec![client.clone()]
    );
    match store.consume_code(code.digest()).await.expect("consume") {
        Consumption::First(found) => assert_eq!(found.digest(), code.digest()),
        other => panic!("the unused code must be redeemable once: {other:?}"),
    }
    assert!(matches!(
        store.consume_code(used.digest()).await.expect("consume"),
        Consumption::AlreadyConsumed(_)
    ));
    assert_eq!(
        store
            .family_by_token(family.current())
            .await
            .expect("family"),
        Some(family.clone())
    );
    let token = store
        .access_token("fixture-jti")
        .await
        .expect("access token")
        .expect("found");
    assert_eq!(token.family, Some(family.id()));
    assert!(!token.revoked);
    let alice = Subject::parse("alice").expect("valid");
    assert!(store.user(&alice).await.expect("user").is_some());
    let keys = store.signing_keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, "fixture-kid");
    assert_eq!(keys[0].status, KeyStatus::Active);
    assert_eq!(keys[0].pkcs8.as_slice(), &[1, 2, 3, 4]);
    let resource = latchkey_uri::ResourceUri::parse("https://mcp.example.com/mcp").expect("valid");
    assert!(
        store
            .consent_covers(
                &alice,
                &client.client_id,
                &[resource],
                &Scope::parse("mcp:read").expect("valid"),
                false,
            )
            .await
            .expect("consent")
    );
    assert!(
        !store
            .remember_once(&[9; 32], UnixTime::from_secs(4_000_000_000), NOW)
            .await
            .expect("replay"),
        "the stored replay key is still known"
    );
    // The grant the consumed code issued is still revocable as a whole.
    let revoked = store
        .revoke_code_grant(used.digest(), NOW)
        .await
        .expect("revoke");
    assert_eq!((revoked.families, revoked.access_tokens), (1, 1));
    store.close().await;

    // The history sqlx wrote is kept, every migration recorded as applied.
    let after = migrations(&path);
    assert_eq!(after[..before.len()], before[..]);
    assert!(after.iter().all(|(_, _, success)| *success));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_new_database_records_its_migrations_as_sqlx_did() {
    let (dir, fixture) = copy_fixture("fresh");
    let path = dir.join("fresh.db");
    SqliteStore::open(&path).await.expect("open").close().await;
    let checksums = |path: &Path| -> Vec<(i64, String, Vec<u8>)> {
        let connection = rusqlite::Connection::open(path).expect("open");
        let mut statement = connection
            .prepare("SELECT version, description, checksum FROM _sqlx_migrations ORDER BY version")
            .expect("prepare");
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let written = checksums(&path);
    let by_sqlx = checksums(&fixture);
    assert_eq!(written[..by_sqlx.len()], by_sqlx[..]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_failed_or_altered_migration_is_refused() {
    for tampering in [
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 8",
        "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 3",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    ] {
        let (dir, path) = copy_fixture("refused");
        rusqlite::Connection::open(&path)
            .expect("open")
            .execute_batch(tampering)
            .expect("tamper");
        assert!(
            SqliteStore::open(&path).await.is_err(),
            "opened despite: {tampering}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
