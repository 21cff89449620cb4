//! `use_backend` rules and `http-request`/`http-response`/`http-after-response` rules:
//! the compiled rule types and their pure application to a message head.
//!
//! Nothing here touches a socket or rewrites a buffer. Applying rules produces a [`Verdict`]
//! and fills a per-connection [`HeaderEdits`], which the HTTP connection code reads while it
//! writes the outgoing head in one pass: for each original header ask
//! [`HeaderEdits::rewrite`] (keep, drop or replace its value), then append
//! [`HeaderEdits::additions`]. `HeaderEdits` keeps its capacity from one message to the next,
//! so steady-state application does not allocate.
//!
//! Ordering follows HAProxy: rules run in declaration order; `set-header` deletes every
//! header of that name (original or added by an earlier rule) then appends one; `add-header`
//! appends; `del-header` deletes; `replace-header` replaces the whole value of each header of
//! that name whose value matches the regex with the expanded format (`\1`.. are groups). The
//! first `deny`, `return` or `redirect` whose condition holds ends the evaluation, and so does
//! `allow`. Sample fetches in values (`%[req.hdr(x)]`) read the request as received.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use regex::bytes::{CaptureLocations, Regex};

use crate::acl::{self, Condition, Ctx, RespView};
use crate::http::HeaderSpan;
use crate::http::view::ReqView;
use crate::ids::{BackendId, Origin};

/// One `use_backend NAME [if|unless COND]` rule, resolved.
#[derive(Clone, Debug)]
pub(crate) struct UseBackend {
    pub(crate) backend: BackendId,
    pub(crate) cond: Option<Condition>,
}

/// A sample fetch usable inside a header value (`%[...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LfFetch {
    Src,
    Dst,
    DstPort,
    SrcPort,
    /// `req.hdr(NAME)` / `hdr(NAME)` in a request rule: the last comma-separated value.
    ReqHdr(Box<[u8]>),
    /// `res.hdr(NAME)` / `hdr(NAME)` in a response rule.
    ResHdr(Box<[u8]>),
    Path,
    Url,
    Method,
    /// `status` (response rules).
    Status,
    /// `ssl_fc` (`1`/`0`), `ssl_fc_sni`, `ssl_fc_protocol`.
    SslFc,
    SslFcSni,
    SslFcProtocol,
}

/// One piece of a log-format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LfPart {
    Lit(Box<[u8]>),
    Fetch(LfFetch),
    /// `\N` in a `replace-header` format: the regex group N.
    Group(u8),
}

/// A compiled HAProxy log-format string (the subset Ravelin supports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogFormat {
    pub(crate) parts: Vec<LfPart>,
}

/// How `del-header NAME -m METH` compares names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameMatch {
    Str,
    Beg,
    End,
    Sub,
}

/// Body of a `return` reply or an `http-error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReplyBody {
    /// No payload (the default reply for the status when used by `deny`).
    Empty,
    /// `string S` / `file F`: the payload, served with `content_type`.
    Payload(Arc<[u8]>),
    /// `errorfile F`: a full raw HTTP response, sent as is.
    Raw(Arc<[u8]>),
}

/// `http-request return` (and `deny` with a custom reply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReturnSpec {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: ReplyBody,
    /// `hdr NAME VALUE` pairs (plain text; log-format values are not supported yet).
    pub(crate) headers: Vec<(String, String)>,
}

/// What `http-request redirect` builds the `Location` from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RedirectKind {
    Location,
    Prefix,
    Scheme,
}

/// `http-request redirect location|prefix|scheme VALUE [code N] [drop-query] [append-slash]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RedirectSpec {
    pub(crate) kind: RedirectKind,
    pub(crate) value: LogFormat,
    /// 301, 302 (default), 303, 307 or 308.
    pub(crate) code: u16,
    pub(crate) drop_query: bool,
    pub(crate) append_slash: bool,
}

