//! ACL evaluation on hand-built requests.

use std::net::SocketAddr;

use super::*;
use crate::config::acl::{Side, add_acl_line, parse_condition};
use crate::http::{HeaderSpan, Method, RequestHead, Span};

/// Builds a head with spans over `buf` (a request line then `Name: value` lines).
pub(crate) fn head(buf: &[u8]) -> RequestHead {
    let mut h = RequestHead::default();
    let mut pos = 0;
    let mut first = true;
    for line in buf.split(|&b| b == b'\n') {
        let len = line.len();
        let l = line.strip_suffix(b"\r").unwrap_or(line);
        if first {
            let sp1 = l.iter().position(|&b| b == b' ').unwrap_or(0);
            let rest = l.get(sp1 + 1..).unwrap_or(&[]);
            let sp2 = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            h.method_span = Span::new(pos, pos + sp1);
            h.target = Span::new(pos + sp1 + 1, pos + sp1 + 1 + sp2);
            h.method = match l.get(..sp1) {
                Some(b"POST") => Method::Post,
                Some(b"GET") => Method::Get,
                _ => Method::Other,
            };
            if l.ends_with(b"HTTP/1.0") {
                h.version = crate::http::Version::Http10;
            }
            first = false;
        } else if let Some(c) = l.iter().position(|&b| b == b':') {
            let vstart = c
                + 1
                + l.get(c + 1..)
                    .map_or(0, |v| v.iter().take_while(|&&b| b == b' ').count());
            h.headers.push(HeaderSpan {
                name: Span::new(pos, pos + c),
                value: Span::new(pos + vstart, pos + l.len()),
            });
        }
        pos += len + 1;
    }
    h
}

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

