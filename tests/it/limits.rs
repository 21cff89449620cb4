//! maxconn backpressure: never more than the limit at once, and no client dropped.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::util::backend::Backend;
use crate::util::client::connect;
use crate::util::proxy::Proxy;

fn run_clients(proxy: &Proxy, n: usize) -> usize {
    let addr = proxy.addr("fe");
    let threads: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut b = [0u8; 1];
                matches!(s.read(&mut b), Ok(1))
            })
        })
        .collect();
    threads
        .into_iter()
        .filter_map(|t| t.join().ok())
        .filter(|ok| *ok)
        .count()
}

/// Which counter carries the limit under test.
#[derive(Clone, Copy)]
enum Level {
    Global,
    Frontend,
    Bind,
}

/// The bind line carries `backlog 64`: HAProxy's default backlog is the frontend's maxconn, so
/// with `maxconn 3` the kernel would drop SYNs beyond 4 queued clients and they would wait for
/// SYN retransmits (1 s, 3 s, ...): not dropped, but slower than this test wants.
fn check(level: Level, limit_line_global: &str, limit_line_fe: &str, bind_params: &str) {
    let be = Backend::slow(1, Duration::from_millis(150));
    let cfg = format!(
        "global\n    nbthread 2\n{limit_line_global}\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 20s\n    timeout server 20s\n\
frontend fe\n    bind 127.0.0.1:0 backlog 64 {bind_params}\n{limit_line_fe}\n    default_backend be\n\
backend be\n    server s 127.0.0.1:{}\n",
        be.port()
    );
    let proxy = Proxy::start(&cfg);
    let served = run_clients(&proxy, 12);
    assert_eq!(served, 12, "every client served, none dropped");
    // The mock backend's own count lags (its thread decrements after the proxy may already have
    // closed the stream and accepted the next client), so it gets a margin of one; the proxy's
    // counters below are exact.
    assert!(
        be.peak.load(Ordering::SeqCst) <= 4,
        "peak at the server: {}",
        be.peak.load(Ordering::SeqCst)
    );
    let sh = proxy.handle().shared();
    let peak = match level {
        Level::Global => sh.global.peak(),
        Level::Frontend => sh.frontends[0].conns.peak(),
        Level::Bind => sh.frontends[0].binds[0].peak(),
    };
    assert!(
        peak <= 3,
        "the limiting counter never exceeded its limit: {peak}"
    );
    proxy.assert_clean();
}

#[test]
fn global_maxconn_backpressure() {
    check(Level::Global, "    maxconn 3", "", "");
}

#[test]
fn frontend_maxconn_backpressure() {
    check(Level::Frontend, "", "    maxconn 3", "");
}

#[test]
fn bind_maxconn_backpressure() {
    check(Level::Bind, "", "", "maxconn 3");
}

#[test]
fn server_maxconn_is_respected() {
    let a = Backend::slow(1, Duration::from_millis(100));
    let b = Backend::slow(2, Duration::from_millis(100));
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    server a 127.0.0.1:{} maxconn 2\n    server b 127.0.0.1:{}\n",
        a.port(),
        b.port()
    );
    let proxy = Proxy::start(&cfg);
    let _ = run_clients(&proxy, 8);
    let a_state = proxy.server("be", "a");
    assert!(
        a_state.conns.peak() <= 2,
        "server a peak {}",
        a_state.conns.peak()
    );
    assert!(a_state.conns.peak() >= 1 && a.accepted.load(Ordering::SeqCst) >= 1);
    // The mock's own count lags by up to one (see `check`).
    assert!(
        a.peak.load(Ordering::SeqCst) <= 3,
        "server a peak {}",
        a.peak.load(Ordering::SeqCst)
    );
    proxy.assert_clean();
}
