//! Receivers that fight back: a redirect elsewhere (not followed), an
//! endless or huge body (never read), no answer at all or headers dripping
//! in (the request timeout bounds each attempt). In every case the
//! dispatcher gives up within its settings and later events still flow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{append, eventually, fast, ms, new_log, start, KEY};
use crate::webhooks::Webhook;
use crate::{EventLog, MemoryEventLog};

use super::support::token_event;

/// How a hostile receiver answers each request.
#[derive(Clone, Copy)]
enum Answer {
    /// 307 to `Location: <the url>`.
    Redirect(u16),
    /// 200, then chunks forever.
    EndlessOk,
    /// 500 claiming a 10 GB body, then bytes forever.
    HugeError,
    /// Reads the request and never answers.
    Silence,
    /// A status line, then one header byte every 50 ms.
    Drip,
}

/// A receiver on loopback answering every request as told; counts requests.
#[derive(Clone)]
struct Hostile {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Hostile {
    async fn start(answer: Answer) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let _ = serve(stream, answer, &counted).await;
                });
            }
        });
        Hostile { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request (headers and a `Content-Length` body) and answers.
async fn serve(mut stream: TcpStream, answer: Answer, requests: &AtomicUsize) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, length) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..at]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (at + 4, length);
        }
    };
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let filler = vec![b'x'; 64 * 1024];
    match answer {
        Answer::Redirect(port) => {
            let location = format!("http://127.0.0.1:{port}/hook");
            let reply = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            stream.write_all(reply.as_bytes()).await?;
        }
        Answer::EndlessOk => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await?;
            let mut frame = format!("{:x}\r\n", filler.len()).into_bytes();
            frame.extend_from_slice(&filler);
            frame.extend_from_slice(b"\r\n");
            loop {
                stream.write_all(&frame).await?;
            }
        }
        Answer::HugeError => {
            stream
                .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 10000000000\r\n\r\n")
                .await?;
            loop {
                stream.write_all(&filler).await?;
            }
        }
        Answer::Silence => {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Answer::Drip => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nX-Slow: ").await?;
            loop {
                tokio::time::sleep(ms(50)).await;
                stream.write_all(b"a").await?;
            }
        }
    }
    Ok(())
}

fn hook_to(url: &str) -> Webhook {
    Webhook::builder("w1", url)
        .signature_key(KEY)
        .events(["users.*"])
        .build()
        .unwrap()
}

/// Appends two events for a receiver that `answer`s; waits until both are
/// settled (acknowledged or dead-lettered); answers how long that took and
/// the dead letters.
async fn against(answer: Answer, max_attempts: u32) -> (Hostile, MemoryEventLog, Duration, usize) {
    let hostile = Hostile::start(answer).await;
    let log = new_log();
    append(&log, vec![token_event("hank", "s-1"), token_event("hank", "s-2")]).await;
    let settings = fast().max_attempts(max_attempts).http_timeout(ms(400));
    let started = Instant::now();
    let handle = start(&log, vec![hook_to(&hostile.url)], settings);
    // The group exists (and its stats mean something) once it was read.
    eventually("a first request", async || hostile.requests() > 0).await;
    eventually("both events settled", async || {
        let stats = log.stats("webhook:w1").await.unwrap();
        stats.pending == 0 && stats.oldest_unacknowledged == Duration::ZERO
    })
    .await;
    let took = started.elapsed();
    handle.shutdown().await;
    let dead = log.dead_letters(10).await.unwrap().len();
    (hostile, log, took, dead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    // Where the redirect points: must never be called.
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = elsewhere.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&reached);
    tokio::spawn(async move {
        while let Ok((_stream, _)) = elsewhere.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (hostile, _log, _, dead) = against(Answer::Redirect(port), 2).await;
    assert_eq!(dead, 2, "a redirect is a failure");
    assert_eq!(hostile.requests(), 4, "two attempts per event");
    assert_eq!(reached.load(Ordering::SeqCst), 0, "the redirect was followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_after_a_2xx_is_not_read() {
    let (hostile, _log, took, dead) = against(Answer::EndlessOk, 3).await;
    assert_eq!(dead, 0);
    assert_eq!(hostile.requests(), 2, "each event delivered once");
    // Never read: reading an endless body would last until the 400 ms HTTP
    // timeout and fail the delivery (the counts above say none failed);
    // the bound only ends the test.
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_error_body_is_not_read() {
    let (hostile, _log, took, dead) = against(Answer::HugeError, 2).await;
    assert_eq!(dead, 2);
    assert_eq!(hostile.requests(), 4);
    // The counts above say it was not read; the bound only ends the test.
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_or_dripping_receiver_times_out_each_attempt() {
    for answer in [Answer::Silence, Answer::Drip] {
        let (hostile, _log, took, dead) = against(answer, 2).await;
        assert_eq!(dead, 2);
        assert_eq!(hostile.requests(), 4);
        // Four attempts of at most 400 ms each (the HTTP timeout), plus
        // short backoffs: at least 1.5 s; without the timeout they would
        // not end (the upper bound's margin is for a machine whose cores
        // are all busy).
        assert!(took >= ms(1_500) && took < Duration::from_secs(7), "took {took:?}");
    }
}
