//! Refresh-token families (OAuth 2.1 sections 4.3 and 4.3.1, RFC 9700 section
//! 4.14.2; MCP requirement A10): a pure state machine that the store applies
//! with compare-and-set.
//!
//! A family is everything one authorization grant's refresh tokens share. The
//! store keeps a [`RefreshFamily`] (digests only, never a token) and indexes it
//! by the digest of every token the family ever issued, for the family's whole
//! lifetime, so that an old token still finds its family and can be recognised
//! as reuse. Presenting a token yields a [`RefreshDecision`]:
//!
//! - the **current** token, by the right client (and DPoP key when bound),
//!   rotates: a new token, `generation + 1`, and the presented one becomes
//!   the "previous" token ([`RefreshDecision::Rotate`]; OAuth 2.1 section 4.3.1);
//! - the **previous** token, by the same client and key, strictly within
//!   the retry window of its rotation, is a retry of a response the client
//!   lost: it gets the very same successor again ([`RefreshDecision::Retry`])
//!   and nothing changes in the store. The window is
//!   [`RefreshPolicy::retry_window`] only where the retry proves possession of
//!   something besides the token: a DPoP-bound family (the proof's key) or a
//!   client that authenticated (its secret or assertion). For a public client
//!   without DPoP anyone holding the token could present it, so the window is
//!   [`RefreshPolicy::public_client_retry_window`], zero by default: a
//!   consumed token presented again revokes the family at once, instead of
//!   handing a thief the same successor (RFC 9700 section 4.14.2);
//! - any other presentation of a rotated token (another client, another key,
//!   too late, or a token older than the previous one) is reuse: the whole family
//!   is revoked ([`RefreshDecision::Reuse`]; OAuth 2.1 section 4.3.1, RFC 9700
//!   section 4.14.2), and the engine revokes the access tokens it issued and
//!   logs a security event;
//! - a revoked family stays revoked, and nothing is accepted at or after the
//!   family's absolute expiry ([`RefreshError::FamilyRevoked`], [`RefreshError::FamilyExpired`]).
//!
//! Scope and resources may narrow on a refresh request, never widen (OAuth 2.1
//! section 4.3.1, RFC 8707 section 2.2); the family keeps the full grant, so a
//! later request may ask for the full grant again.
//!
//! ```
//! use latchkey_token::refresh::*;
//! use latchkey_types::{ClientId, Scope, Subject, UnixTime};
//! use latchkey_uri::ResourceUri;
//! use rand_core::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7); // the OS RNG in production
//! let policy = RefreshPolicy::default();
//! let key = RotationKey::generate(&mut rng); // a configured server secret in production
//! let client = ClientId::parse("s6BhdRkqt3")?;
//! let params = FamilyParams {
//!     client_id: client.clone(),
//!     subject: Subject::parse("alice")?,
//!     scope: Scope::parse("mcp:read")?,
//!     resources: vec![ResourceUri::parse("https://mcp.example.com/mcp").expect("valid")],
//!     dpop_jkt: None,
//! };
//! let now = UnixTime::from_secs(1_700_000_000);
//! let (token, family) = RefreshFamily::start(params, now, &policy, &mut rng).expect("valid");
//! // A confidential client, authenticated before the token is presented.
//! let request = RefreshPresentation {
//!     token: &token, client_id: &client, client_authenticated: true, dpop_jkt: None,
//!     scope: None, resources: &[],
//! };
//! let RefreshDecision::Rotate(rotation) = family.present(&request, now, &policy, &key) else {
//!     panic!("the current token rotates");
//! };
//! // The client lost the response and retries at once: the same successor again.
//! let RefreshDecision::Retry(retry) = rotation.next.present(&request, now, &policy, &key) else {
//!     panic!("a prompt retry by the same client is not reuse");
//! };
//! assert_eq!(retry.successor.expose_secret(), rotation.successor.expose_secret());
//! # Ok::<(), latchkey_types::TypesError>(())
//! ```
//!
//! # Why successors are derived, not drawn
//!
//! The retry rule has to hand out the same successor twice, but the store keeps
//! only digests, so the successor's plaintext cannot be read back. Successors
//! are therefore computed, not drawn:
//!
//! ```text
//! successor = base64url(HMAC-SHA256(rotation_key,
//!     "latchkey refresh rotation v1" || 0x00 || family_id (16 bytes)
//!     || next_generation (u64, big-endian) || presented_token))
//! ```
//!
//! - Unpredictable: without the server's [`RotationKey`] and the presented
//!   token (256 random bits at generation 0), the successor is a PRF output.
//! - Reproducible: a retry presents the previous token, which, with the family
//!   id and the current generation, recomputes the current token; its digest is
//!   checked against the stored one before it is handed out.
//! - Unique: family id and generation are inside the MAC input, so no two
//!   generations or families share an input, and distinct 256-bit outputs are
//!   as good as guaranteed.
//!
//! The first token of a family comes from the caller's RNG. HMAC is
//! `aws-lc-rs`'s, already the workspace's crypto provider for JOSE: no hand-made
//! HMAC and no new dependency. The key lives inside `aws-lc-rs`, which cleanses
//! it on drop. If the rotation key changes between a rotation and its retry, the
//! retry cannot reproduce the successor and is treated as reuse (the safe side).
//!
//! What it deliberately does not do: storage, access-token revocation (the
//! engine's), an idle timeout (the absolute lifetime bounds every family), and
//! anything for confidential-client authentication (done before this is called).

