//! The actix-web example server (see the example-server contract in the README).

use actix_cors::Cors;
use actix_web::{http::Method, web, App, HttpResponse, HttpServer};
use tokengate_actix::{AuthSession, TokenGate};

async fn login_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(tokengate_examples::LOGIN_PAGE)
}

async fn public() -> HttpResponse {
    HttpResponse::Ok().json(tokengate_examples::public_json())
}

async fn me(session: AuthSession) -> HttpResponse {
    HttpResponse::Ok().json(tokengate_examples::me_json(&session))
}

#[actix_web::main]
async fn main() {
    let config = tokengate_examples::start().await;
    let endpoints = config.endpoints;
    let server = HttpServer::new(move || {
        // CORS for the app's own routes, inside the gate's middleware (the
        // last `wrap` is the outermost): the mounted routes never reach it.
        let cors = tokengate_examples::app_cors_origins(&endpoints)
            .iter()
            .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
            .supports_credentials()
            .allowed_methods([Method::GET])
            .allowed_headers(tokengate_examples::APP_CORS_HEADERS)
            // Another origin gets no CORS headers, not an error page.
            .block_on_origin_mismatch(false);
        App::new()
            .wrap(cors)
            .wrap(TokenGate::new(endpoints.clone()))
            .route("/", web::get().to(login_page))
            .route("/public", web::get().to(public))
            .route("/me", web::get().to(me))
    })
    .bind(config.listen);
    let server = match server {
        Ok(server) => server,
        Err(error) => {
            eprintln!("cannot bind {}: {error}", config.listen);
            std::process::exit(1);
        }
    };
    tracing::info!("actix-app listening on http://{}", config.listen);
    if let Err(error) = server.run().await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}
