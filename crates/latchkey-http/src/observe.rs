//! Observing the authorization server: typed [`Event`]s handed to an
//! [`Observer`], so that operators can count what matters (tokens issued,
//! refusals by code, replays, registrations) in the metrics system of their
//! choice. The default, [`NoObserver`], does nothing and costs nothing.
//!
//! Events are derived from the engine's typed outcomes
//! (`latchkey_engine::TokenOutcome`, `latchkey_engine::RegistrationOutcome`)
//! and from the variants of `EngineError`, never from response bodies or log
//! text: [`token_events`] and [`registration_events`] are the one mapping.
//! Every label an event offers comes from a closed set (`ErrorCode`,
//! `GrantType`, [`crate::Endpoint`], `&'static str` names chosen by the code), so a
//! client cannot create label values. No event carries a secret.
//!
//! Events the layer itself cannot see (request latency, rate limits,
//! sign-in failures, store failures outside the token and registration
//! endpoints, scope elevation) are defined here too, so that one observer
//! receives them all; the server that sees them emits them.

use std::time::Duration;

use latchkey_engine::register::{RegistrationOutcome, RegistrationResult};
use latchkey_engine::{EndpointOutcome, EngineError, TokenOutcome};
use latchkey_registration::GrantType;
use latchkey_types::ErrorCode;

/// Receives [`Event`]s. Implementations must be cheap: they run on the
/// request path, once per event. The default method ignores the event.
pub trait Observer: Send + Sync + 'static {
    /// One event.
    fn observe(&self, event: &Event<'_>) {
        let _ = event;
    }
}

/// The observer that ignores every event (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// Something an operator may want to count.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The token endpoint issued tokens (OAuth 2.1 section 3.2.3).
    TokenIssued {
        /// The grant type used.
        grant: GrantType,
    },
    /// The token endpoint refused a request (OAuth 2.1 section 3.2.4).
    TokenRefused {
        /// The grant type asked for, if the request named a supported one.
        grant: Option<GrantType>,
        /// The `error` code sent.
        code: ErrorCode,
        /// Why.
        error: &'a EngineError,
    },
    /// A redeemed authorization code was presented again; its grant was
    /// revoked (OAuth 2.1 section 4.1.3).
    CodeReplay,
    /// A rotated refresh token was presented again (OAuth 2.1 section 4.3.1,
    /// RFC 9700 section 4.14.2).
    RefreshReuse,
    /// A refresh family was revoked because of `cause`.
    FamilyRevoked {
        /// What triggered the revocation.
        cause: RevocationCause,
    },
    /// A DPoP proof was used twice (RFC 9449 section 11.1).
    DpopReplay,
    /// A client was registered (RFC 7591 section 3.2.1).
    Registered,
    /// A registration was refused (RFC 7591 section 3.2.2), or the client
    /// cap or the store stopped it.
    RegistrationRefused {
        /// The `error` code sent.
        code: ErrorCode,
        /// Why.
        error: &'a EngineError,
    },
    /// The store failed while serving `area`.
    StoreFailed {
        /// Where: `token`, `registration`, `revocation`, `introspection`,
        /// or a name the server chooses.
        area: &'static str,
    },
    /// A request was answered with `429` by the limit named `limit`.
    RateLimited {
        /// The endpoint's name (`authorize`, `token`, `revoke`,
        /// `introspect`, `register`).
        endpoint: &'static str,
        /// The limit: `address`, `client` or `registration`.
        limit: &'static str,
    },
    /// A sign-in was refused (wrong user name or password).
    SignInFailed,
    /// A sign-in was refused because the user or the address is locked out.
    SignInLockedOut,
    /// A client that already holds a consent of this user for these
    /// resources asked for more scope (MCP security best practices, "Scope
    /// Minimization": log elevation events with correlation ids). The
    /// server also logs one line with the scopes and the client.
    ScopeElevation {
        /// Whether the user approved the elevation.
        granted: bool,
    },
    /// A request was answered on the route named `route`, after `elapsed`.
    RequestCompleted {
        /// The route's name (an [`crate::Endpoint::name`] or another fixed name),
        /// never the raw path.
        route: &'static str,
        /// Time from the request's head to the response's.
        elapsed: Duration,
    },
}

