//! Getting lines out without ever making a reactor wait.
//!
//! Each reactor formats its lines into its own [`LogBuf`] (a reused `Vec<u8>`); at the end of
//! its loop turn (or when the buffer passes [`BATCH`] bytes) it hands the whole buffer to the
//! logger thread with a non-blocking `try_send` on a bounded channel and takes an empty one
//! back from a recycling channel — no allocation once warm. When the logger is behind (a slow
//! or dead target), the channel is full and the batch's lines are dropped and counted
//! ([`Counters::dropped`], HAProxy's `DroppedLogs`).
//!
//! The logger thread owns the targets: it adds each target's syslog header (priority, date,
//! tag, pid), cuts the line to the target's `len`, and writes it — UDP and unix datagrams
//! with one `send` per line, stdout/stderr with one write per batch.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::{Dest, Header, Target};
use crate::civil as time;

/// A batch is handed over once it holds this many bytes, even mid-turn.
pub(crate) const BATCH: usize = 32 * 1024;
/// A batch is handed over at the end of the first loop turn this long after its first line
/// (or sooner, once full): handing over every turn woke the logger thread, on the same core
/// as the reactor when pinned, tens of thousands of times a second (logging cost 17 % of
/// req/s in `http-keepalive-log`). Lines reach the sink at most this late.
pub(crate) const FLUSH_AFTER: Duration = Duration::from_millis(10);
/// Batches in flight per reactor before lines are dropped.
const QUEUE_PER_REACTOR: usize = 8;
/// How long one datagram send may block the logger thread.
const SEND_TIMEOUT: Duration = Duration::from_millis(50);

/// Lines emitted and dropped, process-wide, and the way in for event lines from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    pub emitted: AtomicU64,
    pub dropped: AtomicU64,
    /// Server state changes and alerts come from checks, agents and the runtime API, on
    /// any thread: one line per batch through the logger's channel (rare, so a lock).
    events: std::sync::Mutex<Option<Sender<Vec<u8>>>>,
}

impl Counters {
    /// Sends one event line to `src`'s targets (never blocks; dropped and counted if full).
    pub(crate) fn event(&self, src: Source, level: u8, msg: &str) {
        let Ok(guard) = self.events.lock() else {
            return;
        };
        let Some(tx) = guard.as_ref() else {
            return;
        };
        // A record's length is a u32: a longer line (4 GiB) is not one.
        let Ok(len) = u32::try_from(msg.len()) else {
            self.dropped.fetch_add(1, Relaxed);
            return;
        };
        let (kind, idx) = src.encode();
        let mut b = Vec::with_capacity(REC_HEAD + msg.len());
        b.push(kind);
        b.extend_from_slice(&idx.to_le_bytes());
        b.push(level);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(msg.as_bytes());
        match tx.try_send(b) {
            Ok(()) => self.emitted.fetch_add(1, Relaxed),
            Err(_) => self.dropped.fetch_add(1, Relaxed),
        };
    }

    /// No more event lines: lets the logger thread end once the reactors are gone.
    pub(crate) fn close(&self) {
        if let Ok(mut g) = self.events.lock() {
            g.take();
        }
    }
}

/// Which proxy's targets a line goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Frontend(u32),
    Backend(u32),
    Global,
}

impl Source {
    fn encode(self) -> (u8, u32) {
        match self {
            Source::Frontend(i) => (0, i),
            Source::Backend(i) => (1, i),
            Source::Global => (2, 0),
        }
    }

    fn decode(kind: u8, idx: u32) -> Source {
        match kind {
            0 => Source::Frontend(idx),
            1 => Source::Backend(idx),
            _ => Source::Global,
        }
    }
}

/// Bytes of a line's header inside a batch: kind, index, level, length.
const REC_HEAD: usize = 1 + 4 + 1 + 4;

/// A reactor's side: lines formatted here, handed over in batches.
#[derive(Debug)]
pub struct LogBuf {
    buf: Vec<u8>,
    lines: u64,
    /// When the oldest line of `buf` must be handed over (`None`: empty).
    due: Option<std::time::Instant>,
    tx: Option<Sender<Vec<u8>>>,
    back: Option<Receiver<Vec<u8>>>,
    counters: Arc<Counters>,
}

