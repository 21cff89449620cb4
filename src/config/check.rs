//! Health-check keywords of a proxy: `option httpchk`, `http-check ...` (section 4.2). The
//! `server` parameters (`check`, `inter`, `rise`, ...) are in `server.rs`, `timeout check` with
//! the other timeouts, `spread-checks`/`max-spread-checks` in `global.rs`.
//!
//! One `http-check send` and one `http-check expect` are supported (HAProxy's common case); a
//! second one would start a check sequence, which is refused with an explicit alert, as are
//! the `http-check` actions and `expect` matches Ravelin does not run yet.

use crate::config::error::{ConfigError, Diagnostics, Head, Severity, Span};
use crate::config::error::{too_many, unsupported};

use crate::model::{
    ExpectKind, ExternalCheck, HealthCheck, HttpCheck, HttpExpect, TcpAction, TcpCheck, TcpRule,
};

/// Which check an `option` chose: HAProxy keeps one (`PR_O2_CHK_ANY`), the last one wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum CheckKind {
    /// A TCP connect (no option).
    #[default]
    Connect,
    Http,
    TcpCheck,
    External,
}

/// A proxy's health-check keywords as written, merged into a [`HealthCheck`] when built.
#[derive(Clone, Debug, Default)]
pub(crate) struct CheckConf {
    /// `option httpchk [[METHOD] URI [VERSION]]`.
    pub(crate) httpchk: Option<HttpCheck>,
    /// `http-check send` fields (each `None` when not given).
    pub(crate) send_meth: Option<String>,
    pub(crate) send_uri: Option<String>,
    pub(crate) send_ver: Option<String>,
    pub(crate) send_hdrs: Vec<(String, String)>,
    pub(crate) send_body: Option<String>,
    pub(crate) sends: u32,
    pub(crate) expect: Option<HttpExpect>,
    pub(crate) disable_on_404: bool,
    pub(crate) send_state: bool,
    /// The last of `option httpchk|tcp-check|external-check`.
    pub(crate) kind: CheckKind,
    /// `tcp-check` rules as written (steps from 1).
    pub(crate) tcp_rules: Vec<TcpRule>,
    /// The rules came from a defaults section: the proxy's first own rule replaces them.
    pub(crate) tcp_inherited: bool,
    pub(crate) ext_command: Option<String>,
    pub(crate) ext_path: Option<String>,
    /// `option log-health-checks`.
    pub(crate) log_health_checks: bool,
}

impl CheckConf {
    /// The backend's check settings: `option httpchk` with the `http-check send` fields over
    /// it (HAProxy merges them into one request), and the expect rule.
    pub(crate) fn build(&self) -> HealthCheck {
        let http = self.httpchk.as_ref().map(|base| {
            let mut h = base.clone();
            if let Some(m) = &self.send_meth {
                h.method.clone_from(m);
            }
            if let Some(u) = &self.send_uri {
                h.uri.clone_from(u);
            }
            if let Some(v) = &self.send_ver {
                h.version.clone_from(v);
            }
            h.headers.extend(self.send_hdrs.iter().cloned());
            if let Some(b) = &self.send_body {
                h.body.clone_from(b);
            }
            h.expect.clone_from(&self.expect);
            h
        });
        let tcp = (self.kind == CheckKind::TcpCheck).then(|| {
            let mut rules = self.tcp_rules.clone();
            // HAProxy's check_proxy_tcpcheck(): without a connect before the first rule that
            // is not a comment, an implicit one (step 0) goes first.
            let first = rules
                .iter()
                .find(|r| !matches!(r.action, TcpAction::Comment));
            if !matches!(first.map(|r| &r.action), Some(TcpAction::Connect { .. })) {
                rules.insert(
                    0,
                    TcpRule {
                        step: 0,
                        action: TcpAction::Connect {
                            port: None,
                            addr: None,
                        },
                        comment: None,
                    },
                );
            }
            TcpCheck { rules }
        });
        let external = (self.kind == CheckKind::External).then(|| ExternalCheck {
            command: self.ext_command.clone().unwrap_or_default().into(),
            path: self.ext_path.clone().unwrap_or_default(),
            bind: None,
            proxy_id: 0,
        });
        HealthCheck {
            http: http.filter(|_| self.kind == CheckKind::Http),
            disable_on_404: self.disable_on_404,
            send_state: self.send_state,
            tcp,
            external,
            log_health_checks: self.log_health_checks,
        }
    }

    /// What a proxy inherits from its defaults section.
    pub(crate) fn inherited(&self) -> CheckConf {
        CheckConf {
            tcp_inherited: !self.tcp_rules.is_empty(),
            ..self.clone()
        }
    }
}

