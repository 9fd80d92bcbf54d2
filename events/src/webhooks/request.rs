//! One delivery as Appwrite's webhooks worker makes it: the body (the
//! Appwrite model of the event's object), the headers and the signature.

use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue};
use sha1::Sha1;

use tokengate::api::ApiConfig;
use tokengate::events::Event;

use super::Webhook;

/// `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("tokengate/", env!("CARGO_PKG_VERSION"));

/// Header carrying the event's id (the same id on every retry of it).
pub const EVENT_ID_HEADER: &str = "x-tokengate-event-id";

/// The signature Appwrite sends as `X-Appwrite-Webhook-Signature`: base64
/// of HMAC-SHA1 keyed with the signature key over the URL (exactly as
/// configured) followed by the body.
///
/// ```
/// use tokengate_events::webhooks::signature;
/// let sig = signature("a-signature-key-of-some-length", "https://h.example/hook", b"{}");
/// assert_eq!(sig.len(), 28); // 20 bytes in base64
/// ```
pub fn signature(key: &str, url: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `candidate` is the signature of `body` sent to `url` under
/// `key` (constant time), for receivers written in Rust.
///
/// ```
/// use tokengate_events::webhooks::{signature, verify_signature};
/// let (key, url, body) = ("a-signature-key-of-some-length", "https://h.example/hook", b"{}");
/// assert!(verify_signature(key, url, body, &signature(key, url, body)));
/// assert!(!verify_signature(key, url, b"{ }", &signature(key, url, body)));
/// ```
pub fn verify_signature(key: &str, url: &str, body: &[u8], candidate: &str) -> bool {
    let expected = signature(key, url, body);
    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), candidate.as_bytes()).into()
}

/// The body and headers of one delivery of `event` to `hook`.
pub(super) struct Delivery {
    pub(super) body: Vec<u8>,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Delivery {
    pub(super) fn new(hook: &Webhook, project: &HeaderValue, event: &Event, config: &ApiConfig) -> Delivery {
        let body = serde_json::to_vec(&config.event_body(event)).expect("JSON values always serialise");
        let sig = signature(hook.key().expose(), hook.url(), &body);
        // Every value below is checked ASCII (ids, names, base64); a value
        // that is not would be left out rather than sent broken.
        let value = |text: &str| HeaderValue::from_str(text).ok();
        let mut headers = Vec::with_capacity(10);
        let mut push = |name: &'static str, value: Option<HeaderValue>| {
            if let Some(value) = value {
                headers.push((HeaderName::from_static(name), value));
            }
        };
        push("content-type", Some(HeaderValue::from_static("application/json")));
        push("user-agent", Some(HeaderValue::from_static(USER_AGENT)));
        push("x-appwrite-webhook-id", value(hook.id()));
        push("x-appwrite-webhook-events", value(&event.names().join(",")));
        push("x-appwrite-webhook-name", value(hook.name()));
        push("x-appwrite-webhook-user-id", value(event.user_id.as_str()));
        push("x-appwrite-webhook-project-id", Some(project.clone()));
        push("x-appwrite-webhook-signature", value(&sig));
        push(EVENT_ID_HEADER, value(&event.id));
        push("idempotency-key", value(&event.id));
        Delivery { body, headers }
    }
}
