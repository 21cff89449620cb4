//! A reactor thread that dies (here: panics on purpose through the test-only
//! `RAVELIN_TEST_PANIC_REACTOR`) stops the process at once, with an alert, instead of leaving
//! its share of the listening sockets to queue connections nobody accepts.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ravelin::ReactorOptions;
use ravelin::reactor::TEST_PANIC_REACTOR_ENV;

use crate::util::bin::{Running, TempDir};
use crate::util::proxy::Proxy;
use crate::util::{free_port, wait_until};

fn cfg(port: u16) -> String {
    format!(
        "global\n    nbthread 2\n    hard-stop-after 10s\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:9\n"
    )
}

/// The binary with reactor 1 (HAProxy's thread 2) set to panic as it starts.
fn spawn_panicking(args: &[&str]) -> Running {
    Running::spawn_with_env(args, &[(TEST_PANIC_REACTOR_ENV, "1")])
}

/// What the process wrote on stderr. One still running (the test is failing) is killed
/// first, so reading to the end cannot wait for it.
fn stderr_of(r: &mut Running) -> String {
    if let Ok(None) = r.0.try_wait() {
        let _ = r.0.kill();
        let _ = r.0.wait();
    }
    let mut err = String::new();
    if let Some(mut e) = r.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

const ALERT: &str = "Thread 2 exited unexpectedly: panic: RAVELIN_TEST_PANIC_REACTOR: reactor 1 panics on purpose (test only); stopping.";

#[test]
fn a_reactor_that_panics_stops_the_process_with_an_alert() {
    let port = free_port();
    let d = TempDir::new("panic");
    let f = d.file("c.cfg", &cfg(port));
    let t0 = Instant::now();
    let mut p = spawn_panicking(&["-f", f.to_str().unwrap()]);
    let status = p.wait_exit(Duration::from_secs(5));
    let took = t0.elapsed();
    let err = stderr_of(&mut p);
    assert_eq!(status, Some(1), "{err}");
    // Start-up, the panic, a supervisor poll (20 ms) and the other reactor's hard stop.
    assert!(took < Duration::from_secs(3), "{took:?}\n{err}");
    let line = err
        .lines()
        .find(|l| l.contains("exited unexpectedly"))
        .unwrap_or_else(|| panic!("no alert:\n{err}"));
    assert_eq!(
        line,
        format!("[ALERT]    ({}) : {ALERT}", p.0.id()),
        "{err}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port closed after the exit"
    );
}

/// In master-worker mode the worker's exit is a failure the master acts on as HAProxy's does
/// (exit-on-failure): it leaves too, with the worker's status, so a service manager restarts
/// the whole (`Restart=on-failure`).
#[test]
fn a_master_leaves_with_the_status_of_a_worker_whose_reactor_died() {
    let port = free_port();
    let d = TempDir::new("panic-mworker");
    let f = d.file("c.cfg", &cfg(port));
    let mut master = spawn_panicking(&["-W", "-f", f.to_str().unwrap()]);
    // Collected as it comes: a worker left behind would keep the pipe open.
    let log = master.stderr_log();
    let status = master.wait_exit(Duration::from_secs(10));
    let err = if status.is_some() {
        log.finish()
    } else {
        log.text()
    };
    assert_eq!(status, Some(1), "{err}");
    assert!(err.contains(ALERT), "{err}");
    let worker: u32 = err
        .split("New worker (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no worker pid:\n{err}"));
    assert!(
        err.contains(&format!(
            "Current worker ({worker}) exited with code 1 (Exit)"
        )),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{worker}")).exists(),
        "worker {worker} left"
    );
    // Whether the master saw the worker's READY first (then exit-on-failure and "All
    // workers exited. Exiting... (1)") or not (no worker ever served) depends on timing:
    // both end with status 1.
    if err.contains("Loading success.") {
        assert!(
            err.contains("exit-on-failure: killing every processes with SIGTERM"),
            "{err}"
        );
        assert!(err.contains("All workers exited. Exiting... (1)"), "{err}");
    }
}

/// The library side: `Handle::dead_reactor` names the reactor and its panic, and says
/// nothing once a stop was asked.
#[test]
fn the_handle_reports_a_dead_reactor_until_a_stop_is_asked() {
    let mut p = Proxy::start_with(
        &cfg(0),
        ReactorOptions {
            test_panic_reactor: Some(1),
            ..ReactorOptions::default()
        },
    );
    let mut handle = p.handle.take().unwrap();
    let mut dead = None;
    assert!(wait_until(Duration::from_secs(5), || {
        dead = handle.dead_reactor();
        dead.is_some()
    }));
    let dead = dead.unwrap();
    assert_eq!(dead.reactor, 1);
    assert!(dead.reason.contains("panics on purpose"), "{}", dead.reason);
    // Reactor 0 serves on.
    assert!(!handle.is_finished());
    assert!(handle.dead_reactor().is_none());
    handle.hard_stop();
    assert!(wait_until(Duration::from_secs(5), || handle.is_finished()));
    assert!(handle.dead_reactor().is_none(), "stopping: not a death");
    handle.join().unwrap();
}
