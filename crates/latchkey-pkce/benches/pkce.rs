//! PKCE costs: computing an `S256` challenge and verifying a verifier, beside
//! raw SHA-256 of a 43-byte input (the floor both are built on).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_pkce::{CodeChallenge, CodeVerifier};
use sha2::{Digest, Sha256};

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn pkce(c: &mut Criterion) {
    let verifier =
        CodeVerifier::parse(VERIFIER.to_owned()).expect("RFC 7636 appendix B verifier is valid");
    let challenge = CodeChallenge::parse(CHALLENGE, Some("S256"))
        .expect("RFC 7636 appendix B challenge is valid");

    let mut group = c.benchmark_group("pkce");
    group.bench_function("sha256_43_bytes", |b| {
        b.iter(|| Sha256::digest(black_box(VERIFIER.as_bytes())))
    });
    group.bench_function("challenge_s256", |b| {
        b.iter(|| black_box(&verifier).challenge())
    });
    group.bench_function("verify", |b| {
        b.iter(|| black_box(&challenge).verify(black_box(&verifier)))
    });
    group.bench_function("parse_challenge", |b| {
        b.iter(|| CodeChallenge::parse(black_box(CHALLENGE), Some("S256")))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = pkce
}
criterion_main!(benches);
