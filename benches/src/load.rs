//! Load generation: a keep-alive HTTP/1.1 client on raw TCP (one
//! outstanding request per connection, no pipelining) and a task runner for
//! in-process operations, both with a warm-up and a fixed measuring window.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Concurrency and timing shared by every row.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Concurrent connections or tasks.
    pub concurrency: usize,
    /// Warm-up before the measuring window (not counted).
    pub warmup: Duration,
    /// The measuring window.
    pub duration: Duration,
    /// For the in-process task runner: a fixed total rate (operations per
    /// second, spread evenly over the tasks) instead of back-to-back
    /// operations. `None`: as fast as answers come (saturation).
    pub pace: Option<f64>,
}

/// What one row measured.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Operations completed inside the measuring window.
    pub ops: u64,
    /// Operations completed during the warm-up.
    pub warm_ops: u64,
    /// Failed operations (non-200 answers, errors) in the window.
    pub errors: u64,
    /// Length of the measuring window.
    pub window: Duration,
    /// Latency of every operation in the window, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl Stats {
    fn merge(parts: Vec<Stats>, window: Duration) -> Stats {
        let mut out = Stats {
            window,
            ..Stats::default()
        };
        for part in parts {
            out.ops += part.ops;
            out.warm_ops += part.warm_ops;
            out.errors += part.errors;
            out.latencies_us.extend(part.latencies_us);
        }
        out.latencies_us.sort_unstable();
        out
    }

    /// Successful operations per second in the window.
    pub fn rate(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs == 0.0 {
            0.0
        } else {
            (self.ops - self.errors) as f64 / secs
        }
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies_us.len() as f64 * q).ceil() as usize).max(1) - 1;
        f64::from(self.latencies_us[rank.min(self.latencies_us.len() - 1)]) / 1000.0
    }

    /// Median latency, ms.
    pub fn p50(&self) -> f64 {
        self.quantile_ms(0.50)
    }

    /// 99th percentile latency, ms.
    pub fn p99(&self) -> f64 {
        self.quantile_ms(0.99)
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Runs `concurrency` keep-alive connections against `addr`, connection `i`
/// sending `requests[i % requests.len()]` again and again. Counts only
/// answers with status 200 as successes.
pub async fn http_load(addr: SocketAddr, requests: Vec<Arc<[u8]>>, budget: Budget) -> io::Result<Stats> {
    assert!(!requests.is_empty(), "at least one request");
    // Connect everyone first, so the warm-up does not include handshakes.
    let mut streams = Vec::with_capacity(budget.concurrency);
    for _ in 0..budget.concurrency {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    let start = Instant::now();
    let warm_end = start + budget.warmup;
    let end = warm_end + budget.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, stream) in streams.into_iter().enumerate() {
        let request = Arc::clone(&requests[i % requests.len()]);
        tasks.spawn(connection_loop(addr, stream, request, warm_end, end));
    }
    let mut parts = Vec::with_capacity(budget.concurrency);
    while let Some(joined) = tasks.join_next().await {
        parts.push(joined.map_err(io::Error::other)??);
    }
    Ok(Stats::merge(parts, budget.duration))
}

async fn connection_loop(
    addr: SocketAddr,
    mut stream: TcpStream,
    request: Arc<[u8]>,
    warm_end: Instant,
    end: Instant,
) -> io::Result<Stats> {
    let mut stats = Stats {
        latencies_us: Vec::with_capacity(65_536),
        ..Stats::default()
    };
    let mut buf = Vec::with_capacity(4096);
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let outcome = async {
            stream.write_all(&request).await?;
            read_response(&mut stream, &mut buf, false).await
        }
        .await;
        let done = Instant::now();
        let ok = match &outcome {
            Ok(response) => response.status == 200,
            Err(_) => false,
        };
        let reconnect = match &outcome {
            Ok(response) => response.close,
            Err(_) => true,
        };
        if sent >= warm_end && done <= end {
            stats.ops += 1;
            if !ok {
                stats.errors += 1;
            }
            stats.latencies_us.push(micros(done - sent));
        } else if done <= warm_end {
            stats.warm_ops += 1;
        }
        if reconnect {
            buf.clear();
            stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
        }
    }
    Ok(stats)
}

