//! The extractors and the require-session layer, in process, on the memory store.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokengate::store::MemoryStore;
use tokengate::{ClientInfo, Gate, TokenOptions, UserId};
use tokengate_tower::{AuthSession, RequireSessionLayer, TokenGateLayer};
use tower::ServiceExt;

fn gate() -> Gate {
    Gate::builder()
        .server_secret([5u8; 32])
        .store(MemoryStore::new())
        .build()
        .unwrap()
}

async fn credential(gate: &Gate) -> String {
    let user = UserId::parse("zoe").unwrap();
    let token = gate.create_token(&user, TokenOptions::default()).await.unwrap();
    let secret = token.secret.unwrap().expose().to_owned();
    let (_, credential) = gate
        .create_session(&user, &secret, ClientInfo::default())
        .await
        .unwrap();
    credential.expose().to_owned()
}

async fn call(app: Router, path: &str, credential: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut request = Request::get(path);
    if let Some(credential) = credential {
        request = request.header("x-appwrite-session", credential);
    }
    let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

fn routes() -> Router {
    Router::new()
        .route("/required", get(|s: AuthSession| async move { s.user_id.to_string() }))
        .route(
            "/optional",
            get(|s: Option<AuthSession>| async move { s.map_or("anonymous".to_owned(), |s| s.user_id.to_string()) }),
        )
}

#[tokio::test]
async fn extractors_with_the_layer() {
    let gate = gate();
    let credential = credential(&gate).await;
    let app = routes().layer(TokenGateLayer::new(gate));
    assert_eq!(
        call(app.clone(), "/required", Some(&credential)).await.0,
        StatusCode::OK
    );
    let (status, body) = call(app.clone(), "/required", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "user_unauthorized");
    assert_eq!(call(app.clone(), "/optional", None).await.0, StatusCode::OK);
    assert_eq!(
        call(app, "/required", Some("garbage")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_missing_layer_is_a_500_naming_it() {
    for path in ["/required", "/optional"] {
        let (status, body) = call(routes(), path, None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body["message"].as_str().unwrap().contains("TokenGateLayer"), "{body}");
    }
}

#[tokio::test]
async fn require_session_guards_a_group() {
    let gate = gate();
    let credential = credential(&gate).await;
    let private = Router::new()
        .route("/private", get(|| async { "secret" }))
        .route_layer(RequireSessionLayer::new());
    let app = Router::new()
        .merge(private)
        .route("/public", get(|| async { "hello" }))
        .layer(TokenGateLayer::new(gate));
    let (status, body) = call(app.clone(), "/private", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "user_unauthorized");
    assert_eq!(call(app.clone(), "/private", Some(&credential)).await.0, StatusCode::OK);
    assert_eq!(call(app, "/public", None).await.0, StatusCode::OK);
}

/// With the store unreachable, a request that asks for its session gets a
/// 503 (never 401, never anonymous), and one whose route never looks at
/// the session is served without the store.
#[tokio::test]
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
    let private = Router::new()
        .route("/private", get(|| async { "secret" }))
        .route_layer(RequireSessionLayer::new());
    let app = routes()
        .merge(private)
        .route("/public", get(|| async { "hello" }))
        .layer(TokenGateLayer::new(gate));
    for path in ["/required", "/optional", "/private"] {
        let (status, body) = call(app.clone(), path, Some(&credential)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["type"], "general_server_error", "{path}");
    }
    assert_eq!(call(app.clone(), "/public", Some(&credential)).await.0, StatusCode::OK);
    assert_eq!(call(app, "/optional", None).await.0, StatusCode::OK);
}
