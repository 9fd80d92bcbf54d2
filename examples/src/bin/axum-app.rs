//! The axum example server (see the example-server contract in the README).

use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use tokengate_tower::{AuthSession, TokenGateLayer};
use tower_http::cors::CorsLayer;

async fn login_page() -> Html<&'static str> {
    Html(tokengate_examples::LOGIN_PAGE)
}

async fn public() -> Json<serde_json::Value> {
    Json(tokengate_examples::public_json())
}

async fn me(session: AuthSession) -> Json<serde_json::Value> {
    Json(tokengate_examples::me_json(&session))
}

#[tokio::main]
async fn main() {
    let config = tokengate_examples::start().await;
    // CORS for the app's own routes, inside the gate's layer: the mounted
    // routes never reach it (they answer their own CORS); only requests
    // with an `Origin` pay for it.
    let origins = tokengate_examples::app_cors_origins(&config.endpoints)
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok());
    let cors = CorsLayer::new()
        .allow_origin(origins.collect::<Vec<_>>())
        .allow_credentials(true)
        .allow_methods([Method::GET])
        .allow_headers(tokengate_examples::APP_CORS_HEADERS.map(HeaderName::from_static));
    let app = Router::new()
        .route("/", get(login_page))
        .route("/public", get(public))
        .route("/me", get(me))
        .layer(tokengate_examples::OriginOnly(cors))
        .layer(TokenGateLayer::new(config.endpoints));

    tokengate_examples::serve_axum(app, config.listen, "axum-app").await;
}
