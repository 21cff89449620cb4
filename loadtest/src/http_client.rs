//! The HTTP/1.1 load generator: C connections spread over T threads, one mio loop per
//! thread. Closed loop (each connection sends its next request as soon as the previous
//! one is answered) or open loop (a fixed total rate; latency is measured from each
//! request's *intended* send time, so a stalled server cannot hide its stall behind the
//! requests it kept us from sending — the coordinated-omission correction of wrk2).
//! Bodies are counted and discarded. This module owns client sockets; framing is in
//! `http_parse`, counters in `stats`.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::http_parse::{BodyKind, ChunkStep, ChunkedDecoder, MAX_HEAD, Parsed, parse_response};
use crate::stats::{ErrorClass, Live, ThreadStats};

/// Read scratch per thread; 64 KiB keeps syscalls per 1 MiB body low.
const SCRATCH: usize = 64 * 1024;
/// Upper bound of the poll timeout: how late we notice timeouts and the end of the run.
const TICK: Duration = Duration::from_millis(10);
/// Open-loop backlog cap: requests due but not yet sent (16 bytes each).
const MAX_BACKLOG: usize = 1_000_000;
/// Longest backend name kept from `X-Backend`.
const MAX_NAME: usize = 32;

/// Keep connections open between requests, or send `Connection: close` and reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnMode {
    KeepAlive,
    Close,
}

/// What an HTTP run does.
#[derive(Debug, Clone)]
pub struct HttpLoad {
    pub target: SocketAddr,
    pub connections: usize,
    pub threads: usize,
    /// Upper bound of the run.
    pub duration: Duration,
    /// Exact number of requests to finish (ok + errors), if set.
    pub requests: Option<u64>,
    /// Open loop: total requests per second over all threads.
    pub rate: Option<f64>,
    pub conn_mode: ConnMode,
    /// The request bytes, sent identically every time.
    pub request: Arc<[u8]>,
    pub head_request: bool,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Record errors and per-backend hits per 100 ms.
    pub timeline: bool,
}

/// Builds the request every connection sends.
pub fn build_request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[String],
    body_size: usize,
    conn_mode: ConnMode,
) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ravelin-load\r\n");
    for h in headers {
        r.push_str(h.trim());
        r.push_str("\r\n");
    }
    if conn_mode == ConnMode::Close {
        r.push_str("Connection: close\r\n");
    }
    if body_size > 0 || method == "POST" || method == "PUT" {
        r.push_str(&format!("Content-Length: {body_size}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.resize(bytes.len() + body_size, b'x');
    bytes
}

/// Where a response body stands.
#[derive(Debug, Clone, Copy)]
enum Body {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// One connection's request in flight, by phase. Only data valid in a phase lives in it.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in flight (the socket, if any, is an idle keep-alive connection).
    Free,
    Connecting {
        intended: Instant,
        deadline: Instant,
    },
    Sending {
        intended: Instant,
        deadline: Instant,
        written: usize,
    },
    /// Waiting for (the rest of) the head; bytes so far are in `Conn::head`.
    Head {
        intended: Instant,
        deadline: Instant,
    },
    Body {
        intended: Instant,
        deadline: Instant,
        status: u16,
        close: bool,
        body: Body,
    },
}

#[derive(Debug)]
struct Conn {
    sock: Option<TcpStream>,
    phase: Phase,
    /// Partial response head; capacity reserved once per connection.
    head: Vec<u8>,
    name: [u8; MAX_NAME],
    name_len: usize,
    /// The request in flight was written on a connection kept from an earlier response.
    reused: bool,
}

/// Result of feeding response bytes to a connection.
enum Fed {
    More,
    Done { status: u16, close: bool },
    Invalid,
}

/// Per-thread run state shared by the handlers.
struct Worker<'a> {
    cfg: &'a HttpLoad,
    poll: Poll,
    conns: Vec<Conn>,
    free: Vec<usize>,
    inflight: usize,
    stats: ThreadStats,
    live: &'a Live,
    start: Instant,
    scratch: Vec<u8>,
}

/// Shared budget for `--requests`: threads claim tickets before sending.
#[derive(Debug)]
pub struct Tickets(Option<AtomicU64>);

impl Tickets {
    pub fn new(total: Option<u64>) -> Tickets {
        Tickets(total.map(AtomicU64::new))
    }

    pub fn claim(&self) -> bool {
        match &self.0 {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                .is_ok(),
        }
    }

    pub fn exhausted(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|l| l.load(Ordering::Relaxed) == 0)
    }
}

