//! Test hooks (feature `testing`): the generators behind every secret, for
//! the statistical tests of their output, and the constant-time
//! comparison. Not for production use.

pub use crate::secret::{ct_eq, random_bytes, random_digits, random_hex, random_id};

pub mod event_log_contract;
pub mod mmdb;
pub mod store_contract;