/// What a rule does.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    SetHeader {
        name: Box<[u8]>,
        value: LogFormat,
    },
    AddHeader {
        name: Box<[u8]>,
        value: LogFormat,
    },
    DelHeader {
        name: Box<[u8]>,
        how: NameMatch,
    },
    ReplaceHeader {
        name: Box<[u8]>,
        regex: Regex,
        with: LogFormat,
    },
    /// `deny [deny_status N]`; `reply` when a custom payload was given.
    Deny {
        status: u16,
        reply: Option<ReturnSpec>,
    },
    Return(ReturnSpec),
    Redirect(RedirectSpec),
    /// `allow`: stop evaluating the rules of this list.
    Allow,
    /// `wait-for-body time T [at-least N]` (the connection code decides how to wait).
    WaitForBody {
        time: Duration,
        at_least: u64,
    },
    /// `use-service NAME`: a final action, the request is answered by a built-in service.
    UseService(Service),
}

/// The services `http-request use-service` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    /// `prometheus-exporter`: the metrics of `stats::prometheus`.
    PrometheusExporter,
}

/// One rule line.
#[derive(Clone, Debug)]
pub(crate) struct HttpRule {
    pub(crate) action: Action,
    pub(crate) cond: Option<Condition>,
    /// Where the rule was written; no run-time message names it yet.
    #[allow(dead_code)]
    pub(crate) origin: Origin,
}

/// The rule lists of a proxy.
#[derive(Clone, Debug, Default)]
pub(crate) struct HttpRules {
    pub(crate) request: Vec<HttpRule>,
    pub(crate) response: Vec<HttpRule>,
    pub(crate) after_response: Vec<HttpRule>,
}

/// The outcome of applying a rule list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict<'m> {
    /// Go on (header edits are in the `HeaderEdits`).
    Continue,
    /// Answer with the proxy's error page for `status`.
    Deny { status: u16 },
    /// Answer with this reply.
    Return(&'m ReturnSpec),
    /// Answer with a redirect; the `Location` value is [`HeaderEdits::location`].
    Redirect { code: u16 },
    /// Answer with a built-in service (`use-service`).
    Service(Service),
}

/// What happens to one original header line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderFate<'a> {
    Keep,
    Drop,
    Replace(&'a [u8]),
}

type Range = (usize, usize);

#[derive(Clone, Copy, Debug)]
struct Added {
    name: Range,
    value: Range,
    live: bool,
}

#[derive(Clone, Copy, Debug)]
struct Replaced {
    name: Range,
    /// The original value, to recognise the line in `rewrite`.
    orig: Range,
    value: Range,
}

/// Header edits produced by applying rules to one message; reused across messages.
#[derive(Debug, Default)]
pub(crate) struct HeaderEdits {
    /// Every name and value the edits refer to.
    scratch: Vec<u8>,
    /// Names whose original lines are dropped.
    dropped: Vec<Range>,
    replaced: Vec<Replaced>,
    added: Vec<Added>,
    location: Range,
    caps: Option<CaptureLocations>,
    /// The first `wait-for-body time T at-least N` that applied.
    wait_body: Option<(Duration, u64)>,
}

impl HeaderEdits {
    pub(crate) fn new() -> HeaderEdits {
        HeaderEdits::default()
    }

    /// Forgets every edit, keeping the capacity.
    pub(crate) fn clear(&mut self) {
        self.scratch.clear();
        self.dropped.clear();
        self.replaced.clear();
        self.added.clear();
        self.location = (0, 0);
        self.wait_body = None;
    }

    /// `(time, at_least)` of the first `wait-for-body` rule that applied.
    pub(crate) fn wait_body(&self) -> Option<(Duration, u64)> {
        self.wait_body
    }

    fn get(&self, r: Range) -> &[u8] {
        self.scratch.get(r.0..r.1).unwrap_or(&[])
    }