/// Runs the load and returns the merged stats and the measured wall time.
pub fn run(cfg: &HttpLoad, stop: &AtomicBool, live: &Live) -> io::Result<(ThreadStats, Duration)> {
    let threads = cfg.threads.clamp(1, cfg.connections.max(1));
    let tickets = Tickets::new(cfg.requests);
    let start = Instant::now();
    let results: Vec<io::Result<ThreadStats>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let conns = cfg.connections / threads + usize::from(i < cfg.connections % threads);
                let rate = cfg.rate.map(|r| r / threads as f64);
                let tickets = &tickets;
                s.spawn(move || run_thread(cfg, conns, rate, tickets, stop, live, start))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("load thread panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut total = ThreadStats::new(cfg.timeline);
    for r in results {
        total.merge(&r?);
    }
    Ok((total, elapsed))
}

fn run_thread(
    cfg: &HttpLoad,
    conns: usize,
    rate: Option<f64>,
    tickets: &Tickets,
    stop: &AtomicBool,
    live: &Live,
    start: Instant,
) -> io::Result<ThreadStats> {
    let mut w = Worker {
        cfg,
        poll: Poll::new()?,
        conns: (0..conns)
            .map(|_| Conn {
                sock: None,
                phase: Phase::Free,
                head: Vec::with_capacity(1024),
                name: [0; MAX_NAME],
                name_len: 0,
                reused: false,
            })
            .collect(),
        free: (0..conns).rev().collect(),
        inflight: 0,
        stats: ThreadStats::new(cfg.timeline),
        live,
        start,
        scratch: vec![0u8; SCRATCH],
    };
    let end = start + cfg.duration;
    let interval = rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next_due = start;
    let mut backlog: VecDeque<Instant> = VecDeque::new();
    let mut events = Events::with_capacity(1024);
    let mut last_scan = start;
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || now >= end {
            break;
        }
        match interval {
            Some(iv) => {
                while next_due <= now && backlog.len() < MAX_BACKLOG && tickets.claim() {
                    backlog.push_back(next_due);
                    next_due += iv;
                }
                while !backlog.is_empty() {
                    let Some(idx) = w.free.pop() else { break };
                    if let Some(intended) = backlog.pop_front() {
                        w.issue(idx, intended);
                    }
                }
            }
            None => {
                while let Some(&idx) = w.free.last() {
                    if !tickets.claim() {
                        break;
                    }
                    w.free.pop();
                    w.issue(idx, Instant::now());
                }
            }
        }
        if tickets.exhausted() && w.inflight == 0 && backlog.is_empty() {
            break;
        }
        let mut timeout = TICK.min(end.saturating_duration_since(now));
        if interval.is_some() && backlog.is_empty() {
            timeout = timeout.min(next_due.saturating_duration_since(now));
        }
        if !backlog.is_empty() && !w.free.is_empty() {
            timeout = Duration::ZERO;
        }
        match w.poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            w.on_event(ev.token().0);
        }
        let now = Instant::now();
        if now.duration_since(last_scan) >= TICK {
            last_scan = now;
            w.expire(now);
        }
    }
    Ok(w.stats)
}

