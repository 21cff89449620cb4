//! Server choice on real connections: weights, backups, retries and redispatch.

use std::time::{Duration, Instant};

use crate::util::backend::Backend;
use crate::util::client::tag_of;
use crate::util::closed_port;
use crate::util::proxy::Proxy;

fn cfg(algo: &str, servers: &str, extra: &str) -> String {
    format!(
        "global\n    nbthread 2\n\
defaults\n    mode tcp\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    balance {algo}\n{extra}\n{servers}\n"
    )
}

fn counts(proxy: &Proxy, n: usize) -> [usize; 4] {
    let mut c = [0usize; 4];
    for _ in 0..n {
        let t = tag_of(proxy.addr("fe")).expect("a server answered");
        c[t as usize] += 1;
    }
    c
}

#[test]
fn weighted_roundrobin_across_three() {
    let (a, b, c) = (Backend::tagged(1), Backend::tagged(2), Backend::tagged(3));
    let servers = format!(
        "    server a 127.0.0.1:{} weight 1\n    server b 127.0.0.1:{} weight 2\n    server c 127.0.0.1:{} weight 3",
        a.port(),
        b.port(),
        c.port()
    );
    let proxy = Proxy::start(&cfg("roundrobin", &servers, ""));
    let n = 600;
    let got = counts(&proxy, n);
    // Expected 100/200/300; each reactor runs its own smooth WRR, so allow 10% of n.
    for (i, want) in [(1, 100), (2, 200), (3, 300)] {
        let diff = (got[i] as i64 - want).abs();
        assert!(
            diff <= 60,
            "server {i}: {} of {n} (want {want}): {got:?}",
            got[i]
        );
    }
    proxy.assert_clean();
}

#[test]
fn static_rr_and_leastconn_spread() {
    for algo in ["static-rr", "leastconn"] {
        let (a, b) = (Backend::tagged(1), Backend::tagged(2));
        let servers = format!(
            "    server a 127.0.0.1:{}\n    server b 127.0.0.1:{}",
            a.port(),
            b.port()
        );
        let proxy = Proxy::start(&cfg(algo, &servers, ""));
        let got = counts(&proxy, 200);
        assert!(got[1] >= 60 && got[2] >= 60, "{algo}: {got:?}");
        proxy.assert_clean();
    }
}

#[test]
fn source_sticks() {
    let (a, b) = (Backend::tagged(1), Backend::tagged(2));
    let servers = format!(
        "    server a 127.0.0.1:{}\n    server b 127.0.0.1:{}",
        a.port(),
        b.port()
    );
    let proxy = Proxy::start(&cfg("source", &servers, ""));
    let got = counts(&proxy, 30);
    assert!(
        got[1] == 30 || got[2] == 30,
        "one client address, one server: {got:?}"
    );
    proxy.assert_clean();
}

#[test]
fn backup_only_when_all_active_are_down() {
    let (a, b, bk) = (Backend::tagged(1), Backend::tagged(2), Backend::tagged(3));
    let servers = format!(
        "    server a 127.0.0.1:{}\n    server b 127.0.0.1:{}\n    server bk 127.0.0.1:{} backup",
        a.port(),
        b.port(),
        bk.port()
    );
    let proxy = Proxy::start(&cfg("roundrobin", &servers, ""));
    let got = counts(&proxy, 20);
    assert_eq!(got[3], 0, "backup unused while actives are up: {got:?}");
    proxy.server("be", "a").set_up(false, 0);
    let got = counts(&proxy, 20);
    assert_eq!(got[3], 0, "one active left: {got:?}");
    assert_eq!(got[2], 20);
    proxy.server("be", "b").set_up(false, 0);
    let got = counts(&proxy, 20);
    assert_eq!(
        got[3], 20,
        "all actives down: backup takes everything: {got:?}"
    );
    proxy.server("be", "a").set_up(true, 0);
    let got = counts(&proxy, 10);
    assert_eq!(got[1], 10, "active back: backup unused again: {got:?}");
    proxy.assert_clean();
}

