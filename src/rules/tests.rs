//! Rule application on hand-built requests and responses.

use super::*;
use crate::acl::tests_support::{addr, head};
use crate::config::acl::{Side, add_acl_line, parse_condition};
use crate::config::rules::parse_log_format;
use crate::http::Span;

fn w(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn lf(s: &str) -> LogFormat {
    parse_log_format(s, Side::Request, true).unwrap_or_default()
}

fn rule(action: Action, cond: Option<&str>) -> HttpRule {
    let mut acls = Vec::new();
    let _ = add_acl_line(&mut acls, &w("acl is_api path_beg /api"));
    let cond = cond.and_then(|c| {
        parse_condition(crate::acl::Polarity::If, &w(c), &acls, Side::Response, "t")
            .ok()
            .map(|p| p.cond)
    });
    HttpRule {
        action,
        cond,
        origin: Origin::default(),
    }
}

fn set(n: &str, v: &str) -> Action {
    Action::SetHeader {
        name: n.as_bytes().into(),
        value: lf(v),
    }
}
fn add(n: &str, v: &str) -> Action {
    Action::AddHeader {
        name: n.as_bytes().into(),
        value: lf(v),
    }
}
fn del(n: &str) -> Action {
    Action::DelHeader {
        name: n.as_bytes().into(),
        how: NameMatch::Str,
    }
}

const REQ: &str = "GET /api/x?q=1 HTTP/1.1\r\nHost: h.example\r\nX-A: 1\r\nX-B: keep\r\nx-a: 2\r\nCookie: foo=bar; sid=7\r\n\r\n";

/// Applies `rules` and renders the outgoing header block the way the connection code would.
fn run(rules: &[HttpRule]) -> (String, String) {
    let buf = REQ.as_bytes();
    let h = head(buf);
    let v = ReqView {
        buf,
        head: &h,
        src: addr("192.0.2.7:5555"),
        dst: addr("10.0.0.1:80"),
        tls: None,
    };
    let mut edits = HeaderEdits::new();
    let verdict = apply_request(rules, &v, &mut edits);
    let mut out = String::new();
    for hs in &h.headers {
        let (n, val) = (hs.name.get(buf), hs.value.get(buf));
        match edits.rewrite(n, val) {
            HeaderFate::Keep => out.push_str(&format!(
                "{}: {}|",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(val)
            )),
            HeaderFate::Drop => {}
            HeaderFate::Replace(r) => out.push_str(&format!(
                "{}: {}|",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(r)
            )),
        }
    }
    for (n, val) in edits.additions() {
        out.push_str(&format!(
            "{}: {}|",
            String::from_utf8_lossy(n),
            String::from_utf8_lossy(val)
        ));
    }
    let v = match verdict {
        Verdict::Continue => "continue".to_string(),
        Verdict::Deny { status } => format!("deny {status}"),
        Verdict::Return(r) => format!("return {}", r.status),
        Verdict::Redirect { code } => format!(
            "redirect {code} {}",
            String::from_utf8_lossy(edits.location())
        ),
        Verdict::Service(s) => format!("service {s:?}"),
    };
    (out, v)
}

#[test]
fn set_add_del_semantics() {
    let (h, v) = run(&[rule(set("x-a", "new"), None)]);
    assert_eq!(
        h,
        "Host: h.example|X-B: keep|Cookie: foo=bar; sid=7|x-a: new|"
    );
    assert_eq!(v, "continue");
    let (h, _) = run(&[rule(add("X-A", "3"), None)]);
    assert_eq!(
        h,
        "Host: h.example|X-A: 1|X-B: keep|x-a: 2|Cookie: foo=bar; sid=7|X-A: 3|"
    );
    let (h, _) = run(&[
        rule(add("X-C", "1"), None),
        rule(del("x-c"), None),
        rule(del("X-B"), None),
    ]);
    assert_eq!(h, "Host: h.example|X-A: 1|x-a: 2|Cookie: foo=bar; sid=7|");
    let (h, _) = run(&[
        rule(add("X-C", "1"), None),
        rule(set("X-C", "2"), None),
        rule(add("x-c", "3"), None),
    ]);
    assert_eq!(
        h,
        "Host: h.example|X-A: 1|X-B: keep|x-a: 2|Cookie: foo=bar; sid=7|X-C: 2|x-c: 3|"
    );
    let prefix = HttpRule {
        action: Action::DelHeader {
            name: b"x-".to_vec().into(),
            how: NameMatch::Beg,
        },
        cond: None,
        origin: Origin::default(),
    };
    let (h, _) = run(&[prefix]);
    assert_eq!(h, "Host: h.example|Cookie: foo=bar; sid=7|");
}

#[test]
fn values_expand_fetches() {
    let (h, _) = run(&[rule(
        set(
            "X-Info",
            "%[src]:%[dst_port] %[method] %[path] h=%[req.hdr(host)] 100%%",
        ),
        None,
    )]);
    assert!(
        h.ends_with("X-Info: 192.0.2.7:80 GET /api/x h=h.example 100%|"),
        "{h}"
    );
    assert!(parse_log_format("%[foo]", Side::Request, false).is_err());
    assert!(parse_log_format("%[req.hdr(host),lower]", Side::Request, false).is_err());
    assert!(parse_log_format("%ci", Side::Request, false).is_err());
    assert!(parse_log_format("%[src", Side::Request, false).is_err());
    assert!(parse_log_format("%[status]", Side::Request, false).is_err());
}

#[test]
fn replace_header_uses_groups() {
    let re = |s: &str| crate::config::acl::compile_regex(s, false).ok();
    let Some(r1) = re("foo=([^;]*);(.*)") else {
        unreachable!()
    };
    let Some(r2) = re("^(.*)$") else {
        unreachable!()
    };
    let rules = [
        rule(
            Action::ReplaceHeader {
                name: b"cookie".to_vec().into(),
                regex: r1,
                with: lf("foo=\\1;ip=%[src];\\2"),
            },
            None,
        ),
        rule(
            Action::ReplaceHeader {
                name: b"cookie".to_vec().into(),
                regex: r2,
                with: lf("[\\1]"),
            },
            None,
        ),
    ];
    let (h, _) = run(&rules);
    assert!(h.contains("Cookie: [foo=bar;ip=192.0.2.7; sid=7]|"), "{h}");
    let Some(r3) = re("^nomatch") else {
        unreachable!()
    };
    let (h, _) = run(&[rule(
        Action::ReplaceHeader {
            name: b"x-a".to_vec().into(),
            regex: r3,
            with: lf("z"),
        },
        None,
    )]);
    assert!(h.contains("X-A: 1|") && h.contains("x-a: 2|"));
}

#[test]
fn conditions_and_final_verdicts() {
    let deny = |s| Action::Deny {
        status: s,
        reply: None,
    };
    let (h, v) = run(&[
        rule(set("X-1", "a"), Some("!is_api")),
        rule(deny(403), Some("is_api")),
        rule(deny(404), None),
    ]);
    assert_eq!(v, "deny 403", "the first deny wins");
    assert!(!h.contains("X-1"));
    let (_, v) = run(&[rule(Action::Allow, None), rule(deny(403), None)]);
    assert_eq!(v, "continue");
    let spec = ReturnSpec {
        status: 200,
        content_type: Some("text/plain".into()),
        body: ReplyBody::Payload(Arc::from(&b"ok"[..])),
        headers: vec![],
    };
    let (_, v) = run(&[
        rule(Action::Return(spec), Some("is_api")),
        rule(deny(403), None),
    ]);
    assert_eq!(v, "return 200");
    let redirect = |kind, value: &str, drop_query| {
        Action::Redirect(RedirectSpec {
            kind,
            value: lf(value),
            code: 301,
            drop_query,
            append_slash: false,
        })
    };
    let (_, v) = run(&[rule(redirect(RedirectKind::Scheme, "https", false), None)]);
    assert_eq!(v, "redirect 301 https://h.example/api/x?q=1");
    let (_, v) = run(&[rule(redirect(RedirectKind::Prefix, "/v2", true), None)]);
    assert_eq!(v, "redirect 301 /v2/api/x");
    let (_, v) = run(&[rule(
        redirect(RedirectKind::Location, "/moved", false),
        None,
    )]);
    assert_eq!(v, "redirect 301 /moved");
}

#[test]
fn response_rules_see_status() {
    let buf = REQ.as_bytes();
    let h = head(buf);
    let v = ReqView {
        buf,
        head: &h,
        src: addr("192.0.2.7:5555"),
        dst: addr("10.0.0.1:80"),
        tls: None,
    };
    let rbuf = b"Server: x";
    let rh = [crate::http::HeaderSpan {
        name: Span::new(0, 6),
        value: Span::new(8, 9),
    }];
    let rules = [
        rule(del("server"), Some("{ status 500:599 }")),
        rule(
            Action::AddHeader {
                name: b"X-S".to_vec().into(),
                value: parse_log_format("%[status]", Side::Response, false).unwrap_or_default(),
            },
            None,
        ),
    ];
    let mut e = HeaderEdits::new();
    let resp = RespView {
        status: 503,
        buf: rbuf,
        headers: &rh,
    };
    assert_eq!(apply_response(&rules, &v, resp, &mut e), Verdict::Continue);
    assert!(e.deletes(b"Server"));
    assert_eq!(
        e.additions().collect::<Vec<_>>(),
        vec![(&b"X-S"[..], &b"503"[..])]
    );
    e.clear();
    let resp = RespView {
        status: 200,
        buf: rbuf,
        headers: &rh,
    };
    let _ = apply_response(&rules, &v, resp, &mut e);
    assert!(!e.deletes(b"server"));
}
