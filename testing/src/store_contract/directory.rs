//! The directory: identity is not a cache.

use super::*;

/// Every id issued a token or a session is known from then on, whatever
/// happens to its tokens and sessions, and nobody can claim it with an address.
pub async fn issued_ids_are_known_for_good(b: Backend) {
    let (tokened, served) = (user("tokened"), user("served"));
    assert_eq!(b.store.load_user(&tokened, now()).await.unwrap(), None);
    let t0 = now();
    let token = b.token(&tokened, TokenKind::Custom, &high_secret(), t0, HOUR_MS);
    // The first token or session makes the id known, and says so once.
    assert!(
        b.store.insert_token(&tokened, &token, false, t0).await.unwrap().0,
        "announced"
    );
    b.store.remove_token(&tokened, &token.digest, now()).await.unwrap();
    let session = b.session(&served, now(), HOUR_MS);
    let inserted = b
        .store
        .insert_session(&served, &session, &lenient(), session.created_ms)
        .await
        .unwrap();
    assert!(inserted.0, "announced");
    let again = b.session(&served, now(), HOUR_MS);
    let inserted = b
        .store
        .insert_session(&served, &again, &lenient(), again.created_ms)
        .await
        .unwrap();
    assert!(!inserted.0, "announced once");
    b.store.delete_sessions(&served, now()).await.unwrap();
    for (who, since) in [(&tokened, t0), (&served, session.created_ms)] {
        let record = b.store.load_user(who, now()).await.unwrap().expect("known for good");
        assert_eq!(record.created_ms, since, "{who}");
        assert_eq!((record.email.as_str(), record.phone.as_str()), ("", ""));
        assert!(!b
            .store
            .claim_user(who, "mallory@evil.test", "", 0, now())
            .await
            .unwrap());
        assert!(!b.store.claim_user(who, "", "+15005550006", 0, now()).await.unwrap());
        if let Some(keys) = b.user_keys(who, ":user").await {
            assert_eq!(keys.len(), 1, "{keys:?}");
            assert_eq!(keys[0].pttl, -1, "{} expires", keys[0].key);
        }
    }
    // A later token does not move the time the id became known.
    let later = b.token(&tokened, TokenKind::Custom, &high_secret(), t0 + 5, HOUR_MS);
    assert!(
        !b.store.insert_token(&tokened, &later, false, t0 + 5).await.unwrap().0,
        "announced once"
    );
    assert_eq!(
        b.store.load_user(&tokened, now()).await.unwrap().unwrap().created_ms,
        t0
    );
    // What identity costs (the README's figure; an inspected store always
    // answers, a cluster asking the node that holds the key): a record
    // without address. The memory store has no keys to measure.
    if let Some(prefix) = b.prefix() {
        let key = format!("{prefix}:{{u:tokened}}:user");
        let bytes = b
            .memory_usage(&key)
            .await
            .expect("an inspected store measures its keys");
        assert!(bytes <= 160, "a user record takes {bytes} B");
    }
}

