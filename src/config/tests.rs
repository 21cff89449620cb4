//! End-to-end tests of the configuration pipeline (text in, model or messages out).
//! Kept out of `mod.rs` because they outgrow it; each case mirrors a `haproxy -c` run.

use super::*;
use std::time::Duration;

use crate::hash::{HashFunction, HashMethod, HashType};

use crate::model::{Balance, BindAddr, Mode, PortRule, ServerAddr};

fn env(name: &str) -> Option<String> {
    match name {
        "LISTEN_FD" => Some("5".into()),
        "PORT" => Some("8443".into()),
        _ => None,
    }
}

/// Loads `text` as `t.cfg`; returns the model or (alerts, warnings).
fn load(text: &str) -> Result<Loaded, ConfigErrors> {
    let mut d = Diagnostics::default();
    load_sources(&[("t.cfg".to_string(), text.to_string())], &env, &mut d)
}

fn alerts(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.alerts,
    }
}

fn model(text: &str) -> crate::model::Model {
    match load(text) {
        Ok(l) => l.model,
        Err(e) => {
            assert!(e.alerts.is_empty(), "unexpected alerts: {:#?}", e.alerts);
            crate::model::Model::default()
        }
    }
}

const TIMEOUTS: &str = "    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n";

#[test]
fn reference_bad_cfg_matches_haproxy() {
    let text = "global\n    maxconn abc\n    nbthred 2\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30x\nfrontend fe\n    bind 127.0.0.1:99999\n    default_backend nope\n    use_backend bee\n    blah foo\nbackend be\n    balance roundrobn\n    server s1 127.0.0.1:8000 weight 300\n    server s1 127.0.0.1:8001\n    server s2 127.0.0.1:8002 bogus\n    option redispatch\n    stick-table type ip size 1m\n";
    let a = alerts(text);
    let expected = [
        // HAProxy accepts `maxconn abc` as 0; Ravelin is stricter.
        "parsing [t.cfg:2] : 'maxconn' expects an integer argument.",
        "parsing [t.cfg:3] : unknown keyword 'nbthred' in 'global' section; did you mean 'nbthread' maybe ?",
        "parsing [t.cfg:7] : unexpected character 'x' in 'timeout client'",
        "parsing [t.cfg:9] : 'bind' : invalid port '99999'",
        "parsing [t.cfg:12] : unknown keyword 'blah' in 'frontend' section",
        "parsing [t.cfg:14] : balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.",
        "[t.cfg:15] : 'server be/s1' : weight of server s1 is not within 0 and 256 (300)..",
        "[t.cfg:17] : 'server be/s2' : unknown keyword 'bogus'.",
        "parsing [t.cfg:19] : 'stick-table' is a HAProxy keyword that Ravelin does not support yet.",
        "Proxy 'fe': unable to find required default_backend: 'nope'.",
        "Proxy 'fe': unable to find required use_backend: 'bee'.",
        "frontend 'fe' has no 'bind' directive. Please declare it as a backend if this was intended.",
    ];
    assert_eq!(a, expected);
    match load(text) {
        Err(e) => assert_eq!(e.files, vec!["t.cfg".to_string()]),
        Ok(_) => unreachable!("bad config loaded"),
    }
}

#[test]
fn reference_w_cfg_matches_haproxy() {
    let text = "global\n    nbthread 2\n    cpu-map auto:1/1-2 0-1\nfrontend fe\n    mode tcp\n    bind 127.0.0.1:18000\n    default_backend be\nbackend be\n    server s1 127.0.0.1:8000\n    server s1 127.0.0.1:8001\nlisten li\n    bind :18001\n    server a 127.0.0.1\n    use_backend missing\nfrontend fe2\n    mode tcp\n    bind 127.0.0.1:18003\n";
    let Err(e) = load(text) else {
        unreachable!("must fail")
    };
    assert_eq!(
        e.alerts,
        vec![
            "parsing [t.cfg:10] : backend 'be', another server named 's1' was already defined at line 9, please use distinct names.",
            "Proxy 'li': unable to find required use_backend: 'missing'.",
        ]
    );
    let timeouts = |kind: &str, name: &str| {
        format!(
            "missing timeouts for {kind} '{name}'.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'."
        )
    };
    assert_eq!(
        e.warnings,
        vec![
            timeouts("frontend", "fe"),
            timeouts("backend", "be"),
            timeouts("proxy", "li"),
            timeouts("frontend", "fe2")
        ]
    );
}

