//! Built-in backends: a fixed-response HTTP/1.1 server and TCP echo/sink/source servers.
//! Each runs one mio loop per thread, every thread with its own `SO_REUSEPORT` listener on
//! the same address so the kernel spreads connections. This module owns the backend
//! sockets; request framing lives in `http_parse`, process handling in `main`/`compare`.
//!
//! The HTTP server answers every request with the same precomputed response (head + body in
//! one shared buffer, written straight from it) and names itself in `X-Backend`, which is
//! how the failover scenarios count hits per backend. Test faults (`reset`, `close`,
//! `hang`) let the client's error classification be tested without a proxy.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use socket2::{Domain, SockRef, Socket, Type};

use crate::http_parse::{Parsed, RequestHead, parse_request};

/// Listen backlog; the kernel caps it at `net.core.somaxconn` (4096 here). Connection-rate
/// and hold runs open thousands of connections at once.
const BACKLOG: i32 = 4096;
/// Read scratch buffer per thread.
const SCRATCH: usize = 64 * 1024;
/// Echo data waiting to be written before we stop reading from that client.
const MAX_ECHO_PENDING: usize = 256 * 1024;
/// How often an idle loop checks the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);
const LISTENER: Token = Token(usize::MAX);

/// What the HTTP backend does once it has read a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Close with RST (SO_LINGER 0) instead of answering.
    Reset,
    /// Close with FIN instead of answering.
    Close,
    /// Never answer.
    Hang,
}

/// TCP backend behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpMode {
    Echo,
    /// Read and discard.
    Sink,
    /// Write zeros as fast as possible, discard input.
    Source,
    /// Sink and source at once (bidirectional bulk).
    Both,
    /// The first byte the client sends picks the mode: `E`, `U` (sink), `D` (source), `B`.
    Auto,
}

impl TcpMode {
    fn from_first_byte(b: u8) -> TcpMode {
        match b {
            b'U' => TcpMode::Sink,
            b'D' => TcpMode::Source,
            b'B' => TcpMode::Both,
            _ => TcpMode::Echo,
        }
    }
}

/// HTTP backend settings.
#[derive(Debug, Clone)]
pub struct HttpBackend {
    pub status: u16,
    pub body_size: usize,
    pub delay: Duration,
    pub name: String,
    pub fault: Fault,
}

/// Which server to run.
#[derive(Debug, Clone)]
pub enum BackendKind {
    Http(HttpBackend),
    Tcp(TcpMode),
}

/// A running backend; stops (and joins its threads) on `stop()` or drop.
#[derive(Debug)]
pub struct Backend {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Backend {
    /// Binds `threads` listeners on `listen` (port 0 picks one port for all) and starts.
    pub fn start(
        listen: SocketAddr,
        threads: usize,
        kind: BackendKind,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Backend> {
        let threads = threads.max(1);
        let first = bind_listener(listen)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads {
            listeners.push(bind_listener(addr)?);
        }
        let response: Arc<[u8]> = match &kind {
            BackendKind::Http(h) => build_response(h).into(),
            BackendKind::Tcp(_) => Arc::from(Vec::new()),
        };
        let mut handles = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            let kind = kind.clone();
            let stop = stop.clone();
            let response = response.clone();
            let h = std::thread::Builder::new()
                .name(format!("backend-{i}"))
                .spawn(move || {
                    if let Err(e) = run_thread(l, &kind, &response, &stop) {
                        eprintln!("ravelin-load backend thread {i}: {e}");
                    }
                })?;
            handles.push(h);
        }
        Ok(Backend {
            addr,
            stop,
            threads: handles,
        })
    }

