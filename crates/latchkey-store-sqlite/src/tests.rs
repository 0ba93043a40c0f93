//! Rows that do not read back, values SQLite cannot hold, and the file itself.

use std::time::Duration;

use latchkey_store::Rotated;
use latchkey_store::conformance::{self, NOW};
use latchkey_store::{
    AccessTokenRecord, ClientStore, ConsentStore, Consumption, GrantStore, KeyStatus, KeyStore,
    NewFamily, ReplayStore, StoreError, StoredKey, UserRecord, UserStore,
};
use latchkey_token::refresh::{
    FamilyState, RefreshDecision, RefreshPolicy, RefreshPresentation, RevocationReason, RotationKey,
};
use latchkey_types::{ClientId, Scope, SecretString, Subject, TokenDigest, UnixTime};
use zeroize::Zeroizing;

use crate::SqliteStore;

async fn store() -> SqliteStore {
    SqliteStore::open_in_memory().await.expect("open in memory")
}

/// Runs raw SQL on the writer connection, bypassing the store's checks.
async fn tamper(store: &SqliteStore, sql: &str) {
    let sql = sql.to_owned();
    store
        .write(move |connection| {
            connection
                .execute_batch(&sql)
                .map_err(crate::codec::backend)
        })
        .await
        .expect("tamper with a row");
}

/// One integer read by raw SQL on the writer connection.
async fn integer(store: &SqliteStore, sql: &'static str) -> i64 {
    store
        .write(move |connection| {
            connection
                .query_row(sql, [], |row| row.get(0))
                .map_err(crate::codec::backend)
        })
        .await
        .expect("read back")
}

fn resource() -> latchkey_uri::ResourceUri {
    latchkey_uri::ResourceUri::parse("https://mcp.example.com/mcp").expect("valid resource")
}

fn client() -> ClientId {
    ClientId::parse("corrupt-client").expect("valid client id")
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Corrupt { what: got }) => assert_eq!(got, what),
        other => panic!("expected Corrupt {{ what: {what:?} }}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_code_with_an_invalid_scope_is_corrupt_not_a_panic() {
    let store = store().await;
    let mut rng = conformance::rng(31);
    let record = conformance::code_record(&client(), &mut rng);
    store.insert_code(&record).await.expect("insert");
    tamper(&store, "UPDATE codes SET scope = 'a  b'").await;
    assert_corrupt(store.consume_code(record.digest()).await, "code");
    // The consumption itself committed: a corrupt code fails closed.
    assert_corrupt(store.consume_code(record.digest()).await, "code");
    let consumed = integer(&store, "SELECT consumed FROM codes").await;
    assert_eq!(consumed, 1);
}

#[tokio::test]
async fn a_code_with_a_bad_resource_or_challenge_or_lifetime_is_corrupt() {
    for tampering in [
        "UPDATE codes SET resources = '[\"not a uri\"]'",
        "UPDATE codes SET resources = '[]'",
        "UPDATE codes SET resources = 'not json'",
        "UPDATE codes SET code_challenge_method = 'plain'",
        "UPDATE codes SET redirect_uri = ''",
        "UPDATE codes SET expires_at = issued_at + 3600",
        "UPDATE codes SET auth_time = -1",
        "UPDATE codes SET client_id = ''",
    ] {
        let store = store().await;
        let mut rng = conformance::rng(32);
        let record = conformance::code_record(&client(), &mut rng);
        store.insert_code(&record).await.expect("insert");
        tamper(&store, tampering).await;
        assert_corrupt(store.consume_code(record.digest()).await, "code");
    }
}

#[tokio::test]
async fn a_family_that_does_not_read_back_is_corrupt() {
    for tampering in [
        "UPDATE refresh_families SET resources = '[\"ftp://x\"]'",
        "UPDATE refresh_families SET scope = ' '",
        "UPDATE refresh_families SET state = 'revoked', revoked_reason = 'bored', revoked_at = 1",
        "UPDATE refresh_families SET state = 'revoked', revoked_reason = NULL, revoked_at = 1",
        "UPDATE refresh_families SET previous_rotated_at = 5",
        "UPDATE refresh_families SET generation = 3",
        "UPDATE refresh_families SET expires_at = created_at + 10 * 365 * 86400",
    ] {
        let store = store().await;
        let mut rng = conformance::rng(33);
        let (_, family) = conformance::family(&client(), &mut rng);
        store.insert_family(&family, None).await.expect("insert");
        tamper(&store, tampering).await;
        assert_corrupt(
            store.family_by_token(family.current()).await,
            "refresh family",
        );
    }
}

