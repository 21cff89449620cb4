//! Master-worker mode (`-W`, `-Ws`, global `master-worker`), HAProxy's model: the master
//! process serves nothing; it starts a worker (this same binary, run again with the same
//! arguments), forwards `SIGTERM`/`SIGINT`/`SIGUSR1` to its workers and, on `SIGUSR2` or
//! `SIGHUP`, re-reads the configuration and starts a new worker that takes the current
//! worker's listening sockets, then soft-stops the old one. A configuration that does not
//! load leaves the current worker serving ("Loading failure!").
//!
//! How the sockets travel: each worker has a control channel to the master, a unix
//! socketpair whose worker end it inherits (`RAVELIN_MASTER_FD`). The worker answers
//! `_getsocks` on it (`worker_link`) and writes `READY\n` once it serves. On a reload the
//! master fetches the listeners from the current worker on that channel
//! (`getsocks::fetch_on`), and hands them to the new worker on a second socketpair
//! (`RAVELIN_SOCKS_FD`), where the new worker fetches them as `-x` would. Only children the
//! master started are signalled or reaped (`std::process::Child`).
//!
//! With `-Ws`, the master tells systemd `READY=1`, `RELOADING=1` and `STOPPING=1` through
//! `$NOTIFY_SOCKET` (`sd_notify` protocol: one datagram on a unix socket).

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use signal_hook_mio::v1_0::Signals;

use crate::log::console::{alert, notice, warning};
use crate::reload::getsocks::{self, ExposedSock};
use crate::sys::{process, socket};

/// Environment variable naming a worker's control channel fd (set by the master only).
pub(crate) const MASTER_FD_ENV: &str = "RAVELIN_MASTER_FD";
/// Environment variable naming the fd a new worker fetches its listeners from.
pub(crate) const SOCKS_FD_ENV: &str = "RAVELIN_SOCKS_FD";

/// How long a new worker may take to load and serve before the master gives up on it.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the master needs from the command line.
#[derive(Debug, Clone)]
pub(crate) struct MasterArgs {
    /// The arguments of the first worker (the master's own, minus `-W`/`-Ws`/`-D`/`-p`/`-C`).
    pub(crate) first_args: Vec<String>,
    /// The arguments of the workers a reload starts (also minus `-x` and `-sf`/`-st`).
    pub(crate) worker_args: Vec<String>,
    /// The configuration files, re-read on reload before starting a worker.
    pub(crate) files: Vec<PathBuf>,
    /// `-Ws`: notify systemd.
    pub(crate) systemd: bool,
}

impl MasterArgs {
    /// From the master's whole command line (`args[0]` is the program): its workers get the
    /// same arguments, without what only the master does (`-W`, `-Ws`, `-D`, `-p`, `-C` — a
    /// worker inherits the directory). The first worker keeps `-x` and `-sf`/`-st` (they name
    /// a process running before the master, e.g. a standalone Ravelin being replaced); workers
    /// started by a reload drop them.
    pub(crate) fn from_command_line(
        args: &[String],
        files: Vec<PathBuf>,
        systemd: bool,
    ) -> MasterArgs {
        MasterArgs {
            first_args: worker_args(args, true),
            worker_args: worker_args(args, false),
            files,
            systemd,
        }
    }
}

/// The arguments of a worker (see [`MasterArgs::from_command_line`]).
fn worker_args(args: &[String], first: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter().skip(1).peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-W" | "-Ws" | "-D" => {}
            "-p" | "-C" => {
                it.next();
            }
            "-x" if !first => {
                it.next();
            }
            "-sf" | "-st" if !first => {
                while it.peek().is_some_and(|n| !n.starts_with('-')) {
                    it.next();
                }
            }
            _ => out.push(a.clone()),
        }
    }
    out
}

/// One worker the master started.
struct Worker {
    child: Child,
    chan: UnixStream,
    /// It said `READY`.
    ready: bool,
    /// Bytes of `READY\n` read so far.
    got: Vec<u8>,
    /// Told to stop (an older generation, or the master is stopping).
    former: bool,
}

