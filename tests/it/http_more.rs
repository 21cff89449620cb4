//! More HTTP mode on real sockets: interim responses, pipelining, connection modes
//! (`http-server-close`, `httpclose`, HTTP/1.0 keep-alive), `http-after-response` on generated
//! responses, `errorfile`, and redirects, checked against what HAProxy 2.6 produces.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::util::closed_port;
use crate::util::http_backend::{HttpBackend, Respond, Seen, exchange, ok, read_response};
use crate::util::proxy::Proxy;

/// One frontend `fe` sending to backend `be`; extra lines for defaults, frontend and backend.
fn cfg(defaults_extra: &str, fe_extra: &str, servers: &str) -> String {
    format!(
        "global\n    nbthread 1\n\
defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 2s\n{defaults_extra}\n\
frontend fe\n    bind 127.0.0.1:0\n{fe_extra}\n    default_backend be\n\
backend be\n{servers}\n"
    )
}

/// The proxy of `cfg` with one server, `be`.
fn start_with(be: &HttpBackend, defaults_extra: &str, fe_extra: &str) -> Proxy {
    Proxy::start(&cfg(
        defaults_extra,
        fe_extra,
        &format!("    server s1 127.0.0.1:{}", be.port()),
    ))
}

/// A backend answering 200 with the request path as the body.
fn echo_path() -> Respond {
    Arc::new(|seen: &Seen| {
        let path = seen
            .head
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{path}",
            path.len()
        )
        .into_bytes()
    })
}

fn path_of(seen: &Seen) -> String {
    seen.head
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string()
}

/// A header's value in a response head (the first one, case-insensitive name).
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Connects with 10 s read/write timeouts; returns the writer and a buffered reader.
fn open(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    (s.try_clone().unwrap(), BufReader::new(s))
}

/// Asserts the peer closed: the next read returns EOF (with nothing buffered before it).
fn assert_eof(r: &mut BufReader<TcpStream>) {
    let mut rest = Vec::new();
    let n = r
        .read_to_end(&mut rest)
        .expect("EOF, not a timeout or reset");
    assert_eq!(
        n,
        0,
        "nothing after the response: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

/// Asserts the connection is still open: no EOF and no data within `wait`.
fn assert_open(r: &mut BufReader<TcpStream>, wait: Duration) {
    assert!(r.buffer().is_empty(), "unexpected bytes buffered");
    r.get_ref().set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 64];
    match r.get_mut().read(&mut b) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Ok(0) => panic!("the proxy closed the client connection"),
        Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&b[..n])),
        Err(e) => panic!("connection error: {e}"),
    }
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
}

#[test]
fn expect_100_continue_is_forwarded() {
    let be = HttpBackend::start(Arc::new(|seen: &Seen| {
        let body = format!("got:{}", String::from_utf8_lossy(&seen.body));
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }));
    let proxy = start_with(&be, "", "");
    let (mut w, mut r) = open(proxy.addr("fe"));
    w.write_all(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    // The interim response, before any body byte was sent.
    let mut interim = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).unwrap();
        assert!(n > 0, "EOF before the interim response: {interim:?}");
        interim.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    w.write_all(b"hello").unwrap();
    let (status, head, body) = read_response(&mut r);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, b"got:hello");
    let seen = be.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body, b"hello");
    assert_eq!(
        seen[0].header("expect").as_deref(),
        Some("100-continue"),
        "the Expect header reaches the server"
    );
    drop((w, r));
    proxy.assert_clean();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let be = HttpBackend::start(echo_path());
    let proxy = start_with(&be, "", "");
    let (mut w, mut r) = open(proxy.addr("fe"));
    w.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    for want in ["/a", "/b", "/c"] {
        let (status, head, body) = read_response(&mut r);
        assert_eq!(status, 200, "{want}: {head}");
        assert_eq!(String::from_utf8_lossy(&body), want);
    }
    assert_open(&mut r, Duration::from_millis(200));
    let paths: Vec<String> = be.requests().iter().map(path_of).collect();
    assert_eq!(paths, ["/a", "/b", "/c"]);
    drop((w, r));
    proxy.assert_clean();
}

