//! Sessions: expiry, idle timeout, the per-user limit, listing,
//! extension (capped by the maximum age) and deletion.

use super::*;

/// The idle window of the idle-timeout case: wide enough that a loaded
/// 2-core machine does not stall past it between two steps.
const IDLE_MS: i64 = 2_000;

/// The store contract: session expires.
pub async fn session_expires(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    // One session from a redemption, one created directly; both short.
    let redeemed_session = b.session(&alice, now(), 1_500);
    let outcome = b
        .store
        .redeem_token(
            &alice,
            &token.digest,
            &redeemed_session,
            &lenient(),
            None,
            redeemed_session.created_ms,
        )
        .await
        .unwrap();
    assert_eq!(outcome, redeemed(&token, vec![]));
    let direct = b.session(&alice, now(), 1_500);
    b.store
        .insert_session(&alice, &direct, &lenient(), direct.created_ms)
        .await
        .unwrap();

    for s in [&redeemed_session, &direct] {
        assert!(b
            .store
            .find_session(&alice, &s.digest, 0, now())
            .await
            .unwrap()
            .is_some());
    }
    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap().len(), 2);

    tokio::time::sleep(Duration::from_millis(2_000)).await;

    for s in [&redeemed_session, &direct] {
        assert_eq!(b.store.find_session(&alice, &s.digest, 0, now()).await.unwrap(), None);
    }
    assert!(b.store.list_sessions(&alice, now()).await.unwrap().is_empty());
    // Real TTLs: nothing of the user is left in Redis (sessions, tokens)
    // but its identity record, which never expires.
    if let Some(keys) = b.keys().await {
        let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        assert!(
            names.len() == 1 && names[0].ends_with(":{u:alice}:user") && keys[0].pttl == -1,
            "keys outlived their sessions: {keys:?}"
        );
    }
}

/// A user's sessions share one hash in Redis, which lives as long as the
/// latest of them: an ended record may still be stored, and must be refused
/// by the clock, not counted, and dropped by the next write.
pub async fn an_ended_session_next_to_a_live_one_is_refused_and_pruned(b: Backend) {
    let alice = user("alice");
    let long = b.session(&alice, now(), HOUR_MS);
    let short = b.session(&alice, now(), 1_500);
    for s in [&long, &short] {
        b.store
            .insert_session(&alice, s, &lenient(), s.created_ms)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2_000)).await;

    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(
            records.len(),
            2,
            "the ended record is pruned only by a write: {records:?}"
        );
    }
    assert_eq!(
        b.store.find_session(&alice, &short.digest, 0, now()).await.unwrap(),
        None
    );
    let idle = 60_000;
    assert_eq!(
        b.store.find_session(&alice, &short.digest, idle, now()).await.unwrap(),
        None,
        "an idle refresh must not revive an ended session"
    );
    assert!(
        b.store
            .delete_session(&alice, &short.id, now())
            .await
            .unwrap()
            .is_none(),
        "deleting an ended session is not a logout"
    );
    assert_eq!(
        b.store
            .extend_session(&alice, &short.id, now() + HOUR_MS, 0, YEAR_MS, now())
            .await
            .unwrap(),
        None,
        "an ended session cannot be extended"
    );
    // Only an exact id names a session (ids come from URL paths).
    for near in [
        format!("{}\"", long.id),
        format!("{}\",\"c\":1", long.id),
        long.id[..10].to_owned(),
        // The id plus the record's next fields, up to a closing quote.
        format!(
            "{}\",\"c\":{},\"u\":{},\"e\":{},\"ip\":\"{}",
            long.id, long.created_ms, long.updated_ms, long.expire_ms, long.ip
        ),
    ] {
        assert!(
            b.store.delete_session(&alice, &near, now()).await.unwrap().is_none(),
            "{near}"
        );
    }
    let newer = b.session(&alice, now(), HOUR_MS);
    b.store
        .insert_session(&alice, &newer, &lenient(), newer.created_ms)
        .await
        .unwrap();
    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(records.len(), 2, "the write kept the ended record: {records:?}");
        assert!(!records.iter().any(|r| r.contains(&short.id)), "{records:?}");
    }
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![long.id.clone(), newer.id.clone()]);
    let deleted = b.store.delete_sessions(&alice, now()).await.unwrap();
    assert_eq!(ids(&deleted), vec![long.id.clone(), newer.id.clone()]);
}

