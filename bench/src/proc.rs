//! What the kernel knows of a process: CPU time and resident memory.

use std::time::Duration;

/// CPU time of this process so far (user, system), from getrusage(2).
pub fn own_cpu() -> (Duration, Duration) {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

/// A `kB` line of `/proc/{pid}/status` (`VmHWM`: peak resident set, `VmRSS`: now), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// CPU time (user + system) of another process, from `/proc/{pid}/stat` (10 ms ticks).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields we want follow its closing parenthesis.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Some(Duration::from_micros(ticks * 1_000_000 / hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_figures() {
        let pid = std::process::id();
        // The resident set now, then its peak (which cannot be lower).
        let rss = status_kib(pid, "VmRSS").unwrap();
        let hwm = status_kib(pid, "VmHWM").unwrap();
        assert!(hwm >= rss && rss > 0, "hwm {hwm} rss {rss}");
        // Burn a little CPU so both readings move off zero.
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(own_cpu().0 > Duration::ZERO);
        assert!(process_cpu(pid).is_some());
        assert_eq!(status_kib(pid, "NoSuchField"), None);
    }
}
