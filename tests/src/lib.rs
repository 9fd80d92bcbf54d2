//! Test harness for tokengate.
#![forbid(unsafe_code)]
