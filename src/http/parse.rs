//! Strict parsing of HTTP/1.x request and response heads.
//!
//! `httparse` does the tokenizing (with a stack array of headers, no allocation); this module adds
//! the rules of RFC 9112 that it does not enforce and that HAProxy's H1 parser does (or that the
//! contract in `http/mod.rs` asks for): body framing (§6.3) and its conflicts, `Content-Length`
//! and `Transfer-Encoding` validation, `Host` rules, stricter target bytes, and the header count
//! limit (`tune.http.maxhdr`). Everything is stored as offsets into the input buffer.
//!
//! What this module leaves to others: reading sockets and growing buffers (`conn::http`), body
//! framing after the head (`http::body`), and the error page sent back (`http::errors`).
//!
//! Requests are refused with 400 (414/431 when the head does not fit in the buffer, see
//! [`parse_request`]); responses with 502.

use super::{
    ConnFlags, Framing, HeaderSpan, HttpError, Method, Parse, RequestHead, ResponseHead, Span,
    Version,
};

/// Size of the stack array handed to `httparse`: the hard upper bound on headers per message,
/// whatever `tune.http.maxhdr` says (32 bytes per entry, 8 KiB of stack). HAProxy's default
/// `tune.http.maxhdr` is 101.
pub(crate) const MAX_HEADERS: usize = 256;

/// Default of `tune.http.maxhdr` (HAProxy manual, section 3.2).
pub(crate) const DEFAULT_MAX_HEADERS: usize = 101;

/// Parsing limits taken from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `tune.http.maxhdr`. As in HAProxy 2.6, a message may carry at most `max_headers - 1`
    /// header lines (HAProxy keeps one slot of its header list for the end marker; observed:
    /// with the default 101, 100 headers pass and 101 are refused). Values above
    /// [`MAX_HEADERS`] behave as [`MAX_HEADERS`].
    pub(crate) max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

/// 1xx responses other than 101: interim responses, followed by the final one.
#[cfg(test)]
pub(crate) fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

/// Which side a message comes from; decides the error status (400 vs 502).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

impl Side {
    fn err(self, reason: &'static str) -> HttpError {
        match self {
            Side::Request => HttpError::new(400, reason),
            Side::Response => HttpError::new(502, reason),
        }
    }
}

/// Parses the request head at the start of `buf`.
///
/// `buf_full`: the buffer cannot grow (its size is `tune.bufsize`), so a `Partial` head is
/// final: 414 if the request line is not complete yet, else 431. (HAProxy 2.6 itself answers
/// 400 in both cases; the status here follows the Ravelin contract, the reason tells them apart.)
///
/// On error, `out` is left partly filled and must not be used.
pub(crate) fn parse_request(
    buf: &[u8],
    limits: &Limits,
    buf_full: bool,
    out: &mut RequestHead,
) -> Result<Parse, HttpError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if !buf_full {
                return Ok(Parse::Partial);
            }
            return Err(if first_line_complete(buf) {
                HttpError::new(431, "request header too large")
            } else {
                HttpError::new(414, "request line too long")
            });
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(431, "too many headers"));
        }
        Err(e) => return Err(Side::Request.err(httparse_reason(e))),
    };
    if buf.len() > u32::MAX as usize {
        return Err(HttpError::new(431, "request header too large"));
    }

    let method = req.method.unwrap_or_default().as_bytes();
    let target = req.path.unwrap_or_default().as_bytes();
    out.method_span = span_of(buf, method).ok_or(INTERNAL_REQ)?;
    out.target = span_of(buf, target).ok_or(INTERNAL_REQ)?;
    out.method = method_of(method);
    out.version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(HttpError::new(400, "unsupported HTTP version")),
    };
    // httparse accepts 0x21..=0x7e and 0x80..=0xff; HAProxy refuses '#' (fragment) and
    // non-ASCII bytes unless `option accept-invalid-http-request` (observed on 2.6).
    if target
        .iter()
        .any(|&b| !(0x21..=0x7e).contains(&b) || b == b'#')
    {
        return Err(HttpError::new(400, "invalid character in request target"));
    }
    out.len = len;
    fill_headers(buf, req.headers, limits, Side::Request, &mut out.headers)?;

    let info = analyze(buf, &out.headers, Side::Request)?;
    if info.te_present && out.version == Version::Http10 {
        return Err(HttpError::new(400, "Transfer-Encoding in HTTP/1.0 request"));
    }
    if out.version == Version::Http11 && info.host.is_none() {
        return Err(HttpError::new(400, "missing Host header"));
    }
    if let (Some(host), Some(authority)) = (info.host, absolute_authority(target)) {
        // HAProxy refuses an absolute-form target whose authority differs from Host (observed).
        if !host.get(buf).eq_ignore_ascii_case(authority) {
            return Err(HttpError::new(
                400,
                "Host differs from the target's authority",
            ));
        }
    }
    out.framing = if info.chunked {
        Framing::Chunked
    } else if let Some(n) = info.content_length {
        Framing::Length(n)
    } else {
        Framing::None
    };
    out.conn = info.conn;
    out.expect_continue = info.expect_continue;
    out.host = info.host;
    Ok(Parse::Complete)
}

