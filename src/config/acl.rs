//! `acl` lines and `if|unless` conditions: words in, [`crate::acl`] types out.
//!
//! Owns the criteria Ravelin supports (see `docs/CONFIG.md`), the `-i`/`-m`/`--` flags, pattern
//! compilation (regexes once, with the `regex` crate), HAProxy's predefined ACLs and HAProxy's
//! messages for each mistake. Name lookups see the ACLs declared before the rule in the same
//! proxy, then the predefined ones, as HAProxy's `find_acl_by_name()` does at parse time.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use regex::bytes::{Regex, RegexBuilder};

use crate::acl::{Acl, Condition, Expr, Fetch, IntRange, IpNet, Matcher, Patterns, Polarity, Term};

/// Where a condition is used: request-side rules cannot see the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

/// Criteria HAProxy 2.6 knows that Ravelin does not evaluate yet (a config using them gets an
/// explicit alert rather than HAProxy's "unknown fetch method").
const UNSUPPORTED_FETCHES: &[&str] = &[
    "base",
    "base_beg",
    "base_end",
    "base_sub",
    "base_reg",
    "base32",
    "cook",
    "cook_beg",
    "cook_cnt",
    "cook_sub",
    "req.cook",
    "res.cook",
    "req.len",
    "req.body",
    "req.fhdr",
    "req.payload",
    "req_ssl_sni",
    "req.ssl_sni",
    "ssl_fc",
    "ssl_fc_sni",
    "ssl_c_used",
    "http_auth",
    "nbsrv",
    "be_conn",
    "fe_conn",
    "connslots",
    "srv_is_up",
    "var",
    "env",
    "sc_http_req_rate",
    "sc0_http_req_rate",
    "src_conn_cur",
    "src_http_req_rate",
    "capture.req.hdr",
    "lua",
    "url_ip",
    "url_port",
    "path_end_reg",
    "req.proto_http",
    "req_proto_http",
];

/// `(name, definition)` of HAProxy's predefined ACLs (manual 7.4) that Ravelin evaluates.
const PREDEFINED: &[(&str, &str)] = &[
    ("FALSE", "always_false"),
    ("HTTP", "always_true"),
    ("HTTP_1.0", "req.ver 1.0"),
    ("HTTP_1.1", "req.ver 1.1"),
    ("HTTP_2.0", "req.ver 2.0"),
    ("HTTP_3.0", "req.ver 3.0"),
    ("HTTP_CONTENT", "hdr_val(content-length) gt 0"),
    ("HTTP_URL_ABS", "url_reg ^[^/:]*://"),
    ("HTTP_URL_SLASH", "url_beg /"),
    ("HTTP_URL_STAR", "url *"),
    ("LOCALHOST", "src 127.0.0.1/8 ::1"),
    ("METH_CONNECT", "method CONNECT"),
    ("METH_DELETE", "method DELETE"),
    ("METH_GET", "method GET HEAD"),
    ("METH_HEAD", "method HEAD"),
    ("METH_OPTIONS", "method OPTIONS"),
    ("METH_POST", "method POST"),
    ("METH_PUT", "method PUT"),
    ("METH_TRACE", "method TRACE"),
    ("TRUE", "always_true"),
];

/// Predefined ACLs that need layer-4 payload inspection, which Ravelin does not do.
const PREDEFINED_UNSUPPORTED: &[&str] = &["RDP_COOKIE", "REQ_CONTENT", "WAIT_END"];

/// The bare warning HAProxy prints for an ACL line without any pattern.
pub(crate) fn no_pattern_warning(kw: &str) -> String {
    format!(
        "parsing acl keyword '{kw}' :\n  no pattern to match against were provided, so this ACL will never match.\n  If this is what you intended, please add '--' to get rid of this warning.\n  If you intended to match only for existence, please use '-m found'.\n  If you wanted to force an int to match as a bool, please use '-m bool'.\n"
    )
}

