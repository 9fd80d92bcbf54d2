//! The official Appwrite Node.js SDK (npm `node-appwrite` 27, pinned in
//! `tests/sdk/js/package-lock.json`) drives both example apps unchanged:
//! the server-side flow of `tests/sdk/js/node_sdk_check.mjs`.

use std::process::Command;

use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::node::{js_dir, node_modules};
use tokengate_tests::redis_harness::redis_url;
use tokengate_tests::sinks::{SmsSink, SmtpSink};

async fn run_node_check(kind: AppKind, backend: Backend) {
    tokio::task::spawn_blocking(node_modules).await.unwrap();
    // Configured as in production: real channels, no development mode.
    let smtp = SmtpSink::start().await;
    let sms = SmsSink::start().await;
    let spec = AppSpec::new(kind, backend).delivering_to(&smtp, &sms);
    let app = RunningApp::start(spec).await;
    let mut node = Command::new("node");
    node.arg(js_dir().join("node_sdk_check.mjs")).current_dir(js_dir());
    app.run_sdk_check(node, "NODE SDK CHECK PASSED").await;
}

#[tokio::test]
async fn node_sdk_against_axum_on_memory() {
    run_node_check(AppKind::Axum, Backend::Memory).await;
}

#[tokio::test]
async fn node_sdk_against_actix_on_memory() {
    run_node_check(AppKind::Actix, Backend::Memory).await;
}

#[tokio::test]
async fn node_sdk_against_axum_on_redis() {
    run_node_check(AppKind::Axum, Backend::Redis(redis_url().await)).await;
}

#[tokio::test]
async fn node_sdk_against_actix_on_redis() {
    run_node_check(AppKind::Actix, Backend::Redis(redis_url().await)).await;
}