/// `sd_notify`: one datagram to `$NOTIFY_SOCKET` (a path, or an abstract name after `@`).
fn sd_notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name) {
                let _ = sock.send_to_addr(state.as_bytes(), &addr);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = name;
    } else {
        let _ = sock.send_to(state.as_bytes(), PathBuf::from(path));
    }
}

/// Starts a worker; `socks` is the master's end of the socketpair the worker fetches its
/// listeners from (none for the first worker, which binds).
fn spawn_worker(args: &MasterArgs, socks: Option<&UnixStream>) -> io::Result<Worker> {
    // The current worker's listeners first: a failure here starts nothing.
    let relayed = match socks {
        Some(relay) => Some(getsocks::fetch_on(relay)?),
        None => None,
    };
    let (master_end, worker_end) = UnixStream::pair()?;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(if socks.is_some() {
        &args.worker_args
    } else {
        &args.first_args
    })
    .stdin(Stdio::null())
    .env(MASTER_FD_ENV, worker_end.as_raw_fd().to_string());
    socket::set_inheritable(&worker_end, true)?;
    let worker_socks = match socks {
        Some(_) => {
            let (mine, theirs) = UnixStream::pair()?;
            socket::set_inheritable(&theirs, true)?;
            cmd.env(SOCKS_FD_ENV, theirs.as_raw_fd().to_string());
            Some((mine, theirs))
        }
        None => {
            cmd.env_remove(SOCKS_FD_ENV);
            None
        }
    };
    let child = cmd.spawn();
    // The child has its copies (or failed): close ours of its ends.
    drop(worker_end);
    let child = child?;
    if let (Some(fds), Some((mine, _theirs))) = (relayed, worker_socks) {
        // Hand the listeners fetched from the current worker to the new one when it asks.
        std::thread::spawn(move || {
            let _ = mine.set_read_timeout(Some(READY_TIMEOUT));
            let mut cmd = [0u8; 10];
            if (&mine).read_exact(&mut cmd).is_ok() && cmd == *getsocks::COMMAND {
                let list: Vec<ExposedSock<'_>> = fds
                    .iter()
                    .map(|s| {
                        let mut e = ExposedSock::new(std::os::fd::AsFd::as_fd(&s.fd));
                        e.interface = s.interface.as_bytes();
                        e.namespace = s.namespace.as_bytes();
                        e
                    })
                    .collect();
                let _ = getsocks::serve(&mine, &list);
            }
        });
    }
    Ok(Worker {
        child,
        chan: master_end,
        ready: false,
        got: Vec::new(),
        former: false,
    })
}

/// Reads `READY\n` from a worker's channel without blocking; true once seen. Reads at most
/// the 6 bytes of it, so the `_getsocks` exchange that may follow starts clean.
fn poll_ready(w: &mut Worker) -> bool {
    if w.ready {
        return true;
    }
    let _ = w.chan.set_nonblocking(true);
    let mut buf = [0u8; 6];
    let want = 6usize.saturating_sub(w.got.len());
    if let Ok(n) = (&w.chan).read(buf.get_mut(..want).unwrap_or(&mut [])) {
        w.got.extend_from_slice(buf.get(..n).unwrap_or(&[]));
    }
    let _ = w.chan.set_nonblocking(false);
    if w.got.len() == 6 {
        w.ready = w.got == b"READY\n";
        w.got.clear();
    }
    w.ready
}

fn exit_text(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with code {c} (Exit)"),
        (None, Some(s)) => format!("exited with code {} (signal {s})", 128 + s),
        (None, None) => "exited".to_string(),
    }
}

/// A child's status as HAProxy's master counts it: the exit code, or 128 + the signal.
fn status_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 255,
    }
}

/// Installs the handlers of the signals a master waits for: TERM, INT and USR1 (forwarded to
/// the workers), USR2 and HUP (reload), and CHLD (a worker ended). To be called before the
/// pidfile is written (whoever reads it may signal at once) and before any worker starts.
pub(crate) fn signals() -> io::Result<Signals> {
    Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGUSR1,
        signal_hook::consts::SIGUSR2,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGCHLD,
    ])
}

const SIGNALS: Token = Token(0);
/// The channel of the worker that is loading, until it says `READY`.
const LOADING: Token = Token(1);

