//! Collecting a request body for the mounted routes, the same way in every
//! adapter: at most [`ApiConfig::max_body_bytes`](super::ApiConfig::max_body_bytes)
//! kept; an oversized body is read on and discarded (never buffered) up to
//! [`DRAIN_LIMIT`], so that a client still sending receives the 413.

use bytes::{Bytes, BytesMut};
use http::Response;

use super::{wire, ErrorKind};

/// How much of an oversized body adapters read and discard before giving up
/// on the connection: enough that ordinary clients see the 413.
pub const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// A body being collected chunk by chunk from the framework's stream.
///
/// ```
/// use tokengate::api::adapter::BodyCollector;
/// let mut body = BodyCollector::new(8);
/// body.push(b"{\"a\":").unwrap();
/// body.push(b"1}").unwrap();
/// assert_eq!(body.finish().unwrap(), "{\"a\":1}");
/// let mut large = BodyCollector::new(4);
/// large.push(b"12345").unwrap();
/// assert_eq!(large.finish().unwrap_err().status(), 413);
/// ```
#[derive(Debug)]
pub struct BodyCollector {
    limit: usize,
    seen: usize,
    buffer: BytesMut,
}

impl BodyCollector {
    /// A collector keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        BodyCollector {
            limit,
            seen: 0,
            buffer: BytesMut::new(),
        }
    }

    /// Adds one chunk. The 413 (boxed: it is the rare path) to send once more than [`DRAIN_LIMIT`]
    /// bytes arrived: stop reading then.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Box<Response<Bytes>>> {
        self.seen = self.seen.saturating_add(chunk.len());
        if self.seen > DRAIN_LIMIT {
            return Err(Box::new(BodyRefused::TooLarge.response()));
        }
        if self.seen <= self.limit {
            self.buffer.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// The answer when the stream failed midway: 413 when it was already
    /// over the limit, else 400 (unreadable).
    pub fn failed(&self) -> Response<Bytes> {
        if self.seen > self.limit {
            BodyRefused::TooLarge.response()
        } else {
            BodyRefused::Unreadable.response()
        }
    }

    /// The whole body, or the 413 to send when it was over the limit.
    pub fn finish(self) -> Result<Bytes, Box<Response<Bytes>>> {
        if self.seen > self.limit {
            Err(Box::new(BodyRefused::TooLarge.response()))
        } else {
            Ok(self.buffer.freeze())
        }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyRefused {
    /// Over the limit: 413.
    TooLarge,
    /// The stream failed: 400.
    Unreadable,
}

impl BodyRefused {
    /// The answer to send.
    fn response(self) -> Response<Bytes> {
        match self {
            BodyRefused::TooLarge => wire::kind_response(ErrorKind::PayloadTooLarge),
            BodyRefused::Unreadable => {
                wire::error_response(ErrorKind::ArgumentInvalid, "The request body could not be read.")
            }
        }
    }
}
