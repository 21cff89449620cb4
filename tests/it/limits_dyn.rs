//! Dynamic server limits and their queues on real sockets: `minconn`/`fullconn` (the manual's
//! worked example), hash-bound requests waiting in their server's queue with `maxqueue`, slow
//! start shares, and the bulkhead between backends.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use crate::util::backend::Backend;
use crate::util::client::{connect, tag_of};
use crate::util::http_backend::{HttpBackend, ok, read_response};
use crate::util::proxy::Proxy;
use crate::util::wait_until;

/// `n` clients connect at once (staggered by a few ms) and each reads its whole answer.
fn concurrent_tcp(addr: SocketAddr, n: usize) {
    let clients: Vec<_> = (0..n)
        .map(|_| {
            std::thread::sleep(Duration::from_micros(300));
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut b = Vec::new();
                let _ = s.read_to_end(&mut b);
                b
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), vec![7], "every client served");
    }
}

#[test]
fn minconn_fullconn_limit_follows_backend_load() {
    // The manual's example: fullconn 1024, a server with minconn 10 maxconn 100. The limit is
    // max(10, beconn x 100 / 1024): 10 for up to 102 streams, 24 at 250.
    let be = Backend::slow(7, Duration::from_millis(150));
    let proxy = Proxy::start(&format!(
        "global\n    nbthread 2\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 20s\n    timeout server 20s\n    timeout queue 20s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    fullconn 1024\n    server s 127.0.0.1:{} minconn 10 maxconn 100\n",
        be.port()
    ));
    let addr = proxy.addr("fe");
    concurrent_tcp(addr, 40);
    assert_eq!(be.peak.load(SeqCst), 10, "40 streams: the limit is minconn");
    be.peak.store(0, SeqCst);
    concurrent_tcp(addr, 250);
    let peak = be.peak.load(SeqCst);
    assert!(
        (18..=24).contains(&peak),
        "250 streams: at most 250 x 100 / 1024 = 24 at once, got {peak}"
    );
    let st = proxy
        .handle()
        .shared()
        .backend(ravelin::model::BackendId(0))
        .unwrap();
    assert!(st.beconn.peak() >= 200, "beconn counted queued streams");
    assert!(st.queue_waits.load(SeqCst) > 200);
    proxy.assert_clean();
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let (status, head, _) = read_response(&mut BufReader::new(s));
    (status, head)
}

#[test]
fn hashed_requests_wait_for_their_server_and_maxqueue_refuses() {
    // Two servers, uri hashing. Requests for a key wait in their server's queue when it is
    // full instead of going elsewhere (the key's affinity holds); past `maxqueue`: 503 at once.
    let slow = HttpBackend::start(std::sync::Arc::new(|_: &_| {
        std::thread::sleep(Duration::from_millis(400));
        b"HTTP/1.1 200 OK\r\nx-server: a\r\ncontent-length: 0\r\n\r\n".to_vec()
    }));
    let fast = HttpBackend::start(ok("b", ""));
    let proxy = Proxy::start(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    timeout queue 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    balance uri\n    server a 127.0.0.1:{} maxconn 1 maxqueue 2\n    server b 127.0.0.1:{}\n",
        slow.port(),
        fast.port()
    ));
    let addr = proxy.addr("fe");
    // Find a path of each server.
    let on = |server: &str| {
        (0..200)
            .map(|i| format!("/k{i}"))
            .find(|p| get(addr, p).1.contains(&format!("x-server: {server}")))
            .unwrap()
    };
    let (pa, pb) = (on("a"), on("b"));
    let started = Instant::now();
    let a = proxy.server("be", "a");
    let held: Vec<_> = (0..3u32)
        .map(|i| {
            let p = pa.clone();
            let h = std::thread::spawn(move || get(addr, &p));
            // In, served or queued, before the next one is sent.
            assert!(wait_until(Duration::from_secs(2), || a.conns.cur()
                + a.queue.len()
                > i));
            h
        })
        .collect();
    assert_eq!(
        (a.conns.cur(), a.queue.len()),
        (1, 2),
        "one served, two queued"
    );
    // The fourth for the same key: the queue is full.
    let t = Instant::now();
    let (status, _) = get(addr, &pa);
    assert_eq!(status, 503);
    assert!(t.elapsed() < Duration::from_millis(200), "refused at once");
    // The other server is untouched meanwhile.
    let (status, head) = get(addr, &pb);
    assert_eq!(status, 200);
    assert!(head.contains("x-server: b"));
    for h in held {
        let (status, head) = h.join().unwrap();
        assert_eq!(status, 200);
        assert!(head.contains("x-server: a"), "affinity kept while queued");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1100),
        "served one at a time"
    );
    assert!(a.queue.peak() == 2 && a.queue_waits.load(SeqCst) >= 2);
    proxy.assert_clean();
}

