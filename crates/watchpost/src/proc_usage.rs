//! What a process uses, read from `/proc`: its CPU time and its memory. The benchmarks
//! that measure another process (the agent, the proxy) or this one read them here.

/// CPU time a process has used, all its threads, in seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuTime {
    pub user: f64,
    pub system: f64,
}

impl CpuTime {
    pub fn total(&self) -> f64 {
        self.user + self.system
    }
}

/// The CPU time of `pid` so far (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks).
pub(crate) fn cpu_time(pid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name in field 2 may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(CpuTime {
        user: user as f64 / ticks_per_second,
        system: system as f64 / ticks_per_second,
    })
}

/// A `KEY:` value in KiB from `/proc/PID/status` (`VmRSS`, `VmHWM`).
pub(crate) fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        // Burn a little CPU so that at least one tick is counted.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let cpu = cpu_time(std::process::id()).expect("/proc/self/stat is readable");
        assert!(cpu.total() > 0.0, "{cpu:?}");
        assert!(status_kib(std::process::id(), "VmRSS").is_some_and(|kib| kib > 0));
        assert_eq!(status_kib(std::process::id(), "NoSuchKey"), None);
        assert!(cpu_time(u32::MAX).is_none());
    }
}
