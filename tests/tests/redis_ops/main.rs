//! Redis operations: faults (killed, frozen, restarted, flushed scripts),
//! cluster failover and replication, TLS, the local session cache with
//! pub/sub revocation, and one-time redemption under concurrency.

mod cluster_failover;
mod cluster_replication;
mod concurrency;
mod fault_injection;
mod redis_faults;
mod redis_tls;
mod session_cache;