#[test]
fn good_config_builds_the_model() {
    let text = format!(
        "global\n    maxconn 5000\n    nbthread 2\n    cpu-map auto:1/1-2 0-1\ndefaults\n    mode tcp\n{TIMEOUTS}    retries 2\n    option redispatch\nfrontend fe\n    bind 127.0.0.1:18000,127.0.0.1:18010-18011 name f backlog 100\n    maxconn 100\n    use_backend be\n    default_backend be2\nbackend be\n    balance leastconn\n    option allbackups\n    no option splice-auto\n    server s1 127.0.0.1:8000 weight 5 check inter 3s\n    server s2 localhost:+1 backup\nbackend be2\n    server s unix@/tmp/s.sock\n"
    );
    let m = model(&text);
    assert_eq!(m.global.maxconn, Some(5000));
    let cpus: Vec<(u16, Vec<u16>)> = m
        .global
        .cpu_map
        .iter()
        .map(|c| (c.thread, c.cpus.clone()))
        .collect();
    assert_eq!(cpus, vec![(0, vec![0]), (1, vec![1])]);
    let fe = m.frontends.first().cloned();
    let Some(fe) = fe else {
        unreachable!("one frontend")
    };
    assert_eq!(fe.binds.len(), 3);
    assert_eq!(
        fe.binds.get(2).map(|b| b.addr.clone()),
        Some(BindAddr::Inet(
            "127.0.0.1:18011"
                .parse()
                .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into())
        ))
    );
    assert_eq!(fe.maxconn, Some(100));
    assert_eq!(
        fe.use_backends
            .iter()
            .map(|b| b.backend.0)
            .collect::<Vec<_>>(),
        vec![0]
    );
    assert_eq!(fe.default_backend.map(|b| b.0), Some(1));
    assert_eq!(fe.backend().map(|b| b.0), Some(0));
    assert_eq!(fe.timeouts.client, Some(Duration::from_secs(1)));
    let be = m.backends.first().cloned();
    let Some(be) = be else {
        unreachable!("backends")
    };
    assert_eq!(be.balance, Balance::LeastConn);
    assert_eq!(be.retries, 2);
    assert_eq!(be.redispatch, Some(-1));
    assert!(be.allbackups);
    assert_eq!(be.splice.auto, Some(false));
    assert_eq!(be.servers.len(), 2);
    let s2 = be.servers.get(1).cloned();
    assert_eq!(
        s2.map(|s| (s.addr, s.backup)),
        Some((
            ServerAddr::Inet {
                ip: [127, 0, 0, 1].into(),
                port: PortRule::Offset(1)
            },
            true
        ))
    );
    assert_eq!(
        m.backends
            .get(1)
            .and_then(|b| b.servers.first())
            .map(|s| s.addr.clone()),
        Some(ServerAddr::Unix("/tmp/s.sock".into()))
    );
}

#[test]
fn anonymous_defaults_reset_and_named_inherit() {
    let text = format!(
        "defaults\n    mode http\n{TIMEOUTS}    retries 7\ndefaults\n{TIMEOUTS}backend b1\n    server s 1.1.1.1:80\ndefaults base\n    mode http\n{TIMEOUTS}    balance source\ndefaults child from base\n    retries 9\nbackend b2 from child\n    server s 1.1.1.1:80\nbackend b3 from base\n    server s 1.1.1.1:80\n"
    );
    let m = model(&text);
    let get = |i: usize| {
        m.backends
            .get(i)
            .map(|b| (b.mode, b.retries, b.balance.clone()))
    };
    // The second anonymous defaults starts clean: tcp, 3 retries.
    assert_eq!(get(0), Some((Mode::Tcp, 3, Balance::RoundRobin)));
    assert_eq!(get(1), Some((Mode::Http, 9, Balance::Source)));
    assert_eq!(get(2), Some((Mode::Http, 3, Balance::Source)));
}

#[test]
fn listen_yields_frontend_and_backend() {
    let text = format!(
        "defaults\n{TIMEOUTS}listen li\n    bind :8080\n    server s 127.0.0.1:80\nbackend other\n    server s 127.0.0.1:81\n"
    );
    let m = model(&text);
    assert_eq!(m.frontends.len(), 1);
    assert_eq!(m.backends.len(), 2);
    let fe = m.frontends.first().cloned();
    assert_eq!(
        fe.as_ref().and_then(|f| f.listen_backend).map(|b| b.0),
        Some(0)
    );
    assert_eq!(fe.and_then(|f| f.backend()).map(|b| b.0), Some(0));
    assert_eq!(m.backends.first().map(|b| b.name.as_str()), Some("li"));
}