/// The store contract: idle timeout expires and find refreshes.
pub async fn idle_timeout_expires_and_find_refreshes(b: Backend) {
    let alice = user("alice");
    let idle_rules = redeem_policy(0, 0, 0, HOUR_MS, IDLE_MS);
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();

    // Both live an hour but start with an IDLE_MS idle deadline.
    let (unused, outcome) = b.redeem_new_session(&alice, &token.digest, &idle_rules).await;
    assert_eq!(outcome, redeemed(&token, vec![]));
    let used = b.session(&alice, now(), HOUR_MS);
    b.store
        .insert_session(&alice, &used, &idle_rules, used.created_ms)
        .await
        .unwrap();

    // A lookup under the same idle timeout does not need to write
    // (the deadline moved by less than the refresh interval) ...
    let short = IDLE_MS;
    assert!(b
        .store
        .find_session(&alice, &unused.digest, short, now())
        .await
        .unwrap()
        .is_some());
    // ... while one under a 120 s idle timeout slides the deadline forward.
    let long = 120_000;
    assert!(b
        .store
        .find_session(&alice, &used.digest, long, now())
        .await
        .unwrap()
        .is_some());
    if let Some((records, pttl)) = b.stored_sessions(&alice).await {
        let left: Vec<i64> = records.iter().map(|r| idle_deadline(r) - now()).collect();
        assert_eq!(records.len(), 2);
        assert!(
            left.iter().any(|&p| p > 60_000),
            "the used session's idle deadline was not slid: {left:?}"
        );
        assert!(
            left.iter().any(|&p| (1..=IDLE_MS).contains(&p)),
            "the unused session's idle deadline changed: {left:?}"
        );
        assert!(
            pttl > 60_000,
            "the sessions hash expires before its latest session: {pttl}"
        );
    }

    tokio::time::sleep(Duration::from_millis(IDLE_MS as u64 + 500)).await;

    assert_eq!(
        b.store
            .find_session(&alice, &unused.digest, short, now())
            .await
            .unwrap(),
        None
    );
    let found = b.store.find_session(&alice, &used.digest, long, now()).await.unwrap();
    assert_eq!(found.map(|s| s.id), Some(used.id.clone()));
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![used.id.clone()]);
    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(
            records.len(),
            1,
            "the idle session's record is still there: {records:?}"
        );
    }
}

/// The store contract: session limit evicts the oldest.
pub async fn session_limit_evicts_the_oldest(b: Backend) {
    let alice = user("alice");
    let rules = redeem_policy(3, 0, 0, HOUR_MS, 0);
    let base = now();
    let mut sessions: Vec<SessionRecord> = Vec::new();
    for i in 0..5i64 {
        // Distinct creation times make "oldest" unambiguous.
        let at = base + i;
        let token = b.token(&alice, TokenKind::Custom, &high_secret(), at, HOUR_MS);
        b.store.insert_token(&alice, &token, false, at).await.unwrap();
        let session = b.session(&alice, at, HOUR_MS);
        let outcome = b
            .store
            .redeem_token(&alice, &token.digest, &session, &rules, None, at)
            .await
            .unwrap();
        let expected_evicted: Vec<String> = match i {
            3 => vec![sessions[0].id.clone()],
            4 => vec![sessions[1].id.clone()],
            _ => vec![],
        };
        let Redemption::Redeemed { token_id, evicted, .. } = &outcome else {
            panic!("redemption {i}: {outcome:?}");
        };
        assert_eq!(*token_id, token.id, "redemption {i}");
        assert_eq!(ids(evicted), expected_evicted, "redemption {i}");
        // An evicted session comes back whole: the record that was stored.
        for record in evicted {
            let stored = sessions.iter().find(|s| s.id == record.id).expect("an earlier session");
            assert_eq!(
                (record.digest, record.created_ms, &record.ip),
                (stored.digest, stored.created_ms, &stored.ip)
            );
        }
        sessions.push(session);
    }
    for (i, s) in sessions.iter().enumerate() {
        let found = b.store.find_session(&alice, &s.digest, 0, now()).await.unwrap();
        assert_eq!(found.is_some(), i >= 2, "session {i}");
    }
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, sessions[2..].iter().map(|s| s.id.clone()).collect::<Vec<_>>());
    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(records.len(), 3, "evicted session records remain: {records:?}");
    }
}