#[test]
fn server_close_and_httpclose_connection_counts() {
    // http-server-close: the client connection is kept, one server connection per request.
    let be = HttpBackend::start(echo_path());
    let proxy = start_with(&be, "    option http-server-close", "");
    let (mut w, mut r) = open(proxy.addr("fe"));
    for i in 0..3 {
        w.write_all(format!("GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let (status, head, body) = read_response(&mut r);
        assert_eq!(status, 200, "{head}");
        assert_eq!(String::from_utf8_lossy(&body), format!("/r{i}"));
        assert_eq!(header(&head, "connection"), None, "{head}");
    }
    assert_open(&mut r, Duration::from_millis(200));
    assert_eq!(be.conns.load(Ordering::SeqCst), 3, "one server conn each");
    let seen = be.requests();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        // HAProxy tells the server it will close.
        assert_eq!(
            s.header("connection").as_deref(),
            Some("close"),
            "{}",
            s.head
        );
    }
    drop((w, r));
    proxy.assert_clean();
    drop(proxy);

    // httpclose: the proxy closes the client connection after the first response.
    let be = HttpBackend::start(echo_path());
    let proxy = start_with(&be, "    option httpclose", "");
    let (mut w, mut r) = open(proxy.addr("fe"));
    w.write_all(b"GET /only HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, head, body) = read_response(&mut r);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, b"/only");
    assert_eq!(
        header(&head, "connection").as_deref(),
        Some("close"),
        "{head}"
    );
    assert_eof(&mut r);
    assert_eq!(be.conns.load(Ordering::SeqCst), 1);
    let seen = be.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("connection").as_deref(),
        Some("close"),
        "{}",
        seen[0].head
    );
    drop((w, r));
    proxy.assert_clean();
}

#[test]
fn keep_alive_http10_client() {
    let be = HttpBackend::start(echo_path());
    let proxy = start_with(&be, "", "");
    // HTTP/1.0 without Connection: one response, then the proxy closes.
    let (mut w, mut r) = open(proxy.addr("fe"));
    w.write_all(b"GET /one HTTP/1.0\r\n\r\n").unwrap();
    let (status, head, body) = read_response(&mut r);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, b"/one");
    assert_eq!(
        header(&head, "connection").as_deref(),
        Some("close"),
        "{head}"
    );
    assert_eof(&mut r);
    drop((w, r));

    // HTTP/1.0 with Connection: keep-alive: the connection serves a second request.
    let (mut w, mut r) = open(proxy.addr("fe"));
    for path in ["/ka1", "/ka2"] {
        w.write_all(format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes())
            .unwrap();
        let (status, head, body) = read_response(&mut r);
        assert_eq!(status, 200, "{path}: {head}");
        assert_eq!(String::from_utf8_lossy(&body), path);
        assert_eq!(
            header(&head, "connection").as_deref(),
            Some("keep-alive"),
            "{head}"
        );
    }
    assert_open(&mut r, Duration::from_millis(200));
    let paths: Vec<String> = be.requests().iter().map(path_of).collect();
    assert_eq!(paths, ["/one", "/ka1", "/ka2"]);
    drop((w, r));
    proxy.assert_clean();
}