/// An HTTP response as far as the benchmark needs it.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Whether the server closes the connection after it.
    pub close: bool,
    /// Header lines (`name`, `value`), only when asked for.
    pub headers: Vec<(String, String)>,
    /// The body, only when headers were asked for.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.reserve(4096);
    if stream.read_buf(buf).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-response",
        ));
    }
    Ok(())
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Reads one response (Content-Length or chunked body) from `stream`,
/// leaving any bytes after it in `buf`.
pub async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>, keep_headers: bool) -> io::Result<Response> {
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n", 0) {
            break at + 4;
        }
        fill(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut close = false;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("bad header line"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse::<usize>().map_err(|_| bad("bad length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
        if keep_headers {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut body = Vec::new();
    let consumed = if let Some(length) = content_length {
        while buf.len() < head_end + length {
            fill(stream, buf).await?;
        }
        if keep_headers {
            body.extend_from_slice(&buf[head_end..head_end + length]);
        }
        head_end + length
    } else if chunked {
        let mut pos = head_end;
        loop {
            let line_end = loop {
                if let Some(at) = find(buf, b"\r\n", pos) {
                    break at;
                }
                fill(stream, buf).await?;
            };
            let size_text = std::str::from_utf8(&buf[pos..line_end]).map_err(|_| bad("chunk"))?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size"))?;
            pos = line_end + 2;
            while buf.len() < pos + size + 2 {
                fill(stream, buf).await?;
            }
            if keep_headers {
                body.extend_from_slice(&buf[pos..pos + size]);
            }
            pos += size + 2;
            if size == 0 {
                break pos;
            }
        }
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        head_end
    } else {
        return Err(bad("response without length"));
    };
    buf.drain(..consumed);
    Ok(Response {
        status,
        close,
        headers,
        body,
    })
}

/// A `GET` request with extra header lines (each `Name: value`).
pub fn get_request(addr: SocketAddr, path: &str, extra_headers: &[String]) -> Arc<[u8]> {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: tokengate-bench\r\nAccept: */*\r\n");
    for line in extra_headers {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    Arc::from(text.into_bytes())
}

/// One request on a fresh connection, with headers and body kept.
pub async fn request_once(addr: SocketAddr, request: &[u8]) -> io::Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut buf = Vec::new();
    read_response(&mut stream, &mut buf, true).await
}

/// How one in-process operation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeded; its latency is the whole call.
    Ok,
    /// Failed.
    Failed,
    /// Succeeded; its latency is this part of the call (the rest was
    /// untimed housekeeping, which still counts against throughput).
    Timed(Duration),
}

impl From<bool> for Outcome {
    fn from(ok: bool) -> Self {
        if ok {
            Outcome::Ok
        } else {
            Outcome::Failed
        }
    }
}

/// Runs `budget.concurrency` tasks on the current runtime, each calling
/// `op(task, sequence)` back to back, or, with `budget.pace`, as a
/// [`Pacer`] releases operations (latency is then measured from the actual
/// start of each operation: the paced rate is chosen well below saturation).
pub async fn task_load<F, Fut>(budget: Budget, op: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let start = Instant::now();
    let warm_end = start + budget.warmup;
    let end = warm_end + budget.duration;
    let pacer = budget.pace.map(|rate| Pacer::start(rate, start, end));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..budget.concurrency {
        let op = op.clone();
        let permits = pacer.as_ref().map(|p| Arc::clone(&p.permits));
        tasks.spawn(async move {
            let mut stats = Stats {
                latencies_us: Vec::with_capacity(65_536),
                ..Stats::default()
            };
            let mut seq = 0u64;
            loop {
                if let Some(permits) = &permits {
                    match permits.acquire().await {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    }
                }
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let outcome = op(task, seq).await;
                seq += 1;
                let done = Instant::now();
                if sent >= warm_end && done <= end {
                    stats.ops += 1;
                    let latency = match outcome {
                        Outcome::Ok => done - sent,
                        Outcome::Failed => {
                            stats.errors += 1;
                            done - sent
                        }
                        Outcome::Timed(part) => part,
                    };
                    stats.latencies_us.push(micros(latency));
                } else if done <= warm_end {
                    stats.warm_ops += 1;
                }
            }
            stats
        });
    }
    let mut parts = Vec::with_capacity(budget.concurrency);
    while let Some(joined) = tasks.join_next().await {
        parts.push(joined.expect("a load task panicked"));
    }
    if let Some(pacer) = pacer {
        pacer.stop();
    }
    Stats::merge(parts, budget.duration)
}

/// Releases operations at a fixed rate from a thread of its own, every
/// 100 µs: tokio's timer has a 1 ms resolution, which would release them in
/// bursts of a millisecond's worth.
struct Pacer {
    permits: Arc<tokio::sync::Semaphore>,
    thread: std::thread::JoinHandle<()>,
}

impl Pacer {
    fn start(rate: f64, start: Instant, end: Instant) -> Pacer {
        let permits = Arc::new(tokio::sync::Semaphore::new(0));
        let released = Arc::clone(&permits);
        let thread = std::thread::spawn(move || {
            let mut count = 0u64;
            loop {
                let now = Instant::now();
                // Past the window, every waiting task is released to see the end.
                if now >= end {
                    released.close();
                    return;
                }
                let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
                if due > count {
                    released.add_permits((due - count) as usize);
                    count = due;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        Pacer { permits, thread }
    }

    fn stop(self) {
        self.permits.close();
        let _ = self.thread.join();
    }
}

/// Runs `op(i)` for every `i` in `0..count` with `concurrency` tasks on the
/// current runtime; returns the successes' outputs with their index and the
/// number of failures.
pub async fn run_all<F, Fut, T>(count: u64, concurrency: usize, op: F) -> (Vec<(u64, T)>, u64)
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<T>, String>> + Send + 'static,
    T: Send + 'static,
{
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let op = op.clone();
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut kept = Vec::new();
            let mut failures = 0u64;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                match op(i).await {
                    Ok(Some(value)) => kept.push((i, value)),
                    Ok(None) => {}
                    Err(_) => failures += 1,
                }
            }
            (kept, failures)
        });
    }
    let mut kept = Vec::new();
    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        let (part, failed) = joined.expect("a loading task panicked");
        kept.extend(part);
        failures += failed;
    }
    (kept, failures)
}