use core::fmt;
use core::time::Duration;

use aws_lc_rs::hmac;
use latchkey_types::{
    ClientId, ErrorCode, Scope, ScopeHierarchy, SecretString, Subject, TokenDigest, UnixTime,
};
use latchkey_uri::ResourceUri;
use rand_core::CryptoRng;

use crate::code::{JwkThumbprint, binding_holds, dedup, narrow_resources};

latchkey_types::secret_type! {
    /// A refresh token (OAuth 2.1 section 1.3.2): 256 bits in unpadded base64url,
    /// drawn from the RNG for a new family and derived on rotation.
    pub struct RefreshToken;
}

/// The server secret successors are derived with (see the module docs).
/// It never prints and cannot be cloned.
pub struct RotationKey(hmac::Key);

impl RotationKey {
    /// The fewest key bytes accepted: 32, the HMAC-SHA256 output size.
    pub const MIN_LEN: usize = 32;

    /// A key from configuration: the secret's bytes, at least [`Self::MIN_LEN`] of them.
    pub fn new(secret: &SecretString) -> Result<Self, RefreshError> {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < Self::MIN_LEN {
            return Err(RefreshError::RotationKeyTooShort);
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// A fresh random key (256 bits from the caller's RNG).
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
        bytes.fill(0);
        Self(key)
    }
}

impl fmt::Debug for RotationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationKey(..)")
    }
}

/// The identifier of a refresh family: 128 random bits, not a secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FamilyId([u8; 16]);

impl FamilyId {
    /// A fresh random id.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// An id read back from storage.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The id's bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::code::thumbprint_encode(&self.0))
    }
}

impl fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyId({self})")
    }
}

/// Lifetimes of refresh families. Build with [`RefreshPolicy::new`] or take the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshPolicy {
    family_lifetime: Duration,
    retry_window: Duration,
    public_client_retry_window: Duration,
}

impl RefreshPolicy {
    /// Default absolute family lifetime: 30 days, after which the user authorizes again.
    pub const DEFAULT_FAMILY_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
    /// Longest family lifetime a policy may choose: 365 days.
    pub const MAX_FAMILY_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
    /// Default retry window: 30 s, for a client that lost a refresh response.
    pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(30);
    /// Longest retry window a policy may choose: 60 s. The window delays reuse
    /// detection for a token stolen within it, so it stays short.
    pub const MAX_RETRY_WINDOW: Duration = Duration::from_secs(60);

    /// Default retry window for public clients without DPoP: zero, so a
    /// rotated token of such a client is never accepted again (see
    /// [`Self::with_public_client_retry_window`]).
    pub const DEFAULT_PUBLIC_CLIENT_RETRY_WINDOW: Duration = Duration::ZERO;