/// `option httpchk ...`; `words` starts at `httpchk`.
pub(crate) fn parse_httpchk(c: &mut CheckConf, words: &[String], span: &Span, d: &mut Diagnostics) {
    if let Some(x) = words.get(4) {
        return d.alert(span, too_many("option httpchk", x));
    }
    let mut h = HttpCheck::default();
    match words.get(1..).unwrap_or_default() {
        [] => {}
        [uri] => h.uri.clone_from(uri),
        [meth, uri] => {
            h.method.clone_from(meth);
            h.uri.clone_from(uri);
        }
        [meth, uri, ver, ..] => {
            h.method.clone_from(meth);
            h.uri.clone_from(uri);
            h.version.clone_from(ver);
        }
    }
    c.httpchk = Some(h);
    c.kind = CheckKind::Http;
}

/// `http-check ...` (the caller checked the backend capability).
pub(crate) fn parse_http_check(
    c: &mut CheckConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let sub = words.get(1).map(String::as_str).unwrap_or_default();
    match sub {
        "disable-on-404" | "send-state" => {
            if let Some(x) = words.get(2) {
                return d.alert(span, too_many("http-check", x));
            }
            if sub == "disable-on-404" {
                c.disable_on_404 = true;
            } else {
                c.send_state = true;
            }
        }
        "send" => parse_send(c, words.get(2..).unwrap_or_default(), span, d),
        "expect" => parse_expect(c, words.get(2..).unwrap_or_default(), span, d),
        "comment" | "connect" => d.alert(span, unsupported(&format!("http-check {sub}"))),
        s if s.starts_with("set-var(")
            || s.starts_with("set-var-fmt(")
            || s.starts_with("unset-var(") =>
        {
            d.alert(span, unsupported("http-check set-var"))
        }
        _ => d.alert(
            span,
            format!(
                "'http-check' only supports 'disable-on-404', 'send-state', 'comment', 'connect', 'send', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '{sub}'"
            ),
        ),
    }
}

fn several(d: &mut Diagnostics, span: &Span, what: &str) {
    d.alert(
        span,
        format!(
            "'http-check {what}' : a second '{what}' rule starts a check sequence, a HAProxy feature that Ravelin does not support yet."
        ),
    );
}

/// `http-check send [meth M] [uri U] [ver V] [hdr N V]* [body B] [comment C]`.
fn parse_send(c: &mut CheckConf, args: &[String], span: &Span, d: &mut Diagnostics) {
    if c.sends > 0 {
        return several(d, span, "send");
    }
    let mut i = 0;
    while let Some(opt) = args.get(i).map(String::as_str) {
        let val = args.get(i + 1);
        match opt {
            "meth" | "uri" | "ver" | "body" | "comment" => {
                let Some(v) = val else {
                    return d.alert(
                        span,
                        format!("'http-check send' : '{opt}' expects a string as argument.."),
                    );
                };
                let v = Some(v.clone());
                match opt {
                    "meth" => c.send_meth = v,
                    "uri" => c.send_uri = v,
                    "ver" => c.send_ver = v,
                    "body" => c.send_body = v,
                    _ => {} // a comment only shows in HAProxy's failure reports
                }
                i += 2;
            }
            "hdr" => {
                let (Some(n), Some(v)) = (val, args.get(i + 2)) else {
                    return d.alert(
                        span,
                        "'http-check send' : 'hdr' expects <name> and <value> as arguments.",
                    );
                };
                c.send_hdrs.push((n.to_ascii_lowercase(), v.clone()));
                i += 3;
            }
            "uri-lf" | "body-lf" => {
                return d.alert(span, unsupported(&format!("http-check send {opt}")));
            }
            _ => {
                return d.alert(
                    span,
                    format!(
                        "'http-check send' : expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or 'body-lf' but got '{opt}' as argument.."
                    ),
                );
            }
        }
    }
    c.sends += 1;
}

const EXPECT_SUPPORTS: &str = "'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment";

