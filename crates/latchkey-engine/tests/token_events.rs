//! Security events (target `latchkey::security`): emitted where the rules
//! say, and never carrying a secret.

mod common;

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};

use common::*;
use latchkey_engine::{JWT_BEARER_ASSERTION_TYPE, SECURITY_TARGET};
use latchkey_types::UnixTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every event as `target field=value ...`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().target().to_owned());
        event.record(&mut line);
        self.0.lock().expect("not poisoned").push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn security(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|l| l.starts_with(SECURITY_TARGET))
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn oauth_2_1_section_4_1_3_code_replay_event() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    assert_eq!(h.redeem_public(&code).await.status, 200);
    assert_eq!(h.redeem_public(&code).await.status, 400);
    let events = capture.security();
    let replay = events
        .iter()
        .find(|e| e.contains("event=\"code_replay\""))
        .expect("a code_replay event");
    assert!(replay.contains("client_id=\"public-client\""), "{replay}");
    assert!(replay.contains("revoked_families=1"), "{replay}");
    assert!(replay.contains("revoked_access_tokens=1"), "{replay}");
    assert!(!replay.contains(&code), "the code never appears");
}

#[tokio::test]
async fn rfc_9700_section_4_14_2_refresh_reuse_event() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let old = body(&h.redeem_public(&code).await)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(h.refresh_public(&old, now()).await.status, 200);
    assert_eq!(
        h.refresh_public(&old, UnixTime::from_secs(NOW + 600))
            .await
            .status,
        400
    );
    let events = capture.security();
    let reuse = events
        .iter()
        .find(|e| e.contains("event=\"refresh_reuse\""))
        .expect("a refresh_reuse event");
    assert!(reuse.contains("RetryOutsideWindow"), "{reuse}");
    assert!(!reuse.contains(&old));
}

#[tokio::test]
async fn oauth_2_1_section_2_4_client_auth_failure_event_has_no_secret() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut h = harness().await;
    let wrong = "wrong-secret-value";
    let response = h
        .token(
            &[("grant_type", "client_credentials")],
            post_token().with_authorization(basic(BASIC, wrong)),
        )
        .await;
    assert_eq!(response.status, 401);
    let all = capture.0.lock().unwrap().join("\n");
    assert!(all.contains("event=\"client_auth_failed\""), "{all}");
    assert!(all.contains("method=\"client_secret_basic\""), "{all}");
    assert!(
        !all.contains(wrong) && !all.contains(SECRET),
        "no secret in any log line"
    );
}

#[tokio::test]
async fn rfc_7523_section_3_assertion_replay_event() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut h = harness().await;
    let (assertion, _) = h.assertion(TOKEN_ENDPOINT, NOW + 60);
    let pairs = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ];
    assert_eq!(h.token(&pairs, post_token()).await.status, 200);
    assert_eq!(h.token(&pairs, post_token()).await.status, 401);
    let events = capture.security();
    assert!(
        events
            .iter()
            .any(|e| e.contains("event=\"assertion_replay\"") && e.contains("jwt-client")),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.contains(&assertion)));
}

#[tokio::test]
async fn rfc_9449_section_11_1_dpop_replay_event() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut h = harness().await;
    let proof = h.proof(false, now(), None);
    let auth = || post_token().with_authorization(basic(BASIC, SECRET));
    let pairs = [("grant_type", "client_credentials")];
    assert_eq!(
        h.token(&pairs, auth().with_dpop(proof.clone()))
            .await
            .status,
        200
    );
    let replay = h.token(&pairs, auth().with_dpop(proof.clone())).await;
    assert_eq!(error(&replay), "invalid_dpop_proof");
    let events = capture.security();
    assert!(
        events.iter().any(|e| e.contains("event=\"dpop_replay\"")),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.contains(&proof)));
}

/// OAuth 2.1 section 4.1.3: a refused redemption uses the code up (single
/// use), and the event says so; the code presented again afterwards is logged
/// as that, never as the replay of a successful redemption.
#[tokio::test]
async fn oauth_2_1_section_4_1_3_a_failed_redemption_is_logged_as_such_not_as_a_replay() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut h = harness().await;
    let wrong = "x".repeat(43);
    for (code, pairs_for) in [
        (h.issue_code(PUBLIC, None).await, "verifier"),
        (h.issue_code(PUBLIC, None).await, "redirect_uri"),
    ] {
        let (verifier, redirect) = match pairs_for {
            "verifier" => (wrong.as_str(), REDIRECT),
            _ => (VERIFIER, "http://127.0.0.1:8080/other"),
        };
        let failed = h
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("code_verifier", verifier),
                    ("client_id", PUBLIC),
                    ("redirect_uri", redirect),
                ],
                post_token(),
            )
            .await;
        assert_eq!(error(&failed), "invalid_grant");
        // The right request afterwards: the code is used up.
        let later = h.redeem_public(&code).await;
        assert_eq!(error(&later), "invalid_grant");
        assert!(!capture.security().iter().any(|e| e.contains(&code)));
    }
    let events = capture.security();
    let failures: Vec<&String> = events
        .iter()
        .filter(|e| e.contains("event=\"code_redemption_failed\""))
        .collect();
    assert_eq!(failures.len(), 2, "{events:?}");
    assert!(
        failures[0].contains("reason=\"code_verifier does not match the code challenge\"")
            && failures[0].contains("presented_by=\"public-client\""),
        "{events:?}"
    );
    assert!(
        failures[1].contains("reason=\"redirect_uri does not match the authorization request\""),
        "{events:?}"
    );
    let after: Vec<&String> = events
        .iter()
        .filter(|e| e.contains("event=\"code_presented_after_failed_redemption\""))
        .collect();
    assert_eq!(after.len(), 2, "{events:?}");
    assert!(after[0].contains(&format!("failed_at={NOW}")), "{events:?}");
    assert!(
        !events.iter().any(|e| e.contains("event=\"code_replay\"")),
        "no false code_replay: {events:?}"
    );
}
