//! Redemption: one-time, rejected when wrong or late, brute force burned,
//! locked out and throttled; token replacement and removal.

use super::*;

/// The store contract: redeem creates the session.
pub async fn redeem_creates_the_session(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::EmailOtp, "123456", t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();

    let (session, outcome) = b.redeem_new_session(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&token, vec![]));

    // The session exists, with the token's kind as its origin.
    let mut expected = session.clone();
    expected.origin = SessionOrigin::Token(TokenKind::EmailOtp);
    let found = b.store.find_session(&alice, &session.digest, 0, now()).await.unwrap();
    assert_eq!(found.as_ref(), Some(&expected));
    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap(), vec![expected]);

    // Only under its own user.
    assert_eq!(
        b.store
            .find_session(&user("bob"), &session.digest, 0, now())
            .await
            .unwrap(),
        None
    );
    // A digest that was never issued finds nothing.
    let other = b.session(&alice, now(), HOUR_MS);
    assert_eq!(
        b.store.find_session(&alice, &other.digest, 0, now()).await.unwrap(),
        None
    );

    // Every token kind becomes the session's origin.
    for kind in [TokenKind::Custom, TokenKind::MagicUrl, TokenKind::Phone] {
        let t = now();
        let token = b.token(&alice, kind, &high_secret(), t, HOUR_MS);
        b.store.insert_token(&alice, &token, false, t).await.unwrap();
        let (session, outcome) = b.redeem_new_session(&alice, &token.digest, &lenient()).await;
        assert_eq!(outcome, redeemed(&token, vec![]));
        let found = b
            .store
            .find_session(&alice, &session.digest, 0, now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.origin, SessionOrigin::Token(kind));
    }
}

/// The store contract: second redeem is rejected.
pub async fn second_redeem_is_rejected(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    // A second, unrelated token keeps the user's token set non-empty.
    let spare = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    b.store.insert_token(&alice, &spare, false, t0).await.unwrap();

    let outcome = b.redeem_now(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&token, vec![]));

    let (second, outcome) = b.redeem_new_session(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, Redemption::Rejected);
    assert_eq!(
        b.store.find_session(&alice, &second.digest, 0, now()).await.unwrap(),
        None
    );
    assert_eq!(b.store.list_sessions(&alice, now()).await.unwrap().len(), 1);

    // The spare was untouched.
    let outcome = b.redeem_now(&alice, &spare.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&spare, vec![]));
}

/// The store contract: wrong digest is rejected.
pub async fn wrong_digest_is_rejected(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let secret = high_secret();
    let token = b.token(&alice, TokenKind::Custom, &secret, t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();

    // Wrong secret; the right secret under another user.
    for (who, digest) in [
        (&alice, b.token_digest(&alice, "not-the-secret")),
        (&user("bob"), b.token_digest(&user("bob"), &secret)),
    ] {
        let (session, outcome) = b.redeem_new_session(who, &digest, &lenient()).await;
        assert_eq!(outcome, Redemption::Rejected);
        assert_eq!(
            b.store.find_session(who, &session.digest, 0, now()).await.unwrap(),
            None
        );
    }

    // A high-entropy token survives a wrong guess.
    let outcome = b.redeem_now(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&token, vec![]));

    // Guesses against a user with no tokens are never counted (no lockout)
    // and, on Redis, leave no keys behind.
    let ghost = user("ghost");
    let strict = redeem_policy(0, 2, 3, HOUR_MS, 0);
    for _ in 0..5 {
        let session = b.session(&ghost, now(), HOUR_MS);
        let digest = b.token_digest(&ghost, "000000");
        let outcome = b
            .store
            .redeem_token(&ghost, &digest, &session, &strict, None, session.created_ms)
            .await
            .unwrap();
        assert_eq!(outcome, Redemption::Rejected);
    }
    if let Some(keys) = b.user_keys(&ghost, "").await {
        assert!(keys.is_empty(), "guesses against an unknown user left keys: {keys:?}");
    }
}

