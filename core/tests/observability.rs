//! The documented counters move as the operations happen.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use tokengate::store::MemoryStore;
use tokengate::{ClientInfo, Gate, TokenOptions, UserId};

fn counter(
    snapshot: &[(
        CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )],
    name: &str,
    label: Option<(&str, &str)>,
) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| key.kind() == MetricKind::Counter && key.key().name() == name)
        .filter(|(key, ..)| label.is_none_or(|(k, v)| key.key().labels().any(|l| l.key() == k && l.value() == v)))
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn counters_follow_the_operations() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let gate = Gate::builder()
                .server_secret([4u8; 32])
                .store(MemoryStore::new())
                .build()
                .unwrap();
            let user = UserId::parse("metered").unwrap();
            let token = gate.create_token(&user, TokenOptions::default()).await.unwrap();
            let secret = token.secret.unwrap().expose().to_owned();
            assert!(gate
                .create_session(&user, "wrong", ClientInfo::default())
                .await
                .is_err());
            let (session, credential) = gate
                .create_session(&user, &secret, ClientInfo::default())
                .await
                .unwrap();
            gate.authenticate(credential.expose()).await.unwrap().unwrap();
            assert!(gate.authenticate("garbage").await.unwrap().is_none());
            gate.delete_session(&user, &session.id).await.unwrap();
            assert!(gate.authenticate(credential.expose()).await.unwrap().is_none());
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(
        counter(&snapshot, "tokengate_tokens_issued_total", Some(("kind", "custom"))),
        1
    );
    assert_eq!(
        counter(&snapshot, "tokengate_exchanges_total", Some(("outcome", "success"))),
        1
    );
    assert_eq!(
        counter(&snapshot, "tokengate_exchanges_total", Some(("outcome", "invalid"))),
        1
    );
    assert_eq!(
        counter(&snapshot, "tokengate_authentications_total", Some(("outcome", "valid"))),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "tokengate_authentications_total",
            Some(("outcome", "invalid"))
        ),
        2
    );
    assert_eq!(counter(&snapshot, "tokengate_sessions_deleted_total", None), 1);
    assert_eq!(counter(&snapshot, "tokengate_store_errors_total", None), 0);
}
