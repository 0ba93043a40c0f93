//! The example in front of an authorization server that is not Latchkey
//! (node-oidc-provider, `e2e/foreign-issuer/`), given only its issuer, the
//! algorithms (RS256 in one run, PS256 in the other) and introspection
//! credentials for its opaque tokens (see `latchkey_http_tests::foreign_issuer`).

use std::sync::Arc;
use std::time::Duration;

use actix_resource_server::{
    IntrospectionSettings, Notes, Settings, configure, metadata, resource_server,
};
use actix_web::{App, HttpServer};
use latchkey_actix::IntrospectionMode;
use latchkey_http_tests::foreign_issuer::{ForeignIssuer, INTROSPECTION_CLIENT, example_checks};
use latchkey_jose::Algorithm;
use latchkey_types::{ClientId, SecretString};
use latchkey_uri::ResourceUri;

async fn run(alg: &str) {
    let Some(provider) = ForeignIssuer::start(alg).await else {
        return;
    };
    let other = ForeignIssuer::start(alg).await.expect("a second provider");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (client_id, secret) = INTROSPECTION_CLIENT;
    let settings = Settings {
        issuer: provider.issuer.clone(),
        resource: ResourceUri::parse(&format!("{base}/mcp")).expect("resource"),
        allowed_origins: Vec::new(),
        algorithms: vec![Algorithm::Rs256, Algorithm::Ps256],
        introspection: Some(IntrospectionSettings {
            client_id: ClientId::parse(client_id).expect("client id"),
            client_secret: Arc::new(SecretString::new(secret.to_owned())),
            mode: IntrospectionMode::ForOpaqueTokens,
            cache_ttl: Duration::ZERO,
        }),
    };
    let rs = resource_server(&settings)
        .await
        .expect("the example discovers the provider");
    let notes = Notes::default();
    let example = HttpServer::new(move || {
        App::new()
            .wrap(latchkey_actix::SensitiveHeaders)
            .configure(configure(rs.clone(), &metadata(&settings), notes.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(example));
    example_checks(&provider, &other, &base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_9068_node_oidc_provider_rs256_tokens_at_the_actix_example() {
    run("RS256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_9068_node_oidc_provider_ps256_tokens_at_the_actix_example() {
    run("PS256").await;
}
