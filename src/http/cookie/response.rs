//! The response side of cookie persistence: the server's `Set-Cookie` lines
//! (`http_manage_server_side_cookies()`), the inserted cookie and `Cache-control: private`
//! (`http_process_res_common()`), and the cacheability test `nocache` depends on
//! (`http_check_response_for_cacheability()`).

use std::ops::Range;

use super::{
    Cookie, CookieConf, CookieMode, DATE_DELIM, LineEdit, PREFIX_DELIM, RequestCookie, SetCookie,
    at, cookie_value_end, is_spht, push_date, strip_equal_spaces, units_from_now,
};
use crate::http::Method;

/// The header HAProxy adds after an inserted cookie when `nocache` is set and the response is
/// cacheable. HAProxy 2.6 writes header names in lower case on HTTP/1.
pub(crate) const CACHE_CONTROL_PRIVATE: (&[u8], &[u8]) = (b"cache-control", b"private");

/// The value HAProxy sends to a server that has no `cookie` value, so that the client forgets
/// a cookie pointing elsewhere.
const EXPIRED_VALUE: &[u8] = b"; Expires=Thu, 01-Jan-1970 00:00:01 GMT";

/// Where the request went, as far as cookies care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A server of the backend, with its `cookie` value if it has one.
    Server { cookie: Option<&'a [u8]> },
    /// No server object (HAProxy's `dispatch`/`transparent`): nothing is inserted or deleted.
    /// Not constructed yet: `dispatch` does not route streams (see CONFIG.md).
    #[allow(dead_code)]
    NoServer,
}

/// Whether the response may be stored by a cache, per [`response_cacheable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cacheable {
    Yes,
    No,
}

/// What to add to the response once every `Set-Cookie` line went through
/// [`ResponseCookies::line`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResponseVerdict {
    /// Append a `set-cookie` header with this value (a range of the scratch buffer), after
    /// every other header.
    pub(crate) insert: Option<Range<usize>>,
    /// Then append [`CACHE_CONTROL_PRIVATE`].
    pub(crate) cache_control_private: bool,
    /// The log letter.
    pub(crate) set_cookie: SetCookie,
}

/// The per-response walk over `Set-Cookie` lines. Create one per response (skip 1xx other than
/// 101, as HAProxy does), call [`Self::line`] for each `Set-Cookie` header, then
/// [`Self::finish`].
#[derive(Debug)]
pub(crate) struct ResponseCookies<'c, 'a> {
    conf: &'c CookieConf,
    req: RequestCookie,
    target: Target<'a>,
    post: bool,
    state: SetCookie,
}

impl<'c, 'a> ResponseCookies<'c, 'a> {
    /// `req` is what the request side decided; `method` the request's method (for `postonly`).
    pub(crate) fn new(
        conf: &'c CookieConf,
        req: &RequestCookie,
        target: Target<'a>,
        method: Method,
    ) -> ResponseCookies<'c, 'a> {
        ResponseCookies {
            conf,
            req: *req,
            target,
            post: method == Method::Post,
            state: SetCookie::None,
        }
    }

    /// Processes one `Set-Cookie` line (value without the name and surrounding blanks). Only
    /// the first cookie of a line counts: commas may appear in `Expires`. A changed value is
    /// appended to `scratch` and its range returned.
    pub(crate) fn line(&mut self, value: &[u8], scratch: &mut Vec<u8>) -> LineEdit {
        let hb = scratch.len();
        scratch.extend_from_slice(value);
        let edit = self.edit(scratch, hb);
        match &edit {
            LineEdit::Replace(r) if scratch.get(r.clone()) == Some(value) => {
                scratch.truncate(hb);
                LineEdit::Keep
            }
            LineEdit::Replace(r) => {
                let end = r.end;
                scratch.truncate(end);
                edit
            }
            LineEdit::Keep | LineEdit::Remove => {
                scratch.truncate(hb);
                edit
            }
        }
    }

