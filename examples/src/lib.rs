//! Shared example wiring.
#![forbid(unsafe_code)]
