//! Process-level calls: daemonizing as HAProxy does (`daemon`, `-D`) and the open-files limit.

use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;

use super::syscall;

/// Whether the caller is the process that continues after [`daemonize`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fork {
    /// The original process: it should exit(0) right away.
    Parent(u32),
    /// The detached child: it carries on.
    Child,
}

/// Proof that the process had a single thread when this was made, which is what [`daemonize`]
/// needs: `fork` copies only the calling thread, so a lock another thread held (the allocator's,
/// stdout's) would stay locked forever in the child.
///
/// Made once, first thing in `main`, by [`SingleThreaded::at_start`]; not `Clone`, and neither
/// `Send` nor `Sync`, so it stays on the main thread and is used up by the one `daemonize`. Code
/// that spawns threads must run after the daemonize that consumes it; `daemonize` checks that
/// none was spawned in between anyway.
#[derive(Debug)]
pub struct SingleThreaded {
    /// `*const ()` is neither `Send` nor `Sync`.
    _main_thread_only: PhantomData<*const ()>,
}

impl SingleThreaded {
    /// The token, if the process has one thread now: `None` when `/proc/self/status` counts
    /// more. Where the count cannot be read (no `/proc`), the caller's word is taken: it is
    /// called first thing in `main`, before anything can spawn a thread.
    pub fn at_start() -> Option<SingleThreaded> {
        match thread_count() {
            Some(n) if n != 1 => None,
            _ => Some(SingleThreaded {
                _main_thread_only: PhantomData,
            }),
        }
    }
}

/// The number of threads of this process (`Threads:` in `/proc/self/status`), if known.
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Detaches from the terminal: fork, `setsid` in the child, stdio onto /dev/null. Consumes the
/// proof that no other thread exists ([`SingleThreaded`]); refuses to fork if one was spawned
/// since the proof was made.
pub(crate) fn daemonize(_single: SingleThreaded) -> io::Result<Fork> {
    if let Some(n) = thread_count().filter(|&n| n != 1) {
        return Err(io::Error::other(format!(
            "{n} threads are running, fork would copy only one"
        )));
    }
    // SAFETY: the process is single-threaded: `SingleThreaded` proves it was when `main`
    // started, and the count was checked just above; so the child cannot inherit a lock held
    // by another thread.
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

/// The hard open-files limit (1024 when it cannot be read): HAProxy 2.6 raises the soft limit
/// to it at start and derives `maxconn` from it.
pub(crate) fn nofile_hard_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim)).is_err() {
        return 1024;
    }
    lim.rlim_max
}

/// Raises the soft open-files limit to `want` as HAProxy does with `ulimit-n` or the computed
/// `maxsock`, raising the hard limit when allowed; when the hard limit cannot be raised, the
/// soft one goes as high as the hard one. Returns the new soft limit.
pub(crate) fn set_nofile_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim)).is_err() {
        return 1024;
    }
    if lim.rlim_cur >= want {
        // Never lowered: the process may embed other users of descriptors (tests run several
        // proxies in one process), and a higher limit only leaves the reserve larger.
        return lim.rlim_cur;
    }
    let exact = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max.max(want),
    };
    // SAFETY: `exact` is a valid rlimit read by setrlimit.
    if syscall!(setrlimit(libc::RLIMIT_NOFILE, &exact)).is_ok() {
        return want;
    }
    let capped = libc::rlimit {
        rlim_cur: want.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `capped` is a valid rlimit read by setrlimit.
    if syscall!(setrlimit(libc::RLIMIT_NOFILE, &capped)).is_ok() {
        return capped.rlim_cur;
    }
    lim.rlim_cur
}

/// Sends `sig` to process `pid` (the old processes of `-sf`/`-st`, our own workers).
pub(crate) fn signal(pid: u32, sig: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: kill(2) takes two integers; `pid` is positive, so it names one process and never
    // a process group or every process.
    syscall!(kill(pid, sig)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_while_another_thread_runs() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        if cfg!(target_os = "linux") {
            assert!(thread_count().is_some_and(|n| n > 1));
            assert!(SingleThreaded::at_start().is_none());
        }
        drop(tx);
        other.join().unwrap();
    }
}
