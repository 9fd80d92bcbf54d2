//! tower Layer for tokengate.
#![forbid(unsafe_code)]