    fn push(&mut self, bytes: &[u8]) -> Range {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(bytes);
        (start, self.scratch.len())
    }

    /// Whether original header lines called `name` are removed.
    pub(crate) fn deletes(&self, name: &[u8]) -> bool {
        self.dropped
            .iter()
            .any(|&r| self.get(r).eq_ignore_ascii_case(name))
    }

    /// What to do with the original header line `name: value`.
    pub(crate) fn rewrite<'a>(&'a self, name: &[u8], value: &'a [u8]) -> HeaderFate<'a> {
        if self.deletes(name) {
            return HeaderFate::Drop;
        }
        match self
            .replaced
            .iter()
            .find(|r| self.get(r.name).eq_ignore_ascii_case(name) && self.get(r.orig) == value)
        {
            Some(r) => HeaderFate::Replace(self.get(r.value)),
            None => HeaderFate::Keep,
        }
    }

    /// Header lines to append after the original ones, in order.
    pub(crate) fn additions(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.added
            .iter()
            .filter(|a| a.live)
            .map(|a| (self.get(a.name), self.get(a.value)))
    }

    /// The `Location` of a [`Verdict::Redirect`].
    pub(crate) fn location(&self) -> &[u8] {
        self.get(self.location)
    }

    fn delete(&mut self, name: &[u8], how: NameMatch, originals: Headers<'_>) {
        let name_matches = |n: &[u8]| match how {
            NameMatch::Str => n.eq_ignore_ascii_case(name),
            NameMatch::Beg => n
                .get(..name.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(name)),
            NameMatch::End => n
                .len()
                .checked_sub(name.len())
                .and_then(|i| n.get(i..))
                .is_some_and(|t| t.eq_ignore_ascii_case(name)),
            NameMatch::Sub => {
                name.is_empty() || n.windows(name.len()).any(|w| w.eq_ignore_ascii_case(name))
            }
        };
        match how {
            NameMatch::Str => {
                let r = self.push(name);
                self.dropped.push(r);
            }
            NameMatch::Beg | NameMatch::End | NameMatch::Sub => {
                for h in originals.spans {
                    let n = h.name.get(originals.buf);
                    if name_matches(n) && !self.deletes(n) {
                        let r = self.push(n);
                        self.dropped.push(r);
                    }
                }
            }
        }
        for i in 0..self.added.len() {
            let Some(a) = self.added.get(i).copied() else {
                break;
            };
            if a.live && name_matches(self.get(a.name)) {
                if let Some(a) = self.added.get_mut(i) {
                    a.live = false;
                }
            }
        }
    }

    fn add(&mut self, name: &[u8], value: &LogFormat, c: &Ctx<'_>) {
        let n = self.push(name);
        let start = self.scratch.len();
        expand(&mut self.scratch, value, c);
        self.added.push(Added {
            name: n,
            value: (start, self.scratch.len()),
            live: true,
        });
    }

    fn replace(
        &mut self,
        name: &[u8],
        re: &Regex,
        with: &LogFormat,
        originals: Headers<'_>,
        c: &Ctx<'_>,
    ) {
        let mut caps = match self.caps.take() {
            Some(l) if l.len() == re.captures_len() => l,
            _ => re.capture_locations(),
        };
        if !self.deletes(name) {
            for h in originals.spans {
                if !h.name.get(originals.buf).eq_ignore_ascii_case(name) {
                    continue;
                }
                let orig = h.value.get(originals.buf);
                let existing = self.replaced.iter().position(|r| {
                    self.get(r.name).eq_ignore_ascii_case(name) && self.get(r.orig) == orig
                });
                // A line already rewritten by an earlier rule is matched on its new value.
                let current: Range = match existing.and_then(|i| self.replaced.get(i)) {
                    Some(r) => r.value,
                    None => self.push(orig),
                };
                let Some(value) = self.replace_value(current, re, &mut caps, with, c) else {
                    continue;
                };
                match existing.and_then(|i| self.replaced.get_mut(i)) {
                    Some(r) => r.value = value,
                    None => {
                        let n = self.push(name);
                        self.replaced.push(Replaced {
                            name: n,
                            orig: current,
                            value,
                        });
                    }
                }
            }
        }
        for i in 0..self.added.len() {
            let Some(a) = self.added.get(i).copied() else {
                break;
            };
            if !a.live || !self.get(a.name).eq_ignore_ascii_case(name) {
                continue;
            }
            if let Some(v) = self.replace_value(a.value, re, &mut caps, with, c) {
                if let Some(a) = self.added.get_mut(i) {
                    a.value = v;
                }
            }
        }
        self.caps = Some(caps);
    }