#[test]
fn env_vars_in_binds() {
    let text = format!(
        "defaults\n{TIMEOUTS}frontend fe\n    bind \"fd@${{LISTEN_FD}}\"\n    bind \":${{PORT}}\"\n    default_backend be\nbackend be\n    server s 127.0.0.1:80\n"
    );
    let m = model(&text);
    let binds: Vec<BindAddr> = m
        .frontends
        .first()
        .map(|f| f.binds.iter().map(|b| b.addr.clone()).collect())
        .unwrap_or_default();
    assert_eq!(
        binds,
        vec![
            BindAddr::Fd(5),
            BindAddr::Inet(
                "0.0.0.0:8443"
                    .parse()
                    .unwrap_or_else(|_| ([1, 1, 1, 1], 1).into())
            )
        ]
    );
    let a = alerts("frontend fe\n    bind \"fd@${NOPE}\"\n    default_backend be\nbackend be\n");
    assert_eq!(
        a.first().map(String::as_str),
        Some("parsing [t.cfg:2] : 'bind' : file descriptor '' is not a valid integer in 'fd@'")
    );
}

#[test]
fn section_errors_match_haproxy() {
    let a = alerts(
        "foo bar\nfrontend\nfrontend fe foo\nfrontend f/x\ndefaults d3 from nope\nfrontend ok from nope\n    bind :1\n    default_backend b\nbackend b\n",
    );
    assert_eq!(
        a,
        vec![
            "parsing [t.cfg:1]: unknown keyword 'foo' out of section.",
            "parsing [t.cfg:2] : 'frontend' expects an <id> argument",
            "parsing [t.cfg:3] : please use the 'bind' keyword for listening addresses.",
            "parsing [t.cfg:4] : character '/' is not permitted in 'frontend' name 'f/x'.",
            "parsing [t.cfg:5] : defaults section 'nope' not found for defaults 'd3'.",
            "parsing [t.cfg:6] : defaults section 'nope' not found for frontend 'ok'.",
            "frontend 'fe' has no 'bind' directive. Please declare it as a backend if this was intended.",
        ]
    );
}

#[test]
fn duplicate_proxies_match_haproxy() {
    let a = alerts(
        "defaults d1\n    mode http\ndefaults d2 from d1\nfrontend fe from d2\n    bind :80\n    default_backend be\nfrontend fe\n    bind :81\n    default_backend be\nbackend fe\n    server s1 1.2.3.4:80\nlisten fe\n    bind :82\nbackend be\n",
    );
    let dflt = "defaults section 'd2' (declared at t.cfg:3) is explicitly referenced by another proxy and implicitly used here. To avoid any ambiguity don't mix both usage. Add a last defaults section not explicitly used or always use explicit references.";
    assert_eq!(
        a,
        vec![
            "Parsing [t.cfg:7]: frontend 'fe' has the same name as frontend 'fe' declared at t.cfg:4.".to_string(),
            format!("parsing [t.cfg:7] : {dflt}"),
            format!("parsing [t.cfg:10] : {dflt}"),
            "Parsing [t.cfg:12]: proxy 'fe' has the same name as frontend 'fe' declared at t.cfg:4.".to_string(),
            format!("parsing [t.cfg:12] : {dflt}"),
            format!("parsing [t.cfg:14] : {dflt}"),
        ]
    );
}

#[test]
fn wrong_section_keywords_match_haproxy() {
    let Err(e) = load(
        "defaults\n    server s1 1.2.3.4:80\n    bind :80\n    use_backend x\nfrontend fe\n    bind :80\n    default_backend be\n    server s1 1.2.3.4:80\n    balance roundrobin\n    retries 3\n    timeout server 1s\n    option redispatch\nbackend be\n    bind :81\n    maxconn 10\n    timeout client 1s\n    default_backend x\n",
    ) else {
        unreachable!("must fail")
    };
    assert_eq!(
        e.alerts,
        vec![
            "[t.cfg:2] : 'server' not allowed in 'defaults' section.",
            "parsing [t.cfg:3] : 'bind' not allowed in 'defaults' section.",
            "parsing [t.cfg:4] : 'use_backend' not allowed in 'defaults' section.",
            "[t.cfg:8] : parsing [t.cfg:8] : 'server' not allowed because frontend 'fe' has no backend capability.",
        ]
    );
    let w: Vec<&str> = e
        .warnings
        .iter()
        .map(String::as_str)
        .filter(|w| !w.starts_with("missing timeouts"))
        .collect();
    assert_eq!(
        w,
        vec![
            "parsing [t.cfg:9] : 'balance' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:10] : 'retries' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:11] : 'timeout server' will be ignored because frontend 'fe' has no backend capability",
            "parsing [t.cfg:12] : 'redispatch' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:14] : 'bind' ignored because backend 'be' has no frontend capability.",
            "parsing [t.cfg:15] : 'maxconn' ignored because backend 'be' has no frontend capability. Maybe you want 'fullconn' instead ?",
            "parsing [t.cfg:16] : 'timeout client' will be ignored because backend 'be' has no frontend capability",
            "parsing [t.cfg:17] : 'default_backend' ignored because backend 'be' has no frontend capability.",
        ]
    );
}

