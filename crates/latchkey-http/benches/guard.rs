//! The guard's synchronous check of a Bearer ES256 access token: the first
//! use of a token (validated: signature and claims) beside a repeated one
//! (found in the cache of validated JWTs by the token's SHA-256).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_http::{RequestHead, ResourceServer};
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;

fn guard(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let keys = KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rng,
    ))
    .expect("key set");
    let resource = ResourceUri::parse("https://mcp.example.com/mcp").expect("resource");
    let now = UnixTime::from_secs(1_800_000_000);
    let claims = AccessTokenClaims::new(
        "https://as.example.com".to_owned(),
        Subject::parse("alice").expect("subject"),
        ClientId::parse("client-1").expect("client id"),
        Audience::new(resource.clone()),
        now,
        &mut rng,
    )
    .with_scope(Scope::parse("mcp:read").expect("scope"));
    let token = keys.issue(&claims);
    let validator = || {
        AccessTokenValidator::new(
            keys.jwks(),
            "https://as.example.com".to_owned(),
            resource.clone(),
            AudienceMatch::Exact,
        )
    };
    let uncached = ResourceServer::new(resource.clone(), validator()).with_token_cache(0);
    let cached = ResourceServer::new(resource.clone(), validator());
    let (parts, ()) = http::Request::get("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .expect("request")
        .into_parts();
    let scopes = Scope::parse("mcp:read").expect("scope");
    cached
        .check(RequestHead::from(&parts), &scopes, now)
        .expect("the token is valid");

    let mut group = c.benchmark_group("guard");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("first use (validated)", |b| {
        b.iter(|| black_box(uncached.check(RequestHead::from(&parts), &scopes, now)));
    });
    group.bench_function("repeat use (cached)", |b| {
        b.iter(|| black_box(cached.check(RequestHead::from(&parts), &scopes, now)));
    });
    group.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