/// A compiled expression, plus the warning to print when it has no pattern.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) expr: Expr,
    pub(crate) warning: Option<String>,
}

/// Splits `kw(arg)`; `Err` when the parenthesis is not closed at the end.
fn split_criterion(word: &str) -> Result<(&str, Option<&str>), String> {
    match word.find('(') {
        None => Ok((word, None)),
        Some(i) => {
            let base = word.get(..i).unwrap_or_default();
            let rest = word.get(i + 1..).unwrap_or_default();
            match rest.strip_suffix(')') {
                Some(arg) if !arg.contains(')') => Ok((base, Some(arg))),
                _ => Err(format!("ACL keyword '{base}' : expected ')'.")),
            }
        }
    }
}

/// Maps a criterion to its fetch and default matcher; `Ok(None)` for an unknown name.
fn criterion(base: &str, arg: Option<&str>) -> Result<Option<(Fetch, Matcher)>, String> {
    let name = || -> Result<Box<[u8]>, String> {
        match arg {
            Some(a) if !a.is_empty() => Ok(a.as_bytes().into()),
            _ => Err(format!(
                "'{base}' without a header or parameter name is a HAProxy form that Ravelin does not support yet."
            )),
        }
    };
    let suffix = |s: &str| -> Option<Matcher> {
        Some(match s {
            "" => Matcher::Str,
            "_beg" => Matcher::Beg,
            "_end" => Matcher::End,
            "_sub" => Matcher::Sub,
            "_reg" => Matcher::Reg,
            "_dir" => Matcher::Dir,
            "_dom" => Matcher::Dom,
            "_len" => Matcher::Len,
            _ => return None,
        })
    };
    let out = if let Some(m) = base.strip_prefix("path").and_then(suffix) {
        (Fetch::Path, m)
    } else if let Some(m) = base.strip_prefix("url").and_then(suffix) {
        (Fetch::Url, m)
    } else if let Some(rest) = base
        .strip_prefix("hdr")
        .or_else(|| base.strip_prefix("req.hdr"))
    {
        let req_only = base.starts_with("req.");
        match rest {
            "_cnt" => (Fetch::ReqHdrCnt(name()?), Matcher::Int),
            "_ip" | "_val" => {
                let m = if rest == "_ip" {
                    Matcher::Ip
                } else {
                    Matcher::Int
                };
                let n = name()?;
                (
                    if req_only {
                        Fetch::ReqHdr(n)
                    } else {
                        Fetch::Hdr(n)
                    },
                    m,
                )
            }
            s => match suffix(s) {
                Some(m) => {
                    let n = name()?;
                    (
                        if req_only {
                            Fetch::ReqHdr(n)
                        } else {
                            Fetch::Hdr(n)
                        },
                        m,
                    )
                }
                None => return Ok(None),
            },
        }
    } else if let Some(rest) = base
        .strip_prefix("res.hdr")
        .or_else(|| base.strip_prefix("shdr"))
    {
        match suffix(rest) {
            Some(m) => (Fetch::ResHdr(name()?), m),
            None => return Ok(None),
        }
    } else {
        match base {
            "query" => (Fetch::Query, Matcher::Str),
            "method" => (Fetch::Method, Matcher::Str),
            "req.ver" | "req_ver" => (Fetch::ReqVer, Matcher::Str),
            "url_param" | "urlp" => (Fetch::UrlParam(name()?), Matcher::Str),
            "src" => (Fetch::Src, Matcher::Ip),
            "dst" => (Fetch::Dst, Matcher::Ip),
            "src_port" => (Fetch::SrcPort, Matcher::Int),
            "dst_port" => (Fetch::DstPort, Matcher::Int),
            "status" => (Fetch::Status, Matcher::Int),
            "ssl_fc" => (Fetch::SslFc, Matcher::Bool),
            "ssl_fc_sni" => (Fetch::SslFcSni, Matcher::Str),
            "ssl_fc_protocol" => (Fetch::SslFcProtocol, Matcher::Str),
            "ssl_fc_alpn" => (Fetch::SslFcAlpn, Matcher::Str),
            "always_true" => (Fetch::Always(true), Matcher::Bool),
            "always_false" => (Fetch::Always(false), Matcher::Bool),
            _ => return Ok(None),
        }
    };
    Ok(Some(out))
}

