//! The shared HTTP-level suite (`latchkey-http-tests`) against an actix-web
//! server on `127.0.0.1:0` serving the fixture engine over `MemoryStore`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use latchkey_actix::{
    AccessToken, AuthorizationServer, Interaction, InteractionHandler, RequireAccessToken,
    ResourceServer, SensitiveHeaders, authorization_server_routes,
    protected_resource_metadata_routes,
};
use latchkey_engine::authorize::PendingAuthorization;
use latchkey_http_tests::{
    ADMIN_PATH, ADMIN_SCOPES, ALLOWED_ORIGIN, RESOURCE_PATH, TestTarget, fixture_engine,
    fixture_resource_uri,
};
use latchkey_types::Scope;

/// Approves every request as `alice` (the suite's test interaction behaviour).
struct AutoApprove;

impl InteractionHandler for AutoApprove {
    fn interact<'a>(
        &'a self,
        _pending: PendingAuthorization,
        _request: &'a http::request::Parts,
        now: latchkey_types::UnixTime,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Interaction> + Send + 'a>> {
        Box::pin(async move { Interaction::Decide(latchkey_http_tests::test_decision(now)) })
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
    let authorization = Arc::new(AuthorizationServer::new(engine, Arc::new(AutoApprove)));
    let server = HttpServer::new(move || {
        let as_routes = authorization_server_routes(Arc::clone(&authorization));
        App::new()
            .wrap(SensitiveHeaders)
            .configure(as_routes)
            .configure(protected_resource_metadata_routes(&metadata))
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
