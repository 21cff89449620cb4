//! The only place in `ravelin-load` that calls into libc directly: sending signals to
//! processes we started and reading the kernel's clock tick. Callers get safe functions
//! returning `io::Result`; no raw pointers or fds leave this module.
#![allow(unsafe_code)] // the whole point of this module; each block has a SAFETY line

use std::io;

/// Signals the runner sends to the processes it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Polite stop (haproxy: soft-stop is SIGUSR1, but SIGTERM = hard stop, which is what we want).
    Term,
    /// Cannot be caught: used for failover-kill and for stragglers.
    Kill,
    /// Freezes a process (failover-hang).
    Stop,
    /// Resumes a stopped process.
    Cont,
    /// Ctrl-C equivalent, used to end `hold` children gracefully.
    Int,
    /// Reload of a master-worker Ravelin or HAProxy (reload-under-load).
    Usr2,
    /// Reload of nginx's master (reload-under-load).
    Hup,
}

impl Signal {
    fn raw(self) -> libc::c_int {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
            Signal::Int => libc::SIGINT,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Hup => libc::SIGHUP,
        }
    }
}

/// Sends `sig` to exactly the process `pid` (never a group: pid must be > 0).
pub fn kill(pid: u32, sig: Signal) -> io::Result<()> {
    let Ok(raw_pid) = libc::pid_t::try_from(pid) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pid out of range",
        ));
    };
    if raw_pid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal a process group",
        ));
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; raw_pid > 0 so it
    // targets one process, never a group or "every process".
    let rc = unsafe { libc::kill(raw_pid, sig.raw()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Clock ticks per second, the unit of utime/stime in `/proc/PID/stat`.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf(3) only reads a constant from libc; no pointers involved.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(v).ok().filter(|v| *v > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_group_signals() {
        assert!(kill(0, Signal::Term).is_err());
    }

    #[test]
    fn signal_zero_process_gone() {
        // A pid far above pid_max does not exist.
        assert!(kill(999_999_999, Signal::Cont).is_err());
    }

    #[test]
    fn ticks_positive() {
        assert!(clock_ticks_per_sec() > 0);
    }
}