/// `http-check expect [!] status|rstatus|string|rstring PATTERN`.
fn parse_expect(c: &mut CheckConf, args: &[String], span: &Span, d: &mut Diagnostics) {
    if args.is_empty() {
        return d.alert(
            span,
            "'http-check expect' : expects at least a matching pattern as arguments.",
        );
    }
    if c.expect.is_some() {
        return several(d, span, "expect");
    }
    let mut i = 0;
    let mut invert = false;
    let mut kind = None;
    while let Some(w) = args.get(i).map(String::as_str) {
        let (neg, word) = match w.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, w),
        };
        match word {
            "" if neg => {
                invert = true;
                i += 1;
            }
            "status" | "rstatus" | "string" | "rstring" if kind.is_none() => {
                invert |= neg;
                let Some(pat) = args.get(i + 1) else {
                    return d.alert(
                        span,
                        format!("'http-check expect' : '{word}' expects a <pattern> as argument."),
                    );
                };
                kind = match expect_kind(word, pat) {
                    Ok(k) => Some(k),
                    Err(e) => return d.alert(span, format!("'http-check expect' : {e}")),
                };
                i += 2;
            }
            "min-recv" | "comment" | "ok-status" | "error-status" | "tout-status"
            | "on-success" | "on-error" | "status-code" | "hdr" | "fhdr" | "string-lf" => {
                return d.alert(span, unsupported(&format!("http-check expect {word}")));
            }
            _ => {
                return d.alert(
                    span,
                    format!("'http-check expect' : {EXPECT_SUPPORTS} but got '{w}' as argument.."),
                );
            }
        }
    }
    let Some(kind) = kind else {
        return d.alert(
            span,
            "'http-check expect' : expects at least a matching pattern as arguments.",
        );
    };
    c.expect = Some(HttpExpect { invert, kind });
}

fn expect_kind(word: &str, pat: &str) -> Result<ExpectKind, String> {
    let bad_regex = |e: regex::Error| format!("regex '{pat}' is invalid (error={e}).");
    match word {
        "status" => parse_codes(pat).map(ExpectKind::Status),
        "rstatus" => regex::Regex::new(pat)
            .map(ExpectKind::RStatus)
            .map_err(bad_regex),
        "string" => Ok(ExpectKind::String(pat.to_string())),
        _ => regex::bytes::Regex::new(pat)
            .map(ExpectKind::RString)
            .map_err(bad_regex),
    }
}

/// `200,201,300-310` → inclusive ranges.
pub(crate) fn parse_codes(pat: &str) -> Result<Vec<(u16, u16)>, String> {
    let bad = || format!("invalid range of status codes '{pat}'.");
    pat.split(',')
        .map(|part| {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
            let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(bad());
            }
            Ok((lo, hi))
        })
        .collect()
}

/// HAProxy's head for `spread-checks` alerts (`parsing [f:l]: `).
fn tight(d: &mut Diagnostics, sev: Severity, span: &Span, m: String) {
    d.push(ConfigError::with_head(sev, Head::ParsingTight, span, m));
}

