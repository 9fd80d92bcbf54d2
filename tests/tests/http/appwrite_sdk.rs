//! The official Appwrite Python SDK drives both example apps unchanged.

use std::process::Command;

use tokengate_tests::app::{AppKind, AppSpec, Backend, RunningApp};
use tokengate_tests::python::{sdk_dir, sdk_python};
use tokengate_tests::redis_harness::redis_url;
use tokengate_tests::sinks::{SmsSink, SmtpSink};

async fn run_sdk_check(kind: AppKind, backend: Backend) {
    let python = sdk_python();
    // Configured as in production: real channels, no development mode.
    let smtp = SmtpSink::start().await;
    let sms = SmsSink::start().await;
    let spec = AppSpec::new(kind, backend).delivering_to(&smtp, &sms);
    let app = RunningApp::start(spec).await;
    let mut python = Command::new(python);
    python.arg(sdk_dir().join("appwrite_sdk_check.py"));
    app.run_sdk_check(python, "SDK CHECK PASSED").await;
}

#[tokio::test]
async fn python_sdk_against_axum_on_redis() {
    run_sdk_check(AppKind::Axum, Backend::Redis(redis_url().await)).await;
}

#[tokio::test]
async fn python_sdk_against_actix_on_redis() {
    run_sdk_check(AppKind::Actix, Backend::Redis(redis_url().await)).await;
}

#[tokio::test]
async fn python_sdk_against_axum_on_memory() {
    run_sdk_check(AppKind::Axum, Backend::Memory).await;
}

#[tokio::test]
async fn python_sdk_against_actix_on_memory() {
    run_sdk_check(AppKind::Actix, Backend::Memory).await;
}
