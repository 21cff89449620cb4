//! End-to-end tests of the HTTP keywords (text in, model or messages out). Every expected
//! message was produced by `haproxy -c` 2.6.12 on the same lines.

use super::*;
use std::time::Duration;

use crate::model::{Balance, ConnMode, HttpReuse, RestrictHdrNames};

fn load(text: &str) -> Result<Loaded, ConfigErrors> {
    let env = |_: &str| None;
    let mut d = Diagnostics::default();
    load_sources(&[("t.cfg".to_string(), text.to_string())], &env, &mut d)
}

fn alerts(text: &str) -> Vec<String> {
    load(text).err().map(|e| e.alerts).unwrap_or_default()
}

fn model(text: &str) -> (crate::model::Model, Vec<String>) {
    match load(text) {
        Ok(l) => (l.model, l.warnings),
        Err(e) => unreachable!("unexpected alerts: {:#?}", e.alerts),
    }
}

const HEAD: &str = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n";

/// `line` alone in a frontend (line 9 of the file), as `/tmp/acl/one.sh` does with haproxy.
fn one(line: &str) -> Vec<String> {
    alerts(&format!(
        "{HEAD}frontend fe\n    bind :18080\n    default_backend be\n    {line}\nbackend be\n    server s1 127.0.0.1:8000\n"
    ))
}

#[test]
fn http_settings_inherit_from_defaults() {
    let (m, _) = model(&format!(
        "global\n    tune.http.maxhdr 64\n{HEAD}    option http-server-close\n    option forwardfor except 10.0.0.0/8 header X-Real-IP if-none\n    timeout http-request 5s\n    timeout http-keep-alive 2s\n    http-reuse always\n    monitor-uri /health\n    option http-buffer-request\n    option http-restrict-req-hdr-names delete\nfrontend fe\n    bind :1\n    option httpclose\n    default_backend be\nbackend be\n    no option http-server-close\n    option abortonclose\n    option originalto\n    balance uri whole len 10 depth 3\n    server s1 127.0.0.1:8000 pool-max-conn -1 pool-purge-delay 10s\n    server s2 127.0.0.1:8001 pool-max-conn 7\n"
    ));
    assert_eq!(m.global.http_maxhdr, 64);
    let (Some(fe), Some(be)) = (m.frontends.first(), m.backends.first()) else {
        unreachable!("one frontend, one backend")
    };
    assert_eq!(fe.http.conn_mode, Some(ConnMode::Close));
    assert_eq!(
        be.http.conn_mode, None,
        "`no option` resets the inherited mode"
    );
    let ff = fe.http.forwardfor.clone().unwrap_or_else(|| unreachable!());
    assert_eq!(ff.header, "X-Real-IP");
    assert!(ff.if_none);
    assert_eq!(ff.except.map(|(_, m)| m), Some(8));
    assert_eq!(fe.timeouts.http_request, Some(Duration::from_secs(5)));
    assert_eq!(be.timeouts.http_keep_alive, Some(Duration::from_secs(2)));
    assert_eq!(be.http_reuse, HttpReuse::Always);
    assert_eq!(fe.monitor_uri.as_deref(), Some("/health"));
    assert!(fe.http.buffer_request && be.http.abortonclose && !fe.http.abortonclose);
    assert_eq!(
        be.http.originalto.as_ref().map(|o| o.header.as_str()),
        Some("X-Original-To")
    );
    assert_eq!(fe.restrict_req_hdr_names, RestrictHdrNames::Delete);
    assert_eq!(
        be.balance,
        Balance::Uri {
            whole: true,
            path_only: false,
            len: 10,
            depth: 3
        }
    );
    let s: Vec<_> = be
        .servers
        .iter()
        .map(|s| (s.pool_max_conn, s.pool_purge_delay))
        .collect();
    assert_eq!(
        s,
        vec![
            (None, Duration::from_secs(10)),
            (Some(7), Duration::from_secs(5))
        ]
    );
}