    /// A policy; zero `retry_window` turns retries off (every retry is reuse).
    /// Public clients without DPoP get no retry window
    /// ([`Self::DEFAULT_PUBLIC_CLIENT_RETRY_WINDOW`]).
    pub fn new(family_lifetime: Duration, retry_window: Duration) -> Result<Self, RefreshError> {
        if family_lifetime.as_secs() == 0 {
            return Err(RefreshError::LifetimeZero);
        }
        if family_lifetime > Self::MAX_FAMILY_LIFETIME {
            return Err(RefreshError::LifetimeTooLong);
        }
        if retry_window > Self::MAX_RETRY_WINDOW {
            return Err(RefreshError::RetryWindowTooLong);
        }
        Ok(Self {
            family_lifetime,
            retry_window,
            public_client_retry_window: Self::DEFAULT_PUBLIC_CLIENT_RETRY_WINDOW,
        })
    }

    /// This policy with a retry window for public clients whose family is
    /// not DPoP-bound, at most [`Self::MAX_RETRY_WINDOW`]. An explicit opt-in:
    /// such a retry proves nothing but possession of the rotated token, so
    /// within the window whoever presents the token first after a theft gets
    /// the same successor as the client (RFC 9700 section 4.14.2).
    pub fn with_public_client_retry_window(self, window: Duration) -> Result<Self, RefreshError> {
        if window > Self::MAX_RETRY_WINDOW {
            return Err(RefreshError::RetryWindowTooLong);
        }
        Ok(Self {
            public_client_retry_window: window,
            ..self
        })
    }

    /// The absolute lifetime of a family, counted from its creation.
    pub const fn family_lifetime(&self) -> Duration {
        self.family_lifetime
    }

    /// How long after a rotation the previous token may still be retried,
    /// when the family is DPoP-bound or the client authenticated.
    pub const fn retry_window(&self) -> Duration {
        self.retry_window
    }

    /// How long after a rotation the previous token of a public client
    /// without DPoP may still be retried; zero unless opted in.
    pub const fn public_client_retry_window(&self) -> Duration {
        self.public_client_retry_window
    }
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            family_lifetime: Self::DEFAULT_FAMILY_LIFETIME,
            retry_window: Self::DEFAULT_RETRY_WINDOW,
            public_client_retry_window: Self::DEFAULT_PUBLIC_CLIENT_RETRY_WINDOW,
        }
    }
}

/// What a new family is bound to: the grant the code redemption produced.
#[derive(Debug)]
pub struct FamilyParams {
    /// The client the refresh tokens are issued to.
    pub client_id: ClientId,
    /// The resource owner.
    pub subject: Subject,
    /// The granted scope: the most any refresh may ask for.
    pub scope: Scope,
    /// The granted resources, the full original grant (RFC 8707 section 2.2).
    pub resources: Vec<ResourceUri>,
    /// The DPoP key the tokens are bound to (RFC 9449 section 5), if any.
    pub dpop_jkt: Option<JwkThumbprint>,
}

/// Why a family was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationReason {
    /// A rotated token was presented (RFC 9700 section 4.14.2).
    Reuse(ReuseReason),
    /// The code the family came from was redeemed twice (OAuth 2.1 section 4.1.3).
    CodeReplay,
    /// The client revoked a token of the family (RFC 7009 section 2.1).
    TokenRevocation,
    /// An administrator or the resource owner withdrew the grant.
    Administrative,
}

impl RevocationReason {
    /// Every reason, in a fixed order.
    pub const ALL: [Self; 8] = [
        Self::Reuse(ReuseReason::OlderGeneration),
        Self::Reuse(ReuseReason::RetryOtherClient),
        Self::Reuse(ReuseReason::RetryOtherKey),
        Self::Reuse(ReuseReason::RetryOutsideWindow),
        Self::Reuse(ReuseReason::RetryNotReproducible),
        Self::CodeReplay,
        Self::TokenRevocation,
        Self::Administrative,
    ];