/// What triggered the revocation of a refresh family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationCause {
    /// A rotated refresh token was presented again.
    RefreshReuse,
    /// The authorization code that started the family was presented again.
    CodeReplay,
}

impl RevocationCause {
    /// The cause as a label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RefreshReuse => "refresh_reuse",
            Self::CodeReplay => "code_replay",
        }
    }
}

/// Hands `observer` the events of one token request: [`Event::TokenIssued`],
/// or [`Event::TokenRefused`] followed by what the refusal means
/// ([`Event::CodeReplay`] and a [`Event::FamilyRevoked`],
/// [`Event::RefreshReuse`] and a [`Event::FamilyRevoked`],
/// [`Event::DpopReplay`], [`Event::StoreFailed`]), chosen by the
/// `EngineError` variant.
pub fn token_events(outcome: &TokenOutcome, observer: &dyn Observer) {
    let refused = match &outcome.result {
        Ok(grant) => {
            observer.observe(&Event::TokenIssued { grant: *grant });
            return;
        }
        Err(refused) => refused,
    };
    let error = &refused.error;
    observer.observe(&Event::TokenRefused {
        grant: refused.grant,
        code: ErrorCode::from(error),
        error,
    });
    match error {
        EngineError::CodeAlreadyRedeemed => {
            observer.observe(&Event::CodeReplay);
            observer.observe(&Event::FamilyRevoked {
                cause: RevocationCause::CodeReplay,
            });
        }
        EngineError::RefreshTokenReused => {
            observer.observe(&Event::RefreshReuse);
            observer.observe(&Event::FamilyRevoked {
                cause: RevocationCause::RefreshReuse,
            });
        }
        EngineError::DpopProofReplayed => observer.observe(&Event::DpopReplay),
        EngineError::Store(_) => observer.observe(&Event::StoreFailed { area: "token" }),
        _ => {}
    }
}

/// Hands `observer` the events of one registration request:
/// [`Event::Registered`], or [`Event::RegistrationRefused`] (and
/// [`Event::StoreFailed`] when the store failed); nothing when registration
/// is off.
pub fn registration_events(outcome: &RegistrationOutcome, observer: &dyn Observer) {
    match &outcome.result {
        RegistrationResult::Registered => observer.observe(&Event::Registered),
        RegistrationResult::Refused(error) => {
            observer.observe(&Event::RegistrationRefused {
                code: ErrorCode::from(error),
                error,
            });
            if matches!(error, EngineError::Store(_)) {
                observer.observe(&Event::StoreFailed {
                    area: "registration",
                });
            }
        }
        _ => {}
    }
}

