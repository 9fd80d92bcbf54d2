//! What the benchmark ran on, and CPU-time probes for this process, the
//! current thread, other processes and the whole machine (from `/proc`).

use std::process::Command;

/// A description of the machine for the results file.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Logical CPUs (`nproc`).
    pub cpus: usize,
    /// CPU model from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Total memory from `/proc/meminfo`.
    pub memory: String,
    /// Kernel release.
    pub kernel: String,
    /// UTC date and time of the run.
    pub date: String,
    /// `rustc --version`, if available.
    pub rustc: String,
}

impl Machine {
    /// Reads the description.
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let rustc = Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            memory,
            kernel,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            rustc,
        }
    }
}

/// CPU seconds the whole machine spent running processes so far (all CPUs,
/// from `/proc/stat`: user, nice, system and steal). Interrupt and softirq
/// time is left out: most of it is the loopback traffic of the benchmark
/// itself, which the kernel does not charge to any process.
pub fn machine_busy_seconds() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return f64::NAN;
    };
    let fields: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: f64 = [0, 1, 2, 7].iter().filter_map(|i| fields.get(*i)).sum();
    busy / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn stat_cpu_seconds(path: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // Fields after the command name (which may contain spaces) start at 3.
    let Some(rest) = text.rfind(')').map(|at| &text[at + 1..]) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime = fields.get(11).and_then(|v| v.parse::<f64>().ok());
    let stime = fields.get(12).and_then(|v| v.parse::<f64>().ok());
    match (utime, stime) {
        (Some(u), Some(s)) => (u + s) / clock_ticks(),
        _ => f64::NAN,
    }
}

/// CPU seconds used by this process so far (all threads).
pub fn process_cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// CPU seconds used so far by the process `pid` (`None`: this process).
pub fn pid_cpu_seconds(pid: Option<u32>) -> f64 {
    match pid {
        Some(pid) => stat_cpu_seconds(&format!("/proc/{pid}/stat")),
        None => process_cpu_seconds(),
    }
}

/// CPU seconds used by the calling thread so far.
pub fn thread_cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/thread-self/stat")
}

/// How much of the machine other processes used during a section.
#[derive(Debug, Clone, Copy)]
pub struct LoadProbe {
    wall: std::time::Instant,
    busy: f64,
    own: f64,
}

impl LoadProbe {
    /// Starts watching (before the section starts its children).
    pub fn start() -> Self {
        LoadProbe {
            wall: std::time::Instant::now(),
            busy: machine_busy_seconds(),
            own: process_cpu_seconds(),
        }
    }

    /// The share (0..=1) of all CPUs used since [`Self::start`] by processes
    /// other than this one and `children` (all started after it; read
    /// before they are killed: the CPU time of a child killed earlier is
    /// counted as other load).
    pub fn other_load(&self, children: &[Option<u32>]) -> f64 {
        let busy = machine_busy_seconds() - self.busy;
        let own = process_cpu_seconds() - self.own
            + children
                .iter()
                .flatten()
                .map(|pid| pid_cpu_seconds(Some(*pid)))
                .sum::<f64>();
        let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        ((busy - own) / (self.wall.elapsed().as_secs_f64() * cpus)).clamp(0.0, 1.0)
    }
}