#[test]
fn option_and_keyword_errors_match_haproxy() {
    let a = alerts(&format!(
        "{HEAD}    option forceclose\n    option http-tunnel\nfrontend fe\n    bind :18080\n    option abortonclose\n    http-reuse always\n    timeout http-request 5x\n    option forwardfor bogus\n    option originalto if-none\n    option forwardfor header\n    option forwardfor except\n    monitor-uri\n    monitor-uri /a /b\n    default_backend be\nbackend be\n    http-reuse foo\n    http-reuse never x\n    server s2 127.0.0.1:8000 pool-max-conn -2\n    server s4 127.0.0.1:8000 pool-purge-delay x\n    server s5 127.0.0.1:8000 pool-max-conn\n    monitor-uri /x\n    option http-keep-alive x\n    balance uri len x\n    balance url_param\n    balance url_param id foo\n    balance hdr(\n    balance hdr(Host) foo\n    option http-restrict-req-hdr-names foo\n"
    ));
    assert_eq!(
        a,
        vec![
            "parsing [t.cfg:6]: option 'forceclose' is not supported any more since HAProxy 2.0, please just remove it, or use 'option httpclose' if absolutely needed.",
            "parsing [t.cfg:7]: option 'http-tunnel' is not supported any more since HAProxy 2.1, please just remove it, it shouldn't be needed.",
            "parsing [t.cfg:12] : unexpected character 'x' in 'timeout http-request'",
            "parsing [t.cfg:13] : 'option forwardfor' only supports optional values: 'except', 'header' and 'if-none'.",
            "parsing [t.cfg:14] : 'option originalto' only supports optional values: 'except' and 'header'.",
            "parsing [t.cfg:15] : 'option forwardfor header' expects <header_name> as argument.",
            "parsing [t.cfg:16] : 'option forwardfor except' expects <address>[/mask] as argument.",
            "parsing [t.cfg:17] : 'monitor-uri' expects an URI.",
            "parsing [t.cfg:18] : 'monitor-uri' cannot handle unexpected argument '/b'.",
            "parsing [t.cfg:21] : 'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.",
            "parsing [t.cfg:22] : 'http-reuse never' cannot handle unexpected argument 'x'.",
            "[t.cfg:23] : 'server be/s2' : 'pool-max-conn' must be >= -1.",
            "[t.cfg:24] : 'server be/s4' : unexpected character 'x' in argument to <pool-purge-delay>..",
            "[t.cfg:25] : 'server be/s5' : 'pool-max-conn' expects <value> as argument..",
            "parsing [t.cfg:27] : 'option http-keep-alive' cannot handle unexpected argument 'x'.",
            "parsing [t.cfg:28] : balance uri : 'len' expects a positive integer (got 'x').",
            "parsing [t.cfg:29] : balance url_param requires an URL parameter name.",
            "parsing [t.cfg:30] : balance url_param only accepts 'check_post' modifier (got 'foo').",
            "parsing [t.cfg:31] : balance hdr requires an http header field name.",
            "parsing [t.cfg:32] : balance hdr(Host) only accepts 'use_domain_only' modifier (got 'foo').",
            "parsing [t.cfg:33] : invalid parameter 'foo'. option 'http-restrict-req-hdr-names' expects 'preserve', 'reject' or 'delete' option.",
        ]
    );
    let w = load(&format!(
        "{HEAD}frontend fe\n    bind :1\n    option abortonclose\n    http-reuse always\n    default_backend be\nbackend be\n    monitor-uri /x\n    server s 127.0.0.1:1\n"
    ))
    .map(|l| l.warnings)
    .unwrap_or_default();
    assert_eq!(
        w,
        vec![
            "parsing [t.cfg:8] : 'abortonclose' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:9] : 'http-reuse' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:12] : 'monitor-uri' ignored because backend 'be' has no frontend capability.",
        ]
    );
}

#[test]
fn global_maxhdr_errors_match_haproxy() {
    let a = alerts(
        "global\n    tune.http.maxhdr 0\n    tune.http.maxhdr 40000\n    tune.http.maxhdr x\n    tune.http.maxhdr\n    tune.http.maxhdr 10 20\n",
    );
    assert_eq!(
        a,
        vec![
            "parsing [t.cfg:2] : 'tune.http.maxhdr' expects a numeric value between 1 and 32767",
            "parsing [t.cfg:3] : 'tune.http.maxhdr' expects a numeric value between 1 and 32767",
            "parsing [t.cfg:4] : 'tune.http.maxhdr' expects a numeric value between 1 and 32767",
            "parsing [t.cfg:5] : 'tune.http.maxhdr' expects an integer argument.",
            "parsing [t.cfg:6] : 'tune.http.maxhdr' cannot handle unexpected argument '20'.",
        ]
    );
}