    /// The stable string form stores write and audit logs show.
    ///
    /// Stored rows outlive releases: a string, once shipped, never changes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reuse(ReuseReason::OlderGeneration) => "reuse_older_generation",
            Self::Reuse(ReuseReason::RetryOtherClient) => "reuse_retry_other_client",
            Self::Reuse(ReuseReason::RetryOtherKey) => "reuse_retry_other_key",
            Self::Reuse(ReuseReason::RetryOutsideWindow) => "reuse_retry_outside_window",
            Self::Reuse(ReuseReason::RetryNotReproducible) => "reuse_retry_not_reproducible",
            Self::CodeReplay => "code_replay",
            Self::TokenRevocation => "token_revocation",
            Self::Administrative => "administrative",
        }
    }

    /// The reason whose string form (see [`as_str`](Self::as_str)) is `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == s)
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which presentation of a rotated token counted as reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReuseReason {
    /// A token older than the previous one (its successor was used too).
    OlderGeneration,
    /// The previous token, presented by another client.
    RetryOtherClient,
    /// The previous token, presented without the bound DPoP key or with another.
    RetryOtherKey,
    /// The previous token, presented after the retry window (for a public
    /// client without DPoP, by default any time: its window is zero).
    RetryOutsideWindow,
    /// The previous token, whose successor could not be recomputed (rotation key changed).
    RetryNotReproducible,
}

/// Whether a family may still be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyState {
    /// Tokens may be presented.
    Active,
    /// Nothing is accepted any more.
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When.
        at: UnixTime,
    },
}

/// The token rotated out by the latest rotation, kept for the retry rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviousToken {
    /// Its digest.
    pub digest: TokenDigest,
    /// When it stopped being current.
    pub rotated_at: UnixTime,
}

/// What the store keeps for a family: digests and the grant, never a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshFamily {
    id: FamilyId,
    client_id: ClientId,
    subject: Subject,
    scope: Scope,
    resources: Vec<ResourceUri>,
    dpop_jkt: Option<JwkThumbprint>,
    created_at: UnixTime,
    expires_at: UnixTime,
    current: TokenDigest,
    generation: u64,
    previous: Option<PreviousToken>,
    state: FamilyState,
}

/// A [`RefreshFamily`] taken apart, for a store to persist and load back
/// ([`RefreshFamily::into_parts`], [`RefreshFamily::from_parts`]). No token in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyParts {
    /// The family's id.
    pub id: FamilyId,
    /// The client.
    pub client_id: ClientId,
    /// The resource owner.
    pub subject: Subject,
    /// The granted scope.
    pub scope: Scope,
    /// The granted resources.
    pub resources: Vec<ResourceUri>,
    /// The DPoP key binding, if any.
    pub dpop_jkt: Option<JwkThumbprint>,
    /// When the family was started.
    pub created_at: UnixTime,
    /// The absolute expiry.
    pub expires_at: UnixTime,
    /// The digest of the current token.
    pub current: TokenDigest,
    /// How many rotations the family has gone through.
    pub generation: u64,
    /// The token rotated out last: present exactly when `generation > 0`.
    pub previous: Option<PreviousToken>,
    /// Active or revoked.
    pub state: FamilyState,
}

/// A refresh-token request (OAuth 2.1 section 4.3.1), already parsed.
#[derive(Debug)]
pub struct RefreshPresentation<'a> {
    /// The `refresh_token` parameter.
    pub token: &'a RefreshToken,
    /// The authenticated client, or the `client_id` of a public client.
    pub client_id: &'a ClientId,
    /// Whether the client authenticated with a credential (a secret or an
    /// assertion, OAuth 2.1 section 2.4), rather than only naming itself.
    pub client_authenticated: bool,
    /// The thumbprint of the key of a valid DPoP proof on this request, if any.
    pub dpop_jkt: Option<&'a JwkThumbprint>,
    /// The `scope` parameter; `None` means the whole granted scope.
    pub scope: Option<&'a Scope>,
    /// The `resource` parameters (RFC 8707 section 2.2); empty means all granted.
    pub resources: &'a [ResourceUri],
}

/// What the new access token carries after an accepted refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshGrant {
    /// The family the refresh belonged to.
    pub family_id: FamilyId,
    /// The client.
    pub client_id: ClientId,
    /// The resource owner.
    pub subject: Subject,
    /// The scope of the new access token: requested, or all granted.
    pub scope: Scope,
    /// The audience of the new access token: requested, or all granted.
    pub audience: Vec<ResourceUri>,
    /// The DPoP key the family is bound to, if any.
    pub dpop_jkt: Option<JwkThumbprint>,
}

