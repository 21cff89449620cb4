//! HTTP/1.1 framing for the load generator and the built-in backend: response heads,
//! chunked bodies and request heads. Pure functions over byte slices, no sockets; the
//! results are offsets and numbers, never owned strings. Only what a benchmark needs:
//! status, body framing, `Connection`, and the `X-Backend` header the backend sets.

/// Largest response or request head we accept; a longer head is a protocol error.
/// 16 KiB is far above anything HAProxy, nginx or our backend send.
pub const MAX_HEAD: usize = 16 * 1024;

/// How the body of a message is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Body runs until the server closes.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes up to and including the blank line.
    pub head_len: usize,
    pub body: BodyKind,
    /// The server will close after this response.
    pub close: bool,
    /// Offsets `(start, end)` of the `X-Backend` value within the input.
    pub backend: Option<(usize, usize)>,
}

/// Outcome of parsing a head from a buffer that may hold only part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    Incomplete,
    Complete(T),
    Invalid,
}

/// Index just past the `\r\n\r\n` (or `\n\n`) that ends a head, if present.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf.get(i) == Some(&b'\n') {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or(&[])
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn has_token(v: &[u8], token: &[u8]) -> bool {
    v.split(|b| *b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// Header lines after the first line: yields `(name, value, value_start_offset)`.
fn headers(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8], usize)> {
    let mut pos = head
        .iter()
        .position(|b| *b == b'\n')
        .map_or(head.len(), |p| p + 1);
    std::iter::from_fn(move || {
        loop {
            let rest = head.get(pos..)?;
            if rest.is_empty() {
                return None;
            }
            let line_len = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(rest.len(), |p| p + 1);
            let line_start = pos;
            pos += line_len;
            let line = rest.get(..line_len)?;
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue; // blank line or garbage: skip
            };
            let name = line.get(..colon)?;
            let value_raw = line.get(colon + 1..)?;
            let lead = value_raw
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            return Some((trim(name), trim(value_raw), line_start + colon + 1 + lead));
        }
    })
}

/// Parses a response head at the start of `buf`. `head_request`: the request was HEAD.
pub fn parse_response(buf: &[u8], head_request: bool) -> Parsed<ResponseHead> {
    let Some(end) = head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Parsed::Invalid
        } else {
            Parsed::Incomplete
        };
    };
    if end > MAX_HEAD {
        return Parsed::Invalid;
    }
    let head = buf.get(..end).unwrap_or(&[]);
    // Status line: HTTP/1.x SP 3DIGIT ...
    let http10 = head.starts_with(b"HTTP/1.0 ");
    if !(head.starts_with(b"HTTP/1.1 ") || http10) {
        return Parsed::Invalid;
    }
    let Some(code) = head.get(9..12) else {
        return Parsed::Invalid;
    };
    let Some(status) = parse_u64(code)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..=999).contains(s))
    else {
        return Parsed::Invalid;
    };
    let mut length = None;
    let mut chunked = false;
    let mut close = http10;
    let mut backend = None;
    for (name, value, vstart) in headers(head) {
        if name.eq_ignore_ascii_case(b"content-length") {
            match parse_u64(value) {
                Some(n) => length = Some(n),
                None => return Parsed::Invalid,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = has_token(value, b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            if has_token(value, b"close") {
                close = true;
            } else if has_token(value, b"keep-alive") {
                close = false;
            }
        } else if name.eq_ignore_ascii_case(b"x-backend") {
            backend = Some((vstart, vstart + value.len()));
        }
    }
    let body = if head_request || status < 200 || status == 204 || status == 304 {
        BodyKind::Empty
    } else if chunked {
        BodyKind::Chunked
    } else if let Some(n) = length {
        BodyKind::Length(n)
    } else {
        close = true;
        BodyKind::UntilClose
    };
    Parsed::Complete(ResponseHead {
        status,
        head_len: end,
        body,
        close,
        backend,
    })
}

/// A parsed request head (backend side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead {
    pub head_len: usize,
    /// Request body bytes that follow the head (chunked request bodies are not supported).
    pub body_len: u64,
    /// The client asked us to close after the response.
    pub close: bool,
    pub head_method: bool,
}

