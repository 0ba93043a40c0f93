//! Store failures become a generic `server_error` (500) or, for an
//! unreachable backend, `temporarily_unavailable` (503), never a panic and
//! never the failure's detail.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use common::*;
use latchkey_dpop::NonceKey;
use latchkey_engine::{Engine, EngineConfig, EngineSecrets, NoMetadataFetcher};
use latchkey_store::*;
use latchkey_token::refresh::RotationKey;
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::ResourceUri;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const OK: u8 = 0;
const BACKEND: u8 = 1;
const CORRUPT: u8 = 2;

/// A `MemoryStore` whose grant operations fail on demand.
struct FailingStore {
    inner: MemoryStore,
    mode: AtomicU8,
    /// Returned once by `family_by_token` instead of the stored family: a
    /// stale read, as a concurrent rotation would cause.
    stale: std::sync::Mutex<Option<RefreshFamily>>,
}

impl FailingStore {
    fn check(&self) -> Result<(), StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            BACKEND => Err(StoreError::Backend(
                "connection refused to db.internal:5432".into(),
            )),
            CORRUPT => Err(StoreError::Corrupt { what: "code" }),
            _ => Ok(()),
        }
    }
}

impl ClientStore for FailingStore {
    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        self.inner.client(client_id).await
    }
    async fn register_client(
        &self,
        client: &ClientRecord,
        max: u64,
    ) -> Result<Registered, StoreError> {
        self.inner.register_client(client, max).await
    }
    async fn replace_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        self.inner.replace_client(client).await
    }
    async fn delete_client(&self, client_id: &ClientId, now: UnixTime) -> Result<bool, StoreError> {
        self.inner.delete_client(client_id, now).await
    }
    async fn mark_client_used(
        &self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.inner.mark_client_used(client_id, now).await
    }
    async fn purge_unused_clients(&self, before: UnixTime, limit: u64) -> Result<u64, StoreError> {
        self.inner.purge_unused_clients(before, limit).await
    }
    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.inner.list_clients().await
    }
}

impl GrantStore for FailingStore {
    async fn insert_code(&self, record: &CodeRecord) -> Result<(), StoreError> {
        self.inner.insert_code(record).await
    }
    async fn consume_code(&self, digest: &TokenDigest) -> Result<Consumption, StoreError> {
        self.check()?;
        self.inner.consume_code(digest).await
    }
    async fn insert_family(
        &self,
        family: &RefreshFamily,
        from: Option<&TokenDigest>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_family(family, from).await
    }
    async fn family_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        self.check()?;
        if let Some(stale) = self.stale.lock().expect("not poisoned").take() {
            return Ok(Some(stale));
        }
        self.inner.family_by_token(digest).await
    }
    async fn rotate_family(&self, next: &RefreshFamily) -> Result<Rotated, StoreError> {
        self.check()?;
        self.inner.rotate_family(next).await
    }
    async fn revoke_family(&self, revoked: &RefreshFamily) -> Result<(), StoreError> {
        self.check()?;
        self.inner.revoke_family(revoked).await
    }
    async fn record_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.record_access_token(token).await
    }
    async fn record_issuance(
        &self,
        family: Option<NewFamily<'_>>,
        token: &AccessTokenRecord,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.record_issuance(family, token).await
    }
    async fn rotate_family_with_token(
        &self,
        next: &RefreshFamily,
        token: &AccessTokenRecord,
    ) -> Result<Rotated, StoreError> {
        self.check()?;
        self.inner.rotate_family_with_token(next, token).await
    }
    async fn access_token(&self, jti: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        self.check()?;
        self.inner.access_token(jti).await
    }
    async fn revoke_access_token(&self, jti: &str) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.revoke_access_token(jti).await
    }
    async fn revoke_code_grant(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> Result<RevokedGrant, StoreError> {
        self.check()?;
        self.inner.revoke_code_grant(code, now).await
    }
    async fn mark_redemption_failed(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.mark_redemption_failed(code, now).await
    }
    async fn purge_expired(&self, now: UnixTime, limit: u64) -> Result<u64, StoreError> {
        self.inner.purge_expired(now, limit).await
    }
}

impl ConsentStore for FailingStore {
    async fn consent_covers(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
    ) -> Result<bool, StoreError> {
        self.inner
            .consent_covers(subject, client_id, resources, scope, loopback_redirect)
            .await
    }
    async fn remember_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.inner
            .remember_consent(subject, client_id, resources, scope, loopback_redirect, now)
            .await
    }
    async fn forget_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
    ) -> Result<bool, StoreError> {
        self.inner.forget_consent(subject, client_id).await
    }
}

impl KeyStore for FailingStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.inner.signing_keys().await
    }
    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.inner.insert_key(key).await
    }
    async fn activate_key(&self, kid: &str) -> Result<bool, StoreError> {
        self.inner.activate_key(kid).await
    }
    async fn retire_key(&self, kid: &str) -> Result<bool, StoreError> {
        self.inner.retire_key(kid).await
    }
}

impl UserStore for FailingStore {
    async fn user(&self, username: &Subject) -> Result<Option<UserRecord>, StoreError> {
        self.inner.user(username).await
    }
    async fn insert_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        self.inner.insert_user(user).await
    }
    async fn remove_user(&self, username: &Subject, now: UnixTime) -> Result<bool, StoreError> {
        self.inner.remove_user(username, now).await
    }
    async fn upsert_upstream_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        self.inner.upsert_upstream_user(user).await
    }
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.inner.list_users().await
    }
}

