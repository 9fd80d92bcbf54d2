//! What the benchmark binaries share beyond the test harness
//! (`tokengate-tests`, which starts their Redis servers, clusters and
//! example apps and speaks HTTP to them): the machine they ran on and its
//! CPU-time probes.
#![forbid(unsafe_code)]

pub mod machine;
