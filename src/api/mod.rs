//! The runtime API (HAProxy's "stats socket" CLI): `stats socket` listeners served by one
//! thread of their own, started after the reactors. Each accepted connection gets a short-lived
//! thread (at most `stats maxconn` at once) that reads command lines and answers them, in
//! HAProxy's one-line-per-connection or interactive `prompt` mode.
//!
//! Commands change the servers through [`SharedState`] atomics, so every reactor sees a change
//! at its next pick; state changes go through `check::transition` on the reactor owning the
//! server's probes (a [`HealthNote::Runtime`](crate::server::notes::HealthNote::Runtime)), so health counters, queues and HAProxy's log
//! lines follow. Questions about streams (`show sess`, `shutdown session`) go to every reactor as
//! a [`Command::Api`] with a reply channel, answered within one loop turn.

mod cmd;
pub mod errors;
mod help;
pub mod state;
mod tls;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::model::{BackendId, CliAddr, CliLevel, ServerId};
use crate::reactor::{Command, Query};
use crate::server::SharedState;

/// One `show sess` line (HAProxy's first fields: id, proto, src, fe, be, srv, ts, age).
pub(crate) fn session_line(shared: &SharedState, s: &crate::reactor::StreamInfo, out: &mut String) {
    use std::fmt::Write as _;
    let model = &shared.model;
    let fe = model.frontend(s.frontend).map_or("?", |f| f.name.as_str());
    let conf = s.held.and_then(|(b, sv)| shared.server_conf(b, sv));
    let (be, srv) = match s.held {
        Some((b, _)) => (
            model.backend(b).map_or("<NONE>", |b| b.name.as_str()),
            conf.as_ref().map_or("<none>", |s| s.name.as_str()),
        ),
        None => ("<NONE>", "<none>"),
    };
    let (proto, src) = match s.peer {
        Some(a @ std::net::SocketAddr::V4(_)) => ("tcpv4", a.to_string()),
        Some(a) => ("tcpv6", a.to_string()),
        None => ("unix_stream", "unix".to_string()),
    };
    let _ = write!(
        out,
        "0x{:x}: proto={proto} src={src} fe={fe} be={be} srv={srv} ts=00 age=",
        s.id
    );
    human_time(s.age.as_secs(), out);
    let _ = writeln!(out, " thr={}", s.reactor);
}

/// HAProxy's `human_time()`: `5s`, `3m12s`, `2h5m`, `1d3h`.
fn human_time(secs: u64, out: &mut String) {
    use std::fmt::Write as _;
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let _ = if d > 0 {
        write!(out, "{d}d{h}h")
    } else if h > 0 {
        write!(out, "{h}h{m}m")
    } else if m > 0 {
        write!(out, "{m}m{s}s")
    } else {
        write!(out, "{s}s")
    };
}

/// What the command handlers use besides the shared state.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<SharedState>,
    /// The `set ssl cert` transaction waiting for its `commit` (API thread only).
    pub(crate) cert_txn: std::sync::Mutex<Option<(String, crate::tls::LoadedCert)>>,
    commands: Vec<Sender<Command>>,
    wakers: Arc<[Waker]>,
    /// The global `maxconn` at start (HAProxy's `hardmaxconn`).
    hard_maxconn: u32,
    pub(crate) started: std::time::SystemTime,
    /// Dups of the listening sockets, for `_getsocks` (`expose-fd listeners`).
    exposed: Arc<crate::reload::getsocks::ExposedListeners>,
}

impl Ctx {
    /// Sends every reactor `q` (built per reactor) and wakes it.
    fn ask_all(&self, mut q: impl FnMut() -> Query) {
        for (tx, w) in self.commands.iter().zip(self.wakers.iter()) {
            let _ = tx.send(Command::Api(q()));
            let _ = w.wake();
        }
    }

    /// Sends a runtime change to the reactor owning the server's probes.
    fn send_runtime(&self, be: BackendId, srv: ServerId, op: crate::server::notes::RuntimeOp) {
        self.shared.send_runtime(be, srv, op);
    }

    fn reactors(&self) -> usize {
        self.commands.len()
    }
}

