//! Events: what changed, named as Appwrite names it. A token issued, a
//! session created or ended (logout, logout-all, eviction by the session
//! limit, an admin's deletion, the user's deletion), a user created or
//! deleted. Each is an [`Event`] whose [`name`](Event::name) is Appwrite's
//! (`users.<userId>.sessions.<sessionId>.delete`) and whose
//! [`names`](Event::names) are every form a subscription may use
//! (`users.*.sessions.*.delete`, `users.*`, …), as Appwrite expands them
//! for its webhooks.
//!
//! The core only makes events and hands them to one narrow seam, an
//! [`EventSink`] ([`GateBuilder::event_sink`](crate::GateBuilder::event_sink));
//! keeping them (a log in Redis or in process), following them and
//! delivering them (webhooks) is the `tokengate-events` crate's. The
//! [`codec`] is here so that a Redis store can write a change's events in
//! the change's own script; the token secret inside is sealed by a
//! [`SecretSeal`] of the events crate.

pub mod codec;
mod names;

use std::fmt;

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::model::{Session, Token, User, UserId};
use crate::secret::Secret;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// `users.<userId>.create`: the directory learned a new user.
    UserCreate,
    /// `users.<userId>.delete`: the user was deleted (after its sessions'
    /// own delete events).
    UserDelete,
    /// `users.<userId>.tokens.<tokenId>.create`: a token was issued; the
    /// payload carries its secret.
    TokenCreate,
    /// `users.<userId>.sessions.<sessionId>.create`: a session began.
    SessionCreate,
    /// `users.<userId>.sessions.<sessionId>.delete`: a session ended before
    /// its time (logout, logout-all, eviction, an admin, the user's deletion).
    SessionDelete,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 5] = [
        EventKind::UserCreate,
        EventKind::UserDelete,
        EventKind::TokenCreate,
        EventKind::SessionCreate,
        EventKind::SessionDelete,
    ];

    /// Appwrite's pattern of this kind, with `[userId]`-style placeholders.
    pub fn pattern(self) -> &'static str {
        match self {
            EventKind::UserCreate => "users.[userId].create",
            EventKind::UserDelete => "users.[userId].delete",
            EventKind::TokenCreate => "users.[userId].tokens.[tokenId].create",
            EventKind::SessionCreate => "users.[userId].sessions.[sessionId].create",
            EventKind::SessionDelete => "users.[userId].sessions.[sessionId].delete",
        }
    }

    /// A short stable tag, as stored.
    pub fn tag(self) -> &'static str {
        match self {
            EventKind::UserCreate => "user.create",
            EventKind::UserDelete => "user.delete",
            EventKind::TokenCreate => "token.create",
            EventKind::SessionCreate => "session.create",
            EventKind::SessionDelete => "session.delete",
        }
    }

    /// The kind of a [`tag`](EventKind::tag).
    pub fn from_tag(tag: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.tag() == tag)
    }
}

/// The object an event is about, as Appwrite's payload shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventObject {
    /// A user (its directory record).
    User(User),
    /// A token, with its secret (the one place besides an API-key response
    /// where the secret appears).
    Token(Token),
    /// A session (never with a credential).
    Session(Session),
}

/// One change. `id` is unique per event; once logged it is the log's entry
/// id, and deliveries carry it as an idempotency key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// Unique id (the log's entry id once appended; empty before).
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// Whose user it concerns.
    pub user_id: UserId,
    /// What it is about.
    pub object: EventObject,
    /// When it happened.
    pub at: DateTime<Utc>,
}

impl Event {
    /// An event, not yet logged (empty `id`).
    pub fn new(kind: EventKind, user_id: UserId, object: EventObject, at: DateTime<Utc>) -> Self {
        Event {
            id: String::new(),
            kind,
            user_id,
            object,
            at,
        }
    }

    /// The id of the token or session the event is about; the user's id
    /// for user events.
    pub fn resource_id(&self) -> &str {
        match &self.object {
            EventObject::Token(token) => &token.id,
            EventObject::Session(session) => &session.id,
            EventObject::User(_) => self.user_id.as_str(),
        }
    }

    /// Appwrite's name of this event, e.g.
    /// `users.alice.sessions.5f1c….delete`.
    pub fn name(&self) -> String {
        names::fill(self.kind.pattern(), self.user_id.as_str(), self.resource_id(), false)
    }

    /// Every name a subscription may use for this event, as Appwrite
    /// expands it (its `X-Appwrite-Webhook-Events`): the event and its
    /// parents, each with every parameter either given or `*`.
    pub fn names(&self) -> Vec<String> {
        names::expand(self.kind.pattern(), self.user_id.as_str(), self.resource_id())
    }

    /// [`Event::names`], each as its parts: an id stays one part even when
    /// it holds a dot (a user id may), so that a pattern compared part by
    /// part never reads `alice.sessions.<id>`'s deletion as alice's session.
    pub fn name_parts(&self) -> Vec<Vec<&str>> {
        names::expand_parts(self.kind.pattern(), self.user_id.as_str(), self.resource_id())
    }
}

/// Where the gate announces its changes: the one seam between the core and
/// whatever keeps and delivers events (the `tokengate-events` crate's log
/// sink). Called after each change, in order; it must not wait on I/O (no
/// request waits for events).
pub trait EventSink: Send + Sync + fmt::Debug + 'static {
    /// Takes `events`, in the order they happened.
    fn announce(&self, events: Vec<Event>);
}

/// Seals the secret of a token inside a stored event and opens it again,
/// so that a dump of the event log reveals no usable token. `context`
/// binds a sealed secret to its event (user and token id): moved to
/// another event it does not open.
pub trait SecretSeal: Send + Sync + fmt::Debug + 'static {
    /// `secret`, sealed, as text.
    fn seal(&self, context: &[u8], secret: &Secret) -> Result<String, StoreError>;

    /// The secret in `sealed`, when sealed by this key with this `context`.
    fn open(&self, context: &[u8], sealed: &str) -> Result<Secret, StoreError>;
}
