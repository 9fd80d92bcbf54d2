//! The events of the gate's changes, each complete where the change is made
//! (nothing is read again later), for the [`EventSink`](crate::events::EventSink).

use chrono::{DateTime, Utc};

use crate::events::{Event, EventKind, EventObject};
use crate::model::{Session, Token, User, UserId};
use crate::store::SessionRecord;

pub(crate) fn user_created(user: User) -> Event {
    let (id, at) = (user.id.clone(), user.created_at);
    Event::new(EventKind::UserCreate, id, EventObject::User(user), at)
}

pub(crate) fn token_created(token: &Token) -> Event {
    Event::new(
        EventKind::TokenCreate,
        token.user_id.clone(),
        EventObject::Token(token.clone()),
        token.created_at,
    )
}

pub(crate) fn session(kind: EventKind, session: Session, at: DateTime<Utc>) -> Event {
    let user = session.user_id.clone();
    Event::new(kind, user, EventObject::Session(session), at)
}

pub(crate) fn sessions_deleted(user: &UserId, records: Vec<SessionRecord>, at: DateTime<Utc>) -> Vec<Event> {
    records
        .into_iter()
        .map(|record| session(EventKind::SessionDelete, record.into_session(user.clone()), at))
        .collect()
}

pub(crate) fn user_deleted(user: User, at: DateTime<Utc>) -> Event {
    let id = user.id.clone();
    Event::new(EventKind::UserDelete, id, EventObject::User(user), at)
}
