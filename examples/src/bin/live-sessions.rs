//! A service holding websockets that learns of logouts made elsewhere:
//! `GET /live` (a websocket, for a signed-in client) stays open until that
//! session ends at any service sharing the Redis (logout, logout-all,
//! eviction, an admin, the user's deletion, its expiry), then closes with
//! code 4001.
//!
//! One follower per process reads the event log (`events::follow`: every
//! process sees every event) and fans the session deletions out to the
//! sockets. Configured like the example apps (`REDIS_URL`, `TOKENGATE_*`),
//! with `TOKENGATE_EVENTS=1` so that its gate keeps an event log.
//!
//! What a socket must show, and what it may cost:
//!
//! - a page of another origin cannot open one with the victim's cookie
//!   (cross-site websocket hijacking): a handshake whose `Origin` is not the
//!   app's own, the public URL's or one of `TOKENGATE_ALLOWED_ORIGINS` is
//!   refused (403), the same rule as session creation;
//! - the session is checked against the store once the socket listens for
//!   its end (a credential still in a local session cache, or ended just
//!   before, does not keep a socket open), and again at the session's expiry
//!   and every `TOKENGATE_LIVE_RECHECK_MS` (default 60000): an end without
//!   an event (expiry, idle timeout, an event lost) closes it too;
//! - at most 8 sockets per session at a time (429 beyond).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use tokengate::Gate;
use tokengate_events::{follow, EventKind, EventPattern};
use tokengate_tower::{AuthRejection, AuthSession, TokenGateLayer};
use tokio::sync::broadcast;

/// A session that ended: (user id, session id); `None` for the session id
/// when the whole user was deleted.
type Ended = (String, Option<String>);

/// The close code a client sees when its session ended elsewhere.
const SESSION_ENDED: u16 = 4001;

/// Sockets one session may hold at a time.
const MAX_SOCKETS_PER_SESSION: usize = 8;

/// Default interval between two checks of a socket's session in the store.
const DEFAULT_RECHECK: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Live {
    ended: broadcast::Sender<Ended>,
    gate: Gate,
    /// For the handshake's origin check.
    endpoints: tokengate::api::Endpoints,
    /// Open sockets per session id.
    open: Arc<Mutex<HashMap<String, usize>>>,
    recheck: Duration,
}

/// One of a session's socket slots, given back when dropped.
struct Slot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    session: String,
}

impl Slot {
    fn take(open: &Arc<Mutex<HashMap<String, usize>>>, session: &str) -> Option<Slot> {
        let mut counts = open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(session.to_owned()).or_insert(0);
        if *count >= MAX_SOCKETS_PER_SESSION {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: Arc::clone(open),
            session: session.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.session) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.session);
            }
        }
    }
}

fn refused(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({ "message": message, "code": status.as_u16(), "type": kind, "version": "" });
    (status, Json(body)).into_response()
}

async fn live(
    State(state): State<Live>,
    headers: HeaderMap,
    session: Result<AuthSession, AuthRejection>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Cross-site websocket hijacking: a handshake from another site's page
    // carries the victim's cookie; only pages allowed to use the session
    // may open a socket, by the rule session creation follows.
    if !state.endpoints.origin_allowed(&headers) {
        return refused(
            StatusCode::FORBIDDEN,
            "general_access_forbidden",
            "The request's origin is not allowed to open a live socket.",
        );
    }
    let session = match session {
        Ok(session) => session,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(slot) = Slot::take(&state.open, &session.id) else {
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            "general_rate_limit_exceeded",
            "Too many live sockets for this session.",
        );
    };
    // Subscribe before the upgrade: an end announced meanwhile is not missed.
    let receiver = state.ended.subscribe();
    upgrade.on_upgrade(move |socket| hold(socket, session, receiver, state, slot))
}

