//! A serving process, standalone or the worker of a master: listeners, reactors, and the
//! signals that stop them.

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook_mio::v1_0::Signals;

use crate::log::console::{alert, notice, warning};
use crate::model::Model;
use crate::reactor::ReactorOptions;
use crate::reload;
use crate::supervise::{OldSignal, Options, daemonize, write_pidfile};
use crate::sys::process::{self, SingleThreaded};
use crate::worker;

pub(super) fn run(opts: &Options, model: Arc<Model>, single: Option<SingleThreaded>) -> ExitCode {
    // `-x`: the old process's listening sockets, used instead of binding (seamless reload).
    // Started by a master: its control channel, and on a reload the listeners it relays.
    let master = match reload::worker_link::master_channel() {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            alert(&format!("cannot use the master's channel: {e}"));
            return ExitCode::from(1);
        }
        None => None,
    };
    let from_master = match reload::worker_link::fetch_from_master() {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            warning(&e.to_string());
            alert("Failed to get the sockets from the old process!");
            return ExitCode::from(1);
        }
        None => None,
    };
    let inherited = match (&opts.old_socket, from_master) {
        (_, Some(s)) => s,
        (None, None) => Vec::new(),
        (Some(path), None) => match reload::getsocks::fetch(path) {
            Ok(s) => s,
            Err(e) => {
                // HAProxy: its warning, then an alert and exit 1 (outside master-worker).
                warning(&e.to_string());
                alert("Failed to get the sockets from the old process!");
                return ExitCode::from(1);
            }
        },
    };
    let bound = match worker::bind_with(model.clone(), inherited) {
        Ok(b) => b,
        Err(e) => {
            alert(&e.to_string());
            return ExitCode::from(1);
        }
    };
    if opts.daemon(&model) && master.is_none() {
        match daemonize(single) {
            Ok(Some(parent)) => return parent,
            Ok(None) => {}
            Err(failed) => return failed,
        }
    }
    // Signals are caught on this thread, reactors never see them. Installed before the
    // pidfile is written: whoever reads the pidfile may signal at once.
    let mut wait = match Wait::new() {
        Ok(w) => w,
        Err(e) => {
            alert(&format!("cannot install signal handlers: {e}"));
            return ExitCode::from(1);
        }
    };
    // A worker leaves the pidfile to its master.
    if let Some(path) = opts.pidfile(&model).filter(|_| master.is_none()) {
        if write_pidfile(&path).is_err() {
            return ExitCode::from(1);
        }
    }
    let ropts = ReactorOptions {
        debug: opts.debug,
        nosplice: opts.nosplice,
        // Test only: makes one reactor panic at start (`ReactorOptions::test_panic_reactor`).
        test_panic_reactor: std::env::var(crate::reactor::TEST_PANIC_REACTOR_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok()),
    };
    let mut handle = match worker::launch(bound, ropts) {
        Ok(h) => h,
        Err(e) => {
            alert(&e.to_string());
            return ExitCode::from(1);
        }
    };
    let exits = handle.shared().reactor_exits.clone();
    exits.notify(wait.waker.clone());
    tell_old_pids(opts);
    let master_gone = Arc::new(AtomicBool::new(false));
    if let Some(chan) = master {
        let (gone, waker) = (master_gone.clone(), wait.waker.clone());
        let exposed = handle.exposed_listeners();
        reload::worker_link::serve_master(chan, exposed, move || {
            gone.store(true, SeqCst);
            let _ = waker.wake();
        });
    }
    let mut hard_deadline: Option<Instant> = None;
    let mut hard_stopped = false;
    let mut grace_until: Option<Instant> = None;
    let mut soft_stopped = false;
    let mut orphan = false;
    // Woken by a signal, the master going away, a reactor ending, or the next deadline.
    loop {
        // A reactor died (panic, or an error of its loop) while nothing asked it to stop: its
        // share of the connections would wait in a queue nobody accepts from. Stop the process
        // (a master sees its worker fail: HAProxy's exit-on-failure). A reactor thread ending
        // wakes this loop (`ReactorExits`).
        if let Some(dead) = handle.dead_reactor() {
            alert(&format!(
                "Thread {} exited unexpectedly: {}; stopping.",
                dead.reactor + 1,
                dead.reason
            ));
            return stop_after_failure(handle);
        }
        // The master went away: finish like on SIGUSR1 rather than serve unsupervised.
        if !orphan && master_gone.load(SeqCst) {
            orphan = true;
            soft_stopped = true;
            handle.soft_stop();
            if hard_deadline.is_none() {
                hard_deadline = model.global.hard_stop_after.map(|d| Instant::now() + d);
            }
        }
        for sig in wait.signals.pending() {
            match sig {
                signal_hook::consts::SIGUSR1 => {
                    // `grace`: listeners keep accepting for that long before the soft stop.
                    if grace_until.is_none() {
                        grace_until = Some(Instant::now() + model.global.grace.unwrap_or_default());
                    }
                    // HAProxy arms `hard-stop-after` when the signal comes, grace included.
                    if hard_deadline.is_none() {
                        hard_deadline = model.global.hard_stop_after.map(|d| Instant::now() + d);
                    }
                }
                signal_hook::consts::SIGHUP => {
                    // Standalone, HAProxy only logs server states here; reloading is the
                    // master's job (-W) or a new process's (-x, -sf).
                    if !opts.quiet {
                        notice(
                            "SIGHUP received; reload with a master process (-W) or with -x and -sf; ignored.",
                        );
                    }
                }
                _ => {
                    handle.hard_stop();
                    let _ = handle.join();
                    return ExitCode::SUCCESS;
                }
            }
        }
        if !soft_stopped && grace_until.is_some_and(|g| Instant::now() >= g) {
            soft_stopped = true;
            if !opts.quiet {
                warning("Stopping frontends on SIGUSR1 (soft stop).");
            }
            handle.soft_stop();
        }
        if !hard_stopped && hard_deadline.is_some_and(|d| Instant::now() >= d) {
            hard_stopped = true;
            if !opts.quiet {
                warning("hard-stop-after reached, closing remaining connections.");
            }
            handle.hard_stop();
        }
        if exits.running() == 0 {
            return match handle.join() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    alert(&format!("a reactor stopped: {e}"));
                    ExitCode::from(1)
                }
            };
        }
        let grace = grace_until.filter(|_| !soft_stopped);
        let hard = hard_deadline.filter(|_| !hard_stopped);
        // A reactor thread's exit guard has dropped (it woke us) but the thread has not
        // finished yet, so `dead_reactor` could not join it: look again shortly.
        let ending = (exits.running() < handle.threads_left() && !handle.is_stopping())
            .then(|| Instant::now() + ENDING_RECHECK);
        let next = [grace, hard, ending].into_iter().flatten().min();
        if let Err(e) = wait.until(next) {
            alert(&format!("cannot wait for signals: {e}"));
            handle.hard_stop();
            let _ = handle.join();
            return ExitCode::from(1);
        }
    }
}