    /// Expands `with` for the value at `cur` if `re` matches it; the new value's range.
    fn replace_value(
        &mut self,
        cur: Range,
        re: &Regex,
        caps: &mut CaptureLocations,
        with: &LogFormat,
        c: &Ctx<'_>,
    ) -> Option<Range> {
        // The subject lives in `scratch`, which the expansion appends to: copy its range
        // bounds, then read group bytes by range before each append.
        re.captures_read(caps, self.scratch.get(cur.0..cur.1)?)?;
        let start = self.scratch.len();
        for part in &with.parts {
            match part {
                LfPart::Group(g) => {
                    if let Some((s, e)) = caps.get(usize::from(*g)) {
                        // Group offsets are inside the subject, itself inside `scratch`.
                        if cur.0 + e <= start {
                            self.scratch.extend_from_within(cur.0 + s..cur.0 + e);
                        }
                    }
                }
                other => expand_part(&mut self.scratch, other, c),
            }
        }
        Some((start, self.scratch.len()))
    }
}

/// Original header lines of the message the rules apply to.
#[derive(Clone, Copy, Debug)]
struct Headers<'a> {
    buf: &'a [u8],
    spans: &'a [HeaderSpan],
}

/// Applies `http-request` rules.
pub(crate) fn apply_request<'m>(
    rules: &'m [HttpRule],
    view: &ReqView,
    edits: &mut HeaderEdits,
) -> Verdict<'m> {
    let c = Ctx {
        req: view,
        resp: None,
    };
    let originals = Headers {
        buf: view.buf,
        spans: &view.head.headers,
    };
    apply(rules, &c, originals, edits)
}

/// Applies `http-response` or `http-after-response` rules to a response.
pub(crate) fn apply_response<'m>(
    rules: &'m [HttpRule],
    req: &ReqView,
    resp: RespView<'_>,
    edits: &mut HeaderEdits,
) -> Verdict<'m> {
    let c = Ctx {
        req,
        resp: Some(resp),
    };
    let originals = Headers {
        buf: resp.buf,
        spans: resp.headers,
    };
    apply(rules, &c, originals, edits)
}

fn apply<'m>(
    rules: &'m [HttpRule],
    c: &Ctx<'_>,
    originals: Headers<'_>,
    edits: &mut HeaderEdits,
) -> Verdict<'m> {
    for rule in rules {
        if !acl::eval_opt(rule.cond.as_ref(), c) {
            continue;
        }
        match &rule.action {
            Action::SetHeader { name, value } => {
                edits.delete(name, NameMatch::Str, originals);
                edits.add(name, value, c);
            }
            Action::AddHeader { name, value } => edits.add(name, value, c),
            Action::DelHeader { name, how } => edits.delete(name, *how, originals),
            Action::ReplaceHeader { name, regex, with } => {
                edits.replace(name, regex, with, originals, c)
            }
            Action::Deny { status, reply } => {
                return match reply {
                    Some(r) => Verdict::Return(r),
                    None => Verdict::Deny { status: *status },
                };
            }
            Action::Return(r) => return Verdict::Return(r),
            Action::Redirect(r) => {
                let start = edits.scratch.len();
                write_location(&mut edits.scratch, r, c);
                edits.location = (start, edits.scratch.len());
                return Verdict::Redirect { code: r.code };
            }
            Action::Allow => return Verdict::Continue,
            Action::UseService(svc) => return Verdict::Service(*svc),
            // Not an answer: the rules go on; the connection waits before contacting a server.
            Action::WaitForBody { time, at_least } => {
                edits.wait_body.get_or_insert((*time, *at_least));
            }
        }
    }
    Verdict::Continue
}

