//! The records stores keep besides codes and refresh families.

use core::fmt;

use latchkey_token::refresh::{FamilyId, RefreshFamily};
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::ResourceUri;
use zeroize::Zeroizing;

/// A registered client (RFC 7591 section 3.2.1), as stored.
///
/// The metadata is the validated registration as a JSON object; the secrets
/// (client secret, registration access token) are only their digests.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientRecord {
    /// The client identifier.
    pub client_id: ClientId,
    /// The registered metadata (RFC 7591 section 2), validated before it was stored.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// SHA-256 of the client secret, for confidential clients.
    pub secret_digest: Option<TokenDigest>,
    /// When the client secret expires (`None`: never; RFC 7591 `client_secret_expires_at: 0`).
    pub secret_expires_at: Option<UnixTime>,
    /// SHA-256 of the RFC 7592 registration access token.
    pub registration_token_digest: Option<TokenDigest>,
    /// The canonical-metadata fingerprint of an idempotently registered public client.
    pub fingerprint: Option<TokenDigest>,
    /// When the client was registered (`client_id_issued_at`).
    pub issued_at: UnixTime,
    /// When the client first obtained a token; `None` if never.
    pub first_used_at: Option<UnixTime>,
    /// Whether the client may call the introspection endpoint (RFC 7662
    /// section 2.1: the server authorizes the caller). Only an administrator
    /// grants it (`latchkey clients add --introspect`); registration
    /// (RFC 7591) stores `false`, and
    /// [`ClientStore::replace_client`](crate::ClientStore::replace_client),
    /// the RFC 7592 update path, keeps the stored value whatever it is given.
    pub may_introspect: bool,
}

/// What [`ClientStore::register_client`](crate::ClientStore::register_client) did.
#[derive(Clone, Debug, PartialEq)]
pub enum Registered {
    /// The client was stored.
    Inserted,
    /// A client with the same fingerprint existed; it is returned and nothing was stored.
    Existing(Box<ClientRecord>),
    /// The client cap was reached; nothing was stored.
    CapReached,
}

/// What [`GrantStore::rotate_family`](crate::GrantStore::rotate_family) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotated {
    /// The rotation was stored.
    Applied,
    /// Another rotation or a revocation got there first; this is the family now
    /// (`None` if it no longer exists). Nothing was stored.
    Lost(Option<Box<RefreshFamily>>),
}

/// A refresh family started by a token response, for
/// [`GrantStore::record_issuance`](crate::GrantStore::record_issuance).
#[derive(Clone, Copy, Debug)]
pub struct NewFamily<'a> {
    /// The family, at generation 0.
    pub family: &'a RefreshFamily,
    /// The authorization code it was issued for, if any (its tombstone revokes it).
    pub from_code: Option<&'a TokenDigest>,
}

/// An issued access token, recorded for revocation and introspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// The token's `jti` claim.
    pub jti: String,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The resource owner, absent for `client_credentials`.
    pub subject: Option<Subject>,
    /// The refresh family it was issued under, if any.
    pub family: Option<FamilyId>,
    /// The code it was issued from, if any.
    pub from_code: Option<TokenDigest>,
    /// Its `exp` claim.
    pub expires_at: UnixTime,
    /// Whether it has been revoked.
    pub revoked: bool,
}

/// What [`GrantStore::revoke_code_grant`](crate::GrantStore::revoke_code_grant) revoked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevokedGrant {
    /// Refresh families revoked.
    pub families: u64,
    /// Access tokens revoked.
    pub access_tokens: u64,
    /// When the redemption that consumed the code was refused
    /// ([`GrantStore::mark_redemption_failed`](crate::GrantStore::mark_redemption_failed)),
    /// if it was: then nothing was ever issued from the code.
    pub failed_redemption_at: Option<UnixTime>,
}

/// What a user consented to for a client and one set of resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The resources approved together, as [`consent_resource_set`] orders them.
    pub resources: Vec<ResourceUri>,
    /// Every scope approved for these resources so far.
    pub scope: Scope,
    /// Whether the user chose to remember this consent for a request whose
    /// redirect URI was loopback (any local program can listen there).
    pub loopback_redirect: bool,
    /// When consent was last given.
    pub updated_at: UnixTime,
}

impl ConsentRecord {
    /// Whether this approval covers a request for `resources` and `scope`
    /// whose redirect URI is loopback or not (`loopback_redirect`): every
    /// requested resource is among the approved ones, every requested scope
    /// token was approved for them, and a loopback request is covered only by
    /// an approval remembered for a loopback request. One approval must cover
    /// all of it; two approvals are never combined.
    pub fn covers(
        &self,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
    ) -> bool {
        (self.loopback_redirect || !loopback_redirect)
            && resources.iter().all(|r| self.resources.contains(r))
            && scope.is_subset(&self.scope)
    }
}

/// The key a consent is stored under: the resources sorted, without repeats,
/// so the same set always has the same key whatever order it came in.
pub fn consent_resource_set(resources: &[ResourceUri]) -> Vec<ResourceUri> {
    let mut set = resources.to_vec();
    set.sort();
    set.dedup();
    set
}

/// Whether a signing key signs, only verifies, or is kept for the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// The one key that signs new tokens.
    Active,
    /// A former signing key whose tokens still verify.
    VerifyOnly,
    /// A key that no longer verifies anything.
    Retired,
}

impl KeyStatus {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::VerifyOnly => "verify_only",
            KeyStatus::Retired => "retired",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(KeyStatus::Active),
            "verify_only" => Some(KeyStatus::VerifyOnly),
            "retired" => Some(KeyStatus::Retired),
            _ => None,
        }
    }
}

/// A signing key at rest: its PKCS#8 document, or that document sealed by the
/// engine's key wrap key (`latchkey_jose::KeyWrapKey`); it zeroizes on drop
/// and never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id (`kid`).
    pub kid: String,
    /// The JWS algorithm (`ES256`, `EdDSA`).
    pub algorithm: String,
    /// The private key: PKCS#8 DER, or sealed (`latchkey_jose::is_sealed`).
    pub pkcs8: Zeroizing<Vec<u8>>,
    /// Its status.
    pub status: KeyStatus,
    /// When it was created.
    pub created_at: UnixTime,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A resource owner who can log in.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The login name, also the `sub` of the tokens issued for them.
    pub username: Subject,
    /// An argon2id hash in PHC string format; never the password.
    pub password_hash: String,
    /// When the user was added.
    pub created_at: UnixTime,
    /// For a person who signs in through an identity provider, who they are
    /// there (display only: the name is the identity); `None` for a local user.
    pub upstream: Option<UpstreamAttributes>,
}

/// What a user record keeps of a person who signed in through an identity
/// provider, for the consent page and `latchkey users list`. Never used to
/// identify them: the user name (`{provider}:{subject}`) does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamAttributes {
    /// The provider's id.
    pub provider: String,
    /// The person's name, as the provider gave it.
    pub name: Option<String>,
    /// The person's email address, as the provider gave it.
    pub email: Option<String>,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}
