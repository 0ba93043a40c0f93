//! Costs on the request path: parsing and rendering `WWW-Authenticate`
//! challenges (every 401/403), parsing the two metadata documents (client
//! discovery) and building the discovery URLs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_metadata::{
    AuthorizationServerMetadata, Challenge, ProtectedResourceMetadata,
    authorization_server_discovery_urls, parse_www_authenticate, render_challenges,
};
use latchkey_types::{ErrorCode, Scope};

/// The MCP 2025-11-25 runtime insufficient-scope example (R11).
const MCP_403: &str = r#"Bearer error="insufficient_scope", scope="files:read files:write user:profile", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", error_description="Additional file write permission required""#;

/// RFC 9449 section 7.2 figure 19.
const TWO_CHALLENGES: &str = r#"Bearer error="invalid_request", error_description="Multiple methods used to include access token", DPoP algs="ES256 PS256", error="invalid_request", error_description="Multiple methods used to include access token""#;

const AS_DOC: &str = include_str!("../../../fuzz/corpus/as_metadata/rfc8414-3.2-example");
const PR_DOC: &str = include_str!("../../../fuzz/corpus/pr_metadata/rfc9728-3.2-example");

fn challenges(c: &mut Criterion) {
    let scope = Scope::parse("files:read files:write user:profile").expect("valid scope");
    let mut group = c.benchmark_group("www_authenticate");
    group.bench_function("parse_mcp_403", |b| {
        b.iter(|| parse_www_authenticate(black_box(MCP_403)))
    });
    group.bench_function("parse_two_challenges", |b| {
        b.iter(|| parse_www_authenticate(black_box(TWO_CHALLENGES)))
    });
    group.bench_function("build_and_render_mcp_403", |b| {
        b.iter(|| {
            let challenge = Challenge::bearer()
                .error(ErrorCode::InsufficientScope)
                .scope(black_box(&scope))
                .resource_metadata("https://mcp.example.com/.well-known/oauth-protected-resource")
                .error_description("Additional file write permission required")
                .build()
                .expect("valid challenge");
            render_challenges(&[challenge])
        })
    });
    group.finish();
}

fn documents(c: &mut Criterion) {
    let issuer = "https://auth.example.com/tenant1"
        .parse()
        .expect("valid url");
    let mut group = c.benchmark_group("metadata");
    group.bench_function("parse_rfc8414_example", |b| {
        b.iter(|| AuthorizationServerMetadata::parse(black_box(AS_DOC.as_bytes())))
    });
    group.bench_function("parse_rfc9728_example", |b| {
        b.iter(|| ProtectedResourceMetadata::parse(black_box(PR_DOC.as_bytes())))
    });
    group.bench_function("discovery_urls_path_issuer", |b| {
        b.iter(|| authorization_server_discovery_urls(black_box(&issuer)))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
}

criterion_group!(name = benches; config = config(); targets = challenges, documents);
criterion_main!(benches);