/// The decision for one presentation of a refresh token.
#[derive(Debug)]
pub enum RefreshDecision {
    /// The current token was used: hand out `successor`, and store `next` only
    /// if the stored family still has generation `next.generation() - 1`
    /// (compare-and-set; a lost race is answered by presenting again).
    Rotate(Box<Rotation>),
    /// A retry within the window: hand out `successor` (the same token the
    /// rotation produced); the store is not written.
    Retry(Box<Retry>),
    /// Reuse of a rotated token: store `revoked`, revoke the family's access
    /// tokens, log `reason` as a security event, and answer `invalid_grant`.
    Reuse(Box<Reuse>),
    /// Deny with this error; the family is unchanged.
    Reject(RefreshError),
}

/// A rotation: the new token, the family to store, the grant to issue.
#[derive(Debug)]
pub struct Rotation {
    /// The new current token, for the client.
    pub successor: RefreshToken,
    /// The family after rotation.
    pub next: RefreshFamily,
    /// What the new access token carries.
    pub grant: RefreshGrant,
}

/// A retry: the same successor as the rotation gave, and the grant.
#[derive(Debug)]
pub struct Retry {
    /// The current token, identical to what the rotation handed out.
    pub successor: RefreshToken,
    /// What the new access token carries.
    pub grant: RefreshGrant,
}

/// A detected reuse: the family to store, revoked, and why.
#[derive(Debug)]
pub struct Reuse {
    /// The family, now revoked.
    pub revoked: RefreshFamily,
    /// Which presentation counted as reuse.
    pub reason: ReuseReason,
}

/// Why a refresh family could not be started or a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// A policy asked for a zero family lifetime.
    #[error("refresh family lifetime is zero")]
    LifetimeZero,
    /// A policy asked for more than [`RefreshPolicy::MAX_FAMILY_LIFETIME`].
    #[error("refresh family lifetime is too long")]
    LifetimeTooLong,
    /// A policy asked for more than [`RefreshPolicy::MAX_RETRY_WINDOW`].
    #[error("refresh retry window is too long")]
    RetryWindowTooLong,
    /// A rotation key had fewer than [`RotationKey::MIN_LEN`] bytes.
    #[error("rotation key is too short")]
    RotationKeyTooShort,
    /// The creation time plus lifetime overflowed.
    #[error("refresh family expiry overflows")]
    ExpiryOverflow,
    /// A family was to be started with no granted resource.
    #[error("refresh family has no resource")]
    NoResource,
    /// The family was revoked (RFC 9700 section 4.14.2).
    #[error("refresh token was revoked")]
    FamilyRevoked,
    /// The family's absolute lifetime is over.
    #[error("refresh token has expired")]
    FamilyExpired,
    /// The current token was presented by another client (OAuth 2.1 section 4.3.1).
    #[error("refresh token was issued to another client")]
    ClientMismatch,
    /// The family is bound to a DPoP key and the request proved none (RFC 9449 section 5).
    #[error("dpop proof is required for this refresh token")]
    DpopProofMissing,
    /// The family is bound to another DPoP key (RFC 9449 section 5).
    #[error("dpop key does not match the refresh token binding")]
    DpopKeyMismatch,
    /// The requested scope exceeds the granted one (OAuth 2.1 section 4.3.1).
    #[error("requested scope was not granted")]
    ScopeNotGranted,
    /// A requested resource was not granted (RFC 8707 section 2.2).
    #[error("requested resource was not granted")]
    ResourceNotGranted,
    /// A stored family has a previous token without having rotated, or the reverse.
    #[error("stored refresh family is inconsistent")]
    InconsistentGeneration,
    /// The generation counter cannot advance any further.
    #[error("refresh family generation is exhausted")]
    GenerationExhausted,
}

