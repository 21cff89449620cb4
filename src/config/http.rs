//! HTTP proxy keywords that set values: connection-mode and header options, HTTP timeouts,
//! `http-reuse`, `monitor-uri`, the hashing `balance` algorithms, captures, `unique-id-*`,
//! `option http-restrict-req-hdr-names` and `dispatch`; plus `acl` lines.
//!
//! Rules (`http-request` ...) are in `config::rules`, error pages in `config::errors`. What is
//! inherited from `defaults` follows HAProxy: everything here except ACLs, rules, captures
//! and `dispatch`, which HAProxy refuses in an anonymous defaults section (and Ravelin does
//! not support in a named one yet).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::acl::Acl;
use crate::config::error::{ConfigError, Diagnostics, Head, Severity, Span};
use crate::config::error::{too_many, unsupported};
use crate::config::units::parse_u32;
use crate::rules::HttpRules;

use crate::model::{
    Balance, Capture, CaptureDir, ConnMode, ForwardHeader, HttpReuse, HttpSettings,
    RestrictHdrNames,
};

/// A proxy's HTTP configuration as written (see the module comment for inheritance).
#[derive(Clone, Debug, Default)]
pub(crate) struct HttpConf {
    pub(crate) settings: HttpSettings,
    pub(crate) reuse: HttpReuse,
    pub(crate) monitor_uri: Option<String>,
    /// Named ACLs declared so far, each the OR of its lines.
    pub(crate) acls: Vec<Arc<Acl>>,
    pub(crate) rules: HttpRules,
    pub(crate) errors: Vec<crate::config::errors::ErrorDirective>,
    pub(crate) captures: Vec<Capture>,
    pub(crate) unique_id_format: Option<String>,
    pub(crate) unique_id_header: Option<String>,
    pub(crate) restrict: RestrictHdrNames,
    pub(crate) dispatch: Option<SocketAddr>,
    /// `stats ...` keywords (inherited from defaults, as HAProxy's `uri_auth`).
    pub(crate) stats: Option<crate::model::StatsConf>,
    /// Set by a `stats` keyword in this very section (a `stats admin` condition cannot be
    /// inherited: ACLs are not).
    pub(crate) stats_local: bool,
}

impl HttpConf {
    /// What a proxy inherits from a defaults section.
    pub(crate) fn inherited(&self) -> HttpConf {
        HttpConf {
            acls: Vec::new(),
            rules: HttpRules::default(),
            captures: Vec::new(),
            dispatch: None,
            stats_local: false,
            ..self.clone()
        }
    }
}

/// The HTTP `option`s. `name` is known and supported; `words` starts at the option name.
/// Returns false when `name` is not one of them.
pub(crate) fn parse_option(
    hc: &mut HttpConf,
    name: &str,
    words: &[String],
    negate: bool,
    span: &Span,
    d: &mut Diagnostics,
) -> bool {
    let s = &mut hc.settings;
    let mode = match name {
        "http-keep-alive" => Some(ConnMode::KeepAlive),
        "http-server-close" => Some(ConnMode::ServerClose),
        "httpclose" => Some(ConnMode::Close),
        _ => None,
    };
    if let Some(mode) = mode {
        if let Some(x) = words.get(1).filter(|_| !negate) {
            d.alert(span, too_many(&format!("option {name}"), x));
            return true;
        }
        if !negate {
            s.conn_mode = Some(mode);
        } else if s.conn_mode == Some(mode) {
            // HAProxy: `no option X` resets the mode only when X is the current one.
            s.conn_mode = None;
        }
        return true;
    }
    match name {
        "abortonclose" | "http-buffer-request" => {
            if let Some(x) = words.get(1).filter(|_| !negate) {
                d.alert(span, too_many(&format!("option {name}"), x));
                return true;
            }
            if name == "abortonclose" {
                s.abortonclose = !negate;
            } else {
                s.buffer_request = !negate;
            }
        }
        "forwardfor" | "originalto" => {
            if let Some(h) = parse_forward(name, words, span, d) {
                if name == "forwardfor" {
                    s.forwardfor = Some(h);
                } else {
                    s.originalto = Some(h);
                }
            }
        }
        "http-restrict-req-hdr-names" => {
            let v = words.get(1).map(String::as_str).unwrap_or_default();
            hc.restrict = match v {
                "preserve" => RestrictHdrNames::Preserve,
                "delete" => RestrictHdrNames::Delete,
                "reject" => RestrictHdrNames::Reject,
                _ => {
                    d.alert(
                        span,
                        format!("invalid parameter '{v}'. option 'http-restrict-req-hdr-names' expects 'preserve', 'reject' or 'delete' option."),
                    );
                    return true;
                }
            };
            if let Some(x) = words.get(2) {
                d.alert(span, too_many(&format!("option {name}"), x));
            }
        }
        _ => return false,
    }
    true
}