/// Compiles one ACL expression: `CRITERION [flags] [VALUE...]`.
pub(crate) fn parse_expr(words: &[String]) -> Result<Parsed, String> {
    let Some(first) = words.first().filter(|w| !w.is_empty()) else {
        return Err("missing fetch method in ACL expression ''.".into());
    };
    let (base, arg) = split_criterion(first)?;
    let (fetch, mut matcher) = match criterion(base, arg)? {
        Some(x) => x,
        None if UNSUPPORTED_FETCHES.contains(&base) => {
            return Err(format!(
                "'{base}' is a HAProxy sample fetch that Ravelin does not support yet."
            ));
        }
        None => {
            return Err(format!(
                "unknown fetch method '{base}' in ACL expression '{first}'."
            ));
        }
    };
    let mut icase = false;
    let mut i = 1;
    let mut explicit_end = false;
    while let Some(w) = words.get(i).filter(|w| w.starts_with('-')) {
        match w.as_str() {
            "-i" => icase = true,
            "-n" => {}
            "--" => {
                explicit_end = true;
                i += 1;
                break;
            }
            "-m" => {
                let m = words.get(i + 1).map(String::as_str).unwrap_or_default();
                matcher = match m {
                    "str" => Matcher::Str,
                    "beg" => Matcher::Beg,
                    "end" => Matcher::End,
                    "sub" => Matcher::Sub,
                    "reg" => Matcher::Reg,
                    "dir" => Matcher::Dir,
                    "dom" => Matcher::Dom,
                    "len" => Matcher::Len,
                    "found" => Matcher::Found,
                    "bool" => Matcher::Bool,
                    "int" => Matcher::Int,
                    "ip" => Matcher::Ip,
                    "bin" => {
                        return Err(
                            "'-m bin' is a HAProxy matching method that Ravelin does not support yet."
                                .into(),
                        );
                    }
                    _ => {
                        return Err(format!(
                            "unknown matching method '{m}' when parsing ACL expression."
                        ));
                    }
                };
                i += 1;
            }
            "-f" | "-M" | "-u" => {
                return Err(format!(
                    "ACL option '{w}' is a HAProxy feature that Ravelin does not support yet."
                ));
            }
            _ => {
                return Err(format!(
                    "'{w}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'."
                ));
            }
        }
        i += 1;
    }
    let values = words.get(i..).unwrap_or_default();
    let patterns = compile_patterns(matcher, icase, values)?;
    let warning =
        (values.is_empty() && !explicit_end && !matches!(matcher, Matcher::Found | Matcher::Bool))
            .then(|| no_pattern_warning(base));
    Ok(Parsed {
        expr: Expr {
            fetch,
            matcher,
            icase,
            patterns,
        },
        warning,
    })
}

fn compile_patterns(m: Matcher, icase: bool, values: &[String]) -> Result<Patterns, String> {
    Ok(match m {
        Matcher::Found | Matcher::Bool => Patterns::None,
        Matcher::Reg => Patterns::Regex(
            values
                .iter()
                .map(|v| compile_regex(v, icase))
                .collect::<Result<_, _>>()?,
        ),
        Matcher::Int | Matcher::Len => Patterns::Ints(parse_int_patterns(values)?),
        Matcher::Ip => Patterns::Ips(
            values
                .iter()
                .map(|v| {
                    parse_net(v)
                        .ok_or_else(|| format!("'{v}' is not a valid IPv4 or IPv6 address."))
                })
                .collect::<Result<_, _>>()?,
        ),
        Matcher::Str | Matcher::Beg | Matcher::End | Matcher::Sub | Matcher::Dir | Matcher::Dom => {
            Patterns::Bytes(values.iter().map(|v| v.as_bytes().into()).collect())
        }
    })
}