/// Parses a request head at the start of `buf`.
pub fn parse_request(buf: &[u8]) -> Parsed<RequestHead> {
    let Some(end) = head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Parsed::Invalid
        } else {
            Parsed::Incomplete
        };
    };
    if end > MAX_HEAD {
        return Parsed::Invalid;
    }
    let head = buf.get(..end).unwrap_or(&[]);
    let first_line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let first = trim(head.get(..first_line_end).unwrap_or(&[]));
    let mut parts = first.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(_target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Invalid;
    };
    let mut close = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return Parsed::Invalid,
    };
    let mut body_len = 0;
    for (name, value, _) in headers(head) {
        if name.eq_ignore_ascii_case(b"content-length") {
            match parse_u64(value) {
                Some(n) => body_len = n,
                None => return Parsed::Invalid,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Parsed::Invalid; // a benchmark client never sends chunked requests
        } else if name.eq_ignore_ascii_case(b"connection") {
            if has_token(value, b"close") {
                close = true;
            } else if has_token(value, b"keep-alive") {
                close = false;
            }
        }
    }
    Parsed::Complete(RequestHead {
        head_len: end,
        body_len,
        close,
        head_method: method == b"HEAD",
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerEndLf,
    Done,
}

/// Incremental chunked-body decoder that only counts (the load generator discards bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: ChunkState,
    size: u64,
    digits: u8,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            size: 0,
            digits: 0,
        }
    }
}

/// What the decoder made of one input slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkStep {
    /// All input consumed, body not finished.
    NeedMore,
    /// Body finished after consuming this many bytes of the input.
    Done(usize),
    Invalid,
}

