//! HTTP mode on real sockets: keep-alive on both sides, framing, strict rejections that never
//! reach the server, generated statuses, header rules and routing.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::util::http_backend::{HttpBackend, exchange, ok, read_response};
use crate::util::proxy::Proxy;
use crate::util::{closed_port, wait_until};

fn cfg(servers: &str, fe_extra: &str, be_extra: &str) -> String {
    format!(
        "global\n    nbthread 1\n\
defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 2s\n\
frontend fe\n    bind 127.0.0.1:0\n{fe_extra}\n    default_backend be\n\
backend be\n{be_extra}\n{servers}\n"
    )
}

#[test]
fn keep_alive_reuses_both_sides() {
    let be = HttpBackend::start(ok("s1", "hello"));
    let proxy = Proxy::start(&cfg(
        &format!("    server s1 127.0.0.1:{}", be.port()),
        "",
        "",
    ));
    let s = TcpStream::connect(proxy.addr("fe")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    for i in 0..10 {
        w.write_all(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let (status, head, body) = read_response(&mut r);
        assert_eq!(status, 200, "{head}");
        assert_eq!(body, b"hello");
        assert!(head.contains("x-server: s1"));
    }
    assert_eq!(
        be.conns.load(Ordering::SeqCst),
        1,
        "one server connection for 10 requests"
    );
    assert_eq!(be.requests().len(), 10);
    drop((w, r));
    proxy.assert_clean();
}

#[test]
fn http_reuse_safe_vs_always_across_clients() {
    for (reuse, want) in [("safe", 3), ("always", 1)] {
        let be = HttpBackend::start(ok("s1", "x"));
        let proxy = Proxy::start(&cfg(
            &format!("    server s1 127.0.0.1:{}", be.port()),
            "",
            &format!("    http-reuse {reuse}"),
        ));
        for _ in 0..3 {
            let (status, _, _) = exchange(proxy.addr("fe"), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(status, 200);
            // The exchange is over on the proxy's side too (its server connection parked).
            assert!(wait_until(Duration::from_secs(2), || proxy
                .handle()
                .shared()
                .live_streams()
                == 0));
        }
        assert_eq!(be.conns.load(Ordering::SeqCst), want, "http-reuse {reuse}");
        proxy.assert_clean();
    }
}

#[test]
fn large_bodies_stream_both_framings() {
    // The backend answers with a digest of what it received.
    let be = HttpBackend::start(Arc::new(|seen| {
        let sum: u64 = seen.body.iter().map(|&b| b as u64).sum();
        let body = format!("{} {}", seen.body.len(), sum);
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }));
    let proxy = Proxy::start(&cfg(
        &format!("    server s1 127.0.0.1:{}", be.port()),
        "",
        "",
    ));
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = data.iter().map(|&b| b as u64).sum();
    let want = format!("{} {sum}", data.len());
    let mut req = format!(
        "POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .into_bytes();
    req.extend_from_slice(&data);
    let (status, _, body) = exchange(proxy.addr("fe"), &req);
    assert_eq!(
        (status, String::from_utf8_lossy(&body).to_string()),
        (200, want.clone())
    );
    let mut req =
        b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in data.chunks(7000) {
        req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        req.extend_from_slice(c);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (status, _, body) = exchange(proxy.addr("fe"), &req);
    assert_eq!(
        (status, String::from_utf8_lossy(&body).to_string()),
        (200, want)
    );
    proxy.assert_clean();
}

#[test]
fn large_chunked_response_is_forwarded_intact() {
    let be = HttpBackend::start(Arc::new(|_| {
        let mut v = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for i in 0..100u32 {
            let chunk = vec![(i % 256) as u8; 3000];
            v.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            v.extend_from_slice(&chunk);
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(b"0\r\n\r\n");
        v
    }));
    let proxy = Proxy::start(&cfg(
        &format!("    server s1 127.0.0.1:{}", be.port()),
        "",
        "",
    ));
    let (status, _, body) = exchange(proxy.addr("fe"), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    assert_eq!(body.len(), 300_000);
    assert!(
        body.chunks(3000)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == (i % 256) as u8))
    );
    proxy.assert_clean();
}

#[test]
fn smuggling_and_malformed_requests_never_reach_the_server() {
    let be = HttpBackend::start(ok("s1", "x"));
    let proxy = Proxy::start(&cfg(
        &format!("    server s1 127.0.0.1:{}", be.port()),
        "",
        "",
    ));
    let cases: &[(&[u8], u16)] = &[
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GE\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    ];
    for (raw, want) in cases {
        let (status, head, _) = exchange(proxy.addr("fe"), raw);
        assert_eq!(
            status,
            *want,
            "{:?} -> {head}",
            String::from_utf8_lossy(raw)
        );
    }
    // A bad chunk size after a valid head: 400 and the connection closed.
    let (status, _, _) = exchange(
        proxy.addr("fe"),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    assert!(status == 400 || status == 0, "{status}");
    // Too large: 414 for the request line, 431 for the headers.
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000));
    assert_eq!(exchange(proxy.addr("fe"), long_uri.as_bytes()).0, 414);
    let big_headers = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(400)
    );
    assert_eq!(exchange(proxy.addr("fe"), big_headers.as_bytes()).0, 431);
    let many = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..150)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect::<String>()
    );
    assert_eq!(exchange(proxy.addr("fe"), many.as_bytes()).0, 431);
    assert!(
        be.requests().iter().all(|r| !r.head.starts_with("POST")),
        "{:?}",
        be.requests()
    );
    assert_eq!(be.requests().len(), 0, "nothing reached the server");
    let errors = proxy.handle().shared().frontends[0]
        .req_errors
        .load(Ordering::Relaxed);
    assert!(errors >= 13, "request errors counted: {errors}");
    proxy.assert_clean();
}

#[test]
fn bad_response_is_502_and_dead_server_503() {
    let be = HttpBackend::start(Arc::new(|_| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec()
    }));
    let proxy = Proxy::start(&cfg(
        &format!("    server s1 127.0.0.1:{}", be.port()),
        "",
        "",
    ));
    assert_eq!(
        exchange(proxy.addr("fe"), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").0,
        502
    );
    drop(proxy);
    let proxy = Proxy::start(&cfg(
        &format!("    server s1 127.0.0.1:{}", closed_port()),
        "",
        "    retries 1",
    ));
    let t0 = Instant::now();
    let (status, head, _) = exchange(proxy.addr("fe"), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 503, "{head}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    proxy.assert_clean();
}

#[test]
fn slow_server_is_504_and_slow_client_408() {
    let be = HttpBackend::start(Arc::new(|_| {
        std::thread::sleep(Duration::from_millis(1500));
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec()
    }));
    let c = cfg(&format!("    server s1 127.0.0.1:{}", be.port()), "", "")
        .replace("timeout server 5s", "timeout server 400ms")
        .replace("timeout http-request 2s", "timeout http-request 300ms");
    let proxy = Proxy::start(&c);
    let t0 = Instant::now();
    assert_eq!(
        exchange(proxy.addr("fe"), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").0,
        504
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(380) && took < Duration::from_millis(1400),
        "{took:?}"
    );
    // A client that sends half a head: 408 after timeout http-request.
    let mut s = TcpStream::connect(proxy.addr("fe")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let t0 = Instant::now();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    assert!(
        resp.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t0.elapsed()
    );
    // The slow server answers, late, the request the proxy gave up on (504) before the end.
    assert!(wait_until(Duration::from_secs(3), || be.requests().len() == 1));
    proxy.assert_clean();
}

#[test]
fn forwardfor_and_header_rules() {
    let be = HttpBackend::start(ok("s1", "x"));
    let fe_rules = "    option forwardfor\n    option originalto\n    http-request set-header X-Set yes\n    http-request add-header X-Add one\n    http-request del-header X-Drop\n    http-request deny if { path /denied }\n    http-request return status 200 content-type text/plain string hi if { path /ret }\n    http-request redirect location /new code 301 if { path /old }\n    http-response set-header X-Resp r1";
    let proxy = Proxy::start(&cfg(
        &format!("    server s1 127.0.0.1:{}", be.port()),
        fe_rules,
        "",
    ));
    let (status, head, _) = exchange(
        proxy.addr("fe"),
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Set: no\r\nX-Drop: d\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(head.contains("x-resp: r1"), "{head}");
    let seen = be.requests().pop().unwrap();
    assert_eq!(seen.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.header("x-original-to").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.header("x-set").as_deref(), Some("yes"));
    assert_eq!(seen.header("x-add").as_deref(), Some("one"));
    assert_eq!(seen.header("x-drop"), None);
    let (status, _, _) = exchange(proxy.addr("fe"), b"GET /denied HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 403);
    let (status, head, body) = exchange(proxy.addr("fe"), b"GET /ret HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((status, body.as_slice()), (200, &b"hi"[..]), "{head}");
    let (status, head, _) = exchange(proxy.addr("fe"), b"GET /old HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 301);
    assert!(head.contains("location: /new"), "{head}");
    assert_eq!(
        be.requests().len(),
        1,
        "denied/returned/redirected requests never reached the server"
    );
    proxy.assert_clean();
}

#[test]
fn acl_routing_and_monitor_uri() {
    let (a, b) = (
        HttpBackend::start(ok("a", "A")),
        HttpBackend::start(ok("b", "B")),
    );
    let c = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    monitor-uri /health\n    acl is_api path_beg /api\n    use_backend api if is_api\n    use_backend api if {{ hdr(x-route) -i API }}\n    default_backend web\n\
backend web\n    server w 127.0.0.1:{}\n\
backend api\n    server a 127.0.0.1:{}\n",
        a.port(),
        b.port()
    );
    let proxy = Proxy::start(&c);
    assert_eq!(
        exchange(proxy.addr("fe"), b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n").2,
        b"A"
    );
    assert_eq!(
        exchange(proxy.addr("fe"), b"GET /api/v1 HTTP/1.1\r\nHost: x\r\n\r\n").2,
        b"B"
    );
    assert_eq!(
        exchange(
            proxy.addr("fe"),
            b"GET /x HTTP/1.1\r\nHost: x\r\nX-Route: api\r\n\r\n"
        )
        .2,
        b"B"
    );
    assert_eq!(
        exchange(proxy.addr("fe"), b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").0,
        200
    );
    proxy.assert_clean();
}

#[test]
fn hash_keys_send_the_same_key_to_the_same_server() {
    for algo in ["uri", "url_param id", "hdr(x-user)"] {
        let (a, b, c) = (
            HttpBackend::start(ok("a", "a")),
            HttpBackend::start(ok("b", "b")),
            HttpBackend::start(ok("c", "c")),
        );
        let servers = format!(
            "    server a 127.0.0.1:{}\n    server b 127.0.0.1:{}\n    server c 127.0.0.1:{}",
            a.port(),
            b.port(),
            c.port()
        );
        let proxy = Proxy::start(&cfg(&servers, "", &format!("    balance {algo}")));
        let mut spread = std::collections::HashSet::new();
        for key in 0..12 {
            let req = format!("GET /p{key}?id={key} HTTP/1.1\r\nHost: x\r\nX-User: u{key}\r\n\r\n");
            let first = exchange(proxy.addr("fe"), req.as_bytes()).2;
            for _ in 0..3 {
                assert_eq!(
                    exchange(proxy.addr("fe"), req.as_bytes()).2,
                    first,
                    "{algo} key {key}"
                );
            }
            spread.insert(first);
        }
        assert!(spread.len() >= 2, "{algo}: keys spread over servers");
        proxy.assert_clean();
    }
}

#[test]
fn websocket_upgrade_becomes_a_tunnel() {
    // The server answers 101 then echoes raw bytes.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        // Read the request head up to its empty line.
        loop {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut r, &mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
        }
        w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => w.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let proxy = Proxy::start(&cfg(&format!("    server s1 127.0.0.1:{port}"), "", ""));
    let s = TcpStream::connect(proxy.addr("fe")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\n\r\n").unwrap();
    let (status, head, _) = read_response(&mut r);
    assert_eq!(status, 101, "{head}");
    w.write_all(b"frame-1").unwrap();
    let mut got = [0u8; 7];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"frame-1");
    drop((w, r));
    proxy.assert_clean();
}