/// A claim binds an unknown id to one address; the same address confirms
/// it, any other is refused. Address bindings: the first link wins, an
/// unlink removes only its own, and none expires.
pub async fn claims_bind_an_id_to_one_address(b: Backend) {
    let ada = user("ada");
    let t0 = now();
    assert!(b.store.claim_user(&ada, "ada@example.test", "", 0, t0).await.unwrap());
    assert!(b
        .store
        .claim_user(&ada, "ada@example.test", "", 0, t0 + 1)
        .await
        .unwrap());
    assert!(!b
        .store
        .claim_user(&ada, "eve@example.test", "", 0, t0 + 2)
        .await
        .unwrap());
    assert!(!b.store.claim_user(&ada, "", "+15005550006", 0, t0 + 3).await.unwrap());
    let record = b.store.load_user(&ada, now()).await.unwrap().unwrap();
    assert_eq!((record.created_ms, record.email.as_str()), (t0, "ada@example.test"));
    // The claim made the user; its first token announces it, once.
    let first = b.token(&ada, TokenKind::EmailOtp, &high_secret(), t0 + 4, HOUR_MS);
    assert!(
        b.store.insert_token(&ada, &first, true, t0 + 4).await.unwrap().0,
        "announced"
    );
    let second = b.token(&ada, TokenKind::EmailOtp, &high_secret(), t0 + 5, HOUR_MS);
    assert!(
        !b.store.insert_token(&ada, &second, true, t0 + 5).await.unwrap().0,
        "announced once"
    );
    // An id with a live token but no record (kept by an older version) is taken.
    let legacy = user("legacy");
    b.store
        .insert_token(
            &legacy,
            &b.token(&legacy, TokenKind::Custom, &high_secret(), t0, HOUR_MS),
            false,
            t0,
        )
        .await
        .unwrap();
    assert!(!b
        .store
        .claim_user(&legacy, "legacy@example.test", "", 0, t0)
        .await
        .unwrap());

    let address = b.key.address_digest(b"email:ada@example.test");
    let eve = user("eve");
    assert_eq!(b.store.find_address(&address, now()).await.unwrap(), None);
    assert_eq!(b.store.link_address(&address, &ada, 0, now()).await.unwrap(), ada);
    assert_eq!(
        b.store.link_address(&address, &eve, 0, now()).await.unwrap(),
        ada,
        "the first link wins"
    );
    b.store.unlink_address(&address, &eve, now()).await.unwrap();
    assert_eq!(
        b.store.find_address(&address, now()).await.unwrap(),
        Some((ada.clone(), 0))
    );
    if let Some(keys) = b.keys().await {
        let binding = keys.iter().find(|k| k.key.contains("{a:")).expect("the binding's key");
        assert_eq!(binding.pttl, -1, "a binding expires");
    }
    // What an address costs (the README's figure): record and binding.
    if let Some(prefix) = b.prefix() {
        let record = format!("{prefix}:{{u:ada}}:user");
        let binding = format!("{prefix}:{{a:{}}}", address.to_hex());
        let measured = "an inspected store measures its keys";
        let bytes = b.memory_usage(&record).await.expect(measured) + b.memory_usage(&binding).await.expect(measured);
        assert!(bytes <= 400, "an email user's record and binding take {bytes} B");
    }
    b.store.unlink_address(&address, &ada, now()).await.unwrap();
    assert_eq!(b.store.find_address(&address, now()).await.unwrap(), None);
}

/// Deleting a user removes its record, tokens, sessions, failure streak
/// and lockout in one step, reports what it had, and frees the id.
pub async fn delete_user_removes_everything_at_once(b: Backend) {
    let alice = user("alice");
    let t0 = now();
    assert!(b
        .store
        .claim_user(&alice, "alice@example.test", "", 0, t0)
        .await
        .unwrap());
    let otp = b.token(&alice, TokenKind::EmailOtp, "qwzxkv", t0, HOUR_MS);
    let strong = b.token(&alice, TokenKind::MagicUrl, &high_secret(), t0, HOUR_MS);
    b.store.insert_token(&alice, &otp, false, t0).await.unwrap();
    b.store.insert_token(&alice, &strong, false, t0).await.unwrap();
    let (session, outcome) = b.redeem_new_session(&alice, &strong.digest, &lenient()).await;
    assert_eq!(outcome, redeemed(&strong, vec![]));
    let rules = redeem_policy(0, 0, 1, HOUR_MS, 0);
    assert_eq!(
        b.redeem_now(&alice, &b.token_digest(&alice, "wrong"), &rules).await,
        Redemption::Rejected
    );
    if let Some(keys) = b.user_keys(&alice, "").await {
        assert_eq!(keys.len(), 3, "record, tokens (and the lock), sessions: {keys:?}");
    }

    let deleted = b.store.delete_user(&alice, now()).await.unwrap().expect("a known user");
    let (record, sessions) = deleted;
    assert_eq!(record.email, "alice@example.test");
    assert_eq!(record.phone, "");
    assert_eq!(ids(&sessions), vec![session.id.clone()]);
    assert_eq!(b.store.load_user(&alice, now()).await.unwrap(), None);
    assert_eq!(
        b.store.find_session(&alice, &session.digest, 0, now()).await.unwrap(),
        None
    );
    assert_eq!(
        b.redeem_now(&alice, &otp.digest, &lenient()).await,
        Redemption::Rejected
    );
    if let Some(keys) = b.user_keys(&alice, "").await {
        assert!(keys.is_empty(), "left behind: {keys:?}");
    }
    assert_eq!(b.store.delete_user(&alice, now()).await.unwrap(), None);
    assert!(b
        .store
        .claim_user(&alice, "new@example.test", "", 0, now())
        .await
        .unwrap());
}
