//! Every Redis script of the store stays within the hash slot of its first
//! key, including the keys it reaches without declaring them.
//!
//! A cluster only half-checks this: Redis 7.0 refuses a script's access to
//! a key whose slot lives on *another* node, but lets one on the same node
//! through. So this test records, through `MONITOR` on a private
//! standalone server, every command each script runs while the gate goes
//! through all of its operations (exchange with eviction, failures up to
//! burn and lockout, idle sessions, extend, logout, server sessions, email
//! and phone flows with the directory and the issuance limits), and checks
//! that every key (declared, or reached inside the script) carries the hash
//! tag of the script's first key and the store's prefix. The contract and
//! HTTP suites then run on a real cluster (`redis_cluster::*`,
//! `*_cluster::*`).

use std::collections::BTreeSet;
use std::time::Duration;

use tokengate::{ClientInfo, Gate, TokenOptions, UserId};
use tokengate_tests::redis_harness::{parse_monitor_args, redis_store_at, start_private_redis};

fn client() -> ClientInfo {
    ClientInfo::new(Some("203.0.113.9".parse().unwrap()), Some("slots-test/1".into()))
}

/// `{...}` of a key: the part Redis Cluster hashes.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')? + open + 1;
    (close > open + 1).then(|| &key[open + 1..close])
}

async fn workload(gate: &Gate) {
    let alice = UserId::parse("alice").unwrap();
    // Exchanges beyond the session limit (2): eviction inside the redeem.
    let mut credentials = Vec::new();
    for _ in 0..3 {
        let token = gate.create_token(&alice, TokenOptions::default()).await.unwrap();
        let secret = token.secret.unwrap();
        let (_, credential) = gate.create_session(&alice, secret.expose(), client()).await.unwrap();
        credentials.push(credential);
    }
    let (session, _) = gate.create_server_session(&alice, client()).await.unwrap();
    for credential in &credentials {
        gate.authenticate(credential.expose()).await.unwrap();
    }
    let sessions = gate.list_sessions(&alice).await.unwrap();
    gate.get_session(&alice, &session.id).await.unwrap();
    gate.extend_session(&alice, &session.id).await.unwrap();
    gate.delete_session(&alice, &sessions[0].id).await.unwrap();
    gate.delete_sessions(&alice).await.unwrap();

    // Wrong secrets: failure counter, burning, lockout.
    let bob = UserId::parse("bob").unwrap();
    gate.create_token(&bob, TokenOptions::default()).await.unwrap();
    for _ in 0..5 {
        assert!(gate.create_session(&bob, "000000", client()).await.is_err());
    }

    // Flows: rate-limit buckets, the directory (address → user, user record).
    let requester = || ClientInfo::new(Some("198.51.100.7".parse().unwrap()), None);
    let token = gate
        .create_email_token("carol", "carol@example.com", false, &requester())
        .await
        .unwrap();
    let carol = UserId::parse("carol").unwrap();
    gate.create_session(&carol, token.secret.unwrap().expose(), client())
        .await
        .unwrap();
    // Within the minimum interval: refused, the other bucket's hit refunded.
    assert!(gate
        .create_email_token("carol", "carol@example.com", false, &requester())
        .await
        .is_err());
    gate.create_phone_token("dave", "+14155550100", &requester())
        .await
        .unwrap();
    gate.create_magic_url_token("erin", "erin@example.com", None, false, &requester())
        .await
        .unwrap();
    gate.get_user(&carol).await.unwrap();
    // A failure from a known client (its own counter), and the user deleted.
    assert!(gate.create_session(&carol, "000000", client()).await.is_err());
    gate.delete_user(&carol).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_script_stays_in_the_slot_of_its_first_key() {
    let redis = start_private_redis().await;
    let (store, prefix) = redis_store_at(redis.url()).await;
    let gate = Gate::builder()
        .server_secret([7u8; 32])
        .store(store)
        .max_sessions(2)
        .burn_after_failures(2)
        .lockout_after_failures(4)
        .idle_timeout(Duration::from_secs(600))
        .development_mode(true)
        .client_chosen_ids(true)
        .build()
        .unwrap();
    let mut monitor = redis.monitor().await;
    let ((), lines) = monitor.record_lines(workload(&gate)).await;

    let namespace = format!("{prefix}:");
    let mut scripts = BTreeSet::new();
    let mut script_tag: Option<String> = None;
    let mut script_commands = 0;
    for line in &lines {
        let Some((by_script, args)) = parse_monitor_args(line) else {
            continue;
        };
        let name = args[0].to_ascii_lowercase();
        if by_script {
            // Every command our scripts run takes its key first.
            let tag = script_tag
                .as_deref()
                .unwrap_or_else(|| panic!("a script command without a script before it: {line}"));
            let key = &args[1];
            assert!(key.starts_with(&namespace), "outside the prefix: {line}");
            assert_eq!(hash_tag(key), Some(tag), "another slot than the script's: {line}");
            script_commands += 1;
            continue;
        }
        script_tag = None;
        if name == "evalsha" || name == "eval" {
            let keys: usize = args[2].parse().unwrap();
            assert!(keys >= 1, "a script without keys cannot be routed: {line}");
            let declared = &args[3..3 + keys];
            let tag = hash_tag(&declared[0]).unwrap_or_else(|| panic!("no hash tag: {line}"));
            for key in declared {
                assert!(key.starts_with(&namespace), "outside the prefix: {line}");
                assert_eq!(hash_tag(key), Some(tag), "declared keys in two slots: {line}");
            }
            scripts.insert(if name == "eval" {
                "(by body)".to_owned()
            } else {
                args[1].clone()
            });
            script_tag = Some(tag.to_owned());
        } else if matches!(name.as_str(), "get" | "hget" | "hdel" | "hgetall") {
            assert!(args[1].starts_with(&namespace), "outside the prefix: {line}");
        }
    }
    eprintln!(
        "{} distinct scripts, {script_commands} commands run by scripts",
        scripts.len()
    );
    // Every script the gate used was seen: insert token, redeem, insert
    // session, find (idle), list, extend, delete one, delete all, claim
    // user, link/find address, mark verified, rate limit (hit, refund),
    // delete user, unlink address.
    assert!(
        scripts.len() >= 14,
        "only {} distinct scripts seen: {scripts:?}",
        scripts.len()
    );
    assert!(script_commands > 50, "only {script_commands} script commands seen");
}

#[test]
fn hash_tags() {
    assert_eq!(hash_tag("tg:{u:alice}:s:ab"), Some("u:alice"));
    assert_eq!(hash_tag("tg:{}:x{y}"), None);
    assert_eq!(hash_tag("plain"), None);
}
