//! Cookie persistence round trips on real sockets (`cookie NAME insert|rewrite|prefix`): the
//! client's cookie sends it back to its server, the proxy's cookie never reaches the server in
//! `indirect` mode, and a server that cannot take the request loses its clients as HAProxy
//! documents.

use std::net::SocketAddr;

use crate::util::http_backend::{HttpBackend, Respond, exchange};
use crate::util::proxy::Proxy;
use ravelin::server::Admin;

/// A backend naming itself in `x-server`, optionally setting a cookie. Its responses carry
/// a validator (`etag`), so they are cacheable, which is when `nocache` matters.
fn named(name: &'static str, set_cookie: Option<&'static str>) -> HttpBackend {
    let respond: Respond = std::sync::Arc::new(move |_| {
        let extra = set_cookie.map_or(String::from("etag: \"v1\"\r\n"), |c| {
            format!("etag: \"v1\"\r\nset-cookie: {c}\r\n")
        });
        format!("HTTP/1.1 200 OK\r\nx-server: {name}\r\n{extra}content-length: 2\r\n\r\nok")
            .into_bytes()
    });
    HttpBackend::start(respond)
}

fn proxy(cookie: &str, extra: &str, a: &HttpBackend, b: &HttpBackend) -> Proxy {
    Proxy::start(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    balance roundrobin\n    {cookie}\n{extra}\
\x20   server s1 127.0.0.1:{} cookie A\n    server s2 127.0.0.1:{} cookie B\n",
        a.port(),
        b.port()
    ))
}

fn get(addr: SocketAddr, cookie: Option<&str>) -> (u16, String) {
    let c = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{c}Connection: close\r\n\r\n");
    let (status, head, _) = exchange(addr, raw.as_bytes());
    (status, head.to_ascii_lowercase())
}

fn server_of(head: &str) -> &str {
    head.lines()
        .find_map(|l| l.strip_prefix("x-server: "))
        .unwrap_or("?")
}

#[test]
fn insert_indirect_nocache_round_trip() {
    let (a, b) = (named("a", None), named("b", None));
    let p = proxy("cookie SRV insert indirect nocache", "", &a, &b);
    let addr = p.addr("fe");
    // No cookie: balanced, and told where it went.
    let (status, head) = get(addr, None);
    assert_eq!(status, 200);
    let first = server_of(&head).to_string();
    let value = if first == "a" { "A" } else { "B" };
    assert!(
        head.contains(&format!(
            "set-cookie: srv={}; path=/\r\n",
            value.to_lowercase()
        )),
        "{head}"
    );
    assert!(
        head.contains("cache-control: private"),
        "nocache on a cacheable response: {head}"
    );
    // With the cookie: always the same server, nothing inserted again.
    for _ in 0..6 {
        let (_, head) = get(addr, Some(&format!("SRV={value}; lang=en")));
        assert_eq!(server_of(&head), first);
        assert!(!head.contains("set-cookie"), "valid cookie kept: {head}");
    }
    // An unknown value is ignored: balanced, and a fresh cookie inserted.
    let (_, head) = get(addr, Some("SRV=Z"));
    assert!(head.contains("set-cookie: srv="), "{head}");
    // indirect: the servers never saw the persistence cookie, only the others.
    let seen: Vec<_> = a.requests().into_iter().chain(b.requests()).collect();
    assert!(
        seen.iter().all(|s| !s.head.contains("SRV=")),
        "indirect leaked"
    );
    assert!(
        seen.iter()
            .any(|s| s.header("cookie").as_deref() == Some("lang=en"))
    );
    p.assert_clean();
}

#[test]
fn rewrite_and_prefix_round_trips() {
    // rewrite: the server's own cookie value becomes the server's cookie value.
    let (a, b) = (
        named("a", Some("JSESSIONID=xyz; path=/")),
        named("b", Some("JSESSIONID=xyz; path=/")),
    );
    let p = proxy("cookie JSESSIONID rewrite", "", &a, &b);
    let addr = p.addr("fe");
    let (_, head) = get(addr, None);
    let first = server_of(&head).to_string();
    let value = if first == "a" { "A" } else { "B" };
    assert!(
        head.contains(&format!(
            "set-cookie: jsessionid={}; path=/",
            value.to_lowercase()
        )),
        "{head}"
    );
    for _ in 0..4 {
        let (_, head) = get(addr, Some(&format!("JSESSIONID={value}")));
        assert_eq!(server_of(&head), first);
    }
    drop(p);

    // prefix: the server's value is kept behind `VALUE~`, and stripped on the way back.
    let (a, b) = (
        named("a", Some("JSESSIONID=sa; path=/")),
        named("b", Some("JSESSIONID=sb; path=/")),
    );
    let p = proxy("cookie JSESSIONID prefix", "", &a, &b);
    let addr = p.addr("fe");
    let (_, head) = get(addr, None);
    let first = server_of(&head).to_string();
    let (value, own) = if first == "a" {
        ("A", "sa")
    } else {
        ("B", "sb")
    };
    assert!(
        head.contains(&format!(
            "set-cookie: jsessionid={}~{own}; path=/",
            value.to_lowercase()
        )),
        "{head}"
    );
    for _ in 0..4 {
        let (_, head) = get(addr, Some(&format!("JSESSIONID={value}~{own}")));
        assert_eq!(server_of(&head), first);
    }
    let srv = if first == "a" { &a } else { &b };
    let last = srv.requests().pop().unwrap();
    assert_eq!(
        last.header("cookie").as_deref(),
        Some(&*format!("JSESSIONID={own}"))
    );
    p.assert_clean();
}

#[test]
fn draining_server_keeps_its_clients_and_a_down_one_loses_them() {
    let (a, b) = (named("a", None), named("b", None));
    let p = proxy("cookie SRV insert indirect", "", &a, &b);
    let addr = p.addr("fe");
    let shared = p.handle().shared().clone();
    let now = || shared.ms(std::time::Instant::now());
    // Draining: no new balanced traffic, but its cookie holders still reach it.
    p.server("be", "s1").set_admin(Admin::Drain, now());
    for _ in 0..4 {
        assert_eq!(server_of(&get(addr, None).1), "b");
        let (_, head) = get(addr, Some("SRV=A"));
        assert_eq!(
            server_of(&head),
            "a",
            "persistent client of a draining server"
        );
    }
    p.server("be", "s1").set_admin(Admin::Ready, now());
    // Down: the cookie is ignored (redispatched) and a new one inserted.
    p.server("be", "s1").set_up(false, now());
    let (_, head) = get(addr, Some("SRV=A"));
    assert_eq!(server_of(&head), "b");
    assert!(head.contains("set-cookie: srv=b"), "{head}");
    p.assert_clean();
}