fn w(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Evaluates `cond` (condition words after `if`) with `acls` lines defined, on `req`.
fn check(acls: &[&str], cond: &str, req: &str, src: &str) -> bool {
    let mut table = Vec::new();
    for a in acls {
        assert!(add_acl_line(&mut table, &w(a)).is_ok(), "{a}");
    }
    let c = match parse_condition(Polarity::If, &w(cond), &table, Side::Request, "t") {
        Ok(c) => c.cond,
        Err(e) => unreachable!("{cond}: {e}"),
    };
    let buf = req.as_bytes();
    let h = head(buf);
    let v = ReqView {
        buf,
        head: &h,
        src: addr(src),
        dst: addr("10.1.1.1:8080"),
        tls: None,
    };
    eval(&c, &v)
}

const REQ: &str = "GET /api/v1/items.json?id=42&x HTTP/1.1\r\nHost: WWW.Example.com:80\r\nAccept: text/html, application/json\r\nX-Empty:\r\n\r\n";

#[test]
fn path_criteria() {
    let c = |a: &str| check(&[a], "a", REQ, "192.168.1.5:1234");
    assert!(c("acl a path /api/v1/items.json"));
    assert!(!c("acl a path /API/v1/items.json"));
    assert!(c("acl a path -i /API/V1/items.json"));
    assert!(c("acl a path_beg /static /api"));
    assert!(c("acl a path_end .json"));
    assert!(!c("acl a path_end .js"));
    assert!(c("acl a path_sub v1"));
    assert!(c("acl a path_reg ^/api/v[0-9]+/"));
    assert!(c("acl a path_reg -i ^/API/"));
    assert!(!c("acl a path_reg ^/API/"));
    assert!(c("acl a path_dir v1"));
    assert!(!c("acl a path_dir v"));
    assert!(c("acl a path_len 18"));
    assert!(c("acl a path -m len 10:30"));
    assert!(c("acl a path -m beg /api"));
    assert!(c("acl a url_beg /api"));
    assert!(c("acl a url_sub id=42"));
    assert!(c("acl a url_param(id) 42"));
    assert!(c("acl a urlp(x) -m found"));
    assert!(!c("acl a url_param(y) -m found"));
    assert!(c("acl a url_param(id) -m int gt 40"));
    assert!(c("acl a query -m sub x"));
}

#[test]
fn header_criteria() {
    let c = |a: &str| check(&[a], "a", REQ, "192.168.1.5:1234");
    assert!(c("acl a hdr(host) -i www.example.com:80"));
    assert!(c("acl a hdr_dom(host) -i example.com"));
    assert!(!c("acl a hdr_dom(host) -i ample.com"));
    assert!(!c("acl a hdr_dom(host) example.com"));
    assert!(c("acl a hdr_beg(host) -i www."));
    assert!(c("acl a hdr_end(host) :80"));
    assert!(c("acl a hdr_sub(HOST) Example"));
    assert!(c("acl a hdr_reg(host) ^WWW\\."));
    // Comma-separated values are matched one by one.
    assert!(c("acl a hdr(accept) application/json"));
    assert!(!c("acl a hdr(accept) text/html,application/json"));
    assert!(c("acl a hdr_cnt(accept) 2"));
    assert!(c("acl a hdr(x-empty) -m found"));
    assert!(c("acl a hdr(x-empty) -m len 0"));
    assert!(!c("acl a hdr(nope) -m found"));
    assert!(c("acl a req.hdr(host) -m beg WWW"));
}

#[test]
fn method_addresses_ports() {
    let c = |a: &str, src: &str| check(&[a], "a", REQ, src);
    assert!(c("acl a method GET HEAD", "1.2.3.4:1"));
    assert!(!c("acl a method get", "1.2.3.4:1"));
    assert!(c("acl a method -i get", "1.2.3.4:1"));
    assert!(c("acl a src 10.0.0.0/8 192.168.0.0/16", "192.168.1.5:1"));
    assert!(!c("acl a src 10.0.0.0/8", "192.168.1.5:1"));
    assert!(c("acl a src 192.168.1.5", "[::ffff:192.168.1.5]:1"));
    assert!(c("acl a src 2001:db8::/32", "[2001:db8::1]:1"));
    assert!(!c("acl a src 2001:db8::/32", "[2001:db9::1]:1"));
    assert!(c("acl a src 10.0.0.1/255.0.0.0", "10.9.9.9:1"));
    assert!(c("acl a dst_port 80 8000:8090", "1.2.3.4:1"));
    assert!(c("acl a dst_port 8000-8090", "1.2.3.4:1"));
    assert!(!c("acl a dst_port lt 1024", "1.2.3.4:1"));
    assert!(c("acl a dst 10.1.1.1", "1.2.3.4:1"));
    assert!(c("acl a src_port ge 1", "1.2.3.4:1"));
    assert!(c("acl a dst_port -m str 8080", "1.2.3.4:1"));
    assert!(c("acl a src -m beg 192.", "192.168.1.5:1"));
}

#[test]
fn conditions_combine() {
    let acls = [
        "acl api path_beg /api",
        "acl json path_end .json",
        "acl admin path_beg /admin",
        "acl admin path_beg /api/v1",
    ];
    let c = |cond: &str| check(&acls, cond, REQ, "127.0.0.1:5");
    assert!(c("api json"));
    assert!(!c("api !json"));
    assert!(c("!api || json"));
    assert!(c("admin"), "same-name acl lines OR together");
    assert!(c("{ path_beg /nope } or api"));
    assert!(!c(""));
    assert!(c("TRUE LOCALHOST METH_GET HTTP_1.1 HTTP_URL_SLASH"));
    assert!(!c("FALSE"));
    assert!(!c("HTTP_1.0"));
    assert!(!c("HTTP_CONTENT"));
    assert!(!c("METH_POST"));
    let unless = {
        let buf = REQ.as_bytes();
        let h = head(buf);
        let v = ReqView {
            buf,
            head: &h,
            src: addr("1.1.1.1:1"),
            dst: addr("1.1.1.1:1"),
            tls: None,
        };
        let cond = Condition {
            polarity: Polarity::Unless,
            suites: vec![],
        };
        eval(&cond, &v)
    };
    assert!(unless, "an empty 'unless' is true");
}

#[test]
fn response_context() {
    let mut table = Vec::new();
    let _ = add_acl_line(&mut table, &w("acl err status 500:599"));
    let _ = add_acl_line(&mut table, &w("acl ct hdr(content-type) -m beg text/"));
    let cond =
        parse_condition(Polarity::If, &w("err ct"), &table, Side::Response, "t").map(|c| c.cond);
    let Ok(cond) = cond else {
        unreachable!("parse")
    };
    let buf = REQ.as_bytes();
    let h = head(buf);
    let v = ReqView {
        buf,
        head: &h,
        src: addr("1.1.1.1:1"),
        dst: addr("1.1.1.1:1"),
        tls: None,
    };
    let rbuf = b"Content-Type: text/plain";
    let rh = [HeaderSpan {
        name: Span::new(0, 12),
        value: Span::new(14, 24),
    }];
    assert!(eval_response(
        &cond,
        &v,
        RespView {
            status: 503,
            buf: rbuf,
            headers: &rh
        }
    ));
    assert!(!eval_response(
        &cond,
        &v,
        RespView {
            status: 200,
            buf: rbuf,
            headers: &rh
        }
    ));
    // Without a response, `status` has no sample.
    assert!(!eval(&cond, &v));
}

#[test]
fn hostile_requests_never_panic() {
    let acls = [
        "acl a hdr_dom(host) -i a",
        "acl b path_dir /",
        "acl c url_param(x) -m int 1",
        "acl d src 0.0.0.0/0",
        "acl e path_reg .*",
        "acl f hdr(host) -m len 0:",
    ];
    for req in [
        "",
        " ",
        "GET",
        "GET  HTTP/1.1",
        "\u{ff} \u{0}",
        "GET /?&&=&x HTTP/1.1\r\nHost:\r\n:\r\n\r\n",
        "GET http:// HTTP/1.1\r\nhost: ...\r\n",
    ] {
        let _ = check(&acls, "a || b || c || d || e || f", req, "[::1]:0");
    }
}