#[test]
fn rule_errors_match_haproxy() {
    let cases: &[(&str, &str)] = &[
        (
            "http-request set-header",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : expects exactly 2 arguments.",
        ),
        (
            "http-request set-header X-A v foo",
            "parsing [t.cfg:9]: 'http-request set-header' expects either 'if' or 'unless' followed by a condition but found 'foo'.",
        ),
        (
            "http-request set-header X-A v if nope",
            "parsing [t.cfg:9] : error detected while parsing an 'http-request set-header' condition : no such ACL : 'nope'.",
        ),
        (
            "http-request del-header",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request del-header' rule : expects at least 1 argument.",
        ),
        (
            "http-request replace-header X-A re",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request replace-header' rule : expects exactly 3 arguments.",
        ),
        (
            "http-request deny deny_status",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request deny' rule : 'status' expects <status_code> as argument.",
        ),
        (
            "http-request deny deny_status 999",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request deny' rule : Unexpected status code '999'.",
        ),
        (
            "http-request deny deny_status 418",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request deny' rule : status code '418' not handled by default with 'default-errorfiles' argument..",
        ),
        (
            "http-request deny deny_status 404 foo",
            "parsing [t.cfg:9]: 'http-request deny' expects either 'if' or 'unless' followed by a condition but found 'foo'.",
        ),
        (
            "http-request return status 99",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request return' rule : Unexpected status code '99'.",
        ),
        (
            "http-request return status 200 string",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request return' rule : 'string' expects <str> as argument.",
        ),
        (
            "http-request return status 200 string x",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request return' rule : a content type must be defined when non-empty payload is configured.",
        ),
        (
            "http-request return status 204 content-type text/plain string x",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request return' rule : No body expected for 204 responses.",
        ),
        (
            "http-request return status 200 file /nonexistent",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request return' rule : error opening file '/nonexistent'.",
        ),
        (
            "http-request redirect",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request redirect' rule : redirection type expected ('prefix', 'location', or 'scheme').",
        ),
        (
            "http-request redirect location",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request redirect' rule : missing argument for 'location'.",
        ),
        (
            "http-request redirect location /x code 305",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request redirect' rule : 'code': unsupported HTTP code '305' (must be one of 301, 302, 303, 307 or 308).",
        ),
        (
            "http-request redirect scheme https code 301 foo",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request redirect' rule : expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was 'foo').",
        ),
        (
            "http-request wait-for-body",
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request wait-for-body' rule : expects time <time> [ at-least <bytes> ].",
        ),
        (
            "use_backend be if nope",
            "parsing [t.cfg:9] : error detected while parsing switching rule : no such ACL : 'nope'.",
        ),
        (
            "use_backend be if { path /x",
            "parsing [t.cfg:9] : error detected while parsing switching rule : missing closing '}' in condition.",
        ),
        (
            "acl a6 path -m foo /x",
            "parsing [t.cfg:9] : error detected while parsing ACL 'a6' : unknown matching method 'foo' when parsing ACL expression.",
        ),
        (
            "capture request header Host",
            "parsing [t.cfg:9] : 'capture request' expects 'header' <header_name> 'len' <len>.",
        ),
        (
            "errorfiles",
            "parsing [t.cfg:9] : errorfiles : expects <name> as argument.",
        ),
        (
            "errorfiles nope",
            "proxy 'fe': unknown http-errors section 'nope' (at t.cfg:9).",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(one(line), vec![want.to_string()], "{line}");
    }
    let unknown = one("http-request foo");
    assert!(unknown.first().is_some_and(|m| {
        m.starts_with("parsing [t.cfg:9]: 'http-request' expects 'wait-for-handshake', ")
            && m.ends_with("but got 'foo'.")
    }));
    let missing = one("http-after-response");
    assert!(
        missing
            .first()
            .is_some_and(|m| m.ends_with("but got '' (missing argument)."))
    );
    for ok in [
        "http-request del-header X-A -m beg",
        "http-request set-header X %[src]",
        "http-response set-header X %[status]",
        "http-response deny if { status 500 }",
        "http-after-response set-header X y",
        "http-request redirect prefix /p code 302 drop-query",
        "http-request wait-for-body time 1s at-least 1k",
        "capture response header X len 5",
        "unique-id-header X-Unique-ID",
        "acl p dst_port 8000:8080 :90 100: ge 80 lt 5",
    ] {
        assert_eq!(one(ok), Vec::<String>::new(), "{ok}");
    }
}

#[test]
fn anonymous_defaults_refuse_acls_and_rules() {
    let a = alerts(&format!(
        "{HEAD}    acl dacl path /x\n    http-request deny if {{ path /y }}\nfrontend fe\n    bind :1\n    http-request deny if dacl\n    default_backend be\nbackend be\n    server s 127.0.0.1:1\n"
    ));
    assert_eq!(
        a,
        vec![
            "parsing [t.cfg:6] : 'acl' not allowed in anonymous 'defaults' section.",
            "parsing [t.cfg:7] : 'http-request' not allowed in anonymous 'defaults' section.",
            "parsing [t.cfg:10] : error detected while parsing an 'http-request deny' condition : no such ACL : 'dacl'.",
        ]
    );
}

#[test]
fn rules_and_switching_reach_the_model() {
    let (m, warnings) = model(&format!(
        "{HEAD}frontend fe\n    bind :1\n    acl api path_beg /api\n    acl api path_beg /v2\n    http-request deny if {{ src 10.0.0.0/8 }}\n    http-request set-header X-Src %[src] if api\n    http-response del-header Server\n    http-after-response set-header X-Y y\n    use_backend b_api if api\n    use_backend b_st unless api\n    use_backend b_st if {{ status 200 }}\n    default_backend b_st\n    capture request header Host len 20\nbackend b_api\n    server s 127.0.0.1:1\nbackend b_st\n    server s 127.0.0.1:2\n"
    ));
    assert_eq!(
        warnings,
        vec!["parsing [t.cfg:16] : anonymous acl will never match because it uses keyword 'status' which is incompatible with 'frontend use-backend rule'".to_string()]
    );
    let Some(fe) = m.frontends.first() else {
        unreachable!()
    };
    assert_eq!(fe.rules.request.len(), 2);
    assert_eq!(fe.rules.response.len(), 1);
    assert_eq!(fe.rules.after_response.len(), 1);
    assert_eq!(fe.use_backends.len(), 3);
    assert_eq!(
        fe.backend().map(|b| b.0),
        Some(1),
        "TCP view: no unconditional rule, default_backend"
    );
    assert_eq!(fe.captures.len(), 1);
}

#[test]
fn http_errors_sections_and_error_pages() {
    let dir = std::env::temp_dir().join(format!("ravelin-cfg-errors-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let f = dir.join("503.http");
    let _ = std::fs::write(&f, b"HTTP/1.0 503 Service Unavailable\r\n\r\ndown\n");
    let f = f.display();
    let (m, _) = model(&format!(
        "http-errors he\n    errorfile 503 {f}\n    errorfile 404 {f}\n{HEAD}    errorfile 500 {f}\nfrontend fe\n    bind :1\n    errorfiles he 404\n    http-error status 403 content-type text/plain string no\n    default_backend be\nbackend be\n    errorfiles he\n    server s 127.0.0.1:1\n"
    ));
    let (Some(fe), Some(be)) = (m.frontends.first(), m.backends.first()) else {
        unreachable!()
    };
    let codes = |p: &crate::model::ErrorPages| {
        let mut c: Vec<u16> = p.pages.iter().map(|(c, _)| *c).collect();
        c.sort_unstable();
        c
    };
    assert_eq!(codes(&fe.errors), vec![403, 404, 500]);
    assert_eq!(codes(&be.errors), vec![404, 500, 503]);
    let a = alerts("http-errors he\n    errorfile 999 /x\n    foo\n    errorfile\nhttp-errors\n");
    assert_eq!(
        a,
        vec![
            "parsing [t.cfg:2] : errorfile : status code '999' not handled.",
            "parsing [t.cfg:3] : unknown keyword 'foo' in 'http-errors' section",
            "parsing [t.cfg:4] : errorfile: expects <status_code> and <file> as arguments.",
            "parsing [t.cfg:5] : missing name for http-errors section.",
        ]
    );
}

#[test]
fn stats_keywords_match_haproxy() {
    // Messages from `haproxy -c` 2.6.12, one line at a time.
    assert_eq!(
        one("stats"),
        [
            "parsing [t.cfg:9]: missing keyword in 'stats', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'."
        ]
    );
    assert_eq!(
        one("stats foo"),
        [
            "parsing [t.cfg:9]: unknown stats parameter 'foo', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'."
        ]
    );
    assert_eq!(
        one("stats uri"),
        ["parsing [t.cfg:9] : 'uri' needs an URI prefix."]
    );
    assert_eq!(
        one("stats auth"),
        ["parsing [t.cfg:9] : 'auth' needs a user:password account."]
    );
    assert_eq!(
        one("stats realm"),
        ["parsing [t.cfg:9] : 'realm' needs an realm name."]
    );
    assert_eq!(
        one("stats refresh x"),
        ["parsing [t.cfg:9]: unexpected character 'x' in argument to stats refresh interval."]
    );
    assert_eq!(
        one("stats admin TRUE"),
        [
            "parsing [t.cfg:9] : 'stats admin' requires either 'if' or 'unless' followed by a condition."
        ]
    );
    assert_eq!(
        one("stats scope"),
        ["parsing [t.cfg:9] : 'scope' needs a proxy name."]
    );
    assert_eq!(
        one("stats scope be"),
        [
            "parsing [t.cfg:9] : 'stats scope' is a HAProxy keyword that Ravelin does not support yet."
        ]
    );
    assert_eq!(
        alerts(&format!(
            "{HEAD}    stats admin if TRUE\nbackend be\n    server s 127.0.0.1:1\n"
        )),
        ["parsing [t.cfg:6]: 'stats admin' not allowed in 'defaults' section."]
    );
    assert_eq!(
        one("http-request use-service foo"),
        [
            "parsing [t.cfg:9] : error detected in frontend 'fe' while parsing 'http-request use-service' rule : 'foo' unknown service name.."
        ]
    );
    assert!(one("http-request use-service prometheus-exporter if { path /metrics }").is_empty());
}

#[test]
fn stats_settings_inherit_and_need_http_mode() {
    let (m, w) = model(&format!(
        "{HEAD}    stats uri /x\n    stats refresh 10s\n\
frontend f\n    mode tcp\n    bind :1\n    stats enable\n    default_backend t\n\
backend t\n    mode tcp\n    server s 127.0.0.1:1\n\
listen l\n    bind :2\n    stats realm R\\ S\n    stats auth a:b\n    stats auth c:d\n    stats hide-version\n    stats admin if TRUE\n    server s 127.0.0.1:1\n\
backend b\n    stats show-node n1\n    server s 127.0.0.1:1\n\
backend plain\n    mode http\n    server s 127.0.0.1:1\n"
    ));
    assert_eq!(
        w,
        [
            "'stats' statement ignored for frontend 'f' as it requires HTTP mode.",
            "'stats' statement ignored for backend 't' as it requires HTTP mode."
        ]
    );
    assert!(m.frontends[0].stats.is_none());
    let l = m.frontends[1].stats.as_ref().expect("listen stats");
    assert_eq!(l.uri, "/x");
    assert_eq!(l.refresh, Some(10));
    assert_eq!(l.realm.as_deref(), Some("R S"));
    assert_eq!(l.auth, [("a".into(), "b".into()), ("c".into(), "d".into())]);
    assert!(l.hide_version);
    assert_eq!(l.admin.len(), 1);
    // The listen's backend half does not serve it a second time.
    assert!(m.backends[0].stats.is_none());
    assert!(m.backends[1].stats.is_none(), "a tcp backend");
    let b = m.backends[2].stats.as_ref().expect("backend stats");
    assert_eq!(b.show_node.as_deref(), Some("n1"));
    assert_eq!(b.uri, "/x", "inherited from defaults");
    // Defaults' stats apply to every HTTP proxy, as HAProxy's uri_auth.
    assert!(m.backends[3].stats.is_some());
}
