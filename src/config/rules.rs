//! `http-request`, `http-response`, `http-after-response` and `use_backend` lines: actions,
//! their arguments, conditions and the log-format values Ravelin supports, with HAProxy's
//! messages. The compiled types live in `crate::rules`.

use std::sync::Arc;

use crate::acl::{Acl, Condition, Polarity};
use crate::config::acl::{Side, compile_regex, parse_condition, split_condition};
use crate::config::error::unsupported;
use crate::config::error::{ConfigError, Diagnostics, Head, Severity, Span};
use crate::config::section::{Kind, Section};
use crate::config::units::{parse_size, parse_time};

use crate::model::Origin;
use crate::rules::{
    Action, HttpRule, HttpRules, LfFetch, LfPart, LogFormat, NameMatch, RedirectKind, RedirectSpec,
    ReplyBody, ReturnSpec,
};

/// Which rule list a line goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum List {
    Request,
    Response,
    AfterResponse,
}

impl List {
    fn kw(self) -> &'static str {
        match self {
            List::Request => "http-request",
            List::Response => "http-response",
            List::AfterResponse => "http-after-response",
        }
    }

    /// HAProxy's list of actions, printed for an unknown one.
    fn expected(self) -> &'static str {
        match self {
            List::Request => {
                "'wait-for-handshake', 'ot-group', 'set-log-level', 'set-nice', 'use-service', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'do-resolve(*)', 'cache-use', 'add-acl(*)', 'add-header', 'allow', 'auth', 'capture', 'del-acl(*)', 'del-header', 'del-map(*)', 'deny', 'disable-l7-retry', 'early-hint', 'normalize-uri', 'redirect', 'reject', 'replace-header', 'replace-path', 'replace-pathq', 'replace-uri', 'replace-value', 'return', 'set-header', 'set-map(*)', 'set-method', 'set-path', 'set-pathq', 'set-query', 'set-uri', 'strict-mode', 'tarpit', 'track-sc(*)', 'set-timeout', 'wait-for-body', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-dst', 'set-dst-port', 'set-mark', 'set-src', 'set-src-port', 'set-tos', 'silent-drop', 'set-priority-class', 'set-priority-offset', "
            }
            List::Response => {
                "'ot-group', 'set-log-level', 'set-nice', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'cache-store', 'add-acl(*)', 'add-header', 'allow', 'capture', 'del-acl(*)', 'del-header', 'del-map(*)', 'deny', 'redirect', 'replace-header', 'replace-value', 'return', 'set-header', 'set-map(*)', 'set-status', 'strict-mode', 'track-sc(*)', 'wait-for-body', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-mark', 'set-tos', 'silent-drop', "
            }
            List::AfterResponse => {
                "'ot-group', 'add-header', 'allow', 'capture', 'del-header', 'replace-header', 'replace-value', 'set-header', 'set-status', 'strict-mode', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', "
            }
        }
    }

    /// Actions Ravelin implements in this list.
    fn supports(self, action: &str) -> bool {
        match self {
            List::Request => matches!(
                action,
                "set-header"
                    | "add-header"
                    | "del-header"
                    | "replace-header"
                    | "deny"
                    | "return"
                    | "redirect"
                    | "allow"
                    | "wait-for-body"
                    | "use-service"
            ),
            List::Response => matches!(
                action,
                "set-header"
                    | "add-header"
                    | "del-header"
                    | "replace-header"
                    | "deny"
                    | "return"
                    | "allow"
            ),
            List::AfterResponse => matches!(
                action,
                "set-header" | "add-header" | "del-header" | "replace-header" | "allow"
            ),
        }
    }

    fn side(self) -> Side {
        match self {
            List::Request => Side::Request,
            List::Response | List::AfterResponse => Side::Response,
        }
    }
}

/// HTTP error codes HAProxy 2.6 can serve (`http_err_codes`): valid for `errorfile` and for
/// `deny_status`.
pub(crate) const ERROR_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

fn tight(d: &mut Diagnostics, span: &Span, m: String) {
    d.push(ConfigError::with_head(
        Severity::Alert,
        Head::ParsingTight,
        span,
        m,
    ));
}

