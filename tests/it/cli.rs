//! The real binary: HAProxy's command line, check mode, alerts, signals.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::util::backend::Backend;
use crate::util::bin::{Running, TempDir, run};
use crate::util::{free_port, wait_until};

fn tcp_cfg(port: u16, server_port: u16) -> String {
    format!(
        "global\n    nbthread 2\n    hard-stop-after 10s\n\
defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{server_port}\n"
    )
}

fn wait_listening(port: u16) -> bool {
    wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
}

#[test]
fn check_mode_valid() {
    let d = TempDir::new("check");
    let f = d.file("ok.cfg", &tcp_cfg(free_port(), 9));
    let out = run(&["-c", "-f", f.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Configuration file is valid"
    );
}

#[test]
fn check_mode_reports_every_error_with_file_and_line() {
    let d = TempDir::new("bad");
    let f = d.file(
        "bad.cfg",
        "global\n    nbthred 2\ndefaults\n    timeout client 30x\nfrontend fe\n    bind 127.0.0.1:99999\n    default_backend nope\n",
    );
    let out = run(&["-c", "-f", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in [
        "bad.cfg:2]",
        "nbthread",
        "bad.cfg:4]",
        "bad.cfg:6]",
        "nope",
        "Fatal errors found in configuration.",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(
        err.lines().filter(|l| l.starts_with("[ALERT]")).count() >= 4,
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_config_starts_nothing() {
    let port = free_port();
    let d = TempDir::new("nostart");
    let f = d.file("bad.cfg", &(tcp_cfg(port, 9) + "    bogus-keyword 1\n"));
    let out = run(&["-f", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing bound"
    );
}

#[test]
fn missing_file_and_unknown_flag() {
    let out = run(&["-c", "-f", "/nonexistent/ravelin.cfg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ravelin.cfg"));
    let out = run(&["-Z"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}

#[test]
fn version_flags() {
    let out = run(&["-v"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("version"));
    let out = run(&["-vv"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Build options"));
}

#[test]
fn directory_of_cfg_files_loads_in_order() {
    let port = free_port();
    let be = Backend::echo();
    let d = TempDir::new("dir");
    let full = tcp_cfg(port, be.port());
    let (head, tail) = full.split_at(full.find("frontend").unwrap());
    d.file("10-global.cfg", head);
    d.file("20-proxies.cfg", tail);
    d.file("README", "not a cfg file");
    let out = run(&["-c", "-f", d.0.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bind_conflict_is_an_alert_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let d = TempDir::new("bindfail");
    let f = d.file("c.cfg", &tcp_cfg(port, 9));
    let out = run(&["-f", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[ALERT]") && err.contains("cannot bind socket"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_with_status_0_and_pidfile_is_written() {
    let port = free_port();
    let be = Backend::echo();
    let d = TempDir::new("term");
    let f = d.file("c.cfg", &tcp_cfg(port, be.port()));
    let pidfile = d.0.join("pid");
    let mut p = Running::spawn(&["-f", f.to_str().unwrap(), "-p", pidfile.to_str().unwrap()]);
    assert!(wait_listening(port));
    let read_pid = || {
        std::fs::read_to_string(&pidfile)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    };
    assert!(wait_until(Duration::from_secs(5), || read_pid().is_some()));
    let pid = read_pid().unwrap_or(0);
    assert_eq!(pid, p.0.id());
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn sigusr1_soft_stop_finishes_the_transfer_in_flight() {
    let port = free_port();
    // The server streams 2 MiB slowly (about 1 s), then closes.
    let be = Backend::start(std::sync::Arc::new(|mut s: TcpStream| {
        let chunk = vec![42u8; 64 * 1024];
        for _ in 0..32 {
            if s.write_all(&chunk).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        let _ = s.shutdown(Shutdown::Write);
    }));
    let d = TempDir::new("usr1");
    let f = d.file("c.cfg", &tcp_cfg(port, be.port()));
    let mut p = Running::spawn(&["-f", f.to_str().unwrap()]);
    assert!(wait_listening(port));
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut first = [0u8; 1024];
    c.read_exact(&mut first).unwrap();
    let t0 = Instant::now();
    p.signal(libc::SIGUSR1);
    // Listeners close promptly...
    assert!(
        wait_until(Duration::from_secs(3), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_err()),
        "listener still open after SIGUSR1"
    );
    // ...while the stream in flight completes.
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert_eq!(
        first.len() + rest.len(),
        2 << 20,
        "whole transfer delivered"
    );
    // The client closes its side too: the stream is over.
    drop(c);
    assert_eq!(
        p.wait_exit(Duration::from_secs(5)),
        Some(0),
        "exits once the stream ended"
    );
    assert!(t0.elapsed() < Duration::from_secs(8));
}

#[test]
fn hard_stop_after_bounds_the_soft_stop() {
    let port = free_port();
    // Silent, but counts the bytes it gets: the client's byte arriving there says the stream
    // is set up through the proxy.
    let got = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let g = got.clone();
    let be = Backend::start(std::sync::Arc::new(move |mut s: TcpStream| {
        let mut buf = [0u8; 1024];
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            g.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        }
    }));
    let d = TempDir::new("hsa");
    let f = d.file(
        "c.cfg",
        &tcp_cfg(port, be.port()).replace("hard-stop-after 10s", "hard-stop-after 500ms"),
    );
    let mut p = Running::spawn(&["-f", f.to_str().unwrap()]);
    assert!(wait_listening(port));
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.write_all(b"x").unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || got
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1),
        "the stream reached the server"
    );
    let t0 = Instant::now();
    p.signal(libc::SIGUSR1);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn inherited_listener_fd() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let be = Backend::echo();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let d = TempDir::new("fd");
    let cfg = tcp_cfg(port, be.port()).replace(
        &format!("bind 127.0.0.1:{port}"),
        "bind \"fd@${LISTEN_FD}\"",
    );
    let f = d.file("c.cfg", &cfg);
    let raw = l.as_raw_fd();
    let mut cmd = std::process::Command::new(crate::util::bin::exe());
    cmd.args(["-f", f.to_str().unwrap()])
        .env("LISTEN_FD", "7")
        .stdin(std::process::Stdio::null());
    // SAFETY: pre_exec runs in the forked child before exec; dup2 and fcntl are
    // async-signal-safe and give the child the listener as fd 7 without CLOEXEC. When the
    // listener already is fd 7, dup2 would be a no-op that keeps CLOEXEC, so clear it instead.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            let r = if raw == 7 {
                libc::fcntl(7, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 7)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut p = Running(cmd.spawn().unwrap());
    drop(l);
    assert!(wait_listening(port));
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"inherited").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut v = Vec::new();
    c.read_to_end(&mut v).unwrap();
    assert_eq!(v, b"inherited");
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn running_out_of_file_descriptors_pauses_and_recovers() {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let be = Backend::echo();
    let d = TempDir::new("emfile");
    let f = d.file(
        "c.cfg",
        // A configured maxconn far above what 40 descriptors allow, so that accept() itself
        // runs out (the derived one would leave room for every connection).
        &tcp_cfg(port, be.port()).replace("nbthread 2", "nbthread 1\n    maxconn 100"),
    );
    let mut cmd = std::process::Command::new(crate::util::bin::exe());
    cmd.args(["-f", f.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: pre_exec runs in the child before exec; setrlimit is async-signal-safe and only
    // lowers the child's own open-files limit (soft and hard, so it cannot raise it back).
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 40,
                rlim_max: 40,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut p = Running(cmd.spawn().unwrap());
    assert!(wait_listening(port));
    // Far more clients than 40 descriptors allow: the proxy must neither crash nor spin.
    let mut held = Vec::new();
    for _ in 0..60 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            held.push(s);
        }
    }
    // The shortage is met (and reported) while the clients are held.
    let stderr = p.stderr_log();
    assert!(
        stderr.wait_for("[ALERT]", 1, Duration::from_secs(10)),
        "no alert while out of descriptors"
    );
    assert!(p.0.try_wait().unwrap().is_none(), "proxy still running");
    drop(held);
    // Once descriptors are free again, a new client is served end to end.
    let served = wait_until(Duration::from_secs(10), || {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        if c.write_all(b"again").is_err() || c.shutdown(Shutdown::Write).is_err() {
            return false;
        }
        let mut v = Vec::new();
        c.read_to_end(&mut v).is_ok() && v == b"again"
    });
    assert!(served, "proxy recovered after EMFILE");
    p.signal(libc::SIGTERM);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0));
    let err = stderr.finish();
    assert!(
        err.contains("[ALERT]"),
        "the resource shortage was reported:\n{err}"
    );
}

/// An HTTP server answering every request `delay` after its head, then closing; it stops
/// accepting when `stop` is set.
fn slow_http_backend(
    delay: Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let t = std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((mut c, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            std::thread::spawn(move || {
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(Duration::from_secs(15)));
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(n) if n > 0 => head.extend_from_slice(&b[..n]),
                        _ => return,
                    }
                }
                std::thread::sleep(delay);
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    (port, t)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn show_info(sock: &std::path::Path) -> Option<String> {
    let mut s = std::os::unix::net::UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"show info\n").ok()?;
    let mut v = String::new();
    s.read_to_string(&mut v).ok()?;
    v.contains("Maxconn:").then_some(v)
}

/// Issue 17 item 2: under `ulimit -n 256` with the derived maxconn, 400 clients that connect,
/// send a request and leave before the (slow) answer must not leave descriptors held or
/// streams stuck: the requests sent afterwards are all answered, the descriptors come back to
/// the idle level, and the stats socket answers throughout.
#[test]
fn low_descriptor_limit_serves_everyone_and_gives_descriptors_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let (be_port, be) = slow_http_backend(Duration::from_millis(500), stop.clone());
    let port = free_port();
    let d = TempDir::new("fdlimit");
    let sock = d.0.join("stats.sock");
    let f = d.file(
        "c.cfg",
        &format!(
            "global\n    nbthread 2\n    stats socket {} level admin\n\
defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{be_port}\n",
            sock.display()
        ),
    );
    let child = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 256 && exec \"$0\" -f \"$1\""])
        .arg(crate::util::bin::exe())
        .arg(&f)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let p = Running(child);
    let pid = p.0.id();
    assert!(wait_listening(port));
    assert!(wait_until(Duration::from_secs(5), || show_info(&sock).is_some()));
    let info = show_info(&sock).unwrap();
    for want in ["Ulimit-n: 256\n", "Maxsock: 256\n", "Maxconn: 114\n"] {
        assert!(info.contains(want), "{want:?} in {info}");
    }
    let idle = open_fds(pid);

    let mut clients = Vec::new();
    for _ in 0..400 {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if let Ok(mut c) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            clients.push(c);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let busy = show_info(&sock);
    assert!(busy.is_some(), "stats socket answers at the limit");
    assert!(open_fds(pid) <= 256);
    drop(clients);

    let start = Instant::now();
    let followers: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || {
                let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
                    return false;
                };
                let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
                if c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .is_err()
                {
                    return false;
                }
                let mut v = Vec::new();
                let _ = c.read_to_end(&mut v);
                v.starts_with(b"HTTP/1.1 200")
            })
        })
        .collect();
    let answered = followers
        .into_iter()
        .filter_map(|t| t.join().ok())
        .filter(|ok| *ok)
        .count();
    assert_eq!(answered, 200, "every request after the burst is answered");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    // Every descriptor comes back once the peers are gone.
    let back = wait_until(Duration::from_secs(2), || open_fds(pid) <= idle + 4);
    assert!(back, "idle {idle}, now {}", open_fds(pid));
    assert!(show_info(&sock).is_some(), "stats socket answers after");
    drop(p);
    stop.store(true, Ordering::Relaxed);
    let _ = be.join();
}