/// The store contract: expired token is rejected.
pub async fn expired_token_is_rejected(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::EmailOtp, "654321", t0, 1_500);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();

    tokio::time::sleep(Duration::from_millis(2_000)).await;

    // On Redis the token key itself is gone: its TTL is the token's expiry.
    if let Some(keys) = b.user_keys(&alice, ":t").await {
        assert!(keys.is_empty(), "expired token key still present: {keys:?}");
    }
    let (session, outcome) = b.redeem_new_session(&alice, &token.digest, &lenient()).await;
    assert_eq!(outcome, Redemption::Rejected);
    assert_eq!(
        b.store.find_session(&alice, &session.digest, 0, now()).await.unwrap(),
        None
    );
}

/// The store contract: low entropy tokens burn after failures.
pub async fn low_entropy_tokens_burn_after_failures(b: Backend) {
    let rules = redeem_policy(0, 3, 0, HOUR_MS, 0);
    let t0 = now();
    let wrong = |who: &UserId| b.token_digest(who, "999999");

    // Three consecutive failures burn the low-entropy token, not the strong one.
    let burned = user("burned");
    let low = b.token(&burned, TokenKind::EmailOtp, "111111", t0, HOUR_MS);
    let high = b.token(&burned, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&burned, &low, false, t0).await.unwrap();
    b.store.insert_token(&burned, &high, false, t0).await.unwrap();
    for _ in 0..3 {
        let outcome = b.redeem_now(&burned, &wrong(&burned), &rules).await;
        assert_eq!(outcome, Redemption::Rejected);
    }
    let outcome = b.redeem_now(&burned, &low.digest, &rules).await;
    assert_eq!(outcome, Redemption::Rejected, "the low-entropy token was not burned");
    let outcome = b.redeem_now(&burned, &high.digest, &rules).await;
    assert_eq!(outcome, redeemed(&high, vec![]), "the high-entropy token was burned");

    // One failure fewer burns nothing.
    let kept = user("kept");
    let low = b.token(&kept, TokenKind::Phone, "222222", t0, HOUR_MS);
    b.store.insert_token(&kept, &low, false, t0).await.unwrap();
    for _ in 0..2 {
        let outcome = b.redeem_now(&kept, &wrong(&kept), &rules).await;
        assert_eq!(outcome, Redemption::Rejected);
    }
    let outcome = b.redeem_now(&kept, &low.digest, &rules).await;
    assert_eq!(outcome, redeemed(&low, vec![]));
}