impl ReplayStore for FailingStore {
    async fn remember_once(
        &self,
        key: &[u8; 32],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.remember_once(key, expires_at, now).await
    }
}

async fn failing_engine() -> (Engine<FailingStore>, Harness) {
    // The harness provides the clients and a code issued into its own store;
    // copy the clients over and issue codes into the failing store directly.
    let h = harness().await;
    let store = FailingStore {
        inner: MemoryStore::new(),
        mode: AtomicU8::new(OK),
        stale: std::sync::Mutex::new(None),
    };
    for client in h.clients_snapshot().await {
        store
            .inner
            .register_client(&client, 1000)
            .await
            .expect("copy a client");
    }
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let resource = ResourceUri::parse(RESOURCE).expect("a resource uri");
    let mut config = EngineConfig::new(ISSUER, resource).expect("a valid config");
    // The lost-race test refreshes as a public client without DPoP, whose
    // retry (the loser's second presentation) needs the opted-in window.
    config.refresh_policy = config
        .refresh_policy
        .with_public_client_retry_window(core::time::Duration::from_secs(30))
        .expect("a window within 60 s");
    let secrets = EngineSecrets {
        rotation_key: RotationKey::generate(&mut rng),
        key_wrap_key: None,
        nonce_key: NonceKey::generate(&mut rng),
    };
    let engine = Engine::new(
        Arc::new(store),
        config,
        secrets,
        NoMetadataFetcher,
        now(),
        &mut rng,
    )
    .await
    .expect("an engine");
    (engine, h)
}

#[tokio::test]
async fn store_backend_failure_is_503_without_detail() {
    let (engine, _h) = failing_engine().await;
    engine.store().mode.store(BACKEND, Ordering::SeqCst);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let pairs = params(&[
        ("grant_type", "authorization_code"),
        ("code", "some-code"),
        ("code_verifier", VERIFIER),
        ("client_id", PUBLIC),
    ]);
    let response = engine.token(&pairs, &post_token(), now(), &mut rng).await;
    assert_eq!(response.status, 503);
    assert_eq!(error(&response), "temporarily_unavailable");
    assert!(!response.json_body().unwrap().contains("db.internal"));

    let refresh = params(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
        ("client_id", PUBLIC),
    ]);
    let response = engine.token(&refresh, &post_token(), now(), &mut rng).await;
    assert_eq!(response.status, 503);
}

#[tokio::test]
async fn corrupt_store_data_is_500_server_error() {
    let (engine, _h) = failing_engine().await;
    engine.store().mode.store(CORRUPT, Ordering::SeqCst);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let pairs = params(&[("grant_type", "client_credentials")]);
    let http = post_token().with_authorization(basic(BASIC, SECRET));
    let response = engine.token(&pairs, &http, now(), &mut rng).await;
    assert_eq!(response.status, 500);
    assert_eq!(error(&response), "server_error");
    assert_eq!(
        common::body(&response)["error_description"],
        "internal server error"
    );
    // Revocation and introspection too.
    let revoke = engine
        .revoke(
            &params(&[("token", "abc"), ("client_id", PUBLIC)]),
            &post_to(REVOCATION_ENDPOINT),
            now(),
        )
        .await;
    assert_eq!(revoke.status, 500);
}

#[tokio::test]
async fn mcp_a10_a_lost_rotation_race_is_retried_once_and_yields_the_same_successor() {
    use latchkey_pkce::CodeChallenge;
    use latchkey_token::code::{CodeParams, CodeRecord, RedirectUriSource};
    use latchkey_token::refresh::RefreshToken;
    use latchkey_uri::RedirectUri;

    let (engine, _h) = failing_engine().await;
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let params_for_code = CodeParams {
        client_id: ClientId::parse(PUBLIC).expect("id"),
        redirect_uri: RedirectUri::parse(REDIRECT).expect("uri"),
        redirect_uri_source: RedirectUriSource::Request,
        code_challenge: CodeChallenge::parse(CHALLENGE, Some("S256")).expect("challenge"),
        resources: vec![ResourceUri::parse(RESOURCE).expect("resource")],
        scope: Scope::parse("mcp:read").expect("scope"),
        subject: Subject::parse("alice").expect("subject"),
        auth_time: now(),
        dpop_jkt: None,
    };
    let (code, record) = CodeRecord::issue(
        params_for_code,
        now(),
        &engine.config().code_policy,
        &mut rng,
    )
    .expect("code");
    engine
        .store()
        .inner
        .insert_code(&record)
        .await
        .expect("insert");
    let redeem = params(&[
        ("grant_type", "authorization_code"),
        ("code", code.expose_secret()),
        ("code_verifier", VERIFIER),
        ("client_id", PUBLIC),
    ]);
    let response = engine.token(&redeem, &post_token(), now(), &mut rng).await;
    let token = body(&response)["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let generation0 = engine
        .store()
        .inner
        .family_by_token(&RefreshToken::new(token.clone()).digest())
        .await
        .expect("read")
        .expect("family");

    let refresh = params(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &token),
        ("client_id", PUBLIC),
    ]);
    let first = engine.token(&refresh, &post_token(), now(), &mut rng).await;
    assert_eq!(first.status, 200);
    // The next request reads the family as it was before the first rotation:
    // it decides Rotate, loses the compare-and-set, and presents again against
    // the current family, which answers with the same successor (a retry).
    *engine.store().stale.lock().expect("not poisoned") = Some(generation0);
    let second = engine.token(&refresh, &post_token(), now(), &mut rng).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(
        body(&second)["refresh_token"],
        body(&first)["refresh_token"]
    );
}
