//! ACLs and conditions: the compiled form of `acl NAME CRITERION [flags] VALUE...` lines and
//! of `if|unless` conditions, and their evaluation against a request (and, for response rules,
//! a response status and headers).
//!
//! Compilation (text to these types, with HAProxy's messages) is `config::acl`'s job; this
//! module only holds the data and evaluates it. Evaluation never allocates: samples are
//! borrowed from the request buffer, case-insensitive matches compare byte by byte, numbers
//! and addresses that must be matched as text are formatted into a stack buffer. Regexes were
//! compiled once at load time.
//!
//! Semantics follow HAProxy 2.6 (manual section 7): an ACL is true when any of its lines
//! matches; a line matches when any sample of its fetch matches any pattern; a condition is an
//! OR (`||`, `or`) of AND-ed terms, each term an ACL optionally negated with `!`.

use std::net::IpAddr;
use std::sync::Arc;

use regex::bytes::Regex;

use crate::http::view::ReqView;
use crate::http::{HeaderSpan, Version};

mod matcher;
#[cfg(test)]
mod tests;

/// Request builders shared with the rule tests.
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::tests::{addr, head};
}

pub(crate) use matcher::{IntRange, IpNet};

/// What a criterion extracts from the stream (HAProxy's sample fetch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fetch {
    /// `path`: the request path, without the query string.
    Path,
    /// `url`: the request target as sent.
    Url,
    /// `query`: what follows `?` (no sample when there is no `?`).
    Query,
    /// `method`.
    Method,
    /// `req.ver` / `req_ver`: `1.0` or `1.1`.
    ReqVer,
    /// `hdr(NAME)`: every comma-separated value of the headers `NAME` of the request, or of
    /// the response when evaluated for a response rule (as in HAProxy).
    Hdr(Box<[u8]>),
    /// `req.hdr(NAME)`: always the request's headers.
    ReqHdr(Box<[u8]>),
    /// `res.hdr(NAME)` (and `hdr(NAME)` in a response rule).
    ResHdr(Box<[u8]>),
    /// `hdr_cnt(NAME)` / `req.hdr_cnt(NAME)`: how many comma-separated values there are.
    ReqHdrCnt(Box<[u8]>),
    /// `url_param(NAME)` / `urlp(NAME)`: first value of a query parameter.
    UrlParam(Box<[u8]>),
    /// `src`: the client address.
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`: the address the client connected to.
    Dst,
    /// `dst_port`.
    DstPort,
    /// `status`: the response status (response rules only).
    Status,
    /// `ssl_fc`: the client connection is TLS.
    SslFc,
    /// `ssl_fc_sni`: the SNI the client sent (no sample without).
    SslFcSni,
    /// `ssl_fc_protocol`: `TLSv1.2` / `TLSv1.3`.
    SslFcProtocol,
    /// `ssl_fc_alpn`: the protocol ALPN agreed.
    SslFcAlpn,
    /// `always_true` / `always_false`.
    Always(bool),
}

impl Fetch {
    /// True when the fetch needs a response (HAProxy refuses it in request-side rules).
    pub(crate) fn needs_response(&self) -> bool {
        matches!(self, Fetch::Status | Fetch::ResHdr(_))
    }
}

/// How samples are compared with patterns (`-m` or the fetch's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Matcher {
    Str,
    Beg,
    End,
    Sub,
    /// `-m dir`: a `/`-delimited part of the sample.
    Dir,
    /// `-m dom`: a `.`/`/`/`?`/`:`-delimited part of the sample.
    Dom,
    Reg,
    /// `-m len`: the sample's length against integer ranges.
    Len,
    /// `-m found`: the sample exists.
    Found,
    /// `-m bool`: the sample is a non-zero integer or a true boolean.
    Bool,
    /// `-m int`: integer ranges.
    Int,
    /// `-m ip`: addresses and networks.
    Ip,
}

/// Compiled patterns of one ACL line; which variant is used follows the matcher.
#[derive(Clone, Debug)]
pub(crate) enum Patterns {
    /// `found`/`bool`: nothing to compare with.
    None,
    Bytes(Vec<Box<[u8]>>),
    Regex(Vec<Regex>),
    Ints(Vec<IntRange>),
    Ips(Vec<IpNet>),
}

/// One `acl` line (or an anonymous `{ ... }` ACL).
#[derive(Clone, Debug)]
pub(crate) struct Expr {
    pub(crate) fetch: Fetch,
    pub(crate) matcher: Matcher,
    /// `-i`: compare ASCII case-insensitively (regexes were compiled case-insensitive).
    pub(crate) icase: bool,
    pub(crate) patterns: Patterns,
}

/// A named ACL: the OR of every `acl` line with that name in the proxy, in order.
#[derive(Clone, Debug)]
pub(crate) struct Acl {
    pub(crate) name: String,
    pub(crate) exprs: Vec<Expr>,
}

/// One term of a condition: an ACL, negated with `!` or not.
#[derive(Clone, Debug)]
pub(crate) struct Term {
    pub(crate) negate: bool,
    pub(crate) acl: Arc<Acl>,
}

/// `if` or `unless`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Polarity {
    If,
    Unless,
}

/// A rule's condition: OR of suites, each suite an AND of terms. An empty condition (`if`
/// alone) has no suite and is false, as in HAProxy; `unless` inverts the result.
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    pub(crate) polarity: Polarity,
    pub(crate) suites: Vec<Vec<Term>>,
}

/// A response as response-side conditions see it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RespView<'a> {
    pub(crate) status: u16,
    /// The buffer the header spans point into.
    pub(crate) buf: &'a [u8],
    pub(crate) headers: &'a [HeaderSpan],
}

impl<'a> RespView<'a> {
    /// Values of every header called `name` (case-insensitive), in order.
    pub(crate) fn headers(&self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.headers
            .iter()
            .filter(move |h| h.name.get(buf).eq_ignore_ascii_case(name))
            .map(move |h| h.value.get(buf))
    }
}

/// Everything a condition may look at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) req: &'a ReqView<'a>,
    /// Set for response rules.
    pub(crate) resp: Option<RespView<'a>>,
}

/// Evaluates a condition on a request.
pub(crate) fn eval(cond: &Condition, view: &ReqView) -> bool {
    eval_ctx(
        cond,
        &Ctx {
            req: view,
            resp: None,
        },
    )
}

/// Evaluates a condition of a response rule (`status`, `res.hdr` and `hdr` see the response).
#[cfg(test)]
pub(crate) fn eval_response(cond: &Condition, req: &ReqView, resp: RespView<'_>) -> bool {
    eval_ctx(
        cond,
        &Ctx {
            req,
            resp: Some(resp),
        },
    )
}

/// Evaluates a condition in a given context.
pub(crate) fn eval_ctx(cond: &Condition, ctx: &Ctx<'_>) -> bool {
    let any = cond
        .suites
        .iter()
        .any(|suite| suite.iter().all(|t| acl_matches(&t.acl, ctx) != t.negate));
    match cond.polarity {
        Polarity::If => any,
        Polarity::Unless => !any,
    }
}

/// Evaluates an optional condition: no condition means the rule applies.
pub(crate) fn eval_opt(cond: Option<&Condition>, ctx: &Ctx<'_>) -> bool {
    cond.is_none_or(|c| eval_ctx(c, ctx))
}

/// Whether any line of `acl` matches.
pub(crate) fn acl_matches(acl: &Acl, ctx: &Ctx<'_>) -> bool {
    acl.exprs.iter().any(|e| expr_matches(e, ctx))
}

/// A value extracted by a fetch.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sample<'a> {
    Bytes(&'a [u8]),
    Int(i64),
    Ip(IpAddr),
    Bool(bool),
}

/// Whether one ACL line matches.
pub(crate) fn expr_matches(e: &Expr, ctx: &Ctx<'_>) -> bool {
    for_each_sample(&e.fetch, ctx, |s| matcher::matches(e, s))
}

/// Calls `f` on every sample of `fetch` until it returns true; returns whether one did.
fn for_each_sample(fetch: &Fetch, ctx: &Ctx<'_>, mut f: impl FnMut(Sample<'_>) -> bool) -> bool {
    let req = ctx.req;
    match fetch {
        Fetch::Path => f(Sample::Bytes(req.path())),
        Fetch::Url => f(Sample::Bytes(req.uri())),
        Fetch::Query => req.uri().contains(&b'?') && f(Sample::Bytes(req.query())),
        Fetch::Method => f(Sample::Bytes(req.method_bytes())),
        Fetch::ReqVer => f(Sample::Bytes(match req.head.version {
            Version::Http10 => b"1.0",
            Version::Http11 => b"1.1",
        })),
        Fetch::Hdr(name) => match ctx.resp {
            Some(r) => r
                .headers(name)
                .flat_map(split_commas)
                .any(|v| f(Sample::Bytes(v))),
            None => req
                .headers(name)
                .flat_map(split_commas)
                .any(|v| f(Sample::Bytes(v))),
        },
        Fetch::ReqHdr(name) => req
            .headers(name)
            .flat_map(split_commas)
            .any(|v| f(Sample::Bytes(v))),
        Fetch::ResHdr(name) => match ctx.resp {
            Some(r) => r
                .headers(name)
                .flat_map(split_commas)
                .any(|v| f(Sample::Bytes(v))),
            None => false,
        },
        Fetch::ReqHdrCnt(name) => {
            let n = req.headers(name).flat_map(split_commas).count();
            f(Sample::Int(i64::try_from(n).unwrap_or(i64::MAX)))
        }
        Fetch::UrlParam(name) => req.url_param(name).is_some_and(|v| f(Sample::Bytes(v))),
        Fetch::Src => f(Sample::Ip(req.src.ip())),
        Fetch::SrcPort => f(Sample::Int(i64::from(req.src.port()))),
        Fetch::Dst => f(Sample::Ip(req.dst.ip())),
        Fetch::DstPort => f(Sample::Int(i64::from(req.dst.port()))),
        Fetch::Status => ctx
            .resp
            .is_some_and(|r| f(Sample::Int(i64::from(r.status)))),
        Fetch::Always(b) => f(Sample::Bool(*b)),
        Fetch::SslFc => f(Sample::Bool(req.tls.is_some())),
        Fetch::SslFcSni => req
            .tls
            .and_then(|t| t.sni.as_deref())
            .is_some_and(|s| f(Sample::Bytes(s.as_bytes()))),
        Fetch::SslFcProtocol => req
            .tls
            .is_some_and(|t| f(Sample::Bytes(t.protocol.as_bytes()))),
        Fetch::SslFcAlpn => req
            .tls
            .and_then(|t| t.alpn.as_deref())
            .is_some_and(|a| f(Sample::Bytes(a))),
    }
}

/// HAProxy's `hdr()` sees each comma-separated value, trimmed of spaces and tabs.
pub(crate) fn split_commas(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim_ows)
}

/// Strips leading and trailing spaces and tabs.
pub(crate) fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or(&[])
}
