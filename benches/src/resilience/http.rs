//! A minimal keep-alive HTTP/1.1 client on raw TCP for the resilience
//! binary: one outstanding request per connection, `Content-Length`,
//! chunked and close-delimited bodies, a deadline per request.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// The body as text (lossy).
    pub body: String,
}

impl Reply {
    /// The string value of a top-level JSON field, for values without
    /// escapes (ids, secrets), which is all this binary reads.
    pub fn json_str(&self, field: &str) -> Option<String> {
        let needle = format!("\"{field}\"");
        let mut from = 0;
        while let Some(at) = self.body[from..].find(&needle) {
            let rest = self.body[from + at + needle.len()..].trim_start();
            if let Some(rest) = rest.strip_prefix(':') {
                let rest = rest.trim_start();
                if let Some(rest) = rest.strip_prefix('"') {
                    return rest.find('"').map(|end| rest[..end].to_owned());
                }
            }
            from += at + needle.len();
        }
        None
    }
}

/// A keep-alive connection to one server, reopened when needed.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Deadline of one request (connect, send, answer).
    pub timeout: Duration,
}

impl Client {
    /// A client for `http://<addr>`.
    pub fn new(addr: SocketAddr) -> Self {
        Client {
            addr,
            host: addr.to_string(),
            stream: None,
            buf: Vec::with_capacity(4096),
            timeout: Duration::from_secs(10),
        }
    }

    /// `GET path` with these headers.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> io::Result<Reply> {
        self.request("GET", path, headers, None).await
    }

    /// Sends one request; `body` is sent as `application/json`. A reused
    /// connection the server closed while idle is reopened and the request
    /// sent again once.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> io::Result<Reply> {
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            text.push_str(name);
            text.push_str(": ");
            text.push_str(value);
            text.push_str("\r\n");
        }
        if let Some(body) = body {
            text.push_str("Content-Type: application/json\r\n");
            text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            text.push_str(body);
        } else {
            text.push_str("\r\n");
        }
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.exchange(text.as_bytes())).await {
            Ok(result) => result,
            Err(_) => {
                self.stream = None;
                Err(io::Error::new(io::ErrorKind::TimedOut, "no answer within the deadline"))
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> io::Result<Reply> {
        let reused = self.stream.is_some();
        match self.once(request).await {
            Ok(reply) => Ok(reply),
            // The server may close an idle keep-alive connection (actix-web
            // after 5 s): nothing of an answer came, so send it again.
            Err(Failure::Stale(_)) if reused => match self.once(request).await {
                Ok(reply) => Ok(reply),
                Err(Failure::Stale(e) | Failure::Other(e)) => Err(e),
            },
            Err(Failure::Stale(e) | Failure::Other(e)) => Err(e),
        }
    }

    async fn once(&mut self, request: &[u8]) -> Result<Reply, Failure> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await.map_err(Failure::Other)?;
            stream.set_nodelay(true).map_err(Failure::Other)?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let result = self.send_and_read(request).await;
        match &result {
            Ok((_, close)) if !*close => {}
            _ => {
                self.stream = None;
                self.buf.clear();
            }
        }
        result.map(|(reply, _)| reply)
    }

    async fn send_and_read(&mut self, request: &[u8]) -> Result<(Reply, bool), Failure> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Other(bad("not connected")));
        };
        if let Err(e) = stream.write_all(request).await {
            return Err(Failure::Stale(e));
        }
        read_response(stream, &mut self.buf).await
    }
}

enum Failure {
    /// Nothing of an answer arrived (the connection was closed or reset).
    Stale(io::Error),
    Other(io::Error),
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Reads more into `buf`; `Ok(false)` at end of stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.reserve(4096);
    Ok(stream.read_buf(buf).await? > 0)
}

async fn more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), Failure> {
    match fill(stream, buf).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::Other(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-response",
        ))),
        Err(e) => Err(Failure::Other(e)),
    }
}

/// One response; bytes after it stay in `buf`. Returns it and whether the
/// connection is closed after it.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(Reply, bool), Failure> {
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n", 0) {
            break at + 4;
        }
        let nothing_yet = buf.is_empty();
        match fill(stream, buf).await {
            Ok(true) => {}
            Ok(false) if nothing_yet => return Err(Failure::Stale(bad("closed before answering"))),
            Ok(false) => return Err(Failure::Other(bad("connection closed mid-head"))),
            Err(e) if nothing_yet => return Err(Failure::Stale(e)),
            Err(e) => return Err(Failure::Other(e)),
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| Failure::Other(bad("non-UTF-8 head")))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.get(9..12))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::Other(bad("bad status line")))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Failure::Other(bad("bad header line")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| Failure::Other(bad("bad length")))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let (body, consumed) = if no_body {
        (Vec::new(), head_end)
    } else if chunked {
        let mut body = Vec::new();
        let mut at = head_end;
        loop {
            let line_end = loop {
                if let Some(end) = find(buf, b"\r\n", at) {
                    break end;
                }
                more(stream, buf).await?;
            };
            let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| Failure::Other(bad("chunk size")))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| Failure::Other(bad("chunk size")))?;
            at = line_end + 2;
            if size == 0 {
                // Trailers (none expected) up to the empty line.
                loop {
                    if let Some(end) = find(buf, b"\r\n", at) {
                        if end == at {
                            at += 2;
                            break;
                        }
                        at = end + 2;
                        continue;
                    }
                    more(stream, buf).await?;
                }
                break;
            }
            while buf.len() < at + size + 2 {
                more(stream, buf).await?;
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
        (body, at)
    } else if let Some(length) = length {
        while buf.len() < head_end + length {
            more(stream, buf).await?;
        }
        (buf[head_end..head_end + length].to_vec(), head_end + length)
    } else {
        // Delimited by the end of the connection.
        while fill(stream, buf).await.map_err(Failure::Other)? {}
        close = true;
        (buf[head_end..].to_vec(), buf.len())
    };
    buf.drain(..consumed);
    Ok((
        Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
        close,
    ))
}