/// The running API thread; stopped (and its socket files removed) on drop.
pub(crate) struct Api {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish()
    }
}

impl Api {
    /// Stops accepting, removes the socket files and waits for the thread.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, SeqCst);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bound CLI socket.
enum Listener {
    /// The socket, its path, and the path's (device, inode) right after binding: the file is
    /// removed on exit only while it is still ours — after a reload the next process has
    /// bound a new socket at the same path.
    Unix(mio::net::UnixListener, PathBuf, (u64, u64)),
    Tcp(mio::net::TcpListener),
}

/// A CLI connection, blocking with `stats timeout`.
enum Stream {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const WAKE: Token = Token(usize::MAX - 1);

/// Binds every `stats socket` (removing a stale unix socket file first, applying `mode`,
/// `uid`, `gid`) and starts the API thread; `None` when none is configured.
pub(crate) fn start(
    shared: Arc<SharedState>,
    commands: Vec<Sender<Command>>,
    wakers: Arc<[Waker]>,
    exposed: Arc<crate::reload::getsocks::ExposedListeners>,
) -> Result<Option<Api>, String> {
    let conf = shared.model.global.stats.clone();
    if conf.sockets.is_empty() {
        return Ok(None);
    }
    let poll = Poll::new().map_err(|e| format!("cannot start the runtime API: {e}"))?;
    let mut listeners = Vec::new();
    for (i, s) in conf.sockets.iter().enumerate() {
        // HAProxy's `Binding [file:line] for frontend GLOBAL: cannot bind ...` alert.
        let (kind, shown) = match &s.addr {
            CliAddr::Unix(p) => ("UNIX socket", p.display().to_string()),
            CliAddr::Inet(a) => ("socket", a.to_string()),
        };
        let fail = |e: io::Error| {
            let reason = match e.raw_os_error() {
                Some(libc::ENOENT) => "No such file or directory".to_string(),
                Some(libc::EADDRINUSE) => "Address already in use".to_string(),
                Some(libc::EACCES) => "Permission denied".to_string(),
                _ => e.to_string(),
            };
            format!(
                "Binding [{}:{}] for frontend GLOBAL: cannot bind {kind} ({reason}) [{shown}]",
                s.origin.file, s.origin.line
            )
        };
        match bind_one(s, &poll, i) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                remove_files(listeners);
                return Err(fail(e));
            }
        }
    }
    let waker = Arc::new(
        Waker::new(poll.registry(), WAKE)
            .map_err(|e| format!("cannot start the runtime API: {e}"))?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(Ctx {
        cert_txn: std::sync::Mutex::new(None),
        hard_maxconn: shared.global.limit(),
        shared,
        commands,
        wakers,
        started: std::time::SystemTime::now(),
        exposed,
    });
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("ravelin-api".into())
            .spawn(move || accept_loop(poll, listeners, ctx, stop))
            .map_err(|e| format!("cannot start the runtime API: {e}"))?
    };
    Ok(Some(Api {
        stop,
        waker,
        thread: Some(thread),
    }))
}

/// Opens one CLI socket and registers it with the API's poller.
fn bind_one(s: &crate::model::StatsSocket, poll: &Poll, i: usize) -> io::Result<Listener> {
    {
        let mut l = match &s.addr {
            CliAddr::Unix(path) => {
                let l = crate::sys::socket::listen_unix(path, 10)?;
                if let Some(mode) = s.mode {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
                }
                if s.uid.is_some() || s.gid.is_some() {
                    std::os::unix::fs::chown(path, s.uid, s.gid)?;
                }
                let id = file_id(path).unwrap_or((0, 0));
                Listener::Unix(mio::net::UnixListener::from_std(l), path.clone(), id)
            }
            CliAddr::Inet(a) => {
                let l = crate::sys::socket::listen_inet(*a, false, 10, None)?;
                Listener::Tcp(mio::net::TcpListener::from_std(l))
            }
        };
        match &mut l {
            Listener::Unix(u, _, _) => poll.registry().register(u, Token(i), Interest::READABLE)?,
            Listener::Tcp(t) => poll.registry().register(t, Token(i), Interest::READABLE)?,
        }
        Ok(l)
    }
}