/// One `http-request|http-response|http-after-response ...` line.
pub(crate) fn parse_rule_line(
    sec: Section<'_>,
    acls: &[Arc<Acl>],
    rules: &mut HttpRules,
    list: List,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let kw = list.kw();
    if !crate::config::section::defaults_allowed(sec, kw, span, d) {
        return;
    }
    let action = words.get(1).map(String::as_str).unwrap_or_default();
    if !list.supports(action) {
        if action.is_empty() {
            return tight(
                d,
                span,
                format!(
                    "'{kw}' expects {}but got '' (missing argument).",
                    list.expected()
                ),
            );
        }
        let known = list.expected().contains(&format!("'{action}'"));
        if known {
            return d.alert(span, unsupported(&format!("{kw} {action}")));
        }
        return tight(
            d,
            span,
            format!("'{kw}' expects {}but got '{action}'.", list.expected()),
        );
    }
    let full = format!("{kw} {action}");
    let rule_err = |d: &mut Diagnostics, m: &str| {
        d.alert(
            span,
            format!(
                "error detected in {} '{}' while parsing '{full}' rule : {m}",
                sec.kind.type_str(),
                sec.name
            ),
        );
    };
    let rest = words.get(2..).unwrap_or_default();
    let (args, cond_words) = split_condition(rest);
    let parsed = match parse_action(list, action, args, span, d) {
        Ok(a) => a,
        Err(Fail::Rule(m)) => return rule_err(d, &m),
        Err(Fail::Trailing(x)) => {
            return tight(
                d,
                span,
                format!(
                    "'{full}' expects either 'if' or 'unless' followed by a condition but found '{x}'."
                ),
            );
        }
    };
    let cond = match cond_words {
        None => None,
        Some((pol, cw)) => {
            let what = format!(
                "{} {kw} header rule",
                if sec.kind == Kind::Backend {
                    "backend"
                } else {
                    "frontend"
                }
            );
            match parse_condition(pol, cw, acls, list.side(), &what) {
                Ok(c) => {
                    for w in c.warnings {
                        d.warning(span, w);
                    }
                    Some(c.cond)
                }
                Err(e) => {
                    return d.alert(
                        span,
                        format!("error detected while parsing an '{full}' condition : {e}"),
                    );
                }
            }
        }
    };
    let rule = HttpRule {
        action: parsed,
        cond,
        origin: Origin {
            file: span.file.clone(),
            line: span.line,
        },
    };
    match list {
        List::Request => rules.request.push(rule),
        List::Response => rules.response.push(rule),
        List::AfterResponse => rules.after_response.push(rule),
    }
}

/// Why an action's arguments were refused.
enum Fail {
    /// `error detected in ... while parsing 'X' rule : MSG`.
    Rule(String),
    /// An extra word where `if`/`unless` was expected.
    Trailing(String),
}

