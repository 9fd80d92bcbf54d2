//! Events as the gate makes them, for this crate's unit tests.

use chrono::{DateTime, Utc};
use tokengate::events::{Event, EventKind, EventObject};
use tokengate::{Secret, Session, SessionOrigin, Token, TokenKind, UserId};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now")
}

fn random_id() -> String {
    let mut bytes = [0u8; 10];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes).expect("the OS random number generator");
    hex::encode(bytes)
}

/// A token event as issued (6-digit email OTP with a phrase).
pub(crate) fn token_event(user: &str, secret: &str) -> Event {
    let user_id = UserId::parse(user).unwrap();
    let now = now();
    let expire = now + chrono::Duration::minutes(15);
    let mut token = Token::new(random_id(), user_id.clone(), TokenKind::EmailOtp, now, expire);
    token.secret = Some(Secret::new(secret));
    token.phrase = Some("Gentle Purple Otter".to_owned());
    Event::new(EventKind::TokenCreate, user_id, EventObject::Token(token), now)
}

/// A session event of a browser login.
pub(crate) fn session_event(user: &str) -> Event {
    let user_id = UserId::parse(user).unwrap();
    let now = now();
    let expire = now + chrono::Duration::days(365);
    let origin = SessionOrigin::Token(TokenKind::MagicUrl);
    let mut session = Session::new(random_id(), user_id.clone(), origin, now, expire);
    session.ip = "203.0.113.7".to_owned();
    session.user_agent =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
            .to_owned();
    Event::new(EventKind::SessionCreate, user_id, EventObject::Session(session), now)
}
