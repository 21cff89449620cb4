//! Server `maxconn` with queues on real sockets: every request is served in arrival order,
//! never more than `maxconn` at once at the server, across reactors; `timeout queue` → 503.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::http_backend::{HttpBackend, Seen, read_response};
use crate::util::proxy::Proxy;
use crate::util::wait_until;

/// A backend that holds each request `hold`, recording the most requests it ever served at
/// once and the order in which requests started being served.
fn slow_backend(hold: Duration) -> (HttpBackend, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let order = Arc::new(Mutex::new(Vec::new()));
    let (n, p, o) = (now.clone(), peak.clone(), order.clone());
    let be = HttpBackend::start(Arc::new(move |seen: &Seen| {
        let cur = n.fetch_add(1, SeqCst) + 1;
        p.fetch_max(cur, SeqCst);
        let path = seen
            .head
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        o.lock().unwrap().push(path);
        std::thread::sleep(hold);
        n.fetch_sub(1, SeqCst);
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()
    }));
    (be, peak, order)
}

fn config(port: u16, extra: &str) -> String {
    format!(
        "global\n    nbthread 2\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n{extra}\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{port} maxconn 2\n"
    )
}

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let (status, _, _) = read_response(&mut BufReader::new(s));
    (status, start.elapsed())
}

#[test]
fn maxconn_queues_twenty_requests_in_arrival_order() {
    let (be, peak, order) = slow_backend(Duration::from_millis(60));
    let proxy = Proxy::start(&config(be.port(), "    timeout queue 10s"));
    let addr = proxy.addr("fe");
    let fe = proxy.frontend("fe");
    let clients: Vec<_> = (0..20u64)
        .map(|i| {
            let c = std::thread::spawn(move || get(addr, &format!("/{i}")));
            // Each request is in before the next one is sent, so the arrival order is known.
            assert!(
                wait_until(Duration::from_secs(5), || fe.requests.load(SeqCst) > i),
                "request {i} never arrived"
            );
            c
        })
        .collect();
    for c in clients {
        let (status, _) = c.join().unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(
        peak.load(SeqCst),
        2,
        "never more than maxconn at the server"
    );
    let order: Vec<usize> = order
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.trim_start_matches('/').parse().unwrap())
        .collect();
    assert_eq!(order.len(), 20);
    // Close to arrival order: each request starts within two places of its arrival rank
    // (the two reactors accept concurrently; the queue itself is FIFO).
    for (rank, i) in order.iter().enumerate() {
        assert!(rank.abs_diff(*i) <= 2, "service order {order:?}");
    }
    let st = proxy
        .handle()
        .shared()
        .backend(ravelin::model::BackendId(0))
        .unwrap();
    assert!(
        st.queue.peak() >= 10,
        "requests waited in the backend queue: {}",
        st.queue.peak()
    );
    assert_eq!(st.queue.len(), 0);
    proxy.assert_clean();
}

#[test]
fn timeout_queue_answers_503() {
    let (be, _, order) = slow_backend(Duration::from_millis(900));
    let proxy = Proxy::start(&config(be.port(), "    timeout queue 200ms"));
    let addr = proxy.addr("fe");
    let busy: Vec<_> = (0..2)
        .map(|i| std::thread::spawn(move || get(addr, &format!("/busy{i}"))))
        .collect();
    // Both slots of s1 are taken before the late request comes.
    assert!(wait_until(Duration::from_secs(5), || proxy
        .server("be", "s1")
        .conns
        .cur()
        == 2));
    let (status, took) = get(addr, "/late");
    assert_eq!(status, 503);
    assert!(
        took >= Duration::from_millis(180) && took < Duration::from_millis(800),
        "{took:?}"
    );
    for b in busy {
        assert_eq!(b.join().unwrap().0, 200);
    }
    assert!(!order.lock().unwrap().iter().any(|p| p == "/late"));
    let st = proxy
        .handle()
        .shared()
        .backend(ravelin::model::BackendId(0))
        .unwrap();
    assert_eq!(st.queue_timeouts.load(SeqCst), 1);
    assert_eq!(st.queue.len(), 0);
    proxy.assert_clean();
}
