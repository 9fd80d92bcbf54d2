//! The extractor and the require-session wrapper, in process, on the memory store.

use actix_web::{test, web, App, HttpResponse};
use tokengate::store::MemoryStore;
use tokengate::{ClientInfo, Gate, TokenOptions, UserId};
use tokengate_actix::{AuthSession, RequireSession, TokenGate};

fn gate() -> Gate {
    Gate::builder()
        .server_secret([6u8; 32])
        .store(MemoryStore::new())
        .build()
        .unwrap()
}

async fn credential(gate: &Gate) -> String {
    let user = UserId::parse("yan").unwrap();
    let token = gate.create_token(&user, TokenOptions::default()).await.unwrap();
    let secret = token.secret.unwrap().expose().to_owned();
    let (_, credential) = gate
        .create_session(&user, &secret, ClientInfo::default())
        .await
        .unwrap();
    credential.expose().to_owned()
}

async fn required(session: AuthSession) -> HttpResponse {
    HttpResponse::Ok().body(session.user_id.to_string())
}

async fn optional(session: Option<AuthSession>) -> HttpResponse {
    HttpResponse::Ok().body(session.map_or("anonymous".to_owned(), |s| s.user_id.to_string()))
}

#[actix_web::test]
async fn extractors_with_the_middleware() {
    let gate = gate();
    let credential = credential(&gate).await;
    let app = test::init_service(
        App::new()
            .wrap(TokenGate::new(gate))
            .route("/required", web::get().to(required))
            .route("/optional", web::get().to(optional)),
    )
    .await;
    let ok = test::TestRequest::get()
        .uri("/required")
        .insert_header(("x-appwrite-session", credential.as_str()));
    assert_eq!(test::call_service(&app, ok.to_request()).await.status(), 200);
    let missing = test::call_service(&app, test::TestRequest::get().uri("/required").to_request()).await;
    assert_eq!(missing.status(), 401);
    let body: serde_json::Value = test::read_body_json(missing).await;
    assert_eq!(body["type"], "user_unauthorized");
    let anonymous = test::call_service(&app, test::TestRequest::get().uri("/optional").to_request()).await;
    assert_eq!(test::read_body(anonymous).await, "anonymous");
}

#[actix_web::test]
async fn a_missing_middleware_is_a_500_naming_it() {
    let app = test::init_service(App::new().route("/required", web::get().to(required))).await;
    let response = test::call_service(&app, test::TestRequest::get().uri("/required").to_request()).await;
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert!(body["message"].as_str().unwrap().contains("TokenGate"), "{body}");
}

#[actix_web::test]
async fn require_session_guards_a_scope() {
    let gate = gate();
    let credential = credential(&gate).await;
    let app = test::init_service(
        App::new()
            .wrap(TokenGate::new(gate))
            .service(
                web::scope("/private")
                    .wrap(RequireSession)
                    .route("/page", web::get().to(|| async { HttpResponse::Ok().body("secret") })),
            )
            .route("/public", web::get().to(|| async { HttpResponse::Ok().body("hello") })),
    )
    .await;
    let denied = test::call_service(&app, test::TestRequest::get().uri("/private/page").to_request()).await;
    assert_eq!(denied.status(), 401);
    let allowed = test::TestRequest::get()
        .uri("/private/page")
        .insert_header(("x-appwrite-session", credential.as_str()));
    assert_eq!(test::call_service(&app, allowed.to_request()).await.status(), 200);
    let public = test::call_service(&app, test::TestRequest::get().uri("/public").to_request()).await;
    assert_eq!(public.status(), 200);
}

/// With the store unreachable, a request whose handler or guard asks for
/// its session gets a 503, also through `Option<AuthSession>` (never served
/// as anonymous); one whose route never looks at the session is served
/// without the store, as in tokengate-tower: the same lookup timing.
#[actix_web::test]
async fn a_failing_store_is_a_503_only_where_the_session_is_asked_for() {
    // A port nothing listens on: every connection attempt is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = tokengate::store::RedisStore::connect(
        &format!("redis://127.0.0.1:{port}"),
        tokengate::store::RedisStoreConfig::default(),
    )
    .await
    .unwrap();
    let gate = Gate::builder().server_secret([5u8; 32]).store(store).build().unwrap();
    // A well-formed credential, so that the lookup has to reach the store.
    let credential = format!("zoe.{}", "A".repeat(43));
    let app = test::init_service(
        App::new()
            .wrap(TokenGate::new(gate))
            .route("/required", web::get().to(required))
            .route("/optional", web::get().to(optional))
            .service(
                web::scope("/private")
                    .wrap(RequireSession)
                    .route("/page", web::get().to(|| async { HttpResponse::Ok().body("secret") })),
            )
            .route("/public", web::get().to(|| async { HttpResponse::Ok().body("hello") })),
    )
    .await;
    for path in ["/required", "/optional", "/private/page"] {
        let request = test::TestRequest::get()
            .uri(path)
            .insert_header(("x-appwrite-session", credential.as_str()));
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), 503, "{path}");
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["type"], "general_server_error", "{path}");
    }
    let public = test::TestRequest::get()
        .uri("/public")
        .insert_header(("x-appwrite-session", credential.as_str()));
    assert_eq!(test::call_service(&app, public.to_request()).await.status(), 200);
    let anonymous = test::TestRequest::get().uri("/optional").to_request();
    let response = test::call_service(&app, anonymous).await;
    assert_eq!(response.status(), 200);
    assert_eq!(test::read_body(response).await, "anonymous");
}