fn accept_loop(mut poll: Poll, listeners: Vec<Listener>, ctx: Arc<Ctx>, stop: Arc<AtomicBool>) {
    let conf = ctx.shared.model.global.stats.clone();
    let active = Arc::new(AtomicU32::new(0));
    let mut events = Events::with_capacity(16);
    // Listeners that still had connections waiting when `stats maxconn` was reached.
    let mut pending = vec![false; listeners.len()];
    while !stop.load(SeqCst) {
        let full = active.load(SeqCst) >= conf.maxconn;
        let timeout = (full && pending.iter().any(|p| *p)).then_some(Duration::from_millis(50));
        if poll.poll(&mut events, timeout).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        for ev in events.iter() {
            if let Some(p) = pending.get_mut(ev.token().0) {
                *p = true;
            }
        }
        for (i, l) in listeners.iter().enumerate() {
            let Some(p) = pending.get_mut(i) else {
                continue;
            };
            // Bounded: one accept per free connection slot, until WouldBlock.
            while *p && active.load(SeqCst) < conf.maxconn {
                let accepted = match l {
                    Listener::Unix(u, _, _) => u.accept().and_then(|(s, _)| {
                        let s: std::os::unix::net::UnixStream =
                            std::os::fd::OwnedFd::from(s).into();
                        s.set_nonblocking(false)?;
                        s.set_read_timeout(Some(conf.timeout))?;
                        s.set_write_timeout(Some(conf.timeout))?;
                        Ok((Stream::Unix(s), true))
                    }),
                    Listener::Tcp(t) => t.accept().and_then(|(s, _)| {
                        let s: std::net::TcpStream = std::os::fd::OwnedFd::from(s).into();
                        s.set_nonblocking(false)?;
                        s.set_read_timeout(Some(conf.timeout))?;
                        s.set_write_timeout(Some(conf.timeout))?;
                        Ok((Stream::Tcp(s), false))
                    }),
                };
                match accepted {
                    Ok((stream, _unix)) => {
                        let sock = conf.sockets.get(i);
                        let level = sock.map_or(CliLevel::Operator, |s| s.level);
                        let expose_fd = sock.is_some_and(|s| s.expose_fd);
                        let (ctx, mine) = (ctx.clone(), active.clone());
                        active.fetch_add(1, SeqCst);
                        let spawned = std::thread::Builder::new()
                            .name("ravelin-cli".into())
                            .spawn(move || {
                                serve(stream, &ctx, level, expose_fd);
                                mine.fetch_sub(1, SeqCst);
                            });
                        if spawned.is_err() {
                            // The closure (and its count) was dropped with the error.
                            active.fetch_sub(1, SeqCst);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => *p = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        *p = false;
                        break;
                    }
                }
            }
        }
    }
    remove_files(listeners);
}

/// Removes the unix socket files of `listeners` (on exit, or when another failed to bind).
fn remove_files(listeners: Vec<Listener>) {
    for l in listeners {
        if let Listener::Unix(_, path, id) = l {
            if file_id(&path) == Some(id) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// (device, inode) of the file at `path`.
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A line longer than this closes the connection (HAProxy: a full buffer).
const MAX_LINE: usize = 64 * 1024;

/// One CLI connection: lines of `;`-separated commands; without `prompt`, the connection ends
/// after the lines received with the first one.
fn serve(mut stream: Stream, ctx: &Ctx, level: CliLevel, expose_fd: bool) {
    let mut sess = cmd::Session {
        level,
        prompt: false,
        expose_fd,
        payload: None,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut out = String::new();
    let mut reply = String::new();
    let mut eof = false;
    loop {
        while let Some(pos) = buf
            .iter()
            .position(|b| *b == b'\n')
            .or(eof.then_some(buf.len()).filter(|n| *n > 0))
        {
            let line: Vec<u8> = buf.drain(..pos.min(buf.len())).collect();
            if buf.first() == Some(&b'\n') {
                buf.remove(0);
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            let mut text = text.strip_suffix('\r').unwrap_or(&text).to_string();
            // HAProxy's payload syntax: a command ending with `<<` takes the lines that follow,
            // up to an empty line, as its payload.
            if let Some(cmd_part) = text.trim_end().strip_suffix("<<") {
                let end = buf.windows(2).position(|w| w == b"\n\n");
                match end {
                    Some(e) => {
                        let body: Vec<u8> = buf.drain(..e + 2).collect();
                        sess.payload = Some(String::from_utf8_lossy(&body).into_owned());
                        text = cmd_part.trim_end().to_string();
                    }
                    None if !eof => {
                        // Wait for the rest: put the line back.
                        let mut back = line.clone();
                        back.push(b'\n');
                        back.extend_from_slice(&buf);
                        buf = back;
                        break;
                    }
                    None => {
                        sess.payload = Some(String::from_utf8_lossy(&buf).into_owned());
                        buf.clear();
                        text = cmd_part.trim_end().to_string();
                    }
                }
            }
            let text = text.as_str();
            reply.clear();
            let mut flow = cmd::Flow::Continue;
            for command in split_commands(text) {
                out.clear();
                let words = tokenize(&command);
                let args: Vec<&str> = words.iter().map(String::as_str).collect();
                flow = cmd::execute(ctx, &mut sess, &args, &mut out);
                match flow {
                    cmd::Flow::Continue => {
                        reply.push_str(&out);
                        reply.push('\n');
                        if sess.prompt {
                            reply.push_str("> ");
                        }
                    }
                    cmd::Flow::Quit | cmd::Flow::GetSocks => break,
                }
            }
            if !reply.is_empty() && stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
            match flow {
                cmd::Flow::Quit => return,
                cmd::Flow::GetSocks => {
                    // File descriptors travel only over a unix socket.
                    if let Stream::Unix(s) = &stream {
                        getsocks(s, &ctx.exposed);
                    }
                    return;
                }
                cmd::Flow::Continue => {}
            }
            if !sess.prompt && !buf.contains(&b'\n') {
                return;
            }
        }
        if eof {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(n) => {
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if buf.len() > MAX_LINE {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // `stats timeout` or a reset.
            Err(_) => return,
        }
    }
}

/// `_getsocks` on a socket with `expose-fd listeners`: sends every listening socket over
/// `sock` (SCM_RIGHTS, HAProxy's protocol, `reload::getsocks`). The connection closes after.
fn getsocks(
    sock: &std::os::unix::net::UnixStream,
    exposed: &crate::reload::getsocks::ExposedListeners,
) {
    if let Err(e) = exposed.serve(sock) {
        eprintln!(
            "[WARNING]  ({}) : _getsocks: cannot send the listening sockets: {e}",
            std::process::id()
        );
    }
}

/// Splits a line at unescaped `;` (HAProxy: `\;` keeps a literal semicolon).
fn split_commands(line: &str) -> Vec<String> {
    let mut cmds = vec![String::new()];
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                if let Some(s) = cmds.last_mut() {
                    s.push_str("\\;");
                }
                chars.next();
            }
            ';' => cmds.push(String::new()),
            c => {
                if let Some(s) = cmds.last_mut() {
                    s.push(c);
                }
            }
        }
    }
    cmds
}

/// Words separated by blanks; a backslash escapes the next character.
fn tokenize(cmd: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// When the runtime API waits for reactors' answers.
const REPLY_WAIT: Duration = Duration::from_secs(2);

/// Waits (bounded) until `f` holds, for changes a reactor applies.
fn wait_for(f: impl Fn() -> bool) {
    let until = Instant::now() + REPLY_WAIT;
    while !f() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_tokenize() {
        assert_eq!(
            split_commands("a;b c;;d\\;e"),
            vec!["a", "b c", "", "d\\;e"]
        );
        assert_eq!(
            tokenize("  set  server be/s1\\ x  "),
            vec!["set", "server", "be/s1 x"]
        );
        assert_eq!(tokenize(""), Vec::<String>::new());
    }

    #[test]
    fn human_times() {
        let t = |s| {
            let mut o = String::new();
            human_time(s, &mut o);
            o
        };
        assert_eq!(t(0), "0s");
        assert_eq!(t(75), "1m15s");
        assert_eq!(t(7300), "2h1m");
        assert_eq!(t(90000), "1d1h");
    }
}
