//! Access-token issue and validation against the raw aws-lc primitives, in one run.
//!
//! `cargo bench -p latchkey-token --bench token`. Compare `issue` with `raw_sign`
//! and `validate` with `raw_verify` per algorithm: the difference is this crate's
//! overhead (claims JSON, base64url, header and claims parsing, checks).

#![expect(clippy::unwrap_used, reason = "benchmark set-up on fixed inputs")]

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair, ParsedPublicKey,
};
use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type RawSign = Box<dyn Fn(&[u8]) -> Vec<u8>>;
type RawVerify = Box<dyn Fn(&[u8], &[u8]) -> bool>;

const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

fn claims(rng: &mut ChaCha20Rng) -> AccessTokenClaims {
    AccessTokenClaims::new(
        "https://auth.example.com".to_owned(),
        Subject::parse("user-4f1c2a").unwrap(),
        ClientId::parse("https://client.example.com/oauth/metadata.json").unwrap(),
        Audience::new(ResourceUri::parse("https://mcp.example.com/mcp").unwrap()),
        NOW,
        rng,
    )
    .with_scope(Scope::parse("mcp:tools mcp:resources").unwrap())
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let key = SigningKey::generate(alg, "bench".to_owned(), &mut rng);
        let der = key.to_pkcs8();
        let keys = KeySet::new(key).unwrap();
        let claims = claims(&mut rng);
        let token = keys.issue(&claims);
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        let signing_input = signing_input.as_bytes().to_vec();
        let validator = AccessTokenValidator::new(
            keys.jwks(),
            "https://auth.example.com".to_owned(),
            ResourceUri::parse("https://mcp.example.com/mcp").unwrap(),
            AudienceMatch::Exact,
        )
        .with_algorithms(&[alg])
        .unwrap();
        validator.validate(&token, NOW).unwrap();

        // The same primitives on pre-parsed keys, over a message of the token's size.
        let (raw_sign, raw_verify): (RawSign, RawVerify) = match alg {
            Algorithm::Es256 => {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
                let public =
                    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
                        .unwrap();
                (
                    Box::new(move |m: &[u8]| {
                        pair.sign_digest(&digest(&SHA256, m))
                            .unwrap()
                            .as_ref()
                            .to_vec()
                    }),
                    Box::new(move |m: &[u8], s: &[u8]| public.verify_sig(m, s).is_ok()),
                )
            }
            // The loop runs ES256 and EdDSA only.
            _ => {
                let pair = Ed25519KeyPair::from_pkcs8(&der).unwrap();
                let public = ParsedPublicKey::new(&ED25519, pair.public_key().as_ref()).unwrap();
                (
                    Box::new(move |m: &[u8]| pair.sign(m).as_ref().to_vec()),
                    Box::new(move |m: &[u8], s: &[u8]| public.verify_sig(m, s).is_ok()),
                )
            }
        };
        let signature = raw_sign(&signing_input);
        assert!(raw_verify(&signing_input, &signature));

        let mut group = c.benchmark_group(alg.as_str());
        group.measurement_time(Duration::from_secs(3));
        group.sample_size(20);
        group.bench_function("raw_sign", |b| {
            b.iter(|| raw_sign(black_box(&signing_input)))
        });
        group.bench_function("issue", |b| b.iter(|| keys.issue(black_box(&claims))));
        group.bench_function("raw_verify", |b| {
            b.iter(|| raw_verify(black_box(&signing_input), black_box(&signature)))
        });
        group.bench_function("validate", |b| {
            b.iter(|| validator.validate(black_box(&token), NOW).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
