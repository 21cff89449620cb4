//! `retry-on` on real sockets: requests that reached a misbehaving server (closing without an
//! answer, answering junk, hanging, answering 503) are sent again to a healthy one with
//! `option redispatch`; as HAProxy 2.6, any request held whole when first sent is replayed,
//! whatever its method, and the others (a body larger than a buffer, or still arriving) are
//! refused and counted; retries never exceed `retries`; a server going down sends its queued
//! streams back to load balancing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::http_backend::{HttpBackend, exchange, ok};
use crate::util::proxy::Proxy;
use crate::util::wait_until;

/// What a misbehaving server does once it has read a whole request.
#[derive(Clone, Copy)]
enum Fault {
    /// Closes the connection without a byte.
    Close,
    /// Writes bytes that are not an HTTP response, then closes.
    Junk,
    /// Never answers (keeps the connection open for `Duration`).
    Hang(Duration),
    /// Answers `503 Service Unavailable`.
    Unavailable,
}

/// A server that reads requests (head + Content-Length body), records them, and misbehaves.
struct BadServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl BadServer {
    fn start(fault: Fault) -> BadServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if st.load(SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve_badly(conn, fault, s));
            }
        });
        BadServer { addr, seen, stop }
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for BadServer {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve_badly(conn: TcpStream, fault: Fault, seen: Arc<Mutex<Vec<String>>>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut head = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().push(head);
        match fault {
            Fault::Close => return,
            Fault::Junk => {
                let _ = w.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
                return;
            }
            Fault::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
            Fault::Unavailable => {
                let reply = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy";
                if w.write_all(reply).is_err() {
                    return;
                }
            }
        }
    }
}

/// Backend `be` over the bad server then the good one (round robin starts on the first; one
/// reactor, so the round-robin sequence is one).
fn cfg(bad: SocketAddr, good: SocketAddr, settings: &str) -> String {
    format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    balance roundrobin\n{settings}    server bad {bad}\n    server good {good}\n"
    )
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
    )
}

/// Sends `n` GETs on separate connections; returns the statuses and `x-server` values.
fn gets(addr: SocketAddr, n: usize) -> Vec<(u16, String)> {
    (0..n)
        .map(|i| {
            let (st, head, _) = get(addr, &format!("/r{i}"));
            let srv = head
                .lines()
                .find_map(|l| l.strip_prefix("x-server: "))
                .unwrap_or("")
                .to_string();
            (st, srv)
        })
        .collect()
}

#[test]
fn empty_junk_and_status_responses_are_retried_on_another_server() {
    for (fault, keyword) in [
        (Fault::Close, "empty-response"),
        (Fault::Junk, "junk-response"),
        (Fault::Unavailable, "503"),
    ] {
        let bad = BadServer::start(fault);
        let good = HttpBackend::start(ok("good", "fine"));
        let p = Proxy::start(&cfg(
            bad.addr,
            good.addr,
            &format!("    retries 2\n    option redispatch\n    retry-on conn-failure {keyword}\n"),
        ));
        let got = gets(p.addr("fe"), 6);
        assert!(
            got.iter().all(|(st, srv)| *st == 200 && srv == "good"),
            "{keyword}: {got:?}"
        );
        assert!(bad.requests() >= 2, "{keyword}: the bad server was tried");
        assert_eq!(
            good.requests().len(),
            6,
            "{keyword}: each request answered once"
        );
        assert!(p.server("be", "bad").redispatches.load(SeqCst) >= 2);
        p.assert_clean();
    }
}

#[test]
fn without_retry_on_the_client_gets_the_failure() {
    for (fault, want) in [
        (Fault::Close, 502),
        (Fault::Junk, 502),
        (Fault::Unavailable, 503),
    ] {
        let bad = BadServer::start(fault);
        let good = HttpBackend::start(ok("good", "fine"));
        // The default `retry-on conn-failure`: the request reached the server, no retry.
        let p = Proxy::start(&cfg(
            bad.addr,
            good.addr,
            "    retries 2\n    option redispatch\n",
        ));
        let got = gets(p.addr("fe"), 4);
        assert_eq!(
            got.iter().filter(|(st, _)| *st == want).count(),
            2,
            "{got:?}"
        );
        assert_eq!(
            got.iter().filter(|(st, _)| *st == 200).count(),
            2,
            "{got:?}"
        );
        p.assert_clean();
    }
}