impl Worker<'_> {
    /// Starts a request on connection `idx`, which must be free.
    fn issue(&mut self, idx: usize, intended: Instant) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        debug_assert!(matches!(conn.phase, Phase::Free));
        self.inflight += 1;
        let now = Instant::now();
        // Before reusing a kept connection, look whether the server closed it while idle (its
        // FIN or RST already arrived but the event was not handled yet): such a connection is
        // known to be unusable, so a new one is opened, as HTTP clients check pooled
        // connections before reuse. Nothing is counted: no request was sent on it.
        if let Some(sock) = conn.sock.as_mut() {
            let mut b = [0u8; 1];
            match sock.peek(&mut b) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                _ => {
                    let _ = self.poll.registry().deregister(sock);
                    conn.sock = None;
                }
            }
        }
        conn.reused = conn.sock.is_some();
        if conn.sock.is_some() {
            conn.phase = Phase::Sending {
                intended,
                deadline: now + self.cfg.timeout,
                written: 0,
            };
            self.on_event(idx);
            return;
        }
        match TcpStream::connect(self.cfg.target) {
            Ok(mut sock) => {
                if let Err(e) = self.poll.registry().register(
                    &mut sock,
                    Token(idx),
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    self.fail(idx, ErrorClass::from_io(&e, true));
                    return;
                }
                conn.sock = Some(sock);
                conn.phase = Phase::Connecting {
                    intended,
                    deadline: now + self.cfg.connect_timeout,
                };
            }
            Err(e) => self.fail(idx, ErrorClass::from_io(&e, true)),
        }
    }

    /// Ends the request on `idx` with an error and drops its socket.
    fn fail(&mut self, idx: usize, class: ErrorClass) {
        self.stats.errors.add(class);
        let before_response = self.conns.get(idx).is_some_and(|c| {
            c.reused
                && (matches!(c.phase, Phase::Sending { .. })
                    || matches!(c.phase, Phase::Head { .. }) && c.head.is_empty())
        });
        if before_response && matches!(class, ErrorClass::Closed | ErrorClass::Reset) {
            self.stats.errors.reused_idle += 1;
        }
        if let Some(t) = self.stats.timeline.as_mut() {
            t.record(self.start.elapsed(), false, None);
        }
        self.live.add_done(false);
        self.release(idx, true);
    }

    /// Puts `idx` back on the free list; `drop_sock` closes its socket.
    fn release(&mut self, idx: usize, drop_sock: bool) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        if drop_sock && let Some(mut s) = conn.sock.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        if !matches!(conn.phase, Phase::Free) {
            conn.phase = Phase::Free;
            self.inflight = self.inflight.saturating_sub(1);
            self.free.push(idx);
        }
        conn.head.clear();
    }

    fn complete(&mut self, idx: usize, intended: Instant, status: u16, close: bool) {
        let now = Instant::now();
        self.stats
            .record_latency(now.saturating_duration_since(intended));
        let ok = status < 400;
        if ok {
            self.stats.ok += 1;
        } else {
            self.stats.errors.add(ErrorClass::Status(status));
        }
        self.live.add_done(ok);
        if let Some(t) = self.stats.timeline.as_mut() {
            let name = self
                .conns
                .get(idx)
                .and_then(|c| c.name.get(..c.name_len))
                .filter(|n| !n.is_empty());
            t.record(now.saturating_duration_since(self.start), ok, name);
        }
        let drop_sock = close || self.cfg.conn_mode == ConnMode::Close;
        self.release(idx, drop_sock);
    }

    /// Times out requests past their deadline.
    fn expire(&mut self, now: Instant) {
        for idx in 0..self.conns.len() {
            let class = match self.conns.get(idx).map(|c| c.phase) {
                Some(Phase::Connecting { deadline, .. }) if deadline <= now => {
                    ErrorClass::ConnectTimeout
                }
                Some(
                    Phase::Sending { deadline, .. }
                    | Phase::Head { deadline, .. }
                    | Phase::Body { deadline, .. },
                ) if deadline <= now => ErrorClass::ReadTimeout,
                _ => continue,
            };
            self.fail(idx, class);
        }
    }

    /// Drives connection `idx` as far as its socket allows.
    fn on_event(&mut self, idx: usize) {
        loop {
            let Some(conn) = self.conns.get_mut(idx) else {
                return;
            };
            let Some(sock) = conn.sock.as_mut() else {
                return;
            };
            match conn.phase {
                Phase::Free => {
                    // Idle keep-alive socket became readable: the server closed it (or sent
                    // junk). Either way it is no longer usable; not an error of any request.
                    match sock.read(&mut self.scratch) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        _ => self.release(idx, true),
                    }
                    return;
                }
                Phase::Connecting {
                    intended,
                    deadline: _,
                } => {
                    match sock.take_error() {
                        Ok(Some(e)) | Err(e) => {
                            self.fail(idx, ErrorClass::from_io(&e, true));
                            return;
                        }
                        Ok(None) => {}
                    }
                    match sock.peer_addr() {
                        Ok(_) => {
                            let _ = sock.set_nodelay(true);
                            conn.phase = Phase::Sending {
                                intended,
                                deadline: Instant::now() + self.cfg.timeout,
                                written: 0,
                            };
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return, // not yet
                        Err(e) => {
                            self.fail(idx, ErrorClass::from_io(&e, true));
                            return;
                        }
                    }
                }
                Phase::Sending {
                    intended,
                    deadline,
                    written,
                } => {
                    let req = &self.cfg.request;
                    let mut written = written;
                    while written < req.len() {
                        match sock.write(req.get(written..).unwrap_or(&[])) {
                            Ok(0) => {
                                self.fail(idx, ErrorClass::Closed);
                                return;
                            }
                            Ok(n) => {
                                written += n;
                                self.stats.bytes_written += n as u64;
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                self.fail(idx, ErrorClass::from_io(&e, false));
                                return;
                            }
                        }
                    }
                    if written < req.len() {
                        conn.phase = Phase::Sending {
                            intended,
                            deadline,
                            written,
                        };
                        return;
                    }
                    conn.head.clear();
                    conn.name_len = 0;
                    conn.phase = Phase::Head { intended, deadline };
                }
                Phase::Head { intended, .. } | Phase::Body { intended, .. } => {
                    let n = match sock.read(&mut self.scratch) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            self.fail(idx, ErrorClass::from_io(&e, false));
                            return;
                        }
                    };
                    self.stats.bytes_read += n as u64;
                    if n == 0 {
                        match conn.phase {
                            Phase::Body {
                                status,
                                body: Body::UntilClose,
                                ..
                            } => self.complete(idx, intended, status, true),
                            _ => self.fail(idx, ErrorClass::Closed),
                        }
                        return;
                    }
                    let data = self.scratch.get(..n).unwrap_or(&[]);
                    match feed(conn, data, self.cfg.head_request) {
                        Fed::More => {}
                        Fed::Done { status, close } => {
                            self.complete(idx, intended, status, close);
                            return;
                        }
                        Fed::Invalid => {
                            self.fail(idx, ErrorClass::Protocol);
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Feeds response bytes to a connection in `Head` or `Body` phase.
fn feed(conn: &mut Conn, data: &[u8], head_request: bool) -> Fed {
    let mut rest: &[u8] = data;
    // Body bytes that arrived in the same reads as a split head (rare: heads are small).
    let head_copy: Vec<u8>;
    if let Phase::Head { intended, deadline } = conn.phase {
        let parsed_from_head = !conn.head.is_empty();
        if parsed_from_head {
            if conn.head.len() + data.len() > MAX_HEAD * 2 {
                return Fed::Invalid;
            }
            conn.head.extend_from_slice(data);
        }
        let buf: &[u8] = if parsed_from_head { &conn.head } else { data };
        match parse_response(buf, head_request) {
            Parsed::Incomplete => {
                if !parsed_from_head {
                    conn.head.extend_from_slice(data);
                }
                return Fed::More;
            }
            Parsed::Invalid => return Fed::Invalid,
            Parsed::Complete(h) => {
                if let Some(name) = h.backend.and_then(|(s, e)| buf.get(s..e)) {
                    let len = name.len().min(MAX_NAME);
                    if let (Some(dst), Some(src)) = (conn.name.get_mut(..len), name.get(..len)) {
                        dst.copy_from_slice(src);
                        conn.name_len = len;
                    }
                }
                let body = match h.body {
                    BodyKind::Empty => {
                        return Fed::Done {
                            status: h.status,
                            close: h.close,
                        };
                    }
                    BodyKind::Length(0) => {
                        return Fed::Done {
                            status: h.status,
                            close: h.close,
                        };
                    }
                    BodyKind::Length(n) => Body::Length(n),
                    BodyKind::Chunked => Body::Chunked(ChunkedDecoder::default()),
                    BodyKind::UntilClose => Body::UntilClose,
                };
                conn.phase = Phase::Body {
                    intended,
                    deadline,
                    status: h.status,
                    close: h.close,
                    body,
                };
                if parsed_from_head {
                    head_copy = conn.head.get(h.head_len..).unwrap_or(&[]).to_vec();
                    rest = &head_copy;
                } else {
                    rest = data.get(h.head_len..).unwrap_or(&[]);
                }
                conn.head.clear();
            }
        }
    }
    let Phase::Body {
        intended,
        deadline,
        status,
        close,
        body,
    } = conn.phase
    else {
        return Fed::Invalid;
    };
    let body = match body {
        Body::Length(left) => {
            let left = left.saturating_sub(rest.len() as u64);
            if left == 0 {
                return Fed::Done { status, close };
            }
            Body::Length(left)
        }
        Body::Chunked(mut d) => match d.feed(rest) {
            ChunkStep::Done(_) => return Fed::Done { status, close },
            ChunkStep::NeedMore => Body::Chunked(d),
            ChunkStep::Invalid => return Fed::Invalid,
        },
        Body::UntilClose => Body::UntilClose,
    };
    conn.phase = Phase::Body {
        intended,
        deadline,
        status,
        close,
        body,
    };
    Fed::More
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn_in_head() -> Conn {
        let now = Instant::now();
        Conn {
            sock: None,
            phase: Phase::Head {
                intended: now,
                deadline: now,
            },
            head: Vec::new(),
            name: [0; MAX_NAME],
            name_len: 0,
            reused: false,
        }
    }

    #[test]
    fn request_shape() {
        let r = build_request("GET", "/x", "h", &["X-A: 1".into()], 0, ConnMode::Close);
        assert_eq!(r, b"GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: ravelin-load\r\nX-A: 1\r\nConnection: close\r\n\r\n");
        let r = build_request("POST", "/", "h", &[], 3, ConnMode::KeepAlive);
        assert!(r.ends_with(b"Content-Length: 3\r\n\r\nxxx"));
    }

    #[test]
    fn feed_split_head_and_body() {
        let mut c = conn_in_head();
        let resp = b"HTTP/1.1 200 OK\r\nX-Backend: b3\r\nContent-Length: 10\r\n\r\n0123456789";
        for (i, b) in resp.iter().enumerate() {
            match feed(&mut c, std::slice::from_ref(b), false) {
                Fed::More => assert!(i + 1 < resp.len()),
                Fed::Done { status, close } => {
                    assert_eq!(i + 1, resp.len());
                    assert_eq!((status, close), (200, false));
                }
                Fed::Invalid => panic!("invalid at {i}"),
            }
        }
        assert_eq!(&c.name[..c.name_len], b"b3");
    }

    #[test]
    fn feed_whole_chunked() {
        let mut c = conn_in_head();
        let resp = b"HTTP/1.1 502 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert!(matches!(
            feed(&mut c, resp, false),
            Fed::Done {
                status: 502,
                close: false
            }
        ));
    }

    #[test]
    fn feed_garbage() {
        let mut c = conn_in_head();
        assert!(matches!(
            feed(&mut c, b"garbage\r\n\r\n", false),
            Fed::Invalid
        ));
    }

    #[test]
    fn tickets_exact() {
        let t = Tickets::new(Some(3));
        assert!(t.claim() && t.claim() && t.claim());
        assert!(!t.claim());
        assert!(t.exhausted());
        assert!(Tickets::new(None).claim());
    }

    // End-to-end against the built-in backend, in-process, on 127.0.0.1:0.
    use crate::backend::{Backend, BackendKind, Fault, HttpBackend};
    use crate::stats::RunReport;

    fn backend(status: u16, body: usize, fault: Fault) -> io::Result<Backend> {
        let kind = BackendKind::Http(HttpBackend {
            status,
            body_size: body,
            delay: Duration::ZERO,
            name: "t1".into(),
            fault,
        });
        Backend::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            2,
            kind,
            Arc::new(AtomicBool::new(false)),
        )
    }

    fn load(target: SocketAddr, conns: usize, n: u64, mode: ConnMode) -> HttpLoad {
        HttpLoad {
            target,
            connections: conns,
            threads: 2,
            duration: Duration::from_secs(5),
            requests: Some(n),
            rate: None,
            conn_mode: mode,
            request: build_request("GET", "/", "t", &[], 0, mode).into(),
            head_request: false,
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            timeline: false,
        }
    }

    fn go(cfg: &HttpLoad) -> io::Result<ThreadStats> {
        run(cfg, &AtomicBool::new(false), &Live::default()).map(|(s, _)| s)
    }

    #[test]
    fn exact_request_count_keepalive() -> io::Result<()> {
        let b = backend(200, 100, Fault::None)?;
        let s = go(&load(b.addr, 7, 1000, ConnMode::KeepAlive))?;
        assert_eq!(s.ok, 1000);
        assert_eq!(s.errors.total(), 0);
        assert_eq!(s.hist.len(), 1000);
        assert!(s.bytes_read >= 1000 * 100);
        Ok(())
    }

    #[test]
    fn exact_request_count_close_and_large_body() -> io::Result<()> {
        let b = backend(200, 300_000, Fault::None)?;
        let s = go(&load(b.addr, 3, 40, ConnMode::Close))?;
        assert_eq!((s.ok, s.errors.total()), (40, 0));
        assert!(s.bytes_read >= 40 * 300_000);
        Ok(())
    }

    #[test]
    fn refused_port_is_connect_refused() -> io::Result<()> {
        // Bind then drop to get a port with (almost certainly) no listener.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let s = go(&load(port, 2, 10, ConnMode::KeepAlive))?;
        assert_eq!(s.ok, 0);
        assert_eq!(s.errors.connect_refused, 10);
        assert_eq!(s.errors.total(), 10);
        Ok(())
    }

    #[test]
    fn status_503_counted_under_503() -> io::Result<()> {
        let b = backend(503, 10, Fault::None)?;
        let s = go(&load(b.addr, 4, 50, ConnMode::KeepAlive))?;
        let r = s.errors.to_report();
        assert_eq!(r.http.get("503"), Some(&50));
        assert_eq!((s.ok, r.total), (0, 50));
        Ok(())
    }

    #[test]
    fn reset_backend_is_reset() -> io::Result<()> {
        let b = backend(200, 10, Fault::Reset)?;
        let s = go(&load(b.addr, 2, 20, ConnMode::KeepAlive))?;
        assert_eq!(s.errors.reset, 20, "{:?}", s.errors);
        Ok(())
    }

    #[test]
    fn close_after_a_request_on_a_reused_connection_counts_as_reused_idle() -> io::Result<()> {
        use std::io::{Read, Write};
        // Answers the first request of each connection (keep-alive), then reads the second
        // and closes without a byte: what a soft-stopping proxy does to a request that
        // races its idle close.
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = l.local_addr()?;
        std::thread::spawn(move || {
            for c in l.incoming().take(4) {
                let Ok(mut c) = c else { continue };
                let mut buf = [0u8; 1024];
                if c.read(&mut buf).unwrap_or(0) == 0 {
                    continue;
                }
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                let _ = c.read(&mut buf);
            }
        });
        let s = go(&load(addr, 1, 2, ConnMode::KeepAlive))?;
        assert_eq!(s.ok, 1, "{:?}", s.errors);
        assert_eq!(s.errors.total(), 1, "{:?}", s.errors);
        assert_eq!(s.errors.reused_idle, 1, "{:?}", s.errors);
        Ok(())
    }

    #[test]
    fn closing_backend_is_closed_early() -> io::Result<()> {
        let b = backend(200, 10, Fault::Close)?;
        let s = go(&load(b.addr, 2, 20, ConnMode::KeepAlive))?;
        assert_eq!(s.errors.closed, 20, "{:?}", s.errors);
        Ok(())
    }

    #[test]
    fn hanging_backend_is_read_timeout() -> io::Result<()> {
        let b = backend(200, 10, Fault::Hang)?;
        let mut cfg = load(b.addr, 3, 3, ConnMode::KeepAlive);
        cfg.timeout = Duration::from_millis(200);
        let s = go(&cfg)?;
        assert_eq!(s.errors.read_timeout, 3, "{:?}", s.errors);
        Ok(())
    }

    #[test]
    fn open_loop_rate_and_timeline_json() -> io::Result<()> {
        let b = backend(200, 10, Fault::None)?;
        let mut cfg = load(b.addr, 4, 0, ConnMode::KeepAlive);
        cfg.requests = None;
        cfg.rate = Some(500.0);
        cfg.duration = Duration::from_millis(600);
        cfg.timeline = true;
        let (s, elapsed) = run(&cfg, &AtomicBool::new(false), &Live::default())?;
        // 500/s for 0.6 s is 300 requests; allow for the last in-flight ones.
        assert!((280..=301).contains(&s.ok), "ok {}", s.ok);
        let r = RunReport::from_stats("http", "t", 2, 4, 0, elapsed, &s);
        let v: serde_json::Value = serde_json::to_value(&r).map_err(io::Error::other)?;
        for key in [
            "requests_per_s",
            "bytes_read",
            "latency_us",
            "percentiles",
            "errors",
            "timeline",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        for key in ["p50", "p90", "p99", "p999", "max"] {
            assert!(
                v["latency_us"][key].as_u64().is_some_and(|x| x > 0),
                "latency {key}"
            );
        }
        let hits: u64 = v["timeline"]["backends"]["t1"]
            .as_array()
            .map_or(0, |a| a.iter().filter_map(|x| x.as_u64()).sum());
        assert_eq!(hits, s.ok);
        let back: RunReport = serde_json::from_value(v).map_err(io::Error::other)?;
        assert_eq!(back, r);
        Ok(())
    }
}
