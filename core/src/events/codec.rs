//! An [`Event`] as stored: one JSON object with short keys, the token
//! secret sealed.
//!
//! | key | holds |
//! |---|---|
//! | `k` | [`EventKind::tag`] |
//! | `u` | user id |
//! | `t` | when, Unix ms |
//! | `i` | token or session id |
//! | `c`, `m`, `x` | created, updated, expire (Unix ms) |
//! | `y` | token kind / session origin code |
//! | `p` | token phrase |
//! | `s` | token secret, sealed: base64url(nonce ‖ AES-256-GCM ciphertext ‖ tag) |
//! | `ip`, `ua` | session client address and user agent |
//! | `e`, `ph`, `ev`, `pv` | user email, phone, and their verification flags |
//!
//! | `r` | instead of `i` … `ua` for a session event: the session record as
//! the Redis store keeps it (`{"k":origin,"i":id,"c":..,"u":updated,"e":expire,…}`),
//! embedded verbatim by the store's scripts when they write events themselves |
//!
//! Empty strings, `false` and absent values are left out. The kind decides
//! which object the fields describe (token events a token, session events
//! a session, user events a user).
//!
//! The secret is sealed by a [`SecretSeal`] with the user id and token id as
//! its context (a sealed secret moved to another event does not open); the
//! events crate's seal is AES-256-GCM under a key derived from the server
//! secret, so that a dump of the log reveals no usable token and every
//! service sharing the server secret reads it.
//!
//! Sizes (the `stored_sizes` test): a `session.create` of a browser login
//! is 284 bytes (114 of them a desktop Chrome user agent), a `token.create`
//! of an email OTP with a security phrase 215 bytes, of a magic URL (64-hex
//! secret) 292 bytes. Redis adds its stream bookkeeping: `MEMORY USAGE`
//! per entry measured 338 and 220 bytes (`event_log::redis_bytes_per_event`
//! in the contract tests).

use serde::{Deserialize, Serialize};

use super::{Event, EventKind, EventObject, SecretSeal};
use crate::error::StoreError;
use crate::model::{Session, SessionOrigin, Token, TokenKind, User, UserId};
use crate::time::from_ms;

#[derive(Serialize, Deserialize, Default)]
struct Stored {
    k: String,
    u: String,
    t: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    ua: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    e: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    ph: String,
    #[serde(default, skip_serializing_if = "is_false")]
    ev: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pv: bool,
    #[serde(default, skip_serializing)]
    r: Option<StoredRecord>,
}