#[test]
fn response_timeout_is_retried_after_timeout_server() {
    let bad = BadServer::start(Fault::Hang(Duration::from_secs(3)));
    let good = HttpBackend::start(ok("good", "fine"));
    let p = Proxy::start(
        &cfg(
            bad.addr,
            good.addr,
            "    retries 1\n    option redispatch\n    retry-on response-timeout\n",
        )
        .replace("timeout server 5s", "timeout server 300ms"),
    );
    let t0 = Instant::now();
    let (st, head, _) = get(p.addr("fe"), "/slow");
    let took = t0.elapsed();
    assert_eq!(st, 200, "{head}");
    assert!(head.contains("x-server: good"), "{head}");
    assert_eq!(bad.requests(), 1);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2500),
        "replayed after timeout server: {took:?}"
    );
    p.assert_clean();
}

#[test]
fn bodies_are_replayed_whatever_the_method() {
    // haproxy 2.6.12, `retry-on empty-response`, a server closing on the first attempt: a
    // POST with a 3000-byte body was sent again and answered 200, as a PUT.
    let bad = BadServer::start(Fault::Close);
    let good = HttpBackend::start(ok("good", "fine"));
    let p = Proxy::start(&cfg(
        bad.addr,
        good.addr,
        "    retries 2\n    option redispatch\n    retry-on empty-response\n",
    ));
    let addr = p.addr("fe");
    let body = "x".repeat(3000);
    let send = |method: &str| {
        exchange(
            addr,
            format!(
                "{method} /up HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .0
    };
    // Round robin: the first request of each pair goes to the bad server.
    assert_eq!(send("PUT"), 200, "PUT replayed with its whole body");
    let seen = good.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, body.as_bytes(), "the replayed body is intact");
    assert_eq!(send("PUT"), 200);
    assert_eq!(send("POST"), 200, "a POST held whole is replayed too");
    assert_eq!(p.server("be", "bad").retry_skipped.load(SeqCst), 0);
    let seen = good.requests();
    assert_eq!(seen.len(), 3, "the POST reached the good server");
    assert!(seen[2].head.starts_with("POST "), "{}", seen[2].head);
    assert_eq!(
        seen[2].body,
        body.as_bytes(),
        "the replayed POST body is intact"
    );
    p.assert_clean();
}

#[test]
fn retries_never_exceed_the_budget() {
    let a = BadServer::start(Fault::Close);
    let b = BadServer::start(Fault::Close);
    let p = Proxy::start(&cfg(
        a.addr,
        b.addr,
        "    retries 2\n    option redispatch\n    retry-on empty-response\n",
    ));
    let (st, _, _) = get(p.addr("fe"), "/x");
    assert_eq!(st, 502);
    assert_eq!(a.requests() + b.requests(), 3, "one try and two retries");
    p.assert_clean();
}

#[test]
fn a_server_going_down_sends_its_queue_back_to_balancing() {
    // Requests whose cookie names s1 (maxconn 1) wait in s1's queue behind a slow one. When
    // s1's check fails (its check port is a listener the test closes), HAProxy's
    // pendconn_redistribute hands them to load balancing with `option redispatch`.
    let slow = HttpBackend::start(Arc::new(move |_| {
        std::thread::sleep(Duration::from_millis(2500));
        b"HTTP/1.1 200 OK\r\nx-server: slow\r\ncontent-length: 0\r\n\r\n".to_vec()
    }));
    let other = HttpBackend::start(ok("other", "ok"));
    let check_port = TcpListener::bind("127.0.0.1:0").unwrap();
    let cport = check_port.local_addr().unwrap().port();
    let p = Proxy::start(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    timeout queue 8s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    option redispatch\n    cookie SRV insert indirect nocache\n\
         server s1 {} cookie s1 maxconn 1 check port {cport} inter 100 fall 1 rise 1\n    \
         server s2 {} cookie s2 maxconn 1\n",
        slow.addr, other.addr
    ));
    let addr = p.addr("fe");
    let to_s1 = move || {
        exchange(
            addr,
            b"GET /same HTTP/1.1\r\nhost: x\r\ncookie: SRV=s1\r\nconnection: close\r\n\r\n",
        )
    };
    let first = std::thread::spawn(to_s1);
    assert!(wait_until(Duration::from_secs(2), || {
        p.server("be", "s1").conns.cur() == 1
    }));
    let queued: Vec<_> = (0..3).map(|_| std::thread::spawn(to_s1)).collect();
    assert!(wait_until(Duration::from_secs(2), || {
        p.server("be", "s1").queue.len() == 3
    }));
    let t0 = Instant::now();
    drop(check_port); // s1's check now fails: DOWN at the next check (inter 100, fall 1)
    for q in queued {
        let (st, head, _) = q.join().unwrap();
        assert_eq!(st, 200);
        assert!(head.contains("x-server: other"), "{head}");
    }
    assert!(
        t0.elapsed() < Duration::from_millis(2000),
        "redistributed at the DOWN, not at the end of the slow request: {:?}",
        t0.elapsed()
    );
    assert_eq!(first.join().unwrap().0, 200);
    p.assert_clean();
}

