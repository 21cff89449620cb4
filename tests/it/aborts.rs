//! Streams aborted in the middle: a client that gives up during its upload (FIN or RST) and a
//! server that closes in the middle of its response. Termination states, the server side of
//! the stream and the `show stat` counters are compared with what haproxy 2.6 does (recorded
//! with the same configuration and the real binary):
//!
//! * client FIN or RST after a POST head and part of a 1 MiB body, the server reading slowly:
//!   `... 0/0/0/-1/300 -1 0 - - CD-- ...` at once, the server connection reset, `cli_abrt` +1
//!   on the server and the backend, `srv_abrt`/`eresp`/`hrsp_5xx` unchanged;
//! * a whole request then a half-close: the response is served (`200`, `----`);
//! * a server closing after 1000 of 65536 promised bytes: `200 ... SD--`, `eresp` +1 and
//!   `srv_abrt` +1 on the server and the backend, `hrsp_2xx` +1, `req_tot` +1, `cli_abrt` 0;
//! * `lastsess`: -1 before the first stream, then the seconds since the last one.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::http_backend::{HttpBackend, exchange, ok};
use crate::util::proxy::Proxy;
use crate::util::syslog::Syslog;
use crate::util::wait_until;

fn cfg(log: SocketAddr, server_port: u16) -> String {
    format!(
        "global\n    nbthread 2\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 10s\n\
frontend fe\n    bind 127.0.0.1:0\n    log {log} format raw local0\n    option httplog\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{server_port}\n\
listen st\n    bind 127.0.0.1:0\n    stats enable\n    stats uri /st\n"
    )
}

/// One `show stat` CSV value (from the stats page), by proxy, server and column.
fn stat(p: &Proxy, px: &str, sv: &str, col: &str) -> String {
    let (st, _, body) = exchange(
        p.addr("st"),
        b"GET /st;csv HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(st, 200);
    let text = String::from_utf8(body).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let i = header
        .trim_start_matches("# ")
        .split(',')
        .position(|n| n == col)
        .unwrap_or_else(|| panic!("no column {col}"));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r.first() == Some(&px) && r.get(1) == Some(&sv))
        .and_then(|r| r.get(i).map(|v| v.to_string()))
        .unwrap_or_else(|| panic!("no row {px}/{sv}"))
}

fn stats(p: &Proxy, px: &str, sv: &str, cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| stat(p, px, sv, c)).collect()
}