/// Compiles a regex once; the message keeps HAProxy's shape (the error text is the `regex`
/// crate's, not PCRE's).
pub(crate) fn compile_regex(v: &str, icase: bool) -> Result<Regex, String> {
    RegexBuilder::new(v)
        .case_insensitive(icase)
        .build()
        .map_err(|e| {
            let text = e.to_string();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let last = last.trim().trim_start_matches("error: ");
            format!("regex '{v}' is invalid (error={last}).")
        })
}

/// Integer patterns: `N`, `N:M`, `:M`, `N:`, `N-M`, and the operators `eq ge gt le lt` that
/// apply to the next value.
fn parse_int_patterns(values: &[String]) -> Result<Vec<IntRange>, String> {
    let num = |s: &str, whole: &str| -> Result<i64, String> {
        s.parse::<i64>()
            .map_err(|_| format!("'{whole}' is not a number."))
    };
    let mut out = Vec::new();
    let mut op: Option<&str> = None;
    for v in values {
        if matches!(v.as_str(), "eq" | "ge" | "gt" | "le" | "lt") {
            op = Some(v.as_str());
            continue;
        }
        let range = match op.take() {
            Some(o) => {
                let n = num(v, v)?;
                match o {
                    "eq" => IntRange { min: n, max: n },
                    "ge" => IntRange {
                        min: n,
                        max: i64::MAX,
                    },
                    "gt" => IntRange {
                        min: n.saturating_add(1),
                        max: i64::MAX,
                    },
                    "le" => IntRange {
                        min: i64::MIN,
                        max: n,
                    },
                    _ => IntRange {
                        min: i64::MIN,
                        max: n.saturating_sub(1),
                    },
                }
            }
            None => {
                let sep = v
                    .find(':')
                    .or_else(|| v.get(1..).and_then(|r| r.find('-')).map(|p| p + 1));
                match sep {
                    None => {
                        let n = num(v, v)?;
                        IntRange { min: n, max: n }
                    }
                    Some(p) => {
                        let lo = v.get(..p).unwrap_or_default();
                        let hi = v.get(p + 1..).unwrap_or_default();
                        IntRange {
                            min: if lo.is_empty() { i64::MIN } else { num(lo, v)? },
                            max: if hi.is_empty() { i64::MAX } else { num(hi, v)? },
                        }
                    }
                }
            }
        };
        out.push(range);
    }
    Ok(out)
}

/// `a.b.c.d`, `a.b.c.d/N`, `a.b.c.d/m.m.m.m`, an IPv6 address with an optional `/N`.
pub(crate) fn parse_net(v: &str) -> Option<IpNet> {
    let (addr, mask) = match v.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (v, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match mask {
        None => max,
        Some(m) => match m.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return None,
            Err(_) if addr.is_ipv4() => {
                let m: Ipv4Addr = m.parse().ok()?;
                let bits = u32::from(m);
                let ones = bits.leading_ones();
                // A netmask must be contiguous ones.
                if bits.checked_shl(ones).unwrap_or(0) != 0 {
                    return None;
                }
                u8::try_from(ones).ok()?
            }
            Err(_) => return None,
        },
    };
    Some(IpNet { addr, prefix })
}

/// A predefined ACL by name: `Ok(None)` when `name` is not predefined.
pub(crate) fn predefined(name: &str) -> Result<Option<Arc<Acl>>, String> {
    if PREDEFINED_UNSUPPORTED.contains(&name) {
        return Err(format!(
            "predefined ACL '{name}' is a HAProxy feature that Ravelin does not support yet."
        ));
    }
    let Some((_, def)) = PREDEFINED.iter().find(|(n, _)| *n == name) else {
        return Ok(None);
    };
    let words: Vec<String> = def.split(' ').map(str::to_string).collect();
    let parsed = parse_expr(&words)?;
    Ok(Some(Arc::new(Acl {
        name: name.to_string(),
        exprs: vec![parsed.expr],
    })))
}

