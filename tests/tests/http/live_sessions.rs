//! A service holding websockets learns of logouts made at another service
//! on the same Redis (issue 17): the `live-sessions` example closes a
//! socket with 4001 when that socket's session ends at the axum or actix
//! app (logout, logout-all, the user's deletion), and no other socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::redis_harness::redis_url;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::live_socket::{closed_with, Socket};

/// A websocket to `/live` with `credential`, past its greeting.
async fn connect(live: &RunningApp, credential: &str) -> Socket {
    let mut request = format!("ws://127.0.0.1:{}/live", live.origin.rsplit(':').next().unwrap())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-appwrite-session", credential.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket");
    let hello = socket.next().await.expect("a greeting").expect("a frame");
    assert!(
        matches!(&hello, Message::Text(t) if t.starts_with("hello ")),
        "{hello:?}"
    );
    socket
}

async fn logouts_elsewhere_close_the_socket(kind: AppKind) {
    let url = redis_url().await;
    let mut spec = AppSpec::new(kind, Backend::Redis(url));
    spec.extra_env.push(("TOKENGATE_EVENTS".into(), "1".into()));
    let app = RunningApp::start(spec.clone()).await;
    let live = RunningApp::start(spec.sibling(AppKind::LiveSessions)).await;
    let api = Api::new(&app);

    // Without a session there is no socket.
    let anonymous = format!("ws://127.0.0.1:{}/live", live.origin.rsplit(':').next().unwrap());
    assert!(tokio_tungstenite::connect_async(anonymous).await.is_err());

    let (phone, _) = api.login("sam").await;
    let (laptop, _) = api.login("sam").await;
    let (other, _) = api.login("tess").await;
    let mut on_phone = connect(&live, &phone).await;
    let mut on_laptop = connect(&live, &laptop).await;
    let mut tess = connect(&live, &other).await;

    // Logging the phone out at the other app closes the phone's socket only.
    api.send(
        Method::DELETE,
        "/v1/account/sessions/current",
        Auth::Session(&phone),
        None,
    )
    .await
    .assert_status(204);
    assert_eq!(
        closed_with(&mut on_phone, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4001))
    );
    assert_eq!(closed_with(&mut on_laptop, Duration::from_millis(300)).await, None);
    on_laptop.send(Message::Ping(vec![1].into())).await.expect("still open");

    // The admin deleting the user closes the rest of that user's sockets.
    api.send(Method::DELETE, "/v1/users/sam", Auth::Key, None)
        .await
        .assert_status(204);
    assert_eq!(
        closed_with(&mut on_laptop, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4001))
    );
    assert_eq!(closed_with(&mut tess, Duration::from_millis(300)).await, None);

    // Logout-all of another user.
    api.send(Method::DELETE, "/v1/account/sessions", Auth::Session(&other), None)
        .await
        .assert_status(204);
    assert_eq!(
        closed_with(&mut tess, Duration::from_secs(5)).await,
        Some(CloseCode::Library(4001))
    );
}

#[tokio::test]
async fn logouts_at_the_axum_app_close_sockets() {
    logouts_elsewhere_close_the_socket(AppKind::Axum).await;
}

#[tokio::test]
async fn logouts_at_the_actix_app_close_sockets() {
    logouts_elsewhere_close_the_socket(AppKind::Actix).await;
}