/// The store contract: lockout after failures.
pub async fn lockout_after_failures(b: Backend) {
    let alice = user("alice");
    // A 1.5 s lockout, so that the test can outlast it.
    let rules = redeem_policy(0, 0, 3, 1_500, 0);
    let t0 = now();
    // A guessable token makes failures count; a strong one stays usable.
    let token = b.token(&alice, TokenKind::EmailOtp, "qwzxkv", t0, HOUR_MS);
    let strong = b.token(&alice, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    b.store.insert_token(&alice, &strong, false, t0).await.unwrap();
    for _ in 0..3 {
        let outcome = b
            .redeem_now(&alice, &b.token_digest(&alice, "wrong-guess"), &rules)
            .await;
        assert_eq!(outcome, Redemption::Rejected);
    }
    // Locked: even the right guessable secret is refused, and the token is not spent.
    let (s, outcome) = b.redeem_new_session(&alice, &token.digest, &rules).await;
    assert_eq!(outcome, Redemption::LockedOut);
    assert_eq!(b.store.find_session(&alice, &s.digest, 0, now()).await.unwrap(), None);
    if let Some(keys) = b.user_keys(&alice, ":t").await {
        // The lock: a guard field of the tokens hash, with its own end.
        let until: i64 = keys[0].field("!l").expect("a lock").parse().unwrap();
        assert!(
            (1..=1_500).contains(&(until - now())),
            "lock ends in {} ms",
            until - now()
        );
        assert!(keys[0].pttl >= until - now(), "the hash ends before its lock");
    }
    // An unguessable secret is no reason to lock its owner out.
    let outcome = b.redeem_now(&alice, &strong.digest, &rules).await;
    assert_eq!(outcome, redeemed(&strong, vec![]));
    // Another user is not affected.
    let bob = user("bob");
    let bobs = b.token(&bob, TokenKind::Custom, &high_secret(), now(), HOUR_MS);
    b.store.insert_token(&bob, &bobs, false, now()).await.unwrap();
    let outcome = b.redeem_now(&bob, &bobs.digest, &rules).await;
    assert_eq!(outcome, redeemed(&bobs, vec![]));

    tokio::time::sleep(Duration::from_millis(1_800)).await;

    let outcome = b.redeem_now(&alice, &token.digest, &rules).await;
    assert_eq!(
        outcome,
        redeemed(&token, vec![]),
        "the lockout did not end, or it spent the token"
    );
}

/// The store contract: success resets the failure streak.
pub async fn success_resets_the_failure_streak(b: Backend) {
    let alice = user("alice");
    let rules = redeem_policy(0, 3, 3, HOUR_MS, 0);
    let t0 = now();
    let tokens: Vec<TokenRecord> = ["314159", "271828", "161803"]
        .iter()
        .map(|secret| b.token(&alice, TokenKind::EmailOtp, secret, t0, HOUR_MS))
        .collect();
    for t in &tokens {
        b.store.insert_token(&alice, t, false, t0).await.unwrap();
    }
    let fail = |n: usize| {
        let b = &b;
        let alice = &alice;
        async move {
            let mut outcomes = Vec::new();
            for _ in 0..n {
                outcomes.push(b.redeem_now(alice, &b.token_digest(alice, "000000"), &rules).await);
            }
            outcomes
        }
    };

    // N-1 failures, a success, N-1 failures: neither burned nor locked.
    assert_eq!(fail(2).await, vec![Redemption::Rejected; 2]);
    let outcome = b.redeem_now(&alice, &tokens[0].digest, &rules).await;
    assert_eq!(outcome, redeemed(&tokens[0], vec![]));
    assert_eq!(fail(2).await, vec![Redemption::Rejected; 2]);
    let outcome = b.redeem_now(&alice, &tokens[1].digest, &rules).await;
    assert_eq!(
        outcome,
        redeemed(&tokens[1], vec![]),
        "the streak was not reset by the success"
    );

    // The streak still counts: three in a row lock the user out.
    assert_eq!(fail(3).await, vec![Redemption::Rejected; 3]);
    assert_eq!(fail(1).await, vec![Redemption::LockedOut]);
}

/// The store contract: replace kind removes only the same kind.
pub async fn replace_kind_removes_only_the_same_kind(b: Backend) {
    let alice = user("alice");
    let bob = user("bob");
    let t0 = now();
    let email_a = b.token(&alice, TokenKind::EmailOtp, "100001", t0, HOUR_MS);
    let email_b = b.token(&alice, TokenKind::EmailOtp, "100002", t0, HOUR_MS);
    let phone = b.token(&alice, TokenKind::Phone, "100003", t0, HOUR_MS);
    let bobs_email = b.token(&bob, TokenKind::EmailOtp, "100004", t0, HOUR_MS);
    for t in [&email_a, &email_b, &phone] {
        b.store.insert_token(&alice, t, false, t0).await.unwrap();
    }
    b.store.insert_token(&bob, &bobs_email, false, t0).await.unwrap();
    // Replaces alice's earlier email tokens only.
    let email_c = b.token(&alice, TokenKind::EmailOtp, "100005", t0, HOUR_MS);
    b.store.insert_token(&alice, &email_c, true, t0).await.unwrap();
    // Without replace_kind, earlier tokens of the kind stay.
    let email_d = b.token(&alice, TokenKind::EmailOtp, "100006", t0, HOUR_MS);
    b.store.insert_token(&alice, &email_d, false, t0).await.unwrap();

    let mut outcomes = Vec::new();
    for t in [&email_a, &email_b, &phone, &email_c, &email_d] {
        outcomes.push(b.redeem_now(&alice, &t.digest, &lenient()).await);
    }
    assert_eq!(
        outcomes,
        vec![
            Redemption::Rejected,
            Redemption::Rejected,
            redeemed(&phone, vec![]),
            redeemed(&email_c, vec![]),
            redeemed(&email_d, vec![]),
        ]
    );
    let outcome = b.redeem_now(&bob, &bobs_email.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&bobs_email, vec![]));
}