/// Parses a response head; `method` is the request's (HEAD → no body), and 1xx/204/304 → no
/// body. A 2xx answer to CONNECT also gets `Framing::None`: the connection becomes a tunnel
/// (RFC 9112 §6.3 rule 2).
///
/// On error (always status 502), `out` is left partly filled and must not be used.
pub(crate) fn parse_response(
    buf: &[u8],
    limits: &Limits,
    method: Method,
    buf_full: bool,
    out: &mut ResponseHead,
) -> Result<Parse, HttpError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if !buf_full {
                return Ok(Parse::Partial);
            }
            return Err(HttpError::new(502, "response header too large"));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(502, "too many headers"));
        }
        Err(e) => return Err(Side::Response.err(httparse_reason(e))),
    };
    if buf.len() > u32::MAX as usize {
        return Err(HttpError::new(502, "response header too large"));
    }
    out.version = match resp.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(HttpError::new(502, "unsupported HTTP version")),
    };
    let status = resp.code.unwrap_or(0);
    if !(100..=999).contains(&status) {
        return Err(HttpError::new(502, "invalid status code"));
    }
    out.status = status;
    out.reason = reason_span(buf).ok_or(INTERNAL_RESP)?;
    out.len = len;
    fill_headers(buf, resp.headers, limits, Side::Response, &mut out.headers)?;

    let info = analyze(buf, &out.headers, Side::Response)?;
    let no_body = method == Method::Head
        || (100..200).contains(&status)
        || status == 204
        || status == 304
        || (method == Method::Connect && (200..300).contains(&status));
    out.framing = if no_body {
        Framing::None
    } else if info.chunked {
        Framing::Chunked
    } else if let Some(n) = info.content_length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    out.conn = info.conn;
    Ok(Parse::Complete)
}

/// A sub-slice's position in `buf` failed to compute: cannot happen with slices `httparse`
/// returns, but is answered as a refusal rather than a panic.
const INTERNAL_REQ: HttpError = HttpError::new(400, "internal: span outside buffer");
const INTERNAL_RESP: HttpError = HttpError::new(502, "internal: span outside buffer");

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid request line",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "unsupported HTTP version",
    }
}

/// Position of `part` (a sub-slice of `buf`) as a span, computed from the pointers and checked
/// against the bounds of `buf`.
fn span_of(buf: &[u8], part: &[u8]) -> Option<Span> {
    let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    if end > buf.len() {
        debug_assert!(false, "httparse returned a slice outside the buffer");
        return None;
    }
    Some(Span::new(start, end))
}

/// Whether the first non-empty line of `buf` has its line feed (leading empty lines are
/// skipped, as HAProxy and httparse do).
fn first_line_complete(buf: &[u8]) -> bool {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n');
    match start.and_then(|s| buf.get(s..)) {
        Some(rest) => rest.contains(&b'\n'),
        None => false,
    }
}

/// The reason phrase of a status line already validated by httparse (`HTTP/1.x NNN[ reason]`,
/// single spaces, after optional empty lines).
fn reason_span(buf: &[u8]) -> Option<Span> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let line_len = buf.get(start..)?.iter().position(|&b| b == b'\n')?;
    let mut end = start + line_len;
    if end > start && buf.get(end - 1) == Some(&b'\r') {
        end -= 1;
    }
    // "HTTP/1.1 200 " is 13 bytes.
    let reason_start = (start + 13).min(end);
    Some(Span::new(reason_start, end))
}

fn method_of(m: &[u8]) -> Method {
    // Methods are case-sensitive (RFC 9110 §9.1).
    match m {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        b"PUT" => Method::Put,
        b"DELETE" => Method::Delete,
        b"CONNECT" => Method::Connect,
        b"OPTIONS" => Method::Options,
        b"TRACE" => Method::Trace,
        b"PATCH" => Method::Patch,
        _ => Method::Other,
    }
}