/// `option forwardfor [except NET] [header NAME] [if-none]` / `option originalto [except NET]
/// [header NAME]`, with HAProxy's messages.
fn parse_forward(
    name: &str,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) -> Option<ForwardHeader> {
    let ff = name == "forwardfor";
    let mut h = ForwardHeader {
        header: if ff {
            "X-Forwarded-For"
        } else {
            "X-Original-To"
        }
        .to_string(),
        except: None,
        if_none: false,
    };
    let mut i = 1;
    let mut ok = true;
    while let Some(w) = words.get(i) {
        let arg = words.get(i + 1).map(String::as_str).unwrap_or_default();
        match w.as_str() {
            "except" => {
                match crate::config::acl::parse_net(arg).filter(|_| !arg.is_empty()) {
                    Some(n) => h.except = Some((n.addr, n.prefix)),
                    None => {
                        d.alert(
                            span,
                            format!("'option {name} except' expects <address>[/mask] as argument."),
                        );
                        ok = false;
                    }
                }
                i += 2;
            }
            "header" => {
                if arg.is_empty() {
                    d.alert(
                        span,
                        format!("'option {name} header' expects <header_name> as argument."),
                    );
                    return None;
                }
                h.header = arg.to_string();
                i += 2;
            }
            "if-none" if ff => {
                h.if_none = true;
                i += 1;
            }
            _ => {
                let msg = if ff {
                    "'option forwardfor' only supports optional values: 'except', 'header' and 'if-none'."
                } else {
                    "'option originalto' only supports optional values: 'except' and 'header'."
                };
                d.alert(span, msg);
                return None;
            }
        }
    }
    ok.then_some(h)
}

/// `http-reuse never|safe|aggressive|always`.
pub(crate) fn parse_http_reuse(
    hc: &mut HttpConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let v = words.get(1).map(String::as_str).unwrap_or_default();
    let r = match v {
        "never" => HttpReuse::Never,
        "safe" => HttpReuse::Safe,
        "aggressive" => HttpReuse::Aggressive,
        "always" => HttpReuse::Always,
        _ => {
            return d.alert(
                span,
                "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.",
            );
        }
    };
    if let Some(x) = words.get(2) {
        return d.alert(span, too_many(&format!("http-reuse {v}"), x));
    }
    hc.reuse = r;
}

/// `monitor-uri PATH`.
pub(crate) fn parse_monitor_uri(
    hc: &mut HttpConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let Some(uri) = words.get(1).filter(|w| !w.is_empty()) else {
        return d.alert(span, "'monitor-uri' expects an URI.");
    };
    if let Some(x) = words.get(2) {
        return d.alert(span, too_many("monitor-uri", x));
    }
    hc.monitor_uri = Some(uri.clone());
}

