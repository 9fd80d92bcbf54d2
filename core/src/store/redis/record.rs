//! The session record as the Redis store keeps it: compact JSON, written
//! with [`SessionRecord::to_json`] and read back by [`SessionRecord::from_json`],
//! which takes a direct route for the one shape written (`canonical`) and
//! falls back to serde_json for anything else.

use serde::Serialize;

use crate::model::SessionOrigin;
use crate::secret::Digest;
use crate::store::SessionRecord;

mod canonical;

impl SessionRecord {
    /// The compact JSON value stored for a session (the digest is the key),
    /// with the idle deadline (`"d"`) when it comes before the expiry.
    pub(crate) fn to_json(&self, idle_deadline_ms: i64) -> String {
        serde_json::to_string(&StoredSession {
            kind: self.origin.code(),
            id: &self.id,
            created: self.created_ms,
            updated: self.updated_ms,
            expire: self.expire_ms,
            idle_deadline: (idle_deadline_ms < self.expire_ms).then_some(idle_deadline_ms),
            ip: &self.ip,
            user_agent: &self.user_agent,
        })
        .expect("a session record always serialises")
    }

    /// Parses the stored JSON value back, with the digest it was found under;
    /// also returns when it ends (the earlier of expiry and idle deadline).
    pub(crate) fn from_json(json: &[u8], digest: Digest) -> Option<(Self, i64)> {
        let fields = canonical::parse(json)?;
        let ends_ms = fields.idle_deadline.map_or(fields.expire, |d| d.min(fields.expire));
        let record = SessionRecord {
            id: fields.id.into_owned(),
            digest,
            created_ms: fields.created,
            updated_ms: fields.updated,
            expire_ms: fields.expire,
            origin: SessionOrigin::from_code(&fields.kind)?,
            ip: fields.ip.into_owned(),
            user_agent: fields.user_agent.into_owned(),
        };
        Some((record, ends_ms))
    }
}

// The kind comes first so that the Redis redeem script can replace it.
#[derive(Serialize)]
struct StoredSession<'a> {
    #[serde(rename = "k")]
    kind: &'a str,
    #[serde(rename = "i")]
    id: &'a str,
    #[serde(rename = "c")]
    created: i64,
    #[serde(rename = "u")]
    updated: i64,
    #[serde(rename = "e")]
    expire: i64,
    // Right after "e": the Redis scripts rely on that order.
    #[serde(rename = "d", skip_serializing_if = "Option::is_none")]
    idle_deadline: Option<i64>,
    #[serde(rename = "ip", skip_serializing_if = "str::is_empty")]
    ip: &'a str,
    #[serde(rename = "ua", skip_serializing_if = "str::is_empty")]
    user_agent: &'a str,
}
