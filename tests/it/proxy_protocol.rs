//! The PROXY protocol on real sockets: headers received on `bind ... accept-proxy` (v1 and
//! v2, HTTP and TCP mode, whole or split, bad, missing, late) and sent to `send-proxy` /
//! `send-proxy-v2` servers (streams, private HTTP connections, health checks). Byte strings
//! and log texts were compared with haproxy 2.6.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::backend::Backend;
use crate::util::bin::TempDir;
use crate::util::client::connect;
use crate::util::http_backend::{HttpBackend, ok, read_response};
use crate::util::proxy::Proxy;
use crate::util::syslog::Syslog;
use crate::util::wait_until;

const SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const REQ: &[u8] = b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n";

/// A v2 header: PROXY over TCP/IPv4 from `src` to `dst`.
fn v2_inet(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut v = SIG.to_vec();
    v.extend_from_slice(&[0x21, 0x11, 0, 12]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v
}

/// Reads from `s` until EOF, a reset or the read timeout; true when the peer closed (EOF or
/// reset) without sending anything.
fn closed_silently(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut b = [0u8; 256];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

/// The bytes received on each connection, in accept order.
type Conns = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A TCP backend recording every byte of each connection (in accept order) and echoing them.
struct Recorder {
    _backend: Backend,
    addr: SocketAddr,
    conns: Conns,
}

impl Recorder {
    /// `http`: answer each request head with a small 200 (after skipping a PROXY header),
    /// else echo.
    fn start(http: bool) -> Recorder {
        let conns: Conns = Arc::default();
        let all = conns.clone();
        let backend = Backend::start(Arc::new(move |mut s: TcpStream| {
            let mine = Arc::new(Mutex::new(Vec::new()));
            all.lock().unwrap().push(mine.clone());
            s.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let mut pending = Vec::new();
            let mut header_done = !http;
            let mut b = [0u8; 4096];
            loop {
                let n = match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                mine.lock().unwrap().extend_from_slice(&b[..n]);
                if !http {
                    if s.write_all(&b[..n]).is_err() {
                        break;
                    }
                    continue;
                }
                pending.extend_from_slice(&b[..n]);
                if !header_done {
                    match ravelin::proxyproto::parse(&pending, 4096) {
                        Ok(ravelin::proxyproto::Parse::Done(h)) => {
                            pending.drain(..h.len);
                            header_done = true;
                        }
                        Ok(ravelin::proxyproto::Parse::Incomplete) => continue,
                        // No header: plain HTTP.
                        Err(_) => header_done = true,
                    }
                }
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    pending.drain(..end + 4);
                    if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            }
            let _ = s.shutdown(Shutdown::Write);
        }));
        Recorder {
            addr: backend.addr,
            _backend: backend,
            conns,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The bytes of each connection so far.
    fn seen(&self) -> Vec<Vec<u8>> {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.lock().unwrap().clone())
            .collect()
    }

    /// Waits until connection `i` received at least `n` bytes; returns them.
    fn wait_bytes(&self, i: usize, n: usize) -> Vec<u8> {
        wait_until(Duration::from_secs(5), || {
            self.seen().get(i).is_some_and(|c| c.len() >= n)
        });
        self.seen().get(i).cloned().unwrap_or_default()
    }
}

fn http_cfg(log: SocketAddr, fe_extra: &str, servers: &str) -> String {
    format!(
        "global\n    nbthread 2\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0 accept-proxy\n    log {log} format raw local0\n{fe_extra}\n    default_backend be\n\
backend be\n{servers}\n"
    )
}

#[test]
fn v1_header_sets_client_for_forwardfor_acl_and_log() {
    let syslog = Syslog::new();
    let srv = HttpBackend::start(ok("a", "hello"));
    let p = Proxy::start(&http_cfg(
        syslog.addr(),
        "    option httplog\n    option forwardfor\n    http-request deny if { src 10.9.9.9 }\n    http-request set-header x-dst %[dst]:%[dst_port]",
        &format!("    server s1 127.0.0.1:{}", srv.port()),
    ));
    // Header and request in one write.
    let mut c = connect(p.addr("fe"));
    let mut msg = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n".to_vec();
    msg.extend_from_slice(b"GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
    c.write_all(&msg).unwrap();
    let (status, _, body) = read_response(&mut BufReader::new(&mut c));
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    let seen = srv.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("x-forwarded-for").as_deref(),
        Some("1.2.3.4")
    );
    assert_eq!(seen[0].header("x-dst").as_deref(), Some("5.6.7.8:2222"));
    assert!(
        seen[0].head.starts_with("GET /x HTTP/1.1\r\n"),
        "{}",
        seen[0].head
    );
    let line = syslog.line();
    assert!(line.starts_with("1.2.3.4:1111 ["), "{line}");
    assert!(
        line.contains(" fe be/s1 ") && line.contains(" 200 "),
        "{line}"
    );

    // The `src` ACL sees the header's address.
    let mut c = connect(p.addr("fe"));
    c.write_all(b"PROXY TCP4 10.9.9.9 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .unwrap();
    let (status, _, _) = read_response(&mut BufReader::new(&mut c));
    assert_eq!(status, 403);
    assert_eq!(
        srv.requests().len(),
        1,
        "denied requests never reach the server"
    );
    let line = syslog.line();
    assert!(line.starts_with("10.9.9.9:1 ["), "{line}");
    p.assert_clean();
}

#[test]
fn header_split_across_writes_and_data_after_it_arrive_intact() {
    let syslog = Syslog::new();
    let srv = HttpBackend::start(ok("a", "hi"));
    let p = Proxy::start(&http_cfg(
        syslog.addr(),
        "    option forwardfor\n    log-format \"%ci:%cp %Th %Ti\"",
        &format!("    server s1 127.0.0.1:{}", srv.port()),
    ));
    // The v1 line in two writes, the request in a third after a pause.
    let mut c = connect(p.addr("fe"));
    c.set_nodelay(true).ok();
    c.write_all(b"PROXY TCP6 2001:db8::7 ").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"::1 4444 80\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(REQ).unwrap();
    let (status, _, body) = read_response(&mut BufReader::new(&mut c));
    assert_eq!((status, body.as_slice()), (200, &b"hi"[..]));
    // `Th` covers the wait for the whole header, `Ti` the wait for the request after it.
    let line = syslog.line();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f[0], "2001:db8::7:4444", "{line}");
    let (th, ti) = (f[1].parse::<i64>().unwrap(), f[2].parse::<i64>().unwrap());
    assert!(
        (40..1000).contains(&th) && (40..1000).contains(&ti),
        "{line}"
    );
    // A v2 header split inside its address block, the request right behind the rest.
    let mut c2 = connect(p.addr("fe"));
    c2.set_nodelay(true).ok();
    let hdr = v2_inet([192, 0, 2, 9], 5555, [198, 51, 100, 1], 443);
    c2.write_all(&hdr[..20]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut rest = hdr[20..].to_vec();
    rest.extend_from_slice(REQ);
    c2.write_all(&rest).unwrap();
    let (status, _, _) = read_response(&mut BufReader::new(&mut c2));
    assert_eq!(status, 200);
    let seen = srv.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].header("x-forwarded-for").as_deref(),
        Some("2001:db8::7")
    );
    assert_eq!(
        seen[1].header("x-forwarded-for").as_deref(),
        Some("192.0.2.9")
    );
    assert!(
        seen.iter()
            .all(|s| s.head.starts_with("GET /x HTTP/1.1\r\nhost: a\r\n"))
    );
    drop((c, c2));
    p.assert_clean();
}

fn tcp_cfg(log: SocketAddr, fe_extra: &str, be_extra: &str, servers: &str) -> String {
    format!(
        "global\n    nbthread 2\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0 accept-proxy\n    log {log} format raw local0\n{fe_extra}\n    default_backend be\n\
backend be\n{be_extra}\n{servers}\n"
    )
}

#[test]
fn tcp_mode_v2_and_v1_with_data_in_the_same_packet() {
    let syslog = Syslog::new();
    let rec = Recorder::start(false);
    let p = Proxy::start(&tcp_cfg(
        syslog.addr(),
        "    log-format \"%ci:%cp %fi:%fp %ft %b/%s\"",
        "",
        &format!("    server s1 127.0.0.1:{}", rec.port()),
    ));
    let mut c = connect(p.addr("fe"));
    let mut msg = v2_inet([1, 2, 3, 4], 1111, [5, 6, 7, 8], 2222);
    msg.extend_from_slice(b"hello");
    c.write_all(&msg).unwrap();
    let mut echo = [0u8; 5];
    c.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
    assert_eq!(
        rec.wait_bytes(0, 5),
        b"hello",
        "only the data reaches the server"
    );
    c.shutdown(Shutdown::Write).unwrap();
    assert!(closed_silently(&mut c));
    assert_eq!(syslog.line(), "1.2.3.4:1111 5.6.7.8:2222 fe be/s1");

    // v1 UNKNOWN and v2 LOCAL keep the connection's own addresses.
    for hdr in [b"PROXY UNKNOWN\r\n".to_vec(), {
        let mut v = SIG.to_vec();
        v.extend_from_slice(&[0x20, 0x00, 0, 0]);
        v
    }] {
        let mut c = connect(p.addr("fe"));
        let local = c.local_addr().unwrap();
        let mut msg = hdr.clone();
        msg.extend_from_slice(b"x");
        c.write_all(&msg).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert!(closed_silently(&mut c));
        let fe = p.addr("fe");
        assert_eq!(
            syslog.line(),
            format!(
                "127.0.0.1:{} 127.0.0.1:{} fe be/s1",
                local.port(),
                fe.port()
            )
        );
    }
    assert_eq!(rec.seen().len(), 3);
    assert_eq!(rec.seen()[1], b"x");
    p.assert_clean();
}

#[test]
fn balance_source_hashes_the_header_address() {
    let rec_a = Recorder::start(false);
    let rec_b = Recorder::start(false);
    let p = Proxy::start(&tcp_cfg(
        Syslog::new().addr(),
        "",
        "    balance source",
        &format!(
            "    server a 127.0.0.1:{}\n    server b 127.0.0.1:{}",
            rec_a.port(),
            rec_b.port()
        ),
    ));
    // Every real connection comes from 127.0.0.1: only the header's address can spread them.
    for i in 0..24u8 {
        let mut c = connect(p.addr("fe"));
        let mut msg = v2_inet([10, 0, i, 1 + i], 1000, [10, 1, 1, 1], 80);
        msg.push(b'.');
        c.write_all(&msg).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert!(closed_silently(&mut c));
    }
    let (a, b) = (rec_a.seen().len(), rec_b.seen().len());
    assert_eq!(a + b, 24);
    assert!(a > 0 && b > 0, "a={a} b={b}");
    // The same header address always lands on the same server.
    let before = rec_a.seen().len();
    for _ in 0..3 {
        let mut c = connect(p.addr("fe"));
        let mut msg = v2_inet([10, 0, 0, 1], 1000, [10, 1, 1, 1], 80);
        msg.push(b'.');
        c.write_all(&msg).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
    }
    let moved = rec_a.seen().len() - before;
    assert!(moved == 0 || moved == 3, "split over both servers: {moved}");
    p.assert_clean();
}

#[test]
fn bad_missing_or_late_header_closes_and_reaches_no_server() {
    let syslog = Syslog::new();
    let rec = Recorder::start(false);
    let p = Proxy::start(&tcp_cfg(
        syslog.addr(),
        "    option tcplog\n    timeout client 300ms",
        "",
        &format!("    server s1 127.0.0.1:{}", rec.port()),
    ));
    let cases: [(&[u8], &str); 4] = [
        (
            b"GET / HTTP/1.1\r\nhost: a\r\n\r\n",
            "Received something which does not look like a PROXY protocol header",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.800 1 2\r\nhello",
            "Received an invalid PROXY protocol header",
        ),
        (
            b"PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\nhello",
            "Received an unhandled protocol in the PROXY protocol header",
        ),
        (b"", "Timeout while waiting for PROXY protocol header"),
    ];
    for (bytes, message) in cases {
        let mut c = connect(p.addr("fe"));
        let local = c.local_addr().unwrap();
        c.write_all(bytes).unwrap();
        let t = Instant::now();
        assert!(closed_silently(&mut c), "{message}");
        if bytes.is_empty() {
            let waited = t.elapsed();
            assert!(
                waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
                "{waited:?}"
            );
        }
        let line = syslog.line();
        // The real address (the header was not accepted), the listener by its number.
        let want = format!("127.0.0.1:{} [", local.port());
        assert!(line.starts_with(&want), "{line}");
        assert!(line.ends_with(&format!("] fe/1: {message}")), "{line}");
    }
    // A header cut short by the client's close.
    let mut c = connect(p.addr("fe"));
    c.write_all(b"PROXY TCP4 1.2.3").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert!(closed_silently(&mut c));
    assert!(
        syslog
            .line()
            .ends_with("] fe/1: Truncated PROXY protocol header received")
    );
    assert_eq!(rec.seen().len(), 0, "nothing reached the server");
    let sh = p.handle().shared().clone();
    assert!(wait_until(Duration::from_secs(2), || sh.live_streams() == 0));
    let fe = &sh.frontends[0];
    // As haproxy 2.6: counted as connections, not as sessions nor request errors.
    assert_eq!(fe.conn_total.load(Relaxed), 5);
    assert_eq!(fe.total.load(Relaxed), 0);
    assert_eq!(fe.req_errors.load(Relaxed), 0);
    p.assert_clean();
}

#[test]
fn send_proxy_v1_and_v2_precede_the_stream_bytes() {
    let rec1 = Recorder::start(false);
    let rec2 = Recorder::start(false);
    let cfg = format!(
        "global\n    nbthread 2\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend f1\n    bind 127.0.0.1:0\n    default_backend b1\n\
frontend f2\n    bind 127.0.0.1:0\n    default_backend b2\n\
frontend f3\n    bind 127.0.0.1:0 accept-proxy\n    default_backend b2\n\
backend b1\n    server s 127.0.0.1:{} send-proxy\n\
backend b2\n    default-server send-proxy-v2\n    server s 127.0.0.1:{}\n",
        rec1.port(),
        rec2.port()
    );
    let p = Proxy::start(&cfg);
    let mut c = connect(p.addr("f1"));
    let local = c.local_addr().unwrap();
    c.write_all(b"data").unwrap();
    let mut b = [0u8; 4];
    c.read_exact(&mut b).unwrap();
    let want = format!(
        "PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\ndata",
        local.port(),
        p.addr("f1").port()
    );
    assert_eq!(
        String::from_utf8_lossy(&rec1.wait_bytes(0, want.len())),
        want
    );
    drop(c);

    let mut c = connect(p.addr("f2"));
    let local = c.local_addr().unwrap();
    c.write_all(b"data").unwrap();
    c.read_exact(&mut b).unwrap();
    let mut want = v2_inet(
        [127, 0, 0, 1],
        local.port(),
        [127, 0, 0, 1],
        p.addr("f2").port(),
    );
    want.extend_from_slice(b"data");
    assert_eq!(rec2.wait_bytes(0, want.len()), want);
    drop(c);

    // The received header's addresses are the ones passed on.
    let mut c = connect(p.addr("f3"));
    c.write_all(b"PROXY TCP4 203.0.113.5 198.51.100.2 40000 8443\r\ndata")
        .unwrap();
    c.read_exact(&mut b).unwrap();
    let mut want = v2_inet([203, 0, 113, 5], 40000, [198, 51, 100, 2], 8443);
    want.extend_from_slice(b"data");
    assert_eq!(rec2.wait_bytes(1, want.len()), want);
    drop(c);
    p.assert_clean();
}

#[test]
fn send_proxy_http_connections_stay_private() {
    let rec = Recorder::start(true);
    let cfg = format!(
        "global\n    nbthread 1\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    http-reuse always\n    server s 127.0.0.1:{} send-proxy\n",
        rec.port()
    );
    let p = Proxy::start(&cfg);
    let fe_port = p.addr("fe").port();
    // Two clients one after the other, two requests each on a keep-alive connection.
    let mut ports = Vec::new();
    for _ in 0..2 {
        let mut c = connect(p.addr("fe"));
        ports.push(c.local_addr().unwrap().port());
        let mut r = BufReader::new(c.try_clone().unwrap());
        for _ in 0..2 {
            c.write_all(REQ).unwrap();
            let (status, _, body) = read_response(&mut r);
            assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
        }
    }
    let seen = rec.seen();
    assert_eq!(
        seen.len(),
        2,
        "one server connection per client, never shared"
    );
    for (conn, port) in seen.iter().zip(&ports) {
        let mut want = format!("PROXY TCP4 127.0.0.1 127.0.0.1 {port} {fe_port}\r\n").into_bytes();
        want.extend_from_slice(REQ);
        want.extend_from_slice(REQ);
        let text = String::from_utf8_lossy(conn);
        assert!(
            text.starts_with(&String::from_utf8_lossy(&want)[..]),
            "{text}"
        );
        assert_eq!(text.matches("PROXY ").count(), 1, "{text}");
        assert_eq!(text.matches("GET /x").count(), 2, "{text}");
    }
    p.assert_clean();
}

#[test]
fn health_checks_send_the_header_as_haproxy() {
    let (r1, r2, r3) = (
        Recorder::start(false),
        Recorder::start(false),
        Recorder::start(false),
    );
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    server v1 127.0.0.1:{} send-proxy check inter 200ms\n    server v2 127.0.0.1:{} send-proxy-v2 check inter 200ms\n    server own 127.0.0.1:{} check check-send-proxy port {} inter 200ms\n",
        r1.port(),
        r2.port(),
        r3.port(),
        r3.port()
    );
    let p = Proxy::start(&cfg);
    // v1: the check connection's own addresses.
    let got = String::from_utf8_lossy(&r1.wait_bytes(0, 20)).into_owned();
    assert!(
        got.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 ")
            && got.ends_with(&format!(" {}\r\n", r1.port())),
        "{got:?}"
    );
    // v2: a LOCAL command, no address.
    let mut local = SIG.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    assert_eq!(r2.wait_bytes(0, 16), local);
    // `check-send-proxy` with its own `port`: v1.
    assert!(r3.wait_bytes(0, 6).starts_with(b"PROXY TCP4 127.0.0.1 "));
    drop(p);

    // `pp2-never-send-local`: v2 checks send a PROXY command with their own addresses.
    let r4 = Recorder::start(false);
    let p = Proxy::start(&format!(
        "global\n    pp2-never-send-local\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    server v2 127.0.0.1:{} send-proxy-v2 check inter 200ms\n",
        r4.port()
    ));
    let got = r4.wait_bytes(0, 28);
    assert_eq!(got.len(), 28, "{got:?}");
    assert_eq!(
        &got[..16],
        &v2_inet([127, 0, 0, 1], 0, [127, 0, 0, 1], 0)[..16]
    );
    assert_eq!(&got[26..28], &r4.port().to_be_bytes());
    drop(p);
}

#[test]
fn show_sess_lists_the_header_address() {
    let dir = TempDir::new("pp-api");
    let slow = Backend::slow(1, Duration::from_secs(8));
    let cfg = format!(
        "global\n    stats socket {}/admin.sock level admin\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 9s\n\
frontend fe\n    bind 127.0.0.1:0 accept-proxy\n    default_backend be\n\
backend be\n    server a 127.0.0.1:{}\n",
        dir.0.display(),
        slow.port()
    );
    let p = Proxy::start(&cfg);
    // One connection still waiting for its header (not a stream yet), one streaming.
    let _waiting = connect(p.addr("fe"));
    let mut c = connect(p.addr("fe"));
    c.write_all(b"PROXY TCP4 192.0.2.77 192.0.2.1 6000 80\r\n")
        .unwrap();
    assert!(wait_until(Duration::from_secs(3), || p
        .server("be", "a")
        .conns
        .cur()
        == 1));
    let mut s = UnixStream::connect(dir.0.join("admin.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"show sess\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("0x")).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("proto=tcpv4 src=192.0.2.77:6000 fe=fe be=be srv=a"),
        "{out}"
    );
}

#[test]
fn legacy_connect_line_names_the_header_addresses() {
    let syslog = Syslog::new();
    let rec = Recorder::start(false);
    // A logging frontend without a line format: HAProxy's "Connect from" line, written once
    // the header is read; a failed header writes nothing there (checked with haproxy 2.6).
    let p = Proxy::start(&tcp_cfg(
        syslog.addr(),
        "",
        "",
        &format!("    server s1 127.0.0.1:{}", rec.port()),
    ));
    let mut bad = connect(p.addr("fe"));
    bad.write_all(b"junk").unwrap();
    assert!(closed_silently(&mut bad));
    let mut c = connect(p.addr("fe"));
    c.write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n.").unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    assert_eq!(
        syslog.line(),
        "Connect from 1.2.3.4:1 to 5.6.7.8:2 (fe/TCP)"
    );
    drop(c);
    p.assert_clean();
}

