//! The few admin queries the benchmark reads from its Redis (a
//! [`PrivateRedis`](tokengate_tests::redis_harness::PrivateRedis) of its
//! own, the only kind it may flush).

/// One field of `INFO <section>`.
pub fn info_field(conn: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let text: String = redis::cmd("INFO").arg(section).query(conn).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// Redis CPU time so far (`used_cpu_sys + used_cpu_user`), seconds.
pub fn cpu_seconds(conn: &mut redis::Connection) -> f64 {
    let sys = info_field(conn, "cpu", "used_cpu_sys").and_then(|v| v.parse::<f64>().ok());
    let user = info_field(conn, "cpu", "used_cpu_user").and_then(|v| v.parse::<f64>().ok());
    sys.unwrap_or(f64::NAN) + user.unwrap_or(f64::NAN)
}

/// `used_memory`, bytes.
pub fn used_memory(conn: &mut redis::Connection) -> u64 {
    info_field(conn, "memory", "used_memory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Number of keys.
pub fn dbsize(conn: &mut redis::Connection) -> u64 {
    redis::cmd("DBSIZE").query(conn).unwrap_or(0)
}

/// `MEMORY USAGE <key> SAMPLES 0` (exact), bytes; `None` for a missing key.
pub fn memory_usage(conn: &mut redis::Connection, key: &str) -> Option<u64> {
    redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0)
        .query(conn)
        .ok()
        .flatten()
}
