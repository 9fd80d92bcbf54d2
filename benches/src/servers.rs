//! The servers under test: one per row, on a free loopback port, in process.
//! axum runs on its own multi-thread tokio runtime; actix-web runs its own
//! `System` in a thread. Both use one worker thread per CPU.

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_session::storage::RedisSessionStore;
use actix_session::{Session as ActixSession, SessionMiddleware};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokengate::store::{RedisStore, RedisStoreConfig};
use tokengate::{Gate, ServerSecret};
use tower_sessions::{Session as TowerSession, SessionManagerLayer};
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config as FredConfig, Pool};
use tower_sessions_redis_store::RedisStore as TowerRedisStore;

/// Size of the fred pool for tower-sessions, as in its store's documented example.
pub const FRED_POOL_SIZE: usize = 6;

/// Which of the four per-request rows a server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// (a) no auth: the framework ceiling.
    NoAuth,
    /// (b) tokengate's layer/middleware with a valid `X-Appwrite-Session`.
    TokenGate,
    /// (c) the floor: one raw `GET` on a shared redis-rs `ConnectionManager`.
    Floor,
    /// (d) the framework's session peer (tower-sessions / actix-session) reading its session.
    Peer,
    /// (e) (b) with the opt-in local session cache (revocations over Redis pub/sub).
    Cached,
}

impl Row {
    /// Every row, in table order.
    pub const ALL: [Row; 5] = [Row::NoAuth, Row::TokenGate, Row::Floor, Row::Peer, Row::Cached];

    /// The row's letter.
    pub fn letter(self) -> char {
        match self {
            Row::NoAuth => 'a',
            Row::TokenGate => 'b',
            Row::Floor => 'c',
            Row::Peer => 'd',
            Row::Cached => 'e',
        }
    }
}

/// The web framework of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// axum 0.8 on tokio.
    Axum,
    /// actix-web 4.
    Actix,
}

impl Framework {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix-web",
        }
    }

    /// What a row is, in this framework.
    pub fn describe(self, row: Row) -> &'static str {
        match (self, row) {
            (_, Row::NoAuth) => "no auth",
            (Framework::Axum, Row::TokenGate) => "tokengate `TokenGateLayer` + `AuthSession`",
            (Framework::Actix, Row::TokenGate) => "tokengate `TokenGate` + `AuthSession`",
            (_, Row::Floor) => "floor: 1 raw GET (redis-rs ConnectionManager)",
            (Framework::Axum, Row::Peer) => "tower-sessions 0.14 + redis-store 0.16 (fred)",
            (Framework::Actix, Row::Peer) => "actix-session 0.11 `RedisSessionStore`",
            (Framework::Axum, Row::Cached) => "(b) with the local session cache (2 s TTL, pub/sub revocation)",
            (Framework::Actix, Row::Cached) => "(b) with the local session cache (2 s TTL, pub/sub revocation)",
        }
    }
}

/// What every server needs to know.
#[derive(Clone)]
pub struct Context {
    /// `redis://…` of the benchmark's own server.
    pub redis_url: String,
    /// The server secret shared with the code that created the sessions.
    pub secret: ServerSecret,
}

/// The session header the floor reads its key from (as tokengate reads its
/// credential: by a prepared name, not by text parsed on every request).
static SESSION_HEADER: axum::http::HeaderName = axum::http::HeaderName::from_static("x-appwrite-session");
static ACTIX_SESSION_HEADER: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("x-appwrite-session");

/// A running server for one row.
pub enum Running {
    /// axum on its runtime.
    Axum {
        /// The runtime (dropped at stop).
        runtime: tokio::runtime::Runtime,
        /// Tells the server to stop.
        stop: tokio::sync::oneshot::Sender<()>,
    },
    /// actix-web in its thread.
    Actix {
        /// The server handle.
        handle: actix_web::dev::ServerHandle,
        /// The thread running the `System`.
        thread: JoinHandle<()>,
    },
}

/// A server for one row, listening on `addr`.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    running: Running,
}

