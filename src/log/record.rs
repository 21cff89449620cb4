//! The values of one log line, and the instants a stream notes to compute them.
//!
//! Timers follow the manual's section 8.4: `Th` handshakes (the PROXY header; 0 without),
//! `Ti` idle time before the request, `TR` first request byte to end of
//! head, `Tw` time in queues, `Tc` connection to the server (retries included), `Tr` server
//! connected to end of response head, `Ta` first request byte to last response byte, `Tt`
//! accept (or end of the previous response) to the end. `-1` is "never happened".

use std::net::SocketAddr;
use std::time::Instant;

/// What one log line says.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub(crate) client: Option<SocketAddr>,
    pub(crate) frontend_addr: Option<SocketAddr>,
    pub(crate) backend_src: Option<SocketAddr>,
    pub(crate) server_addr: Option<SocketAddr>,
    /// Accept date (Unix ms); for a later request of a keep-alive connection, the end of the
    /// previous response, as HAProxy resets it.
    pub(crate) accept_ms: u64,
    /// Date of the request's first byte (Unix ms); the accept date when there was none.
    pub(crate) request_ms: u64,
    pub(crate) frontend: &'a str,
    pub(crate) backend: &'a str,
    pub(crate) server: &'a str,
    pub(crate) th: i64,
    pub(crate) ti: i64,
    pub(crate) t_req: i64,
    pub(crate) tw: i64,
    pub(crate) tc: i64,
    pub(crate) tr: i64,
    pub(crate) ta: i64,
    pub(crate) tt: i64,
    pub(crate) http: bool,
    pub(crate) status: i64,
    pub(crate) bytes_out: u64,
    pub(crate) bytes_in: u64,
    pub(crate) actconn: u32,
    pub(crate) feconn: u32,
    pub(crate) beconn: u32,
    pub(crate) srvconn: u32,
    pub(crate) retries: u32,
    pub(crate) redispatched: bool,
    pub(crate) srv_queue: u32,
    pub(crate) be_queue: u32,
    pub(crate) term: [u8; 2],
    pub(crate) cookie: [u8; 2],
    pub(crate) cap_req: &'a [Vec<u8>],
    pub(crate) cap_req_on: bool,
    pub(crate) cap_res: &'a [Vec<u8>],
    pub(crate) cap_res_on: bool,
    /// `%rt`: the frontend's request counter when the request arrived.
    pub(crate) req_counter: u64,
    /// The request line as received (`None`: no valid request, printed `<BADREQ>`).
    pub(crate) request_line: Option<&'a [u8]>,
    pub(crate) unique_id: &'a [u8],
    pub(crate) pid: u32,
    pub(crate) hostname: &'a str,
}

impl Record<'_> {
    /// `Td`: data transmission time, `-1` when the data phase never started.
    pub(crate) fn td(&self) -> i64 {
        let started = if self.http { self.tr } else { self.tc };
        if started < 0 || self.tt < 0 {
            return -1;
        }
        let spent: i64 = [self.th, self.ti, self.t_req, self.tw, self.tc, self.tr]
            .iter()
            .filter(|&&t| t > 0)
            .sum();
        (self.tt - spent).max(0)
    }

    /// `Tq = Th + Ti + TR`, `-1` if any of them is.
    pub(crate) fn tq(&self) -> i64 {
        if self.th < 0 || self.ti < 0 || self.t_req < 0 {
            return -1;
        }
        self.th + self.ti + self.t_req
    }

    /// `Tu`: `Tt` without the idle time.
    pub(crate) fn tu(&self) -> i64 {
        if self.tt < 0 {
            return -1;
        }
        self.tt - self.ti.max(0)
    }

    /// Word `i` of the request line (method, URI, version).
    pub(crate) fn request_part(&self, i: usize) -> Option<&[u8]> {
        self.request_line?
            .split(|&c| c == b' ')
            .filter(|w| !w.is_empty())
            .nth(i)
    }

    /// The path without scheme, authority nor query (`%HPO`).
    pub(crate) fn path_only(&self) -> Option<&[u8]> {
        let uri = self.request_part(1)?;
        let uri = match uri.windows(3).position(|w| w == b"://") {
            Some(p) => {
                let rest = uri.get(p + 3..)?;
                let slash = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
                rest.get(slash..)?
            }
            None => uri,
        };
        let end = uri
            .iter()
            .position(|&c| c == b'?' || c == b'#')
            .unwrap_or(uri.len());
        uri.get(..end)
    }
}

/// Milliseconds from `a` to `b`, `-1` when either is missing.
pub(crate) fn span(a: Option<Instant>, b: Option<Instant>) -> i64 {
    match (a, b) {
        (Some(a), Some(b)) => {
            i64::try_from(b.saturating_duration_since(a).as_millis()).unwrap_or(i64::MAX)
        }
        _ => -1,
    }
}

/// The instants of one request (or of a TCP stream) that the line's timers come from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks {
    /// Accept, or the end of the previous response on a keep-alive connection.
    pub(crate) start: Instant,
    /// The end of the connection's handshakes (`Th` ends, `Ti` starts); `start` when there
    /// were none or for a later request.
    pub(crate) ready: Instant,
    /// The first byte of the request.
    pub(crate) req_first: Option<Instant>,
    /// The end of the request head.
    pub(crate) req_head: Option<Instant>,
    /// The end of the response head.
    pub(crate) res_head: Option<Instant>,
    /// Bytes received from the client / sent to it for this request.
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    /// Status sent to the client (`-1`: none).
    pub(crate) status: i64,
    /// Whether this request still has to be logged.
    pub(crate) pending: bool,
}

impl Marks {
    pub(crate) fn new(start: Instant) -> Marks {
        Marks {
            start,
            ready: start,
            req_first: None,
            req_head: None,
            res_head: None,
            bytes_in: 0,
            bytes_out: 0,
            status: -1,
            pending: true,
        }
    }

    /// The marks of a stream accepted at `start` whose handshakes ended at `ready`.
    pub(crate) fn after_handshake(start: Instant, ready: Instant) -> Marks {
        Marks {
            ready,
            ..Marks::new(start)
        }
    }

    /// Starts over for the next request of a keep-alive connection.
    pub(crate) fn next(&mut self, now: Instant) {
        *self = Marks {
            pending: false,
            ..Marks::new(now)
        };
    }

    /// Notes the first request byte.
    pub(crate) fn first_byte(&mut self, now: Instant) {
        if self.req_first.is_none() {
            self.req_first = Some(now);
            self.pending = true;
        }
    }
}
