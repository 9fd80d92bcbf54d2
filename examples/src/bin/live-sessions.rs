//! A service holding websockets that learns of logouts made elsewhere:
//! `GET /live` (a websocket, for a signed-in client) stays open until that
//! session ends at any service sharing the Redis (logout, logout-all,
//! eviction, an admin, the user's deletion), then closes with code 4001.
//!
//! One follower per process reads the event log (`events::follow`: every
//! process sees every event) and fans the session deletions out to the
//! sockets. Configured like the example apps (`REDIS_URL`, `TOKENGATE_*`),
//! with `TOKENGATE_EVENTS=1` so that its gate keeps an event log.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use tokengate::events::{follow, EventKind, EventPattern};
use tokengate::Gate;
use tokengate_tower::{AuthSession, TokenGateLayer};
use tokio::sync::broadcast;

/// A session that ended: (user id, session id); `None` for the session id
/// when the whole user was deleted.
type Ended = (String, Option<String>);

/// The close code a client sees when its session ended elsewhere.
const SESSION_ENDED: u16 = 4001;

#[derive(Clone)]
struct Live {
    ended: broadcast::Sender<Ended>,
    gate: Gate,
}

async fn live(State(state): State<Live>, session: AuthSession, upgrade: WebSocketUpgrade) -> Response {
    // Subscribe before the upgrade: an end announced meanwhile is not missed.
    let receiver = state.ended.subscribe();
    upgrade.on_upgrade(move |socket| hold(socket, session, receiver, state.gate))
}

async fn hold(mut socket: WebSocket, session: AuthSession, mut ended: broadcast::Receiver<Ended>, gate: Gate) {
    let (user, id) = (session.user_id.as_str().to_owned(), session.id.clone());
    if socket
        .send(Message::Text(format!("hello {user}").into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let over = tokio::select! {
            end = ended.recv() => match end {
                Ok((who, which)) => who == user && which.as_deref().is_none_or(|s| s == id),
                // Fell behind: an end may have been missed, so ask the store.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    matches!(gate.get_session(&session.user_id, &id).await, Err(tokengate::Error::SessionNotFound))
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => false,
            },
        };
        if over {
            let frame = CloseFrame {
                code: SESSION_ENDED,
                reason: "session ended".into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            return;
        }
    }
}

async fn public() -> Json<serde_json::Value> {
    Json(tokengate_examples::public_json())
}

#[tokio::main]
async fn main() {
    let config = tokengate_examples::start().await;
    let Some(log) = config.endpoints.gate().event_log().cloned() else {
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
    let app = Router::new()
        .route("/live", get(live))
        .route("/public", get(public))
        .with_state(Live {
            ended,
            gate: config.endpoints.gate().clone(),
        })
        .layer(TokenGateLayer::new(config.endpoints));
    tokengate_examples::serve_axum(app, config.listen, "live-sessions").await;
}