impl From<&RefreshError> for ErrorCode {
    fn from(error: &RefreshError) -> Self {
        match error {
            RefreshError::LifetimeZero
            | RefreshError::LifetimeTooLong
            | RefreshError::RetryWindowTooLong
            | RefreshError::RotationKeyTooShort
            | RefreshError::ExpiryOverflow
            | RefreshError::InconsistentGeneration => ErrorCode::ServerError,
            RefreshError::NoResource | RefreshError::ResourceNotGranted => ErrorCode::InvalidTarget,
            RefreshError::ScopeNotGranted => ErrorCode::InvalidScope,
            RefreshError::FamilyRevoked
            | RefreshError::FamilyExpired
            | RefreshError::ClientMismatch
            | RefreshError::DpopProofMissing
            | RefreshError::DpopKeyMismatch
            | RefreshError::GenerationExhausted => ErrorCode::InvalidGrant,
        }
    }
}

impl RefreshDecision {
    /// The wire error of a denial; `None` when a token is handed out. Reuse is
    /// `invalid_grant` (RFC 9700 section 4.14.2).
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            RefreshDecision::Rotate(_) | RefreshDecision::Retry(_) => None,
            RefreshDecision::Reuse(_) => Some(ErrorCode::InvalidGrant),
            RefreshDecision::Reject(error) => Some(ErrorCode::from(error)),
        }
    }
}

impl RefreshFamily {
    /// Starts a family at `now`: the first token (from `rng`) for the client,
    /// the family (its digest only) for the store.
    pub fn start(
        params: FamilyParams,
        now: UnixTime,
        policy: &RefreshPolicy,
        rng: &mut impl CryptoRng,
    ) -> Result<(RefreshToken, RefreshFamily), RefreshError> {
        if params.resources.is_empty() {
            return Err(RefreshError::NoResource);
        }
        let expires_at = now
            .checked_add(policy.family_lifetime)
            .ok_or(RefreshError::ExpiryOverflow)?;
        let id = FamilyId::generate(rng);
        let token = RefreshToken::generate(rng);
        let family = RefreshFamily {
            id,
            client_id: params.client_id,
            subject: params.subject,
            scope: params.scope,
            resources: dedup(params.resources),
            dpop_jkt: params.dpop_jkt,
            created_at: now,
            expires_at,
            current: token.digest(),
            generation: 0,
            previous: None,
            state: FamilyState::Active,
        };
        Ok((token, family))
    }

    /// Decides on one presentation of a token of this family at `now`.
    ///
    /// Precondition: the store found this family by the presented token's
    /// digest, so a token that is neither current nor previous is an older
    /// generation of this family.
    pub fn present(
        &self,
        request: &RefreshPresentation<'_>,
        now: UnixTime,
        policy: &RefreshPolicy,
        rotation_key: &RotationKey,
    ) -> RefreshDecision {
        self.present_within(request, now, policy, rotation_key, &ScopeHierarchy::empty())
    }

    /// [`Self::present`], where a requested scope may narrow the granted one
    /// through `hierarchy` too: a family granted `notes` may ask for
    /// `notes:read` when `notes` implies it (MCP 2026-07-28, "a broader scope
    /// implies narrower ones"); never wider (OAuth 2.1 section 4.3.1).
    pub fn present_within(
        &self,
        request: &RefreshPresentation<'_>,
        now: UnixTime,
        policy: &RefreshPolicy,
        rotation_key: &RotationKey,
        hierarchy: &ScopeHierarchy,
    ) -> RefreshDecision {
        if let FamilyState::Revoked { .. } = self.state {
            return RefreshDecision::Reject(RefreshError::FamilyRevoked);
        }
        if now >= self.expires_at {
            return RefreshDecision::Reject(RefreshError::FamilyExpired);
        }
        let presented = request.token.digest();
        if presented == self.current {
            return self.rotate(request, now, rotation_key, hierarchy);
        }
        match self.previous {
            Some(previous) if previous.digest == presented => {
                self.retry(request, previous, now, policy, rotation_key, hierarchy)
            }
            _ => self.reuse(ReuseReason::OlderGeneration, now),
        }
    }

    /// This family, revoked at `now` for `reason`. Revoking a revoked family
    /// keeps the first reason and time.
    pub fn revoke(&self, reason: RevocationReason, now: UnixTime) -> RefreshFamily {
        let mut revoked = self.clone();
        if revoked.state == FamilyState::Active {
            revoked.state = FamilyState::Revoked { reason, at: now };
        }
        revoked
    }

