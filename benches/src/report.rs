//! The markdown report: tables with absolute figures and ratios, and the
//! issue's targets as PASS/MISS.

use std::fmt::Write as _;

use crate::load::Budget;
use crate::scenarios::{HttpResult, Measured, ScalePoint, ScaleResult};
use crate::servers::{Framework, Row, FRED_POOL_SIZE};
use tokengate_bench::machine::Machine;

/// Everything one run measured.
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// `redis-server --version`.
    pub redis_version: String,
    /// Concurrency and timing.
    pub budget: Budget,
    /// Rounds over the HTTP rows.
    pub rounds: usize,
    /// Per-request rows.
    pub http: Vec<HttpResult>,
    /// Issue + exchange pairs through `Gate`.
    pub exchange: Option<Measured>,
    /// Trivial `EVALSHA` loop.
    pub evalsha: Option<Measured>,
    /// Scale scenario.
    pub scale: Option<ScaleResult>,
    /// Wall time of the whole run, seconds.
    pub wall_secs: f64,
}

/// One target and its verdict.
pub struct Target {
    /// What is required.
    pub name: String,
    /// The measured figure, as text.
    pub measured: String,
    /// Whether it holds.
    pub pass: bool,
}

fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_owned();
    }
    let digits = format!("{:.0}", value.round());
    let (sign, digits) = digits.strip_prefix('-').map_or(("", digits.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn ms(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.2}")
    } else {
        "n/a".to_owned()
    }
}

fn ratio(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.2}×")
    } else {
        "n/a".to_owned()
    }
}

fn us(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1}")
    } else {
        "n/a".to_owned()
    }
}

impl Report {
    fn http_row(&self, framework: Framework, row: Row) -> Option<&Measured> {
        self.http
            .iter()
            .find(|r| r.framework == framework && r.row == row && !r.runs.is_empty())
            .map(|r| r.median())
    }

    fn http_rate(&self, framework: Framework, row: Row) -> f64 {
        self.http_row(framework, row).map_or(f64::NAN, |m| m.stats.rate())
    }

    /// `over`'s rate divided by `under`'s in each round, as "min–max".
    fn round_ratios(&self, framework: Framework, over: Row, under: Row) -> String {
        let runs = |row: Row| {
            self.http
                .iter()
                .find(|r| r.framework == framework && r.row == row)
                .map(|r| r.runs.iter().map(|m| m.stats.rate()).collect::<Vec<f64>>())
                .unwrap_or_default()
        };
        let ratios: Vec<f64> = runs(over).iter().zip(runs(under)).map(|(o, u)| o / u).collect();
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{min:.2}–{max:.2}")
    }

    fn all_measured(&self) -> Vec<&Measured> {
        let mut all: Vec<&Measured> = self.http.iter().flat_map(|r| r.runs.iter()).collect();
        all.extend([&self.exchange, &self.evalsha].into_iter().flatten());
        if let Some(sc) = &self.scale {
            for p in [&sc.small, &sc.large] {
                all.extend(p.saturated.all());
                all.extend(p.paced.all());
            }
        }
        all
    }

    /// The largest share of the machine other processes used during any kept measurement.
    pub fn max_other_load(&self) -> f64 {
        self.all_measured().iter().map(|m| m.cpu.other_load).fold(0.0, f64::max)
    }

    /// (measurements kept, how many of them were repeated because of other load).
    pub fn repeats(&self) -> (usize, usize) {
        let all = self.all_measured();
        (all.len(), all.iter().filter(|m| m.attempts > 1).count())
    }