#[test]
fn retry_on_without_conn_failure_does_not_retry_refused_connects() {
    let good = HttpBackend::start(ok("good", "fine"));
    let refused: SocketAddr = format!("127.0.0.1:{}", crate::util::closed_port())
        .parse()
        .unwrap();
    for (setting, want) in [
        ("retry-on none", 503),
        ("retry-on 503", 503),
        ("retry-on conn-failure", 200),
    ] {
        let p = Proxy::start(&cfg(
            refused,
            good.addr,
            &format!("    retries 2\n    option redispatch\n    {setting}\n"),
        ));
        // Round robin: the first request goes to the refusing server.
        assert_eq!(get(p.addr("fe"), "/").0, want, "{setting}");
        p.assert_clean();
    }
}

#[test]
fn all_servers_down_answers_503_at_once_without_retries() {
    let (a, b) = (crate::util::closed_port(), crate::util::closed_port());
    let p = Proxy::start(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    retries 3\n    option redispatch\n    retry-on all-retryable-errors\n    \
             server a 127.0.0.1:{a} check inter 100 fall 1\n    server b 127.0.0.1:{b} check inter 100 fall 1\n"
    ));
    let (sa, sb) = (p.server("be", "a"), p.server("be", "b"));
    assert!(wait_until(Duration::from_secs(3), || !sa.is_usable()
        && !sb.is_usable()));
    let errors = sa.connect_errors.load(SeqCst) + sb.connect_errors.load(SeqCst);
    for _ in 0..20 {
        let t0 = Instant::now();
        assert_eq!(get(p.addr("fe"), "/").0, 503);
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
    }
    assert_eq!(
        sa.connect_errors.load(SeqCst) + sb.connect_errors.load(SeqCst),
        errors,
        "no connection attempted to a down server"
    );
    p.assert_clean();
}

/// A server that hangs on its first request (1.5 s, past `timeout server`) and answers the
/// later ones at once with the length of the body it received; counts the requests it began.
fn first_attempt_hangs() -> (HttpBackend, Arc<std::sync::atomic::AtomicUsize>) {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let be = HttpBackend::start(Arc::new(move |seen| {
        if c.fetch_add(1, SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1500));
        }
        let body = seen.body.len().to_string();
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }));
    (be, calls)
}

/// One server, `retry-on response-timeout`, one retry (HAProxy 2.6.12 was recorded with the
/// same settings).
fn replay_proxy(server: SocketAddr) -> Proxy {
    Proxy::start(&format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 300ms\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    retries 1\n    retry-on response-timeout\n    server s {server}\n"
    ))
}

/// Sends `head` and `body`, the body `pause` after the head and its first 10 bytes when given.
fn send_request(addr: SocketAddr, head: &str, body: &[u8], pause: Option<Duration>) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    match pause {
        None => s.write_all(&[head.as_bytes(), body].concat()).unwrap(),
        Some(d) => {
            let (first, rest) = body.split_at(10.min(body.len()));
            s.write_all(&[head.as_bytes(), first].concat()).unwrap();
            std::thread::sleep(d);
            s.write_all(rest).unwrap();
        }
    }
    // Interim responses (`100 Continue`) are skipped.
    let mut r = BufReader::new(s);
    loop {
        let status = crate::util::http_backend::read_response(&mut r).0;
        if !(100..200).contains(&status) {
            return status;
        }
    }
}

fn post_head(method: &str, path: &str, len: usize) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {len}\r\n\r\n"
    )
}