fn parse_action(
    list: List,
    action: &str,
    args: &[String],
    span: &Span,
    d: &mut Diagnostics,
) -> Result<Action, Fail> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let side = list.side();
    match action {
        "set-header" | "add-header" => {
            if args.len() < 2 {
                return Err(Fail::Rule("expects exactly 2 arguments.".into()));
            }
            if let Some(x) = args.get(2) {
                return Err(Fail::Trailing(x.clone()));
            }
            let name: Box<[u8]> = arg(0).as_bytes().into();
            let value = parse_log_format(arg(1), side, false).map_err(Fail::Rule)?;
            Ok(if action == "set-header" {
                Action::SetHeader { name, value }
            } else {
                Action::AddHeader { name, value }
            })
        }
        "del-header" => {
            if args.is_empty() {
                return Err(Fail::Rule("expects at least 1 argument.".into()));
            }
            let how = match (
                args.get(1).map(String::as_str),
                args.get(2).map(String::as_str),
            ) {
                (None, _) => NameMatch::Str,
                (Some("-m"), Some("str")) => NameMatch::Str,
                (Some("-m"), Some("beg")) => NameMatch::Beg,
                (Some("-m"), Some("end")) => NameMatch::End,
                (Some("-m"), Some("sub")) => NameMatch::Sub,
                (Some("-m"), Some("reg")) => {
                    return Err(Fail::Rule(
                        "'-m reg' is a HAProxy matching method that Ravelin does not support yet for 'del-header'.".into(),
                    ));
                }
                (Some("-m"), m) => {
                    return Err(Fail::Rule(format!(
                        "-m: invalid matching method '{}'. Supported methods are 'str', 'beg', 'end', 'sub' and 'reg'.",
                        m.unwrap_or_default()
                    )));
                }
                (Some(x), _) => return Err(Fail::Trailing(x.to_string())),
            };
            if how != NameMatch::Str || args.get(1).is_some() {
                if let Some(x) = args.get(3) {
                    return Err(Fail::Trailing(x.clone()));
                }
            }
            Ok(Action::DelHeader {
                name: arg(0).as_bytes().into(),
                how,
            })
        }
        "replace-header" => {
            if args.len() < 3 {
                return Err(Fail::Rule("expects exactly 3 arguments.".into()));
            }
            if let Some(x) = args.get(3) {
                return Err(Fail::Trailing(x.clone()));
            }
            let regex = compile_regex(arg(1), false).map_err(Fail::Rule)?;
            let with = parse_log_format(arg(2), side, true).map_err(Fail::Rule)?;
            Ok(Action::ReplaceHeader {
                name: arg(0).as_bytes().into(),
                regex,
                with,
            })
        }
        "allow" => match args.first() {
            Some(x) => Err(Fail::Trailing(x.clone())),
            None => Ok(Action::Allow),
        },
        "deny" => {
            let default = if list == List::Request { 403 } else { 502 };
            let reply = parse_reply(args, default, true, span, d)?;
            if !ERROR_CODES.contains(&reply.status)
                && reply.body == ReplyBody::Empty
                && reply.content_type.is_none()
            {
                return Err(Fail::Rule(format!(
                    "status code '{}' not handled by default with 'default-errorfiles' argument..",
                    reply.status
                )));
            }
            let custom = reply.body != ReplyBody::Empty || !reply.headers.is_empty();
            Ok(Action::Deny {
                status: reply.status,
                reply: custom.then_some(reply),
            })
        }
        "return" => Ok(Action::Return(parse_reply(args, 200, false, span, d)?)),
        "use-service" => match args.first().map(String::as_str) {
            Some("prometheus-exporter") => match args.get(1) {
                Some(x) => Err(Fail::Trailing(x.clone())),
                None => Ok(Action::UseService(
                    crate::rules::Service::PrometheusExporter,
                )),
            },
            Some(other) => Err(Fail::Rule(format!("'{other}' unknown service name.."))),
            None => Err(Fail::Rule("expects a service name.".into())),
        },
        "redirect" => parse_redirect(args).map(Action::Redirect),
        "wait-for-body" => {
            let usage = || Fail::Rule("expects time <time> [ at-least <bytes> ].".into());
            if arg(0) != "time" {
                return Err(usage());
            }
            let time = parse_time(arg(1)).map_err(|_| usage())?;
            let mut at_least = 0;
            let mut i = 2;
            if arg(2) == "at-least" {
                at_least = parse_size(arg(3)).ok_or_else(usage)?;
                i = 4;
            }
            if let Some(x) = args.get(i) {
                return Err(Fail::Trailing(x.clone()));
            }
            Ok(Action::WaitForBody { time, at_least })
        }
        other => Err(Fail::Rule(unsupported(other))),
    }
}

/// The reply arguments of `deny` (`deny_status N` / `status N`) and `return` (`status N`):
/// `[content-type T] [string S | file F | errorfile F] [hdr N V]...`.
fn parse_reply(
    args: &[String],
    default: u16,
    deny: bool,
    span: &Span,
    d: &mut Diagnostics,
) -> Result<ReturnSpec, Fail> {
    let mut r = ReturnSpec {
        status: default,
        content_type: None,
        body: ReplyBody::Empty,
        headers: Vec::new(),
    };
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let next = args.get(i + 1);
        match w.as_str() {
            "status" | "deny_status" if w == "status" || deny => {
                let Some(v) = next else {
                    return Err(Fail::Rule(
                        "'status' expects <status_code> as argument.".into(),
                    ));
                };
                let code = v.parse::<u16>().ok().filter(|c| (200..=599).contains(c));
                let Some(code) = code else {
                    return Err(Fail::Rule(format!("Unexpected status code '{v}'.")));
                };
                r.status = code;
            }
            "content-type" => {
                let Some(v) = next else {
                    return Err(Fail::Rule(
                        "'content-type' expects <type> as argument.".into(),
                    ));
                };
                r.content_type = Some(v.clone());
            }
            "string" | "file" | "errorfile" => {
                let Some(v) = next else {
                    return Err(Fail::Rule(format!(
                        "'{w}' expects <{}> as argument.",
                        if w == "string" { "str" } else { "file" }
                    )));
                };
                r.body = if w == "string" {
                    ReplyBody::Payload(Arc::from(v.as_bytes()))
                } else {
                    let bytes = std::fs::read(v)
                        .map_err(|_| Fail::Rule(format!("error opening file '{v}'.")))?;
                    if w == "file" {
                        ReplyBody::Payload(Arc::from(bytes))
                    } else {
                        ReplyBody::Raw(Arc::from(bytes))
                    }
                };
            }
            "lf-string" | "lf-file" => {
                return Err(Fail::Rule(format!(
                    "'{w}' is a HAProxy option that Ravelin does not support yet."
                )));
            }
            "hdr" => {
                let (Some(n), Some(v)) = (next, args.get(i + 2)) else {
                    return Err(Fail::Rule(
                        "'hdr' expects <name> and <value> as arguments.".into(),
                    ));
                };
                r.headers.push((n.clone(), v.clone()));
                i += 1;
            }
            x => return Err(Fail::Trailing(x.to_string())),
        }
        i += 2;
    }
    check_reply(&mut r, "", span, d).map_err(Fail::Rule)?;
    Ok(r)
}