/// Watches the channel of a worker that is loading; `READY` on it is an event.
fn watch(poll: &Poll, w: &Worker) {
    let fd = w.chan.as_raw_fd();
    // Unwatched, the worker is still seen ready at the next wake-up (a signal or the timeout).
    let _ = poll
        .registry()
        .register(&mut SourceFd(&fd), LOADING, Interest::READABLE);
}

/// Stops watching a worker's channel (it is ready, failed, or about to be closed).
fn unwatch(poll: &Poll, w: &Worker) {
    let fd = w.chan.as_raw_fd();
    let _ = poll.registry().deregister(&mut SourceFd(&fd));
}

/// Runs the master until its workers are gone after a stop. `signals` come from [`signals`].
///
/// The loop blocks on a `mio::Poll` and wakes for a signal (a worker ending is a SIGCHLD), the
/// loading worker's `READY`, or that worker's start-up deadline; each wake-up looks at
/// everything (pending signals, the loading worker, every child's exit status).
pub(crate) fn run(args: &MasterArgs, mut signals: Signals) -> ExitCode {
    let mut poll = match Poll::new().and_then(|p| {
        p.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        Ok(p)
    }) {
        Ok(p) => p,
        Err(e) => {
            alert(&format!("cannot wait for signals: {e}"));
            return ExitCode::from(1);
        }
    };
    let mut events = Events::with_capacity(8);
    let mut workers: Vec<Worker> = Vec::new();
    match spawn_worker(args, None) {
        Ok(w) => {
            notice(&format!("New worker ({}) forked", w.child.id()));
            watch(&poll, &w);
            workers.push(w);
        }
        Err(e) => {
            alert(&format!("Cannot fork the worker: {e}"));
            return ExitCode::from(1);
        }
    }
    let mut stopping = false;
    // The newest worker is still loading, since then.
    let mut loading: Option<Instant> = Some(Instant::now());
    let mut first = true;
    let mut reload_pending = false;
    // HAProxy's `exitcode`: the status of the first serving worker that ended abnormally,
    // which the master leaves with once every worker is gone (so a service manager's
    // `Restart=on-failure` sees the failure).
    let mut exit_code: Option<i32> = None;
    loop {
        for sig in signals.pending() {
            match sig {
                signal_hook::consts::SIGUSR2 | signal_hook::consts::SIGHUP if !stopping => {
                    // One at a time: a reload asked while a worker is loading runs after it.
                    reload_pending = true;
                }
                signal_hook::consts::SIGUSR2 | signal_hook::consts::SIGHUP => {}
                // A worker ended: reaped below, as after any wake-up.
                signal_hook::consts::SIGCHLD => {}
                other => {
                    // TERM, INT: stop now; USR1: soft stop. Forwarded as is, like HAProxy.
                    if !stopping {
                        warning("Exiting Master process...");
                        if args.systemd {
                            sd_notify("STOPPING=1\n");
                        }
                    }
                    stopping = true;
                    for w in &workers {
                        let _ = process::signal(w.child.id(), other);
                    }
                }
            }
        }
        // The newest worker finished loading: the older ones finish their streams.
        if let Some(since) = loading {
            let newest = workers.len().saturating_sub(1);
            if let Some(w) = workers.get_mut(newest) {
                if poll_ready(w) {
                    loading = None;
                    unwatch(&poll, w);
                    notice("Loading success.");
                    if args.systemd {
                        sd_notify("READY=1\n");
                    }
                    if !first {
                        for old in workers.iter_mut().take(newest) {
                            if !old.former {
                                old.former = true;
                                let _ = process::signal(old.child.id(), libc::SIGUSR1);
                            }
                        }
                    }
                    first = false;
                } else if since.elapsed() > READY_TIMEOUT {
                    loading = None;
                    unwatch(&poll, w);
                    warning("Loading failure!");
                    let _ = process::signal(w.child.id(), libc::SIGTERM);
                    w.former = true;
                }
            }
        }
        if reload_pending && loading.is_none() && !stopping {
            reload_pending = false;
            reload(args, &mut workers, &mut loading);
            if let Some(w) = workers.last().filter(|_| loading.is_some()) {
                watch(&poll, w);
            }
        }
        // Reap our own children, and only them.
        let mut i = 0;
        while i < workers.len() {
            let exited = workers
                .get_mut(i)
                .and_then(|w| w.child.try_wait().ok().flatten());
            let Some(st) = exited else {
                i += 1;
                continue;
            };
            let w = workers.remove(i);
            let newest = i == workers.len();
            let is_loading = newest && loading.is_some();
            if is_loading {
                // The new worker died before serving: the old one goes on.
                loading = None;
                unwatch(&poll, &w);
                warning("Loading failure!");
                if first {
                    // No worker ever served: nothing to keep running.
                    alert(&format!(
                        "Current worker ({}) {}",
                        w.child.id(),
                        exit_text(st)
                    ));
                    return ExitCode::from(1);
                }
                continue;
            }
            let code = status_code(st);
            if w.former {
                warning(&format!(
                    "Former worker ({}) {}",
                    w.child.id(),
                    exit_text(st)
                ));
                continue;
            }
            // HAProxy 2.6 (`mworker_catch_sigchld()`): a warning for an exit, an alert for a
            // signal; a failure (not 0, not SIGINT's 130 or SIGTERM's 143) kills every worker
            // (exit-on-failure); the first status other than 0 and 143 is the master's.
            let line = format!("Current worker ({}) {}", w.child.id(), exit_text(st));
            if code < 128 {
                warning(&line);
            } else {
                alert(&line);
            }
            if !matches!(code, 0 | 130 | 143) {
                alert("exit-on-failure: killing every processes with SIGTERM");
                for o in &workers {
                    let _ = process::signal(o.child.id(), libc::SIGTERM);
                }
                stopping = true;
            }
            if exit_code.is_none() && !matches!(code, 0 | 143) {
                exit_code = Some(code);
            }
        }
        if workers.is_empty() {
            // HAProxy leaves once it has no child left, stopping or not.
            let code = exit_code.filter(|&c| c > 0).unwrap_or(0);
            warning(&format!("All workers exited. Exiting... ({code})"));
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
        // A reload that waits for the loading worker is run when that one is done.
        let timeout =
            loading.map(|since| (since + READY_TIMEOUT).saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                alert(&format!("cannot wait for signals: {e}"));
                for w in &workers {
                    let _ = process::signal(w.child.id(), libc::SIGTERM);
                }
                return ExitCode::from(1);
            }
        }
    }
}

