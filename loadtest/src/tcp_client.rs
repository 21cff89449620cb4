//! TCP load modes, one mio loop per thread: `bulk` (S streams pushing and/or pulling bytes
//! for a duration), `connrate` (connect, exchange a few bytes, close, repeat) and `hold`
//! (open N connections end to end and keep them idle, for memory measurement). The peer is
//! the built-in TCP backend in `auto` mode, reached directly or through a proxy: the first
//! byte a stream sends picks the backend's behaviour (`U` sink, `D` source, `B` both,
//! `E` echo). This module owns the client sockets; counters live in `stats`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::http_client::Tickets;
use crate::stats::{ErrorClass, Live, ThreadStats};

const SCRATCH: usize = 256 * 1024;
const TICK: Duration = Duration::from_millis(10);
/// Connections a `hold` thread has in the connecting/ping phase at once; opening 9000 at
/// once would overflow accept backlogs and turn into SYN retries (1 s, 3 s...).
const HOLD_OPENING: usize = 128;

/// Bulk transfer direction, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Both,
}

impl Direction {
    fn mode_byte(self) -> u8 {
        match self {
            Direction::Up => b'U',
            Direction::Down => b'D',
            Direction::Both => b'B',
        }
    }
}

/// Settings shared by the TCP modes.
#[derive(Debug, Clone)]
pub struct TcpLoad {
    pub target: SocketAddr,
    pub threads: usize,
    /// Streams (bulk), concurrent connectors (connrate) or connections (hold).
    pub connections: usize,
    pub duration: Duration,
    /// connrate only: exact number of connections to complete.
    pub requests: Option<u64>,
    pub direction: Direction,
    /// connrate: bytes echoed per connection.
    pub payload: usize,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

/// Which TCP mode to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpKind {
    Bulk,
    ConnRate,
    Hold,
}

/// Runs the mode on `threads` threads; returns merged stats and wall time. For `Hold`,
/// `live.held` tracks connections currently established end to end.
pub fn run(
    kind: TcpKind,
    cfg: &TcpLoad,
    stop: &AtomicBool,
    live: &Live,
) -> io::Result<(ThreadStats, Duration)> {
    let threads = cfg.threads.clamp(1, cfg.connections.max(1));
    let tickets = Tickets::new(cfg.requests);
    let start = Instant::now();
    let results: Vec<io::Result<ThreadStats>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let n = cfg.connections / threads + usize::from(i < cfg.connections % threads);
                let tickets = &tickets;
                s.spawn(move || match kind {
                    TcpKind::Bulk => bulk_thread(cfg, n, stop, live, start),
                    TcpKind::ConnRate => connrate_thread(cfg, n, tickets, stop, live, start),
                    TcpKind::Hold => hold_thread(cfg, n, stop, live, start),
                })
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
    let mut total = ThreadStats::new(false);
    for r in results {
        total.merge(&r?);
    }
    Ok((total, elapsed))
}

/// Outcome of checking a non-blocking connect.
enum Connect {
    Pending,
    Done,
    Failed(ErrorClass),
}

fn check_connect(sock: &TcpStream) -> Connect {
    match sock.take_error() {
        Ok(Some(e)) | Err(e) => return Connect::Failed(ErrorClass::from_io(&e, true)),
        Ok(None) => {}
    }
    match sock.peer_addr() {
        Ok(_) => Connect::Done,
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Connect::Pending,
        Err(e) => Connect::Failed(ErrorClass::from_io(&e, true)),
    }
}

fn open(poll: &Poll, target: SocketAddr, idx: usize) -> Result<TcpStream, ErrorClass> {
    let mut s = TcpStream::connect(target).map_err(|e| ErrorClass::from_io(&e, true))?;
    poll.registry()
        .register(&mut s, Token(idx), Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| ErrorClass::from_io(&e, true))?;
    Ok(s)
}

fn poll_once(poll: &mut Poll, events: &mut Events, timeout: Duration) -> io::Result<()> {
    match poll.poll(events, Some(timeout)) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        _ => Ok(()),
    }
}