/// Adds an `acl NAME ...` line to `acls` (lines with the same name are OR-ed together).
/// Returns a warning to print, if any; `Err` is HAProxy's message for the line.
pub(crate) fn add_acl_line(
    acls: &mut Vec<Arc<Acl>>,
    words: &[String],
) -> Result<Option<String>, String> {
    let name = words.get(1).map(String::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err("'acl' expects an ACL name and a criterion.".into());
    }
    if let Some(c) = crate::config::error::invalid_char(name) {
        return Err(format!(
            "character '{c}' is not permitted in acl name '{name}'."
        ));
    }
    let parsed = parse_expr(words.get(2..).unwrap_or_default())
        .map_err(|e| format!("error detected while parsing ACL '{name}' : {e}"))?;
    match acls.iter_mut().find(|a| a.name == name) {
        Some(a) => Arc::make_mut(a).exprs.push(parsed.expr),
        None => acls.push(Arc::new(Acl {
            name: name.to_string(),
            exprs: vec![parsed.expr],
        })),
    }
    Ok(parsed.warning)
}

/// What parsing a condition produced.
#[derive(Debug)]
pub(crate) struct ParsedCond {
    pub(crate) cond: Condition,
    /// Warnings (anonymous ACL without pattern, response fetch in a request rule).
    pub(crate) warnings: Vec<String>,
}

/// Parses the words after `if`/`unless`. `what` names the rule for the "will never match"
/// warning, e.g. `frontend use-backend rule`.
pub(crate) fn parse_condition(
    polarity: Polarity,
    words: &[String],
    acls: &[Arc<Acl>],
    side: Side,
    what: &str,
) -> Result<ParsedCond, String> {
    let mut suites: Vec<Vec<Term>> = Vec::new();
    let mut current: Vec<Term> = Vec::new();
    let mut negate = false;
    let mut warnings = Vec::new();
    let mut i = 0;
    while let Some(word) = words.get(i) {
        i += 1;
        // HAProxy strips any number of leading `!`, each one inverting the term; a word made
        // only of `!` is allowed.
        let bangs = word.bytes().take_while(|&b| b == b'!').count();
        if bangs % 2 == 1 {
            negate = !negate;
        }
        let w = word.get(bangs..).unwrap_or_default();
        match w {
            "" => continue,
            "||" | "or" if bangs == 0 => {
                if !current.is_empty() {
                    suites.push(std::mem::take(&mut current));
                }
                negate = false;
                continue;
            }
            "{" => {
                let start = i;
                let Some(len) = words
                    .get(start..)
                    .and_then(|r| r.iter().position(|w| w == "}"))
                else {
                    return Err("missing closing '}' in condition.".into());
                };
                let inner = words.get(start..start + len).unwrap_or_default();
                i = start + len + 1;
                let parsed = parse_expr(inner)?;
                if let Some(w) = parsed.warning {
                    warnings.push(w);
                }
                let acl = Arc::new(Acl {
                    name: String::new(),
                    exprs: vec![parsed.expr],
                });
                check_side(&acl, side, what, &mut warnings);
                current.push(Term { negate, acl });
            }
            name => {
                let acl = match acls.iter().rev().find(|a| a.name == name) {
                    Some(a) => a.clone(),
                    None => match predefined(name)? {
                        Some(a) => a,
                        None => return Err(format!("no such ACL : '{name}'.")),
                    },
                };
                check_side(&acl, side, what, &mut warnings);
                current.push(Term { negate, acl });
            }
        }
        negate = false;
    }
    if !current.is_empty() {
        suites.push(current);
    }
    Ok(ParsedCond {
        cond: Condition { polarity, suites },
        warnings,
    })
}