impl Server {
    /// Starts the server for `row` of `framework`.
    pub fn start(framework: Framework, row: Row, ctx: &Context) -> Result<Server, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let running = match framework {
            Framework::Axum => start_axum(row, ctx, listener)?,
            Framework::Actix => start_actix(row, ctx, listener)?,
        };
        Ok(Server { addr, running })
    }

    /// Stops it and waits for its threads.
    pub fn stop(self) {
        match self.running {
            Running::Axum { runtime, stop } => {
                let _ = stop.send(());
                runtime.shutdown_timeout(Duration::from_secs(2));
            }
            Running::Actix { handle, thread } => {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    runtime.block_on(handle.stop(false));
                }
                let _ = thread.join();
            }
        }
    }
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The cache TTL of row (e).
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

async fn gate_with(ctx: &Context, cached: bool) -> Result<Gate, String> {
    let store = RedisStore::connect(&ctx.redis_url, RedisStoreConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut builder = Gate::builder().server_key(ctx.secret.clone()).store(store);
    if cached {
        let channel = tokengate::store::RedisRevocations::connect(&ctx.redis_url, &RedisStoreConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        builder = builder.session_cache(CACHE_TTL, channel);
    }
    builder.build().map_err(|e| e.to_string())
}

async fn floor_connection(ctx: &Context) -> Result<ConnectionManager, String> {
    let client = redis::Client::open(ctx.redis_url.as_str()).map_err(|e| e.to_string())?;
    ConnectionManager::new(client).await.map_err(|e| e.to_string())
}

// ---------------------------------------------------------------- axum

// Reads the header in place (the `HeaderMap` extractor would copy every
// header): the floor is the cheapest one-GET handler, not a typical one.
async fn axum_floor(
    State(mut conn): State<ConnectionManager>,
    request: axum::extract::Request,
) -> (StatusCode, &'static str) {
    let Some(key) = request.headers().get(&SESSION_HEADER) else {
        return (StatusCode::UNAUTHORIZED, "");
    };
    match conn.get::<_, Option<Vec<u8>>>(key.as_bytes()).await {
        Ok(Some(_)) => (StatusCode::OK, "ok"),
        Ok(None) => (StatusCode::UNAUTHORIZED, ""),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, ""),
    }
}

async fn axum_peer_read(session: TowerSession) -> (StatusCode, String) {
    match session.get::<String>("user").await {
        Ok(Some(user)) => (StatusCode::OK, user),
        Ok(None) => (StatusCode::UNAUTHORIZED, String::new()),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
    }
}

async fn axum_peer_login(session: TowerSession, Path(user): Path<String>) -> StatusCode {
    match session.insert("user", user).await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn axum_app(row: Row, ctx: &Context) -> Result<Router, String> {
    Ok(match row {
        Row::NoAuth => Router::new().route("/bench", get(|| async { "ok" })),
        Row::TokenGate | Row::Cached => {
            let gate = gate_with(ctx, row == Row::Cached).await?;
            Router::new()
                .route(
                    "/bench",
                    get(|s: tokengate_tower::AuthSession| async move { s.user_id.to_string() }),
                )
                .layer(tokengate_tower::TokenGateLayer::new(gate))
        }
        Row::Floor => {
            let conn = floor_connection(ctx).await?;
            Router::new().route("/bench", get(axum_floor)).with_state(conn)
        }
        Row::Peer => {
            let config = FredConfig::from_url(&ctx.redis_url).map_err(|e| e.to_string())?;
            let pool = Pool::new(config, None, None, None, FRED_POOL_SIZE).map_err(|e| e.to_string())?;
            pool.connect();
            pool.wait_for_connect().await.map_err(|e| e.to_string())?;
            let layer = SessionManagerLayer::new(TowerRedisStore::new(pool)).with_secure(false);
            Router::new()
                .route("/bench", get(axum_peer_read))
                .route("/login/{user}", get(axum_peer_login))
                .layer(layer)
        }
    })
}

fn start_axum(row: Row, ctx: &Context, listener: TcpListener) -> Result<Running, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .thread_name("axum-worker")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Built inside the runtime: redis clients spawn their drivers there.
    let app = runtime.block_on(axum_app(row, ctx))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?
    };
    runtime.spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            eprintln!("axum server error: {error}");
        }
    });
    Ok(Running::Axum { runtime, stop })
}

