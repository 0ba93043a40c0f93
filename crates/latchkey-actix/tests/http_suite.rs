//! The shared HTTP-level suite (`latchkey-http-tests`) against an actix-web
//! server on `127.0.0.1:0` serving the fixture engine over `MemoryStore`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use latchkey_actix::{
    AccessToken, InteractionHandler, RequireAccessToken, ResourceServer, SensitiveHeaders,
    complete_authorization, configure_authorization_server, configure_protected_resource_metadata,
};
use latchkey_engine::Engine;
use latchkey_engine::authorize::{AuthorizationDecision, PendingAuthorization};
use latchkey_http_tests::{
    ADMIN_PATH, ADMIN_SCOPES, ALLOWED_ORIGIN, RESOURCE_PATH, TEST_SUBJECT, TestTarget,
    fixture_engine, fixture_resource_uri,
};
use latchkey_store::MemoryStore;
use latchkey_types::{Scope, Subject};

/// Approves every request as `alice` (the suite's test interaction behaviour).
struct AutoApprove;

impl InteractionHandler<MemoryStore, latchkey_engine::NoMetadataFetcher> for AutoApprove {
    async fn interact(
        &self,
        engine: Arc<Engine<MemoryStore>>,
        pending: PendingAuthorization,
        _request: HttpRequest,
    ) -> HttpResponse {
        let decision = AuthorizationDecision::Approve {
            subject: Subject::parse(TEST_SUBJECT).expect("valid subject"),
            auth_time: latchkey_actix::now(),
            remember_consent: false,
        };
        complete_authorization(&engine, pending, decision).await
    }
}

async fn resource_handler(token: AccessToken) -> HttpResponse {
    let claims = token.claims();
    HttpResponse::Ok().json(serde_json::json!({
        "sub": claims.sub.as_str(),
        "client_id": claims.client_id.as_str(),
        "scope": claims.scope.to_string(),
    }))
}

/// Binds first, then builds the engine with the bound port, so the issuer and
/// every `htu` are the URLs the client uses.
async fn start() -> TestTarget {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let base = format!("http://127.0.0.1:{port}");
    let engine = fixture_engine(&base).await;
    let rs = Arc::new(
        ResourceServer::from_engine(&engine, &fixture_resource_uri(&base))
            .expect("resource server")
            .with_allowed_origins([ALLOWED_ORIGIN.to_owned()]),
    );
    let metadata = engine
        .protected_resource_metadata_document(&fixture_resource_uri(&base))
        .expect("configured resource");
    let admin = Scope::parse(ADMIN_SCOPES).expect("scope");
    let server = HttpServer::new(move || {
        let as_routes = configure_authorization_server(Arc::clone(&engine), AutoApprove)
            .expect("configured urls are absolute");
        App::new()
            .wrap(SensitiveHeaders)
            .configure(as_routes)
            .configure(configure_protected_resource_metadata(&metadata))
            .service(
                web::resource(ADMIN_PATH)
                    .wrap(RequireAccessToken::new(Arc::clone(&rs)).require_scopes(admin.clone()))
                    .route(web::get().to(resource_handler)),
            )
            .service(
                web::resource(RESOURCE_PATH)
                    .wrap(RequireAccessToken::new(Arc::clone(&rs)))
                    .route(web::get().to(resource_handler))
                    .route(web::post().to(resource_handler)),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    TestTarget::new(base)
}

latchkey_http_tests::http_suite!(start());
