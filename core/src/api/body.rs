//! Collecting a request body for the mounted routes, the same way in every
//! adapter: at most [`HttpSettings::max_body_bytes`](crate::config::HttpSettings::max_body_bytes)
//! kept; an oversized body is read on and discarded (never buffered) up to
//! [`DRAIN_LIMIT`], so that a client still sending receives the 413.

use bytes::{Bytes, BytesMut};
use http::Response;

use super::{payload_too_large_response, wire, DRAIN_LIMIT};
use crate::error::ErrorKind;

/// A body being collected chunk by chunk from the framework's stream.
///
/// ```
/// use tokengate::api::BodyCollector;
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

    /// Adds one chunk. `Err` with the 413 answer once more than
    /// [`DRAIN_LIMIT`] bytes arrived: stop reading then.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Response<Bytes>> {
        self.seen = self.seen.saturating_add(chunk.len());
        if self.seen > DRAIN_LIMIT {
            return Err(payload_too_large_response());
        }
        if self.seen <= self.limit {
            self.buffer.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// The answer when the stream failed midway: 413 when the body was
    /// already over the limit, else 400.
    pub fn failed(&self) -> Response<Bytes> {
        if self.seen > self.limit {
            payload_too_large_response()
        } else {
            wire::error_response(ErrorKind::ArgumentInvalid, "The request body could not be read.")
        }
    }

    /// The whole body, or the 413 answer when it was over the limit.
    pub fn finish(self) -> Result<Bytes, Response<Bytes>> {
        if self.seen > self.limit {
            Err(payload_too_large_response())
        } else {
            Ok(self.buffer.freeze())
        }
    }
}
