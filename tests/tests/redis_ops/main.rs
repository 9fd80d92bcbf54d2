//! Redis operations: faults (killed, frozen, restarted, flushed scripts),
//! cluster failover and replication, TLS, the local session cache with
//! pub/sub revocation, and one-time redemption under concurrency.

mod cluster_failover;
mod cluster_replication;
mod concurrency;
mod layout_marker;
mod outages_fail_closed;
mod redis_tls;
mod session_cache;