// ---------------------------------------------------------------- actix

async fn actix_floor(conn: web::Data<ConnectionManager>, request: HttpRequest) -> HttpResponse {
    let Some(key) = request.headers().get(&ACTIX_SESSION_HEADER) else {
        return HttpResponse::Unauthorized().finish();
    };
    let mut conn = conn.get_ref().clone();
    match conn.get::<_, Option<Vec<u8>>>(key.as_bytes()).await {
        Ok(Some(_)) => HttpResponse::Ok().body("ok"),
        Ok(None) => HttpResponse::Unauthorized().finish(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

async fn actix_peer_read(session: ActixSession) -> HttpResponse {
    match session.get::<String>("user") {
        Ok(Some(user)) => HttpResponse::Ok().body(user),
        Ok(None) => HttpResponse::Unauthorized().finish(),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn actix_peer_login(session: ActixSession, user: web::Path<String>) -> HttpResponse {
    match session.insert("user", user.into_inner()) {
        Ok(()) => HttpResponse::Ok().finish(),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// Serves an app factory the same way in every actix row: one worker per
/// CPU, no signal handling, a short shutdown. (A macro: a function would
/// have to spell out all of `HttpServer`'s bounds.)
macro_rules! serve_actix {
    ($factory:expr, $listener:expr) => {
        HttpServer::new($factory)
            .workers(workers())
            .disable_signals()
            .shutdown_timeout(1)
            .listen($listener)
            .map_err(|e| e.to_string())?
            .run()
    };
}

async fn actix_server(row: Row, ctx: Context, listener: TcpListener) -> Result<actix_web::dev::Server, String> {
    Ok(match row {
        Row::NoAuth => {
            serve_actix!(
                || App::new().route("/bench", web::get().to(|| async { HttpResponse::Ok().body("ok") })),
                listener
            )
        }
        Row::TokenGate | Row::Cached => {
            let gate = gate_with(&ctx, row == Row::Cached).await?;
            serve_actix!(
                move || {
                    App::new().wrap(tokengate_actix::TokenGate::new(gate.clone())).route(
                        "/bench",
                        web::get().to(|s: tokengate_actix::AuthSession| async move {
                            HttpResponse::Ok().body(s.user_id.to_string())
                        }),
                    )
                },
                listener
            )
        }
        Row::Floor => {
            let conn = web::Data::new(floor_connection(&ctx).await?);
            serve_actix!(
                move || {
                    App::new()
                        .app_data(conn.clone())
                        .route("/bench", web::get().to(actix_floor))
                },
                listener
            )
        }
        Row::Peer => {
            let store = RedisSessionStore::new(ctx.redis_url.clone())
                .await
                .map_err(|e| e.to_string())?;
            let key = actix_web::cookie::Key::generate();
            serve_actix!(
                move || {
                    App::new()
                        .wrap(
                            SessionMiddleware::builder(store.clone(), key.clone())
                                .cookie_secure(false)
                                .build(),
                        )
                        .route("/bench", web::get().to(actix_peer_read))
                        .route("/login/{user}", web::get().to(actix_peer_login))
                },
                listener
            )
        }
    })
}

fn start_actix(row: Row, ctx: &Context, listener: TcpListener) -> Result<Running, String> {
    let ctx = ctx.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("actix-system".to_owned())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                // Built inside the System: redis clients spawn their drivers here.
                match actix_server(row, ctx, listener).await {
                    Ok(server) => {
                        let _ = sender.send(Ok(server.handle()));
                        if let Err(error) = server.await {
                            eprintln!("actix server error: {error}");
                        }
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error));
                    }
                }
            });
        })
        .map_err(|e| e.to_string())?;
    let handle = receiver
        .recv()
        .map_err(|_| "the actix thread ended early".to_owned())??;
    Ok(Running::Actix { handle, thread })
}