/// HAProxy's consistency checks on a reply (`http_parse_http_reply()`); `suffix` is what
/// HAProxy appends to its messages ("." for rules, nothing for `http-error`).
pub(crate) fn check_reply(
    r: &mut ReturnSpec,
    sep: &str,
    span: &Span,
    d: &mut Diagnostics,
) -> Result<(), String> {
    let dot = if sep.is_empty() { "." } else { "" };
    let has_payload = matches!(&r.body, ReplyBody::Payload(b) if !b.is_empty());
    if has_payload && r.content_type.is_none() {
        return Err(format!(
            "a content type must be defined when non-empty payload is configured{dot}"
        ));
    }
    if has_payload && matches!(r.status, 204 | 304) {
        return Err(format!("No body expected for {} responses{dot}", r.status));
    }
    if let Some(ct) = &r.content_type {
        if !has_payload && !matches!(r.body, ReplyBody::Raw(_)) {
            d.warning(
                span,
                format!("content-type '{ct}' ignored by the http reply because neither errorfile nor payload defined."),
            );
            r.content_type = None;
        }
    }
    r.headers.retain(|(n, _)| {
        let ignored = n.eq_ignore_ascii_case("content-length")
            || n.eq_ignore_ascii_case("content-type")
            || n.eq_ignore_ascii_case("transfer-encoding");
        if ignored {
            d.warning(
                span,
                format!("header '{n}' always ignored by the http reply."),
            );
        }
        !ignored
    });
    Ok(())
}

fn parse_redirect(args: &[String]) -> Result<RedirectSpec, Fail> {
    let mut spec: Option<RedirectSpec> = None;
    let mut code = 302;
    let (mut drop_query, mut append_slash) = (false, false);
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let next = args.get(i + 1);
        match w.as_str() {
            "location" | "prefix" | "scheme" => {
                let Some(v) = next else {
                    return Err(Fail::Rule(format!("missing argument for '{w}'.")));
                };
                let kind = match w.as_str() {
                    "location" => RedirectKind::Location,
                    "prefix" => RedirectKind::Prefix,
                    _ => RedirectKind::Scheme,
                };
                let value = parse_log_format(v, Side::Request, false).map_err(Fail::Rule)?;
                spec = Some(RedirectSpec {
                    kind,
                    value,
                    code: 302,
                    drop_query: false,
                    append_slash: false,
                });
                i += 2;
            }
            "code" => {
                let Some(v) = next else {
                    return Err(Fail::Rule("missing HTTP code.".into()));
                };
                code = match v.parse::<u16>() {
                    Ok(c @ (301 | 302 | 303 | 307 | 308)) => c,
                    _ => {
                        return Err(Fail::Rule(format!(
                            "'code': unsupported HTTP code '{v}' (must be one of 301, 302, 303, 307 or 308)."
                        )));
                    }
                };
                i += 2;
            }
            "drop-query" => {
                drop_query = true;
                i += 1;
            }
            "append-slash" => {
                append_slash = true;
                i += 1;
            }
            "set-cookie" | "clear-cookie" | "ignore-empty" => {
                return Err(Fail::Rule(format!(
                    "redirect option '{w}' is a HAProxy feature that Ravelin does not support yet."
                )));
            }
            x => {
                return Err(Fail::Rule(format!(
                    "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was '{x}')."
                )));
            }
        }
    }
    let Some(mut s) = spec else {
        return Err(Fail::Rule(
            "redirection type expected ('prefix', 'location', or 'scheme').".into(),
        ));
    };
    s.code = code;
    s.drop_query = drop_query;
    s.append_slash = append_slash;
    Ok(s)
}

