//! Process-level calls: daemonizing as HAProxy does (`daemon`, `-D`) and the open-files limit.

use std::io;
use std::os::fd::AsRawFd;

use super::syscall;

/// Whether the caller is the process that continues after [`daemonize`].
#[derive(Debug, PartialEq, Eq)]
pub enum Fork {
    /// The original process: it should exit(0) right away.
    Parent(u32),
    /// The detached child: it carries on.
    Child,
}

/// Detaches from the terminal: fork, `setsid` in the child, stdio onto /dev/null.
/// Must be called before any thread is spawned (fork only copies the calling thread).
pub fn daemonize() -> io::Result<Fork> {
    // SAFETY: called while the process is single-threaded (documented requirement), so the child
    // cannot inherit a lock held by another thread.
    let pid = syscall!(fork())?;
    if pid > 0 {
        return Ok(Fork::Parent(pid as u32));
    }
    // SAFETY: setsid takes no arguments; failing only means we already lead a session.
    let _ = syscall!(setsid());
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in 0..=2 {
        // SAFETY: `null` is an open fd owned by this function for the duration of the call and
        // 0..=2 are the standard descriptors, which dup2 atomically replaces.
        syscall!(dup2(null.as_raw_fd(), target))?;
    }
    Ok(Fork::Child)
}

/// Raises the soft open-files limit to the hard limit and returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim)).is_err() {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `want` is a valid rlimit read by setrlimit.
        if syscall!(setrlimit(libc::RLIMIT_NOFILE, &want)).is_ok() {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    lim.rlim_cur
}

/// Sends `sig` to process `pid` (the old processes of `-sf`/`-st`, our own workers).
pub fn signal(pid: u32, sig: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: kill(2) takes two integers; `pid` is positive, so it names one process and never
    // a process group or every process.
    syscall!(kill(pid, sig)).map(|_| ())
}