/// HAProxy's warning for a response-only fetch in a request-side rule.
fn check_side(acl: &Acl, side: Side, what: &str, warnings: &mut Vec<String>) {
    if side == Side::Response {
        return;
    }
    if let Some(e) = acl.exprs.iter().find(|e| e.fetch.needs_response()) {
        let kw = match e.fetch {
            Fetch::Status => "status",
            _ => "res.hdr",
        };
        let who = if acl.name.is_empty() {
            "anonymous acl".to_string()
        } else {
            format!("acl '{}'", acl.name)
        };
        warnings.push(format!(
            "{who} will never match because it uses keyword '{kw}' which is incompatible with '{what}'"
        ));
    }
}

/// Splits `rest` (the words after an action) at `if`/`unless`: returns the action's own words
/// and the condition words with their polarity.
pub(crate) fn split_condition(rest: &[String]) -> (&[String], Option<(Polarity, &[String])>) {
    match rest.iter().position(|w| w == "if" || w == "unless") {
        Some(p) => {
            let pol = if rest.get(p).is_some_and(|w| w == "if") {
                Polarity::If
            } else {
                Polarity::Unless
            };
            (
                rest.get(..p).unwrap_or_default(),
                Some((pol, rest.get(p + 1..).unwrap_or_default())),
            )
        }
        None => (rest, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn acl_errors_match_haproxy() {
        let mut acls = Vec::new();
        let e = |acls: &mut Vec<Arc<Acl>>, l: &str| add_acl_line(acls, &w(l)).err();
        assert_eq!(
            e(&mut acls, "acl a1").as_deref(),
            Some(
                "error detected while parsing ACL 'a1' : missing fetch method in ACL expression ''."
            )
        );
        assert_eq!(
            e(&mut acls, "acl a2 foo_bar /x").as_deref(),
            Some(
                "error detected while parsing ACL 'a2' : unknown fetch method 'foo_bar' in ACL expression 'foo_bar'."
            )
        );
        assert_eq!(
            e(&mut acls, "acl a4 src 10.0.0.0/33").as_deref(),
            Some(
                "error detected while parsing ACL 'a4' : '10.0.0.0/33' is not a valid IPv4 or IPv6 address."
            )
        );
        assert_eq!(
            e(&mut acls, "acl a5 dst_port 80:90 x").as_deref(),
            Some("error detected while parsing ACL 'a5' : 'x' is not a number.")
        );
        assert_eq!(
            e(&mut acls, "acl a6 path -m foo /x").as_deref(),
            Some(
                "error detected while parsing ACL 'a6' : unknown matching method 'foo' when parsing ACL expression."
            )
        );
        assert_eq!(
            e(&mut acls, "acl a7 path -z /x").as_deref(),
            Some(
                "error detected while parsing ACL 'a7' : '-z' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'."
            )
        );
        assert_eq!(
            e(&mut acls, "acl 4$ path /x").as_deref(),
            Some("character '$' is not permitted in acl name '4$'.")
        );
        assert_eq!(
            e(&mut acls, "acl a10 hdr(host) -m").as_deref(),
            Some(
                "error detected while parsing ACL 'a10' : unknown matching method '' when parsing ACL expression."
            )
        );
        assert_eq!(
            e(&mut acls, "acl r hdr(host x").as_deref(),
            Some("error detected while parsing ACL 'r' : ACL keyword 'hdr' : expected ')'.")
        );
        let re = e(&mut acls, "acl a3 path_reg (").unwrap_or_default();
        assert!(
            re.starts_with("error detected while parsing ACL 'a3' : regex '(' is invalid (error=")
        );
        assert!(acls.is_empty());
    }

    #[test]
    fn acl_lines_merge_and_warn() {
        let mut acls = Vec::new();
        assert_eq!(add_acl_line(&mut acls, &w("acl a path /x")), Ok(None));
        assert_eq!(add_acl_line(&mut acls, &w("acl a path_beg /y")), Ok(None));
        assert_eq!(acls.len(), 1);
        assert_eq!(acls.first().map(|a| a.exprs.len()), Some(2));
        let warn = add_acl_line(&mut acls, &w("acl b path_beg")).unwrap_or_default();
        assert_eq!(warn, Some(no_pattern_warning("path_beg")));
        assert_eq!(add_acl_line(&mut acls, &w("acl c path_beg --")), Ok(None));
        assert_eq!(
            add_acl_line(&mut acls, &w("acl d hdr(x) -m found")),
            Ok(None)
        );
    }

    #[test]
    fn conditions_parse_like_haproxy() {
        let mut acls = Vec::new();
        let _ = add_acl_line(&mut acls, &w("acl a9 method GET POST"));
        let c = |s: &str| {
            parse_condition(
                Polarity::If,
                &w(s),
                &acls,
                Side::Request,
                "frontend use-backend rule",
            )
            .map(|p| p.cond.suites.iter().map(Vec::len).collect::<Vec<_>>())
        };
        assert_eq!(c("nope"), Err("no such ACL : 'nope'.".into()));
        assert_eq!(c("a9 ||"), Ok(vec![1]));
        assert_eq!(
            c("{ path /x"),
            Err("missing closing '}' in condition.".into())
        );
        assert_eq!(
            c("{ }"),
            Err("missing fetch method in ACL expression ''.".into())
        );
        assert_eq!(c("!"), Ok(vec![]));
        assert_eq!(c(""), Ok(vec![]));
        assert_eq!(c("a9 TRUE or !a9 { path /x }"), Ok(vec![2, 2]));
        assert_eq!(
            c("{ foo }"),
            Err("unknown fetch method 'foo' in ACL expression 'foo'.".into())
        );
        let warned = parse_condition(
            Polarity::If,
            &w("{ status 200 }"),
            &acls,
            Side::Request,
            "frontend use-backend rule",
        )
        .map(|p| p.warnings)
        .unwrap_or_default();
        assert_eq!(
            warned,
            vec!["anonymous acl will never match because it uses keyword 'status' which is incompatible with 'frontend use-backend rule'".to_string()]
        );
    }

    #[test]
    fn patterns() {
        assert_eq!(
            parse_net("10.0.0.1/255.0.0.0"),
            Some(IpNet {
                addr: "10.0.0.1"
                    .parse()
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                prefix: 8
            })
        );
        assert_eq!(parse_net("10.0.0.1/255.0.255.0"), None);
        assert!(parse_net("fe80::/10").is_some_and(|n| n.prefix == 10));
        assert_eq!(parse_net("foo"), None);
        let r = parse_int_patterns(&w("80 8000:8080 :90 100: ge 5 lt 3 1-2")).unwrap_or_default();
        assert_eq!(r.len(), 7);
        assert_eq!(r.get(6), Some(&IntRange { min: 1, max: 2 }));
        assert_eq!(
            r.get(5),
            Some(&IntRange {
                min: i64::MIN,
                max: 2
            })
        );
        assert_eq!(
            parse_int_patterns(&w("-5")),
            Ok(vec![IntRange { min: -5, max: -5 }])
        );
    }

    #[test]
    fn hostile_input_never_panics() {
        let mut acls = Vec::new();
        for l in [
            "acl x hdr(",
            "acl x hdr()",
            "acl x (",
            "acl x )",
            "acl x path -m",
            "acl x path -i -i -i",
            "acl x src /",
            "acl x src 1.2.3.4/",
            "acl x dst_port :",
            "acl x dst_port -",
            "acl x path_reg \u{ff}(",
            "acl x \u{0}",
        ] {
            let _ = add_acl_line(&mut acls, &w(l));
        }
        for c in ["{", "}", "{ {", "! ! !", "|| || or", "{ } }"] {
            let _ = parse_condition(Polarity::Unless, &w(c), &acls, Side::Request, "x");
        }
        for name in [
            "TRUE",
            "LOCALHOST",
            "METH_GET",
            "HTTP_CONTENT",
            "HTTP_URL_ABS",
        ] {
            assert!(matches!(predefined(name), Ok(Some(_))), "{name}");
        }
        assert!(predefined("WAIT_END").is_err());
    }
}