    /// Blocks until the stop flag is set and every thread has exited.
    pub fn wait(mut self) {
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(TcpListener::from_std(s.into()))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The one response this backend sends: head and body in a single buffer.
pub fn build_response(h: &HttpBackend) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nServer: ravelin-load\r\nX-Backend: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        h.status,
        reason(h.status),
        h.name,
        h.body_size
    )
    .into_bytes();
    out.extend((0..h.body_size).map(|i| b'a' + (i % 26) as u8));
    out
}

/// Per-connection HTTP server state.
#[derive(Debug, Default)]
struct HttpConn {
    /// Unparsed request bytes (only when a request arrived in pieces).
    inbuf: Vec<u8>,
    /// Request body bytes still to discard.
    skip: u64,
    /// Responses ready to write.
    owed: u32,
    /// Responses waiting for their delay.
    delayed: u32,
    /// Bytes of the current response already written.
    written: usize,
    /// Close once everything owed is written.
    close_after: bool,
    /// Stop answering (fault `hang`).
    hung: bool,
}

#[derive(Debug)]
struct TcpConn {
    mode: TcpMode,
    pending: Vec<u8>,
}

#[derive(Debug)]
enum Proto {
    Http(HttpConn),
    Tcp(TcpConn),
}

#[derive(Debug)]
struct Conn {
    sock: TcpStream,
    generation: u64,
    proto: Proto,
    /// WRITABLE is in the registered interest: only while output is blocked, so a quick
    /// request/response exchange costs no extra wakeups.
    write_interest: bool,
}

impl Conn {
    fn wants_write(&self) -> bool {
        match &self.proto {
            Proto::Http(h) => h.owed > 0,
            Proto::Tcp(t) => {
                !t.pending.is_empty() || matches!(t.mode, TcpMode::Source | TcpMode::Both)
            }
        }
    }
}

/// What the loop does with a connection after handling an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Continue,
    Close,
    Reset,
}

/// Thread-local context passed to connection handlers.
struct Ctx<'a> {
    kind: &'a BackendKind,
    response: &'a [u8],
    scratch: &'a mut [u8],
    /// The event says the peer shut its side: read to EOF even after a short read.
    read_closed: bool,
    delays: &'a mut VecDeque<(Instant, usize, u64)>,
    zeros: &'a [u8],
}

fn run_thread(
    mut listener: TcpListener,
    kind: &BackendKind,
    response: &[u8],
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Slab<Conn> = Slab::with_capacity(1024);
    let mut scratch = vec![0u8; SCRATCH];
    let zeros = vec![0u8; SCRATCH];
    let mut delays: VecDeque<(Instant, usize, u64)> = VecDeque::new();
    let mut generation: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let timeout = delays.front().map_or(STOP_CHECK, |(at, _, _)| {
            at.saturating_duration_since(now).min(STOP_CHECK)
        });
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_all(&mut listener, &poll, &mut conns, kind, &mut generation);
                continue;
            }
            let key = ev.token().0;
            let step = match conns.get_mut(key) {
                Some(conn) => {
                    let mut ctx = Ctx {
                        kind,
                        response,
                        scratch: &mut scratch,
                        read_closed: ev.is_read_closed() || ev.is_error(),
                        delays: &mut delays,
                        zeros: &zeros,
                    };
                    on_ready(conn, key, &mut ctx)
                }
                None => continue,
            };
            finish(step, key, &poll, &mut conns);
        }
        // Delayed responses that are due.
        let now = Instant::now();
        while let Some(&(at, key, g)) = delays.front() {
            if at > now {
                break;
            }
            delays.pop_front();
            let step = match conns.get_mut(key) {
                Some(conn) if conn.generation == g => {
                    if let Proto::Http(h) = &mut conn.proto {
                        h.delayed = h.delayed.saturating_sub(1);
                        h.owed += 1;
                        write_http(&mut conn.sock, h, response)
                    } else {
                        Step::Continue
                    }
                }
                _ => continue,
            };
            finish(step, key, &poll, &mut conns);
        }
    }
    Ok(())
}

