//! The log lines one future emits, captured with a `tracing` subscriber of
//! its own (set for that future only, whichever thread polls it).

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::instrument::WithSubscriber;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` with every event at `level` and above written to a buffer;
/// returns its output and the captured text (no colours).
pub async fn capture_log<F: Future>(level: tracing::Level, work: F) -> (F::Output, String) {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let output = work.with_subscriber(subscriber).await;
    let text = String::from_utf8_lossy(&buffer.0.lock().expect("log buffer")).into_owned();
    (output, text)
}