/// A server that accepts up to `n` connections and reads each slowly (1 KiB every 20 ms),
/// never answering; each connection's end (EOF or reset) is reported on the channel.
fn slow_reader(n: usize) -> (u16, mpsc::Receiver<Instant>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(20);
        let mut accepted = 0;
        while accepted < n && Instant::now() < end {
            match l.accept() {
                Ok((mut s, _)) => {
                    accepted += 1;
                    s.set_nonblocking(false).ok();
                    s.set_read_timeout(Some(Duration::from_secs(15))).ok();
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        let mut b = [0u8; 1024];
                        loop {
                            match s.read(&mut b) {
                                Ok(0) | Err(_) => break,
                                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
                            }
                        }
                        let _ = tx.send(Instant::now());
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    (port, rx)
}

#[test]
fn client_abort_during_upload_ends_the_stream_at_once() {
    const N: usize = 200;
    let syslog = Syslog::new();
    let (port, closed) = slow_reader(N);
    let p = Proxy::start(&cfg(syslog.addr(), port));
    let head = b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 1048576\r\n\r\n";
    let part = vec![b'a'; 32 * 1024];
    let mut clients = Vec::with_capacity(N);
    for _ in 0..N {
        let mut c = TcpStream::connect(p.addr("fe")).expect("connect");
        c.set_write_timeout(Some(Duration::from_secs(5))).ok();
        c.write_all(head).expect("head");
        c.write_all(&part).expect("part of the body");
        clients.push(c);
    }
    // Every request is at the server, which is still reading the body.
    assert!(
        wait_until(Duration::from_secs(10), || p.server("be", "s1").conns.cur()
            == N as u32),
        "all streams at the server: {}",
        p.server("be", "s1").conns.cur()
    );
    // Half give up with a FIN (a shutdown then a close, or a close alone), half with a reset.
    let t0 = Instant::now();
    for (i, c) in clients.into_iter().enumerate() {
        match i % 4 {
            0 => {
                c.shutdown(Shutdown::Write).ok();
                drop(c);
            }
            1 => drop(c),
            _ => {
                socket2::SockRef::from(&c)
                    .set_linger(Some(Duration::ZERO))
                    .ok();
                drop(c);
            }
        }
    }
    // The streams end at once, not at `timeout server` (10 s).
    assert!(
        wait_until(Duration::from_secs(2), || p.server("be", "s1").conns.cur()
            == 0
            && p.frontend("fe").conns.cur() == 0),
        "streams still open {:?} after the aborts: server {} frontend {}",
        t0.elapsed(),
        p.server("be", "s1").conns.cur(),
        p.frontend("fe").conns.cur()
    );
    let ended = t0.elapsed();
    assert!(ended < Duration::from_secs(2), "{ended:?}");
    // The server connections were closed too (the server sees EOF or a reset).
    for k in 0..N {
        let at = closed
            .recv_timeout(Duration::from_secs(3))
            .unwrap_or_else(|_| panic!("server connection {k} still open"));
        assert!(
            at.saturating_duration_since(t0) < Duration::from_secs(2),
            "server connection {k} closed late"
        );
    }
    // HAProxy's line: status -1, 0 bytes, `CD--`.
    for _ in 0..N {
        let l = syslog.line();
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(
            (f.get(3).copied(), f.get(5).copied(), f.get(6).copied()),
            (Some("be/s1"), Some("-1"), Some("0")),
            "{l}"
        );
        assert_eq!(f.get(9).copied(), Some("CD--"), "{l}");
        assert!(l.ends_with("\"POST /up HTTP/1.1\""), "{l}");
    }
    let cols = [
        "scur", "cli_abrt", "srv_abrt", "eresp", "econ", "wretr", "hrsp_5xx",
    ];
    let n = N.to_string();
    let want: Vec<&str> = vec!["0", &n, "0", "0", "0", "0", "0"];
    assert_eq!(stats(&p, "be", "s1", &cols), want, "server {cols:?}");
    assert_eq!(stats(&p, "be", "BACKEND", &cols), want, "backend {cols:?}");
    // No status: HAProxy counts these in `hrsp_other` of the frontend and the backend only.
    assert_eq!(stat(&p, "be", "s1", "hrsp_other"), "0");
    // No response from the server: its `req_tot` stays 0 (the backend's counts requests).
    assert_eq!(stat(&p, "be", "s1", "req_tot"), "0");
    assert_eq!(stat(&p, "be", "BACKEND", "hrsp_other"), n);
    assert_eq!(stat(&p, "fe", "FRONTEND", "hrsp_other"), n);
    p.assert_clean();
}

#[test]
fn half_close_after_the_whole_request_still_gets_the_response() {
    let syslog = Syslog::new();
    let srv = HttpBackend::start(ok("a", "hello"));
    let p = Proxy::start(&cfg(syslog.addr(), srv.port()));
    let mut c = TcpStream::connect(p.addr("fe")).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    c.write_all(b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello")
        .expect("write");
    c.shutdown(Shutdown::Write).expect("shutdown");
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("hello"), "{text}");
    let l = syslog.line();
    let f: Vec<&str> = l.split(' ').collect();
    assert_eq!(
        (f.get(5).copied(), f.get(9).copied()),
        (Some("200"), Some("----")),
        "{l}"
    );
    assert_eq!(stat(&p, "be", "s1", "cli_abrt"), "0");
    p.assert_clean();
}

#[test]
fn server_closing_mid_response_counts_eresp_and_srv_abrt() {
    let syslog = Syslog::new();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b);
            let mut r = b"HTTP/1.1 200 OK\r\ncontent-length: 65536\r\n\r\n".to_vec();
            r.extend_from_slice(&[b'x'; 1000]);
            let _ = s.write_all(&r);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let p = Proxy::start(&cfg(syslog.addr(), port));
    // No stream yet: `lastsess` is -1, as HAProxy prints it.
    assert_eq!(stats(&p, "be", "s1", &["lastsess"]), ["-1"]);
    assert_eq!(stats(&p, "be", "BACKEND", &["lastsess"]), ["-1"]);
    let mut c = TcpStream::connect(p.addr("fe")).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    assert!(resp.starts_with(b"HTTP/1.1 200"));
    let l = syslog.line();
    let f: Vec<&str> = l.split(' ').collect();
    assert_eq!(
        (f.get(5).copied(), f.get(9).copied()),
        (Some("200"), Some("SD--")),
        "{l}"
    );
    let cols = [
        "eresp", "srv_abrt", "cli_abrt", "hrsp_2xx", "hrsp_5xx", "econ", "wretr", "wredis",
        "req_tot",
    ];
    let want = ["1", "1", "0", "1", "0", "0", "0", "0", "1"];
    assert_eq!(stats(&p, "be", "s1", &cols), want, "server {cols:?}");
    assert_eq!(stats(&p, "be", "BACKEND", &cols), want, "backend {cols:?}");
    // Seconds since the last stream: this one, just now.
    for sv in ["s1", "BACKEND"] {
        let age: u32 = stat(&p, "be", sv, "lastsess").parse().expect("lastsess");
        assert!(age <= 2, "{sv} lastsess {age}");
    }
    p.assert_clean();
}
