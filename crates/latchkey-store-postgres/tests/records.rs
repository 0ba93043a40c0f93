//! Every field of every record survives the trip through PostgreSQL,
//! including the optional ones the conformance suite leaves empty.

mod support;

use latchkey_pkce::CodeChallenge;
use latchkey_store::conformance::NOW;
use latchkey_store::{
    AccessTokenRecord, ClientRecord, ClientStore, CodeRecord, Consumption, FamilyId, GrantStore,
    RefreshFamily, Registered,
};
use latchkey_token::code::{CodeRecordParts, JwkThumbprint, RedirectUriSource};
use latchkey_token::refresh::{
    FamilyParts, FamilyState, PreviousToken, ReuseReason, RevocationReason,
};
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};

fn later(secs: u64) -> UnixTime {
    NOW.saturating_add(core::time::Duration::from_secs(secs))
}

fn resources() -> Vec<ResourceUri> {
    ["https://mcp.example.com/mcp", "https://tools.example.com/"]
        .iter()
        .map(|r| ResourceUri::parse(r).expect("valid resource"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_round_trips() {
    support::with_stores("every_field_round_trips", 1, |stores| async move {
        let store = &stores[0];
        let client_id = ClientId::parse("round-trip-client").expect("valid");
        let subject = Subject::parse("alice").expect("valid");
        let jkt = JwkThumbprint::from_sha256([9; 32]);

        // RFC 7636 appendix B challenge; a registered redirect URI; a DPoP binding.
        let code = CodeRecord::from_parts(CodeRecordParts {
            digest: TokenDigest::of(b"round-trip code"),
            client_id: client_id.clone(),
            redirect_uri: RedirectUri::parse("http://127.0.0.1:7777/callback").expect("valid"),
            redirect_uri_source: RedirectUriSource::Registered,
            code_challenge: CodeChallenge::parse(
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                Some("S256"),
            )
            .expect("RFC 7636 appendix B challenge"),
            resources: resources(),
            scope: Scope::empty(),
            subject: subject.clone(),
            auth_time: later(1),
            dpop_jkt: Some(jkt.clone()),
            issued_at: NOW,
            expires_at: later(60),
        })
        .expect("valid code");
        store.insert_code(&code).await.expect("insert code");
        let Consumption::First(back) = store.consume_code(code.digest()).await.expect("consume")
        else {
            panic!("expected First");
        };
        assert_eq!(back.redirect_uri_source(), RedirectUriSource::Registered);
        assert_eq!(back.redirect_uri().as_str(), code.redirect_uri().as_str());
        assert_eq!(back.code_challenge(), code.code_challenge());
        assert_eq!(back.resources(), code.resources());
        assert_eq!(back.scope(), &Scope::empty());
        assert_eq!(back.subject(), &subject);
        assert_eq!(back.auth_time(), later(1));
        assert_eq!(back.dpop_jkt(), Some(&jkt));
        assert_eq!(back.issued_at(), NOW);
        assert_eq!(back.expires_at(), later(60));

        // A rotated, revoked, key-bound family from that code.
        let family = RefreshFamily::from_parts(FamilyParts {
            id: FamilyId::from_bytes([3; 16]),
            client_id: client_id.clone(),
            subject: subject.clone(),
            scope: Scope::parse("mcp:read mcp:write").expect("valid"),
            resources: resources(),
            dpop_jkt: Some(jkt.clone()),
            created_at: NOW,
            expires_at: later(86_400),
            current: TokenDigest::of(b"current"),
            generation: 3,
            previous: Some(PreviousToken {
                digest: TokenDigest::of(b"previous"),
                rotated_at: later(5),
            }),
            state: FamilyState::Revoked {
                reason: RevocationReason::Reuse(ReuseReason::RetryOtherKey),
                at: later(7),
            },
        })
        .expect("valid family");
        store
            .insert_family(&family, Some(code.digest()))
            .await
            .expect("insert family");
        assert_eq!(
            store
                .family_by_token(family.current())
                .await
                .expect("lookup"),
            Some(family.clone())
        );

        let token = AccessTokenRecord {
            jti: "jti-round-trip".into(),
            client_id: client_id.clone(),
            subject: Some(subject.clone()),
            family: Some(family.id()),
            from_code: Some(*code.digest()),
            expires_at: later(300),
            revoked: true,
        };
        store.record_access_token(&token).await.expect("record");
        assert_eq!(
            store.access_token(&token.jti).await.expect("lookup"),
            Some(token.clone())
        );

        let mut metadata = serde_json::Map::new();
        metadata.insert("client_name".into(), "Round trip ✓".into());
        metadata.insert(
            "grant_types".into(),
            serde_json::json!(["authorization_code"]),
        );
        metadata.insert(
            "nested".into(),
            serde_json::json!({"a": [1, 2.5, null, true]}),
        );
        let client = ClientRecord {
            client_id,
            metadata,
            secret_digest: Some(TokenDigest::of(b"secret")),
            secret_expires_at: Some(later(3_600)),
            registration_token_digest: Some(TokenDigest::of(b"registration")),
            fingerprint: Some(TokenDigest::of(b"fingerprint")),
            issued_at: NOW,
            first_used_at: Some(later(2)),
            may_introspect: false,
        };
        assert_eq!(
            store.register_client(&client, 10).await.expect("register"),
            Registered::Inserted
        );
        assert_eq!(
            store.client(&client.client_id).await.expect("lookup"),
            Some(client)
        );
    })
    .await;
}