#[test]
fn disabled_actives_leave_the_first_backup() {
    let (a, bk1, bk2) = (Backend::tagged(1), Backend::tagged(2), Backend::tagged(3));
    let servers = format!(
        "    server a 127.0.0.1:{} disabled\n    server bk1 127.0.0.1:{} backup\n    server bk2 127.0.0.1:{} backup",
        a.port(),
        bk1.port(),
        bk2.port()
    );
    let proxy = Proxy::start(&cfg("roundrobin", &servers, ""));
    assert_eq!(counts(&proxy, 10)[2], 10, "first backup alone");
    drop(proxy);
    let proxy = Proxy::start(&cfg("roundrobin", &servers, "    option allbackups"));
    let got = counts(&proxy, 20);
    assert!(got[2] > 0 && got[3] > 0, "allbackups: {got:?}");
    proxy.assert_clean();
}

#[test]
fn refused_server_is_redispatched_without_client_error() {
    let good = Backend::tagged(2);
    let servers = format!(
        "    server bad 127.0.0.1:{}\n    server good 127.0.0.1:{}",
        closed_port(),
        good.port()
    );
    let proxy = Proxy::start(&cfg(
        "roundrobin",
        &servers,
        "    retries 3\n    option redispatch",
    ));
    let t0 = Instant::now();
    let got = counts(&proxy, 40);
    assert_eq!(
        got[2], 40,
        "every client served by the good server: {got:?}"
    );
    // Redispatch to another server with roundrobin happens at once (no turn-around delay).
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(
        proxy
            .server("be", "bad")
            .connect_errors
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 10
    );
    assert!(
        proxy
            .server("be", "bad")
            .redispatches
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 10
    );
    proxy.assert_clean();
}

#[test]
fn without_redispatch_retries_stay_on_the_server_then_give_up() {
    let port = closed_port();
    let servers = format!("    server bad 127.0.0.1:{port}");
    // timeout connect 100ms → turn-around of 100ms between the 2 retries.
    let c = cfg("roundrobin", &servers, "    retries 2")
        .replace("timeout connect 500ms", "timeout connect 100ms");
    let proxy = Proxy::start(&c);
    let t0 = Instant::now();
    assert_eq!(
        tag_of(proxy.addr("fe")),
        None,
        "client closed after the last retry"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(3),
        "two turn-arounds: {took:?}"
    );
    let s = proxy.server("be", "bad");
    assert_eq!(
        s.connect_errors.load(std::sync::atomic::Ordering::Relaxed),
        3,
        "1 try + 2 retries"
    );
    assert_eq!(s.retries.load(std::sync::atomic::Ordering::Relaxed), 2);
    proxy.assert_clean();
}

#[test]
fn leastconn_splits_evenly_between_equal_servers_across_reactors() {
    // Issue 17: two fast servers beside a slow one, concurrent clients, two reactors.
    // HAProxy 2.6 split the fast servers' share 493/492 (and 167/166 in this setup, with a
    // 300 ms slow server); equal loads must rotate, on each reactor and between them (the
    // old per-reactor rotor gave 150/100 here).
    use crate::util::http_backend::{HttpBackend, exchange, ok};
    use std::sync::Arc;
    let slow = HttpBackend::start(Arc::new(|_| {
        std::thread::sleep(Duration::from_millis(100));
        b"HTTP/1.1 200 OK\r\nx-server: slow\r\ncontent-length: 0\r\n\r\n".to_vec()
    }));
    let (f1, f2) = (
        HttpBackend::start(ok("f1", "ok")),
        HttpBackend::start(ok("f2", "ok")),
    );
    let proxy = Proxy::start(&format!(
        "global\n    nbthread 2\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    balance leastconn\n    server slow {}\n    server f1 {}\n    server f2 {}\n",
        slow.addr, f1.addr, f2.addr
    ));
    let addr = proxy.addr("fe");
    let clients: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..150 {
                    let (st, _, _) = exchange(
                        addr,
                        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                    );
                    assert_eq!(st, 200);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let (a, b, s) = (
        f1.requests().len(),
        f2.requests().len(),
        slow.requests().len(),
    );
    assert_eq!(a + b + s, 300);
    let fast = a + b;
    assert!(
        a.abs_diff(b) <= fast / 50 + 2,
        "f1 {a}, f2 {b} (slow {s}): the two fast servers must share evenly"
    );
    proxy.assert_clean();
}
