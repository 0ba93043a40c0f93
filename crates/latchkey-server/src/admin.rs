//! The administration commands: `latchkey users`, `latchkey clients`,
//! `latchkey keys`. Each is a function over a store that writes its report to
//! `out`, so the binary and the tests run the same code.
//!
//! Changes made while `latchkey serve` runs reach it as follows: users and
//! clients at once (every request reads the store); a rotated signing key at
//! the next start (the running server keeps the key set it loaded).

use std::io::Write;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_engine::{Engine, MetadataFetcher};
use latchkey_registration::{
    GrantType, RegistrationPolicy, TokenEndpointAuthMethod, validate_registration,
};
use latchkey_store::{ClientRecord, KeyStatus, Registered, Store, UpstreamAttributes, UserRecord};
use latchkey_types::{ClientId, Scope, SecretString, Subject, UnixTime};
use rand_core::CryptoRng;

use crate::error::ServerError;
use crate::password;
use crate::session::UpstreamProfile;

/// What `latchkey clients add` registers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewClient {
    /// The client id; a random one when `None`.
    pub client_id: Option<String>,
    /// The name shown on the consent page.
    pub name: Option<String>,
    /// The redirect URIs (RFC 7591 `redirect_uris`).
    pub redirect_uris: Vec<String>,
    /// `none` (public), `client_secret_basic` or `client_secret_post`.
    pub auth_method: String,
    /// The scopes the client may ask for, space-separated.
    pub scope: Option<String>,
    /// Whether the client may use the `client_credentials` grant.
    pub client_credentials: bool,
    /// Whether the client may call `/introspect` (RFC 7662; confidential
    /// clients only), stored with it as `ClientRecord::may_introspect`.
    pub introspect: bool,
}

/// Adds a user with an argon2id hash of `password`; returns `false` without
/// change when `password` is `None` and the user already exists (the demo user).
pub async fn add_user<S: Store>(
    store: &S,
    username: &str,
    password: &str,
    now: UnixTime,
    rng: &mut impl CryptoRng,
) -> Result<(), ServerError> {
    let subject = parse_username(username)?;
    // RFC 9700 section 4.15.1: a client-credentials token's `sub` is its
    // client id, so a user name equal to a client id would let a resource
    // server that reads `sub` mistake the one for the other.
    if let Ok(client_id) = ClientId::parse(username)
        && store.client(&client_id).await?.is_some()
    {
        return Err(ServerError::NameIsClientId(username.to_owned()));
    }
    let password_hash = password::hash(password, rng)?;
    let record = UserRecord {
        username: subject,
        password_hash,
        created_at: now,
        upstream: None,
    };
    if store.insert_user(&record).await? {
        Ok(())
    } else {
        Err(ServerError::UserExists(username.to_owned()))
    }
}

/// Makes sure the person who signed in through an identity provider has a
/// local user record under `subject` (`{provider id}:{upstream subject}`),
/// without a password: `latchkey users list` shows them, and `latchkey
/// users remove` removes them and their consents. A password user who
/// already holds that name is never taken over: the sign-in is refused.
pub async fn upsert_upstream_user<S: Store>(
    store: &S,
    subject: &Subject,
    provider: &str,
    profile: &UpstreamProfile,
    now: UnixTime,
) -> Result<(), ServerError> {
    let record = UserRecord {
        username: subject.clone(),
        password_hash: password::NO_PASSWORD.to_owned(),
        created_at: now,
        upstream: Some(UpstreamAttributes {
            provider: provider.to_owned(),
            name: profile.name.clone(),
            email: profile.email.clone(),
        }),
    };
    if store.upsert_upstream_user(&record).await? {
        Ok(())
    } else {
        Err(ServerError::UserExists(subject.as_str().to_owned()))
    }
}

/// `latchkey users add NAME`: adds the user with `password`, or with a
/// generated password printed once to `out`.
pub async fn users_add<S: Store>(
    store: &S,
    username: &str,
    password: Option<SecretString>,
    now: UnixTime,
    rng: &mut impl CryptoRng,
    out: &mut impl Write,
) -> Result<(), ServerError> {
    match password {
        Some(password) => {
            add_user(store, username, password.expose_secret(), now, rng).await?;
            writeln!(out, "added user {username}")?;
        }
        None => {
            let password = password::generate(rng);
            add_user(store, username, password.expose_secret(), now, rng).await?;
            writeln!(out, "added user {username}")?;
            writeln!(
                out,
                "password: {} (shown once; store it now)",
                password.expose_secret()
            )?;
        }
    }
    Ok(())
}

