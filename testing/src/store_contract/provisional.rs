//! Anonymous flows' new users: provisional until they first sign in.

use super::*;

/// A user claimed with a deadline (an anonymous flow's new user) and its
/// binding disappear at the deadline unless the user signs in; a flow
/// token extends them, a sign-in, a custom token or a verified address
/// keeps them for good; a failed delivery withdraws them.
pub async fn anonymous_users_are_provisional_until_they_sign_in(b: Backend) {
    // Unused: record and binding are gone at the deadline, the id is free.
    let ann = user("ann");
    let address = b.key.address_digest(b"email:ann@example.test");
    let t0 = now();
    let deadline = t0 + 600;
    assert!(b
        .store
        .claim_user(&ann, "ann@example.test", "", deadline, t0)
        .await
        .unwrap());
    assert_eq!(b.store.link_address(&address, &ann, deadline, t0).await.unwrap(), ann);
    let record = b.store.load_user(&ann, now()).await.unwrap().expect("claimed");
    assert_eq!(record.expire_ms, deadline);
    let (owner, binding_expires) = b.store.find_address(&address, now()).await.unwrap().expect("bound");
    assert_eq!(owner, ann);
    assert!(
        binding_expires > now() && binding_expires <= deadline + 50,
        "{binding_expires}"
    );
    if let Some(keys) = b.keys().await {
        let identity: Vec<&StoredKey> = keys
            .iter()
            .filter(|k| k.key.ends_with(":user") || k.key.contains("{a:"))
            .collect();
        assert_eq!(identity.len(), 2, "{identity:?}");
        for key in identity {
            assert!(key.pttl > 0 && key.pttl <= 600, "{} lives {} ms", key.key, key.pttl);
        }
    }
    // Linking again extends the binding, never shortens it.
    b.store.link_address(&address, &ann, t0 + 300, now()).await.unwrap();
    let (_, still) = b.store.find_address(&address, now()).await.unwrap().expect("bound");
    assert!(still > t0 + 450, "shortened to {still}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(b.store.load_user(&ann, now()).await.unwrap(), None);
    assert_eq!(b.store.find_address(&address, now()).await.unwrap(), None);
    assert!(b
        .store
        .claim_user(&ann, "other@example.test", "", 0, now())
        .await
        .unwrap());

    // A flow token extends the record to the token's expiry plus the grace;
    // the first sign-in keeps it for good, and says so once.
    let bea = user("bea");
    let t1 = now();
    assert!(b
        .store
        .claim_user(&bea, "bea@example.test", "", t1 + 1_000, t1)
        .await
        .unwrap());
    let otp = b.token(&bea, TokenKind::EmailOtp, &high_secret(), t1, HOUR_MS);
    b.store.insert_token(&bea, &otp, true, t1).await.unwrap();
    let record = b.store.load_user(&bea, now()).await.unwrap().expect("claimed");
    assert_eq!(record.expire_ms, otp.user_kept_until());
    assert_eq!(
        otp.user_kept_until(),
        otp.expire_ms + PROVISIONAL_GRACE.as_millis() as i64
    );
    let (_, outcome) = b.redeem_new_session(&bea, &otp.digest, &lenient()).await;
    assert!(
        matches!(outcome, Redemption::Redeemed { kept: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(b.store.load_user(&bea, now()).await.unwrap().unwrap().expire_ms, 0);
    let second = b.token(&bea, TokenKind::MagicUrl, &high_secret(), now(), HOUR_MS);
    b.store.insert_token(&bea, &second, false, now()).await.unwrap();
    assert_eq!(
        b.store.load_user(&bea, now()).await.unwrap().unwrap().expire_ms,
        0,
        "kept"
    );
    let (_, outcome) = b.redeem_new_session(&bea, &second.digest, &lenient()).await;
    assert!(
        matches!(outcome, Redemption::Redeemed { kept: false, .. }),
        "{outcome:?}"
    );
    if let Some(keys) = b.user_keys(&bea, ":user").await {
        assert_eq!(keys[0].pttl, -1, "{} still expires", keys[0].key);
    }

    // A custom token (API key: the server vouches for the user) keeps a
    // provisional user for good, and says so (the gate then keeps its
    // bindings); a verified address keeps it too.
    let cid = user("cid");
    let t = now();
    assert!(b
        .store
        .claim_user(&cid, "cid@example.test", "", t + 1_000, t)
        .await
        .unwrap());
    let custom = b.token(&cid, TokenKind::Custom, &high_secret(), t, HOUR_MS);
    assert_eq!(custom.user_kept_until(), 0);
    assert_eq!(
        b.store.insert_token(&cid, &custom, false, t).await.unwrap(),
        (true, true),
        "announced, and kept"
    );
    assert_eq!(b.store.load_user(&cid, now()).await.unwrap().unwrap().expire_ms, 0);
    let again = b.token(&cid, TokenKind::Custom, &high_secret(), now(), HOUR_MS);
    assert_eq!(
        b.store.insert_token(&cid, &again, false, now()).await.unwrap(),
        (false, false),
        "kept once"
    );
    let dee = user("dee");
    let t = now();
    assert!(b
        .store
        .claim_user(&dee, "dee@example.test", "", t + HOUR_MS, t)
        .await
        .unwrap());
    b.store.mark_verified(&dee, true, false, t).await.unwrap();
    assert_eq!(b.store.load_user(&dee, now()).await.unwrap().unwrap().expire_ms, 0);
    // A claim without deadline (an API-key caller) is for good at once, and
    // keeps a provisional record it confirms.
    let eli = user("eli");
    assert!(b
        .store
        .claim_user(&eli, "eli@example.test", "", now() + HOUR_MS, now())
        .await
        .unwrap());
    assert!(b
        .store
        .claim_user(&eli, "eli@example.test", "", 0, now())
        .await
        .unwrap());
    assert_eq!(b.store.load_user(&eli, now()).await.unwrap().unwrap().expire_ms, 0);

    // A failed delivery withdraws a provisional user with nothing else, but
    // never a user kept for good.
    let fay = user("fay");
    let t2 = now();
    assert!(b
        .store
        .claim_user(&fay, "fay@example.test", "", t2 + HOUR_MS, t2)
        .await
        .unwrap());
    let undelivered = b.token(&fay, TokenKind::EmailOtp, &high_secret(), t2, HOUR_MS);
    b.store.insert_token(&fay, &undelivered, true, t2).await.unwrap();
    assert!(
        b.store.remove_token(&fay, &undelivered.digest, now()).await.unwrap(),
        "withdrawn"
    );
    assert_eq!(b.store.load_user(&fay, now()).await.unwrap(), None);
    let undelivered = b.token(&bea, TokenKind::EmailOtp, &high_secret(), now(), HOUR_MS);
    b.store.insert_token(&bea, &undelivered, true, now()).await.unwrap();
    assert!(!b.store.remove_token(&bea, &undelivered.digest, now()).await.unwrap());
    assert!(b.store.load_user(&bea, now()).await.unwrap().is_some());
}

/// Rate-limit buckets count all at once or not at all, each in its own
/// window and gap, separately per group.
pub async fn rate_limits_count_all_or_nothing(b: Backend) {
    let bucket =
        |id: &str, limit: u32, window_ms: i64, gap_ms: i64| RateBucket::new(id.to_owned(), limit, window_ms, gap_ms);
    let (a, one) = (bucket("a", 2, HOUR_MS, 0), bucket("one", 1, HOUR_MS, 0));
    let pair = [a.clone(), one.clone()];
    assert_eq!(b.store.hit_rate_limits("g", &pair, now()).await.unwrap(), None);
    assert_eq!(b.store.hit_rate_limits("g", &pair, now()).await.unwrap(), Some(1));
    // The refused request counted nothing: `a` has one hit left.
    assert_eq!(
        b.store
            .hit_rate_limits("g", std::slice::from_ref(&a), now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.store
            .hit_rate_limits("g", std::slice::from_ref(&a), now())
            .await
            .unwrap(),
        Some(0)
    );
    // Another group's bucket of the same name is another bucket.
    assert_eq!(b.store.hit_rate_limits("h", &pair, now()).await.unwrap(), None);
    // A gap refuses until it has passed; a window ends.
    let gap = bucket("gap", 100, HOUR_MS, 300);
    assert_eq!(
        b.store
            .hit_rate_limits("g", std::slice::from_ref(&gap), now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.store
            .hit_rate_limits("g", std::slice::from_ref(&gap), now())
            .await
            .unwrap(),
        Some(0)
    );
    let short = bucket("short", 1, 300, 0);
    assert_eq!(
        b.store
            .hit_rate_limits("g", std::slice::from_ref(&short), now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.store
            .hit_rate_limits("g", std::slice::from_ref(&short), now())
            .await
            .unwrap(),
        Some(0)
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.store.hit_rate_limits("g", &[gap, short], now()).await.unwrap(), None);
    assert_eq!(b.store.hit_rate_limits("g", &[], now()).await.unwrap(), None);
    if let Some(keys) = b.keys().await {
        let buckets: Vec<&StoredKey> = keys.iter().filter(|k| k.key.contains("{r:")).collect();
        assert!(!buckets.is_empty(), "{keys:?}");
        for key in buckets {
            assert!(key.pttl > 0, "{} never expires", key.key);
        }
    }
}
