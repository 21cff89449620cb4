//! Traffic logs on real sockets: lines received by a UDP "syslog server" started by the test,
//! checked field by field (timers against injected delays, termination states, counts).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::util::backend::Backend;
use crate::util::http_backend::{HttpBackend, exchange, ok};
use crate::util::proxy::Proxy;
use crate::util::syslog::Syslog;
use crate::util::{closed_port, wait_until};

fn http_cfg(log: SocketAddr, fe_extra: &str, be_extra: &str, servers: &str) -> String {
    format!(
        "global\n    nbthread 2\n\
defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n    timeout queue 300ms\n\
frontend fe\n    bind 127.0.0.1:0\n    log {log} format raw local0\n{fe_extra}\n    default_backend be\n\
backend be\n{be_extra}\n{servers}\n"
    )
}

/// Splits an httplog line into its fields (the quoted request line kept whole).
fn fields(line: &str) -> Vec<String> {
    let (head, req) = match line.find(" \"") {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let mut v: Vec<String> = head.split(' ').map(String::from).collect();
    if let Some(r) = req {
        v.push(r.to_string());
    }
    v
}

fn timers(f: &str) -> Vec<i64> {
    f.trim_start_matches('+')
        .split('/')
        .map(|t| t.parse::<i64>().unwrap_or(i64::MIN))
        .collect()
}

#[test]
fn httplog_fields_match_the_exchange() {
    let syslog = Syslog::new();
    let srv = HttpBackend::start(ok("a", "hello"));
    let p = Proxy::start(&http_cfg(
        syslog.addr(),
        "    option httplog",
        "",
        &format!("    server s1 127.0.0.1:{}", srv.port()),
    ));
    let mut c = TcpStream::connect(p.addr("fe")).expect("connect");
    let local = c.local_addr().expect("local");
    c.write_all(b"GET /path?q=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("write");
    let mut resp = Vec::new();
    c.read_to_end(&mut resp).expect("read");
    let line = syslog.line();
    let f = fields(&line);
    assert_eq!(f.len(), 13, "{line}");
    assert_eq!(f[0], format!("127.0.0.1:{}", local.port()), "{line}");
    assert!(
        f[1].starts_with('[') && f[1].ends_with(']') && f[1].len() == 26,
        "{line}"
    );
    assert_eq!((f[2].as_str(), f[3].as_str()), ("fe", "be/s1"), "{line}");
    let t = timers(&f[4]);
    assert_eq!(t.len(), 5, "{line}");
    assert!(t.iter().all(|&x| (0..1000).contains(&x)), "{line}");
    assert!(t[4] >= t[3], "Ta >= Tr: {line}");
    assert_eq!(f[5], "200");
    assert_eq!(
        f[6],
        resp.len().to_string(),
        "bytes sent to the client: {line}"
    );
    assert_eq!(
        (f[7].as_str(), f[8].as_str(), f[9].as_str()),
        ("-", "-", "----")
    );
    assert_eq!(f[10], "1/1/0/0/0", "{line}");
    assert_eq!(f[11], "0/0");
    assert_eq!(f[12], "\"GET /path?q=1 HTTP/1.1\"");
    p.assert_clean();
}

#[test]
fn timers_follow_injected_delays() {
    let syslog = Syslog::new();
    // Tr: the server thinks for 200 ms. Tw: a second request waits for the only slot.
    let srv = HttpBackend::start(Arc::new(|_| {
        std::thread::sleep(Duration::from_millis(200));
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()
    }));
    let p = Proxy::start(&http_cfg(
        syslog.addr(),
        "    option httplog",
        "    timeout queue 5s",
        &format!("    server s1 127.0.0.1:{} maxconn 1", srv.port()),
    ));
    let addr = p.addr("fe");
    let first = std::thread::spawn(move || {
        exchange(
            addr,
            b"GET /one HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
    });
    // /one holds the only slot before /two comes.
    assert!(wait_until(Duration::from_secs(2), || p
        .server("be", "s1")
        .conns
        .cur()
        == 1));
    let (st, _, _) = exchange(
        addr,
        b"GET /two HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(st, 200);
    assert_eq!(first.join().map(|r| r.0).unwrap_or(0), 200);
    let mut lines = [syslog.line(), syslog.line()];
    lines.sort_by_key(|l| !l.contains("/one"));
    let one = timers(&fields(&lines[0])[4]);
    let two = timers(&fields(&lines[1])[4]);
    // TR/Tw/Tc/Tr/Ta
    assert!(
        (180..600).contains(&one[3]),
        "Tr of /one ~200 ms: {}",
        lines[0]
    );
    assert!(one[1] < 50, "/one did not queue: {}", lines[0]);
    assert!(
        (100..600).contains(&two[1]),
        "Tw of /two ~150 ms: {}",
        lines[1]
    );
    assert!((180..600).contains(&two[3]), "Tr of /two: {}", lines[1]);
    for t in [&one, &two] {
        let sum: i64 = t[..4].iter().filter(|&&x| x > 0).sum();
        assert!(t[4] >= sum, "Ta >= TR+Tw+Tc+Tr: {t:?}");
    }
    // It waited first in the backend's queue: nobody was served before it there.
    assert_eq!(
        fields(&lines[1])[11],
        "0/0",
        "srv_queue/backend_queue of /two: {}",
        lines[1]
    );
    p.assert_clean();
}

#[test]
fn termination_states_match_haproxy() {
    let syslog = Syslog::new();
    // Server timeout before the head: 504 sH--.
    let silent = Backend::silent();
    let cfg = format!(
        "global\n    nbthread 1\n\
defaults\n    mode http\n    timeout connect 300ms\n    timeout client 5s\n    timeout server 300ms\n    timeout queue 200ms\n    retries 1\n\
frontend fe\n    bind 127.0.0.1:0\n    log {} format raw local0\n    option httplog\n    use_backend refused if {{ path_beg /refused }}\n    use_backend full if {{ path_beg /full }}\n    default_backend silent\n\
backend silent\n    server s1 127.0.0.1:{}\n\
backend refused\n    server r1 127.0.0.1:{}\n\
backend full\n    server f1 127.0.0.1:{} maxconn 1\n",
        syslog.addr(),
        silent.port(),
        closed_port(),
        silent.port(),
    );
    let p = Proxy::start(&cfg);
    let addr = p.addr("fe");
    let (st, _, _) = exchange(addr, b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(st, 504);
    let l = syslog.line();
    let f = fields(&l);
    assert_eq!((f[5].as_str(), f[9].as_str()), ("504", "sH--"), "{l}");
    let t = timers(&f[4]);
    assert!(
        t[3] == -1 && (250..1000).contains(&t[4]),
        "Tr -1, Ta ~ timeout server: {l}"
    );

    // Connection refused after one retry: 503 SC--, retries 1, Tc -1.
    let (st, _, _) = exchange(addr, b"GET /refused HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(st, 503);
    let l = syslog.line();
    let f = fields(&l);
    assert_eq!(
        (f[3].as_str(), f[5].as_str(), f[9].as_str()),
        ("refused/r1", "503", "SC--"),
        "{l}"
    );
    assert_eq!(timers(&f[4])[2], -1, "Tc: {l}");
    assert!(f[10].ends_with("/1"), "one retry: {l}");

    // Queue timeout: the only slot is held by a hanging request: 503 sQ--.
    let mut holder = TcpStream::connect(addr).expect("connect");
    holder
        .write_all(b"GET /full/hold HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    assert!(wait_until(Duration::from_secs(2), || p
        .server("full", "f1")
        .conns
        .cur()
        == 1));
    let (st, _, _) = exchange(addr, b"GET /full/queued HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(st, 503);
    let l = syslog.line();
    let f = fields(&l);
    assert_eq!((f[5].as_str(), f[9].as_str()), ("503", "sQ--"), "{l}");
    assert!(
        (150..800).contains(&timers(&f[4])[1]),
        "Tw ~ timeout queue: {l}"
    );
    // The holder then times out on the server side.
    let mut sink = Vec::new();
    let _ = holder.read_to_end(&mut sink);
    let l = syslog.line();
    assert!(l.contains("sH--") && l.contains("/full/hold"), "{l}");

    // Client aborts while waiting for the response head: CH--.
    let mut c = TcpStream::connect(addr).expect("connect");
    c.write_all(b"GET /abort HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    // At the server, waiting for its head.
    assert!(wait_until(Duration::from_secs(2), || p
        .server("silent", "s1")
        .conns
        .cur()
        == 1));
    let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
    drop(c);
    let l = syslog.line();
    assert!(fields(&l)[9].starts_with("CH"), "{l}");
    p.assert_clean();
}

#[test]
fn tcplog_line_and_client_abort_in_data() {
    let syslog = Syslog::new();
    let echo = Backend::echo();
    let p = Proxy::start(&format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    log {} format raw local0\n    option tcplog\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{}\n",
        syslog.addr(),
        echo.port()
    ));
    // A clean exchange held open 300 ms: Tt >= 300, `--`, bytes echoed.
    let mut c = TcpStream::connect(p.addr("fe")).expect("connect");
    c.write_all(b"hello").expect("write");
    let mut b = [0u8; 5];
    c.read_exact(&mut b).expect("echo");
    std::thread::sleep(Duration::from_millis(300));
    c.shutdown(std::net::Shutdown::Write).ok();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    let l = syslog.line();
    let f: Vec<&str> = l.split(' ').collect();
    assert_eq!(f.len(), 9, "{l}");
    assert_eq!((f[2], f[3]), ("fe", "be/s1"), "{l}");
    let t = timers(f[4]);
    assert!(
        t[0] >= 0 && t[1] >= 0 && (300..2000).contains(&t[2]),
        "Tw/Tc/Tt: {l}"
    );
    assert!(t[2] >= t[0] + t[1], "{l}");
    assert_eq!((f[5], f[6]), ("5", "--"), "{l}");
    // A client reset in the middle of the data: CD.
    let mut c = TcpStream::connect(p.addr("fe")).expect("connect");
    c.write_all(b"x").expect("write");
    c.read_exact(&mut [0u8; 1]).expect("echo");
    let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
    drop(c);
    let l = syslog.line();
    assert_eq!(l.split(' ').nth(6), Some("CD"), "{l}");
    p.assert_clean();
}

#[test]
fn custom_log_format_and_options() {
    let syslog = Syslog::new();
    let srv = HttpBackend::start(ok("a", "hello"));
    let p = Proxy::start(&http_cfg(
        syslog.addr(),
        "    log-format \"%ci %{+Q}HM %HU %HP %HV %b %s %ST %U %{+Q}r %ts %tsc %ID %pid %Tt>=%Ta\"\n    option dontlognull",
        "",
        &format!("    server s1 127.0.0.1:{}", srv.port()),
    ));
    let req = b"GET /x/y?z=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let (st, _, _) = exchange(p.addr("fe"), req);
    assert_eq!(st, 200);
    let l = syslog.line();
    let want = format!(
        "127.0.0.1 \"GET\" /x/y?z=1 /x/y HTTP/1.1 be s1 200 {} \"GET /x/y?z=1 HTTP/1.1\" -- ---- - {} ",
        req.len(),
        std::process::id()
    );
    assert!(l.starts_with(&want), "{l}\n{want}");
    // An empty connection is not logged with dontlognull.
    drop(TcpStream::connect(p.addr("fe")).expect("connect"));
    syslog.silent_for(Duration::from_millis(300));
    p.assert_clean();
}

#[test]
fn syslog_header_tag_pid_and_separate_errors() {
    let syslog = Syslog::new();
    let p = Proxy::start(&format!(
        "global\n    log-tag edge\n\
defaults\n    mode http\n    timeout connect 200ms\n    timeout client 5s\n    timeout server 5s\n    retries 0\n\
frontend fe\n    bind 127.0.0.1:0\n    log {} local3 info\n    option httplog\n    option log-separate-errors\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{}\n",
        syslog.addr(),
        closed_port()
    ));
    let (st, _, _) = exchange(p.addr("fe"), b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(st, 503);
    let l = syslog.line();
    // local3 = 19: err 19*8+3 = 155; "local" format: no hostname, tag[pid].
    let head = format!(" edge[{}]: 127.0.0.1:", std::process::id());
    assert!(l.starts_with("<155>") && l.contains(&head), "{l}");
    p.assert_clean();
}

#[test]
fn legacy_connect_line_without_a_format() {
    let syslog = Syslog::new();
    let echo = Backend::echo();
    let p = Proxy::start(&format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    log {} format raw local0\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{}\n",
        syslog.addr(),
        echo.port()
    ));
    let c = TcpStream::connect(p.addr("fe")).expect("connect");
    let (local, fe) = (c.local_addr().expect("local"), p.addr("fe"));
    let l = syslog.line();
    assert_eq!(l, format!("Connect from {local} to {fe} (fe/TCP)"));
    drop(c);
    p.assert_clean();
}

#[test]
fn a_dead_log_sink_drops_and_counts_and_never_blocks() {
    // A unix datagram socket nobody reads: the logger blocks on it, lines pile up, drop.
    let dir = std::env::temp_dir().join(format!("ravelin-sink-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("log.sock");
    let _ = std::fs::remove_file(&path);
    let sink = std::os::unix::net::UnixDatagram::bind(&path).expect("bind sink");
    let srv = HttpBackend::start(ok("a", "hi"));
    let p = Proxy::start(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    log {} format raw local0\n    option httplog\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{}\n",
        path.display(),
        srv.port()
    ));
    let addr = p.addr("fe");
    let started = Instant::now();
    let mut c = TcpStream::connect(addr).expect("connect");
    let mut reader = std::io::BufReader::new(c.try_clone().expect("clone"));
    let n = 3000;
    for _ in 0..n {
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .expect("write");
        let (st, _, _) = crate::util::http_backend::read_response(&mut reader);
        assert_eq!(st, 200);
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    // Both handles of the client socket, so the proxy sees the close at once.
    drop(reader);
    drop(c);
    let counters = p.handle().shared().logs.clone();
    assert!(
        wait_until(Duration::from_secs(2), || counters.dropped.load(Relaxed)
            > 0),
        "dropped {} emitted {}",
        counters.dropped.load(Relaxed),
        counters.emitted.load(Relaxed)
    );
    // The proxy stayed fast: 3000 keep-alive requests well within the bound.
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
    p.assert_clean();
}

#[test]
fn server_state_changes_reach_the_backend_log() {
    let syslog = Syslog::new();
    let p = Proxy::start(&format!(
        "global\n    log {} format raw daemon\n\
defaults\n    mode tcp\n    log global\n    timeout connect 200ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{} check inter 100ms fall 1 rise 1\n",
        syslog.addr(),
        closed_port()
    ));
    // The frontend logs the legacy connect line only on traffic; the check fails at once.
    let l = syslog.line();
    assert!(
        l.starts_with("Server be/s1 is DOWN, reason: Layer4 connection problem"),
        "{l}"
    );
    let l = syslog.line();
    assert_eq!(l, "backend be has no server available!");
    p.assert_clean();
}

#[test]
fn header_captures_and_unique_id() {
    let syslog = Syslog::new();
    let srv = HttpBackend::start(ok("a", "hello"));
    let p = Proxy::start(&http_cfg(
        syslog.addr(),
        "    option httplog\n    capture request header Host len 5\n    capture request header User-Agent len 32\n    capture response header x-server len 10\n    unique-id-format %{+X}o\\ %ci:%cp_%rt:%pid\n    unique-id-header X-Unique-ID",
        "",
        &format!("    server s1 127.0.0.1:{}", srv.port()),
    ));
    let (st, _, _) = exchange(
        p.addr("fe"),
        b"GET / HTTP/1.1\r\nhost: example.com\r\nuser-agent: t|1\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(st, 200);
    let l = syslog.line();
    assert!(l.contains(" {examp|t|1} {a} \"GET / HTTP/1.1\""), "{l}");
    let seen = srv.requests();
    let uid = seen
        .first()
        .and_then(|s| s.header("x-unique-id"))
        .unwrap_or_default();
    // %{+X}o: hex client address and port, request counter 1, pid in hex.
    let want_tail = format!("_0001:{:04X}", std::process::id());
    assert!(
        uid.starts_with("7F000001:") && uid.ends_with(&want_tail),
        "{uid}"
    );
    p.assert_clean();
}