/// A session record as the Redis store keeps it (written into events by
/// its scripts; the idle deadline `d` is not part of the session).
#[derive(Deserialize)]
struct StoredRecord {
    k: String,
    i: String,
    c: i64,
    u: i64,
    e: i64,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    ua: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Which object a kind's events carry.
#[derive(PartialEq, Eq)]
enum Shape {
    User,
    Token,
    Session,
}

fn shape(kind: EventKind) -> Shape {
    match kind {
        EventKind::UserCreate | EventKind::UserDelete => Shape::User,
        EventKind::TokenCreate => Shape::Token,
        EventKind::SessionCreate | EventKind::SessionDelete => Shape::Session,
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::new(format!("stored event: {what}"))
}

/// The context of a sealed secret: whose token it is.
fn context(user: &str, token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(user.len() + token.len() + 1);
    out.extend_from_slice(user.as_bytes());
    out.push(0);
    out.extend_from_slice(token.as_bytes());
    out
}

/// The stored bytes of `event`, its token secret sealed by `seal` (its `id`
/// is not part of them: the log assigns it).
pub fn encode(event: &Event, seal: &dyn SecretSeal) -> Result<Vec<u8>, StoreError> {
    let mut stored = Stored {
        k: event.kind.tag().to_owned(),
        u: event.user_id.as_str().to_owned(),
        t: event.at.timestamp_millis(),
        ..Stored::default()
    };
    match (&event.object, shape(event.kind)) {
        (EventObject::User(user), Shape::User) => {
            stored.c = Some(user.created_at.timestamp_millis());
            stored.m = Some(user.updated_at.timestamp_millis());
            stored.e.clone_from(&user.email);
            stored.ph.clone_from(&user.phone);
            stored.ev = user.email_verification;
            stored.pv = user.phone_verification;
        }
        (EventObject::Token(token), Shape::Token) => {
            stored.i = Some(token.id.clone());
            stored.c = Some(token.created_at.timestamp_millis());
            stored.x = Some(token.expire.timestamp_millis());
            stored.y = Some(token.kind.code().to_owned());
            stored.p.clone_from(&token.phrase);
            if let Some(secret) = &token.secret {
                stored.s = Some(seal.seal(&context(event.user_id.as_str(), &token.id), secret)?);
            }
        }
        (EventObject::Session(session), Shape::Session) => {
            stored.i = Some(session.id.clone());
            stored.c = Some(session.created_at.timestamp_millis());
            stored.m = Some(session.updated_at.timestamp_millis());
            stored.x = Some(session.expire.timestamp_millis());
            stored.y = Some(session.origin.code().to_owned());
            stored.ip.clone_from(&session.ip);
            stored.ua.clone_from(&session.user_agent);
        }
        _ => {
            return Err(StoreError::new(format!(
                "an event of kind {} cannot carry this object",
                event.kind.tag()
            )))
        }
    }
    serde_json::to_vec(&stored).map_err(|e| StoreError::new(format!("encoding an event: {e}")))
}

/// The event stored as `bytes`, with an empty `id`; its token secret opened
/// by `seal`.
pub fn decode(bytes: &[u8], seal: &dyn SecretSeal) -> Result<Event, StoreError> {
    let mut stored: Stored = serde_json::from_slice(bytes).map_err(|_| corrupt("not JSON"))?;
    if let Some(record) = stored.r.take() {
        stored.i = Some(record.i);
        stored.c = Some(record.c);
        stored.m = Some(record.u);
        stored.x = Some(record.e);
        stored.y = Some(record.k);
        stored.ip = record.ip;
        stored.ua = record.ua;
    }
    let kind = EventKind::from_tag(&stored.k).ok_or_else(|| corrupt("unknown kind"))?;
    let user_id = UserId::checked(&stored.u).ok_or_else(|| corrupt("bad user id"))?;
    let ms = |value: Option<i64>| value.map(from_ms).ok_or_else(|| corrupt("missing date"));
    let object = match shape(kind) {
        Shape::User => EventObject::User(User {
            id: user_id.clone(),
            created_at: ms(stored.c)?,
            updated_at: ms(stored.m)?,
            email: stored.e,
            phone: stored.ph,
            email_verification: stored.ev,
            phone_verification: stored.pv,
        }),
        Shape::Token => {
            let id = stored.i.ok_or_else(|| corrupt("missing id"))?;
            let secret = match &stored.s {
                Some(sealed) => Some(seal.open(&context(user_id.as_str(), &id), sealed)?),
                None => None,
            };
            EventObject::Token(Token {
                created_at: ms(stored.c)?,
                user_id: user_id.clone(),
                secret,
                expire: ms(stored.x)?,
                phrase: stored.p,
                kind: stored
                    .y
                    .as_deref()
                    .and_then(TokenKind::from_code)
                    .ok_or_else(|| corrupt("bad token kind"))?,
                id,
            })
        }
        Shape::Session => EventObject::Session(Session {
            id: stored.i.ok_or_else(|| corrupt("missing id"))?,
            created_at: ms(stored.c)?,
            updated_at: ms(stored.m)?,
            user_id: user_id.clone(),
            expire: ms(stored.x)?,
            origin: stored
                .y
                .as_deref()
                .and_then(SessionOrigin::from_code)
                .ok_or_else(|| corrupt("bad session origin"))?,
            ip: stored.ip,
            user_agent: stored.ua,
        }),
    };
    Ok(Event::new(kind, user_id, object, from_ms(stored.t)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::time::now_ms;

    /// A stand-in for the events crate's seal: the secret reversed and hex
    /// encoded after its context, so that a round trip, the context's
    /// binding and "no secret in the clear" can be checked here.
    #[derive(Debug)]
    pub(crate) struct TestSeal;

    impl SecretSeal for TestSeal {
        fn seal(&self, context: &[u8], secret: &Secret) -> Result<String, StoreError> {
            let reversed: Vec<u8> = secret.expose().bytes().rev().collect();
            Ok(format!("{}.{}", hex::encode(context), hex::encode(reversed)))
        }

        fn open(&self, context: &[u8], sealed: &str) -> Result<Secret, StoreError> {
            let (bound, body) = sealed.split_once('.').ok_or_else(|| corrupt("seal"))?;
            if bound != hex::encode(context) {
                return Err(corrupt("another event's secret"));
            }
            let mut bytes = hex::decode(body).map_err(|_| corrupt("seal"))?;
            bytes.reverse();
            Ok(Secret::new(String::from_utf8(bytes).map_err(|_| corrupt("seal"))?))
        }
    }

    /// A token event as issued (6-digit email OTP with a phrase).
    pub(crate) fn token_event(user: &str, secret: &str) -> Event {
        let user_id = UserId::parse(user).unwrap();
        let now = from_ms(now_ms());
        let token = Token {
            id: crate::secret::random_id(),
            created_at: now,
            user_id: user_id.clone(),
            secret: Some(Secret::new(secret)),
            expire: now + chrono::Duration::minutes(15),
            phrase: Some("Gentle Purple Otter".to_owned()),
            kind: TokenKind::EmailOtp,
        };
        Event::new(EventKind::TokenCreate, user_id, EventObject::Token(token), now)
    }

    /// A session event of a browser login.
    pub(crate) fn session_event(user: &str) -> Event {
        let user_id = UserId::parse(user).unwrap();
        let now = from_ms(now_ms());
        let session = Session {
            id: crate::secret::random_id(),
            created_at: now,
            updated_at: now,
            user_id: user_id.clone(),
            expire: now + chrono::Duration::days(365),
            origin: SessionOrigin::Token(TokenKind::MagicUrl),
            ip: "203.0.113.7".to_owned(),
            user_agent:
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
                    .to_owned(),
        };
        Event::new(EventKind::SessionCreate, user_id, EventObject::Session(session), now)
    }

    #[test]
    fn round_trips_and_seals_the_secret() {
        let event = token_event("alice", "493817");
        let bytes = encode(&event, &TestSeal).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("493817"), "{text}");
        let back = decode(&bytes, &TestSeal).unwrap();
        assert_eq!(back.kind, EventKind::TokenCreate);
        assert_eq!(back.user_id.as_str(), "alice");
        assert_eq!(back.at, event.at);
        let (EventObject::Token(a), EventObject::Token(b)) = (&event.object, &back.object) else {
            panic!("not a token");
        };
        assert_eq!(a.id, b.id);
        assert_eq!(b.secret.as_ref().unwrap().expose(), "493817");
        assert_eq!((a.expire, a.kind, &a.phrase), (b.expire, b.kind, &b.phrase));

        let session = session_event("bob");
        let back = decode(&encode(&session, &TestSeal).unwrap(), &TestSeal).unwrap();
        let (EventObject::Session(a), EventObject::Session(b)) = (&session.object, &back.object) else {
            panic!("not a session");
        };
        assert_eq!(a, b);
    }

    #[test]
    fn a_secret_moved_to_another_event_does_not_open() {
        let bytes = encode(&token_event("alice", "493817"), &TestSeal).unwrap();
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("\"u\":\"alice\"", "\"u\":\"mallory\"");
        assert!(decode(text.as_bytes(), &TestSeal).is_err());
    }

    #[test]
    fn an_embedded_session_record_decodes_as_the_session() {
        // As the Redis store's scripts write session events: the record
        // JSON verbatim (with an idle deadline, which is not part of it).
        let event = session_event("bob");
        let EventObject::Session(session) = &event.object else {
            panic!("not a session")
        };
        let record = format!(
            r#"{{"k":"{}","i":"{}","c":{},"u":{},"e":{},"d":{},"ip":"{}","ua":"{}"}}"#,
            session.origin.code(),
            session.id,
            session.created_at.timestamp_millis(),
            session.updated_at.timestamp_millis(),
            session.expire.timestamp_millis(),
            session.expire.timestamp_millis() - 1,
            session.ip,
            session.user_agent
        );
        let stored = format!(
            r#"{{"u":"bob","t":{},"k":"session.delete","r":{record}}}"#,
            event.at.timestamp_millis()
        );
        let back = decode(stored.as_bytes(), &TestSeal).unwrap();
        assert_eq!(back.kind, EventKind::SessionDelete);
        assert_eq!(back.at, event.at);
        let EventObject::Session(b) = &back.object else {
            panic!("not a session")
        };
        assert_eq!(session, b);
    }

    #[test]
    fn a_mismatched_object_is_refused() {
        let mut event = session_event("bob");
        event.kind = EventKind::TokenCreate;
        assert!(encode(&event, &TestSeal).is_err());
    }
}
