//! Security events: typed, emitted through `tracing` with target
//! `latchkey::security`, never carrying a secret (no token, code, secret,
//! assertion or proof; only identifiers and reasons).

use latchkey_token::refresh::{FamilyId, ReuseReason};
use latchkey_types::{ClientId, UnixTime};

/// The tracing target every security event is emitted under.
pub const SECURITY_TARGET: &str = "latchkey::security";

/// Something a security engineer wants to see in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityEvent<'a> {
    /// A consumed code was redeemed again; what it issued was revoked (OAuth 2.1 section 4.1.3).
    CodeReplay {
        /// The client the code was issued to.
        client_id: &'a ClientId,
        /// Refresh families revoked.
        revoked_families: u64,
        /// Access tokens revoked.
        revoked_access_tokens: u64,
    },
    /// A rotated refresh token was presented again; its family was revoked (RFC 9700 section 4.14.2).
    RefreshReuse {
        /// The client of the family.
        client_id: &'a ClientId,
        /// The revoked family.
        family_id: FamilyId,
        /// Why the presentation was reuse.
        reason: ReuseReason,
    },
    /// Client authentication failed (OAuth 2.1 section 2.4).
    ClientAuthFailed {
        /// The client id claimed, if one could be read.
        client_id: Option<&'a ClientId>,
        /// The method attempted (`client_secret_basic`, ...).
        method: &'static str,
        /// Why it failed.
        reason: &'static str,
    },
    /// A client assertion `jti` was used twice (RFC 7523 section 3).
    AssertionReplay {
        /// The client the assertion claimed to be.
        client_id: &'a ClientId,
    },
    /// A DPoP proof was replayed (RFC 9449 section 11.1).
    DpopReplay {
        /// The client, if authenticated yet.
        client_id: Option<&'a ClientId>,
    },
    /// A DPoP proof was refused (RFC 9449 section 4.3).
    DpopInvalid {
        /// The client, if authenticated yet.
        client_id: Option<&'a ClientId>,
        /// The refusal, as the dpop crate describes it (no secrets).
        reason: &'a str,
    },
    /// A client ID metadata document was not fetched or not accepted.
    CimdFetchRefused {
        /// The host of the metadata URL (never the full URL).
        host: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// Dynamic registration was refused because the client cap was reached.
    RegistrationCapReached,
    /// An RFC 7592 request presented a wrong registration access token.
    RegistrationTokenRejected {
        /// The client addressed.
        client_id: &'a ClientId,
    },
    /// A token was revoked at the revocation endpoint (RFC 7009).
    TokenRevoked {
        /// The client that asked.
        client_id: &'a ClientId,
        /// `refresh_token` or `access_token`.
        kind: &'static str,
    },
    /// A redemption that consumed a code was refused (wrong `code_verifier`,
    /// `redirect_uri`, client, DPoP key, resource, expired, or a replayed
    /// proof); the code is used up and nothing was issued (OAuth 2.1 section 4.1.3).
    CodeRedemptionFailed {
        /// The client the code was issued to.
        client_id: &'a ClientId,
        /// The client that presented it.
        presented_by: &'a ClientId,
        /// Why the redemption was refused.
        reason: &'a str,
    },
    /// A code used up by a refused redemption was presented again; nothing
    /// had been issued from it, so this is no replay of a redemption.
    CodeAfterFailedRedemption {
        /// The client the code was issued to.
        client_id: &'a ClientId,
        /// When the refused redemption used it up.
        failed_at: UnixTime,
    },
}

/// Emits `event` at `warn` (or `info` for routine revocations) under [`SECURITY_TARGET`].
pub fn emit(event: &SecurityEvent<'_>) {
    match event {
        SecurityEvent::CodeReplay {
            client_id,
            revoked_families,
            revoked_access_tokens,
        } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "code_replay",
            client_id = client_id.as_str(),
            revoked_families,
            revoked_access_tokens,
            "authorization code replayed; grant revoked"
        ),
        SecurityEvent::RefreshReuse {
            client_id,
            family_id,
            reason,
        } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "refresh_reuse",
            client_id = client_id.as_str(),
            family_id = %family_id,
            reason = ?reason,
            "refresh token reused; family revoked"
        ),
        SecurityEvent::ClientAuthFailed {
            client_id,
            method,
            reason,
        } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "client_auth_failed",
            client_id = client_id.map(ClientId::as_str),
            method,
            reason,
            "client authentication failed"
        ),
        SecurityEvent::AssertionReplay { client_id } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "assertion_replay",
            client_id = client_id.as_str(),
            "client assertion jti replayed"
        ),
        SecurityEvent::DpopReplay { client_id } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "dpop_replay",
            client_id = client_id.map(ClientId::as_str),
            "dpop proof replayed"
        ),
        SecurityEvent::DpopInvalid { client_id, reason } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "dpop_invalid",
            client_id = client_id.map(ClientId::as_str),
            reason,
            "dpop proof refused"
        ),
        SecurityEvent::CimdFetchRefused { host, reason } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "cimd_fetch_refused",
            host,
            reason,
            "client id metadata document refused"
        ),
        SecurityEvent::RegistrationCapReached => tracing::warn!(
            target: SECURITY_TARGET,
            event = "registration_cap_reached",
            "client registration refused: cap reached"
        ),
        SecurityEvent::RegistrationTokenRejected { client_id } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "registration_token_rejected",
            client_id = client_id.as_str(),
            "registration access token rejected"
        ),
        SecurityEvent::TokenRevoked { client_id, kind } => tracing::info!(
            target: SECURITY_TARGET,
            event = "token_revoked",
            client_id = client_id.as_str(),
            kind,
            "token revoked at the client's request"
        ),
        SecurityEvent::CodeRedemptionFailed {
            client_id,
            presented_by,
            reason,
        } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "code_redemption_failed",
            client_id = client_id.as_str(),
            presented_by = presented_by.as_str(),
            reason,
            "authorization code redemption refused; the code is used up"
        ),
        SecurityEvent::CodeAfterFailedRedemption {
            client_id,
            failed_at,
        } => tracing::warn!(
            target: SECURITY_TARGET,
            event = "code_presented_after_failed_redemption",
            client_id = client_id.as_str(),
            failed_at = failed_at.as_secs(),
            "authorization code presented again after a refused redemption used it up; nothing had been issued from it"
        ),
    }
}