/// Compiles a log-format string: text, `%%`, `%[FETCH]` for the fetches Ravelin supports,
/// and (in `replace-header` formats) `\N` back-references.
pub(crate) fn parse_log_format(s: &str, side: Side, groups: bool) -> Result<LogFormat, String> {
    let mut parts = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let flush = |lit: &mut Vec<u8>, parts: &mut Vec<LfPart>| {
        if !lit.is_empty() {
            parts.push(LfPart::Lit(std::mem::take(lit).into_boxed_slice()));
        }
    };
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' if groups && b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                flush(&mut lit, &mut parts);
                parts.push(LfPart::Group(b.get(i + 1).map_or(0, |d| d - b'0')));
                i += 2;
            }
            b'%' => match b.get(i + 1) {
                Some(b'%') => {
                    lit.push(b'%');
                    i += 2;
                }
                Some(b'[') => {
                    let body = s.get(i + 2..).unwrap_or_default();
                    let Some(end) = body.find(']') else {
                        return Err(format!("missing ']' after '{body}'."));
                    };
                    let expr = body.get(..end).unwrap_or_default();
                    flush(&mut lit, &mut parts);
                    parts.push(LfPart::Fetch(lf_fetch(expr, side)?));
                    i += 2 + end + 1;
                }
                _ => {
                    return Err(format!(
                        "log-format variable in '{s}' is a HAProxy feature that Ravelin does not support yet (only text and %[src], %[dst], %[dst_port], %[src_port], %[req.hdr(NAME)], %[path], %[url], %[method], %[status])."
                    ));
                }
            },
            _ => {
                lit.push(c);
                i += 1;
            }
        }
    }
    flush(&mut lit, &mut parts);
    Ok(LogFormat { parts })
}

fn lf_fetch(expr: &str, side: Side) -> Result<LfFetch, String> {
    if expr.contains(',') {
        return Err(format!(
            "sample converters in '%[{expr}]' are a HAProxy feature that Ravelin does not support yet."
        ));
    }
    let arg = |p: &str| -> Option<Box<[u8]>> {
        expr.strip_prefix(p)?
            .strip_suffix(')')
            .filter(|n| !n.is_empty())
            .map(|n| n.as_bytes().into())
    };
    Ok(match expr {
        "src" => LfFetch::Src,
        "ssl_fc" => LfFetch::SslFc,
        "ssl_fc_sni" => LfFetch::SslFcSni,
        "ssl_fc_protocol" => LfFetch::SslFcProtocol,
        "dst" => LfFetch::Dst,
        "dst_port" => LfFetch::DstPort,
        "src_port" => LfFetch::SrcPort,
        "path" => LfFetch::Path,
        "url" => LfFetch::Url,
        "method" => LfFetch::Method,
        "status" if side == Side::Response => LfFetch::Status,
        _ => {
            if let Some(n) = arg("req.hdr(") {
                LfFetch::ReqHdr(n)
            } else if let Some(n) = arg("res.hdr(") {
                LfFetch::ResHdr(n)
            } else if let Some(n) = arg("hdr(") {
                match side {
                    Side::Request => LfFetch::ReqHdr(n),
                    Side::Response => LfFetch::ResHdr(n),
                }
            } else {
                return Err(format!(
                    "sample fetch '%[{expr}]' in a log-format string is not supported yet by Ravelin (supported: src, dst, dst_port, src_port, req.hdr(NAME), res.hdr(NAME), path, url, method, status)."
                ));
            }
        }
    })
}

/// `use_backend NAME [if|unless COND]`: the backend name, span and condition.
pub(crate) fn parse_use_backend(
    acls: &[Arc<Acl>],
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) -> Option<(String, Option<Condition>)> {
    let Some(name) = words.get(1) else {
        d.alert(span, "'use_backend' expects a backend name.");
        return None;
    };
    let cond = match words.get(2).map(String::as_str) {
        None => None,
        Some(c @ ("if" | "unless")) => {
            let pol = if c == "if" {
                Polarity::If
            } else {
                Polarity::Unless
            };
            let what = "frontend use-backend rule";
            match parse_condition(
                pol,
                words.get(3..).unwrap_or_default(),
                acls,
                Side::Request,
                what,
            ) {
                Ok(c) => {
                    for w in c.warnings {
                        d.warning(span, w);
                    }
                    Some(c.cond)
                }
                Err(e) => {
                    d.alert(
                        span,
                        format!("error detected while parsing switching rule : {e}"),
                    );
                    return None;
                }
            }
        }
        Some(x) => {
            d.alert(
                span,
                format!("unexpected keyword '{x}' after switching rule, only 'if' and 'unless' are allowed."),
            );
            return None;
        }
    };
    Some((name.clone(), cond))
}
