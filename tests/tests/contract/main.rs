//! The store and gate contract: every `Store` (memory, Redis standalone,
//! cluster and TLS) and `Gate` over them, the passwordless flows through
//! `Gate`, and the cluster slot discipline of every script.

mod cluster_slots;
mod event_log_contract;
mod flows_gate;
mod gate_contract;
mod store_contract;
mod store_events;
