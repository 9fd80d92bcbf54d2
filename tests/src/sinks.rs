//! Delivery endpoints for the flows, written here (not a production mail
//! server): an SMTP sink that speaks the protocol over real TCP (plain, or
//! with STARTTLS / implicit TLS and AUTH: [`crate::smtp_tls`]) and an HTTP
//! receiver for the SMS webhook, each on a free loopback port, keeping
//! what arrives. The apps reach them exactly as they would reach real
//! ones: through `TOKENGATE_SMTP_URL` and `TOKENGATE_SMS_WEBHOOK`.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::smtp_session::{smtp_session, SinkShared};
use crate::smtp_tls::{Acceptor, Mechanism, SinkEvent, SmtpSinkConfig};

/// One received email.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The text part (or the whole body of a single-part message).
    pub body: String,
    /// The HTML part of a `multipart/alternative` message, else empty.
    pub html: String,
    /// The message's own `Content-Type` (its media type, lowercase).
    pub content_type: String,
    /// Whether the message came over TLS (implicit or after STARTTLS).
    pub tls: bool,
    /// The user that authenticated on the connection, if any.
    pub auth_user: Option<String>,
    /// The AUTH mechanism that user took.
    pub auth_mechanism: Option<Mechanism>,
}

/// A hand-written SMTP sink that keeps every message: plain without AUTH by default
/// ([`SmtpSink::start`]), or requiring TLS and AUTH
/// ([`SmtpSink::start_with`], see [`crate::smtp_tls`]).
#[derive(Debug, Clone)]
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    events: Arc<Mutex<Vec<SinkEvent>>>,
}

impl SmtpSink {
    /// Starts a plain server without AUTH in the background.
    pub async fn start() -> SmtpSink {
        SmtpSink::start_with(SmtpSinkConfig::default()).await
    }

    /// Starts a server requiring what `config` says in the background.
    pub async fn start_with(config: SmtpSinkConfig) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp sink");
        let port = listener.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let events = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(SinkShared {
            tls: Acceptor::new(&config.tls),
            auth: config.auth,
            mails: Arc::clone(&mails),
            events: Arc::clone(&events),
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = smtp_session(stream, shared).await;
                });
            }
        });
        SmtpSink { port, mails, events }
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits (at most 10 s) for the `n`-th (1-based) message to `to`.
    pub async fn wait_for(&self, to: &str, n: usize) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<Mail> = self
                .mails
                .lock()
                .expect("mails")
                .iter()
                .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
                .cloned()
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no mail #{n} to {to} arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Mail> {
        self.mails.lock().expect("mails").clone()
    }

    /// Every handshake, AUTH attempt and refusal so far, in order.
    pub fn events(&self) -> Vec<SinkEvent> {
        self.events.lock().expect("events").clone()
    }

    /// Waits (at most 10 s) for an event matching `wanted` and returns it.
    pub async fn wait_for_event(&self, what: &str, wanted: impl Fn(&SinkEvent) -> bool) -> SinkEvent {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(event) = self.events().into_iter().find(|e| wanted(e)) {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} at the sink; events: {:?}",
                self.events()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub(crate) fn angle(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command.rfind('>').unwrap_or(command.len());
    command.get(start..end).unwrap_or_default().to_owned()
}

/// What [`parse_message`] reads of a message.
pub(crate) struct Parsed {
    pub(crate) subject: String,
    pub(crate) content_type: String,
    pub(crate) text: String,
    pub(crate) html: String,
}

/// Headers of an entity: its name -> value pairs (folded lines joined,
/// names lowercase), and its body.
fn split_entity(data: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = data.split_once("\n\n").unwrap_or((data, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line.trim_start());
            }
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
}

/// A body decoded by its `Content-Transfer-Encoding`.
fn decode(encoding: &str, body: &str) -> String {
    match encoding.to_ascii_lowercase().as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64_decode(&compact)
        }
        _ => body.to_owned(),
    }
}