impl ChunkedDecoder {
    pub fn feed(&mut self, input: &[u8]) -> ChunkStep {
        let mut i = 0;
        while i < input.len() {
            let Some(&b) = input.get(i) else { break };
            match self.state {
                ChunkState::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = match b {
                            b'0'..=b'9' => b - b'0',
                            b'a'..=b'f' => b - b'a' + 10,
                            _ => b - b'A' + 10,
                        };
                        self.digits += 1;
                        if self.digits > 15 {
                            return ChunkStep::Invalid;
                        }
                        self.size = self.size * 16 + u64::from(d);
                        i += 1;
                    }
                    b';' | b' ' | b'\t' if self.digits > 0 => {
                        self.state = ChunkState::Ext;
                        i += 1;
                    }
                    b'\r' if self.digits > 0 => {
                        self.state = ChunkState::SizeLf;
                        i += 1;
                    }
                    b'\n' if self.digits > 0 => {
                        self.end_size_line();
                        i += 1;
                    }
                    _ => return ChunkStep::Invalid,
                },
                ChunkState::Ext => {
                    if b == b'\n' {
                        self.end_size_line();
                    }
                    i += 1;
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return ChunkStep::Invalid;
                    }
                    self.end_size_line();
                    i += 1;
                }
                ChunkState::Data => {
                    let avail = (input.len() - i) as u64;
                    let take = avail.min(self.size);
                    self.size -= take;
                    i += usize::try_from(take).unwrap_or(input.len() - i);
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr => {
                    self.state = match b {
                        b'\r' => ChunkState::DataLf,
                        b'\n' => ChunkState::Size,
                        _ => return ChunkStep::Invalid,
                    };
                    i += 1;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return ChunkStep::Invalid;
                    }
                    self.state = ChunkState::Size;
                    i += 1;
                }
                ChunkState::TrailerStart => {
                    i += 1;
                    match b {
                        b'\r' => self.state = ChunkState::TrailerEndLf,
                        b'\n' => {
                            self.state = ChunkState::Done;
                            return ChunkStep::Done(i);
                        }
                        _ => self.state = ChunkState::TrailerLine,
                    }
                }
                ChunkState::TrailerLine => {
                    if b == b'\n' {
                        self.state = ChunkState::TrailerStart;
                    }
                    i += 1;
                }
                ChunkState::TrailerEndLf => {
                    if b != b'\n' {
                        return ChunkStep::Invalid;
                    }
                    self.state = ChunkState::Done;
                    return ChunkStep::Done(i + 1);
                }
                ChunkState::Done => return ChunkStep::Done(i),
            }
        }
        if self.state == ChunkState::Done {
            ChunkStep::Done(i)
        } else {
            ChunkStep::NeedMore
        }
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        };
        self.digits = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_with_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Backend: b2\r\n\r\nbody";
        let Parsed::Complete(h) = parse_response(r, false) else {
            panic!("not complete")
        };
        assert_eq!(h.status, 200);
        assert_eq!(h.body, BodyKind::Length(100));
        assert!(!h.close);
        assert_eq!(h.head_len, r.len() - 4);
        let (s, e) = h.backend.unwrap_or((0, 0));
        assert_eq!(&r[s..e], b"b2");
    }

    #[test]
    fn response_incomplete_and_invalid() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Le", false),
            Parsed::Incomplete
        );
        assert_eq!(parse_response(b"SSH-2.0\r\n\r\n", false), Parsed::Invalid);
        assert_eq!(
            parse_response(b"HTTP/1.1 2x0 OK\r\n\r\n", false),
            Parsed::Invalid
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false),
            Parsed::Invalid
        );
        let long = vec![b'a'; MAX_HEAD + 10];
        assert_eq!(parse_response(&long, false), Parsed::Invalid);
        assert_eq!(parse_response(b"HTTP/1.1 ", false), Parsed::Incomplete);
        assert_eq!(parse_response(b"HTTP/1.1\n\n", false), Parsed::Invalid);
    }

    #[test]
    fn response_framing_variants() {
        let Parsed::Complete(h) =
            parse_response(b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\n", false)
        else {
            panic!()
        };
        assert_eq!(
            (h.status, h.body, h.close),
            (503, BodyKind::UntilClose, true)
        );
        let Parsed::Complete(h) = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        ) else {
            panic!()
        };
        assert_eq!(h.body, BodyKind::Chunked);
        let Parsed::Complete(h) = parse_response(b"HTTP/1.1 204 No\r\n\r\n", false) else {
            panic!()
        };
        assert_eq!(h.body, BodyKind::Empty);
        let Parsed::Complete(h) = parse_response(b"HTTP/1.0 200 OK\nContent-Length: 3\n\n", true)
        else {
            panic!()
        };
        assert_eq!((h.body, h.close), (BodyKind::Empty, true));
    }

    #[test]
    fn request_heads() {
        let Parsed::Complete(r) = parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") else {
            panic!()
        };
        assert_eq!((r.body_len, r.close), (0, false));
        let Parsed::Complete(r) = parse_request(
            b"POST /a HTTP/1.1\r\nConnection: close\r\ncontent-length: 5\r\n\r\nhello",
        ) else {
            panic!()
        };
        assert_eq!((r.body_len, r.close), (5, true));
        let Parsed::Complete(r) =
            parse_request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        else {
            panic!()
        };
        assert!(!r.close);
        assert_eq!(parse_request(b"GET /\r\n\r\n"), Parsed::Invalid);
        assert_eq!(parse_request(b"GET / HTTP/2.0\r\n\r\n"), Parsed::Invalid);
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n"), Parsed::Incomplete);
    }

    #[test]
    fn chunked_whole_and_split() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let mut d = ChunkedDecoder::default();
        assert_eq!(d.feed(body), ChunkStep::Done(body.len() - 4));
        // Byte by byte gives the same end.
        let mut d = ChunkedDecoder::default();
        let mut done_at = None;
        for (i, b) in body.iter().enumerate() {
            match d.feed(std::slice::from_ref(b)) {
                ChunkStep::NeedMore => {}
                ChunkStep::Done(n) => {
                    assert_eq!(n, 1);
                    done_at = Some(i + 1);
                    break;
                }
                ChunkStep::Invalid => panic!("invalid at {i}"),
            }
        }
        assert_eq!(done_at, Some(body.len() - 4));
    }

    #[test]
    fn chunked_hostile() {
        assert_eq!(
            ChunkedDecoder::default().feed(b"zz\r\n"),
            ChunkStep::Invalid
        );
        assert_eq!(
            ChunkedDecoder::default().feed(b"ffffffffffffffffff\r\n"),
            ChunkStep::Invalid
        );
        assert_eq!(ChunkedDecoder::default().feed(b"\r\n"), ChunkStep::Invalid);
        assert_eq!(
            ChunkedDecoder::default().feed(b"1\r\nab"),
            ChunkStep::Invalid
        );
        assert_eq!(ChunkedDecoder::default().feed(b"0\n\n"), ChunkStep::Done(3));
    }
}
