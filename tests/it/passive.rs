//! Passive health on real sockets: `observe layer7` errors marking a server down at
//! `error-limit`, `on-error fastinter` bringing the next check forward, `on-marked-down
//! shutdown-sessions` killing a down server's streams, `on-marked-up shutdown-backup-sessions`
//! killing backups' streams when an active server returns.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use ravelin::status::Status;

use crate::util::backend::Backend;
use crate::util::http_backend::{HttpBackend, exchange};
use crate::util::proxy::Proxy;
use crate::util::wait_until;

/// A port whose only use is to pass TCP checks (accepts and closes); dropped, it refuses.
fn check_port() -> Backend {
    Backend::start(Arc::new(|_s: TcpStream| {}))
}

fn answer(status: u16, name: &'static str) -> HttpBackend {
    HttpBackend::start(Arc::new(move |_| {
        format!("HTTP/1.1 {status} X\r\nx-server: {name}\r\ncontent-length: 0\r\n\r\n").into_bytes()
    }))
}

fn get(addr: SocketAddr) -> (u16, String) {
    let (st, head, _) = exchange(
        addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    (st, head)
}

#[test]
fn layer7_errors_mark_a_server_down_at_the_error_limit() {
    let broken = answer(500, "broken");
    let fine = answer(200, "fine");
    let cp = check_port();
    let p = Proxy::start(&format!(
        "global\n    nbthread 1\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    balance roundrobin\n\
             server broken {} check port {} inter 10s rise 1 fall 3 observe layer7 error-limit 3 on-error mark-down\n    \
             server fine {}\n",
        broken.addr,
        cp.port(),
        fine.addr
    ));
    let addr = p.addr("fe");
    let s = p.server("be", "broken");
    // Round robin alternates: requests 1, 3, 5 reach the broken server (three 500s).
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(get(addr).0);
    }
    assert_eq!(got.iter().filter(|&&c| c == 500).count(), 3, "{got:?}");
    assert!(
        wait_until(Duration::from_secs(2), || !s.is_usable()),
        "marked down by passive health although its check passes"
    );
    assert_eq!(Status::from_u8(s.check.status.load(SeqCst)), Status::Hana);
    assert_eq!(s.failed_hana.load(SeqCst), 1);
    // Down: all traffic goes to the healthy server.
    for _ in 0..4 {
        assert_eq!(get(addr).0, 200);
    }
    p.assert_clean();
}

#[test]
fn successes_reset_the_consecutive_error_count() {
    // Errors interleaved with successes never reach error-limit 2.
    let flaky = HttpBackend::start(Arc::new({
        let n = std::sync::atomic::AtomicUsize::new(0);
        move |_| {
            let status = if n.fetch_add(1, SeqCst) % 2 == 0 {
                502
            } else {
                200
            };
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n").into_bytes()
        }
    }));
    let cp = check_port();
    let p = Proxy::start(&format!(
        "global\n    nbthread 1\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    server flaky {} check port {} inter 10s observe layer7 error-limit 2 on-error mark-down\n",
        flaky.addr,
        cp.port()
    ));
    for _ in 0..8 {
        get(p.addr("fe"));
    }
    let s = p.server("be", "flaky");
    assert!(s.is_usable());
    assert_eq!(s.failed_hana.load(SeqCst), 0);
    p.assert_clean();
}

#[test]
fn on_error_fastinter_brings_the_next_check_forward() {
    let broken = answer(503, "broken");
    let cp = check_port();
    let p = Proxy::start(&format!(
        "global\n    nbthread 1\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    server broken {} check port {} inter 20s fastinter 100 observe layer7 error-limit 2 on-error fastinter\n",
        broken.addr,
        cp.port()
    ));
    // The first check runs at start; the next one would be 20 s later.
    assert!(wait_until(Duration::from_secs(3), || cp
        .accepted
        .load(SeqCst)
        >= 1));
    // ...and has its result.
    assert!(wait_until(Duration::from_secs(3), || p
        .server("be", "broken")
        .check
        .status
        .load(SeqCst)
        != 0));
    let before = cp.accepted.load(SeqCst);
    let t0 = Instant::now();
    get(p.addr("fe"));
    get(p.addr("fe"));
    assert!(
        wait_until(Duration::from_secs(3), || cp.accepted.load(SeqCst) > before),
        "no check after the error limit"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(2000),
        "{:?}",
        t0.elapsed()
    );
    // fastinter only: the server stays up.
    assert!(p.server("be", "broken").is_usable());
    p.assert_clean();
}

#[test]
fn shutdown_sessions_kills_a_down_servers_streams() {
    let echo = Backend::echo();
    let cp = check_port();
    let p = Proxy::start(&format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    server s1 {} check port {} inter 100 fall 1 rise 1 on-marked-down shutdown-sessions\n",
        echo.addr,
        cp.port()
    ));
    let mut c = TcpStream::connect(p.addr("fe")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let t0 = Instant::now();
    drop(cp); // the check fails from now on: DOWN within ~100-200 ms
    let mut rest = Vec::new();
    let end = c.read_to_end(&mut rest);
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "the stream outlived its server: {:?} {end:?}",
        t0.elapsed()
    );
    p.assert_clean();
}

#[test]
fn shutdown_backup_sessions_when_an_active_server_returns() {
    let active = Backend::echo();
    let backup = Backend::echo();
    let cp = Backend::start(Arc::new(|_s: TcpStream| {}));
    let port = cp.port();
    drop(cp); // the active server starts down (its check port refuses)
    let p = Proxy::start(&format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    server a {} check port {port} inter 100 fall 1 rise 1 on-marked-up shutdown-backup-sessions\n    \
             server b {} backup\n",
        active.addr, backup.addr
    ));
    assert!(wait_until(Duration::from_secs(3), || !p
        .server("be", "a")
        .is_usable()));
    let mut c = TcpStream::connect(p.addr("fe")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(backup.accepted.load(SeqCst), 1, "served by the backup");
    // The active server's check port comes back: UP, and the backup's stream is killed.
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let t0 = Instant::now();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(p.server("be", "a").is_usable());
    drop(l);
    p.assert_clean();
}
