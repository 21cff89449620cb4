//! HTTP/1.1 messages without sockets: parsing heads strictly (httparse plus the rules of
//! RFC 9112 that HAProxy enforces), tracking body framing, writing outgoing heads, and a read-only
//! view of a request for ACLs and rules. `conn::http` drives these over sockets.
//!
//! Heads are stored as offsets ([`Span`]) into the connection's buffer: no per-header allocation.
//! A [`RequestHead`]/[`ResponseHead`] is reused from message to message; its header vector keeps
//! its capacity.

pub mod body;
pub mod cookie;
pub mod errors;
pub mod head;
pub mod parse;
pub mod view;

/// A byte range inside a head buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            // Offsets in a head buffer (`tune.bufsize`, a u32): they fit; saturated, a range
            // past the buffer reads as empty.
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The bytes of this span in `buf` (empty if out of range).
    pub(crate) fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }
}

/// One header line: name and value (value without surrounding whitespace).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderSpan {
    pub(crate) name: Span,
    pub(crate) value: Span,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Version {
    Http10,
    #[default]
    Http11,
}

impl Version {
    pub(crate) fn as_bytes(&self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}

/// Request methods that change how a message is handled; anything else is `Other`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Method {
    #[default]
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other,
}

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (requests without Content-Length/Transfer-Encoding; HEAD/1xx/204/304 responses).
    #[default]
    None,
    Length(u64),
    Chunked,
    /// Response delimited by the server closing (no length, not chunked).
    UntilClose,
}

/// What the `Connection` header (and the version's default) says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnFlags {
    /// `Connection: close` seen.
    pub(crate) close: bool,
    /// `Connection: keep-alive` seen.
    pub(crate) keep_alive: bool,
    /// `Connection: upgrade` together with an `Upgrade` header.
    pub(crate) upgrade: bool,
}

/// A parsed request head, as offsets into the buffer it was parsed from.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestHead {
    pub(crate) method: Method,
    pub(crate) method_span: Span,
    pub(crate) target: Span,
    pub(crate) version: Version,
    pub(crate) headers: Vec<HeaderSpan>,
    /// Bytes of the head, request line to the empty line included.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    pub(crate) conn: ConnFlags,
    /// `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
    /// The Host header's value (validation guarantees one for HTTP/1.1).
    pub(crate) host: Option<Span>,
}

/// A parsed response head.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) reason: Span,
    pub(crate) version: Version,
    pub(crate) headers: Vec<HeaderSpan>,
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    pub(crate) conn: ConnFlags,
}

/// Result of parsing a head from the bytes received so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    /// The head is complete; the output value is filled.
    Complete,
    /// More bytes are needed.
    Partial,
}

/// A message Ravelin refuses. For requests `status` is what the client gets (400, 414, 431,
/// 501); for responses it is 502. `reason` is a short text for logs and `show errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HttpError {
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
}

impl HttpError {
    pub(crate) const fn new(status: u16, reason: &'static str) -> HttpError {
        HttpError { status, reason }
    }
}
