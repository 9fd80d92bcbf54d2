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
    // routes never reach it (they answer their own CORS).
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
        .layer(cors)
        .layer(TokenGateLayer::new(config.endpoints));

    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot bind {}: {error}", config.listen);
            std::process::exit(1);
        }
    };
    tracing::info!("axum-app listening on http://{}", config.listen);
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(error) = axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}