/// Global `spread-checks N` (0..50) and `max-spread-checks DELAY`, into the model's global.
pub(crate) fn parse_global_spread(
    g: &mut crate::model::Global,
    spread_set: &mut bool,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let kw = words.first().map(String::as_str).unwrap_or_default();
    let Some(arg) = words.get(1) else {
        return tight(
            d,
            Severity::Alert,
            span,
            format!("'{kw}' expects an integer argument (0..50)."),
        );
    };
    if let Some(x) = words.get(2) {
        return d.alert(span, too_many(kw, x));
    }
    if kw == "spread-checks" {
        if *spread_set {
            return tight(
                d,
                Severity::Warning,
                span,
                "spread-checks already specified. Continuing.".into(),
            );
        }
        *spread_set = true;
        match arg.parse::<u32>() {
            Ok(n) if n <= 50 => g.spread_checks = n,
            _ => tight(
                d,
                Severity::Alert,
                span,
                "'spread-checks' needs a positive value in range 0..50.".into(),
            ),
        }
        return;
    }
    // HAProxy reads the delay with parse_time_err(), milliseconds by default.
    match crate::config::units::parse_time(arg) {
        Ok(t) => g.max_spread_checks = Some(t).filter(|t| !t.is_zero()),
        Err(_) => {
            let c = arg
                .chars()
                .find(|c| !c.is_ascii_digit())
                .unwrap_or_default();
            tight(
                d,
                Severity::Alert,
                span,
                format!("unsupported character '{c}' in '{kw}' (wants an integer delay)."),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::tests_support::backend;
    use crate::config::proxy::ProxyConf;

    fn run(lines: &[&str]) -> (ProxyConf, Vec<String>) {
        let mut p = backend("be");
        let mut d = Diagnostics::default();
        let span = Span::new("t.cfg", 1);
        for l in lines {
            let words: Vec<String> = l.split_whitespace().map(String::from).collect();
            if words.first().map(String::as_str) == Some("option") {
                parse_httpchk(
                    &mut p.check,
                    words.get(1..).unwrap_or_default(),
                    &span,
                    &mut d,
                );
            } else {
                parse_http_check(&mut p.check, &words, &span, &mut d);
            }
        }
        let msgs = d.items.iter().map(|e| e.message.clone()).collect();
        (p, msgs)
    }

    #[test]
    fn httpchk_forms_and_send_overrides() {
        let (p, m) = run(&["option httpchk"]);
        assert!(m.is_empty());
        let h = p.check.build().http.unwrap_or_default();
        assert_eq!((h.method.as_str(), h.uri.as_str()), ("OPTIONS", "/"));
        assert_eq!(h.version, "HTTP/1.0");
        let (p, _) = run(&["option httpchk /health"]);
        assert_eq!(p.check.build().http.unwrap_or_default().uri, "/health");
        let (p, m) = run(&[
            "option httpchk GET /x HTTP/1.1",
            "http-check send meth HEAD hdr Host www body hi",
            "http-check expect ! rstatus ^5",
            "http-check disable-on-404",
            "http-check send-state",
        ]);
        assert!(m.is_empty(), "{m:?}");
        let c = p.check.build();
        let h = c.http.unwrap_or_default();
        assert_eq!((h.method.as_str(), h.uri.as_str()), ("HEAD", "/x"));
        assert_eq!(h.version, "HTTP/1.1");
        assert_eq!(h.headers, vec![("host".to_string(), "www".to_string())]);
        assert_eq!(h.body, "hi");
        assert!(h.expect.as_ref().is_some_and(|e| e.invert));
        assert!(c.disable_on_404 && c.send_state);
    }

    #[test]
    fn haproxy_alert_texts() {
        let cases = [
            (
                "option httpchk GET / HTTP/1.1 extra",
                "'option httpchk' cannot handle unexpected argument 'extra'.",
            ),
            (
                "http-check expect",
                "'http-check expect' : expects at least a matching pattern as arguments.",
            ),
            (
                "http-check expect status",
                "'http-check expect' : 'status' expects a <pattern> as argument.",
            ),
            (
                "http-check expect foo 200",
                "'http-check expect' : 'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got 'foo' as argument..",
            ),
            (
                "http-check send meth",
                "'http-check send' : 'meth' expects a string as argument..",
            ),
            (
                "http-check send hdr X",
                "'http-check send' : 'hdr' expects <name> and <value> as arguments.",
            ),
            (
                "http-check send foo",
                "'http-check send' : expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or 'body-lf' but got 'foo' as argument..",
            ),
            (
                "http-check foo",
                "'http-check' only supports 'disable-on-404', 'send-state', 'comment', 'connect', 'send', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got 'foo'",
            ),
            (
                "http-check send-state x",
                "'http-check' cannot handle unexpected argument 'x'.",
            ),
            (
                "http-check connect port 80",
                "'http-check connect' is a HAProxy keyword that Ravelin does not support yet.",
            ),
        ];
        for (line, want) in cases {
            let (_, m) = run(&[line]);
            assert_eq!(m, vec![want.to_string()], "{line}");
        }
        let (_, m) = run(&["http-check expect status 200 extra"]);
        assert_eq!(m.len(), 1);
        let (_, m) = run(&[
            "http-check expect status 200",
            "http-check expect status 201",
        ]);
        assert_eq!(m.len(), 1, "a second expect is a sequence");
    }

    fn alerts(text: &str) -> Vec<String> {
        match crate::config::load_str("t.cfg", text) {
            Ok(_) => Vec::new(),
            Err(e) => e.alerts,
        }
    }

    #[test]
    fn global_spread_texts_match_haproxy() {
        // `haproxy -c` 2.6 on the same lines.
        let a = alerts(
            "global\n    spread-checks\n    spread-checks 60\n    max-spread-checks\n    max-spread-checks abc\n    max-spread-checks 5000 x\n",
        );
        let want = [
            "parsing [t.cfg:2]: 'spread-checks' expects an integer argument (0..50).",
            "parsing [t.cfg:3]: 'spread-checks' needs a positive value in range 0..50.",
            "parsing [t.cfg:4]: 'max-spread-checks' expects an integer argument (0..50).",
            "parsing [t.cfg:5]: unsupported character 'a' in 'max-spread-checks' (wants an integer delay).",
            "parsing [t.cfg:6] : 'max-spread-checks' cannot handle unexpected argument 'x'.",
        ];
        for w in want {
            assert!(a.iter().any(|l| l.ends_with(w)), "missing {w:?} in {a:?}");
        }
        let ok = crate::config::load_str(
            "t.cfg",
            "global\n    spread-checks 5\n    max-spread-checks 2s\n",
        )
        .map(|l| {
            (
                l.model.global.spread_checks,
                l.model.global.max_spread_checks,
            )
        });
        assert_eq!(ok.ok(), Some((5, Some(std::time::Duration::from_secs(2)))));
    }

    #[test]
    fn unbuilt_check_keywords_still_say_so() {
        // Built: tcp-check, external checks, log-health-checks, agents, passive health. Still
        // refused: the log-format / TLS forms of tcp-check.
        let a = alerts(
            "global\n    external-check\n    insecure-fork-wanted\n\
             defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             backend be\n    option tcp-check\n    tcp-check connect\n    tcp-check send-lf x\n    \
             tcp-check connect port 443 ssl\n    option log-health-checks\n    \
             server a 127.0.0.1:80 check agent-check agent-port 81\n\
             backend ext\n    option external-check\n    external-check command /bin/true\n    \
             server d 127.0.0.1:80 check\n",
        );
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(
            a.iter().all(|l| l.contains("Ravelin does not support yet")),
            "{a:?}"
        );
        for kw in ["send-lf", "ssl"] {
            assert!(a.iter().any(|l| l.contains(kw)), "{kw}: {a:?}");
        }
    }

    #[test]
    fn external_check_requirements_match_haproxy() {
        // `haproxy -c` 2.6 on the same configurations.
        let base = "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
                    backend be\n    option external-check\n    server a 127.0.0.1:80 check\n";
        let e = crate::config::load_str("t.cfg", base)
            .err()
            .map(|e| e.alerts)
            .unwrap_or_default();
        assert_eq!(
            e.iter().filter(|l| l.contains("Proxy 'be'")).count(),
            2,
            "{e:?}"
        );
        assert!(e.iter().any(|l| l.ends_with("Proxy 'be' : 'option external-check' unable to find required 'global.external-check'.")), "{e:?}");
        assert!(e.iter().any(|l| l.ends_with("Proxy 'be' : 'option external-check' unable to find required 'external-check command'.")), "{e:?}");
        let ok = crate::config::load_str(
            "t.cfg",
            &format!("global\n    external-check\n{base}    external-check command /bin/true\n"),
        )
        .ok()
        .unwrap_or_else(|| unreachable!("valid"));
        assert!(
            ok.warnings.iter().any(|w| w.ends_with("Proxy 'be' : 'insecure-fork-wanted' not enabled in the global section, 'option external-check' will likely fail.")),
            "{:?}",
            ok.warnings
        );
        let be = ok.model.backends.first().unwrap_or_else(|| unreachable!());
        let ext = be.health_check.external.clone().unwrap_or_default();
        assert_eq!(ext.command, std::path::PathBuf::from("/bin/true"));
        assert_eq!((ext.proxy_id, ext.path.as_str()), (1, ""));
    }

    #[test]
    fn last_check_option_wins_and_implicit_connect() {
        let l = crate::config::load_str(
            "t.cfg",
            "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             backend be\n    option httpchk\n    option tcp-check\n    tcp-check comment hi\n    \
             tcp-check send PING\n    tcp-check expect string PONG\n    option log-health-checks\n    \
             server a 127.0.0.1:80 check\n",
        )
        .ok()
        .unwrap_or_else(|| unreachable!("valid"));
        let hc = &l
            .model
            .backends
            .first()
            .unwrap_or_else(|| unreachable!())
            .health_check;
        assert!(hc.http.is_none() && hc.log_health_checks);
        let steps: Vec<u32> = hc
            .tcp
            .as_ref()
            .map(|t| t.rules.iter().map(|r| r.step).collect())
            .unwrap_or_default();
        assert_eq!(steps, vec![0, 1, 2, 3], "implicit connect first, as step 0");
    }

    #[test]
    fn timeout_check_and_defaults_inheritance() {
        let l = crate::config::load_str(
            "t.cfg",
            "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n    \
             timeout check 300ms\n    option httpchk GET /h\n    http-check expect status 204\n\
             backend be\n    server a 127.0.0.1:80 check\n",
        );
        let l = l.ok().unwrap_or_else(|| unreachable!("valid"));
        let be = l.model.backends.first().unwrap_or_else(|| unreachable!());
        assert_eq!(
            be.timeouts.check,
            Some(std::time::Duration::from_millis(300))
        );
        let h = be.health_check.http.clone().unwrap_or_default();
        assert_eq!(h.uri, "/h");
        assert!(h.expect.is_some());
    }

    #[test]
    fn status_codes() {
        assert_eq!(
            parse_codes("200,201,300-310"),
            Ok(vec![(200, 200), (201, 201), (300, 310)])
        );
        assert!(parse_codes("abc").is_err());
        assert!(parse_codes("300-200").is_err());
        assert!(parse_codes("").is_err());
    }
}