    /// The targets, in order.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for framework in [Framework::Axum, Framework::Actix] {
            let b = self.http_rate(framework, Row::TokenGate);
            let c = self.http_rate(framework, Row::Floor);
            let d = self.http_rate(framework, Row::Peer);
            if b.is_finite() && c.is_finite() {
                out.push(Target {
                    name: format!("{}: (b) ≥ 0.95 × (c) floor", framework.name()),
                    measured: format!(
                        "(b) = {:.3} × (c) (same round: {})",
                        b / c,
                        self.round_ratios(framework, Row::TokenGate, Row::Floor)
                    ),
                    pass: b >= 0.95 * c,
                });
            }
            if b.is_finite() && d.is_finite() {
                out.push(Target {
                    name: format!("{}: (b) ≥ 1.1 × (d) peer", framework.name()),
                    measured: format!(
                        "(b) = {:.3} × (d) (same round: {})",
                        b / d,
                        self.round_ratios(framework, Row::TokenGate, Row::Peer)
                    ),
                    pass: b >= 1.1 * d,
                });
            }
            let a = self.http_rate(framework, Row::NoAuth);
            let e = self.http_rate(framework, Row::Cached);
            if a.is_finite() && e.is_finite() {
                out.push(Target {
                    name: format!("{}: with the cache, (e) ≥ 0.8 × (a) ceiling", framework.name()),
                    measured: format!("(e) = {:.3} × (a)", e / a),
                    pass: e >= 0.8 * a,
                });
            }
        }
        if let (Some(x), Some(e)) = (&self.exchange, &self.evalsha) {
            let r = x.stats.rate() / e.stats.rate();
            out.push(Target {
                name: "exchange ≥ 0.5 × trivial EVALSHA rate".to_owned(),
                measured: format!(
                    "{} pairs/s = {:.2} × {} EVALSHA/s",
                    thousands(x.stats.rate()),
                    r,
                    thousands(e.stats.rate())
                ),
                pass: r >= 0.5,
            });
        }
        if let Some(s) = &self.scale {
            let (big, small) = (thousands(s.large.entries as f64), thousands(s.small.entries as f64));
            let p99_ratio = |large: &Measured, little: &Measured| large.stats.p99() / little.stats.p99();
            // One operation's (saturated, paced) measurements at one size.
            type Pick = fn(&ScalePoint) -> (&Measured, &Measured);
            let picks: [(&str, Pick, f64); 2] = [
                (
                    "authenticate",
                    |p| (&p.saturated.authenticate, &p.paced.authenticate),
                    s.small.paced_rates.authenticate,
                ),
                (
                    "exchange",
                    |p| (&p.saturated.exchange, &p.paced.exchange),
                    s.small.paced_rates.exchange,
                ),
            ];
            for (what, pick, rate) in picks {
                let ((large, paced_large), (little, paced_little)) = (pick(&s.large), pick(&s.small));
                let r = p99_ratio(large, little);
                out.push(Target {
                    name: format!("{what}: p99 at {big} ≤ 1.2 × p99 at {small}"),
                    measured: format!(
                        "saturated: {} ms vs {} ms = {:.2} × (raw HGET floor: {:.2} ×); at a fixed {}/s: {:.2} × (raw HGET floor: {:.2} ×)",
                        ms(large.stats.p99()),
                        ms(little.stats.p99()),
                        r,
                        p99_ratio(&s.large.saturated.floor, &s.small.saturated.floor),
                        thousands(rate),
                        p99_ratio(paced_large, paced_little),
                        p99_ratio(&s.large.paced.floor, &s.small.paced.floor),
                    ),
                    pass: r <= 1.2,
                });
            }
            out.push(Target {
                name: "≤ 200 bytes per token (MEMORY USAGE)".to_owned(),
                measured: format!("{:.0} B", s.memory.per_token()),
                pass: s.memory.per_token() <= 200.0,
            });
            out.push(Target {
                name: "≤ 400 bytes per session (MEMORY USAGE of a one-session user's hash)".to_owned(),
                measured: format!("{:.0} B", s.memory.per_session()),
                pass: s.memory.per_session() <= 400.0,
            });
        }
        out
    }

    /// The report as markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let b = &self.budget;
        let _ = writeln!(s, "# tokengate benchmark results\n");
        let _ = writeln!(
            s,
            "Produced by `./scripts/bench.sh` (= `cargo run --release -p tokengate-bench`); \
             every figure below is from one run.\n"
        );
        let _ = writeln!(s, "## Machine\n");
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| date | {} |", m.date);
        let _ = writeln!(s, "| CPUs (nproc) | {} |", m.cpus);
        let _ = writeln!(s, "| CPU model | {} |", m.cpu_model);
        let _ = writeln!(s, "| memory | {} |", m.memory);
        let _ = writeln!(s, "| kernel | {} |", m.kernel);
        let _ = writeln!(s, "| redis-server | {} |", self.redis_version);
        let _ = writeln!(s, "| rustc | {} |", m.rustc);
        let _ = writeln!(
            s,
            "| settings | concurrency {}, warm-up {:.1} s then {:.1} s measured per row; whole run {:.0} s |",
            b.concurrency,
            b.warmup.as_secs_f64(),
            b.duration.as_secs_f64(),
            self.wall_secs
        );
        let _ = writeln!(s);

        let (kept, repeated) = self.repeats();
        let _ = writeln!(
            s,
            "Other processes on the machine are watched during every measurement (\"other \
             load\": their share of all CPUs, from `/proc/stat`, minus this process and its \
             Redis). A measurement during which they used more than {:.0}% is repeated, at \
             most twice, within a budget for the run, and the least disturbed attempt is \
             kept: {} of the {} measurements below were repeated.\n",
            crate::scenarios::QUIET_LOAD * 100.0,
            repeated,
            kept
        );
        let worst = self.max_other_load();
        if worst > 0.10 {
            let _ = writeln!(
                s,
                "> **Noisy run:** other processes used up to {:.0}% of the machine's CPU during \
                 a measurement (see the \"other load\" columns); figures measured under such \
                 load are lower and more variable than on a quiet machine.\n",
                worst * 100.0
            );
        }

        let targets = self.targets();
        if !targets.is_empty() {
            let _ = writeln!(s, "## Targets (issue 7)\n");
            let _ = writeln!(s, "| target | measured | verdict |\n|---|---|---|");
            for t in &targets {
                let _ = writeln!(
                    s,
                    "| {} | {} | **{}** |",
                    t.name,
                    t.measured,
                    if t.pass { "PASS" } else { "MISS" }
                );
            }
            let _ = writeln!(s);
        }

        if !self.http.is_empty() {
            let _ = writeln!(
                s,
                "## Per-request auth over HTTP\n\n\
                 {} keep-alive HTTP/1.1 connections, one outstanding request each, from an \
                 in-process load generator (raw TCP, one thread); every answer checked for 200. \
                 Server: in process, one worker per CPU. Each row was measured {} times, the \
                 rounds going over all rows in turn; the table shows the round with the median \
                 req/s (its latencies too) and the range over the rounds. Redis CPU and app CPU \
                 (this process minus the load generator's thread) are per request, warm-up \
                 included. \"other load\" is the largest share of the machine's CPU that other \
                 processes used during a round of that row.\n",
                b.concurrency, self.rounds
            );
            let _ = writeln!(
                s,
                "| framework | row | | req/s | range req/s | p50 ms | p99 ms | × (a) | × (c) | Redis CPU µs/req | app CPU µs/req | errors | other load |"
            );
            let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            for r in self.http.iter().filter(|r| !r.runs.is_empty()) {
                let a = self.http_rate(r.framework, Row::NoAuth);
                let c = self.http_rate(r.framework, Row::Floor);
                let m = r.median();
                let st = &m.stats;
                let (lo, hi) = r.range();
                let errors: u64 = r.runs.iter().map(|m| m.stats.errors).sum();
                let _ = writeln!(
                    s,
                    "| {} | ({}) | {} | {} | {}–{} | {} | {} | {} | {} | {} | {} | {} | {:.0}% |",
                    r.framework.name(),
                    r.row.letter(),
                    r.framework.describe(r.row),
                    thousands(st.rate()),
                    thousands(lo),
                    thousands(hi),
                    ms(st.p50()),
                    ms(st.p99()),
                    ratio(st.rate() / a),
                    ratio(st.rate() / c),
                    us(m.cpu.redis_us),
                    us(m.cpu.app_us),
                    errors,
                    r.max_other_load() * 100.0
                );
            }
            let _ = writeln!(
                s,
                "\n(b) sends `X-Appwrite-Session: <credential>` of a session created with \
                 `Gate::create_server_session` (one per connection); (a) sends the same header \
                 and ignores it; (c) sends the key of a plain string holding a copy of \
                 that session's record and GETs it (tokengate reads the record with one `HGET`); \
                 (d) sends the peer's session cookie (one login per connection before the \
                 row) and reads one value from the session. tower-sessions uses a fred pool of \
                 {FRED_POOL_SIZE} connections as in its store's example; actix-session uses its \
                 default `RedisSessionStore::new` (one redis-rs `ConnectionManager`) and its \
                 default private (encrypted) cookie.\n"
            );
        }

        if let (Some(x), Some(e)) = (&self.exchange, &self.evalsha) {
            let _ = writeln!(
                s,
                "## Exchange\n\n{} concurrent tasks in process on a tokio multi-thread runtime, \
                 each on the same multiplexed redis-rs connection type.\n",
                b.concurrency
            );
            let _ = writeln!(
                s,
                "| scenario | ops/s | p50 ms | p99 ms | × EVALSHA | Redis CPU µs/op | app CPU µs/op | errors | other load |"
            );
            let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            for (name, m) in [
                ("issue + exchange pair (`create_token` then `create_session`)", x),
                ("trivial `EVALSHA` (`return 1`, 1 key)", e),
            ] {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% |",
                    name,
                    thousands(m.stats.rate()),
                    ms(m.stats.p50()),
                    ms(m.stats.p99()),
                    ratio(m.stats.rate() / e.stats.rate()),
                    us(m.cpu.redis_us),
                    us(m.cpu.app_us),
                    m.stats.errors,
                    m.cpu.other_load * 100.0
                );
            }
            let _ = writeln!(s);
        }

        if let Some(sc) = &self.scale {
            let small = thousands(sc.small.entries as f64);
            let large = thousands(sc.large.entries as f64);
            let _ = writeln!(
                s,
                "## Scale\n\n{large} live sessions and {large} live tokens (one of each per \
                 user, 20-character user ids) loaded through the real API \
                 (`Gate::create_token`, `Gate::create_server_session`, {} concurrent tasks): \
                 tokens in {:.1} s ({}/s), sessions in {:.1} s ({}/s). Authenticate is \
                 `Gate::authenticate` over credentials spread over the whole set; exchange is \
                 issue + exchange for a fresh user, then an untimed logout of that user \
                 (`delete_sessions`) so that the data set keeps its size: its latency is the \
                 pair's alone, its rate includes the logout. The floor is one raw `HGET` of the \
                 same session records on a redis-rs `ConnectionManager`, with no tokengate code: \
                 what Redis itself does at each size. All in process at concurrency {}; each \
                 measurement was taken {} times, interleaved, and the one with the median p99 is \
                 shown. Saturated rows run every task back to back, so their p99 is mostly \
                 queueing; the rows \"at a fixed …/s\" run each operation at {:.0}% of the rate it \
                 sustained at {small} entries, the same rate at both sizes: latency at a moderate \
                 load.\n",
                crate::scenarios::LOAD_CONCURRENCY,
                sc.token_load_secs,
                thousands(sc.large.entries as f64 / sc.token_load_secs),
                sc.session_load_secs,
                thousands(sc.large.entries as f64 / sc.session_load_secs),
                b.concurrency,
                self.rounds,
                crate::scenarios::PACED_SHARE * 100.0
            );
            let _ = writeln!(
                s,
                "| measurement | {small} entries | {large} entries | {large} / {small} |"
            );
            let _ = writeln!(s, "|---|---:|---:|---:|");
            // One row: its name, what it reads from a scale point, and
            // whether it is in milliseconds (else a count per second).
            type Value = fn(&ScalePoint) -> f64;
            let rates = sc.small.paced_rates;
            let paced = |what: &str, rate: f64| format!("{what} at a fixed {}/s", thousands(rate));
            let rows: Vec<(String, Value, bool)> = vec![
                (
                    "authenticate ops/s".into(),
                    |p| p.saturated.authenticate.stats.rate(),
                    false,
                ),
                (
                    "authenticate p50 ms".into(),
                    |p| p.saturated.authenticate.stats.p50(),
                    true,
                ),
                (
                    "authenticate p99 ms".into(),
                    |p| p.saturated.authenticate.stats.p99(),
                    true,
                ),
                ("exchange pairs/s".into(), |p| p.saturated.exchange.stats.rate(), false),
                ("exchange p50 ms".into(), |p| p.saturated.exchange.stats.p50(), true),
                ("exchange p99 ms".into(), |p| p.saturated.exchange.stats.p99(), true),
                (
                    "raw HGET of the same records (floor) ops/s".into(),
                    |p| p.saturated.floor.stats.rate(),
                    false,
                ),
                ("raw HGET p50 ms".into(), |p| p.saturated.floor.stats.p50(), true),
                ("raw HGET p99 ms".into(), |p| p.saturated.floor.stats.p99(), true),
                (
                    "Redis CPU µs per raw HGET".into(),
                    |p| p.saturated.floor.cpu.redis_us,
                    true,
                ),
                (
                    "Redis CPU µs per authenticate".into(),
                    |p| p.saturated.authenticate.cpu.redis_us,
                    true,
                ),
                (
                    "Redis CPU µs per exchange pair".into(),
                    |p| p.saturated.exchange.cpu.redis_us,
                    true,
                ),
                (
                    paced("authenticate p50 ms", rates.authenticate),
                    |p| p.paced.authenticate.stats.p50(),
                    true,
                ),
                (
                    paced("authenticate p99 ms", rates.authenticate),
                    |p| p.paced.authenticate.stats.p99(),
                    true,
                ),
                (
                    paced("exchange p50 ms", rates.exchange),
                    |p| p.paced.exchange.stats.p50(),
                    true,
                ),
                (
                    paced("exchange p99 ms", rates.exchange),
                    |p| p.paced.exchange.stats.p99(),
                    true,
                ),
                (
                    paced("raw HGET p50 ms", rates.floor),
                    |p| p.paced.floor.stats.p50(),
                    true,
                ),
                (
                    paced("raw HGET p99 ms", rates.floor),
                    |p| p.paced.floor.stats.p99(),
                    true,
                ),
            ];
            for (name, value, is_ms) in rows {
                let (little, big) = (value(&sc.small), value(&sc.large));
                let fmt = |v: f64| if is_ms { ms(v) } else { thousands(v) };
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} |",
                    fmt(little),
                    fmt(big),
                    ratio(big / little)
                );
            }
            let _ = writeln!(
                s,
                "| errors (authenticate / exchange / HGET) | {} / {} / {} | {} / {} / {} | |",
                sc.small.saturated.authenticate.stats.errors,
                sc.small.saturated.exchange.stats.errors,
                sc.small.saturated.floor.stats.errors,
                sc.large.saturated.authenticate.stats.errors,
                sc.large.saturated.exchange.stats.errors,
                sc.large.saturated.floor.stats.errors
            );
            let _ = writeln!(
                s,
                "| other load (authenticate / exchange / HGET) | {:.0}% / {:.0}% / {:.0}% | {:.0}% / {:.0}% / {:.0}% | |",
                sc.small.saturated.authenticate.cpu.other_load * 100.0,
                sc.small.saturated.exchange.cpu.other_load * 100.0,
                sc.small.saturated.floor.cpu.other_load * 100.0,
                sc.large.saturated.authenticate.cpu.other_load * 100.0,
                sc.large.saturated.exchange.cpu.other_load * 100.0,
                sc.large.saturated.floor.cpu.other_load * 100.0
            );
            let _ = writeln!(
                s,
                "| keys in Redis (before → after the measurements) | {} → {} | {} → {} | |",
                thousands(sc.small.keys_before as f64),
                thousands(sc.small.keys_after as f64),
                thousands(sc.large.keys_before as f64),
                thousands(sc.large.keys_after as f64)
            );
            let mem = &sc.memory;
            let _ = writeln!(
                s,
                "\nRedis memory ({} sampled users{}, `MEMORY USAGE <key> SAMPLES 0`; \
                 `used_memory` growth while loading, which also counts the expiry table and \
                 hash-table growth):\n",
                mem.samples,
                if mem.missing > 0 {
                    format!(", {} missing", mem.missing)
                } else {
                    String::new()
                }
            );
            let _ = writeln!(
                s,
                "| | MEMORY USAGE, bytes | used_memory growth / count, bytes |\n|---|---:|---:|"
            );
            let _ = writeln!(
                s,
                "| per token (the user's token hash, 1 token) | {:.0} | {:.0} |",
                mem.per_token(),
                mem.token_delta
            );
            let _ = writeln!(
                s,
                "| per session (the user's sessions hash, 1 session) | {:.0} | {:.0} |",
                mem.per_session(),
                mem.session_delta
            );
            let _ = writeln!(
                s,
                "| per session of a user with 10 sessions (one hash) | {:.0} | |",
                mem.per_session_of_ten
            );
            let _ = writeln!(
                s,
                "| per session with a {}-byte browser user agent (1 session) | {:.0} | |",
                mem.ua_len, mem.session_with_ua
            );
            let _ = writeln!(s);
        }
        s
    }
}