#[test]
fn slowstart_ramps_the_share_of_a_returning_server() {
    let (a, b) = (Backend::tagged(1), Backend::tagged(2));
    let proxy = Proxy::start(&format!(
        "global\n    nbthread 2\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    balance roundrobin\n    server a 127.0.0.1:{}\n    server b 127.0.0.1:{} slowstart 3s\n",
        a.port(),
        b.port()
    ));
    let addr = proxy.addr("fe");
    let share_b = |n: usize| (0..n).filter(|_| tag_of(addr) == Some(2)).count() as f64 / n as f64;
    assert!((0.4..=0.6).contains(&share_b(100)), "no ramp at start");
    let shared = proxy.handle().shared().clone();
    let srv = proxy.server("be", "b");
    srv.set_up(false, shared.ms(Instant::now()));
    assert_eq!(share_b(20), 0.0, "down: no traffic");
    // Back up (as a health check would mark it): 1/16 of its weight, growing over 3 s.
    srv.set_up(true, shared.ms(Instant::now()));
    let early = share_b(100);
    assert!(early > 0.0 && early < 0.25, "early share {early}");
    std::thread::sleep(Duration::from_millis(3100));
    let late = share_b(100);
    assert!((0.4..=0.6).contains(&late), "after the slow start: {late}");
    proxy.assert_clean();
}

/// The p99 of `n` sequential requests to `path`.
fn p99(addr: SocketAddr, path: &str, n: usize) -> Duration {
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            assert_eq!(get(addr, path).0, 200);
            start.elapsed()
        })
        .collect();
    t.sort();
    t[n * 99 / 100]
}

#[test]
fn a_saturated_backend_does_not_slow_a_healthy_one() {
    // Bulkhead: backend `slow` has every server at maxconn with a long queue; requests to
    // backend `fast` on the same reactors keep their latency.
    let slow = HttpBackend::start(std::sync::Arc::new(|_: &_| {
        std::thread::sleep(Duration::from_millis(100));
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec()
    }));
    let fast = HttpBackend::start(ok("fast", "ok"));
    let proxy = Proxy::start(&format!(
        "global\n    nbthread 2\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 20s\n    timeout server 20s\n    timeout queue 20s\n\
frontend fe\n    bind 127.0.0.1:0\n    use_backend slow if {{ path_beg /slow }}\n    default_backend fast\n\
backend slow\n    server s 127.0.0.1:{} maxconn 1\n\
backend fast\n    server f 127.0.0.1:{} maxconn 50\n",
        slow.port(),
        fast.port()
    ));
    let addr = proxy.addr("fe");
    let _ = p99(addr, "/", 50); // warm up
    let quiet = p99(addr, "/", 300);
    let waiting: Vec<_> = (0..30)
        .map(|i| std::thread::spawn(move || get(addr, &format!("/slow/{i}")).0))
        .collect();
    let st = proxy
        .handle()
        .shared()
        .backend(ravelin::model::BackendId(0))
        .unwrap();
    assert!(
        crate::util::wait_until(Duration::from_secs(2), || st.queue.len() >= 20),
        "the slow backend is saturated"
    );
    let loaded = p99(addr, "/", 300);
    assert!(st.queue.len() >= 5, "still saturated while measuring");
    assert!(
        loaded <= quiet * 3 + Duration::from_millis(5),
        "healthy backend p99 {loaded:?} vs {quiet:?} before"
    );
    for w in waiting {
        assert_eq!(w.join().unwrap(), 200, "every queued request served");
    }
    proxy.assert_clean();
}