#[test]
fn requests_held_whole_are_replayed_whatever_the_method() {
    // haproxy 2.6.12, a server hanging on the first attempt: GET, HEAD, DELETE, a POST without
    // a body, POST and PUT with 100 bytes, POST with 10,000 and 15,000 bytes were all sent
    // twice and answered 200.
    for (method, len) in [
        ("GET", 0),
        ("DELETE", 0),
        ("POST", 0),
        ("POST", 100),
        ("PUT", 100),
        ("POST", 10_000),
        ("POST", 15_000),
    ] {
        let (server, calls) = first_attempt_hangs();
        let p = replay_proxy(server.addr);
        let head = if len == 0 && method != "POST" {
            format!("{method} /x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        } else {
            post_head(method, "/x", len)
        };
        let body = vec![b'y'; len];
        assert_eq!(
            send_request(p.addr("fe"), &head, &body, None),
            200,
            "{method} {len}"
        );
        assert_eq!(calls.load(SeqCst), 2, "{method} {len}: sent twice");
        let seen = server.requests();
        assert_eq!(seen.last().unwrap().body, body, "{method} {len}: intact");
        assert_eq!(p.server("be", "s").retry_skipped.load(SeqCst), 0);
        p.assert_clean();
    }
}

#[test]
fn requests_larger_than_a_buffer_are_not_replayed() {
    // haproxy 2.6.12 (tune.bufsize 16384): POST /n15208 with host, connection: close and a
    // 15,208-byte body was replayed, 15,209 bytes was not (504); 16,300, 20,000 and 100,000
    // bytes were not either.
    for (len, want) in [(15_208, 200), (15_209, 504), (20_000, 504), (100_000, 504)] {
        let (server, calls) = first_attempt_hangs();
        let p = replay_proxy(server.addr);
        let head = post_head("POST", "/n15208", len);
        let status = send_request(p.addr("fe"), &head, &vec![b'y'; len], None);
        assert_eq!(status, want, "{len}");
        let (tries, skipped) = if want == 200 { (2, 0) } else { (1, 1) };
        assert_eq!(calls.load(SeqCst), tries, "{len}");
        assert_eq!(
            p.server("be", "s").retry_skipped.load(SeqCst),
            skipped,
            "{len}"
        );
        p.assert_clean();
    }
}

#[test]
fn requests_still_arriving_when_first_sent_are_not_replayed() {
    // haproxy 2.6.12: a POST whose 100-byte body came 300 ms after its head (and first 10
    // body bytes) was not replayed (504), nor one with `Expect: 100-continue` whose body
    // followed the server's `100 Continue`.
    for expect in [false, true] {
        let (server, calls) = first_attempt_hangs();
        let p = replay_proxy(server.addr);
        let mut head = post_head("POST", "/streamed", 100);
        if expect {
            head = head.replace(
                "connection: close\r\n",
                "connection: close\r\nexpect: 100-continue\r\n",
            );
        }
        let pause = Some(Duration::from_millis(300));
        assert_eq!(send_request(p.addr("fe"), &head, &[b'y'; 100], pause), 504);
        assert_eq!(calls.load(SeqCst), 1, "expect {expect}");
        assert_eq!(
            p.server("be", "s").retry_skipped.load(SeqCst),
            1,
            "expect {expect}"
        );
        p.assert_clean();
    }
}

#[test]
fn expect_continue_is_replayed_unless_an_interim_response_was_forwarded() {
    // haproxy 2.6.12, `Expect: 100-continue` with the 100-byte body sent at once: replayed
    // (200) when the hanging server sent nothing; not replayed when it had sent `100
    // Continue` first (the client got the 100, then a 500 from HAProxy; Ravelin answers
    // 504 as for any unretried response timeout).
    let head = post_head("POST", "/e", 100).replace(
        "connection: close\r\n",
        "connection: close\r\nexpect: 100-continue\r\n",
    );
    // The bad server reads the whole request and never answers nor sends a 100.
    let bad = BadServer::start(Fault::Hang(Duration::from_millis(1500)));
    let good = HttpBackend::start(ok("good", "fine"));
    let p = Proxy::start(
        &cfg(
            bad.addr,
            good.addr,
            "    retries 1\n    option redispatch\n    retry-on response-timeout\n",
        )
        .replace("timeout server 5s", "timeout server 300ms"),
    );
    assert_eq!(send_request(p.addr("fe"), &head, &[b'y'; 100], None), 200);
    assert_eq!(bad.requests(), 1);
    assert_eq!(good.requests().len(), 1);
    assert_eq!(good.requests()[0].body, vec![b'y'; 100]);
    p.assert_clean();
    drop(p);
    // This server sends `100 Continue` at once, then hangs on the first request.
    let (server, calls) = first_attempt_hangs();
    let p = replay_proxy(server.addr);
    assert_eq!(send_request(p.addr("fe"), &head, &[b'y'; 100], None), 504);
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(p.server("be", "s").retry_skipped.load(SeqCst), 1);
    p.assert_clean();
}