/// The hashing algorithms of `balance` (`uri`, `url_param`, `hdr(NAME)`); `None` when `algo`
/// is not one of them. `Some(Err(msg))` is HAProxy's message.
pub(crate) fn parse_hash_balance(words: &[String]) -> Option<Result<Balance, String>> {
    let algo = words.get(1).map(String::as_str).unwrap_or_default();
    let arg = |i: usize| words.get(i).map(String::as_str).unwrap_or_default();
    if algo == "uri" {
        let (mut whole, mut path_only, mut len, mut depth) = (false, false, 0u32, 0u32);
        let mut i = 2;
        while let Some(w) = words.get(i) {
            match w.as_str() {
                "len" | "depth" => {
                    let v = arg(i + 1);
                    match v.parse::<i64>().ok().filter(|&n| n > 0) {
                        Some(n) => {
                            let n = u32::try_from(n).unwrap_or(u32::MAX);
                            if w == "len" {
                                len = n;
                            } else {
                                depth = n;
                            }
                        }
                        None => {
                            return Some(Err(format!(
                                "balance uri : '{w}' expects a positive integer (got '{v}')."
                            )));
                        }
                    }
                    i += 2;
                }
                "whole" => {
                    whole = true;
                    i += 1;
                }
                "path-only" => {
                    path_only = true;
                    i += 1;
                }
                other => {
                    return Some(Err(format!(
                        "balance uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{other}')."
                    )));
                }
            }
        }
        return Some(Ok(Balance::Uri {
            whole,
            path_only,
            len,
            depth,
        }));
    }
    if algo == "url_param" {
        let name = arg(2);
        if name.is_empty() {
            return Some(Err(
                "balance url_param requires an URL parameter name.".into()
            ));
        }
        let check_post = match words.get(3).map(String::as_str) {
            None => false,
            Some("check_post") => true,
            Some(x) => {
                return Some(Err(format!(
                    "balance url_param only accepts 'check_post' modifier (got '{x}')."
                )));
            }
        };
        return Some(Ok(Balance::UrlParam {
            name: name.into(),
            check_post,
        }));
    }
    let rest = algo.strip_prefix("hdr(")?;
    let name = match rest.find(')') {
        Some(0) | None => {
            return Some(Err("balance hdr requires an http header field name.".into()));
        }
        Some(e) => rest.get(..e).unwrap_or_default(),
    };
    let use_domain_only = match words.get(2).map(String::as_str) {
        None => false,
        Some("use_domain_only") => true,
        Some(x) => {
            return Some(Err(format!(
                "balance {algo} only accepts 'use_domain_only' modifier (got '{x}')."
            )));
        }
    };
    Some(Ok(Balance::Hdr {
        name: name.into(),
        use_domain_only,
    }))
}

/// `capture request|response header NAME len N` (cookies are not supported yet).
pub(crate) fn parse_capture(hc: &mut HttpConf, words: &[String], span: &Span, d: &mut Diagnostics) {
    let what = words.get(1).map(String::as_str).unwrap_or_default();
    let dir = match what {
        "request" => CaptureDir::Request,
        "response" => CaptureDir::Response,
        "cookie" => return d.alert(span, unsupported("capture cookie")),
        _ => {
            return d.alert(span, "'capture' expects 'cookie', 'request' or 'response'.");
        }
    };
    let header_ok = words.get(2).is_some_and(|w| w == "header")
        && words.get(3).is_some_and(|w| !w.is_empty())
        && words.get(4).is_some_and(|w| w == "len");
    let len = words.get(5).and_then(|w| parse_u32(w));
    let (true, Some(len)) = (header_ok, len) else {
        return d.alert(
            span,
            format!("'capture {what}' expects 'header' <header_name> 'len' <len>."),
        );
    };
    if let Some(x) = words.get(6) {
        return d.alert(span, too_many(&format!("capture {what}"), x));
    }
    let name = words.get(3).cloned().unwrap_or_default();
    hc.captures.push(Capture { dir, name, len });
}

/// `unique-id-format FMT` / `unique-id-header NAME` (stored verbatim; the format is warned about
/// as not applied until the log-format engine exists).
pub(crate) fn parse_unique_id(
    hc: &mut HttpConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let kw = words.first().map(String::as_str).unwrap_or_default();
    let Some(v) = words.get(1) else {
        return d.alert(span, format!("'{kw}' expects an argument."));
    };
    if kw == "unique-id-format" {
        if let Some(x) = words.get(2) {
            return d.alert(
                span,
                format!("'{kw}' expects only one argument, you may want to escape or quote '{x}'."),
            );
        }
        hc.unique_id_format = Some(v.clone()).filter(|v| !v.is_empty());
    } else {
        if let Some(x) = words.get(2) {
            return d.alert(span, too_many(kw, x));
        }
        hc.unique_id_header = Some(v.clone());
    }
}

/// `dispatch ADDR:PORT` (numeric addresses only).
pub(crate) fn parse_dispatch(
    hc: &mut HttpConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let v = words.get(1).map(String::as_str).unwrap_or_default();
    if v.is_empty() {
        return d.push(ConfigError::with_head(
            Severity::Alert,
            Head::Parsing,
            span,
            "'dispatch' : '' resolves to an empty address (environment variable missing?)\n",
        ));
    }
    match v.parse::<SocketAddr>() {
        Ok(a) => hc.dispatch = Some(a),
        Err(_) if !v.contains(':') || v.ends_with(':') => {
            d.alert(span, format!("'dispatch' : missing port specification in '{v}'"))
        }
        Err(_) => d.alert(
            span,
            format!("'dispatch' with a host name ('{v}') is a HAProxy form that Ravelin does not support yet."),
        ),
    }
}
