//! Processes the comparison runner starts (proxies, backends, load children) and what it
//! reads about them from `/proc`: CPU time (utime + stime), resident memory, children.
//! Every process is started through `taskset` when available, recorded in a `ProcSet`,
//! and stopped by its PID — never by name — when the set is dropped (also on Ctrl-C).

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sys::{self, Signal};

/// Fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ppid: u32,
    /// utime + stime in clock ticks.
    pub cpu_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) may contain spaces and parentheses,
/// so fields are counted from the last `)`.
pub fn parse_stat(s: &str) -> Option<Stat> {
    let rest = s.get(s.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': index 0 is field 3 (state), so field N is index N - 3.
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(Stat {
        ppid,
        cpu_ticks: utime + stime,
    })
}

pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `VmRSS` in KiB from `/proc/PID/status`.
pub fn rss_kb(pid: u32) -> Option<u64> {
    parse_rss(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

pub fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and all its live descendants (nginx: master plus workers).
pub fn tree(pid: u32) -> Vec<u32> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(s) = stat(p) {
                all.push((p, s.ppid));
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while let Some(&parent) = out.get(i) {
        for (p, pp) in &all {
            if *pp == parent && !out.contains(p) {
                out.push(*p);
            }
        }
        i += 1;
    }
    out
}

/// Summed CPU seconds of a process tree.
pub fn tree_cpu_s(pid: u32) -> f64 {
    let ticks: u64 = tree(pid)
        .iter()
        .filter_map(|p| stat(*p))
        .map(|s| s.cpu_ticks)
        .sum();
    ticks as f64 / sys::clock_ticks_per_sec() as f64
}

/// Summed VmRSS (KiB) of a process tree.
pub fn tree_rss_kb(pid: u32) -> u64 {
    tree(pid).iter().filter_map(|p| rss_kb(*p)).sum()
}

/// Finds an executable in `PATH` (or checks a path given with a `/`).
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// One started process.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub pid: u32,
    child: Child,
}

impl Proc {
    /// `None` while running, `Some(status text)` once exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(st.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        sys::kill(self.pid, sig)
    }

    /// SIGTERM to the process (and SIGCONT in case it is stopped), wait up to `grace`,
    /// then SIGKILL it and any descendants still alive.
    pub fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        let family = tree(self.pid);
        let _ = self.signal(Signal::Cont);
        let _ = self.signal(Signal::Term);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.exited().is_none() {
            let _ = self.signal(Signal::Kill);
            let _ = self.child.wait();
        }
        for p in family.into_iter().skip(1) {
            if stat(p).is_some() {
                let _ = sys::kill(p, Signal::Kill);
            }
        }
    }

    /// Waits for exit up to `limit`, polling `stop`; returns false on timeout or interrupt.
    pub fn wait(&mut self, limit: Duration, stop: &AtomicBool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            if self.exited().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.exited().is_some()
    }
}

/// CPU list for taskset, e.g. "0" or "0,1".
pub fn cpus(list: &[usize]) -> String {
    list.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Starts `program args` pinned to `cpus` (through taskset, if installed), with stdout
/// and stderr appended to `log`.
pub fn spawn(
    name: &str,
    cpus: &str,
    program: &Path,
    args: &[String],
    log: &Path,
) -> io::Result<Proc> {
    let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut cmd = match which("taskset") {
        Some(ts) => {
            let mut c = Command::new(ts);
            c.arg("-c").arg(cpus).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    let child = cmd.spawn()?;
    Ok(Proc {
        name: name.to_string(),
        pid: child.id(),
        child,
    })
}

/// All processes a comparison started; dropping the set stops every one by PID.
#[derive(Debug, Default)]
pub struct ProcSet {
    procs: Vec<Proc>,
}

impl ProcSet {
    pub fn add(&mut self, p: Proc) -> usize {
        self.procs.push(p);
        self.procs.len() - 1
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut Proc> {
        self.procs.get_mut(i)
    }

    /// Stops and forgets process `i`.
    pub fn stop(&mut self, i: usize) {
        if let Some(p) = self.procs.get_mut(i) {
            p.stop(Duration::from_secs(3));
        }
    }

    pub fn stop_all(&mut self) {
        for p in self.procs.iter_mut().rev() {
            p.stop(Duration::from_secs(3));
        }
        self.procs.clear();
    }
}

impl Drop for ProcSet {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Whether something accepts TCP connections on `addr`.
pub fn port_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Waits until `addr` accepts connections; fails early if `proc` exits.
pub fn wait_port(
    addr: SocketAddr,
    limit: Duration,
    mut proc: Option<&mut Proc>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err("interrupted".into());
        }
        if let Some(p) = proc.as_deref_mut()
            && let Some(st) = p.exited()
        {
            return Err(format!(
                "{} exited ({st}) before listening on {addr}",
                p.name
            ));
        }
        if port_open(addr) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "nothing listening on {addr} after {:.1} s",
                limit.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Last `n` lines of a log file, for "n/a" explanations.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .get(lines.len().saturating_sub(n)..)
        .unwrap_or(&[])
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let line =
            "1234 (a) b (c)) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 2 0 100 1000 50";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ppid: 77,
                cpu_ticks: 281
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn rss_line() {
        assert_eq!(
            parse_rss("Name:\tx\nVmRSS:\t   4321 kB\nVmSwap: 0 kB\n"),
            Some(4321)
        );
        assert_eq!(parse_rss("Name: x\n"), None);
    }

    #[test]
    fn own_process_readable() {
        let me = std::process::id();
        assert!(stat(me).is_some());
        assert!(rss_kb(me).is_some_and(|kb| kb > 0));
        assert_eq!(tree(me).first(), Some(&me));
    }

    #[test]
    fn spawn_and_stop_by_pid() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("ravelin-load-proc-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let sleep = which("sleep").ok_or_else(|| io::Error::other("no sleep"))?;
        let mut p = spawn("sleep", "0", &sleep, &["30".into()], &dir.join("log"))?;
        assert!(p.exited().is_none());
        p.stop(Duration::from_secs(2));
        assert!(p.exited().is_some());
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }
}