/// Copies httparse's headers into `out` as spans, re-checking the bytes httparse let through.
fn fill_headers(
    buf: &[u8],
    parsed: &[httparse::Header<'_>],
    limits: &Limits,
    side: Side,
    out: &mut Vec<HeaderSpan>,
) -> Result<(), HttpError> {
    // HAProxy 2.6 keeps one slot of its header list for the end marker: at most maxhdr - 1.
    let max = limits.max_headers.min(MAX_HEADERS).saturating_sub(1);
    if parsed.len() > max {
        return Err(match side {
            Side::Request => HttpError::new(431, "too many headers"),
            Side::Response => HttpError::new(502, "too many headers"),
        });
    }
    out.clear();
    for h in parsed {
        let name = h.name.as_bytes();
        // httparse already refuses these (tchar names, no CTL but HTAB in values, no space
        // before the colon, no obs-fold); the check is kept so a parser change cannot let them
        // through silently.
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(side.err("invalid header name"));
        }
        if h.value
            .iter()
            .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(side.err("invalid header value"));
        }
        let name = span_of(buf, name).ok_or(side.err("internal: span outside buffer"))?;
        let value = span_of(buf, h.value).ok_or(side.err("internal: span outside buffer"))?;
        out.push(HeaderSpan { name, value });
    }
    Ok(())
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What the headers say about framing and the connection.
#[derive(Debug, Default)]
struct HeadInfo {
    content_length: Option<u64>,
    te_present: bool,
    chunked: bool,
    conn: ConnFlags,
    expect_continue: bool,
    host: Option<Span>,
}