/// Hands `observer` the events of a revocation or introspection request
/// (`area` names the endpoint): [`Event::StoreFailed`] when the store
/// failed; other refusals are not counted.
pub fn endpoint_events(outcome: &EndpointOutcome, area: &'static str, observer: &dyn Observer) {
    if matches!(outcome.refused, Some(EngineError::Store(_))) {
        observer.observe(&Event::StoreFailed { area });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use latchkey_engine::{EndpointResponse, TokenRefused};
    use latchkey_store::StoreError;

    use super::*;

    /// Records each event as a short text.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Observer for Recorder {
        fn observe(&self, event: &Event<'_>) {
            let text = match event {
                Event::TokenIssued { grant } => format!("issued {}", grant.as_str()),
                Event::TokenRefused { grant, code, .. } => format!(
                    "refused {} {}",
                    grant.map_or("-", GrantType::as_str),
                    code.as_str()
                ),
                Event::CodeReplay => "code_replay".to_owned(),
                Event::RefreshReuse => "refresh_reuse".to_owned(),
                Event::FamilyRevoked { cause } => format!("family_revoked {}", cause.as_str()),
                Event::DpopReplay => "dpop_replay".to_owned(),
                Event::Registered => "registered".to_owned(),
                Event::RegistrationRefused { code, .. } => {
                    format!("registration_refused {}", code.as_str())
                }
                Event::StoreFailed { area } => format!("store_failed {area}"),
                other => format!("{other:?}"),
            };
            self.0.lock().expect("lock").push(text);
        }
    }

    fn refused(grant: Option<GrantType>, error: EngineError) -> Vec<String> {
        let outcome = TokenOutcome {
            response: EndpointResponse::empty_ok(),
            result: Err(TokenRefused { grant, error }),
        };
        let recorder = Recorder::default();
        token_events(&outcome, &recorder);
        recorder.0.into_inner().expect("lock")
    }

    #[test]
    fn an_issued_token_is_one_event_with_its_grant() {
        let outcome = TokenOutcome {
            response: EndpointResponse::empty_ok(),
            result: Ok(GrantType::ClientCredentials),
        };
        let recorder = Recorder::default();
        token_events(&outcome, &recorder);
        assert_eq!(
            recorder.0.into_inner().expect("lock"),
            ["issued client_credentials"]
        );
    }

    #[test]
    fn oauth_2_1_section_4_1_3_a_code_replay_is_counted_from_its_variant() {
        assert_eq!(
            refused(
                Some(GrantType::AuthorizationCode),
                EngineError::CodeAlreadyRedeemed
            ),
            [
                "refused authorization_code invalid_grant",
                "code_replay",
                "family_revoked code_replay"
            ]
        );
    }

    #[test]
    fn oauth_2_1_section_4_3_1_refresh_reuse_revokes_a_family() {
        assert_eq!(
            refused(
                Some(GrantType::RefreshToken),
                EngineError::RefreshTokenReused
            ),
            [
                "refused refresh_token invalid_grant",
                "refresh_reuse",
                "family_revoked refresh_reuse"
            ]
        );
    }

    #[test]
    fn rfc_9449_section_11_1_a_dpop_replay_is_counted() {
        assert_eq!(
            refused(
                Some(GrantType::ClientCredentials),
                EngineError::DpopProofReplayed
            ),
            [
                "refused client_credentials invalid_dpop_proof",
                "dpop_replay"
            ]
        );
    }

    #[test]
    fn other_refusals_are_only_counted_by_code() {
        assert_eq!(
            refused(None, EngineError::GrantTypeUnsupported),
            ["refused - unsupported_grant_type"]
        );
        assert_eq!(
            refused(
                Some(GrantType::RefreshToken),
                EngineError::RefreshTokenUnknown
            ),
            ["refused refresh_token invalid_grant"]
        );
    }

    #[test]
    fn a_store_failure_is_counted_as_one() {
        assert_eq!(
            refused(
                Some(GrantType::RefreshToken),
                EngineError::Store(StoreError::Backend("down".into()))
            ),
            [
                "refused refresh_token temporarily_unavailable",
                "store_failed token"
            ]
        );
    }

    #[test]
    fn a_store_failure_at_revocation_or_introspection_is_counted() {
        let record = |refused| {
            let outcome = EndpointOutcome {
                response: EndpointResponse::empty_ok(),
                refused,
            };
            let recorder = Recorder::default();
            endpoint_events(&outcome, "revocation", &recorder);
            recorder.0.into_inner().expect("lock")
        };
        assert_eq!(
            record(Some(EngineError::Store(StoreError::Duplicate))),
            ["store_failed revocation"]
        );
        assert!(record(Some(EngineError::ClientAuthenticationFailed)).is_empty());
        assert!(record(None).is_empty());
    }

    #[test]
    fn registrations_are_counted_and_refusals_by_code() {
        let record = |result| {
            let outcome = RegistrationOutcome {
                response: EndpointResponse::empty_ok(),
                result,
            };
            let recorder = Recorder::default();
            registration_events(&outcome, &recorder);
            recorder.0.into_inner().expect("lock")
        };
        assert_eq!(record(RegistrationResult::Registered), ["registered"]);
        assert_eq!(
            record(RegistrationResult::Refused(
                EngineError::RegistrationLimitReached
            )),
            ["registration_refused temporarily_unavailable"]
        );
        assert!(record(RegistrationResult::Off).is_empty());
    }
}