#[test]
fn proxy_keyword_errors_match_haproxy() {
    let a = alerts(
        "backend be\n    timeout client\n    timeout blah 10\n    timeout connect 5000000000\n    timeout connect -1\n    mode foo\n    mode http x\n    retries\n    retries 1 2\n    option\n    no option httplog\n    option splice-aut\n    option blahblah\n    option splice-auto x\n    contimeout 5s\n    clitimeout 5s\n    srvtimeout 5s\n    option httplog\n    timeout tarpit 1s\n    balance random(0)\n",
    );
    assert_eq!(
        a,
        vec![
            "parsing [t.cfg:2] : 'timeout client' expects an integer value (in milliseconds)",
            "parsing [t.cfg:3] : 'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got 'blah')",
            "parsing [t.cfg:4] : timer overflow in argument '5000000000' to 'timeout connect' (maximum value is 2147483647 ms or ~24.8 days)",
            "parsing [t.cfg:5] : unexpected character '-' in 'timeout connect'",
            "parsing [t.cfg:6] : unknown proxy mode 'foo'.",
            "parsing [t.cfg:7] : 'mode' cannot handle unexpected argument 'x'.",
            "parsing [t.cfg:8] : 'retries' expects an integer argument (dispatch counts for one).",
            "parsing [t.cfg:9] : 'retries' cannot handle unexpected argument '2'.",
            "parsing [t.cfg:10]: 'option' expects an option name.",
            "parsing [t.cfg:11]: negation/default is not supported for option 'httplog'.",
            "parsing [t.cfg:12] : unknown option 'splice-aut'; did you mean 'splice-auto' maybe ?",
            "parsing [t.cfg:13] : unknown option 'blahblah'.",
            "parsing [t.cfg:14] : 'option splice-auto' cannot handle unexpected argument 'x'.",
            "parsing [t.cfg:15] : the 'contimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'.",
            "parsing [t.cfg:16] : the 'clitimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout client'.",
            "parsing [t.cfg:17] : the 'srvtimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout server'.",
            "parsing [t.cfg:19] : 'timeout tarpit' is a HAProxy keyword that Ravelin does not support yet.",
            "parsing [t.cfg:20] : balance random : number of draws must be at least 1.",
        ]
    );
}

#[test]
fn timeout_overwrite_warns_like_haproxy() {
    let Ok(l) = load(&format!(
        "defaults\n{TIMEOUTS}listen li\n    bind :1\n    timeout client 1s\n    timeout client 5s\n    timeout client 7s\n    server s 1.1.1.1:1\n"
    )) else {
        unreachable!("valid")
    };
    assert_eq!(
        l.warnings,
        // HAProxy compares with the inherited value: line 8 replaces a value equal to the
        // defaults' one, so only line 9 warns (checked with haproxy -c).
        vec!["parsing [t.cfg:9] : overwriting 'timeout client' which was already specified"]
    );
    assert_eq!(
        l.model.frontends.first().and_then(|f| f.timeouts.client),
        Some(Duration::from_secs(7))
    );
}

#[test]
fn use_backend_conditions_and_modes() {
    let a = alerts(
        "frontend fe\n    mode http\n    bind :80\n    use_backend b1 if TRUE\n    use_backend be2\n    default_backend be\nfrontend ft\n    bind :81\n    default_backend hb\nbackend be\n    server s1 1.2.3.4:80\nbackend be2\nbackend hb\n    mode http\nlisten li\n    bind :82\n    default_backend li\n",
    );
    assert_eq!(
        a,
        vec![
            "http frontend 'fe' (t.cfg:1) tries to use incompatible tcp backend 'be' (t.cfg:10) as its default backend (see 'mode').",
            "Proxy 'fe': unable to find required use_backend: 'b1'.",
            "http frontend 'fe' (t.cfg:1) tries to use incompatible tcp backend 'be2' (t.cfg:12) in a 'use_backend' rule (see 'mode').",
            "tcp frontend 'ft' (t.cfg:7) tries to use http backend 'hb' (t.cfg:13) as its default backend: upgrading a tcp stream to http is a HAProxy feature that Ravelin does not support yet.",
            "Proxy 'li': loop detected for default_backend: 'li'.",
        ]
    );
}

