//! What is stored: no plaintext secret through the gate, and (where the
//! store shows its keys) a TTL on every key but identity.

use super::*;

/// Everything a gate writes through every route of work (custom tokens of
/// every length, email and SMS codes, magic links, exchanges, server
/// sessions, failures from a client), then everything the store holds: no
/// token secret, code, link secret, session credential or its secret half,
/// server secret or API key appears in it, on every store.
pub async fn the_gate_stores_no_plaintext(b: Backend) {
    let outbox = Outbox::default();
    let server_secret = "store-contract-gate-secret-0123456789abcdef";
    let api_key = "store-contract-api-key-0123456789";
    let gate = Gate::builder()
        .server_secret(server_secret)
        .shared_store(Arc::clone(&b.store))
        .mailer(outbox.clone())
        .sms_sender(outbox.clone())
        .client_chosen_ids(true)
        .build()
        .unwrap();
    let from = ClientInfo::new(Some("198.51.100.9".parse().unwrap()), Some("contract/1".into()));
    let requester = ClientInfo::new(from.ip, None);
    let mut secrets = vec![
        server_secret.to_owned(),
        server_secret.bytes().map(|b| format!("{b:02x}")).collect(),
        api_key.to_owned(),
    ];
    let alice = user("alice");
    let mut custom = Vec::new();
    for length in [6, 12, 16, 64, 128] {
        let token = gate
            .create_token(&alice, TokenOptions::default().length(length))
            .await
            .unwrap();
        custom.push(token.secret.unwrap().expose().to_owned());
    }
    secrets.extend(custom.iter().cloned());
    let email = gate
        .create_email_token("ada", "ada@example.test", true, &requester)
        .await
        .unwrap();
    let magic = gate
        .create_magic_url_token("grace", "grace@example.test", None, false, &requester)
        .await
        .unwrap();
    let phone = gate
        .create_phone_token("lin", "+14155550123", &requester)
        .await
        .unwrap();
    let [email, magic, phone] = [email, magic, phone].map(|t| t.secret.unwrap().expose().to_owned());
    secrets.extend([email.clone(), magic.clone(), phone.clone()]);
    assert_eq!(outbox.0.lock().unwrap().len(), 3, "three messages sent");
    // Some redeemed, some left outstanding; a failure from a client.
    let mut credentials = Vec::new();
    for (who, secret) in [
        ("alice", &custom[2]),
        ("alice", &custom[4]),
        ("ada", &email),
        ("grace", &magic),
    ] {
        credentials.push(gate.create_session(&user(who), secret, from.clone()).await.unwrap().1);
    }
    credentials.push(gate.create_server_session(&user("lin"), from.clone()).await.unwrap().1);
    assert!(gate.create_session(&alice, "zzzzzz", from.clone()).await.is_err());
    for credential in &credentials {
        let text = credential.expose().to_owned();
        secrets.push(text.split_once('.').unwrap().1.to_owned());
        secrets.push(text);
    }

    let stored = b.everything_stored().await;
    assert!(
        stored.contains("{u:alice}") || stored.contains("alice"),
        "the dump shows nothing of alice"
    );
    for secret in &secrets {
        assert!(
            !holds_secret(&stored, secret),
            "the store holds a plaintext secret ({} chars)",
            secret.len()
        );
    }
}

/// A mailer and SMS sender that keep what they send.
#[derive(Debug, Default, Clone)]
struct Outbox(Arc<std::sync::Mutex<Vec<String>>>);

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(message.body.clone());
        Ok(())
    }
}

#[async_trait]
impl SmsSender for Outbox {
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(message.body.clone());
        Ok(())
    }
}