/// RFC 9700 section 4.14.2: revoking from a stale read revokes the family
/// without rolling back the rotation that happened in between.
#[tokio::test]
async fn revoking_a_stale_family_keeps_the_newest_generation() {
    let store = store().await;
    let mut rng = conformance::rng(36);
    let (token, family) = conformance::family(&client(), &mut rng);
    store.insert_family(&family, None).await.expect("insert");
    let presentation = RefreshPresentation {
        token: &token,
        client_id: &client(),
        client_authenticated: true,
        dpop_jkt: None,
        scope: None,
        resources: &[],
    };
    let key = RotationKey::new(&SecretString::new(
        "unit-test-rotation-key-0123456789".into(),
    ))
    .expect("key");
    let RefreshDecision::Rotate(rotation) =
        family.present(&presentation, NOW, &RefreshPolicy::default(), &key)
    else {
        panic!("the current token must rotate");
    };
    assert_eq!(
        store.rotate_family(&rotation.next).await.expect("rotate"),
        Rotated::Applied
    );
    store
        .revoke_family(&family.revoke(RevocationReason::TokenRevocation, NOW))
        .await
        .expect("revoke");
    let stored = store
        .family_by_token(family.current())
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(stored.generation(), 1);
    assert_eq!(stored.current(), rotation.next.current());
    assert_eq!(
        stored.state(),
        FamilyState::Revoked {
            reason: RevocationReason::TokenRevocation,
            at: NOW
        }
    );
}

/// The family row and its `refresh_tokens` entry land in one statement (the
/// triggers of migration 0003): when the digest is already indexed, neither
/// the insert nor the rotation leaves anything behind (OAuth 2.1 section
/// 4.3.1).
#[tokio::test]
async fn a_family_write_whose_digest_is_taken_leaves_nothing_behind() {
    let store = store().await;
    let mut rng = conformance::rng(37);
    let (token, family) = conformance::family(&client(), &mut rng);
    let (_, other) = conformance::family(&client(), &mut rng);
    store.insert_family(&family, None).await.expect("insert");
    let index = |digest: &TokenDigest| {
        format!(
            "INSERT INTO refresh_tokens (digest, family_id) VALUES (x'{}', x'{}')",
            hex(digest.as_bytes()),
            hex(family.id().as_bytes())
        )
    };
    tamper(&store, &index(other.current())).await;
    assert!(matches!(
        store.insert_family(&other, None).await,
        Err(StoreError::Duplicate)
    ));
    let families = integer(&store, "SELECT COUNT(*) FROM refresh_families").await;
    assert_eq!(families, 1);

    let presentation = RefreshPresentation {
        token: &token,
        client_id: &client(),
        client_authenticated: true,
        dpop_jkt: None,
        scope: None,
        resources: &[],
    };
    let key = RotationKey::new(&SecretString::new(
        "unit-test-rotation-key-0123456789".into(),
    ))
    .expect("key");
    let RefreshDecision::Rotate(rotation) =
        family.present(&presentation, NOW, &RefreshPolicy::default(), &key)
    else {
        panic!("the current token must rotate");
    };
    tamper(&store, &index(rotation.next.current())).await;
    assert!(matches!(
        store.rotate_family(&rotation.next).await,
        Err(StoreError::Duplicate)
    ));
    let stored = store
        .family_by_token(family.current())
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(stored.generation(), 0);
    assert_eq!(stored.current(), family.current());
}

/// Lowercase hex, for a blob literal in raw SQL.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_client_with_metadata_that_is_not_an_object_is_corrupt() {
    let store = store().await;
    let mut rng = conformance::rng(34);
    let record = conformance::client_record(&mut rng, None);
    store
        .register_client(&record, u64::MAX)
        .await
        .expect("register");
    tamper(&store, "UPDATE clients SET metadata = '[1, 2]'").await;
    assert_corrupt(store.client(&record.client_id).await, "client");
    assert_corrupt(store.list_clients().await, "client");
}

#[tokio::test]
async fn an_access_token_with_a_negative_expiry_is_corrupt() {
    let store = store().await;
    let token = latchkey_store::AccessTokenRecord {
        jti: "jti-1".into(),
        client_id: client(),
        subject: None,
        family: None,
        from_code: None,
        expires_at: NOW,
        revoked: false,
    };
    store.record_access_token(&token).await.expect("record");
    assert_eq!(
        store.access_token("jti-1").await.expect("lookup"),
        Some(token)
    );
    tamper(&store, "UPDATE access_tokens SET expires_at = -5").await;
    assert_corrupt(store.access_token("jti-1").await, "access token");
}