#[test]
fn server_resolution_failures_match_haproxy() {
    let a = alerts(
        "backend be\n    server s9 nonexistent.invalid:80\n    server s35 ipv4@::1:80\n    server ok ipv4@localhost:80\n",
    );
    assert_eq!(
        a,
        vec![
            "[t.cfg:2] : 'server be/s9' : could not resolve address 'nonexistent.invalid'.",
            "[t.cfg:3] : 'server be/s35' : could not resolve address '::1'.",
            "Failed to initialize server(s) addr.",
        ]
    );
}

#[test]
fn cpu_map_checked_against_nbthread() {
    let a = alerts("global\n    cpu-map 1/5 0\n    cpu-map 1/all 0-3\n    nbthread 4\n");
    assert_eq!(
        a,
        vec!["parsing [t.cfg:2] : cpu-map : thread 5 does not exist, 'nbthread' is 4."]
    );
    let m = model("global\n    nbthread 2\n    cpu-map 1/all 0-3\n    cpu-map 1/2 7\n");
    let cpus: Vec<(u16, Vec<u16>)> = m
        .global
        .cpu_map
        .iter()
        .map(|c| (c.thread, c.cpus.clone()))
        .collect();
    assert_eq!(cpus, vec![(0, vec![0, 1, 2, 3]), (1, vec![7])]);
}

#[test]
fn many_errors_in_one_run_and_lexer_errors_are_reported() {
    let a = alerts(
        "global\n    pidfile \"/tmp/x\n    maxconn x\n    nbthread 0\nfrontend fe\n    bind :80\n    bnd :81\n    default_backend be\nbackend be\n",
    );
    assert_eq!(
        a,
        vec![
            "parsing [t.cfg:2]: unmatched quote at position 13:\n  pidfile \"/tmp/x\n          ^",
            "parsing [t.cfg:3] : 'maxconn' expects an integer argument.",
            "parsing [t.cfg:4] : 'nbthread' value must be between 1 and 64 (was 0)",
            "parsing [t.cfg:7] : unknown keyword 'bnd' in 'frontend' section; did you mean 'bind' maybe ?",
        ]
    );
}

#[test]
fn unsupported_sections_are_alerts_and_skipped() {
    let a = alerts("peers p\n    peer a 1.1.1.1:1\nglobal\n    daemon\n");
    assert_eq!(
        a,
        vec!["parsing [t.cfg:1] : 'peers' is a HAProxy section that Ravelin does not support yet."]
    );
}