/// The store contract: remove token deletes it.
pub async fn remove_token_deletes_it(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let gone = b.token(&alice, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    let kept = b.token(&alice, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &gone, false, t0).await.unwrap();
    b.store.insert_token(&alice, &kept, false, t0).await.unwrap();
    b.store.remove_token(&alice, &gone.digest, now()).await.unwrap();
    // Removing what is not there is fine.
    b.store.remove_token(&alice, &gone.digest, now()).await.unwrap();
    b.store
        .remove_token(&user("nobody"), &gone.digest, now())
        .await
        .unwrap();

    let outcome = b.redeem_now(&alice, &gone.digest, &lenient()).await;
    assert_eq!(outcome, Redemption::Rejected);
    let outcome = b.redeem_now(&alice, &kept.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&kept, vec![]));
}

/// The store contract: concurrent redeems succeed once.
pub async fn concurrent_redeems_succeed_once(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    let rules = redeem_policy(0, 5, 100, HOUR_MS, 0);

    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = Arc::clone(&b.store);
            let session = b.session(&alice, now(), HOUR_MS);
            let alice = alice.clone();
            let digest = token.digest;
            tokio::spawn(async move {
                let outcome = store
                    .redeem_token(&alice, &digest, &session, &rules, None, session.created_ms)
                    .await
                    .unwrap();
                (outcome, session)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (outcome, session) = task.await.unwrap();
        match outcome {
            Redemption::Rejected => {}
            other => {
                assert_eq!(other, redeemed(&token, vec![]));
                winners.push(session);
            }
        }
    }
    assert_eq!(winners.len(), 1, "{} concurrent redemptions succeeded", winners.len());
    let listed = b.store.list_sessions(&alice, now()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, winners[0].id);
}

/// A client that used up its failures for a user is refused (and changes
/// nothing) while other clients go on.
pub async fn failures_are_throttled_per_client(b: Backend) {
    let alice = user("alice");
    let rules = with_client_failures(redeem_policy(0, 0, 0, HOUR_MS, 0), 3, HOUR_MS);
    let t0 = now();
    let token = b.token(&alice, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &token, false, t0).await.unwrap();
    let redeem = |digest: Digest, client: &'static str| {
        let session = b.session(&alice, now(), HOUR_MS);
        let (store, alice) = (Arc::clone(&b.store), alice.clone());
        async move {
            store
                .redeem_token(&alice, &digest, &session, &rules, Some(client), session.created_ms)
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(
            redeem(b.token_digest(&alice, "wrong"), "client-a").await,
            Redemption::Rejected
        );
    }
    assert_eq!(redeem(token.digest, "client-a").await, Redemption::Throttled);
    assert_eq!(redeem(token.digest, "client-b").await, redeemed(&token, vec![]));
    if let Some(keys) = b.user_keys(&alice, ":t").await {
        // The client's failures: a guard field of the tokens hash.
        let counted = keys[0].field("!c:client-a").expect("client-a counted");
        let (count, until) = counted.split_once('|').expect("count|until");
        assert_eq!(count, "3", "{counted}");
        let left = until.parse::<i64>().unwrap() - now();
        assert!((1..=HOUR_MS).contains(&left), "window ends in {left} ms");
        assert!(keys[0].field("!c:client-b").is_none(), "a success counts nothing");
    }
}