/// `SIGUSR2`/`SIGHUP`: check the configuration, then start a worker that takes the current
/// one's listeners.
fn reload(args: &MasterArgs, workers: &mut Vec<Worker>, loading: &mut Option<Instant>) {
    notice("Reloading Ravelin");
    if args.systemd {
        sd_notify("RELOADING=1\n");
    }
    if let Err(errs) = crate::config::load(&args.files) {
        for a in &errs.alerts {
            alert(&format!("config : {a}"));
        }
        for f in &errs.files {
            alert(&format!(
                "config : Error(s) found in configuration file : {f}"
            ));
        }
        alert("config : Fatal errors found in configuration.");
        warning("Loading failure!");
        if args.systemd {
            sd_notify("READY=1\n");
        }
        return;
    }
    let Some(current) = workers.iter().rev().find(|w| w.ready && !w.former) else {
        warning("Loading failure!");
        return;
    };
    match spawn_worker(args, Some(&current.chan)) {
        Ok(w) => {
            notice(&format!("New worker ({}) forked", w.child.id()));
            workers.push(w);
            *loading = Some(Instant::now());
        }
        Err(e) => {
            alert(&format!(
                "Failed to get the sockets from the old process! ({e})"
            ));
            warning("Loading failure!");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn workers_get_the_masters_arguments_minus_its_own() {
        let args = v("ravelin -W -D -p /run/r.pid -C /etc -f a.cfg -x /s -sf 1 2 -q");
        assert_eq!(worker_args(&args, true), v("-f a.cfg -x /s -sf 1 2 -q"));
        assert_eq!(worker_args(&args, false), v("-f a.cfg -q"));
    }
}