/// Subject, media type and decoded text and HTML of an RFC 5322 message
/// (7bit, 8bit, quoted-printable or base64; single-part, or the parts of a
/// `multipart/alternative`, as lettre writes them).
pub(crate) fn parse_message(data: &str) -> Parsed {
    let data = data.replace("\r\n", "\n");
    let (headers, body) = split_entity(&data);
    let content_type = header(&headers, "content-type");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mut parsed = Parsed {
        subject: header(&headers, "subject").to_owned(),
        content_type: media_type.clone(),
        text: String::new(),
        html: String::new(),
    };
    if !media_type.starts_with("multipart/") {
        parsed.text = decode(header(&headers, "content-transfer-encoding"), body);
        return parsed;
    }
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .unwrap_or_default();
    let delimiter = format!("--{boundary}");
    for part in body.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let (part_headers, part_body) = split_entity(part.trim_start_matches('\n'));
        let part_body = part_body.strip_suffix('\n').unwrap_or(part_body);
        let decoded = decode(header(&part_headers, "content-transfer-encoding"), part_body);
        let part_type = header(&part_headers, "content-type").to_ascii_lowercase();
        if part_type.starts_with("text/html") {
            parsed.html = decoded;
        } else if part_type.starts_with("text/plain") {
            parsed.text = decoded;
        }
    }
    parsed
}

fn decode_quoted_printable(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2)) {
                if let Ok(v) = u8::from_str_radix(&format!("{}{}", *h as char, *l as char), 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_decode(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes().filter(|b| *b != b'=') {
        let Some(value) = ALPHABET.iter().position(|a| *a == byte) else {
            continue;
        };
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One received SMS webhook call.
#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    pub body: String,
}

/// An HTTP server that accepts `POST {"to","body"}` and answers with a
/// configurable status (200 by default).
#[derive(Debug, Clone)]
pub struct SmsSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Sms>>>,
    status: Arc<AtomicU16>,
}

impl SmsSink {
    /// Starts the receiver in the background.
    pub async fn start() -> SmsSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sms sink");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (kept, answer) = (Arc::clone(&received), Arc::clone(&status));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, answer) = (Arc::clone(&kept), Arc::clone(&answer));
                tokio::spawn(async move {
                    let _ = http_session(stream, kept, answer).await;
                });
            }
        });
        SmsSink { port, received, status }
    }

    /// `http://127.0.0.1:<port>/sms`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/sms", self.port)
    }

    /// Makes the receiver answer `status` from now on.
    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Waits (at most 10 s) for the `n`-th (1-based) SMS to `to`.
    pub async fn wait_for(&self, to: &str, n: usize) -> Sms {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<Sms> = self
                .received
                .lock()
                .expect("sms")
                .iter()
                .filter(|m| m.to == to)
                .cloned()
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no SMS #{n} to {to} arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many SMS arrived.
    pub fn count(&self) -> usize {
        self.received.lock().expect("sms").len()
    }
}

async fn http_session(
    stream: TcpStream,
    received: Arc<Mutex<Vec<Sms>>>,
    status: Arc<AtomicU16>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
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
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        received.lock().expect("sms").push(Sms {
            to: json["to"].as_str().unwrap_or_default().to_owned(),
            body: json["body"].as_str().unwrap_or_default().to_owned(),
        });
        let code = status.load(Ordering::SeqCst);
        let response = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
        write.write_all(response.as_bytes()).await?;
    }
}

/// The first run of `n` ASCII digits in `text`.
pub fn find_code(text: &str, n: usize) -> Option<String> {
    text.as_bytes()
        .windows(n)
        .enumerate()
        .find(|(i, w)| {
            w.iter().all(u8::is_ascii_digit)
                && (*i == 0 || !text.as_bytes()[i - 1].is_ascii_digit())
                && text.as_bytes().get(i + n).is_none_or(|b| !b.is_ascii_digit())
        })
        .map(|(_, w)| String::from_utf8_lossy(w).into_owned())
}

/// The first `http(s)://` link in `text`, up to the first character that
/// cannot be part of one (whitespace, `<`, `>`, `"`).
pub fn find_link(text: &str) -> Option<String> {
    let start = text.find("http://").or_else(|| text.find("https://"))?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// A query parameter of `link`, percent-decoded.
pub fn query_param(link: &str, name: &str) -> Option<String> {
    let query = link.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&value[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