/// `latchkey users list`: one user per line with when they were added.
pub async fn users_list<S: Store>(store: &S, out: &mut impl Write) -> Result<(), ServerError> {
    let users = store.list_users().await?;
    if users.is_empty() {
        writeln!(out, "no users")?;
    }
    for user in users {
        write!(
            out,
            "{}\tadded {}",
            user.username.as_str(),
            user.created_at.as_secs()
        )?;
        if let Some(upstream) = &user.upstream {
            // What a provider sent is printed without control characters.
            let clean = |text: &str| text.chars().filter(|c| !c.is_control()).collect::<String>();
            write!(out, "\tvia {}", clean(&upstream.provider))?;
            if let Some(name) = &upstream.name {
                write!(out, "\t{}", clean(name))?;
            }
            if let Some(email) = &upstream.email {
                write!(out, "\t<{}>", clean(email))?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `latchkey users remove NAME`: removes the user and their consents and, in
/// the same store operation, revokes their grants (every refresh family and
/// access token issued to them, administratively at `now`), so their clients
/// can neither refresh nor call the resource again (issue 10).
pub async fn users_remove<S: Store>(
    store: &S,
    username: &str,
    now: UnixTime,
    out: &mut impl Write,
) -> Result<(), ServerError> {
    let subject = parse_username(username)?;
    if !store.remove_user(&subject, now).await? {
        return Err(ServerError::UserUnknown(username.to_owned()));
    }
    writeln!(out, "removed user {username} and revoked their grants")?;
    Ok(())
}

/// `latchkey clients list`: id, kind, whether it may introspect, name and
/// redirect URIs, one client per line, tab-separated. The introspection
/// column says `introspect` when the client's record allows it (`clients add
/// --introspect`), `introspect (introspection_clients)` when only the
/// setting `introspection_clients` (passed as `configured`) lists it, `-`
/// otherwise; either way only a confidential client is let in.
pub async fn clients_list<S: Store>(
    store: &S,
    configured: &[String],
    out: &mut impl Write,
) -> Result<(), ServerError> {
    let clients = store.list_clients().await?;
    if clients.is_empty() {
        writeln!(out, "no clients")?;
    }
    for client in clients {
        let field = |name: &str| {
            client
                .metadata
                .get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let redirects: Vec<&str> = client
            .metadata
            .get("redirect_uris")
            .and_then(serde_json::Value::as_array)
            .map(|uris| uris.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        let kind = if client.secret_digest.is_some() {
            "confidential"
        } else {
            "public"
        };
        let introspect = if client.may_introspect {
            "introspect"
        } else if configured.iter().any(|id| id == client.client_id.as_str()) {
            "introspect (introspection_clients)"
        } else {
            "-"
        };
        writeln!(
            out,
            "{}\t{kind}\t{introspect}\t{}\t{}",
            client.client_id.as_str(),
            field("client_name"),
            redirects.join(" ")
        )?;
    }
    Ok(())
}

/// `latchkey clients add`: validates the settings as a registration request
/// (RFC 7591 section 2 rules, redirect URIs per OAuth 2.1 section 2.3.1),
/// stores the client and prints its id, and the secret once for a confidential client.
/// `allowed_scopes` are the scopes of the configured resources.
///
/// `introspect` stores the permission to call `/introspect` with the client
/// (RFC 7662 section 2.1: the server authorizes the caller), which neither a
/// restart nor a configuration change takes away; it is refused for a public
/// client, which cannot authenticate. Only this command grants it: dynamic
/// registration, RFC 7592 updates and client ID metadata documents never do.
pub async fn clients_add<S: Store>(
    store: &S,
    new: &NewClient,
    allowed_scopes: &Scope,
    now: UnixTime,
    rng: &mut impl CryptoRng,
    out: &mut impl Write,
) -> Result<ClientId, ServerError> {
    let client_id = match &new.client_id {
        Some(id) => {
            ClientId::parse(id).map_err(|_| ServerError::ClientInvalid("client id".to_owned()))?
        }
        None => {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            ClientId::parse(&Base64UrlUnpadded::encode_string(&bytes))
                .map_err(|_| ServerError::ClientInvalid("client id".to_owned()))?
        }
    };
    if store.client(&client_id).await?.is_some() {
        return Err(ServerError::ClientExists(client_id.as_str().to_owned()));
    }
    // RFC 9700 section 4.15.1, the other way round: a chosen client id that
    // names a user.
    if let Ok(subject) = Subject::parse(client_id.as_str())
        && store.user(&subject).await?.is_some()
    {
        return Err(ServerError::NameIsClientId(client_id.as_str().to_owned()));
    }
    let mut body = serde_json::Map::new();
    body.insert(
        "redirect_uris".to_owned(),
        serde_json::json!(new.redirect_uris),
    );
    body.insert(
        "token_endpoint_auth_method".to_owned(),
        serde_json::json!(new.auth_method),
    );
    let mut grants = Vec::new();
    if !new.redirect_uris.is_empty() {
        grants.extend(["authorization_code", "refresh_token"]);
    }
    if new.client_credentials {
        grants.push("client_credentials");
    }
    body.insert("grant_types".to_owned(), serde_json::json!(grants));
    if let Some(name) = &new.name {
        body.insert("client_name".to_owned(), serde_json::json!(name));
    }
    if let Some(scope) = &new.scope {
        body.insert("scope".to_owned(), serde_json::json!(scope));
    }
    let body =
        serde_json::to_vec(&body).map_err(|_| ServerError::ClientInvalid("settings".to_owned()))?;
    let validated = validate_registration(&body, &admin_policy(allowed_scopes))
        .map_err(|error| ServerError::ClientInvalid(error.to_string()))?;
    let public = validated.metadata().token_endpoint_auth_method() == TokenEndpointAuthMethod::None;
    if public && new.introspect {
        return Err(ServerError::ClientInvalid(
            "--introspect needs a confidential client (--auth-method client_secret_basic or \
             client_secret_post): a public client cannot authenticate, and RFC 7662 section 2.1 \
             lets only an authenticated, authorized caller introspect"
                .to_owned(),
        ));
    }
    let metadata = match serde_json::to_value(validated.metadata()) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(ServerError::ClientInvalid("metadata".to_owned())),
    };
    let secret = (!public).then(|| SecretString::generate(rng, 32));
    let record = ClientRecord {
        client_id: client_id.clone(),
        metadata,
        secret_digest: secret.as_ref().map(SecretString::digest),
        secret_expires_at: None,
        registration_token_digest: None,
        fingerprint: None,
        issued_at: now,
        // An administrator's client is never purged as unused.
        first_used_at: Some(now),
        may_introspect: new.introspect,
    };
    match store.register_client(&record, u64::MAX).await? {
        Registered::Inserted => {}
        Registered::Existing(_) | Registered::CapReached => {
            return Err(ServerError::ClientExists(client_id.as_str().to_owned()));
        }
    }
    writeln!(out, "client_id: {}", client_id.as_str())?;
    if let Some(secret) = secret {
        writeln!(
            out,
            "client_secret: {} (shown once; store it now)",
            secret.expose_secret()
        )?;
    }
    if new.introspect {
        writeln!(out, "may introspect tokens at /introspect")?;
    }
    Ok(client_id)
}

/// `latchkey clients remove ID`: deletes the client and revokes its tokens.
pub async fn clients_remove<S: Store>(
    store: &S,
    client_id: &str,
    now: UnixTime,
    out: &mut impl Write,
) -> Result<(), ServerError> {
    let id =
        ClientId::parse(client_id).map_err(|_| ServerError::ClientUnknown(client_id.to_owned()))?;
    if !store.delete_client(&id, now).await? {
        return Err(ServerError::ClientUnknown(client_id.to_owned()));
    }
    writeln!(out, "removed client {client_id} and revoked its tokens")?;
    Ok(())
}

/// `latchkey clients purge`: deletes the dynamically registered clients that
/// were registered more than `ttl` before `now` and never obtained a token
/// (as `latchkey serve` does on a schedule, see [`crate::purge`]), and says
/// how many went. With registration off (`ttl` is `None`) there is nothing to do.
pub async fn clients_purge<S: Store>(
    store: &S,
    ttl: Option<std::time::Duration>,
    now: UnixTime,
    out: &mut impl Write,
) -> Result<u64, ServerError> {
    let Some(ttl) = ttl else {
        writeln!(
            out,
            "dynamic client registration is off: no registered client is purged"
        )?;
        return Ok(0);
    };
    let purged = crate::purge::purge_unused_clients(store, ttl, now).await?;
    writeln!(
        out,
        "purged {purged} registered client(s) that obtained no token within {} hours",
        ttl.as_secs() / 3600
    )?;
    Ok(purged)
}

/// `latchkey keys list`: kid, algorithm, status and creation time.
pub async fn keys_list<S: Store>(store: &S, out: &mut impl Write) -> Result<(), ServerError> {
    let keys = store.signing_keys().await?;
    if keys.is_empty() {
        writeln!(out, "no keys (one is created on the first start)")?;
    }
    for key in keys {
        let status = match key.status {
            KeyStatus::Active => "active",
            KeyStatus::VerifyOnly => "verify-only",
            KeyStatus::Retired => "retired",
        };
        writeln!(
            out,
            "{}\t{}\t{status}\tcreated {}",
            key.kid,
            key.algorithm,
            key.created_at.as_secs()
        )?;
    }
    Ok(())
}

/// `latchkey keys rotate`: a new active signing key; the old one keeps
/// verifying the tokens it signed.
pub async fn keys_rotate<S: Store, F: MetadataFetcher>(
    engine: &Engine<S, F>,
    now: UnixTime,
    rng: &mut impl CryptoRng,
    out: &mut impl Write,
) -> Result<(), ServerError> {
    let kid = engine
        .rotate_signing_key(now, rng)
        .await
        .map_err(ServerError::Engine)?;
    writeln!(
        out,
        "new active key {kid}; restart the server to sign with it"
    )?;
    Ok(())
}

fn parse_username(username: &str) -> Result<Subject, ServerError> {
    let valid = !username.is_empty()
        && username.len() <= 64
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if !valid {
        return Err(ServerError::UsernameInvalid(username.to_owned()));
    }
    Subject::parse(username).map_err(|_| ServerError::UsernameInvalid(username.to_owned()))
}

fn admin_policy(allowed_scopes: &Scope) -> RegistrationPolicy {
    let mut policy = RegistrationPolicy::strict_default();
    policy.grant_types.push(GrantType::ClientCredentials);
    policy.allowed_scopes = allowed_scopes.clone();
    policy
}

#[cfg(test)]
mod tests {
    use latchkey_engine::{EngineConfig, NoMetadataFetcher};
    use latchkey_store::{ClientStore, KeyStore, UserStore};
    use latchkey_store_sqlite::SqliteStore;
    use latchkey_uri::ResourceUri;
    use rand_core::SeedableRng;

    use super::*;
    use crate::testing::temp_path;

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

    async fn store() -> (SqliteStore, std::path::PathBuf) {
        let path = temp_path("admin.db");
        (SqliteStore::open(&path).await.unwrap(), path)
    }

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(7)
    }

    fn scopes() -> Scope {
        Scope::parse("mcp:tools mcp:read").unwrap()
    }

    fn text(out: Vec<u8>) -> String {
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn users_add_list_remove() {
        let (store, _path) = store().await;
        let mut out = Vec::new();
        let password = SecretString::new("correct horse battery".to_owned());
        users_add(&store, "alice", Some(password), NOW, &mut rng(), &mut out)
            .await
            .unwrap();
        assert_eq!(text(out), "added user alice\n");
        let user = store
            .user(&Subject::parse("alice").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(user.password_hash.starts_with("$argon2id$"));
        assert!(password::verify(
            "correct horse battery",
            &user.password_hash
        ));

        let mut out = Vec::new();
        users_add(&store, "bob", None, NOW, &mut rng(), &mut out)
            .await
            .unwrap();
        let printed = text(out);
        let generated = printed
            .lines()
            .nth(1)
            .and_then(|line| line.strip_prefix("password: "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap()
            .to_owned();
        let bob = store
            .user(&Subject::parse("bob").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(password::verify(&generated, &bob.password_hash));

        let mut out = Vec::new();
        users_list(&store, &mut out).await.unwrap();
        assert_eq!(
            text(out),
            format!("alice\tadded {0}\nbob\tadded {0}\n", NOW.as_secs())
        );

        let mut out = Vec::new();
        users_remove(&store, "alice", NOW, &mut out).await.unwrap();
        assert_eq!(text(out), "removed user alice and revoked their grants\n");
        assert!(
            store
                .user(&Subject::parse("alice").unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn users_errors() {
        let (store, _path) = store().await;
        let password = || Some(SecretString::new("correct horse battery".to_owned()));
        let mut out = Vec::new();
        users_add(&store, "alice", password(), NOW, &mut rng(), &mut out)
            .await
            .unwrap();
        assert!(matches!(
            users_add(&store, "alice", password(), NOW, &mut rng(), &mut out).await,
            Err(ServerError::UserExists(_))
        ));
        assert!(matches!(
            users_add(&store, "a b", password(), NOW, &mut rng(), &mut out).await,
            Err(ServerError::UsernameInvalid(_))
        ));
        assert!(matches!(
            users_add(
                &store,
                "carol",
                Some(SecretString::new("short".to_owned())),
                NOW,
                &mut rng(),
                &mut out
            )
            .await,
            Err(ServerError::PasswordTooShort)
        ));
        assert!(matches!(
            users_remove(&store, "nobody", NOW, &mut out).await,
            Err(ServerError::UserUnknown(_))
        ));
    }

    #[tokio::test]
    async fn clients_add_confidential_prints_secret_once_and_stores_digest() {
        let (store, _path) = store().await;
        let new = NewClient {
            client_id: Some("backend".to_owned()),
            name: Some("Backend".to_owned()),
            redirect_uris: vec!["https://app.example/cb".to_owned()],
            auth_method: "client_secret_basic".to_owned(),
            scope: Some("mcp:tools".to_owned()),
            client_credentials: true,
            introspect: false,
        };
        let mut out = Vec::new();
        clients_add(&store, &new, &scopes(), NOW, &mut rng(), &mut out)
            .await
            .unwrap();
        let printed = text(out);
        let secret = printed
            .lines()
            .nth(1)
            .and_then(|line| line.strip_prefix("client_secret: "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap();
        assert!(printed.starts_with("client_id: backend\n"));
        let record = store
            .client(&ClientId::parse("backend").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(record.secret_digest.unwrap().matches(secret.as_bytes()));
        assert_eq!(
            record.metadata["token_endpoint_auth_method"],
            "client_secret_basic"
        );
        assert!(
            record.metadata["grant_types"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("client_credentials"))
        );

        let mut out = Vec::new();
        clients_list(&store, &[], &mut out).await.unwrap();
        assert_eq!(
            text(out),
            "backend\tconfidential\t-\tBackend\thttps://app.example/cb\n"
        );
        assert!(!record.may_introspect);
        let mut out = Vec::new();
        assert!(matches!(
            clients_add(&store, &new, &scopes(), NOW, &mut rng(), &mut out).await,
            Err(ServerError::ClientExists(_))
        ));
    }

    #[tokio::test]
    async fn clients_add_public_has_no_secret() {
        let (store, _path) = store().await;
        let new = NewClient {
            redirect_uris: vec!["http://127.0.0.1/callback".to_owned()],
            auth_method: "none".to_owned(),
            ..NewClient::default()
        };
        let mut out = Vec::new();
        let id = clients_add(&store, &new, &scopes(), NOW, &mut rng(), &mut out)
            .await
            .unwrap();
        assert_eq!(text(out), format!("client_id: {}\n", id.as_str()));
        let record = store.client(&id).await.unwrap().unwrap();
        assert!(record.secret_digest.is_none());
    }

    #[tokio::test]
    async fn clients_add_refuses_bad_settings() {
        let (store, _path) = store().await;
        let mut out = Vec::new();
        // OAuth 2.1 section 2.3.1: http redirect URIs only on loopback hosts.
        let bad_redirect = NewClient {
            redirect_uris: vec!["http://app.example/cb".to_owned()],
            auth_method: "none".to_owned(),
            ..NewClient::default()
        };
        assert!(matches!(
            clients_add(&store, &bad_redirect, &scopes(), NOW, &mut rng(), &mut out).await,
            Err(ServerError::ClientInvalid(_))
        ));
        // client_credentials is for confidential clients only.
        let public_cc = NewClient {
            auth_method: "none".to_owned(),
            client_credentials: true,
            ..NewClient::default()
        };
        assert!(matches!(
            clients_add(&store, &public_cc, &scopes(), NOW, &mut rng(), &mut out).await,
            Err(ServerError::ClientInvalid(_))
        ));
        // A scope no resource offers.
        let unknown_scope = NewClient {
            redirect_uris: vec!["http://127.0.0.1/cb".to_owned()],
            auth_method: "none".to_owned(),
            scope: Some("admin:everything".to_owned()),
            ..NewClient::default()
        };
        assert!(matches!(
            clients_add(&store, &unknown_scope, &scopes(), NOW, &mut rng(), &mut out).await,
            Err(ServerError::ClientInvalid(_))
        ));
        assert!(store.list_clients().await.unwrap().is_empty());
    }

    /// RFC 7662 section 2.1: `--introspect` stores the permission with a
    /// confidential client, and `clients list` shows it, as well as the
    /// clients that only `introspection_clients` lists.
    #[tokio::test]
    async fn rfc_7662_clients_add_introspect_stores_the_permission_and_list_shows_it() {
        let (store, _path) = store().await;
        let confidential = |id: &str, introspect: bool| NewClient {
            client_id: Some(id.to_owned()),
            auth_method: "client_secret_basic".to_owned(),
            client_credentials: true,
            introspect,
            ..NewClient::default()
        };
        let mut out = Vec::new();
        clients_add(
            &store,
            &confidential("rs-1", true),
            &scopes(),
            NOW,
            &mut rng(),
            &mut out,
        )
        .await
        .unwrap();
        let printed = text(out);
        assert!(printed.starts_with("client_id: rs-1\nclient_secret: "));
        assert!(printed.ends_with("\nmay introspect tokens at /introspect\n"));
        let record = store
            .client(&ClientId::parse("rs-1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(record.may_introspect);
        for id in ["rs-2", "plain"] {
            let mut out = Vec::new();
            clients_add(
                &store,
                &confidential(id, false),
                &scopes(),
                NOW,
                &mut rng(),
                &mut out,
            )
            .await
            .unwrap();
            assert!(!text(out).contains("introspect"));
        }

        let mut out = Vec::new();
        clients_list(&store, &["rs-2".to_owned()], &mut out)
            .await
            .unwrap();
        assert_eq!(
            text(out),
            "plain\tconfidential\t-\t\t\n\
             rs-1\tconfidential\tintrospect\t\t\n\
             rs-2\tconfidential\tintrospect (introspection_clients)\t\t\n"
        );
    }

    /// RFC 7662 section 2.1: a public client cannot authenticate, so
    /// `--introspect` on one is refused, saying why, and nothing is stored.
    #[tokio::test]
    async fn rfc_7662_clients_add_introspect_refuses_a_public_client() {
        let (store, _path) = store().await;
        let public = NewClient {
            client_id: Some("spa".to_owned()),
            redirect_uris: vec!["http://127.0.0.1/cb".to_owned()],
            auth_method: "none".to_owned(),
            introspect: true,
            ..NewClient::default()
        };
        let mut out = Vec::new();
        let refused = clients_add(&store, &public, &scopes(), NOW, &mut rng(), &mut out).await;
        let Err(ServerError::ClientInvalid(reason)) = refused else {
            panic!("expected ClientInvalid, got {refused:?}");
        };
        assert!(
            reason.starts_with("--introspect needs a confidential client"),
            "{reason}"
        );
        assert!(out.is_empty());
        assert!(store.list_clients().await.unwrap().is_empty());
    }

    /// RFC 9700 section 4.15.1: user names and client ids never share a value,
    /// whichever is created first.
    #[tokio::test]
    async fn rfc_9700_section_4_15_user_names_and_client_ids_stay_apart() {
        let (store, _path) = store().await;
        let password = || Some(SecretString::new("correct horse battery".to_owned()));
        let mut out = Vec::new();
        let confidential = |id: &str| NewClient {
            client_id: Some(id.to_owned()),
            auth_method: "client_secret_basic".to_owned(),
            client_credentials: true,
            ..NewClient::default()
        };
        clients_add(
            &store,
            &confidential("reporting-bot"),
            &scopes(),
            NOW,
            &mut rng(),
            &mut out,
        )
        .await
        .unwrap();
        assert!(matches!(
            users_add(
                &store,
                "reporting-bot",
                password(),
                NOW,
                &mut rng(),
                &mut out
            )
            .await,
            Err(ServerError::NameIsClientId(_))
        ));
        assert!(
            store
                .user(&Subject::parse("reporting-bot").unwrap())
                .await
                .unwrap()
                .is_none()
        );
        users_add(&store, "alice", password(), NOW, &mut rng(), &mut out)
            .await
            .unwrap();
        assert!(matches!(
            clients_add(
                &store,
                &confidential("alice"),
                &scopes(),
                NOW,
                &mut rng(),
                &mut out
            )
            .await,
            Err(ServerError::NameIsClientId(_))
        ));
        assert!(
            store
                .client(&ClientId::parse("alice").unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn clients_remove_deletes() {
        let (store, _path) = store().await;
        let new = NewClient {
            client_id: Some("gone".to_owned()),
            redirect_uris: vec!["http://127.0.0.1/cb".to_owned()],
            auth_method: "none".to_owned(),
            ..NewClient::default()
        };
        let mut out = Vec::new();
        clients_add(&store, &new, &scopes(), NOW, &mut rng(), &mut out)
            .await
            .unwrap();
        let mut out = Vec::new();
        clients_remove(&store, "gone", NOW, &mut out).await.unwrap();
        assert_eq!(text(out), "removed client gone and revoked its tokens\n");
        assert!(store.list_clients().await.unwrap().is_empty());
        assert!(matches!(
            clients_remove(&store, "gone", NOW, &mut Vec::new()).await,
            Err(ServerError::ClientUnknown(_))
        ));
    }

    #[tokio::test]
    async fn keys_list_and_rotate() {
        let (store, _path) = store().await;
        let mut out = Vec::new();
        keys_list(&store, &mut out).await.unwrap();
        assert_eq!(text(out), "no keys (one is created on the first start)\n");

        let store = std::sync::Arc::new(store);
        let config = EngineConfig::new(
            "http://127.0.0.1:8080",
            ResourceUri::parse("http://127.0.0.1:8080/mcp").unwrap(),
        )
        .unwrap();
        let mut rng = rng();
        let secrets = latchkey_engine::EngineSecrets {
            rotation_key: latchkey_token::refresh::RotationKey::generate(&mut rng),
            key_wrap_key: None,
            nonce_key: latchkey_dpop::NonceKey::generate(&mut rng),
        };
        let engine = Engine::new(
            std::sync::Arc::clone(&store),
            config,
            secrets,
            NoMetadataFetcher,
            NOW,
            &mut rng,
        )
        .await
        .unwrap();
        let first = store.signing_keys().await.unwrap();
        assert_eq!(first.len(), 1);
        let mut out = Vec::new();
        keys_rotate(&engine, NOW, &mut rng, &mut out).await.unwrap();
        assert!(text(out).starts_with("new active key "));
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        let old = keys.iter().find(|k| k.kid == first[0].kid).unwrap();
        assert_eq!(old.status, KeyStatus::VerifyOnly);
        assert_eq!(
            keys.iter()
                .filter(|k| k.status == KeyStatus::Active)
                .count(),
            1
        );
        let mut out = Vec::new();
        keys_list(store.as_ref(), &mut out).await.unwrap();
        let listing = text(out);
        assert_eq!(listing.lines().count(), 2);
        assert!(listing.contains("\tES256\tactive\t"));
        assert!(listing.contains("\tES256\tverify-only\t"));
    }
}