fn analyze(buf: &[u8], headers: &[HeaderSpan], side: Side) -> Result<HeadInfo, HttpError> {
    let mut info = HeadInfo::default();
    let mut last_coding_chunked = false;
    let mut upgrade_header = false;
    let mut connection_upgrade = false;
    for h in headers {
        let name = h.name.get(buf);
        let value = h.value.get(buf);
        if name.eq_ignore_ascii_case(b"content-length") {
            // Lists and repeated headers are merged when every value is the same (HAProxy
            // does; RFC 9112 §6.3 rule 5), refused otherwise.
            for item in value.split(|&b| b == b',') {
                let n = parse_length(trim_ows(item)).ok_or(side.err("invalid Content-Length"))?;
                match info.content_length {
                    Some(prev) if prev != n => {
                        return Err(side.err("several different Content-Length values"));
                    }
                    _ => info.content_length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            info.te_present = true;
            for coding in value.split(|&b| b == b',').map(trim_ows) {
                if coding.is_empty() {
                    continue; // empty list elements are allowed (RFC 9110 §5.6.1)
                }
                let is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                if is_chunked && info.chunked {
                    return Err(side.err("chunked applied twice"));
                }
                info.chunked |= is_chunked;
                last_coding_chunked = is_chunked;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim_ows) {
                if token.eq_ignore_ascii_case(b"close") {
                    info.conn.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    info.conn.keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    connection_upgrade = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade_header = true;
        } else if name.eq_ignore_ascii_case(b"expect") {
            if value.eq_ignore_ascii_case(b"100-continue") {
                info.expect_continue = true;
            }
        } else if name.eq_ignore_ascii_case(b"host") && side == Side::Request {
            match info.host {
                Some(prev) if !prev.get(buf).eq_ignore_ascii_case(value) => {
                    return Err(side.err("several different Host headers"));
                }
                Some(_) => {}
                None => info.host = Some(h.value),
            }
        }
    }
    info.conn.upgrade = connection_upgrade && upgrade_header;
    if info.te_present {
        if !last_coding_chunked {
            return Err(side.err("Transfer-Encoding does not end with chunked"));
        }
        if info.content_length.is_some() {
            return Err(side.err("both Content-Length and Transfer-Encoding"));
        }
    }
    Ok(info)
}

/// `1*DIGIT` into a u64; None on anything else or overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The authority of an absolute-form target (`scheme://authority/...`), if it is one.
fn absolute_authority(target: &[u8]) -> Option<&[u8]> {
    let colon = target.iter().position(|&b| b == b':')?;
    let scheme = target.get(..colon)?;
    if scheme.is_empty()
        || !scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
    {
        return None;
    }
    let rest = target.get(colon + 1..)?.strip_prefix(b"//")?;
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    rest.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(buf: &[u8]) -> Result<(Parse, RequestHead), HttpError> {
        let mut out = RequestHead::default();
        let p = parse_request(buf, &Limits::default(), false, &mut out)?;
        Ok((p, out))
    }

    fn req_status(buf: &[u8]) -> u16 {
        match req(buf) {
            Ok((Parse::Complete, _)) => 0,
            Ok((Parse::Partial, _)) => 1,
            Err(e) => e.status,
        }
    }

    fn resp(buf: &[u8], method: Method) -> Result<(Parse, ResponseHead), HttpError> {
        let mut out = ResponseHead::default();
        let p = parse_response(buf, &Limits::default(), method, false, &mut out)?;
        Ok((p, out))
    }

    fn resp_status(buf: &[u8]) -> u16 {
        match resp(buf, Method::Get) {
            Ok((Parse::Complete, _)) => 0,
            Ok((Parse::Partial, _)) => 1,
            Err(e) => e.status,
        }
    }

    fn with_headers(lines: &str) -> Vec<u8> {
        format!("POST /p HTTP/1.1\r\nHost: a\r\n{lines}\r\n").into_bytes()
    }

    fn resp_with(lines: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\n{lines}\r\n").into_bytes()
    }

    #[test]
    fn simple_request_fields() {
        let buf = b"GET /a?b=1 HTTP/1.1\r\nhost: example.com\r\nX-A:  v  \r\n\r\nBODY";
        let (p, h) = req(buf).unwrap();
        assert_eq!(p, Parse::Complete);
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.method_span.get(buf), b"GET");
        assert_eq!(h.target.get(buf), b"/a?b=1");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.len, buf.len() - 4);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.headers[1].name.get(buf), b"X-A");
        assert_eq!(h.headers[1].value.get(buf), b"v");
        assert_eq!(h.host.map(|s| s.get(buf)), Some(&b"example.com"[..]));
        assert_eq!(h.framing, Framing::None);
        assert_eq!(h.conn, ConnFlags::default());
        assert!(!h.expect_continue);
    }

    #[test]
    fn header_vec_is_reused() {
        let mut out = RequestHead::default();
        let a = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n";
        parse_request(a, &Limits::default(), false, &mut out).unwrap();
        let cap = out.headers.capacity();
        let b = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        parse_request(b, &Limits::default(), false, &mut out).unwrap();
        assert_eq!(out.headers.len(), 1);
        assert_eq!(out.headers.capacity(), cap);
    }

    #[test]
    fn framing_and_flags() {
        let (_, h) = req(&with_headers("Content-Length: 12\r\n")).unwrap();
        assert_eq!(h.framing, Framing::Length(12));
        let (_, h) = req(&with_headers("Transfer-Encoding: chunked\r\n")).unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let (_, h) = req(&with_headers("Transfer-Encoding: gzip, chunked\r\n")).unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let (_, h) = req(&with_headers(
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n",
        ))
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let (_, h) = req(&with_headers("Connection: Keep-Alive, foo ,CLOSE\r\n")).unwrap();
        assert!(h.conn.close && h.conn.keep_alive && !h.conn.upgrade);
        let (_, h) = req(&with_headers("Connection: upgrade\r\n")).unwrap();
        assert!(!h.conn.upgrade, "upgrade needs an Upgrade header");
        let (_, h) = req(&with_headers(
            "connection: x, Upgrade\r\nUpgrade: websocket\r\n",
        ))
        .unwrap();
        assert!(h.conn.upgrade);
        let (_, h) = req(&with_headers("Expect: 100-Continue\r\n")).unwrap();
        assert!(h.expect_continue);
    }

    #[test]
    fn accepted_variants() {
        // Identical Content-Length values are merged, in one header or several.
        let (_, h) = req(&with_headers("Content-Length: 3\r\ncontent-length: 3\r\n")).unwrap();
        assert_eq!(h.framing, Framing::Length(3));
        let (_, h) = req(&with_headers("Content-Length: 3, 3,3\r\n")).unwrap();
        assert_eq!(h.framing, Framing::Length(3));
        assert_eq!(
            req_status(&with_headers("CONTENT-LENGTH: 0\r\nx-lower: 1\r\n")),
            0
        );
        let buf = b"GET http://a.example/x?y HTTP/1.1\r\nHost: A.example\r\n\r\n";
        assert_eq!(req(buf).unwrap().1.target.get(buf), b"http://a.example/x?y");
        let buf = b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
        let (_, h) = req(buf).unwrap();
        assert_eq!((h.method, h.target.get(buf)), (Method::Options, &b"*"[..]));
        let buf = b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
        let (_, h) = req(buf).unwrap();
        assert_eq!(
            (h.method, h.target.get(buf)),
            (Method::Connect, &b"a.example:443"[..])
        );
        // HTTP/1.0 needs no Host; bare LF line endings and leading empty lines are tolerated
        // (HAProxy accepts both).
        assert_eq!(req_status(b"GET / HTTP/1.0\r\n\r\n"), 0);
        assert_eq!(req_status(b"GET / HTTP/1.1\nHost: a\n\n"), 0);
        assert_eq!(req_status(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
        assert_eq!(
            req_status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            0
        );
        assert_eq!(
            req_status(b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\t!\r\n\r\n"),
            0
        );
        assert_eq!(req_status(b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n"), 0);
        assert_eq!(
            req(b"PURGE / HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap()
                .1
                .method,
            Method::Other
        );
        assert_eq!(
            req(b"get / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().1.method,
            Method::Other
        );
    }

    #[test]
    fn rejected_requests() {
        let cases: &[(&[u8], u16)] = &[
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX(: v\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX\x00: v\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX : v\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX\t: v\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: v\r\n folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: v\r\n\tfolded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
            (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400),
            (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ];
        for (buf, status) in cases {
            assert_eq!(
                req_status(buf),
                *status,
                "{}",
                String::from_utf8_lossy(buf).escape_debug()
            );
        }
    }

    #[test]
    fn header_count_limit() {
        let head = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
            for i in 1..n {
                s.push_str(&format!("X{i}: y\r\n"));
            }
            s.push_str("\r\n");
            s.into_bytes()
        };
        // HAProxy 2.6 with tune.http.maxhdr 101: 100 headers pass, 101 do not.
        assert_eq!(req_status(&head(100)), 0);
        assert_eq!(req_status(&head(101)), 431);
        assert_eq!(req_status(&head(MAX_HEADERS + 10)), 431);
        let mut out = RequestHead::default();
        let small = Limits { max_headers: 3 };
        assert!(parse_request(&head(2), &small, false, &mut out).is_ok());
        assert_eq!(
            parse_request(&head(3), &small, false, &mut out).map_err(|e| e.status),
            Err(431)
        );
        let mut r = ResponseHead::default();
        let resp_head = String::from("HTTP/1.1 200 OK\r\n") + &"X: y\r\n".repeat(101) + "\r\n";
        let got = parse_response(
            resp_head.as_bytes(),
            &Limits::default(),
            Method::Get,
            false,
            &mut r,
        );
        assert_eq!(got.map_err(|e| e.status), Err(502));
    }

    #[test]
    fn partial_at_every_truncation_point() {
        let reqs: &[&[u8]] = &[
            b"GET /a?b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-Y: z\r\n\r\n",
            b"POST http://h/x HTTP/1.0\nTransfer-Encoding: x\n\n",
            b"\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n",
        ];
        for full in reqs {
            let full_status = req_status(full);
            for cut in 0..full.len() {
                let part = &full[..cut];
                let got = req_status(part);
                assert_eq!(
                    got,
                    1,
                    "cut at {cut}: {}",
                    String::from_utf8_lossy(part).escape_debug()
                );
            }
            if full_status == 0 {
                assert_eq!(req(full).unwrap().1.len, full.len());
            }
        }
        let resp_full: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX: y\r\n\r\n";
        for cut in 0..resp_full.len() {
            assert_eq!(resp_status(&resp_full[..cut]), 1, "cut at {cut}");
        }
        assert_eq!(resp_status(resp_full), 0);
    }

    #[test]
    fn full_buffer_is_414_or_431() {
        let mut out = RequestHead::default();
        let l = Limits::default();
        let e =
            |b: &[u8], out: &mut RequestHead| parse_request(b, &l, true, out).map_err(|e| e.status);
        assert_eq!(e(b"GET /aaaaaaaaaaaaaaaaaa", &mut out), Err(414));
        assert_eq!(e(b"\r\n\r\nGET /aaaaaaaaaaaa", &mut out), Err(414));
        assert_eq!(
            e(b"GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaa", &mut out),
            Err(431)
        );
        assert_eq!(
            e(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &mut out),
            Ok(Parse::Complete)
        );
        let mut r = ResponseHead::default();
        let got = parse_response(b"HTTP/1.1 200 OK\r\nX: a", &l, Method::Get, true, &mut r);
        assert_eq!(got.map_err(|e| e.status), Err(502));
    }

    #[test]
    fn response_fields_and_framing() {
        let buf = b"HTTP/1.1 200 OK Fine\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        let (_, h) = resp(buf, Method::Get).unwrap();
        assert_eq!((h.status, h.reason.get(buf)), (200, &b"OK Fine"[..]));
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.conn.close);
        assert_eq!(h.len, buf.len() - 5);
        let buf = b"HTTP/1.0 204\r\n\r\n";
        let (_, h) = resp(buf, Method::Get).unwrap();
        assert_eq!(
            (h.version, h.status, h.reason.get(buf)),
            (Version::Http10, 204, &b""[..])
        );
        assert_eq!(h.framing, Framing::None);
        let framing = |b: &[u8], m: Method| resp(b, m).unwrap().1.framing;
        let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(framing(cl, Method::Head), Framing::None);
        assert_eq!(
            framing(
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
                Method::Get
            ),
            Framing::None
        );
        assert_eq!(
            framing(b"HTTP/1.1 100 Continue\r\n\r\n", Method::Post),
            Framing::None
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\n\r\n", Method::Connect),
            Framing::None
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\n\r\n", Method::Get),
            Framing::UntilClose
        );
        let te = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,chunked\r\n\r\n";
        assert_eq!(framing(te, Method::Get), Framing::Chunked);
        let buf = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert!(resp(buf, Method::Get).unwrap().1.conn.upgrade);
        assert!(is_interim(100) && is_interim(103) && !is_interim(101) && !is_interim(200));
    }

    #[test]
    fn rejected_responses() {
        let cases: &[&[u8]] = &[
            &resp_with("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"),
            &resp_with("Content-Length: 1\r\nContent-Length: 2\r\n"),
            &resp_with("Content-Length: 1,2\r\n"),
            &resp_with("Content-Length: abc\r\n"),
            &resp_with("Content-Length: 99999999999999999999999\r\n"),
            &resp_with("Transfer-Encoding: chunked, gzip\r\n"),
            &resp_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            &resp_with("X : y\r\n"),
            &resp_with("X: y\r\n z\r\n"),
            &resp_with("X: a\x00b\r\n"),
            &resp_with("X(: b\r\n"),
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"HTTP/1.1 000\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.2 200 OK\r\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1  200 OK\r\n\r\n",
            b"HTTP/1.1 200 O\x01K\r\n\r\n",
            b"garbage\r\n\r\n",
        ];
        for buf in cases {
            assert_eq!(
                resp_status(buf),
                502,
                "{}",
                String::from_utf8_lossy(buf).escape_debug()
            );
        }
        assert_eq!(resp_status(b"HTTP/1.1 999 Odd\r\n\r\n"), 0);
    }

    /// xorshift64*: deterministic pseudo-random bytes without a dev-dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet: &[u8] =
            b"GET /HTTP1.0\r\n:, \tHostContent-LengthTransfer-Encodingchunked\x00\x7f\xff#";
        let mut out = RequestHead::default();
        let mut rout = ResponseHead::default();
        let l = Limits::default();
        let mut buf = Vec::with_capacity(4096);
        for i in 0..20_000 {
            buf.clear();
            let len = (rng.next() % 300) as usize;
            let prefix: &[u8] = match i % 3 {
                0 => b"GET / HTTP/1.1\r\n",
                1 => b"HTTP/1.1 200 OK\r\n",
                _ => b"",
            };
            buf.extend_from_slice(prefix);
            for _ in 0..len {
                let r = rng.next();
                let b = if r % 4 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                };
                buf.push(b);
            }
            let full = i % 2 == 0;
            if let Ok(Parse::Complete) = parse_request(&buf, &l, full, &mut out) {
                assert!(out.len <= buf.len());
                for h in &out.headers {
                    assert!(h.name.end as usize <= buf.len() && h.value.end as usize <= buf.len());
                }
            }
            if let Ok(Parse::Complete) = parse_response(&buf, &l, Method::Get, full, &mut rout) {
                assert!(rout.len <= buf.len() && rout.reason.end as usize <= buf.len());
            }
        }
        // Huge header values and many NULs.
        let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 1 << 20));
        assert_eq!(
            parse_request(&big, &l, true, &mut out).map_err(|e| e.status),
            Err(431)
        );
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_request(&big, &l, false, &mut out),
            Ok(Parse::Complete)
        );
        let zeros = vec![0u8; 5000];
        assert_eq!(
            parse_request(&zeros, &l, true, &mut out).map_err(|e| e.status),
            Err(400)
        );
    }
}
