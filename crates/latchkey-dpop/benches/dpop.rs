//! DPoP proof validation beside the raw ES256 signature verification it is built
//! on, over the same key and message (RFC 9449 Figure 2).

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey, UnparsedPublicKey};
use base64ct::{Base64UrlUnpadded, Encoding};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use latchkey_dpop::{
    DpopConfig, DpopNonces, Htu, MemoryReplayCache, NonceKey, ProofExpectations, validate_proof,
};
use latchkey_types::UnixTime;

/// RFC 9449 section 4.1, Figure 2.
const PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
    ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ",
    ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
);
/// The `jwk` of Figure 2's header.
const X: &str = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs";
const Y: &str = "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA";

fn dpop(c: &mut Criterion) {
    let (signing_input, signature_b64) = PROOF.rsplit_once('.').expect("three segments");
    let signature = Base64UrlUnpadded::decode_vec(signature_b64).expect("base64url signature");
    let mut point = vec![0x04];
    point.extend(Base64UrlUnpadded::decode_vec(X).expect("x"));
    point.extend(Base64UrlUnpadded::decode_vec(Y).expect("y"));
    let parsed =
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).expect("Figure 2 key is on P-256");

    let uri = Htu::parse("https://server.example.com/token").expect("valid uri");
    let expected = ProofExpectations::new("POST", &uri);
    let now = UnixTime::from_secs(1_562_262_616);
    let config = DpopConfig::default();
    let nonces = DpopNonces::new(NonceKey::new(&[7; 32]).expect("32-byte key"));

    let mut group = c.benchmark_group("dpop");
    group.bench_function("aws_lc_es256_verify_parsed_key", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                .expect("Figure 2 verifies")
        })
    });
    group.bench_function("aws_lc_es256_verify_unparsed_key", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&point))
                .verify(black_box(signing_input.as_bytes()), black_box(&signature))
                .expect("Figure 2 verifies")
        })
    });
    group.bench_function("validate_proof", |b| {
        b.iter_batched_ref(
            || MemoryReplayCache::new(16),
            |cache| {
                validate_proof(&[black_box(PROOF)], &expected, now, cache, &config)
                    .expect("Figure 2 validates")
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("htu_parse", |b| {
        b.iter(|| Htu::parse(black_box("https://Server.example.com:443/%74oken?x=1")))
    });
    group.bench_function("nonce_issue_and_check", |b| {
        b.iter(|| {
            let nonce = nonces.issue(black_box(now));
            nonces.check(nonce.as_str(), now)
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = dpop
}
criterion_main!(benches);