    /// Takes the family apart for storage.
    pub fn into_parts(self) -> FamilyParts {
        FamilyParts {
            id: self.id,
            client_id: self.client_id,
            subject: self.subject,
            scope: self.scope,
            resources: self.resources,
            dpop_jkt: self.dpop_jkt,
            created_at: self.created_at,
            expires_at: self.expires_at,
            current: self.current,
            generation: self.generation,
            previous: self.previous,
            state: self.state,
        }
    }

    /// Puts a stored family back together, re-checking what [`start`](Self::start)
    /// and rotation guarantee: at least one resource, a lifetime within
    /// [`RefreshPolicy::MAX_FAMILY_LIFETIME`], and a previous token exactly
    /// when the family has rotated.
    pub fn from_parts(parts: FamilyParts) -> Result<Self, RefreshError> {
        if parts.resources.is_empty() {
            return Err(RefreshError::NoResource);
        }
        match parts.expires_at.duration_since(parts.created_at) {
            Some(lifetime) if lifetime <= RefreshPolicy::MAX_FAMILY_LIFETIME => {}
            _ => return Err(RefreshError::LifetimeTooLong),
        }
        if (parts.generation == 0) != parts.previous.is_none() {
            return Err(RefreshError::InconsistentGeneration);
        }
        Ok(RefreshFamily {
            id: parts.id,
            client_id: parts.client_id,
            subject: parts.subject,
            scope: parts.scope,
            resources: dedup(parts.resources),
            dpop_jkt: parts.dpop_jkt,
            created_at: parts.created_at,
            expires_at: parts.expires_at,
            current: parts.current,
            generation: parts.generation,
            previous: parts.previous,
            state: parts.state,
        })
    }

    /// The family's id.
    pub const fn id(&self) -> FamilyId {
        self.id
    }

    /// The client the tokens are issued to.
    pub const fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The resource owner.
    pub const fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The granted scope (the most a refresh may ask for).
    pub const fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The granted resources, sorted, without duplicates, never empty.
    pub fn resources(&self) -> &[ResourceUri] {
        &self.resources
    }

    /// The DPoP key binding, if any.
    pub const fn dpop_jkt(&self) -> Option<&JwkThumbprint> {
        self.dpop_jkt.as_ref()
    }

    /// When the family was started.
    pub const fn created_at(&self) -> UnixTime {
        self.created_at
    }

    /// The first instant at which nothing is accepted any more.
    pub const fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// The digest of the current token.
    pub const fn current(&self) -> &TokenDigest {
        &self.current
    }

    /// How many rotations the family has gone through.
    pub const fn generation(&self) -> u64 {
        self.generation
    }

    /// The token rotated out last, if any.
    pub const fn previous(&self) -> Option<&PreviousToken> {
        self.previous.as_ref()
    }

    /// Active or revoked.
    pub const fn state(&self) -> FamilyState {
        self.state
    }

    /// The current token was presented: check client, key, scope and resource, then rotate.
    fn rotate(
        &self,
        request: &RefreshPresentation<'_>,
        now: UnixTime,
        rotation_key: &RotationKey,
        hierarchy: &ScopeHierarchy,
    ) -> RefreshDecision {
        if request.client_id != &self.client_id {
            return RefreshDecision::Reject(RefreshError::ClientMismatch);
        }
        if let Err(error) = self.check_key(request.dpop_jkt) {
            return RefreshDecision::Reject(error);
        }
        let grant = match self.grant(request, hierarchy) {
            Ok(grant) => grant,
            Err(error) => return RefreshDecision::Reject(error),
        };
        let Some(generation) = self.generation.checked_add(1) else {
            return RefreshDecision::Reject(RefreshError::GenerationExhausted);
        };
        let successor = derive_successor(rotation_key, &self.id, generation, request.token);
        let mut next = self.clone();
        next.current = successor.digest();
        next.generation = generation;
        next.previous = Some(PreviousToken {
            digest: self.current,
            rotated_at: now,
        });
        RefreshDecision::Rotate(Box::new(Rotation {
            successor,
            next,
            grant,
        }))
    }

