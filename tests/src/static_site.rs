//! A tiny static HTTP server on loopback: a web page on an origin of its
//! own, for cross-origin browser tests (the page on one site, the API on
//! another). Serves fixed files for GET and HEAD, 404 for the rest, one
//! request per connection.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One file: its body and `Content-Type`.
#[derive(Debug, Clone)]
pub struct StaticFile {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// A running static server; stops on drop.
#[derive(Debug)]
pub struct StaticSite {
    /// `http://<host>:<port>`, with the host name it was started with.
    pub origin: String,
    task: JoinHandle<()>,
}

impl StaticSite {
    /// Listens on 127.0.0.1 (a free port) and serves `files` by path
    /// (`/page.html`). `host` is the name the origin uses: `localhost` puts
    /// the page on another site than an API at `127.0.0.1`.
    pub async fn start(host: &str, files: HashMap<String, StaticFile>) -> StaticSite {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the static site");
        let port = listener.local_addr().expect("static site address").port();
        let files = Arc::new(files);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&files)));
            }
        });
        StaticSite {
            origin: format!("http://{host}:{port}"),
            task,
        }
    }
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, files: Arc<HashMap<String, StaticFile>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let found = files.get(path).filter(|_| method == "GET" || method == "HEAD");
    let (status, content_type, body): (&str, &str, &[u8]) = match found {
        Some(file) => ("200 OK", file.content_type, &file.body),
        None => ("404 Not Found", "text/plain", b"not found"),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(body);
    }
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}
