//! A webhook receiver as an Appwrite user writes one: it verifies every
//! `X-Appwrite-Webhook-Signature` with Appwrite's algorithm (base64 of
//! HMAC-SHA1 keyed with the signature key over the URL followed by the
//! body), and keeps the headers and JSON body of each call it accepts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted webhook call.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: serde_json::Value,
}

impl WebhookCall {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    /// `X-Appwrite-Webhook-Events`, split.
    pub fn events(&self) -> Vec<&str> {
        self.header("x-appwrite-webhook-events").split(',').collect()
    }

    /// The first (most specific) event name.
    pub fn event(&self) -> &str {
        self.events().first().copied().unwrap_or_default()
    }

    /// `X-Tokengate-Event-Id`.
    pub fn event_id(&self) -> &str {
        self.header("x-tokengate-event-id")
    }
}

#[derive(Debug, Default)]
struct Shared {
    calls: Mutex<Vec<WebhookCall>>,
    requests: AtomicUsize,
    bad_signatures: AtomicUsize,
}

/// The receiver, on a free loopback port, answering a configurable status
/// (200 by default); only calls answered 2xx are kept.
#[derive(Debug, Clone)]
pub struct WebhookSink {
    pub port: u16,
    key: String,
    shared: Arc<Shared>,
    status: Arc<AtomicU16>,
}

/// `base64(HMAC-SHA1(key, url + body))`, as Appwrite's worker computes it
/// (`base64_encode(hash_hmac('sha1', $rawUrl . $payload, $signatureKey, true))`),
/// written out here (RFC 2104 over FIPS 180-4 SHA-1) so that the check owes
/// nothing to the crates the dispatcher signs with.
pub fn appwrite_signature(key: &str, url: &str, body: &[u8]) -> String {
    let mut key_block = [0u8; 64];
    if key.len() > 64 {
        key_block[..20].copy_from_slice(&sha1(key.as_bytes()));
    } else {
        key_block[..key.len()].copy_from_slice(key.as_bytes());
    }
    let pad = |byte: u8| key_block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let mut inner = pad(0x36);
    inner.extend_from_slice(url.as_bytes());
    inner.extend_from_slice(body);
    let mut outer = pad(0x5c);
    outer.extend_from_slice(&sha1(&inner));
    base64::engine::general_purpose::STANDARD.encode(sha1(&outer))
}

/// SHA-1 (FIPS 180-4), for the signature check only.
fn sha1(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut data = message.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());
    for chunk in data.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

impl WebhookSink {
    /// Starts the receiver with the signature key it checks against.
    pub async fn start(key: &str) -> WebhookSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind webhook sink");
        let port = listener.local_addr().expect("addr").port();
        let sink = WebhookSink {
            port,
            key: key.to_owned(),
            shared: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
        };
        let served = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let served = served.clone();
                tokio::spawn(async move {
                    let _ = served.session(stream).await;
                });
            }
        });
        sink
    }

    /// `http://127.0.0.1:<port>/hook`: the URL to configure, and the one
    /// signed.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Answers `status` from now on; `0` hangs up on every connection
    /// without an answer (the receiver unreachable).
    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The accepted calls, in arrival order.
    pub fn calls(&self) -> Vec<WebhookCall> {
        self.shared.calls.lock().expect("calls").clone()
    }

    /// Every request, whatever it was answered.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests whose signature did not verify (answered 401, not kept).
    pub fn bad_signatures(&self) -> usize {
        self.shared.bad_signatures.load(Ordering::SeqCst)
    }

    /// Waits (at most `within`) until `n` accepted calls satisfy `wanted`;
    /// answers them.
    pub async fn wait_for(
        &self,
        n: usize,
        within: Duration,
        wanted: impl Fn(&WebhookCall) -> bool,
    ) -> Vec<WebhookCall> {
        let deadline = Instant::now() + within;
        loop {
            let found: Vec<WebhookCall> = self.calls().into_iter().filter(|c| wanted(c)).collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} webhook calls arrived; all: {:?}",
                found.len(),
                self.calls().iter().map(WebhookCall::event).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (10 s) for the call whose first event name is `name`.
    pub async fn wait_for_event(&self, name: &str) -> WebhookCall {
        self.wait_for(1, Duration::from_secs(10), |c| c.event() == name)
            .await
            .remove(0)
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        if self.status.load(Ordering::SeqCst) == 0 {
            self.shared.requests.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let post = line.starts_with("POST /hook ");
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
            self.shared.requests.fetch_add(1, Ordering::SeqCst);
            let expected = appwrite_signature(&self.key, &self.url(), &body);
            let signed = headers.get("x-appwrite-webhook-signature").map(String::as_str);
            let status = if !post || signed != Some(expected.as_str()) {
                self.shared.bad_signatures.fetch_add(1, Ordering::SeqCst);
                401
            } else {
                let status = self.status.load(Ordering::SeqCst);
                if (200..300).contains(&status) {
                    let body = serde_json::from_slice(&body).unwrap_or_default();
                    self.shared
                        .calls
                        .lock()
                        .expect("calls")
                        .push(WebhookCall { headers, body });
                }
                status
            };
            let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
            write.write_all(response.as_bytes()).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_an_independent_hmac_sha1() {
        // Computed with Python: base64(hmac.new(key, url + body, sha1).digest()).
        assert_eq!(
            super::appwrite_signature(
                "a-signature-key-of-some-length",
                "https://hooks.example.com/tokengate",
                br#"{"$id":"x"}"#
            ),
            "N8VEPFlDwoUN4U2TgKb14B80jME="
        );
        let long_key = "k".repeat(100);
        assert_eq!(
            super::appwrite_signature(&long_key, "u", b"b"),
            "PFqdjt+68gbEGoK38Am7vJ4Gd+s="
        );
    }
}