    /// Edits the line at `buf[hb..]`; `Replace` carries the line's final range even when it
    /// did not change (the caller compares).
    fn edit(&mut self, buf: &mut Vec<u8>, hb: usize) -> LineEdit {
        let mut he = buf.len();
        let mut c = parse_set_cookie(buf, hb, he);
        // A cookie without `=` is none of ours and is left alone.
        if c.equal == c.val_end {
            return LineEdit::Keep;
        }
        he = strip_equal_spaces(buf, &mut c, he);

        if self.req.ignore || buf.get(c.att_beg..c.att_end) != Some(self.conf.name.as_bytes()) {
            return LineEdit::Replace(hb..he);
        }
        // Passive by default.
        self.state = SetCookie::Provided;
        let server = match self.target {
            Target::Server { cookie } => Some(cookie),
            Target::NoServer => None,
        };
        if self.conf.preserve {
            // The server may set (e.g. clear on logout) the cookie itself.
            LineEdit::Replace(hb..he)
        } else if (server.is_some() && self.conf.mode == CookieMode::Insert)
            || (self.req.direct && self.conf.indirect)
        {
            // Insert mode puts its own cookie after; indirect hides it from clients that
            // already have it.
            self.state = SetCookie::Deleted;
            LineEdit::Remove
        } else if let (Some(Some(id)), CookieMode::Rewrite) = (server, self.conf.mode) {
            buf.truncate(he);
            // A slice iterator has an exact length, so `splice` moves bytes in place.
            buf.splice(c.val_beg.min(he)..c.val_end.min(he), id.iter().copied());
            self.state = SetCookie::Rewritten;
            LineEdit::Replace(hb..buf.len())
        } else if let (Some(Some(id)), CookieMode::Prefix) = (server, self.conf.mode) {
            buf.truncate(he);
            let pos = c.val_beg.min(he);
            buf.splice(pos..pos, id.iter().copied().chain([PREFIX_DELIM]));
            self.state = SetCookie::Rewritten;
            LineEdit::Replace(hb..buf.len())
        } else {
            LineEdit::Replace(hb..he)
        }
    }

    /// Decides whether to insert a cookie. `now` is the wall clock in seconds; `cacheable`
    /// matters only with `nocache` (see [`response_cacheable`]). The inserted value is
    /// appended to `scratch`.
    pub(crate) fn finish(
        self,
        now: u64,
        cacheable: Cacheable,
        scratch: &mut Vec<u8>,
    ) -> ResponseVerdict {
        let conf = self.conf;
        let req = &self.req;
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let mut verdict = ResponseVerdict {
            insert: None,
            cache_control_private: false,
            set_cookie: self.state,
        };
        let Target::Server { cookie } = self.target else {
            return verdict;
        };
        let maxidle = conf.maxidle_secs() != 0;
        let maxlife = conf.maxlife_secs() != 0;
        let wanted = !req.direct
            // refresh the last-seen date once it is in the past
            || ((maxidle || req.last_date != 0)
                && (req.last_date == 0 || i64::from(req.last_date) - now < 0))
            // set the first-seen date
            || (maxlife && req.first_date == 0)
            // remove the first-seen date
            || (!maxlife && req.first_date != 0);
        if conf.mode != CookieMode::Insert
            || (self.state == SetCookie::Provided && conf.preserve)
            || !wanted
            || (conf.postonly && !self.post)
            || req.ignore
        {
            return verdict;
        }

        let start = scratch.len();
        scratch.extend_from_slice(conf.name.as_bytes());
        scratch.push(b'=');
        match cookie {
            None => scratch.extend_from_slice(EXPIRED_VALUE),
            Some(id) => {
                scratch.extend_from_slice(id);
                if maxidle || maxlife {
                    scratch.push(DATE_DELIM);
                    push_date(units_from_now(now), scratch);
                    if maxlife {
                        scratch.push(DATE_DELIM);
                        let first = if req.first_date != 0 {
                            req.first_date >> 2
                        } else {
                            units_from_now(now)
                        };
                        push_date(first, scratch);
                    }
                }
            }
        }
        scratch.extend_from_slice(b"; path=/");
        for d in &conf.domains {
            scratch.extend_from_slice(b"; domain=");
            scratch.extend_from_slice(d.as_bytes());
        }
        if conf.httponly {
            scratch.extend_from_slice(b"; HttpOnly");
        }
        if conf.secure {
            scratch.extend_from_slice(b"; Secure");
        }
        for a in &conf.attrs {
            scratch.extend_from_slice(b"; ");
            scratch.extend_from_slice(a.as_bytes());
        }
        verdict.insert = Some(start..scratch.len());
        verdict.set_cookie = if cookie.is_some() && req.direct {
            SetCookie::Updated
        } else {
            SetCookie::Inserted
        };
        // HTTP/1.0 caches store cookies too: a shared cache would hand one server's cookie to
        // every client.
        verdict.cache_control_private = conf.nocache && cacheable == Cacheable::Yes;
        verdict
    }
}