#[tokio::test]
async fn keys_users_and_consents_that_do_not_read_back_are_corrupt() {
    let store = store().await;
    store
        .insert_key(&StoredKey {
            kid: "k1".into(),
            algorithm: "ES256".into(),
            pkcs8: Zeroizing::new(vec![1, 2, 3]),
            status: KeyStatus::Active,
            created_at: NOW,
        })
        .await
        .expect("insert key");
    // The CHECK constraint refuses an unknown status; a file written by
    // something else may not have it.
    tamper(&store, "PRAGMA ignore_check_constraints = ON").await;
    tamper(&store, "UPDATE signing_keys SET status = 'sleepy'").await;
    tamper(&store, "PRAGMA ignore_check_constraints = OFF").await;
    assert_corrupt(store.signing_keys().await, "signing key");

    let alice = Subject::parse("alice").expect("valid");
    store
        .insert_user(&UserRecord {
            username: alice.clone(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: NOW,
            upstream: None,
        })
        .await
        .expect("insert user");
    tamper(&store, "UPDATE users SET username = char(10)").await;
    assert_corrupt(store.list_users().await, "user");

    store
        .remember_consent(
            &alice,
            &client(),
            &[resource()],
            &Scope::empty(),
            false,
            NOW,
        )
        .await
        .expect("remember");
    tamper(&store, "UPDATE consents SET scope = 'x\"y'").await;
    assert_corrupt(
        store
            .consent_covers(&alice, &client(), &[resource()], &Scope::empty(), false)
            .await,
        "consent",
    );
    tamper(
        &store,
        "UPDATE consents SET scope = '', resources = '[\"not a uri\"]'",
    )
    .await;
    assert_corrupt(
        store
            .consent_covers(&alice, &client(), &[resource()], &Scope::empty(), false)
            .await,
        "consent",
    );
}

#[tokio::test]
async fn the_empty_scope_round_trips_as_the_empty_string() {
    let store = store().await;
    let alice = Subject::parse("alice").expect("valid");
    store
        .remember_consent(
            &alice,
            &client(),
            &[resource()],
            &Scope::empty(),
            false,
            NOW,
        )
        .await
        .expect("remember");
    assert!(
        store
            .consent_covers(&alice, &client(), &[resource()], &Scope::empty(), false)
            .await
            .expect("lookup")
    );
    assert!(
        !store
            .consent_covers(
                &alice,
                &client(),
                &[resource()],
                &Scope::parse("a").expect("scope"),
                false
            )
            .await
            .expect("lookup")
    );
}

#[tokio::test]
async fn an_instant_beyond_i64_is_refused_not_clamped() {
    let store = store().await;
    let far = UnixTime::from_secs(u64::MAX);
    match store.remember_once(&[1; 32], far, NOW).await {
        Err(StoreError::Backend(error)) => {
            assert_eq!(
                error.to_string(),
                "instant does not fit in a sqlite integer"
            );
        }
        other => panic!("expected Backend, got {other:?}"),
    }
    // Nothing was stored.
    assert!(
        store
            .remember_once(&[1; 32], NOW.saturating_add(Duration::from_secs(1)), NOW)
            .await
            .expect("remember")
    );
}

#[tokio::test]
async fn a_digest_of_the_wrong_length_is_refused_by_the_schema() {
    let store = store().await;
    let result = store
        .write(|connection| {
            Ok(connection.execute("INSERT INTO replay (key, expires_at) VALUES (x'00', 1)", []))
        })
        .await
        .expect("the operation ran");
    assert!(
        matches!(&result, Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_CHECK),
        "{result:?}"
    );
}

#[tokio::test]
async fn readers_cannot_write() {
    let dir = temp_dir("readers");
    let store = SqliteStore::open(&dir.join("store.db"))
        .await
        .expect("open");
    let result = store
        .read(|connection| {
            Ok(connection.execute(
                "INSERT INTO replay (key, expires_at) VALUES (zeroblob(32), 1)",
                [],
            ))
        })
        .await
        .expect("the operation ran");
    assert!(
        matches!(result, Err(rusqlite::Error::SqliteFailure(_, _))),
        "{result:?}"
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = temp_dir("reopen");
    let path = dir.join("store.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let mut rng = conformance::rng(35);
    let record = conformance::code_record(&client(), &mut rng);
    store.insert_code(&record).await.expect("insert");
    store.close().await;
    let store = SqliteStore::open(&path).await.expect("reopen");
    assert!(matches!(
        store.consume_code(record.digest()).await.expect("consume"),
        Consumption::First(_)
    ));
    assert!(matches!(
        store
            .consume_code(&TokenDigest::of(b"other"))
            .await
            .expect("consume"),
        Consumption::Unknown
    ));
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn opening_in_a_missing_directory_is_a_backend_error() {
    let path = std::env::temp_dir()
        .join("latchkey-store-sqlite-no-such-directory")
        .join("deeper")
        .join("store.db");
    assert!(matches!(
        SqliteStore::open(&path).await,
        Err(StoreError::Backend(_))
    ));
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mode");
    let path = dir.join("store.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let wal = std::fs::metadata(dir.join("store.db-wal")).expect("the WAL exists while open");
    assert_eq!(wal.permissions().mode() & 0o777, 0o600);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A caller dropped while its batch runs (a client that hung up) leaves
/// neither half a batch nor an open transaction that would swallow the next
/// write: the next user of the writer rolls back first.
#[tokio::test]
async fn a_batch_whose_caller_is_dropped_is_all_or_nothing_and_the_writer_recovers() {
    use std::future::Future;
    let dir = temp_dir("dropped-batch");
    let path = dir.join("store.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let mut rng = conformance::rng(36);
    let code = conformance::code_record(&client(), &mut rng);
    store.insert_code(&code).await.expect("insert");
    let token = |jti: String, family: Option<&latchkey_store::RefreshFamily>| AccessTokenRecord {
        jti,
        client_id: client(),
        subject: Some(Subject::parse("alice").expect("valid")),
        family: family.map(latchkey_store::RefreshFamily::id),
        from_code: Some(*code.digest()),
        expires_at: NOW.saturating_add(Duration::from_secs(300)),
        revoked: false,
    };
    let mut abandoned = 0;
    for trial in 0..20 {
        let (_, family) = conformance::family(&client(), &mut rng);
        let issued = token(format!("issued-{trial}"), Some(&family));
        {
            let new = NewFamily {
                family: &family,
                from_code: Some(code.digest()),
            };
            let mut issuance = std::pin::pin!(store.record_issuance(Some(new), &issued));
            let mut context = std::task::Context::from_waker(std::task::Waker::noop());
            // One poll hands the batch to the worker; the drop abandons it.
            if issuance.as_mut().poll(&mut context).is_pending() {
                abandoned += 1;
            }
        }
        let after = token(format!("after-{trial}"), None);
        store.record_access_token(&after).await.expect("record");
        let other = SqliteStore::open(&path).await.expect("a second store");
        assert!(
            other
                .access_token(&after.jti)
                .await
                .expect("lookup")
                .is_some(),
            "trial {trial}: a later write stayed in an abandoned transaction"
        );
        let family_stored = other
            .family_by_token(family.current())
            .await
            .expect("lookup")
            .is_some();
        let token_stored = other
            .access_token(&issued.jti)
            .await
            .expect("lookup")
            .is_some();
        assert_eq!(family_stored, token_stored, "trial {trial}: half a batch");
        other.close().await;
    }
    assert!(abandoned > 0, "no batch was ever abandoned mid-flight");
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "latchkey-store-sqlite-unit-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// Every lookup the operations make is an index search, never a full scan.
#[tokio::test]
async fn every_lookup_uses_an_index() {
    let store = store().await;
    for statement in [
        "UPDATE codes SET consumed = 1 WHERE digest = ? AND consumed = 0",
        "SELECT * FROM codes WHERE digest = ?",
        "SELECT f.* FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
         WHERE t.digest = ?",
        "UPDATE refresh_families SET generation = 1 WHERE id = ? AND generation = ? \
         AND state = 'active'",
        "UPDATE refresh_families SET state = 'revoked' WHERE state = 'active' AND from_code = ?",
        "UPDATE refresh_families SET state = 'revoked' WHERE state = 'active' AND client_id = ?",
        "SELECT COUNT(*) FROM refresh_families WHERE from_code = ?",
        "UPDATE access_tokens SET revoked = 1 WHERE family_id = ?",
        "UPDATE access_tokens SET revoked = 1 WHERE from_code = ? \
         OR family_id IN (SELECT id FROM refresh_families WHERE from_code = ?)",
        "UPDATE access_tokens SET revoked = 1 WHERE client_id = ? \
         OR family_id IN (SELECT id FROM refresh_families WHERE client_id = ?)",
        "DELETE FROM codes WHERE expires_at < ?",
        "DELETE FROM refresh_families WHERE expires_at < ?",
        "DELETE FROM access_tokens WHERE expires_at < ?",
        "DELETE FROM replay WHERE expires_at < ?",
        "SELECT * FROM clients WHERE fingerprint = ?",
        "DELETE FROM clients WHERE first_used_at IS NULL AND issued_at < ?",
        "DELETE FROM consents WHERE client_id = ?",
        "DELETE FROM consents WHERE subject = ?",
        "SELECT * FROM consents WHERE subject = ? AND client_id = ?",
        "SELECT * FROM consents WHERE subject = ? AND client_id = ? AND resources = ? \
         AND loopback_redirect = ?",
        "DELETE FROM refresh_tokens WHERE family_id = ?",
    ] {
        let plan = explain(&store, statement).await;
        assert!(!plan.is_empty(), "no plan for {statement}");
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN ")),
            "{statement}: {plan:?}"
        );
    }
}

/// The `detail` column of `EXPLAIN QUERY PLAN`.
async fn explain(store: &SqliteStore, statement: &str) -> Vec<String> {
    let sql = format!("EXPLAIN QUERY PLAN {statement}");
    store
        .write(move |connection| {
            let mut prepared = connection.prepare(&sql).map_err(crate::codec::backend)?;
            // The plan does not depend on the values; every parameter is NULL.
            let nulls = vec![rusqlite::types::Null; prepared.parameter_count()];
            let details = prepared
                .query_map(rusqlite::params_from_iter(nulls), |row| {
                    row.get::<_, String>("detail")
                })
                .map_err(crate::codec::backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(crate::codec::backend)?;
            Ok(details)
        })
        .await
        .expect("explain")
}

/// Concurrent writes share transactions (fewer commits than writes), every
/// caller gets its own answer, and a write that fails inside a shared
/// transaction is rolled back alone: the others commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_share_commits_and_a_failure_is_rolled_back_alone() {
    let dir = temp_dir("group-commit");
    let path = dir.join("store.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let mut rng = conformance::rng(38);
    let taken = conformance::code_record(&client(), &mut rng);
    store.insert_code(&taken).await.expect("insert");
    let commits_before = store.connections.commits();
    let mut tasks = tokio::task::JoinSet::new();
    let mut fresh = Vec::new();
    for n in 0..256 {
        let store = store.clone();
        let record = if n % 4 == 0 {
            taken.clone()
        } else {
            let record = conformance::code_record(&client(), &mut rng);
            fresh.push(record.clone());
            record
        };
        tasks.spawn(async move { (n, store.insert_code(&record).await) });
    }
    while let Some(joined) = tasks.join_next().await {
        let (n, result) = joined.expect("task");
        if n % 4 == 0 {
            assert!(matches!(result, Err(StoreError::Duplicate)), "{result:?}");
        } else {
            result.expect("a fresh code is inserted");
        }
    }
    let commits = store.connections.commits() - commits_before;
    assert!(
        commits < 256,
        "{commits} commits for 256 concurrent writes: nothing was shared"
    );
    store.close().await;
    let store = SqliteStore::open(&path).await.expect("reopen");
    for record in &fresh {
        assert!(matches!(
            store.consume_code(record.digest()).await.expect("consume"),
            Consumption::First(_)
        ));
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `synchronous` is NORMAL unless FULL is asked for.
#[tokio::test]
async fn synchronous_is_normal_by_default_and_full_on_request() {
    let dir = temp_dir("synchronous");
    let path = dir.join("store.db");
    for (options, expected) in [
        (crate::SqliteOptions::default(), 1),
        (
            crate::SqliteOptions::default().synchronous(crate::Synchronous::Full),
            2,
        ),
    ] {
        let store = SqliteStore::open_with(&path, options).await.expect("open");
        assert_eq!(integer(&store, "PRAGMA synchronous").await, expected);
        assert_eq!(
            store
                .write(|connection| {
                    connection
                        .query_row("PRAGMA journal_mode", [], |row| row.get::<_, String>(0))
                        .map_err(crate::codec::backend)
                })
                .await
                .expect("journal mode"),
            "wal"
        );
        store.close().await;
    }
    assert_eq!("full".parse(), Ok(crate::Synchronous::Full));
    assert_eq!("normal".parse(), Ok(crate::Synchronous::Normal));
    assert!("FULL ".parse::<crate::Synchronous>().is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Once closed, the store answers with an error, never a hang or a panic.
#[tokio::test]
async fn a_closed_store_refuses_operations() {
    let dir = temp_dir("closed");
    let store = SqliteStore::open(&dir.join("store.db"))
        .await
        .expect("open");
    store.close().await;
    assert!(matches!(
        store.remember_once(&[3; 32], NOW, NOW).await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        store.access_token("x").await,
        Err(StoreError::Backend(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
