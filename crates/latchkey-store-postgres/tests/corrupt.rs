//! Rows that do not parse back are `StoreError::Corrupt`, never a panic; values
//! that do not fit a column are refused, never wrapped; and nothing secret is
//! stored in clear.

mod support;

use latchkey_store::conformance::{self, NOW};
use latchkey_store::{
    ClientStore, ConsentStore, GrantStore, KeyStatus, KeyStore, StoreError, StoredKey, UserRecord,
    UserStore,
};
use latchkey_store_postgres::{PostgresError, PostgresStore};
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use zeroize::Zeroizing;

async fn corrupt(store: &PostgresStore, sql: &str) {
    let affected = sqlx::query(sql)
        .execute(store.pool())
        .await
        .expect("corrupt a row")
        .rows_affected();
    assert_eq!(affected, 1, "{sql}");
}

fn is_corrupt<T>(result: Result<T, StoreError>, expected: &str) -> bool {
    matches!(result, Err(StoreError::Corrupt { what }) if what == expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_row_with_an_invalid_scope_is_corrupt() {
    support::with_stores(
        "a_code_row_with_an_invalid_scope_is_corrupt",
        1,
        |stores| async move {
            let store = &stores[0];
            let mut rng = conformance::rng(201);
            let client = ClientId::parse("corrupt-client").expect("valid");
            let record = conformance::code_record(&client, &mut rng);
            store.insert_code(&record).await.expect("insert");
            corrupt(store, "UPDATE codes SET scope = 'a  b'").await;
            assert!(is_corrupt(
                store.consume_code(record.digest()).await,
                "code"
            ));
            // Read back again (now through the "already consumed" path): still corrupt.
            assert!(is_corrupt(
                store.consume_code(record.digest()).await,
                "code"
            ));

            let other = conformance::code_record(&client, &mut rng);
            store.insert_code(&other).await.expect("insert");
            // A lifetime past ten minutes fails `CodeRecord::from_parts`.
            corrupt(
                store,
                "UPDATE codes SET expires_at = issued_at + 3600 WHERE scope <> 'a  b'",
            )
            .await;
            assert!(is_corrupt(store.consume_code(other.digest()).await, "code"));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn family_rows_with_bad_digests_or_states_are_corrupt() {
    support::with_stores("family_rows_with_bad_digests_or_states_are_corrupt", 1, |stores| async move {
        let store = &stores[0];
        let mut rng = conformance::rng(202);
        let client = ClientId::parse("corrupt-client").expect("valid");
        let (_, family) = conformance::family(&client, &mut rng);
        store.insert_family(&family, None).await.expect("insert");
        let what = "refresh family";
        for (breakage, repair) in [
            (
                "UPDATE refresh_families SET current_digest = '\\x00'::bytea",
                "UPDATE refresh_families SET current_digest = (SELECT digest FROM refresh_tokens)",
            ),
            (
                "UPDATE refresh_families SET state = 'paused'",
                "UPDATE refresh_families SET state = 'active'",
            ),
            (
                "UPDATE refresh_families SET state = 'revoked'",
                "UPDATE refresh_families SET state = 'active'",
            ),
            (
                "UPDATE refresh_families SET generation = -1",
                "UPDATE refresh_families SET generation = 0",
            ),
            (
                "UPDATE refresh_families SET resources = '{}'",
                "UPDATE refresh_families SET resources = '{https://mcp.example.com/mcp}'",
            ),
        ] {
            corrupt(store, breakage).await;
            assert!(
                is_corrupt(store.family_by_token(family.current()).await, what),
                "{breakage}"
            );
            corrupt(store, repair).await;
            assert_eq!(
                store.family_by_token(family.current()).await.expect("repaired"),
                Some(family.clone()),
                "{repair}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_corrupt_rows_name_their_record() {
    support::with_stores(
        "other_corrupt_rows_name_their_record",
        1,
        |stores| async move {
            let store = &stores[0];
            let mut rng = conformance::rng(203);

            let client = conformance::client_record(&mut rng, None);
            store.register_client(&client, 10).await.expect("register");
            corrupt(store, "UPDATE clients SET metadata = '[1, 2]'::jsonb").await;
            assert!(is_corrupt(store.client(&client.client_id).await, "client"));
            assert!(is_corrupt(store.list_clients().await, "client"));

            let alice = Subject::parse("alice").expect("valid");
            let scope = Scope::parse("mcp:read").expect("valid");
            let resources =
                [latchkey_uri::ResourceUri::parse("https://mcp.example.com/mcp").expect("valid")];
            store
                .remember_consent(&alice, &client.client_id, &resources, &scope, false, NOW)
                .await
                .expect("remember");
            corrupt(store, "UPDATE consents SET scope = ' '").await;
            assert!(is_corrupt(
                store
                    .consent_covers(&alice, &client.client_id, &resources, &scope, false)
                    .await,
                "consent"
            ));
            assert!(is_corrupt(
                store
                    .remember_consent(&alice, &client.client_id, &resources, &scope, false, NOW)
                    .await,
                "consent"
            ));
            corrupt(
                store,
                "UPDATE consents SET scope = '', resources = ARRAY['not a uri']",
            )
            .await;
            assert!(is_corrupt(
                store
                    .consent_covers(&alice, &client.client_id, &resources, &scope, false)
                    .await,
                "consent"
            ));

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
            corrupt(store, "UPDATE signing_keys SET status = 'Active'").await;
            assert!(is_corrupt(store.signing_keys().await, "signing key"));

            let user = UserRecord {
                username: alice.clone(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                created_at: NOW,
                upstream: None,
            };
            assert!(store.insert_user(&user).await.expect("insert user"));
            corrupt(store, "UPDATE users SET created_at = -5").await;
            assert!(is_corrupt(store.user(&alice).await, "user"));

            let token = latchkey_store::AccessTokenRecord {
                jti: "jti-corrupt".into(),
                client_id: client.client_id.clone(),
                subject: None,
                family: None,
                from_code: None,
                expires_at: NOW,
                revoked: false,
            };
            store.record_access_token(&token).await.expect("record");
            corrupt(
                store,
                "UPDATE access_tokens SET family_id = '\\x0102'::bytea",
            )
            .await;
            assert!(is_corrupt(
                store.access_token("jti-corrupt").await,
                "access token"
            ));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_past_bigint_are_refused_and_nothing_is_stored() {
    support::with_stores("times_past_bigint_are_refused", 1, |stores| async move {
        let store = &stores[0];
        let user = UserRecord {
            username: Subject::parse("far-future").expect("valid"),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: UnixTime::from_secs(u64::MAX),
            upstream: None,
        };
        let Err(StoreError::Backend(source)) = store.insert_user(&user).await else {
            panic!("expected a backend error");
        };
        assert!(matches!(
            source.downcast_ref::<PostgresError>(),
            Some(PostgresError::ValueOutOfRange { what: "time" })
        ));
        assert_eq!(store.user(&user.username).await.expect("lookup"), None);
    })
    .await;
}

/// STYLE.md section 5: tokens, codes and secrets reach the database only as
/// digests. A refresh token (current and rotated) and a client secret never
/// appear in any row, in any encoding PostgreSQL prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_secret_is_stored_in_clear() {
    support::with_stores(
        "no_token_or_secret_is_stored_in_clear",
        1,
        |stores| async move {
            let store = &stores[0];
            let mut rng = conformance::rng(204);
            let client_id = ClientId::parse("clear-client").expect("valid");
            let (token, family) = conformance::family(&client_id, &mut rng);
            store.insert_family(&family, None).await.expect("insert");
            let secret = "client-secret-that-must-not-be-stored-0123456789";
            let mut client = conformance::client_record(&mut rng, None);
            client.secret_digest = Some(latchkey_types::TokenDigest::of(secret.as_bytes()));
            store.register_client(&client, 10).await.expect("register");

            let mut dump = String::new();
            for table in [
                "clients",
                "codes",
                "refresh_families",
                "refresh_tokens",
                "access_tokens",
                "consents",
                "signing_keys",
                "users",
                "replay",
            ] {
                let (rows,): (Option<String>,) = sqlx::query_as(&format!(
                    "SELECT string_agg(row_to_json(t)::text, E'\\n') FROM {table} AS t"
                ))
                .fetch_one(store.pool())
                .await
                .expect("dump");
                dump.push_str(&rows.unwrap_or_default());
            }
            assert!(dump.contains("clear-client"), "the dump covers the rows");
            assert!(!dump.contains(token.expose_secret()));
            assert!(!dump.contains(secret));
        },
    )
    .await;
}