/// Reads until WouldBlock; `Ok(true)` on end of stream.
fn drain(sock: &mut TcpStream, scratch: &mut [u8], counted: &mut u64) -> io::Result<bool> {
    loop {
        match sock.read(scratch) {
            Ok(0) => return Ok(true),
            Ok(n) => *counted += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes `buf` repeatedly until WouldBlock.
fn flood(sock: &mut TcpStream, buf: &[u8], counted: &mut u64) -> io::Result<()> {
    loop {
        match sock.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *counted += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[derive(Debug)]
enum BulkPhase {
    Connecting(TcpStream, Instant),
    Streaming(TcpStream),
    Dead,
}

fn bulk_thread(
    cfg: &TcpLoad,
    n: usize,
    stop: &AtomicBool,
    live: &Live,
    start: Instant,
) -> io::Result<ThreadStats> {
    let mut poll = Poll::new()?;
    let mut stats = ThreadStats::new(false);
    let mut scratch = vec![0u8; SCRATCH];
    let zeros = vec![0u8; SCRATCH];
    let end = start + cfg.duration;
    let mut streams: Vec<BulkPhase> = Vec::with_capacity(n);
    for idx in 0..n {
        match open(&poll, cfg.target, idx) {
            Ok(s) => streams.push(BulkPhase::Connecting(
                s,
                Instant::now() + cfg.connect_timeout,
            )),
            Err(class) => {
                stats.errors.add(class);
                live.add_done(false);
                streams.push(BulkPhase::Dead);
            }
        }
    }
    let mut events = Events::with_capacity(256);
    let mut last_live = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end || streams.iter().all(|s| matches!(s, BulkPhase::Dead)) {
            break;
        }
        poll_once(&mut poll, &mut events, TICK.min(end - now))?;
        for ev in events.iter() {
            let idx = ev.token().0;
            let Some(slot) = streams.get_mut(idx) else {
                continue;
            };
            let phase = std::mem::replace(slot, BulkPhase::Dead);
            *slot = match phase {
                BulkPhase::Connecting(mut s, deadline) => match check_connect(&s) {
                    Connect::Pending => BulkPhase::Connecting(s, deadline),
                    Connect::Failed(class) => {
                        stats.errors.add(class);
                        live.add_done(false);
                        BulkPhase::Dead
                    }
                    Connect::Done => {
                        let _ = s.set_nodelay(true);
                        match s.write(&[cfg.direction.mode_byte()]) {
                            Ok(1) => {
                                bulk_pump(s, cfg.direction, &mut scratch, &zeros, &mut stats, live)
                            }
                            Ok(_) => BulkPhase::Dead,
                            Err(e) => {
                                stats.errors.add(ErrorClass::from_io(&e, false));
                                BulkPhase::Dead
                            }
                        }
                    }
                },
                BulkPhase::Streaming(s) => {
                    bulk_pump(s, cfg.direction, &mut scratch, &zeros, &mut stats, live)
                }
                BulkPhase::Dead => BulkPhase::Dead,
            };
        }
        let now = Instant::now();
        for slot in streams.iter_mut() {
            if matches!(slot, BulkPhase::Connecting(_, d) if *d <= now) {
                *slot = BulkPhase::Dead;
                stats.errors.add(ErrorClass::ConnectTimeout);
                live.add_done(false);
            }
        }
        let cur = (stats.bytes_read, stats.bytes_written);
        live.bytes.fetch_add(
            (cur.0 - last_live.0) + (cur.1 - last_live.1),
            Ordering::Relaxed,
        );
        last_live = cur;
    }
    // Streams still alive at the end ran the whole duration.
    for s in &streams {
        if matches!(s, BulkPhase::Streaming(_)) {
            stats.ok += 1;
            live.add_done(true);
        }
    }
    Ok(stats)
}

fn bulk_pump(
    mut s: TcpStream,
    dir: Direction,
    scratch: &mut [u8],
    zeros: &[u8],
    stats: &mut ThreadStats,
    live: &Live,
) -> BulkPhase {
    let mut result = Ok(false);
    if dir != Direction::Down {
        result = flood(&mut s, zeros, &mut stats.bytes_written).map(|()| false);
    }
    if result.is_ok() {
        result = drain(&mut s, scratch, &mut stats.bytes_read);
    }
    match result {
        Ok(false) => BulkPhase::Streaming(s),
        Ok(true) => {
            stats.errors.add(ErrorClass::Closed);
            live.add_done(false);
            BulkPhase::Dead
        }
        Err(e) => {
            stats.errors.add(ErrorClass::from_io(&e, false));
            live.add_done(false);
            BulkPhase::Dead
        }
    }
}

/// One connect-exchange-close cycle of `connrate`.
#[derive(Debug)]
enum RatePhase {
    Idle,
    Connecting {
        sock: TcpStream,
        started: Instant,
        deadline: Instant,
    },
    Exchanging {
        sock: TcpStream,
        started: Instant,
        deadline: Instant,
        written: usize,
        echoed: usize,
    },
}

fn connrate_thread(
    cfg: &TcpLoad,
    n: usize,
    tickets: &Tickets,
    stop: &AtomicBool,
    live: &Live,
    start: Instant,
) -> io::Result<ThreadStats> {
    let mut poll = Poll::new()?;
    let mut stats = ThreadStats::new(false);
    let mut scratch = vec![0u8; SCRATCH];
    // `E` selects echo on the backend; the rest comes back.
    let mut msg = vec![b'p'; cfg.payload.max(2)];
    if let Some(first) = msg.first_mut() {
        *first = b'E';
    }
    let expect = msg.len() - 1;
    let end = start + cfg.duration;
    let mut slots: Vec<RatePhase> = (0..n).map(|_| RatePhase::Idle).collect();
    let mut events = Events::with_capacity(1024);
    let mut last_scan = start;
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || now >= end {
            break;
        }
        // Start cycles on idle slots.
        for idx in 0..slots.len() {
            if !matches!(slots.get(idx), Some(RatePhase::Idle)) || !tickets.claim() {
                continue;
            }
            let now = Instant::now();
            let next = match open(&poll, cfg.target, idx) {
                Ok(sock) => RatePhase::Connecting {
                    sock,
                    started: now,
                    deadline: now + cfg.connect_timeout,
                },
                Err(class) => {
                    stats.errors.add(class);
                    live.add_done(false);
                    RatePhase::Idle
                }
            };
            if let Some(slot) = slots.get_mut(idx) {
                *slot = next;
            }
        }
        if tickets.exhausted() && slots.iter().all(|s| matches!(s, RatePhase::Idle)) {
            break;
        }
        poll_once(&mut poll, &mut events, TICK.min(end - now))?;
        for ev in events.iter() {
            let Some(slot) = slots.get_mut(ev.token().0) else {
                continue;
            };
            let phase = std::mem::replace(slot, RatePhase::Idle);
            *slot = rate_step(
                phase,
                &msg,
                expect,
                cfg.timeout,
                &mut scratch,
                &mut stats,
                live,
            );
        }
        let now = Instant::now();
        if now - last_scan >= TICK {
            last_scan = now;
            for slot in slots.iter_mut() {
                let class = match slot {
                    RatePhase::Connecting { deadline, .. } if *deadline <= now => {
                        ErrorClass::ConnectTimeout
                    }
                    RatePhase::Exchanging { deadline, .. } if *deadline <= now => {
                        ErrorClass::ReadTimeout
                    }
                    _ => continue,
                };
                *slot = RatePhase::Idle;
                stats.errors.add(class);
                live.add_done(false);
            }
        }
    }
    Ok(stats)
}

fn rate_step(
    phase: RatePhase,
    msg: &[u8],
    expect: usize,
    timeout: Duration,
    scratch: &mut [u8],
    stats: &mut ThreadStats,
    live: &Live,
) -> RatePhase {
    let fail = |stats: &mut ThreadStats, class| {
        stats.errors.add(class);
        live.add_done(false);
        RatePhase::Idle
    };
    let (mut sock, started, deadline, mut written, mut echoed) = match phase {
        RatePhase::Idle => return RatePhase::Idle,
        RatePhase::Connecting {
            sock,
            started,
            deadline,
        } => match check_connect(&sock) {
            Connect::Pending => {
                return RatePhase::Connecting {
                    sock,
                    started,
                    deadline,
                };
            }
            Connect::Failed(class) => return fail(stats, class),
            Connect::Done => {
                let _ = sock.set_nodelay(true);
                (sock, started, Instant::now() + timeout, 0, 0)
            }
        },
        RatePhase::Exchanging {
            sock,
            started,
            deadline,
            written,
            echoed,
        } => (sock, started, deadline, written, echoed),
    };
    while written < msg.len() {
        match sock.write(msg.get(written..).unwrap_or(&[])) {
            Ok(0) => return fail(stats, ErrorClass::Closed),
            Ok(n) => {
                written += n;
                stats.bytes_written += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return fail(stats, ErrorClass::from_io(&e, false)),
        }
    }
    loop {
        match sock.read(scratch) {
            Ok(0) => return fail(stats, ErrorClass::Closed),
            Ok(n) => {
                echoed += n;
                stats.bytes_read += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return fail(stats, ErrorClass::from_io(&e, false)),
        }
    }
    if echoed >= expect {
        stats.record_latency(started.elapsed());
        stats.ok += 1;
        live.add_done(true);
        return RatePhase::Idle; // dropping the socket closes it
    }
    RatePhase::Exchanging {
        sock,
        started,
        deadline,
        written,
        echoed,
    }
}

#[derive(Debug)]
enum HoldPhase {
    Waiting,
    Connecting {
        sock: TcpStream,
        started: Instant,
        deadline: Instant,
    },
    Ping {
        sock: TcpStream,
        started: Instant,
        deadline: Instant,
    },
    Held(TcpStream),
    Lost,
}

fn hold_thread(
    cfg: &TcpLoad,
    n: usize,
    stop: &AtomicBool,
    live: &Live,
    start: Instant,
) -> io::Result<ThreadStats> {
    let mut poll = Poll::new()?;
    let mut stats = ThreadStats::new(false);
    let mut scratch = vec![0u8; 1024];
    let end = start + cfg.duration;
    let mut conns: Vec<HoldPhase> = (0..n).map(|_| HoldPhase::Waiting).collect();
    let mut next_waiting = 0usize;
    let mut opening = 0usize;
    let mut events = Events::with_capacity(1024);
    let fail = |stats: &mut ThreadStats, class| {
        stats.errors.add(class);
        live.add_done(false);
        HoldPhase::Lost
    };
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        while opening < HOLD_OPENING && next_waiting < conns.len() {
            let idx = next_waiting;
            next_waiting += 1;
            let now = Instant::now();
            let next = match open(&poll, cfg.target, idx) {
                Ok(sock) => {
                    opening += 1;
                    HoldPhase::Connecting {
                        sock,
                        started: now,
                        deadline: now + cfg.connect_timeout,
                    }
                }
                Err(class) => fail(&mut stats, class),
            };
            if let Some(slot) = conns.get_mut(idx) {
                *slot = next;
            }
        }
        poll_once(
            &mut poll,
            &mut events,
            Duration::from_millis(50).min(end - now),
        )?;
        for ev in events.iter() {
            let Some(slot) = conns.get_mut(ev.token().0) else {
                continue;
            };
            let phase = std::mem::replace(slot, HoldPhase::Lost);
            *slot = match phase {
                HoldPhase::Connecting {
                    mut sock,
                    started,
                    deadline,
                } => match check_connect(&sock) {
                    Connect::Pending => HoldPhase::Connecting {
                        sock,
                        started,
                        deadline,
                    },
                    Connect::Failed(class) => {
                        opening -= 1;
                        fail(&mut stats, class)
                    }
                    // "Ex": echo mode, one byte that must come back through the proxy.
                    Connect::Done => match sock.write(b"Ex") {
                        Ok(2) => HoldPhase::Ping {
                            sock,
                            started,
                            deadline: Instant::now() + cfg.timeout,
                        },
                        Ok(_) => {
                            opening -= 1;
                            fail(&mut stats, ErrorClass::Other)
                        }
                        Err(e) => {
                            opening -= 1;
                            fail(&mut stats, ErrorClass::from_io(&e, false))
                        }
                    },
                },
                HoldPhase::Ping {
                    mut sock,
                    started,
                    deadline,
                } => match sock.read(&mut scratch) {
                    Ok(0) => {
                        opening -= 1;
                        fail(&mut stats, ErrorClass::Closed)
                    }
                    Ok(_) => {
                        opening -= 1;
                        stats.record_latency(started.elapsed());
                        stats.ok += 1;
                        live.add_done(true);
                        live.held.fetch_add(1, Ordering::Relaxed);
                        HoldPhase::Held(sock)
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => HoldPhase::Ping {
                        sock,
                        started,
                        deadline,
                    },
                    Err(e) => {
                        opening -= 1;
                        fail(&mut stats, ErrorClass::from_io(&e, false))
                    }
                },
                HoldPhase::Held(mut sock) => match sock.read(&mut scratch) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => HoldPhase::Held(sock),
                    Ok(n) if n > 0 => HoldPhase::Held(sock),
                    other => {
                        // The proxy or backend dropped an idle connection.
                        live.held.fetch_sub(1, Ordering::Relaxed);
                        let class = match other {
                            Err(e) => ErrorClass::from_io(&e, false),
                            Ok(_) => ErrorClass::Closed,
                        };
                        stats.errors.add(class);
                        live.errors.fetch_add(1, Ordering::Relaxed);
                        HoldPhase::Lost
                    }
                },
                p @ (HoldPhase::Waiting | HoldPhase::Lost) => p,
            };
        }
        let now = Instant::now();
        for slot in conns.iter_mut() {
            let class = match slot {
                HoldPhase::Connecting { deadline, .. } if *deadline <= now => {
                    ErrorClass::ConnectTimeout
                }
                HoldPhase::Ping { deadline, .. } if *deadline <= now => ErrorClass::ReadTimeout,
                _ => continue,
            };
            opening -= 1;
            *slot = fail(&mut stats, class);
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bytes_match_backend() {
        assert_eq!(Direction::Up.mode_byte(), b'U');
        assert_eq!(Direction::Down.mode_byte(), b'D');
        assert_eq!(Direction::Both.mode_byte(), b'B');
    }

    use crate::backend::{Backend, BackendKind, TcpMode};
    use std::sync::Arc;

    fn backend() -> io::Result<Backend> {
        Backend::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            2,
            BackendKind::Tcp(TcpMode::Auto),
            Arc::new(AtomicBool::new(false)),
        )
    }

    fn cfg(target: SocketAddr, conns: usize) -> TcpLoad {
        TcpLoad {
            target,
            threads: 2,
            connections: conns,
            duration: Duration::from_millis(300),
            requests: None,
            direction: Direction::Both,
            payload: 64,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn bulk_moves_bytes_each_direction() -> io::Result<()> {
        let b = backend()?;
        for dir in [Direction::Up, Direction::Down, Direction::Both] {
            let mut c = cfg(b.addr, 2);
            c.direction = dir;
            let (s, _) = run(TcpKind::Bulk, &c, &AtomicBool::new(false), &Live::default())?;
            assert_eq!((s.ok, s.errors.total()), (2, 0), "{dir:?}");
            if dir != Direction::Down {
                assert!(
                    s.bytes_written > 1_000_000,
                    "{dir:?} wrote {}",
                    s.bytes_written
                );
            }
            if dir != Direction::Up {
                assert!(s.bytes_read > 1_000_000, "{dir:?} read {}", s.bytes_read);
            }
        }
        Ok(())
    }

    #[test]
    fn connrate_exact_count() -> io::Result<()> {
        let b = backend()?;
        let mut c = cfg(b.addr, 8);
        c.requests = Some(300);
        c.duration = Duration::from_secs(5);
        let (s, _) = run(
            TcpKind::ConnRate,
            &c,
            &AtomicBool::new(false),
            &Live::default(),
        )?;
        assert_eq!((s.ok, s.errors.total()), (300, 0));
        assert_eq!(s.bytes_read, 300 * 63);
        Ok(())
    }

    #[test]
    fn connrate_refused() -> io::Result<()> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut c = cfg(port, 2);
        c.requests = Some(10);
        let (s, _) = run(
            TcpKind::ConnRate,
            &c,
            &AtomicBool::new(false),
            &Live::default(),
        )?;
        assert_eq!(s.errors.connect_refused, 10);
        Ok(())
    }

    #[test]
    fn hold_keeps_connections() -> io::Result<()> {
        let b = backend()?;
        let live = Live::default();
        let (s, _) = run(
            TcpKind::Hold,
            &cfg(b.addr, 300),
            &AtomicBool::new(false),
            &live,
        )?;
        assert_eq!((s.ok, s.errors.total()), (300, 0));
        assert_eq!(live.held.load(Ordering::Relaxed), 300);
        Ok(())
    }
}