fn accept_all(
    listener: &mut TcpListener,
    poll: &Poll,
    conns: &mut Slab<Conn>,
    kind: &BackendKind,
    generation: &mut u64,
) {
    loop {
        match listener.accept() {
            Ok((mut sock, _)) => {
                let _ = sock.set_nodelay(true);
                let entry = conns.vacant_entry();
                let key = entry.key();
                if poll
                    .registry()
                    .register(&mut sock, Token(key), Interest::READABLE)
                    .is_err()
                {
                    continue;
                }
                *generation += 1;
                let proto = match kind {
                    BackendKind::Http(_) => Proto::Http(HttpConn::default()),
                    BackendKind::Tcp(m) => Proto::Tcp(TcpConn {
                        mode: *m,
                        pending: Vec::new(),
                    }),
                };
                entry.insert(Conn {
                    sock,
                    generation: *generation,
                    proto,
                    write_interest: false,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // EMFILE and friends: leave the rest in the backlog, the next event retries.
            Err(_) => return,
        }
    }
}

/// The single removal point for connections.
fn finish(step: Step, key: usize, poll: &Poll, conns: &mut Slab<Conn>) {
    match step {
        Step::Continue => {
            let Some(conn) = conns.get_mut(key) else {
                return;
            };
            let want = conn.wants_write();
            if want != conn.write_interest {
                let interest = if want {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                if poll
                    .registry()
                    .reregister(&mut conn.sock, Token(key), interest)
                    .is_err()
                {
                    finish(Step::Close, key, poll, conns);
                    return;
                }
                conn.write_interest = want;
            }
        }
        Step::Close | Step::Reset => {
            if let Some(mut conn) = conns.try_remove(key) {
                let _ = poll.registry().deregister(&mut conn.sock);
                if step == Step::Reset {
                    let _ = SockRef::from(&conn.sock).set_linger(Some(Duration::ZERO));
                }
            }
        }
    }
}

fn on_ready(conn: &mut Conn, key: usize, ctx: &mut Ctx<'_>) -> Step {
    match &mut conn.proto {
        Proto::Http(h) => on_http(&mut conn.sock, h, key, conn.generation, ctx),
        Proto::Tcp(t) => on_tcp(&mut conn.sock, t, ctx),
    }
}

fn on_http(
    sock: &mut TcpStream,
    h: &mut HttpConn,
    key: usize,
    generation: u64,
    ctx: &mut Ctx<'_>,
) -> Step {
    let BackendKind::Http(cfg) = ctx.kind else {
        return Step::Close;
    };
    loop {
        match sock.read(ctx.scratch) {
            Ok(0) => {
                if h.hung {
                    return Step::Close;
                }
                // Client finished sending; answer what is owed, then close.
                h.close_after = true;
                break;
            }
            Ok(n) => {
                let Some(data) = ctx.scratch.get(..n) else {
                    return Step::Close;
                };
                let step = take_requests(h, data, cfg, key, generation, ctx.delays);
                if step != Step::Continue {
                    return step;
                }
                // A short read drained the socket; with edge-triggered polling new data
                // raises a new event, so skip the read that would only return EAGAIN.
                if n < ctx.scratch.len() && !ctx.read_closed {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Step::Close,
        }
    }
    write_http(sock, h, ctx.response)
}

/// Consumes request bytes, queueing one response per complete request.
fn take_requests(
    h: &mut HttpConn,
    data: &[u8],
    cfg: &HttpBackend,
    key: usize,
    generation: u64,
    delays: &mut VecDeque<(Instant, usize, u64)>,
) -> Step {
    let mut data = data;
    if h.skip > 0 {
        let n = usize::try_from(h.skip)
            .unwrap_or(usize::MAX)
            .min(data.len());
        h.skip -= n as u64;
        data = data.get(n..).unwrap_or(&[]);
    }
    if data.is_empty() {
        return Step::Continue;
    }
    if h.close_after || h.hung {
        return Step::Continue; // ignore anything after a close request
    }
    h.inbuf.extend_from_slice(data);
    let mut consumed = 0;
    loop {
        let rest = h.inbuf.get(consumed..).unwrap_or(&[]);
        if rest.is_empty() {
            break;
        }
        match parse_request(rest) {
            Parsed::Incomplete => break,
            Parsed::Invalid => return Step::Close,
            Parsed::Complete(RequestHead {
                head_len,
                body_len,
                close,
                ..
            }) => {
                consumed += head_len;
                let avail = (h.inbuf.len() - consumed) as u64;
                let body_now = body_len.min(avail);
                consumed += usize::try_from(body_now).unwrap_or(0);
                h.skip = body_len - body_now;
                match cfg.fault {
                    Fault::None => {}
                    Fault::Reset => return Step::Reset,
                    Fault::Close => return Step::Close,
                    Fault::Hang => {
                        h.hung = true;
                        break;
                    }
                }
                if cfg.delay.is_zero() {
                    h.owed += 1;
                } else {
                    h.delayed += 1;
                    delays.push_back((Instant::now() + cfg.delay, key, generation));
                }
                if close {
                    h.close_after = true;
                    break;
                }
                if h.skip > 0 {
                    break;
                }
            }
        }
    }
    if consumed >= h.inbuf.len() {
        h.inbuf.clear();
    } else {
        h.inbuf.drain(..consumed);
    }
    Step::Continue
}

fn write_http(sock: &mut TcpStream, h: &mut HttpConn, response: &[u8]) -> Step {
    while h.owed > 0 {
        let Some(rest) = response.get(h.written..) else {
            return Step::Close;
        };
        match sock.write(rest) {
            Ok(0) => return Step::Close,
            Ok(n) => {
                h.written += n;
                if h.written >= response.len() {
                    h.written = 0;
                    h.owed -= 1;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Step::Close,
        }
    }
    if h.close_after && h.delayed == 0 && !h.hung {
        Step::Close
    } else {
        Step::Continue
    }
}

fn on_tcp(sock: &mut TcpStream, t: &mut TcpConn, ctx: &mut Ctx<'_>) -> Step {
    // Flush echo backlog first: reading more would only grow it.
    if !t.pending.is_empty() {
        match write_some(sock, &t.pending) {
            Ok(n) => {
                t.pending.drain(..n);
            }
            Err(_) => return Step::Close,
        }
    }
    let mut eof = false;
    while t.pending.len() < MAX_ECHO_PENDING {
        match sock.read(ctx.scratch) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => {
                let mut data = ctx.scratch.get(..n).unwrap_or(&[]);
                if t.mode == TcpMode::Auto {
                    let Some((&first, rest)) = data.split_first() else {
                        continue;
                    };
                    t.mode = TcpMode::from_first_byte(first);
                    data = rest;
                }
                if t.mode == TcpMode::Echo && !data.is_empty() {
                    if t.pending.is_empty() {
                        match write_some(sock, data) {
                            Ok(w) => t.pending.extend_from_slice(data.get(w..).unwrap_or(&[])),
                            Err(_) => return Step::Close,
                        }
                    } else {
                        t.pending.extend_from_slice(data);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Step::Close,
        }
    }
    if eof {
        return Step::Close;
    }
    if matches!(t.mode, TcpMode::Source | TcpMode::Both) {
        loop {
            match sock.write(ctx.zeros) {
                Ok(0) => return Step::Close,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Step::Close,
            }
        }
    }
    Step::Continue
}

/// Writes as much of `data` as the socket takes now; `Ok(n)` may be short.
fn write_some(sock: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match sock.write(data.get(done..).unwrap_or(&[])) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpStream as StdStream;

    fn http(status: u16, body: usize) -> BackendKind {
        BackendKind::Http(HttpBackend {
            status,
            body_size: body,
            delay: Duration::ZERO,
            name: "t1".into(),
            fault: Fault::None,
        })
    }

    fn local() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn response_is_well_formed() {
        let r = build_response(&HttpBackend {
            status: 503,
            body_size: 5,
            delay: Duration::ZERO,
            name: "b9".into(),
            fault: Fault::None,
        });
        let s = String::from_utf8_lossy(&r);
        assert!(s.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(s.contains("X-Backend: b9\r\n"));
        assert!(s.ends_with("\r\n\r\nabcde"));
    }

    #[test]
    fn http_keepalive_and_pipelining() -> io::Result<()> {
        let b = Backend::start(local(), 2, http(200, 10), Arc::new(AtomicBool::new(false)))?;
        let mut s = StdStream::connect(b.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let one = build_response(&HttpBackend {
            status: 200,
            body_size: 10,
            delay: Duration::ZERO,
            name: "t1".into(),
            fault: Fault::None,
        });
        let mut got = vec![0u8; one.len() * 2];
        s.read_exact(&mut got)?;
        assert_eq!(&got[..one.len()], &one[..]);
        assert_eq!(&got[one.len()..], &one[..]);
        drop(b);
        Ok(())
    }

    #[test]
    fn http_close_request_closes() -> io::Result<()> {
        let b = Backend::start(local(), 1, http(200, 3), Arc::new(AtomicBool::new(false)))?;
        let mut s = StdStream::connect(b.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody")?;
        let mut all = Vec::new();
        s.read_to_end(&mut all)?; // ends because the server closes
        assert!(all.ends_with(b"abc"));
        Ok(())
    }

    #[test]
    fn tcp_auto_echo() -> io::Result<()> {
        let b = Backend::start(
            local(),
            1,
            BackendKind::Tcp(TcpMode::Auto),
            Arc::new(AtomicBool::new(false)),
        )?;
        let mut s = StdStream::connect(b.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"Ehello\n")?;
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line)?;
        assert_eq!(line, "hello\n");
        Ok(())
    }

    #[test]
    fn tcp_source_sends() -> io::Result<()> {
        let b = Backend::start(
            local(),
            1,
            BackendKind::Tcp(TcpMode::Auto),
            Arc::new(AtomicBool::new(false)),
        )?;
        let mut s = StdStream::connect(b.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"D")?;
        let mut buf = vec![1u8; 100_000];
        s.read_exact(&mut buf)?;
        assert!(buf.iter().all(|b| *b == 0));
        Ok(())
    }
}