/// Unique scratch directory under the system temp dir, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "ravelin-it-more-{}-{tag}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn generated_responses_get_after_response_headers_and_errorfiles() {
    let be = HttpBackend::start(ok("s1", "live"));
    let dir = Scratch::new("errorfile");
    let page_body = "custom 503 page\nline 2\n";
    let page = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Custom: 1\r\n\r\n{page_body}",
        page_body.len()
    );
    let file = dir.0.join("503.http");
    std::fs::write(&file, &page).unwrap();
    let dead = closed_port();
    let c = format!(
        "global\n    nbthread 1\n\
defaults\n    mode http\n    timeout connect 200ms\n    timeout client 5s\n    timeout server 5s\n    retries 0\n\
frontend fe\n    bind 127.0.0.1:0\n    http-after-response set-header X-After yes\n    http-request deny if {{ path /deny }}\n    use_backend dead if {{ path /dead }}\n    use_backend deadef if {{ path /deadef }}\n    default_backend be\n\
frontend fe2\n    bind 127.0.0.1:0\n    http-after-response set-header X-After yes\n    errorfile 503 {file}\n    default_backend dead\n\
backend be\n    server s1 127.0.0.1:{live}\n\
backend dead\n    server s1 127.0.0.1:{dead}\n\
backend deadef\n    errorfile 503 {file}\n    server s1 127.0.0.1:{dead}\n",
        file = file.display(),
        live = be.port(),
    );
    let proxy = Proxy::start(&c);
    let get = |fe: &str, path: &str| {
        exchange(
            proxy.addr(fe),
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
    };

    let (status, head, body) = get("fe", "/");
    assert_eq!((status, body.as_slice()), (200, &b"live"[..]), "{head}");
    assert_eq!(header(&head, "x-after").as_deref(), Some("yes"), "{head}");

    let (status, head, _) = get("fe", "/deny");
    assert_eq!(status, 403, "{head}");
    assert_eq!(header(&head, "x-after").as_deref(), Some("yes"), "{head}");

    let (status, head, body) = get("fe", "/dead");
    assert_eq!(status, 503, "{head}");
    assert_eq!(header(&head, "x-after").as_deref(), Some("yes"), "{head}");
    assert_ne!(body, page_body.as_bytes(), "the default 503 page here");

    // errorfile in the backend, then in the frontend: the file's body byte for byte, its
    // headers kept, and http-after-response still applied (as HAProxy does).
    for (fe, path) in [("fe", "/deadef"), ("fe2", "/")] {
        let (status, head, body) = get(fe, path);
        assert_eq!(status, 503, "{fe} {path}: {head}");
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert_eq!(
            String::from_utf8_lossy(&body),
            page_body,
            "{fe} {path}: {head}"
        );
        assert_eq!(header(&head, "x-custom").as_deref(), Some("1"), "{head}");
        assert_eq!(
            header(&head, "content-type").as_deref(),
            Some("text/plain"),
            "{head}"
        );
        assert_eq!(header(&head, "x-after").as_deref(), Some("yes"), "{head}");
    }

    let paths: Vec<String> = be.requests().iter().map(path_of).collect();
    assert_eq!(paths, ["/"], "only the first request reached the server");
    proxy.assert_clean();
    drop(proxy);
    drop(dir);
    assert!(!file.exists());
}

#[test]
fn redirect_rules() {
    let be = HttpBackend::start(ok("s1", "x"));
    let proxy = start_with(
        &be,
        "",
        "    http-request redirect location /new code 301 if { path /old }\n    http-request redirect scheme https if { hdr(host) -i secure.test }\n    http-request redirect prefix https://example.test",
    );
    let get = |path: &str, host: &str| {
        exchange(
            proxy.addr("fe"),
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        )
    };
    // What HAProxy 2.6 answers, header by header (its status lines and its cache-control on
    // 302 but not on 301).
    let check = |path: &str, host: &str, code: u16, reason: &str, loc: &str, no_cache: bool| {
        let (status, head, body) = get(path, host);
        assert_eq!(status, code, "{path} {host}: {head}");
        assert!(
            head.starts_with(&format!("HTTP/1.1 {code} {reason}\r\n")),
            "{head}"
        );
        assert_eq!(header(&head, "location").as_deref(), Some(loc), "{head}");
        assert_eq!(
            header(&head, "content-length").as_deref(),
            Some("0"),
            "{head}"
        );
        assert!(body.is_empty());
        assert_eq!(
            header(&head, "cache-control").as_deref(),
            no_cache.then_some("no-cache"),
            "{head}"
        );
    };
    // location: the exact value, the query string not appended.
    check("/old", "x", 301, "Moved Permanently", "/new", false);
    check("/old?z=1", "x", 301, "Moved Permanently", "/new", false);
    // scheme: scheme + "://" + the Host header as sent + the URI with its query string.
    check(
        "/p/x?q=1",
        "Secure.Test",
        302,
        "Found",
        "https://Secure.Test/p/x?q=1",
        true,
    );
    // prefix: prefix + the URI with its query string.
    check(
        "/some/path?a=b",
        "other",
        302,
        "Found",
        "https://example.test/some/path?a=b",
        true,
    );
    check("/", "other", 302, "Found", "https://example.test/", true);
    assert_eq!(be.requests().len(), 0, "the server received nothing");
    assert_eq!(be.conns.load(Ordering::SeqCst), 0);
    proxy.assert_clean();
}

/// A backend answering 200 with the request body echoed.
fn echo_body() -> Respond {
    Arc::new(|seen: &Seen| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            seen.body.len()
        )
        .into_bytes();
        r.extend_from_slice(&seen.body);
        r
    })
}