/// Whether the session is gone from the store; a store failure keeps the
/// socket open (it is checked again later).
async fn gone(gate: &Gate, session: &AuthSession) -> Option<tokengate::Session> {
    match gate.get_session(&session.user_id, &session.id).await {
        Ok(found) => Some(found),
        Err(tokengate::Error::SessionNotFound) => None,
        Err(error) => {
            tracing::warn!(%error, "cannot check a live socket's session; checked again later");
            Some((**session).clone())
        }
    }
}

/// Until the next check of `session` in the store: its expiry (just past
/// it), or `recheck` when that comes first or the expiry is already past
/// (a store that failed answered the session as it was).
fn next_check(session: &tokengate::Session, recheck: Duration) -> Duration {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    match u64::try_from(session.expire.timestamp_millis() - now_ms) {
        Ok(left) if left > 0 => recheck.min(Duration::from_millis(left + 10)),
        _ => recheck,
    }
}

async fn close(mut socket: WebSocket) {
    let frame = CloseFrame {
        code: SESSION_ENDED,
        reason: "session ended".into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn hold(
    mut socket: WebSocket,
    session: AuthSession,
    mut ended: broadcast::Receiver<Ended>,
    state: Live,
    _slot: Slot,
) {
    let (user, id) = (session.user_id.as_str().to_owned(), session.id.clone());
    // Listening for its end now; the session must still be there (a local
    // session cache may have answered for one that just ended).
    let Some(mut current) = gone(&state.gate, &session).await else {
        return close(socket).await;
    };
    if socket
        .send(Message::Text(format!("hello {user}").into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let check = tokio::time::sleep(next_check(&current, state.recheck));
        let over = tokio::select! {
            end = ended.recv() => match end {
                Ok((who, which)) => who == user && which.as_deref().is_none_or(|s| s == id),
                // Fell behind: an end may have been missed, so ask the store.
                Err(broadcast::error::RecvError::Lagged(_)) => match gone(&state.gate, &session).await {
                    Some(found) => { current = found; false }
                    None => true,
                },
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = check => match gone(&state.gate, &session).await {
                Some(found) => { current = found; false }
                None => true,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => false,
            },
        };
        if over {
            return close(socket).await;
        }
    }
}

async fn public() -> Json<serde_json::Value> {
    Json(tokengate_examples::public_json())
}

/// `TOKENGATE_LIVE_RECHECK_MS` (100..=3600000), or the default.
fn recheck_interval() -> Duration {
    let Ok(text) = std::env::var("TOKENGATE_LIVE_RECHECK_MS") else {
        return DEFAULT_RECHECK;
    };
    match text.parse::<u64>() {
        Ok(ms) if (100..=3_600_000).contains(&ms) => Duration::from_millis(ms),
        _ => {
            eprintln!("configuration error: TOKENGATE_LIVE_RECHECK_MS must be a whole number of ms, 100..=3600000");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() {
    let config = tokengate_examples::start().await;
    let recheck = recheck_interval();
    let Some(log) = config.events.clone() else {
        eprintln!("configuration error: live-sessions needs an event log: set TOKENGATE_EVENTS=1");
        std::process::exit(2);
    };
    let (ended, _) = broadcast::channel::<Ended>(1024);
    let patterns = ["users.*.sessions.*.delete", "users.*.delete"]
        .map(|p| EventPattern::parse(p).expect("a valid pattern"))
        .to_vec();
    let fan_out = ended.clone();
    tokio::spawn(async move {
        let mut events = Box::pin(follow(log, patterns));
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    let session = (event.kind == EventKind::SessionDelete).then(|| event.resource_id().to_owned());
                    let _ = fan_out.send((event.user_id.as_str().to_owned(), session));
                }
                Err(error) => tracing::warn!(%error, "event log read failed; retrying"),
            }
        }
    });
    let gate = config.endpoints.gate().clone();
    let app = Router::new()
        .route("/live", get(live))
        .route("/public", get(public))
        .with_state(Live {
            ended,
            gate,
            endpoints: config.endpoints.clone(),
            open: Arc::default(),
            recheck,
        })
        .layer(TokenGateLayer::new(config.endpoints));
    tokengate_examples::serve_axum(app, config.listen, "live-sessions").await;
}