#[test]
fn unix_socket_clients() {
    let dir = TempDir::new("pp-unix");
    let srv = HttpBackend::start(ok("a", "hi"));
    let rec = Recorder::start(false);
    let d = dir.0.display();
    let p = Proxy::start(&format!(
        "defaults\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend web\n    mode http\n    bind unix@{d}/web.sock accept-proxy\n    option forwardfor\n    default_backend http\n\
frontend raw\n    mode tcp\n    bind unix@{d}/raw.sock\n    default_backend tcp\n\
backend http\n    mode http\n    server s 127.0.0.1:{}\n\
backend tcp\n    mode tcp\n    server s 127.0.0.1:{} send-proxy\n",
        srv.port(),
        rec.port()
    ));
    // The documented use: a local TLS terminator hands clients over a unix socket.
    let mut c = UnixStream::connect(dir.0.join("web.sock")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"PROXY TCP4 198.51.100.20 192.0.2.1 50000 443\r\nGET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .unwrap();
    let (status, _, _) = read_response(&mut BufReader::new(&mut c));
    assert_eq!(status, 200);
    assert_eq!(
        srv.requests()[0].header("x-forwarded-for").as_deref(),
        Some("198.51.100.20")
    );
    // A unix-socket client without addresses: `PROXY UNKNOWN`.
    let mut c = UnixStream::connect(dir.0.join("raw.sock")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"z").unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    assert_eq!(rec.wait_bytes(0, 16), b"PROXY UNKNOWN\r\nz");
    drop(c);
    p.assert_clean();
}