/// HAProxy's `http_apply_redirect_rule()` for the three kinds.
fn write_location(out: &mut Vec<u8>, r: &RedirectSpec, c: &Ctx<'_>) {
    let uri = c.req.uri();
    let path_q = if r.drop_query { c.req.path() } else { uri };
    match r.kind {
        RedirectKind::Location => expand(out, &r.value, c),
        RedirectKind::Prefix => {
            let start = out.len();
            expand(out, &r.value, c);
            // A prefix of "/" alone is not repeated before the path (HAProxy avoids "//").
            if out.get(start..) == Some(b"/") {
                out.truncate(start);
            }
            out.extend_from_slice(path_q);
        }
        RedirectKind::Scheme => {
            expand(out, &r.value, c);
            out.extend_from_slice(b"://");
            if let Some(host) = c.req.header(b"host") {
                out.extend_from_slice(host);
            }
            out.extend_from_slice(c.req.path());
            if !r.drop_query && uri.contains(&b'?') {
                out.push(b'?');
                out.extend_from_slice(c.req.query());
            }
        }
    }
    if r.append_slash && out.last() != Some(&b'/') {
        out.push(b'/');
    }
}

/// Appends the expansion of `lf` to `out`.
fn expand(out: &mut Vec<u8>, lf: &LogFormat, c: &Ctx<'_>) {
    for p in &lf.parts {
        expand_part(out, p, c);
    }
}

fn expand_part(out: &mut Vec<u8>, p: &LfPart, c: &Ctx<'_>) {
    match p {
        LfPart::Lit(b) => out.extend_from_slice(b),
        LfPart::Group(_) => {}
        LfPart::Fetch(f) => match f {
            LfFetch::Src => write_ip(out, c.req.src),
            LfFetch::SslFc => out.push(if c.req.tls.is_some() { b'1' } else { b'0' }),
            LfFetch::SslFcSni => {
                if let Some(s) = c.req.tls.and_then(|t| t.sni.as_deref()) {
                    out.extend_from_slice(s.as_bytes());
                }
            }
            LfFetch::SslFcProtocol => {
                if let Some(t) = c.req.tls {
                    out.extend_from_slice(t.protocol.as_bytes());
                }
            }
            LfFetch::Dst => write_ip(out, c.req.dst),
            LfFetch::SrcPort => {
                let _ = write!(out, "{}", c.req.src.port());
            }
            LfFetch::DstPort => {
                let _ = write!(out, "{}", c.req.dst.port());
            }
            LfFetch::ReqHdr(n) => {
                if let Some(v) = c.req.headers(n).flat_map(acl::split_commas).last() {
                    out.extend_from_slice(v);
                }
            }
            LfFetch::ResHdr(n) => {
                if let Some(v) = c
                    .resp
                    .and_then(|r| r.headers(n).flat_map(acl::split_commas).last())
                {
                    out.extend_from_slice(v);
                }
            }
            LfFetch::Path => out.extend_from_slice(c.req.path()),
            LfFetch::Url => out.extend_from_slice(c.req.uri()),
            LfFetch::Method => out.extend_from_slice(c.req.method_bytes()),
            LfFetch::Status => {
                if let Some(r) = c.resp {
                    let _ = write!(out, "{}", r.status);
                }
            }
        },
    }
}

fn write_ip(out: &mut Vec<u8>, a: SocketAddr) {
    let _ = write!(out, "{}", a.ip());
}

#[cfg(test)]
mod tests;