/// How long the other reactors get to close their streams after one died.
const DEAD_REACTOR_GRACE: Duration = Duration::from_secs(1);

/// Stops the process after a reactor died: the others close everything (hard stop), their
/// log lines are handed over, exit status 1. A reactor that does not end within
/// `DEAD_REACTOR_GRACE` does not hold the exit back.
fn stop_after_failure(handle: worker::Handle) -> ExitCode {
    handle.hard_stop();
    let end = Instant::now() + DEAD_REACTOR_GRACE;
    while !handle.is_finished() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    if handle.is_finished() {
        let _ = handle.join();
        return ExitCode::from(1);
    }
    // Dropping the handle would wait for the stuck reactor.
    std::process::exit(1)
}

/// How soon to look again at a reactor thread that is ending but not yet joinable.
const ENDING_RECHECK: Duration = Duration::from_millis(5);

const SIGNALS: Token = Token(0);
const WAKE: Token = Token(1);

/// What the serving process waits on: its signals (TERM, INT, USR1, HUP) and a waker for the
/// wake-ups that have no file descriptor (a reactor thread ending, the master's channel
/// closing, both seen by other threads).
struct Wait {
    poll: Poll,
    events: Events,
    signals: Signals,
    waker: Arc<Waker>,
}

impl Wait {
    fn new() -> io::Result<Wait> {
        let poll = Poll::new()?;
        let mut signals = Signals::new([
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGUSR1,
            signal_hook::consts::SIGHUP,
        ])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        Ok(Wait {
            poll,
            events: Events::with_capacity(4),
            signals,
            waker,
        })
    }

    /// Blocks until an event or `deadline` (none: no timeout). The caller then looks at
    /// everything it waits for, so which event came does not matter.
    fn until(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => Ok(()),
        }
    }
}

/// `-sf`/`-st`: the new process serves; the old ones finish (SIGUSR1) or stop (SIGTERM).
fn tell_old_pids(opts: &Options) {
    let sig = match opts.old_signal {
        OldSignal::Finish => libc::SIGUSR1,
        OldSignal::Terminate => libc::SIGTERM,
    };
    for &p in &opts.old_pids {
        // A PID that is gone already is fine: HAProxy ignores kill() errors here too.
        let _ = process::signal(p, sig);
    }
}
