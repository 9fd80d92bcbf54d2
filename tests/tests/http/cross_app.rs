//! Services sharing one Redis: an axum app and an actix app on the same
//! Redis, prefix and secret share tokens and sessions.

use reqwest::Method;
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::redis_harness::redis_url;

async fn pair() -> (RunningApp, RunningApp) {
    let spec = AppSpec::new(AppKind::Axum, Backend::Redis(redis_url().await));
    let actix_spec = spec.sibling(AppKind::Actix);
    let (axum, actix) = tokio::join!(RunningApp::start(spec), RunningApp::start(actix_spec));
    (axum, actix)
}

#[tokio::test]
async fn token_from_one_exchanged_at_the_other_and_sessions_shared() {
    let (axum, actix) = pair().await;
    let (a, b) = (Api::new(&axum), Api::new(&actix));

    // Issued through axum, exchanged at actix.
    let secret = a.token_secret("shared-user").await;
    let exchanged = b.exchange("shared-user", &secret, Auth::Key).await;
    exchanged.assert_status(201);
    let credential = exchanged.str("secret").to_owned();
    // And the token is spent for both.
    a.exchange("shared-user", &secret, Auth::None)
        .await
        .assert_error(401, "user_invalid_token");

    for api in [&a, &b] {
        let me = api.get("/me", Auth::Session(&credential)).await;
        me.assert_status(200);
        assert_eq!(me.json["userId"], "shared-user");
        api.get("/me", Auth::Cookie(&credential)).await.assert_status(200);
    }

    // Logout at actix is refused at axum on the very next request.
    b.logout(&credential).await.assert_status(204);
    a.get("/me", Auth::Session(&credential))
        .await
        .assert_error(401, "user_unauthorized");

    // And the other way round.
    let (credential, _) = b.login("shared-user").await;
    a.get("/me", Auth::Session(&credential)).await.assert_status(200);
    a.send(Method::DELETE, "/v1/account/sessions", Auth::Session(&credential), None)
        .await
        .assert_status(204);
    b.get("/me", Auth::Session(&credential))
        .await
        .assert_error(401, "user_unauthorized");
}

#[tokio::test]
async fn session_limit_reached_through_one_evicts_at_the_other() {
    let (axum, actix) = pair().await;
    let (a, b) = (Api::new(&axum), Api::new(&actix));
    let (oldest, _) = a.login("limited").await;
    b.get("/me", Auth::Session(&oldest)).await.assert_status(200);
    // Nine more through axum, one more through actix: the eleventh evicts the first.
    for _ in 0..9 {
        a.login("limited").await;
    }
    b.get("/me", Auth::Session(&oldest)).await.assert_status(200);
    let (newest, _) = b.login("limited").await;
    b.get("/me", Auth::Session(&oldest))
        .await
        .assert_error(401, "user_unauthorized");
    a.get("/me", Auth::Session(&oldest))
        .await
        .assert_error(401, "user_unauthorized");
    a.get("/me", Auth::Session(&newest)).await.assert_status(200);
    let list = a.get("/v1/users/limited/sessions", Auth::Key).await;
    assert_eq!(list.json["total"], 10);
}

#[tokio::test]
async fn different_secrets_do_not_share() {
    let spec = AppSpec::new(AppKind::Axum, Backend::Redis(redis_url().await));
    let mut other = spec.sibling(AppKind::Actix);
    other.secret_hex = tokengate_tests::app::random_hex(64);
    let (axum, actix) = tokio::join!(RunningApp::start(spec), RunningApp::start(other));
    let (a, b) = (Api::new(&axum), Api::new(&actix));
    let (credential, _) = a.login("isolated").await;
    b.get("/me", Auth::Session(&credential))
        .await
        .assert_error(401, "user_unauthorized");
}
