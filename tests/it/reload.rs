//! Seamless reload with the real binary: `-x` (listening sockets taken over `_getsocks`),
//! `-sf`/`-st`, the old process's soft stop under HTTP load, a bad configuration on reload.
//!
//! Until the runtime API serves `_getsocks` from Ravelin itself, the test process serves the
//! listening socket (`ravelin::reload::getsocks::serve`) on a unix socket of its own; every
//! generation of Ravelin takes that same socket with `-x`, so the port is never re-bound (a
//! second bind would fail: the socket has no `SO_REUSEPORT`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ravelin::reload::getsocks::{self, ExposedSock};

use crate::util::bin::{Running, TempDir, info_field, run};
use crate::util::http_backend::{HttpBackend, ok};
use crate::util::wait_until;

/// Serves `listener` to whoever connects to `path` and asks `_getsocks`, until dropped.
struct SockServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SockServer {
    fn start(path: &Path, listener: TcpListener) -> SockServer {
        let _ = std::fs::remove_file(path);
        let ux = UnixListener::bind(path).unwrap();
        ux.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            // Bounded: the test drops the server within a minute at most.
            let end = Instant::now() + Duration::from_secs(120);
            while !st.load(SeqCst) && Instant::now() < end {
                match ux.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let mut cmd = [0u8; 10];
                        if (&c).read_exact(&mut cmd).is_ok() && cmd == *getsocks::COMMAND {
                            let _ = getsocks::serve(&c, &[ExposedSock::new(listener.as_fd())]);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        SockServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SockServer {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn http_cfg(port: u16, server_port: u16) -> String {
    format!(
        "global\n    nbthread 2\n    hard-stop-after 10s\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    timeout http-keep-alive 10s\n\
frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{server_port}\n"
    )
}

/// What the load clients saw.
#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    failed: AtomicU64,
    /// A reused keep-alive connection closed by the server before any byte of the response to
    /// a request written on it: the server closed it while idle (soft stop) and never read
    /// the request, so the client retries on a new connection, as HTTP clients do (RFC 9112
    /// §9.3.1). Counted, not hidden.
    idle_retries: AtomicU64,
}

enum Outcome {
    Ok {
        close: bool,
    },
    /// Nothing came back on a connection that had already served a request.
    IdleClosed,
    Reset,
    Failed(String),
}

fn one_request(conn: &mut BufReader<TcpStream>, keep_alive: bool, reused: bool) -> Outcome {
    let req: &[u8] = if keep_alive {
        b"GET /r HTTP/1.1\r\nhost: t\r\n\r\n"
    } else {
        b"GET /r HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
    };
    let early = |e: std::io::Error| {
        if reused {
            Outcome::IdleClosed
        } else if e.kind() == std::io::ErrorKind::ConnectionReset {
            Outcome::Reset
        } else {
            Outcome::Failed(e.to_string())
        }
    };
    if let Err(e) = conn.get_mut().write_all(req) {
        return early(e);
    }
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match conn.read_line(&mut line) {
            Ok(0) if head.is_empty() => {
                return early(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "eof",
                ));
            }
            Ok(0) => return Outcome::Failed(format!("truncated head: {head:?}")),
            Ok(_) => {}
            Err(e) if head.is_empty() => return early(e),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Outcome::Reset,
            Err(e) => return Outcome::Failed(e.to_string()),
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let lower = head.to_ascii_lowercase();
    if !lower.starts_with("http/1.1 200") {
        return Outcome::Failed(format!("status: {head:?}"));
    }
    let len: usize = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if let Err(e) = conn.read_exact(&mut body) {
        return Outcome::Failed(format!("body: {e}"));
    }
    if body != b"hello" {
        return Outcome::Failed(format!("body {body:?}"));
    }
    Outcome::Ok {
        close: lower.contains("connection: close"),
    }
}

/// One client: `keep_alive` reuses its connection (reconnecting when the server says
/// `connection: close`), else one connection per request. Runs until `stop`, at most
/// `max` requests.
fn client(port: u16, keep_alive: bool, stop: Arc<AtomicBool>, counts: Arc<Counts>, max: u32) {
    let mut conn: Option<(BufReader<TcpStream>, bool)> = None;
    let mut errors = Vec::new();
    for _ in 0..max {
        if stop.load(SeqCst) {
            break;
        }
        // Before reusing a connection, look whether the server closed it while it was idle
        // (a FIN already there): such a connection is known-unused, so a new one is opened
        // without counting anything, as HTTP clients check their pooled connections.
        let pooled = conn.take().filter(|(c, _)| !closed_by_peer(c.get_ref()));
        let (mut c, reused) = match pooled {
            Some(c) => (c.0, true),
            None => match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    (BufReader::new(s), false)
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    counts.refused.fetch_add(1, SeqCst);
                    continue;
                }
                Err(e) => {
                    errors.push(format!("connect: {e}"));
                    counts.failed.fetch_add(1, SeqCst);
                    continue;
                }
            },
        };
        match one_request(&mut c, keep_alive, reused) {
            Outcome::Ok { close } => {
                counts.ok.fetch_add(1, SeqCst);
                if keep_alive && !close {
                    conn = Some((c, true));
                }
            }
            Outcome::IdleClosed => {
                counts.idle_retries.fetch_add(1, SeqCst);
            }
            Outcome::Reset => {
                counts.reset.fetch_add(1, SeqCst);
            }
            Outcome::Failed(e) => {
                errors.push(e);
                counts.failed.fetch_add(1, SeqCst);
            }
        }
        // A little pacing: a few hundred requests over the run, not a flood.
        std::thread::sleep(Duration::from_millis(4));
    }
    assert!(errors.is_empty(), "client errors: {errors:?}");
}

/// True when `s` has an end of stream (or an error) pending and no data.
fn closed_by_peer(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    s.set_nonblocking(true).unwrap();
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).unwrap();
    closed
}

fn pid_of(r: &Running) -> String {
    r.0.id().to_string()
}

/// Lets the load clients run: waits (bounded) until `n` more of their requests were answered.
fn let_load_run(counts: &Counts, n: u64) {
    let target = counts.ok.load(SeqCst) + n;
    assert!(
        wait_until(Duration::from_secs(20), || counts.ok.load(SeqCst) >= target),
        "the load made no progress: {} answered, waiting for {target}",
        counts.ok.load(SeqCst)
    );
}

#[test]
fn reload_with_x_and_sf_under_load_loses_nothing() {
    let be = HttpBackend::start(ok("a", "hello"));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let d = TempDir::new("reload");
    let sock = d.0.join("old.sock");
    let _srv = SockServer::start(&sock, l);
    let cfg = d.file("c.cfg", &http_cfg(port, be.port()));
    let (cfg_s, sock_s) = (cfg.to_str().unwrap(), sock.to_str().unwrap());

    let mut current = Running::spawn(&["-f", cfg_s, "-x", sock_s]);
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut r = BufReader::new(s);
            matches!(one_request(&mut r, false, false), Outcome::Ok { .. })
        })
    }));

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut clients = Vec::new();
    for keep_alive in [true, true, false, false] {
        let (s, c) = (stop.clone(), counts.clone());
        clients.push(std::thread::spawn(move || {
            client(port, keep_alive, s, c, 2000)
        }));
    }
    for _ in 0..5 {
        let_load_run(&counts, 100);
        let old_pid = pid_of(&current);
        let next = Running::spawn(&["-f", cfg_s, "-x", sock_s, "-sf", &old_pid]);
        let mut old = std::mem::replace(&mut current, next);
        assert_eq!(
            old.wait_exit(Duration::from_secs(8)),
            Some(0),
            "the old process finishes its streams and exits"
        );
        assert!(
            current.0.try_wait().unwrap().is_none(),
            "new process serving"
        );
    }
    let_load_run(&counts, 50);
    stop.store(true, SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let ok = counts.ok.load(SeqCst);
    let (refused, reset, failed) = (
        counts.refused.load(SeqCst),
        counts.reset.load(SeqCst),
        counts.failed.load(SeqCst),
    );
    eprintln!(
        "reload under load: {ok} ok, {refused} refused, {reset} reset, {failed} failed, {} idle keep-alive closes retried",
        counts.idle_retries.load(SeqCst)
    );
    assert!(ok >= 200, "{ok} requests served");
    assert_eq!((refused, reset, failed), (0, 0, 0));
    // The old process reads each idle connection once more before closing it; only a request
    // written in the microseconds between that read and the close is left to a client retry.
    assert!(counts.idle_retries.load(SeqCst) <= 5);
    current.signal(libc::SIGTERM);
    assert_eq!(current.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn bad_config_on_reload_leaves_the_old_process_serving() {
    let be = HttpBackend::start(ok("a", "hello"));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let d = TempDir::new("reload-bad");
    let sock = d.0.join("old.sock");
    let _srv = SockServer::start(&sock, l);
    let cfg = d.file("c.cfg", &http_cfg(port, be.port()));
    let bad = d.file(
        "bad.cfg",
        &http_cfg(port, be.port()).replace("default_backend be", "default_backend nope"),
    );
    let mut old = Running::spawn(&["-f", cfg.to_str().unwrap(), "-x", sock.to_str().unwrap()]);
    let served = || {
        TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut r = BufReader::new(s);
            matches!(one_request(&mut r, false, false), Outcome::Ok { .. })
        })
    };
    assert!(wait_until(Duration::from_secs(10), served));
    let out = run(&[
        "-f",
        bad.to_str().unwrap(),
        "-x",
        sock.to_str().unwrap(),
        "-sf",
        &pid_of(&old),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("[ALERT]") && err.contains("nope"), "{err}");
    // Checking that nothing happens: a stray signal would have this long to show.
    std::thread::sleep(Duration::from_millis(200));
    assert!(old.0.try_wait().unwrap().is_none(), "old process untouched");
    assert!(served(), "old process still serves");
    old.signal(libc::SIGTERM);
    assert_eq!(old.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn st_terminates_the_old_process_at_once() {
    let be = HttpBackend::start(ok("a", "hello"));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let d = TempDir::new("reload-st");
    let sock = d.0.join("old.sock");
    let _srv = SockServer::start(&sock, l);
    // The old process's runtime API, to see the held client arrive.
    let api = d.0.join("api.sock");
    let old_cfg = d.file(
        "old.cfg",
        &http_cfg(port, be.port()).replace(
            "    hard-stop-after 10s\n",
            &format!(
                "    hard-stop-after 10s\n    stats socket {}\n",
                api.display()
            ),
        ),
    );
    let cfg = d.file("c.cfg", &http_cfg(port, be.port()));
    let (cfg_s, sock_s) = (cfg.to_str().unwrap(), sock.to_str().unwrap());
    let mut old = Running::spawn(&["-f", old_cfg.to_str().unwrap(), "-x", sock_s]);
    assert!(wait_until(Duration::from_secs(10), || {
        info_field(&api, "CurrConns") == Some(0)
    }));
    // A client in the middle of a request head: a soft stop would wait for it, -st does not.
    let mut held = TcpStream::connect(("127.0.0.1", port)).unwrap();
    held.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || info_field(&api, "CurrConns")
            == Some(1)),
        "the old process holds the client"
    );
    let t0 = Instant::now();
    let mut new = Running::spawn(&["-f", cfg_s, "-x", sock_s, "-st", &pid_of(&old)]);
    assert_eq!(old.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(4));
    let mut c = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    c.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(matches!(
        one_request(&mut c, false, false),
        Outcome::Ok { .. }
    ));
    new.signal(libc::SIGTERM);
    assert_eq!(new.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn soft_stop_closes_idle_keep_alive_and_ends_the_response_in_flight() {
    let slow_seen = Arc::new(AtomicBool::new(false));
    let seen_slow = slow_seen.clone();
    let be = HttpBackend::start(Arc::new(move |seen: &crate::util::http_backend::Seen| {
        if seen.head.starts_with("GET /slow") {
            seen_slow.store(true, SeqCst);
            std::thread::sleep(Duration::from_millis(600));
        }
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec()
    }));
    let port = crate::util::free_port();
    let d = TempDir::new("softstop-http");
    let cfg = d.file("c.cfg", &http_cfg(port, be.port()));
    let mut p = Running::spawn(&["-f", cfg.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        BufReader::new(s)
    };
    // An idle keep-alive connection (one request served) and one with a slow request.
    let mut idle = connect();
    assert!(matches!(
        one_request(&mut idle, true, false),
        Outcome::Ok { close: false }
    ));
    let mut busy = connect();
    busy.get_mut()
        .write_all(b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    // The slow request is at the server: its response is in flight when the stop comes.
    assert!(wait_until(Duration::from_secs(5), || slow_seen.load(SeqCst)));
    p.signal(libc::SIGUSR1);
    // The idle one is closed at once, without a byte.
    let t0 = Instant::now();
    let mut b = [0u8; 16];
    assert_eq!(idle.read(&mut b).unwrap_or(0), 0);
    assert!(t0.elapsed() < Duration::from_secs(2));
    // The busy one gets its response, announced as the last one, then the close.
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(busy.read_line(&mut line).unwrap() > 0, "response head");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let mut rest = Vec::new();
    busy.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"hello");
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn idle_close_on_response_keeps_idle_connections_until_their_next_response() {
    let be = HttpBackend::start(Arc::new(|_: &crate::util::http_backend::Seen| {
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec()
    }));
    let port = crate::util::free_port();
    let d = TempDir::new("softstop-icr");
    let text = http_cfg(port, be.port()).replace(
        "frontend fe\n",
        "frontend fe\n    option idle-close-on-response\n",
    );
    let cfg = d.file("c.cfg", &text);
    let mut p = Running::spawn(&["-f", cfg.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let mut idle = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    idle.get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(matches!(
        one_request(&mut idle, true, false),
        Outcome::Ok { close: false }
    ));
    p.signal(libc::SIGUSR1);
    // Not closed: a read times out instead of seeing the end.
    let mut b = [0u8; 16];
    let r = idle.read(&mut b);
    assert!(
        r.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut),
        "the idle connection stays open during the soft stop: {r:?}"
    );
    // The request written on it is served, announced as the last one; then the process
    // has nothing left and exits.
    idle.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(matches!(
        one_request(&mut idle, true, false),
        Outcome::Ok { close: true }
    ));
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn x_with_an_unreachable_socket_is_haproxys_alert() {
    let d = TempDir::new("reload-nox");
    let cfg = d.file("c.cfg", &http_cfg(crate::util::free_port(), 9));
    let out = run(&[
        "-f",
        cfg.to_str().unwrap(),
        "-x",
        d.0.join("missing.sock").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Failed to connect to the old process socket")
            && err.contains("Failed to get the sockets from the old process!"),
        "{err}"
    );
}

/// The `haproxy` 2.6 binary, or `None`: the test is then skipped, or fails under `CI=true`
/// (`util::missing_tool`).
fn haproxy() -> Option<PathBuf> {
    let found = std::process::Command::new("haproxy")
        .arg("-v")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        crate::util::missing_tool(
            "haproxy",
            "apt-get install haproxy",
            "the _getsocks protocol was not checked against HAProxy",
        );
    }
    found.then(|| PathBuf::from("haproxy"))
}

#[test]
fn fetch_takes_the_sockets_of_a_real_haproxy() {
    let Some(hx) = haproxy() else { return };
    let d = TempDir::new("hx-getsocks");
    let sock = d.0.join("hx.sock");
    let (p1, p2) = (crate::util::free_port(), crate::util::free_port());
    let cfg = d.file(
        "hx.cfg",
        &format!(
            "global\n    stats socket {} level admin expose-fd listeners\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend a\n    bind 127.0.0.1:{p1}\n    default_backend be\n\
frontend b\n    bind 127.0.0.1:{p2}\n    default_backend be\n\
backend be\n    server s 127.0.0.1:9\n",
            sock.display()
        ),
    );
    let child = std::process::Command::new(hx)
        .args(["-db", "-f", cfg.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut hx = Running(child);
    assert!(wait_until(Duration::from_secs(10), || sock.exists()
        && std::os::unix::net::UnixStream::connect(&sock).is_ok()));
    let got = getsocks::fetch(&sock).unwrap();
    let addrs: Vec<getsocks::SockAddr> = got.iter().map(|s| s.addr.clone()).collect();
    for p in [p1, p2] {
        let want = getsocks::SockAddr::Inet(format!("127.0.0.1:{p}").parse().unwrap());
        assert!(addrs.contains(&want), "{addrs:?} lacks port {p}");
    }
    assert!(got.iter().filter(|s| s.listening).count() >= 2);
    hx.signal(libc::SIGTERM);
    let _ = hx.wait_exit(Duration::from_secs(5));
}

#[test]
fn a_real_haproxy_takes_our_sockets_with_x() {
    let Some(hx) = haproxy() else { return };
    let be = HttpBackend::start(ok("a", "hello"));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let d = TempDir::new("hx-x");
    let sock = d.0.join("ours.sock");
    let _srv = SockServer::start(&sock, l);
    // Our listener has no SO_REUSEPORT: haproxy can only serve this port with our socket.
    let cfg = d.file(
        "hx.cfg",
        &http_cfg(port, be.port()).replace("    nbthread 2\n    hard-stop-after 10s\n", ""),
    );
    let child = std::process::Command::new(hx)
        .args([
            "-db",
            "-f",
            cfg.to_str().unwrap(),
            "-x",
            sock.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut hx = Running(child);
    let served = wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut r = BufReader::new(s);
            matches!(one_request(&mut r, false, false), Outcome::Ok { .. })
        })
    });
    let alive = hx.0.try_wait().unwrap().is_none();
    hx.signal(libc::SIGTERM);
    let _ = hx.wait_exit(Duration::from_secs(5));
    let mut err = String::new();
    if let Some(mut e) = hx.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(alive && served, "haproxy -x on our socket: {err}");
}

#[test]
fn server_state_file_keeps_maintenance_and_weight() {
    let (a, b, c) = (
        HttpBackend::start(ok("a", "hello")),
        HttpBackend::start(ok("b", "hello")),
        HttpBackend::start(ok("c", "hello")),
    );
    let port = crate::util::free_port();
    let d = TempDir::new("state");
    // As `show servers state` writes it: s1 forced into maintenance, s2's weight set to 3 at
    // run time (configured 1); s3 untouched; a line with a bad value and one for a server
    // that no longer exists.
    let state = format!(
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\
3 be 1 s1 127.0.0.1 2 1 1 1 40 1 0 0 0 0 0 0 - {pa} - 0 0 - - 0\n\
3 be 2 s2 127.0.0.1 2 0 3 1 40 1 0 0 0 0 0 0 - {pb} - 0 0 - - 0\n\
3 be 3 s3 127.0.0.1 9 0 1 1 40 1 0 0 0 0 0 0 - {pc} - 0 0 - - 0\n\
3 be 4 gone 127.0.0.1 2 1 1 1 40 1 0 0 0 0 0 0 - 1 - 0 0 - - 0\n",
        pa = a.port(),
        pb = b.port(),
        pc = c.port()
    );
    d.file("servers.state", &state);
    let cfg = d.file(
        "c.cfg",
        &format!(
            "global\n    nbthread 1\n    server-state-base {}\n    server-state-file servers.state\n\
defaults\n    mode http\n    load-server-state-from-file global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
backend be\n    balance roundrobin\n    server s1 127.0.0.1:{}\n    server s2 127.0.0.1:{}\n    server s3 127.0.0.1:{}\n",
            d.0.display(),
            a.port(),
            b.port(),
            c.port()
        ),
    );
    let check = run(&["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut p = Running::spawn(&["-f", cfg.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let mut by = std::collections::HashMap::new();
    for _ in 0..40 {
        let (status, head, _) = crate::util::http_backend::exchange(
            format!("127.0.0.1:{port}").parse().unwrap(),
            b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "{head}");
        let srv = head
            .lines()
            .find_map(|l| l.strip_prefix("x-server: "))
            .unwrap_or("?")
            .to_string();
        *by.entry(srv).or_insert(0) += 1;
    }
    assert_eq!(by.get("a"), None, "s1 stays in maintenance: {by:?}");
    let (nb, nc) = (
        by.get("b").copied().unwrap_or(0),
        by.get("c").copied().unwrap_or(0),
    );
    assert!(
        (27..=33).contains(&nb) && nb + nc == 40,
        "weights 3:1: {by:?}"
    );
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
    let mut err = String::new();
    if let Some(mut e) = p.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        err.contains(
            "server-state application failed for server 'be/s3', invalid srv_op_state value '9'"
        ),
        "{err}"
    );
}

fn stderr_of(r: &mut Running) -> String {
    let mut err = String::new();
    if let Some(mut e) = r.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

#[test]
fn master_worker_reloads_on_sigusr2_and_stops() {
    let be = HttpBackend::start(ok("a", "hello"));
    let port = crate::util::free_port();
    let d = TempDir::new("mworker");
    let good = http_cfg(port, be.port());
    let cfg = d.file("c.cfg", &good);
    let notify = d.0.join("notify");
    let sd = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    sd.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let child = std::process::Command::new(crate::util::bin::exe())
        .args(["-Ws", "-f", cfg.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut master = Running(child);
    let next_note = || {
        let mut b = [0u8; 64];
        let n = sd.recv(&mut b).unwrap();
        String::from_utf8_lossy(&b[..n]).into_owned()
    };
    assert_eq!(next_note(), "READY=1\n");

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut clients = Vec::new();
    for keep_alive in [true, false] {
        let (s, c) = (stop.clone(), counts.clone());
        clients.push(std::thread::spawn(move || {
            client(port, keep_alive, s, c, 2000)
        }));
    }
    for _ in 0..2 {
        let_load_run(&counts, 50);
        master.signal(libc::SIGUSR2);
        assert_eq!(next_note(), "RELOADING=1\n");
        assert_eq!(next_note(), "READY=1\n");
    }
    // A configuration that does not load: the current worker goes on.
    std::fs::write(&cfg, format!("{good}    bogus\n")).unwrap();
    master.signal(libc::SIGUSR2);
    assert_eq!(next_note(), "RELOADING=1\n");
    assert_eq!(next_note(), "READY=1\n");
    std::fs::write(&cfg, &good).unwrap();
    let_load_run(&counts, 50);
    stop.store(true, SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let ok = counts.ok.load(SeqCst);
    assert!(ok >= 50, "{ok} served");
    assert_eq!(
        (
            counts.refused.load(SeqCst),
            counts.reset.load(SeqCst),
            counts.failed.load(SeqCst)
        ),
        (0, 0, 0)
    );
    master.signal(libc::SIGTERM);
    assert_eq!(next_note(), "STOPPING=1\n");
    assert_eq!(master.wait_exit(Duration::from_secs(10)), Some(0));
    let err = stderr_of(&mut master);
    assert_eq!(err.matches("New worker (").count(), 3, "{err}");
    assert_eq!(err.matches("Loading success.").count(), 3, "{err}");
    assert_eq!(err.matches("Former worker (").count(), 2, "{err}");
    assert!(
        err.contains("unknown keyword 'bogus'") && err.contains("Loading failure!"),
        "{err}"
    );
    assert!(err.contains("All workers exited. Exiting... (0)"), "{err}");
    // Every worker is gone (the master reaped them all before exiting).
    for line in err.lines().filter(|l| l.contains("New worker (")) {
        let pid: i32 = line
            .split("New worker (")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} left"
        );
    }
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port closed after stop"
    );
}

/// A running Ravelin (in-process, 2 reactors: two `SO_REUSEPORT` sockets) hands its
/// listeners to a new binary with 3 reactors, then soft-stops: the new one accepts from both
/// sockets (one of them on two reactors) and nothing is lost.
#[test]
fn ravelin_hands_its_listeners_to_a_process_with_more_reactors() {
    let be = HttpBackend::start(ok("a", "hello"));
    let old = crate::util::proxy::Proxy::start(&format!(
        "global\n    nbthread 2\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{}\n",
        be.port()
    ));
    let port = old.addr("fe").port();
    let exposed = old.handle().exposed_listeners();
    assert_eq!(exposed.len(), 2, "one socket per reactor");
    let d = TempDir::new("handover");
    let path = d.0.join("old.sock");
    let ux = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (c, _) = ux.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut cmd = [0u8; 10];
        (&c).read_exact(&mut cmd).unwrap();
        assert_eq!(&cmd, getsocks::COMMAND);
        exposed.serve(&c).unwrap();
    });
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut clients = Vec::new();
    for keep_alive in [true, false] {
        let (s, c) = (stop.clone(), counts.clone());
        clients.push(std::thread::spawn(move || {
            client(port, keep_alive, s, c, 3000)
        }));
    }
    let_load_run(&counts, 50);
    // The new process's runtime API answers once its reactors run.
    let api = d.0.join("api.sock");
    let cfg = d.file(
        "new.cfg",
        &http_cfg(port, be.port())
            .replace("nbthread 2", "nbthread 3")
            .replace(
                "    hard-stop-after 10s\n",
                &format!(
                    "    hard-stop-after 10s\n    stats socket {}\n",
                    api.display()
                ),
            ),
    );
    let mut new = Running::spawn(&["-f", cfg.to_str().unwrap(), "-x", path.to_str().unwrap()]);
    server.join().unwrap();
    // Once the new process serves, stop the old one softly.
    wait_until(Duration::from_secs(10), || {
        info_field(&api, "CurrConns").is_some() || new.0.try_wait().is_ok_and(|e| e.is_some())
    });
    assert!(new.0.try_wait().unwrap().is_none(), "new process runs");
    let before = counts.ok.load(SeqCst);
    old.handle().soft_stop();
    assert!(
        wait_until(Duration::from_secs(5), || old.handle().is_finished()),
        "old reactors finished their streams"
    );
    let_load_run(&counts, 50);
    stop.store(true, SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let after = counts.ok.load(SeqCst);
    assert!(
        after > before + 20,
        "served after the old process stopped: {before} -> {after}"
    );
    assert_eq!(
        (
            counts.refused.load(SeqCst),
            counts.reset.load(SeqCst),
            counts.failed.load(SeqCst)
        ),
        (0, 0, 0)
    );
    assert!(counts.idle_retries.load(SeqCst) <= 2);
    assert!(
        old.handle().exposed_listeners().is_empty(),
        "released at soft stop"
    );
    new.signal(libc::SIGTERM);
    assert_eq!(new.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn a_standalone_process_is_replaced_by_a_master_worker_one() {
    let be = HttpBackend::start(ok("a", "hello"));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let d = TempDir::new("to-mworker");
    let sock = d.0.join("old.sock");
    let _srv = SockServer::start(&sock, l);
    let cfg = d.file("c.cfg", &http_cfg(port, be.port()));
    let (cfg_s, sock_s) = (cfg.to_str().unwrap(), sock.to_str().unwrap());
    let mut old = Running::spawn(&["-f", cfg_s, "-x", sock_s]);
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    // The first worker takes the socket (it could not bind the port: no SO_REUSEPORT on it)
    // and finishes the old process.
    let mut master = Running::spawn(&["-W", "-f", cfg_s, "-x", sock_s, "-sf", &pid_of(&old)]);
    assert_eq!(old.wait_exit(Duration::from_secs(10)), Some(0));
    let mut c = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    c.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(matches!(
        one_request(&mut c, false, false),
        Outcome::Ok { .. }
    ));
    master.signal(libc::SIGTERM);
    assert_eq!(master.wait_exit(Duration::from_secs(10)), Some(0));
    let err = stderr_of(&mut master);
    assert!(err.contains("Loading success."), "{err}");
}

#[test]
fn close_spread_time_infinite_keeps_keep_alive_connections() {
    let be = HttpBackend::start(ok("a", "hello"));
    let port = crate::util::free_port();
    let d = TempDir::new("spread-inf");
    let cfg = d.file(
        "c.cfg",
        &http_cfg(port, be.port()).replace(
            "    hard-stop-after 10s\n",
            "    hard-stop-after 10s\n    close-spread-time infinite\n",
        ),
    );
    let mut p = Running::spawn(&["-f", cfg.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c = BufReader::new(s);
    assert!(matches!(
        one_request(&mut c, true, false),
        Outcome::Ok { close: false }
    ));
    p.signal(libc::SIGUSR1);
    // The soft stop is under way once the listener is closed.
    wait_until(Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", port)).is_err()
    });
    // Still open, still kept alive: no active close with `infinite`.
    assert!(!closed_by_peer(c.get_ref()));
    assert!(matches!(
        one_request(&mut c, true, true),
        Outcome::Ok { close: false }
    ));
    assert!(
        p.0.try_wait().unwrap().is_none(),
        "waits for the connection"
    );
    drop(c);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn grace_keeps_accepting_after_sigusr1() {
    let be = HttpBackend::start(ok("a", "hello"));
    let port = crate::util::free_port();
    let d = TempDir::new("grace");
    let cfg = d.file(
        "c.cfg",
        &http_cfg(port, be.port()).replace(
            "    hard-stop-after 10s\n",
            "    hard-stop-after 10s\n    grace 600ms\n",
        ),
    );
    let mut p = Running::spawn(&["-f", cfg.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let t0 = Instant::now();
    p.signal(libc::SIGUSR1);
    // A third into the 600 ms grace (the timing is what is tested).
    std::thread::sleep(Duration::from_millis(200));
    // Within the grace period new connections are still served.
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c = BufReader::new(s);
    assert!(matches!(
        one_request(&mut c, false, false),
        Outcome::Ok { .. }
    ));
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(550), "{took:?}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after the stop"
    );
}

#[test]
fn master_keeps_the_old_worker_when_the_new_one_cannot_start() {
    let be = HttpBackend::start(ok("a", "hello"));
    let port = crate::util::free_port();
    // A port held by a listener without SO_REUSEPORT: a worker binding it fails.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let d = TempDir::new("mworker-fail");
    let good = http_cfg(port, be.port());
    let cfg = d.file("c.cfg", &good);
    let mut master = Running::spawn(&["-W", "-f", cfg.to_str().unwrap()]);
    let stderr = master.stderr_log();
    let served = || {
        TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut r = BufReader::new(s);
            matches!(one_request(&mut r, false, false), Outcome::Ok { .. })
        })
    };
    assert!(wait_until(Duration::from_secs(10), served));
    std::fs::write(
        &cfg,
        good.replace(
            &format!("    bind 127.0.0.1:{port}\n"),
            &format!("    bind 127.0.0.1:{port}\n    bind 127.0.0.1:{taken_port}\n"),
        ),
    )
    .unwrap();
    master.signal(libc::SIGUSR2);
    // Wait for the failed attempt, then check the old worker still serves.
    stderr.wait_for("Loading failure!", 1, Duration::from_secs(10));
    assert!(served(), "old worker still serves");
    master.signal(libc::SIGTERM);
    assert_eq!(master.wait_exit(Duration::from_secs(10)), Some(0));
    let err = stderr.finish();
    assert!(err.contains("cannot bind socket"), "{err}");
    assert!(err.contains("Loading failure!"), "{err}");
    assert_eq!(err.matches("Loading success.").count(), 1, "{err}");
    assert!(err.contains("Current worker ("), "{err}");
    drop(taken);
}

/// Ravelin to Ravelin: each new process takes the listeners from the running one over its
/// `stats socket ... expose-fd listeners` (`-x`), then soft-stops it (`-sf`), under load.
#[test]
fn ravelin_takes_the_sockets_of_ravelin_under_load() {
    let be = HttpBackend::start(ok("a", "hello"));
    let port = crate::util::free_port();
    let d = TempDir::new("reload-rr");
    let sock = d.0.join("api.sock");
    let cfg_text = http_cfg(port, be.port()).replace(
        "    hard-stop-after 10s\n",
        &format!(
            "    hard-stop-after 10s\n    stats socket {} level admin expose-fd listeners\n",
            sock.display()
        ),
    );
    let cfg = d.file("c.cfg", &cfg_text);
    let (cfg_s, sock_s) = (cfg.to_str().unwrap(), sock.to_str().unwrap());
    let mut current = Running::spawn(&["-f", cfg_s]);
    assert!(wait_until(Duration::from_secs(10), || {
        sock.exists()
            && TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut r = BufReader::new(s);
                matches!(one_request(&mut r, false, false), Outcome::Ok { .. })
            })
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut clients = Vec::new();
    for keep_alive in [true, false] {
        let (s, c) = (stop.clone(), counts.clone());
        clients.push(std::thread::spawn(move || {
            client(port, keep_alive, s, c, 2000)
        }));
    }
    for _ in 0..4 {
        let_load_run(&counts, 50);
        let old_pid = pid_of(&current);
        let next = Running::spawn(&["-f", cfg_s, "-x", sock_s, "-sf", &old_pid]);
        let mut old = std::mem::replace(&mut current, next);
        assert_eq!(old.wait_exit(Duration::from_secs(8)), Some(0));
        assert!(
            current.0.try_wait().unwrap().is_none(),
            "new process serving"
        );
        // The new process serves the API socket too before the next round.
        assert!(wait_until(Duration::from_secs(5), || {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        }));
    }
    let_load_run(&counts, 50);
    stop.store(true, SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, refused, reset, failed) = (
        counts.ok.load(SeqCst),
        counts.refused.load(SeqCst),
        counts.reset.load(SeqCst),
        counts.failed.load(SeqCst),
    );
    assert!(ok >= 100, "{ok} requests served");
    assert_eq!((refused, reset, failed), (0, 0, 0));
    current.signal(libc::SIGTERM);
    assert_eq!(current.wait_exit(Duration::from_secs(5)), Some(0));
}
