//! Services sharing one Redis: an axum and an actix example process with
//! the same Redis, key prefix, server secret and project share tokens and
//! sessions, on standalone Redis and on the test cluster (3 primaries + 3
//! replicas). A token issued at one is exchanged at the other, once; a
//! session made at one is valid at the other; a logout (one session or
//! all) at one is refused at the other on the very next request (no cache,
//! no delay); the session limit counts the sessions made through both.
//! Services with another server secret share nothing.

use reqwest::Method;
use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::client::{Api, Auth};
use tokengate_tests::cluster::shared_cluster_async;
use tokengate_tests::redis_harness::redis_url;

async fn two_services_share_sessions(backend: Backend) {
    let axum = RunningApp::start(AppSpec::new(AppKind::Axum, backend)).await;
    let actix = RunningApp::start(axum.spec.sibling(AppKind::Actix)).await;
    let (a, b) = (Api::new(&axum), Api::new(&actix));

    for (one, other) in [(&a, &b), (&b, &a)] {
        // Users spread over the slots (and so over the cluster's primaries).
        for user in ["alice", "bob", "carol", "dave", "erin", "frank"] {
            // A token issued at one service is exchanged at the other.
            let secret = one.token_secret(user).await;
            let exchanged = other.exchange(user, &secret, Auth::Key).await;
            exchanged.assert_status(201);
            let credential = exchanged.str("secret").to_owned();
            for api in [one, other] {
                let me = api.get("/me", Auth::Session(&credential)).await;
                me.assert_status(200);
                assert_eq!(me.json["userId"], user);
                assert_eq!(me.json["sessionId"], exchanged.json["$id"]);
                api.get("/me", Auth::Cookie(&credential)).await.assert_status(200);
            }
            // Logout at `other`: `one` refuses the session on the next request.
            let logout = other.logout(&credential).await;
            logout.assert_status(204);
            one.get("/me", Auth::Session(&credential))
                .await
                .assert_error(401, "user_unauthorized");
            other
                .get("/me", Auth::Session(&credential))
                .await
                .assert_error(401, "user_unauthorized");

            // Logout of all sessions at `one`, seen at `other`.
            let (first, _) = one.login(user).await;
            let (second, _) = other.login(user).await;
            let all = one
                .send(Method::DELETE, "/v1/account/sessions", Auth::Session(&first), None)
                .await;
            all.assert_status(204);
            for credential in [&first, &second] {
                other
                    .get("/me", Auth::Session(credential))
                    .await
                    .assert_error(401, "user_unauthorized");
            }
            // A token is exchanged once, whichever service is asked.
            let secret = other.token_secret(user).await;
            one.exchange(user, &secret, Auth::None).await.assert_status(201);
            other
                .exchange(user, &secret, Auth::None)
                .await
                .assert_error(401, "user_invalid_token");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn axum_and_actix_share_sessions_on_the_cluster() {
    let cluster = shared_cluster_async().await;
    two_services_share_sessions(Backend::Cluster(cluster.seeds())).await;
    cluster.assert_no_cross_slot().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn axum_and_actix_share_sessions_on_standalone_redis() {
    two_services_share_sessions(Backend::Redis(redis_url().await)).await;
}

#[tokio::test]
async fn session_limit_reached_through_one_evicts_at_the_other() {
    let spec = AppSpec::new(AppKind::Axum, Backend::Redis(redis_url().await));
    let actix_spec = spec.sibling(AppKind::Actix);
    let (axum, actix) = tokio::join!(RunningApp::start(spec), RunningApp::start(actix_spec));
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
