#![doc = include_str!("../README.md")]

mod memory;
mod records;

#[cfg(feature = "conformance")]
pub mod conformance;

use std::future::Future;
use std::time::Duration;

pub use latchkey_token::code::{CodeRecord, Consumption};
pub use latchkey_token::refresh::{FamilyId, RefreshFamily};
use latchkey_types::{ClientId, ErrorCode, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::ResourceUri;
pub use memory::MemoryStore;
pub use records::{
    AccessTokenRecord, ClientRecord, ConsentRecord, KeyStatus, NewFamily, Registered, RevokedGrant,
    Rotated, StoredKey, UpstreamAttributes, UserRecord, consent_resource_set,
};

/// How long after its expiry a code revoked by
/// [`GrantStore::revoke_code_grant`] is kept (as a tombstone) before
/// [`GrantStore::purge_expired`] deletes it.
///
/// A redemption stores its family and access token after it consumed the
/// code, so a replay's revocation can land between the two. The tombstone makes
/// those late inserts arrive revoked; it must outlive every redemption still in
/// flight, and a redemption that consumed the code before expiry and takes
/// longer than this margin to store its tokens is not covered.
pub const CODE_TOMBSTONE_MARGIN: Duration = Duration::from_secs(600);

/// Registered clients (RFC 7591, RFC 7592).
pub trait ClientStore: Send + Sync {
    /// The client with this id, if registered.
    fn client(
        &self,
        client_id: &ClientId,
    ) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send;

    /// Registers `client` in one atomic step: if it carries a fingerprint and a
    /// client with the same fingerprint exists, that client is returned instead
    /// (idempotent registration of public clients); otherwise, if `max_clients`
    /// are already registered, nothing is stored; otherwise it is inserted.
    /// (The engine registers without a fingerprint, so each of its
    /// registrations is a client of its own; clients stored with one keep it.)
    fn register_client(
        &self,
        client: &ClientRecord,
        max_clients: u64,
    ) -> impl Future<Output = Result<Registered, StoreError>> + Send;

    /// Replaces the stored metadata of an existing client (RFC 7592 section 2.2);
    /// `false` if there is no such client. The stored
    /// [`ClientRecord::may_introspect`] is kept, whatever `client` says: no
    /// update grants or withdraws the administrator's permission.
    fn replace_client(
        &self,
        client: &ClientRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes a client (RFC 7592 section 2.3), revoking its refresh families
    /// and access tokens in the same step; `false` if there was no such client.
    fn delete_client(
        &self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Notes that the client obtained a token, so it is never purged as unused.
    fn mark_client_used(
        &self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes at most `limit` dynamically registered clients that were
    /// issued before `issued_before` and never used; returns how many. A
    /// caller purging everything calls again until fewer than `limit` come
    /// back, so one call never holds the store for long.
    fn purge_unused_clients(
        &self,
        issued_before: UnixTime,
        limit: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Every registered client, ordered by client id.
    fn list_clients(&self) -> impl Future<Output = Result<Vec<ClientRecord>, StoreError>> + Send;
}

/// Codes, refresh families and issued access tokens.
pub trait GrantStore: Send + Sync {
    /// Stores a freshly issued code (by digest). A digest collision is
    /// [`StoreError::Duplicate`].
    fn insert_code(
        &self,
        record: &CodeRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Consumes the code with this digest, atomically: of any number of
    /// concurrent callers exactly one gets [`Consumption::First`]; the rest get
    /// [`Consumption::AlreadyConsumed`] with the record, so the engine can tell a
    /// replay from an unknown code.
    fn consume_code(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Consumption, StoreError>> + Send;

    /// Stores a new refresh family, indexed by its current token digest, and
    /// remembers the code it came from (if any) for [`Self::revoke_code_grant`].
    ///
    /// If that code was already revoked by [`Self::revoke_code_grant`] (its
    /// tombstone exists), the family is stored revoked, reason
    /// `CodeReplay` at the tombstone's time, atomically with respect to
    /// `revoke_code_grant`: a replay racing the first redemption never leaves
    /// an active family behind (OAuth 2.1 section 4.1.3).
    fn insert_family(
        &self,
        family: &RefreshFamily,
        from_code: Option<&TokenDigest>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The family that ever issued a token with this digest (current or rotated).
    fn family_by_token(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<RefreshFamily>, StoreError>> + Send;

    /// Stores `next` only if the stored family is active and its generation is
    /// `next.generation() - 1`, indexing the new current digest in the same step.
    fn rotate_family(
        &self,
        next: &RefreshFamily,
    ) -> impl Future<Output = Result<Rotated, StoreError>> + Send;

    /// Stores the revoked family and revokes every access token recorded under
    /// it, in one step. Revoking an already revoked family keeps its first reason.
    fn revoke_family(
        &self,
        revoked: &RefreshFamily,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records an issued access token so it can be revoked and introspected.
    ///
    /// The token is stored revoked if its `from_code` was revoked by
    /// [`Self::revoke_code_grant`] or its `family` is revoked, atomically with
    /// respect to those revocations: a token whose grant was revoked while it
    /// was being issued never lands active.
    fn record_access_token(
        &self,
        token: &AccessTokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores what one token response issued, all or nothing: the refresh
    /// family it started, if any (as [`Self::insert_family`], with the same
    /// tombstone rule), and the access token (as [`Self::record_access_token`]).
    /// On an error neither is stored. One step instead of two, so a backend
    /// can make it one round trip (OAuth 2.1 section 4.1.3).
    fn record_issuance(
        &self,
        family: Option<NewFamily<'_>>,
        token: &AccessTokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`Self::rotate_family`] and, only if the rotation applied, the access
    /// token issued with it (as [`Self::record_access_token`]), all or nothing
    /// (OAuth 2.1 section 4.3.1). A lost rotation stores no token.
    fn rotate_family_with_token(
        &self,
        next: &RefreshFamily,
        token: &AccessTokenRecord,
    ) -> impl Future<Output = Result<Rotated, StoreError>> + Send;

    /// The recorded access token with this `jti`.
    fn access_token(
        &self,
        jti: &str,
    ) -> impl Future<Output = Result<Option<AccessTokenRecord>, StoreError>> + Send;

    /// Revokes one access token (RFC 7009 section 2.1); `false` if unknown.
    fn revoke_access_token(
        &self,
        jti: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes everything issued from the code with this digest: its refresh
    /// families and access tokens (OAuth 2.1 section 4.1.3), in one step.
    ///
    /// The answer also says whether the code's consuming redemption was
    /// refused ([`Self::mark_redemption_failed`]).
    ///
    /// It also leaves a tombstone on the code (kept until
    /// [`CODE_TOMBSTONE_MARGIN`] after the code's expiry), so that a family or
    /// access token of this code stored afterwards, by a redemption that
    /// consumed the code before this call, is stored already revoked (see
    /// [`Self::insert_family`] and [`Self::record_access_token`]).
    fn revoke_code_grant(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> impl Future<Output = Result<RevokedGrant, StoreError>> + Send;

    /// Notes, at `now`, that the redemption which consumed the code with this
    /// digest (the caller that got [`Consumption::First`]) was refused, so
    /// nothing was or ever will be issued from the code. A later
    /// [`Self::revoke_code_grant`] reports it
    /// ([`RevokedGrant::failed_redemption_at`]), so that presenting the code
    /// again is told apart from replaying a successful redemption. The first
    /// mark stays; an unknown code is no error.
    fn mark_redemption_failed(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes at most `limit` records that expired before `now`, in all:
    /// codes, refresh families and the digests of every token they issued
    /// (each digest a record of its own, deleted before its family, so a
    /// long-lived family's thousands of rotated digests never go in one
    /// step), access-token records and one-time identifiers of the
    /// [`ReplayStore`]; returns how many went. A code revoked by [`Self::revoke_code_grant`]
    /// stays until [`CODE_TOMBSTONE_MARGIN`] after its expiry. Nothing that
    /// has not expired is deleted.
    ///
    /// A caller purging everything calls again until fewer than `limit` come
    /// back (then nothing expired is left), so that one call is one short
    /// write, never a long hold on the store however large the backlog.
    fn purge_expired(
        &self,
        now: UnixTime,
        limit: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Consent remembered per user, client and set of resources, with the scope
/// approved for that set.
///
/// A remembered consent lets the authorization endpoint skip the consent page,
/// so it must never cover more than the user was shown: a request is covered
/// only by an approval of the same client by the same user for a resource set
/// that holds every requested resource, with every requested scope token
/// approved for that set ([`ConsentRecord::covers`]). A request whose
/// redirect URI is loopback is covered only by an approval remembered for a
/// loopback request: any local program can claim a loopback port, so the
/// user must have chosen to remember such a consent.
///
/// Bound: at most two rows (loopback or not) per user, client and distinct
/// resource set the user approved, each recorded only from a consent
/// decision the user made.
pub trait ConsentStore: Send + Sync {
    /// Whether one remembered approval by `subject` of `client_id` covers a
    /// request for `resources` with `scope`, whose redirect URI is loopback
    /// or not ([`ConsentRecord::covers`]).
    fn consent_covers(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records that `subject` approved `client_id` for `resources` (as a set,
    /// [`consent_resource_set`]) with `scope`, for a request whose redirect
    /// URI was loopback or not; the scope is added to what was already
    /// approved for exactly that set and kind of redirect, in one atomic step.
    fn remember_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
        now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets every consent of `subject` for `client_id`; `false` if none.
    fn forget_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The authorization server's signing keys.
pub trait KeyStore: Send + Sync {
    /// Every stored key, oldest first.
    fn signing_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send;

    /// Stores a new key; a duplicate `kid` is [`StoreError::Duplicate`].
    fn insert_key(&self, key: &StoredKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Makes `kid` the one active key, demoting the previous active key to
    /// [`KeyStatus::VerifyOnly`], in one step; `false` if `kid` is unknown.
    fn activate_key(&self, kid: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Retires a verify-only key; `false` if `kid` is unknown or active.
    fn retire_key(&self, kid: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Resource owners who log in at the authorization endpoint.
pub trait UserStore: Send + Sync {
    /// The user with this name.
    fn user(
        &self,
        username: &Subject,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// Adds a user; `false` if the name is taken.
    fn insert_user(
        &self,
        user: &UserRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes a user and their consents, and revokes their grants in the
    /// same step: every refresh family whose subject is `username`
    /// ([`RevocationReason::Administrative`](latchkey_token::refresh::RevocationReason::Administrative),
    /// at `now`) and every access token issued to them (RFC 7009 section 2.1:
    /// revoking a grant invalidates its tokens). `false` if there was no such
    /// user, and then nothing is revoked.
    fn remove_user(
        &self,
        username: &Subject,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores `user` (which has [`UserRecord::upstream`]) as a person signing
    /// in through an identity provider: added when absent, or its upstream
    /// attributes replaced when the name already belongs to such a user.
    /// `false`, and nothing changed, when a local (password) user holds the
    /// name: an upstream sign-in never takes over a local account.
    fn upsert_upstream_user(
        &self,
        user: &UserRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every user, ordered by name.
    fn list_users(&self) -> impl Future<Output = Result<Vec<UserRecord>, StoreError>> + Send;
}

/// One-time identifiers (DPoP proof `jti`, client assertion `jti`).
pub trait ReplayStore: Send + Sync {
    /// Remembers `key` until `expires_at`; `false` if it is already remembered
    /// and not expired at `now` (a replay). Atomic across concurrent callers.
    fn remember_once(
        &self,
        key: &[u8; 32],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Everything the engine needs from storage.
pub trait Store:
    ClientStore + GrantStore + ConsentStore + KeyStore + UserStore + ReplayStore
{
}

impl<T> Store for T where
    T: ClientStore + GrantStore + ConsentStore + KeyStore + UserStore + ReplayStore
{
}

/// Why a store operation failed. None of these carry a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or answered with an error.
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored row could not be read back into a record.
    #[error("stored {what} is corrupt")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
    },
    /// A record with the same key already exists.
    #[error("record already exists")]
    Duplicate,
}

impl From<&StoreError> for ErrorCode {
    fn from(error: &StoreError) -> Self {
        match error {
            StoreError::Backend(_) => ErrorCode::TemporarilyUnavailable,
            StoreError::Corrupt { .. } | StoreError::Duplicate => ErrorCode::ServerError,
        }
    }
}