/// Every key but identity expires, and none outlives what it holds (the
/// memory store, which has no keys, is read an hour later instead; the
/// plaintext check of every store is `the_gate_stores_no_plaintext`).
pub async fn keys_expire(b: Backend) {
    let alice = user("alice");
    let mallory = user("mallory");
    let t0 = now();
    let rules = redeem_policy(5, 2, 3, HOUR_MS, 0);
    // Alice: outstanding tokens of every kind, two sessions, one failure.
    // (Short secrets use letters beyond hex, so that the plaintext search
    // below cannot match a digest or timestamp by chance.)
    let tokens: Vec<TokenRecord> = [
        (TokenKind::Custom, high_secret()),
        (TokenKind::EmailOtp, "gqwzxk".to_owned()),
        (TokenKind::MagicUrl, high_secret()),
        (TokenKind::Phone, "vrmstz".to_owned()),
    ]
    .into_iter()
    .map(|(kind, secret)| b.token(&alice, kind, &secret, t0, HOUR_MS))
    .collect();
    for t in &tokens {
        b.store.insert_token(&alice, t, false, t0).await.unwrap();
    }
    let outcome = b.redeem_now(&alice, &tokens[0].digest, &rules).await;
    assert_eq!(outcome, redeemed(&tokens[0], vec![]));
    let direct = b.session(&alice, now(), HOUR_MS);
    b.store
        .insert_session(&alice, &direct, &rules, direct.created_ms)
        .await
        .unwrap();
    assert_eq!(
        b.redeem_now(&alice, &b.token_digest(&alice, "not-a-token"), &rules)
            .await,
        Redemption::Rejected
    );
    // Mallory: locked out (failures count while a guessable token is
    // outstanding; the second burns it, so a new one is issued).
    let first_bait = b.token(&mallory, TokenKind::EmailOtp, "zqxwvk", t0, HOUR_MS);
    b.store.insert_token(&mallory, &first_bait, false, t0).await.unwrap();
    for _ in 0..2 {
        b.redeem_now(&mallory, &b.token_digest(&mallory, "guess"), &rules).await;
    }
    let bait = b.token(&mallory, TokenKind::EmailOtp, "wkzqxv", t0, HOUR_MS);
    b.store.insert_token(&mallory, &bait, false, t0).await.unwrap();
    b.redeem_now(&mallory, &b.token_digest(&mallory, "guess"), &rules).await;
    assert_eq!(
        b.redeem_now(&mallory, &bait.digest, &rules).await,
        Redemption::LockedOut
    );

    let Some(keys) = b.keys().await else {
        // A store without keys to show: what it holds, read an hour later
        // (store calls take the clock), is identity alone.
        assert!(
            b.memory.is_some(),
            "this store shows neither keys nor its state: give it an Inspector"
        );
        let later = t0 + HOUR_MS + 1_000;
        for who in [&alice, &mallory] {
            assert!(
                b.store.list_sessions(who, later).await.unwrap().is_empty(),
                "{who}'s sessions outlive them"
            );
            assert!(
                b.store.load_user(who, later).await.unwrap().is_some(),
                "{who}'s identity is kept"
            );
        }
        let session = b.session(&mallory, later, HOUR_MS);
        let outcome = b
            .store
            .redeem_token(&mallory, &bait.digest, &session, &rules, None, later)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            Redemption::Rejected,
            "the lock and the token ended with their hour"
        );
        return;
    };
    let prefix = b.prefix().expect("inspected");
    // Every kind of key is present, and every key but the users' records
    // (identity, kept until the user is deleted) has a TTL.
    for part in [":t", ":sessions", ":user"] {
        assert!(keys.iter().any(|k| k.key.ends_with(part)), "no {part} key in {keys:?}");
    }
    // The lock is a guard field of the tokens hash, not a key of its own.
    let guarded = keys.iter().find(|k| k.key.ends_with(&format!("{{u:{mallory}}}:t")));
    assert!(
        guarded.and_then(|k| k.field("!l")).is_some(),
        "no lock in mallory's tokens hash: {keys:?}"
    );
    assert_eq!(session_records(&keys), 2);
    for k in &keys {
        assert!(k.key.starts_with(&format!("{prefix}:")), "{}", k.key);
        if k.key.ends_with(":user") {
            assert_eq!(k.pttl, -1, "{} expires", k.key);
            continue;
        }
        assert!(k.pttl > 0, "{} has no TTL ({})", k.key, k.pttl);
        assert!(
            k.pttl <= HOUR_MS + 1000,
            "{} lives longer than anything in it ({})",
            k.key,
            k.pttl
        );
    }
}
