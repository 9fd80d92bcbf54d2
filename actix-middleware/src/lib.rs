//! actix-web middleware for tokengate.
#![forbid(unsafe_code)]