/// The store contract: list extend delete.
pub async fn list_extend_delete(b: Backend) {
    let alice = user("alice");
    let bob = user("bob");
    let base = now();
    let sessions: Vec<SessionRecord> = (0..3).map(|i| b.session(&alice, base + i, HOUR_MS)).collect();
    // Inserted out of order: the list is oldest first regardless.
    for i in [2usize, 0, 1] {
        let evicted = b
            .store
            .insert_session(&alice, &sessions[i], &lenient(), sessions[i].created_ms)
            .await
            .unwrap();
        assert!(evicted.1.is_empty());
    }
    let bobs = b.session(&bob, base, HOUR_MS);
    b.store.insert_session(&bob, &bobs, &lenient(), base).await.unwrap();

    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap(), sessions);
    assert_eq!(b.store.list_sessions(&bob, now()).await.unwrap(), vec![bobs.clone()]);
    assert!(b.store.list_sessions(&user("nobody"), now()).await.unwrap().is_empty());

    // Extend: new expiry and `updated`, visible to find and list.
    let at = now() + 5;
    let new_expire = at + 2 * HOUR_MS;
    let extended = b
        .store
        .extend_session(&alice, &sessions[1].id, new_expire, 0, YEAR_MS, at)
        .await
        .unwrap();
    let mut expected = sessions[1].clone();
    expected.expire_ms = new_expire;
    expected.updated_ms = at;
    assert_eq!(extended.as_ref(), Some(&expected));
    assert_eq!(
        b.store
            .find_session(&alice, &sessions[1].digest, 0, now())
            .await
            .unwrap(),
        Some(expected.clone())
    );
    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap()[1], expected);
    if b.prefix().is_some() {
        let (_, pttl) = b.stored_sessions(&alice).await.expect("redis");
        assert!(
            pttl > HOUR_MS + HOUR_MS / 2,
            "the sessions hash's TTL was not extended: {pttl}"
        );
        let keys = b.keys().await.expect("inspected");
        for k in keys.iter().filter(|k| !k.key.ends_with(":user")) {
            assert!(k.pttl > 0, "{} has no TTL", k.key);
        }
    }
    // Unknown ids, or another user's session, are not extended.
    assert_eq!(
        b.store
            .extend_session(&alice, "0000000000", new_expire, 0, YEAR_MS, now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.store
            .extend_session(&alice, &bobs.id, new_expire, 0, YEAR_MS, now())
            .await
            .unwrap(),
        None
    );

    // Delete one.
    assert!(
        b.store.delete_session(&alice, &bobs.id, now()).await.unwrap().is_none(),
        "deleted another user's session"
    );
    let deleted = b.store.delete_session(&alice, &sessions[0].id, now()).await.unwrap();
    assert_eq!(
        deleted.map(|r| (r.id, r.digest)),
        Some((sessions[0].id.clone(), sessions[0].digest))
    );
    assert!(b
        .store
        .delete_session(&alice, &sessions[0].id, now())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        b.store
            .find_session(&alice, &sessions[0].digest, 0, now())
            .await
            .unwrap(),
        None
    );
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![sessions[1].id.clone(), sessions[2].id.clone()]);

    // Delete all.
    assert_eq!(b.store.delete_sessions(&alice, now()).await.unwrap().len(), 2);
    assert!(b.store.delete_sessions(&alice, now()).await.unwrap().is_empty());
    for s in &sessions {
        assert_eq!(b.store.find_session(&alice, &s.digest, 0, now()).await.unwrap(), None);
    }
    assert!(b.store.list_sessions(&alice, now()).await.unwrap().is_empty());
    // Bob's session is untouched.
    assert_eq!(
        b.store.find_session(&bob, &bobs.digest, 0, now()).await.unwrap(),
        Some(bobs)
    );
    if let Some(keys) = b.user_keys(&alice, "").await {
        // Only her identity record stays: a logout does not free the id.
        let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        assert!(
            names.len() == 1 && names[0].ends_with(":user"),
            "alice's keys remain after delete_sessions: {keys:?}"
        );
    }
}