impl LogBuf {
    /// A buffer that never emits (no proxy logs).
    pub(crate) fn disabled(counters: Arc<Counters>) -> LogBuf {
        LogBuf {
            buf: Vec::new(),
            lines: 0,
            due: None,
            tx: None,
            back: None,
            counters,
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Appends one line: `body` writes the message (no newline).
    pub(crate) fn emit(&mut self, src: Source, level: u8, body: impl FnOnce(&mut Vec<u8>)) {
        if self.tx.is_none() {
            return;
        }
        let (kind, idx) = src.encode();
        let at = self.buf.len();
        self.buf.push(kind);
        self.buf.extend_from_slice(&idx.to_le_bytes());
        self.buf.push(level);
        self.buf.extend_from_slice(&[0; 4]);
        body(&mut self.buf);
        // A record's length is a u32: a longer line (4 GiB) is dropped.
        let Ok(len) = u32::try_from(self.buf.len() - at - REC_HEAD) else {
            self.buf.truncate(at);
            return;
        };
        if let Some(slot) = self.buf.get_mut(at + REC_HEAD - 4..at + REC_HEAD) {
            slot.copy_from_slice(&len.to_le_bytes());
        }
        self.lines += 1;
        if self.due.is_none() {
            self.due = Some(std::time::Instant::now() + FLUSH_AFTER);
        }
        if self.buf.len() >= BATCH {
            self.flush();
        }
    }

    /// When the lines waiting here must be handed over (for the reactor's poll timeout).
    pub(crate) fn due(&self) -> Option<std::time::Instant> {
        self.due
    }

    /// Hands the lines over if the oldest has waited [`FLUSH_AFTER`] (end of a loop turn).
    pub(crate) fn flush_if_due(&mut self, now: std::time::Instant) {
        if self.due.is_some_and(|d| d <= now) {
            self.flush();
        }
    }

    /// Hands the lines to the logger (end of a loop turn). Never blocks.
    pub(crate) fn flush(&mut self) {
        self.due = None;
        if self.lines == 0 {
            return;
        }
        let Some(tx) = &self.tx else {
            return;
        };
        let lines = std::mem::take(&mut self.lines);
        let fresh = self
            .back
            .as_ref()
            .and_then(|b| b.try_recv().ok())
            .unwrap_or_default();
        let batch = std::mem::replace(&mut self.buf, fresh);
        match tx.try_send(batch) {
            Ok(()) => {
                self.counters.emitted.fetch_add(lines, Relaxed);
            }
            Err(TrySendError::Full(mut b)) | Err(TrySendError::Disconnected(mut b)) => {
                self.counters.dropped.fetch_add(lines, Relaxed);
                b.clear();
                // Keep the larger allocation.
                if b.capacity() > self.buf.capacity() {
                    self.buf = b;
                }
            }
        }
    }
}

/// What the logger needs to write headers.
#[derive(Debug, Clone)]
struct Identity {
    tag: String,
    pid: u32,
    hostname: Option<String>,
}

/// Where lines go: the global settings and each proxy's, indexed as the model's tables (the
/// caller copies them out of the model; the logger sits below it).
#[derive(Clone, Debug, Default)]
pub struct Routes {
    pub(crate) global: super::GlobalLog,
    pub(crate) frontends: Vec<super::ProxyLog>,
    pub(crate) backends: Vec<super::ProxyLog>,
}

/// Starts the logger thread when some proxy logs (or `-d` is on) and returns one buffer per
/// reactor. The thread ends when every buffer is dropped.
pub fn start(
    routes: Routes,
    reactors: usize,
    debug: bool,
    counters: Arc<Counters>,
) -> (Vec<LogBuf>, Option<JoinHandle<()>>) {
    let any = routes.frontends.iter().any(|f| f.enabled())
        || routes.backends.iter().any(|b| b.enabled())
        || !routes.global.targets.is_empty();
    if !any && !debug {
        let bufs = (0..reactors)
            .map(|_| LogBuf::disabled(counters.clone()))
            .collect();
        return (bufs, None);
    }
    let depth = (reactors.max(1) * QUEUE_PER_REACTOR).max(4);
    let (tx, rx) = bounded::<Vec<u8>>(depth);
    let (back_tx, back_rx) = bounded::<Vec<u8>>(depth * 2);
    let bufs = (0..reactors)
        .map(|_| LogBuf {
            buf: Vec::with_capacity(BATCH + 2048),
            lines: 0,
            due: None,
            tx: Some(tx.clone()),
            back: Some(back_rx.clone()),
            counters: counters.clone(),
        })
        .collect();
    if let Ok(mut g) = counters.events.lock() {
        *g = Some(tx);
    }
    let id = Identity {
        tag: routes.global.tag.clone().unwrap_or_else(program_name),
        pid: std::process::id(),
        hostname: routes.global.send_hostname.as_ref().map(|h| {
            if h.is_empty() {
                system_hostname()
            } else {
                h.clone()
            }
        }),
    };
    let handle = std::thread::Builder::new()
        .name("ravelin-log".into())
        .spawn(move || {
            let mut w = Writer::new(routes, id, debug, counters);
            while let Ok(batch) = rx.recv() {
                w.write_batch(&batch);
                let mut b = batch;
                b.clear();
                let _ = back_tx.try_send(b);
            }
        })
        .ok();
    (bufs, handle)
}

/// The program name as launched (HAProxy's default tag).
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "ravelin".into())
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The logger thread's state: sockets opened on first use, a scratch line.
struct Writer {
    routes: Routes,
    id: Identity,
    debug: bool,
    counters: Arc<Counters>,
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
    line: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Writer {
    fn new(routes: Routes, id: Identity, debug: bool, counters: Arc<Counters>) -> Writer {
        Writer {
            routes,
            id,
            debug,
            counters,
            udp4: None,
            udp6: None,
            unix: None,
            line: Vec::with_capacity(2048),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    fn targets(&self, src: Source) -> (Arc<[Target]>, Option<Arc<str>>) {
        match src {
            Source::Frontend(i) => self
                .routes
                .frontends
                .get(i as usize)
                .map(|f| (f.targets.clone(), f.tag.clone()))
                .unwrap_or_default(),
            Source::Backend(i) => self
                .routes
                .backends
                .get(i as usize)
                .map(|b| (b.targets.clone(), b.tag.clone()))
                .unwrap_or_default(),
            Source::Global => (self.routes.global.targets.clone(), None),
        }
    }

    fn write_batch(&mut self, mut batch: &[u8]) {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        while batch.len() >= REC_HEAD {
            let kind = batch.first().copied().unwrap_or(2);
            let word = |r: std::ops::Range<usize>| {
                batch
                    .get(r)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map_or(0, u32::from_le_bytes)
            };
            let idx = word(1..5);
            let level = batch.get(5).copied().unwrap_or(6);
            let len = word(6..10) as usize;
            let Some(msg) = batch.get(REC_HEAD..REC_HEAD + len) else {
                break;
            };
            let src = Source::decode(kind, idx);
            let (targets, tag) = self.targets(src);
            if targets.is_empty() && self.debug {
                self.stderr.extend_from_slice(msg);
                self.stderr.push(b'\n');
            }
            for t in targets.iter() {
                if level > t.max_level {
                    continue;
                }
                self.send(t, level.max(t.min_level), tag.as_deref(), msg, now_us);
            }
            batch = batch.get(REC_HEAD + len..).unwrap_or(&[]);
        }
        if !self.stdout.is_empty() {
            if std::io::stdout().lock().write_all(&self.stdout).is_err() {
                self.counters.dropped.fetch_add(1, Relaxed);
            }
            let _ = std::io::stdout().flush();
            self.stdout.clear();
        }
        if !self.stderr.is_empty() {
            let _ = std::io::stderr().lock().write_all(&self.stderr);
            self.stderr.clear();
        }
    }

    fn send(&mut self, t: &Target, level: u8, tag: Option<&str>, msg: &[u8], now_us: u64) {
        self.line.clear();
        header(
            &mut self.line,
            t,
            level,
            tag.unwrap_or(&self.id.tag),
            self.id.pid,
            self.id.hostname.as_deref(),
            now_us,
        );
        let room = t.len.saturating_sub(self.line.len() + 1);
        self.line
            .extend_from_slice(msg.get(..room.min(msg.len())).unwrap_or(msg));
        self.line.push(b'\n');
        let ok = match &t.dest {
            Dest::Fd(1) => {
                self.stdout.extend_from_slice(&self.line);
                true
            }
            Dest::Fd(_) => {
                self.stderr.extend_from_slice(&self.line);
                true
            }
            Dest::Udp(addr) => {
                let line = std::mem::take(&mut self.line);
                let ok = self
                    .udp(*addr)
                    .is_some_and(|s| s.send_to(&line, addr).is_ok());
                self.line = line;
                ok
            }
            Dest::Unix(path) => {
                let line = std::mem::take(&mut self.line);
                let ok = self.unix().is_some_and(|s| s.send_to(&line, path).is_ok());
                self.line = line;
                ok
            }
        };
        if !ok {
            self.counters.dropped.fetch_add(1, Relaxed);
        }
    }

    fn udp(&mut self, to: SocketAddr) -> Option<&UdpSocket> {
        let slot = if to.is_ipv4() {
            &mut self.udp4
        } else {
            &mut self.udp6
        };
        if slot.is_none() {
            let local: SocketAddr = if to.is_ipv4() {
                (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            *slot = UdpSocket::bind(local).ok();
        }
        slot.as_ref()
    }

    fn unix(&mut self) -> Option<&UnixDatagram> {
        if self.unix.is_none() {
            self.unix = UnixDatagram::unbound().ok().inspect(|s| {
                let _ = s.set_write_timeout(Some(SEND_TIMEOUT));
            });
        }
        self.unix.as_ref()
    }
}

fn push_num(out: &mut Vec<u8>, n: u32) {
    let _ = write!(out, "{n}");
}

/// The syslog header of `t`'s format.
pub(crate) fn header(
    out: &mut Vec<u8>,
    t: &Target,
    level: u8,
    tag: &str,
    pid: u32,
    hostname: Option<&str>,
    now_us: u64,
) {
    let prio = u32::from(t.facility) * 8 + u32::from(level);
    let now_ms = now_us / 1000;
    match t.header {
        Header::Local | Header::Rfc3164 => {
            out.push(b'<');
            push_num(out, prio);
            out.push(b'>');
            time::syslog_date(now_ms, out);
            out.push(b' ');
            if t.header == Header::Rfc3164 {
                out.extend_from_slice(hostname.unwrap_or("localhost").as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(tag.as_bytes());
            out.push(b'[');
            push_num(out, pid);
            out.extend_from_slice(b"]: ");
        }
        Header::Rfc5424 => {
            out.push(b'<');
            push_num(out, prio);
            out.extend_from_slice(b">1 ");
            time::iso_date(now_us, out);
            out.push(b' ');
            out.extend_from_slice(hostname.unwrap_or("-").as_bytes());
            out.push(b' ');
            out.extend_from_slice(tag.as_bytes());
            out.push(b' ');
            push_num(out, pid);
            out.extend_from_slice(b" - - ");
        }
        Header::Priority => {
            out.push(b'<');
            push_num(out, prio);
            out.push(b'>');
        }
        Header::Short => {
            out.push(b'<');
            push_num(out, u32::from(level));
            out.push(b'>');
        }
        Header::Timed => {
            out.push(b'<');
            push_num(out, u32::from(level));
            out.push(b'>');
            time::iso_date(now_us, out);
            out.push(b' ');
        }
        Header::Iso => {
            time::iso_date(now_us, out);
            out.push(b' ');
        }
        Header::Raw => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(header: Header) -> Target {
        Target {
            dest: Dest::Fd(1),
            header,
            len: 1024,
            facility: 16,
            max_level: 7,
            min_level: 0,
        }
    }

    #[test]
    fn headers() {
        let us = 1_795_271_372_788_123;
        let mut v = Vec::new();
        header(&mut v, &target(Header::Raw), 6, "haproxy", 7, None, us);
        assert_eq!(v, b"");
        header(&mut v, &target(Header::Short), 6, "haproxy", 7, None, us);
        assert_eq!(v, b"<6>");
        v.clear();
        header(&mut v, &target(Header::Priority), 6, "haproxy", 7, None, us);
        assert_eq!(v, b"<134>");
        v.clear();
        header(&mut v, &target(Header::Local), 6, "mytag", 7224, None, us);
        let s = String::from_utf8_lossy(&v).into_owned();
        assert!(
            s.starts_with("<134>Nov 21 ") && s.ends_with(" mytag[7224]: "),
            "{s}"
        );
        v.clear();
        header(&mut v, &target(Header::Rfc5424), 6, "mytag", 7234, None, us);
        let s = String::from_utf8_lossy(&v).into_owned();
        assert!(
            s.starts_with("<134>1 2026-11-2") && s.ends_with(" - mytag 7234 - - "),
            "{s}"
        );
    }

    #[test]
    fn full_channel_drops_and_counts() {
        let counters = Arc::new(Counters::default());
        let (tx, rx) = bounded(1);
        let mut b = LogBuf {
            buf: Vec::new(),
            lines: 0,
            due: None,
            tx: Some(tx),
            back: None,
            counters: counters.clone(),
        };
        b.emit(Source::Frontend(0), 6, |o| o.extend_from_slice(b"one"));
        b.flush();
        b.emit(Source::Frontend(0), 6, |o| o.extend_from_slice(b"two"));
        b.emit(Source::Frontend(0), 6, |o| o.extend_from_slice(b"three"));
        b.flush();
        assert_eq!(counters.emitted.load(Relaxed), 1);
        assert_eq!(counters.dropped.load(Relaxed), 2);
        let got = rx.try_recv().unwrap_or_default();
        assert_eq!(got.len(), REC_HEAD + 3);
        assert_eq!(got.get(REC_HEAD..), Some(&b"one"[..]));
    }
}