#[test]
fn files_and_directories() {
    let dir = std::env::temp_dir().join(format!("ravelin-config-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(std::fs::create_dir_all(&dir).is_ok());
    let w = |n: &str, t: &str| assert!(std::fs::write(dir.join(n), t).is_ok());
    w("b.cfg", "backend be\n    server s 127.0.0.1:80\n");
    w(
        "a.cfg",
        "defaults\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\nfrontend fe\n    bind :1\n    default_backend be\n",
    );
    w("c.txt", "garbage");
    let l = super::load(std::slice::from_ref(&dir));
    assert!(l.is_ok(), "{l:?}");
    let missing = dir.join("nope.cfg");
    let Err(e) = super::load(&[missing.clone(), dir.join("a.cfg")]) else {
        unreachable!("missing file")
    };
    assert_eq!(
        e.alerts,
        vec![
            format!(
                "Cannot open configuration file/directory {} : No such file or directory",
                missing.display()
            ),
            "Proxy 'fe': unable to find required default_backend: 'be'.".to_string()
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_str_uses_the_given_name() {
    let Err(e) = super::load_str("mine.cfg", "global\n    bogus\n") else {
        unreachable!("bad")
    };
    assert_eq!(
        e.alerts,
        vec!["parsing [mine.cfg:2] : unknown keyword 'bogus' in 'global' section"]
    );
    assert_eq!(e.files, vec!["mine.cfg"]);
}

#[test]
fn hostile_configs_do_not_panic() {
    let mut seed: u32 = 7;
    let alphabet: &[&str] = &[
        "global\n",
        "defaults\n",
        "frontend f\n",
        "backend b\n",
        "listen l\n",
        "bind ",
        "server ",
        "s ",
        ":80",
        "[::",
        "]",
        "\"",
        "'",
        "\\",
        "${",
        "}",
        "#",
        " ",
        "\n",
        "option ",
        "no ",
        "timeout ",
        "client ",
        "9999999999999",
        "-",
        "cpu-map ",
        "auto:",
        "1/",
        "all",
        "\0",
        "\u{ff}",
        "from ",
        "weight ",
        "inter ",
        "use_backend ",
        "default_backend ",
        "fd@",
        "unix@",
        ",",
    ];
    for _ in 0..300 {
        let mut text = String::new();
        for _ in 0..60 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            text.push_str(
                alphabet
                    .get((seed >> 16) as usize % alphabet.len())
                    .copied()
                    .unwrap_or(""),
            );
        }
        let _ = load(&text);
    }
    let _ = load(&"x".repeat(1_000_000));
    let _ = load(&"\"".repeat(10_000));
    let _ = load(&"frontend f\n".repeat(2_000));
}

#[test]
fn balancing_keyword_errors_match_haproxy() {
    let text = "backend be\n    balance random(0)\n    balance random(x)\n    balance random(2\n    balance random(3) x\n    hash-type\n    hash-type avalanche\n    hash-type map-based foo\n    hash-type consistent sdbm foo\n    hash-balance-factor\n    hash-balance-factor 100\n    hash-balance-factor -1\n    hash-balance-factor abc\n    hash-type consistent crc32 avalanche x\n    server s 127.0.0.1:1\nfrontend fe\n    bind :18990\n    hash-type foo\n    default_backend be\n";
    let Err(e) = load(text) else {
        unreachable!("must fail")
    };
    assert_eq!(
        e.alerts,
        vec![
            "parsing [t.cfg:2] : balance random : number of draws must be at least 1.",
            "parsing [t.cfg:3] : balance random : unexpected character 'x' after argument.",
            "parsing [t.cfg:4] : balance random : missing closing parenthesis.",
            // HAProxy ignores the extra word; Ravelin is stricter.
            "parsing [t.cfg:5] : 'balance' cannot handle unexpected argument 'x'.",
            "parsing [t.cfg:6] : 'hash-type' only supports 'consistent' and 'map-based'.",
            "parsing [t.cfg:7] : experimental feature 'hash-type avalanche' is not supported anymore, please use 'hash-type map-based sdbm avalanche' instead.",
            "parsing [t.cfg:8] : 'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.",
            "parsing [t.cfg:9] : 'hash-type' only supports 'avalanche' as a modifier for hash functions.",
            "parsing [t.cfg:10] : 'hash-balance-factor' expects an integer argument.",
            "parsing [t.cfg:11] : 'hash-balance-factor' must be 0 or greater than 100.",
            "parsing [t.cfg:12] : 'hash-balance-factor' must be 0 or greater than 100.",
            // HAProxy reads `abc` as 0 and ignores the extra word of line 14.
            "parsing [t.cfg:13] : 'hash-balance-factor' expects an integer argument.",
            "parsing [t.cfg:14] : 'hash-type' cannot handle unexpected argument 'x'.",
            "parsing [t.cfg:18] : 'hash-type' only supports 'consistent' and 'map-based'.",
        ]
    );
    assert_eq!(
        e.warnings.first().map(String::as_str),
        Some(
            "parsing [t.cfg:18] : 'hash-type' ignored because frontend 'fe' has no backend capability."
        )
    );
}

#[test]
fn balancing_keywords_reach_the_model() {
    let m = model(&format!(
        "defaults\n    mode http\n{TIMEOUTS}    balance random(3)\n    hash-type consistent djb2\n    hash-balance-factor 150\nbackend inherits\n    server s 1.1.1.1:80\nbackend own\n    balance uri\n    hash-type map-based crc32 avalanche\n    hash-balance-factor 0\n    server s 1.1.1.1:80\nbackend plain\n    balance random\n    hash-type consistent\n    server s 1.1.1.1:80\nbackend hex\n    balance random(0x10)\n    server s 1.1.1.1:80\n"
    ));
    let be = |name: &str| m.backends.iter().find(|b| b.name == name).cloned();
    let Some(inherits) = be("inherits") else {
        unreachable!("backend built")
    };
    assert_eq!(inherits.balance, Balance::Random { draws: 3 });
    assert_eq!(
        inherits.hash_type,
        HashType {
            method: HashMethod::Consistent,
            function: HashFunction::Djb2,
            avalanche: false,
        }
    );
    assert_eq!(inherits.hash_balance_factor, 150);
    let own = be("own").map(|b| (b.hash_type, b.hash_balance_factor));
    assert_eq!(
        own,
        Some((
            HashType {
                method: HashMethod::MapBased,
                function: HashFunction::Crc32,
                avalanche: true,
            },
            0
        ))
    );
    let plain = be("plain").map(|b| (b.balance, b.hash_type));
    assert_eq!(
        plain,
        Some((
            Balance::Random { draws: 2 },
            HashType {
                method: HashMethod::Consistent,
                function: HashFunction::Sdbm,
                avalanche: true,
            }
        ))
    );
    assert_eq!(
        be("hex").map(|b| b.balance),
        Some(Balance::Random { draws: 16 })
    );
    // Without `hash-type`: HAProxy's map-based sdbm.
    let m = model(&format!(
        "defaults\n{TIMEOUTS}backend be\n    balance source\n    server s 1.1.1.1:80\n"
    ));
    assert_eq!(
        m.backends.first().map(|b| b.hash_type),
        Some(HashType::default())
    );
}

#[test]
fn default_server_applies_to_the_servers_after_it() {
    let m = model(&format!(
        "defaults\n{TIMEOUTS}    default-server maxconn 50 inter 3s\n\
         backend be\n    fullconn 1024\n    server a 1.1.1.1:80\n\
         \x20   default-server minconn 10 maxconn 100 slowstart 20s maxqueue 7 fastinter 1s\n\
         \x20   server b 1.1.1.1:80 id 9 cookie B\n    server c 1.1.1.1:80 maxconn 5 init-state down check\n\
         backend other\n    server d 1.1.1.1:80\n"
    ));
    let be = &m.backends[0];
    assert_eq!(be.fullconn, Some(1024));
    let s = |i: usize| &be.servers[i];
    assert_eq!((s(0).maxconn, s(0).minconn, s(0).id), (50, 0, 1));
    assert_eq!(s(0).check.inter, Duration::from_secs(3));
    assert_eq!(
        s(0).check.fastinter,
        Duration::from_secs(3),
        "defaults to inter"
    );
    assert_eq!((s(1).maxconn, s(1).minconn, s(1).maxqueue), (100, 10, 7));
    assert_eq!(s(1).slowstart, Duration::from_secs(20));
    assert_eq!((s(1).id, s(1).cookie.as_deref()), (9, Some("B")));
    assert_eq!(s(1).check.fastinter, Duration::from_secs(1));
    assert_eq!((s(2).maxconn, s(2).minconn, s(2).id), (5, 10, 2));
    assert!(!s(2).starts_up(), "init-state down with check");
    assert!(s(1).starts_up());
    // A proxy inherits the defaults section's template, not another backend's.
    assert_eq!(m.backends[1].servers[0].maxconn, 50);
    assert_eq!(m.backends[1].fullconn, None);
}

#[test]
fn server_limit_keywords_report_like_haproxy() {
    let a = alerts(&format!(
        "defaults\n{TIMEOUTS}backend be\n    default-server id 4\n    fullconn\n\
         \x20   server s5 1.1.1.1:80 id 0\n    server s6 1.1.1.1:80 id 7\n\
         \x20   server s7 1.1.1.1:80 id 7\n    server s8 1.1.1.1:80 cookie\n\
         \x20   server s4 1.1.1.1:80 slowstart abc\n"
    ));
    assert_eq!(
        a,
        vec![
            "[t.cfg:6] : 'id' option is not accepted in default-server sections",
            "parsing [t.cfg:7] : 'fullconn' expects an integer argument.",
            "[t.cfg:8] : 'server be/s5' : 'id' : custom id has to be > 0.",
            "[t.cfg:10] : 'server be/s7' : 'id' : custom id 7 already used at t.cfg:9 ('server s6').",
            "[t.cfg:11] : 'server be/s8' : 'cookie' expects <value> as argument..",
            "[t.cfg:12] : 'server be/s4' : unexpected character 'a' in 'slowstart' argument of server s4..",
        ]
    );
}

#[test]
fn cookie_and_persist_reach_the_model() {
    let m = model(&format!(
        "defaults\n    mode http\n{TIMEOUTS}backend be\n    cookie SRV insert indirect nocache httponly\n\
         \x20   option persist\n    server a 1.1.1.1:80 cookie A\nbackend plain\n    server b 1.1.1.1:80\n"
    ));
    let be = &m.backends[0];
    let c = be.cookie.as_ref().expect("cookie");
    assert_eq!(c.name, "SRV");
    assert!(c.indirect && c.nocache && c.httponly && !c.secure);
    assert!(be.persist);
    assert_eq!(be.servers[0].cookie.as_deref(), Some("A"));
    assert!(m.backends[1].cookie.is_none() && !m.backends[1].persist);
    let a = alerts(&format!(
        "defaults\n{TIMEOUTS}backend be\n    cookie\n    server a 1.1.1.1:80\n"
    ));
    assert_eq!(
        a,
        vec!["parsing [t.cfg:6] : 'cookie' expects <cookie_name> as argument."]
    );
}

#[test]
fn reload_keywords_match_haproxy() {
    // The same file through `haproxy -c` (2.6.12) gives these alerts and warnings.
    let text = "global\n    server-state-file\n    server-state-base\n    master-worker foo\ndefaults\n    load-server-state-from-file bogus\nbackend b\n    load-server-state-from-file\n    server-state-file-name a b\n    server s 127.0.0.1:80\nfrontend f\n    bind 127.0.0.1:8999\n    load-server-state-from-file global\n    server-state-file-name x\n    default_backend b\n";
    let Err(e) = load(text) else {
        panic!("must fail");
    };
    assert_eq!(
        e.alerts,
        vec![
            "parsing [t.cfg:2] : 'server-state-file' expect one argument: a file path.",
            "parsing [t.cfg:3] : 'server-state-base' expects one argument: a directory path.",
            "parsing [t.cfg:4] : 'master-worker' only supports 'no-exit-on-failure' option.",
            "parsing [t.cfg:6] : 'load-server-state-from-file' expects 'global', 'local' or 'none'. Got 'bogus'",
            "parsing [t.cfg:8] : 'load-server-state-from-file' expects 'global', 'local' or 'none'. Got ''",
            "parsing [t.cfg:9] : 'server-state-file-name' cannot handle unexpected argument 'b'.",
        ]
    );
    // (Ravelin also warns about the missing timeouts; HAProxy stops before that check.)
    assert_eq!(
        e.warnings.get(..2).unwrap_or_default(),
        [
            "parsing [t.cfg:13] : 'load-server-state-from-file' ignored because frontend 'f' has no backend capability.",
            "parsing [t.cfg:14] : 'server-state-file-name' ignored because frontend 'f' has no backend capability.",
        ]
    );
}

#[test]
fn reload_keywords_build_the_model() {
    use crate::model::LoadServerState;
    let m = model(&format!(
        "global\n    master-worker no-exit-on-failure\n    server-state-base /var/lib/r\n    server-state-file st\n\
defaults\n{TIMEOUTS}    load-server-state-from-file global\n\
backend g\n    server s 127.0.0.1:80\n\
backend l\n    load-server-state-from-file local\n    server-state-file-name /tmp/l.state\n    server s 127.0.0.1:80\n\
backend n\n    load-server-state-from-file local\n    server-state-file-name use-backend-name\n    server s 127.0.0.1:80\n\
backend o\n    load-server-state-from-file none\n    server s 127.0.0.1:80\n"
    ));
    assert!(m.global.master_worker);
    assert_eq!(
        m.global.server_state_base.as_deref(),
        Some(std::path::Path::new("/var/lib/r"))
    );
    assert_eq!(
        m.global.server_state_file.as_deref(),
        Some(std::path::Path::new("st"))
    );
    let got: Vec<(LoadServerState, Option<&str>)> = m
        .backends
        .iter()
        .map(|b| (b.load_server_state, b.server_state_file_name.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (LoadServerState::Global, None),
            (LoadServerState::Local, Some("/tmp/l.state")),
            (LoadServerState::Local, None),
            (LoadServerState::None, None),
        ]
    );
}

#[test]
fn grace_and_close_spread_time_match_haproxy() {
    let a = alerts(
        "global\n    grace\n    grace 1x\n    close-spread-time\n    close-spread-time 2q\n    close-spread-time infinite\n    close-spread-time 5s\n    grace 2s\n",
    );
    assert_eq!(
        a.get(..4).unwrap_or_default(),
        [
            "parsing [t.cfg:2] : 'grace' expects <time> as argument.",
            "parsing [t.cfg:3] : unexpected character 'x' in argument to <grace>.",
            "parsing [t.cfg:4] : 'close-spread-time' expects <time> as argument.",
            "parsing [t.cfg:5] : unexpected character 'q' in argument to <close-spread-time>.",
        ]
    );
    use crate::model::CloseSpread;
    let g = |extra: &str| {
        model(&format!(
            "global\n{extra}defaults\n{TIMEOUTS}backend b\n    server s 127.0.0.1:80\n"
        ))
        .global
    };
    assert_eq!(
        g("    close-spread-time infinite\n").close_spread,
        Some(CloseSpread::Infinite)
    );
    assert_eq!(
        g("    close-spread-time 5s\n").close_spread,
        Some(CloseSpread::Window(Duration::from_secs(5)))
    );
    assert_eq!(g("    close-spread-time 0\n").close_spread, None);
    assert_eq!(g("    grace 2s\n").grace, Some(Duration::from_secs(2)));
}
