//! What the dispatcher tests stand on: events and an HTTP receiver that
//! checks every signature with Appwrite's algorithm.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use tokengate::{Secret, Session, SessionOrigin, Token, TokenKind, User, UserId};

use crate::{Event, EventKind, EventObject};

/// The events of the tests.
pub(super) fn token_event(user: &str, secret: &str) -> Event {
    let now = Utc::now();
    let id = format!("{:0>20}", user.len());
    let expire = now + chrono::Duration::minutes(15);
    let mut token = Token::new(id, UserId::parse(user).unwrap(), TokenKind::Custom, now, expire);
    token.secret = Some(Secret::new(secret));
    Event::new(
        EventKind::TokenCreate,
        token.user_id.clone(),
        EventObject::Token(token),
        now,
    )
}

pub(super) fn session_event(kind: EventKind, user: &str, session_id: &str) -> Event {
    let now = Utc::now();
    let expire = now + chrono::Duration::days(365);
    let origin = SessionOrigin::Token(TokenKind::Custom);
    let mut session = Session::new(session_id.to_owned(), UserId::parse(user).unwrap(), origin, now, expire);
    session.ip = "127.0.0.1".to_owned();
    Event::new(kind, session.user_id.clone(), EventObject::Session(session), now)
}

pub(super) fn user_event(kind: EventKind, user: &str) -> Event {
    let now = Utc::now();
    let mut record = User::new(UserId::parse(user).unwrap(), now);
    record.email = format!("{user}@example.com");
    record.email_verification = true;
    Event::new(kind, record.id.clone(), EventObject::User(record), now)
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(super) struct Received {
    pub(super) headers: HashMap<String, String>,
    pub(super) body: serde_json::Value,
}

impl Received {
    pub(super) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

#[derive(Debug, Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Statuses to answer, in turn; 200 once empty.
    script: VecDeque<u16>,
    always: Option<u16>,
    requests: usize,
    bad_signatures: usize,
}

/// An HTTP server on a loopback port that answers webhook calls, checks
/// every signature as an Appwrite receiver would (base64 HMAC-SHA1 of URL
/// + body), and keeps the requests it answered 2xx.
#[derive(Debug, Clone)]
pub(super) struct Receiver {
    pub(super) url: String,
    key: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub(super) async fn start(key: &str) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let receiver = Receiver {
            url,
            key: key.to_owned(),
            state: Arc::default(),
        };
        let served = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let served = served.clone();
                tokio::spawn(async move {
                    let _ = served.session(stream).await;
                });
            }
        });
        receiver
    }

    /// Answers these statuses to the next requests, then 200.
    pub(super) fn script(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses);
    }

    /// Answers `status` to every request (None: back to the script / 200).
    pub(super) fn always(&self, status: Option<u16>) {
        self.state.lock().unwrap().always = status;
    }

    /// Requests that were answered 2xx.
    pub(super) fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Every request, whatever it was answered.
    pub(super) fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    /// Requests whose signature did not verify (answered 401).
    pub(super) fn bad_signatures(&self) -> usize {
        self.state.lock().unwrap().bad_signatures
    }

    /// Waits (at most 10 s) for `n` accepted requests.
    pub(super) async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} deliveries arrived",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if !line.starts_with("POST /hook ") {
                return Ok(());
            }
            let mut headers = HashMap::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let header = line.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
            let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).await?;
            // Appwrite's algorithm, written out independently of the crate's.
            let mut mac = Hmac::<Sha1>::new_from_slice(self.key.as_bytes()).unwrap();
            mac.update(self.url.as_bytes());
            mac.update(&body);
            let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            let signed = headers.get("x-appwrite-webhook-signature").map(String::as_str);
            let status = {
                let mut state = self.state.lock().unwrap();
                state.requests += 1;
                let status = if signed == Some(expected.as_str()) {
                    state.always.or_else(|| state.script.pop_front()).unwrap_or(200)
                } else {
                    state.bad_signatures += 1;
                    401
                };
                if (200..300).contains(&status) {
                    state.received.push(Received {
                        headers,
                        body: serde_json::from_slice(&body).unwrap(),
                    });
                }
                status
            };
            let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
            write.write_all(response.as_bytes()).await?;
        }
    }
}