/// Finds the first cookie of a `Set-Cookie` line: unlike `Cookie`, only `;` ends a name
/// (commas appear in `Expires` dates), and the rest of the line is attributes.
fn parse_set_cookie(buf: &[u8], hb: usize, he: usize) -> Cookie {
    let mut att_beg = hb;
    while att_beg < he && is_spht(at(buf, att_beg)) {
        att_beg += 1;
    }
    let (mut equal, mut att_end) = (att_beg, att_beg);
    while equal < he {
        let ch = at(buf, equal);
        if ch == b'=' || ch == b';' {
            break;
        }
        equal += 1;
        if !is_spht(ch) {
            att_end = equal;
        }
    }
    let (val_beg, val_end) = if equal < he && at(buf, equal) == b'=' {
        let mut val_beg = equal + 1;
        while val_beg < he && is_spht(at(buf, val_beg)) {
            val_beg += 1;
        }
        let mut val_end = cookie_value_end(buf, val_beg, he);
        while val_end > val_beg && is_spht(at(buf, val_end - 1)) {
            val_end -= 1;
        }
        (val_beg, val_end)
    } else {
        (equal, equal)
    };
    Cookie {
        att_beg,
        att_end,
        equal,
        val_beg,
        val_end,
        next: he,
    }
}

/// HAProxy 2.6's `TX_CACHEABLE` after `http_check_response_for_cacheability()`, which is what
/// `nocache` looks at. `headers` are the response's (name, value) pairs in order.
///
/// Only GET, HEAD, OPTIONS and TRACE responses start cacheable. The first `Pragma` line equal
/// to `no-cache` makes it uncacheable; then each comma-separated `Cache-Control` element, in
/// order: `public` makes it cacheable, `private`, `no-cache`, `no-store`, `max-age=0` and
/// `s-maxage=0` (whole element, any case) uncacheable. Finally it needs freshness (a
/// `max-age`/`s-maxage` element or an `Expires` header) or a validator (`ETag`,
/// `Last-Modified`). Checked against haproxy 2.6.12: `public` alone is not enough, and
/// `max-age=0, s-maxage=10` stays uncacheable.
pub(crate) fn response_cacheable<'h>(
    method: Method,
    status: u16,
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
) -> Cacheable {
    let mut cacheable = matches!(
        method,
        Method::Get | Method::Head | Method::Options | Method::Trace
    );
    if status < 200 {
        return Cacheable::No;
    }
    let (mut pragma_seen, mut fresh, mut validator) = (false, false, false);
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"pragma") {
            if !pragma_seen && value.eq_ignore_ascii_case(b"no-cache") {
                return Cacheable::No;
            }
            pragma_seen = true;
        } else if name.eq_ignore_ascii_case(b"cache-control") {
            for element in list_elements(value) {
                if element.eq_ignore_ascii_case(b"public") {
                    cacheable = true;
                } else if [
                    &b"private"[..],
                    b"no-cache",
                    b"no-store",
                    b"max-age=0",
                    b"s-maxage=0",
                ]
                .iter()
                .any(|d| element.eq_ignore_ascii_case(d))
                {
                    cacheable = false;
                } else if starts_with_ignore_case(element, b"no-cache=\"set-cookie") {
                    // Only forbids caching the cookie, which `nocache` does not look at.
                } else if starts_with_ignore_case(element, b"s-maxage")
                    || starts_with_ignore_case(element, b"max-age")
                {
                    fresh = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expires") {
            fresh = true;
        } else if name.eq_ignore_ascii_case(b"etag") || name.eq_ignore_ascii_case(b"last-modified")
        {
            validator = true;
        }
    }
    if cacheable && (fresh || validator) {
        Cacheable::Yes
    } else {
        Cacheable::No
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The elements of a comma-separated header value, blanks trimmed, commas inside quotes
/// ignored (`http_find_header()` with `full == 0`). Empty elements are skipped.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = value;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let end = list_element_end(rest);
            let (element, tail) = rest.split_at(end);
            rest = tail.get(1..).unwrap_or(&[]);
            let element = trim_spht(element);
            if !element.is_empty() {
                return Some(element);
            }
        }
    })
}

/// `http_find_hdr_value_end()`: the first comma outside quotes, or the end.
fn list_element_end(s: &[u8]) -> usize {
    let (mut quoted, mut qdpair) = (false, false);
    for (i, &c) in s.iter().enumerate() {
        if qdpair {
            qdpair = false;
        } else if quoted {
            if c == b'\\' {
                qdpair = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' {
            return i;
        }
    }
    s.len()
}

fn trim_spht(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_spht(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_spht(*last) {
            break;
        }
        s = rest;
    }
    s
}