/// The store contract: insert session enforces the limit.
pub async fn insert_session_enforces_the_limit(b: Backend) {
    let alice = user("alice");
    let limit2 = redeem_policy(2, 0, 0, HOUR_MS, 0);
    let base = now();
    let s: Vec<SessionRecord> = (0..3).map(|i| b.session(&alice, base + i, HOUR_MS)).collect();
    assert!(b
        .store
        .insert_session(&alice, &s[0], &limit2, base)
        .await
        .unwrap()
        .1
        .is_empty());
    assert!(b
        .store
        .insert_session(&alice, &s[1], &limit2, base + 1)
        .await
        .unwrap()
        .1
        .is_empty());
    let inserted = b.store.insert_session(&alice, &s[2], &limit2, base + 2).await.unwrap();
    assert_eq!(ids(&inserted.1), vec![s[0].id.clone()]);
    // A server-created session keeps its origin.
    let found = b.store.find_session(&alice, &s[2].digest, 0, now()).await.unwrap();
    assert_eq!(found.as_ref(), Some(&s[2]));
    assert_eq!(found.unwrap().origin, SessionOrigin::Server);
    assert_eq!(
        b.store.find_session(&alice, &s[0].digest, 0, now()).await.unwrap(),
        None
    );

    // Over the limit by several: the oldest go, oldest first, in one step.
    let more: Vec<SessionRecord> = (3..6).map(|i| b.session(&alice, base + i, HOUR_MS)).collect();
    for m in &more {
        assert!(b
            .store
            .insert_session(&alice, m, &lenient(), m.created_ms)
            .await
            .unwrap()
            .1
            .is_empty());
    }
    // Now s1, s2, m3, m4, m5; a new one under a limit of 3 evicts s1, s2, m3.
    let last = b.session(&alice, base + 6, HOUR_MS);
    let limit3 = redeem_policy(3, 0, 0, HOUR_MS, 0);
    let evicted = b
        .store
        .insert_session(&alice, &last, &limit3, base + 6)
        .await
        .unwrap()
        .1;
    assert_eq!(
        ids(&evicted),
        vec![s[1].id.clone(), s[2].id.clone(), more[0].id.clone()]
    );
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![more[1].id.clone(), more[2].id.clone(), last.id.clone()]);

    // The same eviction inside a redemption.
    let t = now();
    let token = b.token(&alice, TokenKind::Phone, &high_secret(), t, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t).await.unwrap();
    let via_token = b.session(&alice, base + 7, HOUR_MS);
    let limit1 = redeem_policy(1, 0, 0, HOUR_MS, 0);
    let outcome = b
        .store
        .redeem_token(&alice, &token.digest, &via_token, &limit1, None, base + 7)
        .await
        .unwrap();
    let Redemption::Redeemed { evicted, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        ids(evicted),
        vec![more[1].id.clone(), more[2].id.clone(), last.id.clone()]
    );
    let listed = b.listed_ids(&alice).await;
    assert_eq!(listed, vec![via_token.id.clone()]);
    if let Some((records, _)) = b.stored_sessions(&alice).await {
        assert_eq!(records.len(), 1, "evicted session records remain: {records:?}");
    }
}

/// An extension never moves a session past its creation plus the max age;
/// a session already past it ends.
pub async fn extension_is_capped_by_the_max_age(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let session = b.session(&alice, t0, HOUR_MS);
    b.store.insert_session(&alice, &session, &lenient(), t0).await.unwrap();
    let extended = b
        .store
        .extend_session(&alice, &session.id, t0 + 5 * HOUR_MS, 0, 2 * HOUR_MS, t0 + 1)
        .await
        .unwrap()
        .expect("a live session");
    assert_eq!(extended.expire_ms, t0 + 2 * HOUR_MS);
    let found = b.store.find_session(&alice, &session.digest, 0, now()).await.unwrap();
    assert_eq!(found.map(|s| s.expire_ms), Some(t0 + 2 * HOUR_MS));
    let old = b.session(&alice, t0, HOUR_MS);
    b.store.insert_session(&alice, &old, &lenient(), t0).await.unwrap();
    let past_cap = b
        .store
        .extend_session(&alice, &old.id, t0 + HOUR_MS, 0, 10, t0 + 100)
        .await
        .unwrap();
    assert_eq!(past_cap, None);
    assert_eq!(b.store.find_session(&alice, &old.digest, 0, now()).await.unwrap(), None);
}