    /// The previous token was presented: a retry if the same client and key
    /// come back within the window, else reuse.
    fn retry(
        &self,
        request: &RefreshPresentation<'_>,
        previous: PreviousToken,
        now: UnixTime,
        policy: &RefreshPolicy,
        rotation_key: &RotationKey,
        hierarchy: &ScopeHierarchy,
    ) -> RefreshDecision {
        if request.client_id != &self.client_id {
            return self.reuse(ReuseReason::RetryOtherClient, now);
        }
        if self.check_key(request.dpop_jkt).is_err() {
            return self.reuse(ReuseReason::RetryOtherKey, now);
        }
        // The window applies only where the retry proves possession of more
        // than the token: the bound DPoP key (checked above) or the client's
        // credential. A public bearer client gets its own, zero by default.
        let window = if self.dpop_jkt.is_some() || request.client_authenticated {
            policy.retry_window
        } else {
            policy.public_client_retry_window
        };
        // A clock that stepped back since the rotation counts as no time elapsed.
        let elapsed = now.duration_since(previous.rotated_at).unwrap_or_default();
        if elapsed >= window {
            return self.reuse(ReuseReason::RetryOutsideWindow, now);
        }
        let successor = derive_successor(rotation_key, &self.id, self.generation, request.token);
        if successor.digest() != self.current {
            return self.reuse(ReuseReason::RetryNotReproducible, now);
        }
        match self.grant(request, hierarchy) {
            Ok(grant) => RefreshDecision::Retry(Box::new(Retry { successor, grant })),
            Err(error) => RefreshDecision::Reject(error),
        }
    }

    fn reuse(&self, reason: ReuseReason, now: UnixTime) -> RefreshDecision {
        RefreshDecision::Reuse(Box::new(Reuse {
            revoked: self.revoke(RevocationReason::Reuse(reason), now),
            reason,
        }))
    }

    /// RFC 9449 section 5: a bound family needs a proof with the same key.
    fn check_key(&self, presented: Option<&JwkThumbprint>) -> Result<(), RefreshError> {
        match (&self.dpop_jkt, presented) {
            (Some(_), None) => Err(RefreshError::DpopProofMissing),
            (bound, presented) if !binding_holds(bound.as_ref(), presented) => {
                Err(RefreshError::DpopKeyMismatch)
            }
            _ => Ok(()),
        }
    }

    /// The access-token grant for `request`: scope and resources may narrow,
    /// never widen (OAuth 2.1 section 4.3.1, RFC 8707 section 2.2); a
    /// granted scope covers the narrower ones `hierarchy` says it implies.
    fn grant(
        &self,
        request: &RefreshPresentation<'_>,
        hierarchy: &ScopeHierarchy,
    ) -> Result<RefreshGrant, RefreshError> {
        let scope = match request.scope {
            None => self.scope.clone(),
            Some(asked) if hierarchy.covers(&self.scope, asked) => asked.clone(),
            Some(_) => return Err(RefreshError::ScopeNotGranted),
        };
        let audience = narrow_resources(&self.resources, request.resources)
            .ok_or(RefreshError::ResourceNotGranted)?;
        Ok(RefreshGrant {
            family_id: self.id,
            client_id: self.client_id.clone(),
            subject: self.subject.clone(),
            scope,
            audience,
            dpop_jkt: self.dpop_jkt.clone(),
        })
    }
}

/// Domain separation for the successor MAC, so the rotation key can never be
/// confused with a MAC over anything else.
const ROTATION_LABEL: &[u8] = b"latchkey refresh rotation v1\0";

/// The successor of `presented` at `generation` (see the module docs).
fn derive_successor(
    key: &RotationKey,
    family: &FamilyId,
    generation: u64,
    presented: &RefreshToken,
) -> RefreshToken {
    let mut context = hmac::Context::with_key(&key.0);
    context.update(ROTATION_LABEL);
    context.update(family.as_bytes());
    context.update(&generation.to_be_bytes());
    context.update(presented.expose_secret().as_bytes());
    let tag = context.sign();
    RefreshToken::new(crate::code::thumbprint_encode(tag.as_ref()))
}

#[cfg(test)]
mod tests;