#[test]
fn buffer_request_answers_100_continue_and_waits_for_the_body() {
    let be = HttpBackend::start(echo_body());
    let proxy = Proxy::start(&cfg(
        "",
        "",
        &format!(
            "    option http-buffer-request\n    server s1 127.0.0.1:{}",
            be.port()
        ),
    ));
    let (mut w, mut r) = open(proxy.addr("fe"));
    w.write_all(
        b"POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    )
    .unwrap();
    // The proxy itself answers the interim response; no server is contacted yet.
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "\r\n");
    w.write_all(b"01234").unwrap();
    // Checking that nothing happens (no server contacted) for a while.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        be.conns.load(Ordering::SeqCst),
        0,
        "half a body: still waiting"
    );
    w.write_all(b"56789").unwrap();
    let (status, head, body) = read_response(&mut r);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, b"0123456789");
    let seen = be.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("expect"),
        None,
        "answered here, not forwarded"
    );
    drop((w, r));
    proxy.assert_clean();
}

#[test]
fn wait_for_body_times_out_with_408_or_goes_on_at_least() {
    let be = HttpBackend::start(echo_body());
    let proxy = start_with(
        &be,
        "",
        "    http-request wait-for-body time 300ms at-least 4 if { method POST }",
    );
    // Three bytes of ten, never more: 408 after the wait, nothing reaches the server.
    let (mut w, mut r) = open(proxy.addr("fe"));
    let start = std::time::Instant::now();
    w.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let (status, head, _) = read_response(&mut r);
    let took = start.elapsed();
    assert_eq!(status, 408, "{head}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(be.conns.load(Ordering::SeqCst), 0);
    drop((w, r));
    // At least four bytes: the request goes on; the server gets the rest as it comes.
    let (mut w, mut r) = open(proxy.addr("fe"));
    w.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde")
        .unwrap();
    assert!(
        crate::util::wait_until(Duration::from_secs(2), || be.conns.load(Ordering::SeqCst)
            == 1),
        "the server is contacted once at-least bytes arrived"
    );
    w.write_all(b"fghij").unwrap();
    let (status, head, body) = read_response(&mut r);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, b"abcdefghij");
    drop((w, r));
    proxy.assert_clean();
}

#[test]
fn abortonclose_drops_a_request_whose_client_left_while_connecting() {
    for (abort, want_503) in [("", true), ("    option abortonclose\n", false)] {
        let proxy = Proxy::start(&cfg(
            "    retries 3\n    timeout connect 300ms",
            "",
            &format!("{abort}    server s1 127.0.0.1:{}", closed_port()),
        ));
        let (mut w, mut r) = open(proxy.addr("fe"));
        w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // The request is in: the proxy is connecting (and retrying) when the client leaves.
        assert!(crate::util::wait_until(Duration::from_secs(2), || proxy
            .frontend("fe")
            .requests
            .load(Ordering::SeqCst)
            == 1));
        w.shutdown(std::net::Shutdown::Write).unwrap();
        let start = std::time::Instant::now();
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        let text = String::from_utf8_lossy(&got);
        if want_503 {
            assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        } else {
            assert!(got.is_empty(), "aborted without an answer: {text}");
            assert!(
                start.elapsed() < Duration::from_millis(250),
                "{:?}",
                start.elapsed()
            );
        }
        drop((w, r));
        proxy.assert_clean();
    }
}

#[test]
fn restrict_req_hdr_names_delete_and_reject() {
    let be = HttpBackend::start(ok("s1", "x"));
    let req = b"GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded-For: 1.2.3.4\r\nX-Ok: 1\r\n\r\n";
    let proxy = Proxy::start(&cfg(
        "",
        "",
        &format!(
            "    option http-restrict-req-hdr-names delete\n    server s1 127.0.0.1:{}",
            be.port()
        ),
    ));
    let (status, head, _) = exchange(proxy.addr("fe"), req);
    assert_eq!(status, 200, "{head}");
    let seen = be.requests();
    assert_eq!(seen[0].header("x_forwarded-for"), None);
    assert_eq!(seen[0].header("x-ok").as_deref(), Some("1"));
    proxy.assert_clean();
    drop(proxy);
    let proxy = start_with(&be, "", "    option http-restrict-req-hdr-names reject");
    let (status, head, _) = exchange(proxy.addr("fe"), req);
    assert_eq!(status, 403, "{head}");
    assert_eq!(
        be.requests().len(),
        1,
        "the rejected request never reached the server"
    );
    proxy.assert_clean();
}
