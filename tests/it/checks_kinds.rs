//! The other check kinds on real sockets: `option tcp-check` sequences, agents
//! (`agent-check`), external checks and `option log-health-checks`. Log lines are read from
//! the real binary's stderr; states from the in-process proxy's atomics. Intervals are
//! 100-300 ms and every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ravelin::server::Admin;
use ravelin::status::Status;

use crate::util::bin::{Running, TempDir, exe};
use crate::util::proxy::Proxy;
use crate::util::{closed_port, wait_until};

/// A line server: each connection gets `reply()` (after reading `expect` first when it is not
/// empty), then is closed. Stops on drop.
struct LineServer {
    port: u16,
    /// Replies written so far.
    replied: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LineServer {
    fn start(expect: &'static [u8], reply: Arc<Mutex<Vec<u8>>>) -> LineServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let replied = Arc::new(AtomicUsize::new(0));
        let (st, rp) = (stop.clone(), replied.clone());
        let thread = std::thread::spawn(move || {
            for conn in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                while got.len() < expect.len() {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let r = reply.lock().unwrap().clone();
                let _ = c.write_all(&r);
                let _ = c.flush();
                rp.fetch_add(1, Ordering::SeqCst);
            }
        });
        LineServer {
            port,
            replied,
            stop,
            thread: Some(thread),
        }
    }

    fn fixed(expect: &'static [u8], reply: &[u8]) -> LineServer {
        LineServer::start(expect, Arc::new(Mutex::new(reply.to_vec())))
    }
}

impl Drop for LineServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The real binary with its stderr collected line by line.
struct Logged {
    proc: Running,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl Logged {
    fn start(cfg: &str) -> Logged {
        let dir = TempDir::new("checks");
        let f = dir.file("c.cfg", cfg);
        let mut child = Command::new(exe())
            .args(["-f", f.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                l.lock().unwrap().push(line);
            }
        });
        Logged {
            proc: Running(child),
            lines,
            reader: Some(reader),
            _dir: dir,
        }
    }

    /// Waits for a line containing `needle`; returns it.
    fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let mut found = String::new();
        let ok = wait_until(timeout, || {
            match self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                Some(l) => {
                    found = l.clone();
                    true
                }
                None => false,
            }
        });
        assert!(
            ok,
            "no line with {needle:?} in {:?}",
            self.lines.lock().unwrap()
        );
        found
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.proc.signal(libc::SIGTERM);
        let _ = self.proc.wait_exit(Duration::from_secs(5));
        drop(self.proc.0.stderr.take());
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

const DEFAULTS: &str = "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n";

fn frontend() -> String {
    format!(
        "frontend fe\n    bind 127.0.0.1:{}\n    default_backend be\n",
        closed_port()
    )
}

#[test]
fn tcp_check_pong_passes_garbage_and_silence_go_down_with_haproxy_lines() {
    let pong = LineServer::fixed(b"PING\r\n", b"+PONG\r\n");
    let garbage = LineServer::fixed(b"PING\r\n", b"garbage\r\n");
    let silent = crate::util::backend::Backend::silent();
    let cfg = format!(
        "{DEFAULTS}{}backend be\n    option tcp-check\n    timeout check 300ms\n    \
         tcp-check send PING\\r\\n\n    tcp-check expect string +PONG\n    \
         server ok 127.0.0.1:{} check inter 100 rise 1 fall 1\n    \
         server bad 127.0.0.1:{} check inter 100 rise 1 fall 1\n    \
         server hung 127.0.0.1:{} check inter 100 rise 1 fall 1\n",
        frontend(),
        pong.port,
        garbage.port,
        silent.port()
    );
    let log = Logged::start(&cfg);
    let bad = log.wait_line("Server be/bad is DOWN", Duration::from_secs(5));
    assert!(
        bad.contains(": Server be/bad is DOWN, reason: Layer7 invalid response, info: \"TCPCHK did not match content '+PONG' at step 2\", check duration: "),
        "{bad}"
    );
    assert!(bad.starts_with("[WARNING]"), "{bad}");
    let hung = log.wait_line("Server be/hung is DOWN", Duration::from_secs(5));
    assert!(
        hung.contains("reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect string '+PONG')\", check duration: "),
        "{hung}"
    );
    drop(log);

    // The same sequence in process: the PONG server stays up with L7OK.
    let p = Proxy::start(&cfg);
    assert!(wait_until(Duration::from_secs(3), || {
        Status::from_u8(p.server("be", "ok").check.status.load(Ordering::Relaxed)) == Status::L7Ok
    }));
    assert!(p.server("be", "ok").is_up());
    assert!(wait_until(Duration::from_secs(3), || !p
        .server("be", "bad")
        .is_up()));
    assert_eq!(
        Status::from_u8(p.server("be", "bad").check.status.load(Ordering::Relaxed)),
        Status::L7Rsp
    );
    p.assert_clean();
}

#[test]
fn tcp_check_second_connect_and_refused_step() {
    let banner = LineServer::fixed(b"", b"+OK ready\r\n");
    let other = LineServer::fixed(b"", b"+OK ready\r\n");
    let closed = closed_port();
    let cfg = format!(
        "{DEFAULTS}{}backend be\n    option tcp-check\n    tcp-check connect\n    \
         tcp-check expect rstring ^\\+OK\n    tcp-check connect port {} comment second\\ port\n    \
         tcp-check expect string ready\n    \
         server good 127.0.0.1:{} check inter 100 rise 1 fall 1\n\
         backend be2\n    option tcp-check\n    tcp-check connect\n    \
         tcp-check connect port {closed} comment second\\ port\n    \
         server refused 127.0.0.1:{} check inter 100 rise 1 fall 1\n",
        frontend(),
        other.port,
        banner.port,
        banner.port
    );
    let log = Logged::start(&cfg);
    let line = log.wait_line("Server be2/refused is DOWN", Duration::from_secs(5));
    assert!(
        line.contains(&format!("reason: Layer4 connection problem, info: \"Connection refused at step 2 of tcp-check (connect port {closed}) comment: 'second port'\"")),
        "{line}"
    );
    drop(log);
    let p = Proxy::start(&cfg);
    assert!(wait_until(Duration::from_secs(3), || {
        Status::from_u8(p.server("be", "good").check.status.load(Ordering::Relaxed)) == Status::L7Ok
    }));
    assert!(p.server("be", "good").is_up());
}

fn agent_cfg(backend: &str) -> String {
    format!("{DEFAULTS}{}{backend}", frontend())
}

#[test]
fn agent_replies_drive_state_weight_and_admin() {
    let traffic = crate::util::backend::Backend::tagged(1);
    let reply = Arc::new(Mutex::new(b"down # gone fishing\n".to_vec()));
    let agent = LineServer::start(b"", reply.clone());
    let cfg = agent_cfg(&format!(
        "backend be\n    balance roundrobin\n    \
         server s1 127.0.0.1:{} weight 10 check inter 100 agent-check agent-port {} agent-inter 100\n",
        traffic.port(),
        agent.port
    ));
    let p = Proxy::start(&cfg);
    let s = || p.server("be", "s1");
    let set = |r: &[u8]| *reply.lock().unwrap() = r.to_vec();
    assert!(
        wait_until(Duration::from_secs(3), || !s().is_up()),
        "agent down"
    );
    assert_eq!(
        Status::from_u8(s().check.agent_status.load(Ordering::Relaxed)),
        Status::L7Sts
    );
    set(b"up\n");
    assert!(
        wait_until(Duration::from_secs(3), || s().is_up()),
        "agent up"
    );
    set(b"50%\n");
    assert!(
        wait_until(Duration::from_secs(3), || s().weight() == 5),
        "50% of 10"
    );
    set(b"drain\n");
    assert!(wait_until(Duration::from_secs(3), || s().admin() == Admin::Drain));
    assert!(s().is_up() && !s().is_usable());
    set(b"maint\n");
    assert!(wait_until(Duration::from_secs(3), || s().admin() == Admin::Maint));
    set(b"ready 100%\n");
    assert!(wait_until(Duration::from_secs(3), || {
        s().admin() == Admin::Ready && s().weight() == 10 && s().is_usable()
    }));
    // Malformed replies change nothing and crash nothing.
    let before = agent.replied.load(Ordering::SeqCst);
    set(b"\xff\xfe bogus%% maxconn:x #\n");
    // Two more replies: at least one whole agent check got the malformed one.
    assert!(wait_until(Duration::from_secs(3), || agent
        .replied
        .load(Ordering::SeqCst)
        >= before + 2));
    assert!(s().is_usable());
    p.assert_clean();
}

#[test]
fn agent_up_does_not_override_a_failing_check_and_refused_agent_is_harmless() {
    let agent = LineServer::fixed(b"", b"up\n");
    let closed = closed_port();
    let traffic = crate::util::backend::Backend::tagged(2);
    let cfg = agent_cfg(&format!(
        "backend be\n    \
         server dead 127.0.0.1:{closed} check inter 100 agent-check agent-port {} agent-inter 100\n    \
         server alive 127.0.0.1:{} check inter 100 agent-check agent-port {} agent-inter 100\n",
        agent.port,
        traffic.port(),
        closed_port()
    ));
    let p = Proxy::start(&cfg);
    assert!(wait_until(Duration::from_secs(3), || {
        Status::from_u8(
            p.server("be", "dead")
                .check
                .agent_status
                .load(Ordering::Relaxed),
        ) == Status::L7Ok
            && Status::from_u8(
                p.server("be", "alive")
                    .check
                    .agent_status
                    .load(Ordering::Relaxed),
            ) == Status::L4Con
    }));
    // The failing check takes `dead` down (the agent's `up` must not bring it back).
    wait_until(Duration::from_secs(3), || !p.server("be", "dead").is_up());
    assert!(
        !p.server("be", "dead").is_up(),
        "agent up, check failing: down"
    );
    assert!(
        p.server("be", "alive").is_up(),
        "agent unreachable: still up"
    );
    p.assert_clean();
}

#[test]
fn agent_log_lines_match_haproxy() {
    let down = LineServer::fixed(b"", b"down # gone fishing\n");
    let maint = LineServer::fixed(b"", b"maint\n");
    let drain = LineServer::fixed(b"", b"drain\n");
    let traffic = crate::util::backend::Backend::tagged(3);
    let cfg = agent_cfg(&format!(
        "backend be\n    \
         server d 127.0.0.1:{t} check inter 200 agent-check agent-port {} agent-inter 200\n    \
         server m 127.0.0.1:{t} agent-check agent-port {} agent-inter 200\n    \
         server r 127.0.0.1:{t} agent-check agent-port {} agent-inter 200\n    \
         server x 127.0.0.1:{t}\n",
        down.port,
        maint.port,
        drain.port,
        t = traffic.port()
    ));
    let log = Logged::start(&cfg);
    let l = log.wait_line("Server be/d is DOWN", Duration::from_secs(5));
    assert!(
        l.contains("Server be/d is DOWN, reason: Layer7 wrong status, code: 0, info: \"via agent : down (gone fishing)\", check duration: "),
        "{l}"
    );
    let l = log.wait_line(
        "Server be/m is going DOWN for maintenance",
        Duration::from_secs(5),
    );
    assert!(l.contains(" active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."), "{l}");
    let l = log.wait_line("Server be/r enters drain state.", Duration::from_secs(5));
    assert!(
        l.contains(" backup servers online. 0 sessions requeued, 0 total in queue."),
        "{l}"
    );
}

#[test]
fn log_health_checks_lines_match_haproxy() {
    let closed = closed_port();
    let up = crate::util::backend::Backend::tagged(4);
    let cfg = format!(
        "{DEFAULTS}{}backend be\n    option log-health-checks\n    \
         server a 127.0.0.1:{} check inter 100 rise 2 fall 3\n    \
         server b 127.0.0.1:{closed} check inter 100 rise 1 fall 1\n",
        frontend(),
        up.port()
    );
    let log = Logged::start(&cfg);
    let l = log.wait_line(
        "Health check for server be/b failed",
        Duration::from_secs(5),
    );
    assert!(
        l.ends_with("Health check for server be/b failed, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms, status: 0/1 DOWN."),
        "{l}"
    );
    // With the option, the DOWN line leaves the reason out (haproxy 2.6).
    let l = log.wait_line("Server be/b is DOWN", Duration::from_secs(5));
    assert!(
        l.ends_with("Server be/b is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."),
        "{l}"
    );
    let l = log.wait_line(
        "Health check for server be/a succeeded",
        Duration::from_secs(5),
    );
    assert!(
        l.contains("reason: Layer4 check passed, check duration: ")
            && l.ends_with(", status: 3/3 UP."),
        "{l}"
    );
}

/// A script in `dir`, executable.
fn script(dir: &TempDir, name: &str, body: &str) -> String {
    let p = dir.file(name, &format!("#!/bin/sh\n{body}\n"));
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&p, perm).unwrap();
    p.to_str().unwrap().to_string()
}

fn ext_cfg(backends: &str) -> String {
    format!(
        "global\n    external-check\n    insecure-fork-wanted\n{DEFAULTS}{}{backends}",
        frontend()
    )
}

#[test]
fn external_checks_pass_fail_and_timeout_kills_the_process() {
    let dir = TempDir::new("ext");
    let args_file = dir.0.join("args.txt");
    let ok = script(
        &dir,
        "ok.sh",
        &format!(
            "echo \"$@\" > {a}.tmp; env >> {a}.tmp; mv {a}.tmp {a}; exit 0",
            a = args_file.display()
        ),
    );
    let fail = script(&dir, "fail.sh", "exit 3");
    let pid_file = dir.0.join("slow.pid");
    let slow = script(
        &dir,
        "slow.sh",
        &format!("echo $$ > {}; exec /bin/sleep 30", pid_file.display()),
    );
    let cfg = ext_cfg(&format!(
        "backend be\n    option external-check\n    external-check command {ok}\n    \
         external-check path /usr/bin:/bin\n    \
         server a 127.0.0.1:8081 check inter 100 rise 1 fall 1\n\
         backend bf\n    option external-check\n    external-check command {fail}\n    \
         server b 127.0.0.1:8082 check inter 100 rise 1 fall 1\n\
         backend bt\n    option external-check\n    timeout check 300ms\n    \
         external-check command {slow}\n    server c 127.0.0.1:8083 check inter 1s rise 1 fall 1\n"
    ));
    let p = Proxy::start(&cfg);
    let status =
        |be: &str, s: &str| Status::from_u8(p.server(be, s).check.status.load(Ordering::Relaxed));
    assert!(wait_until(Duration::from_secs(5), || status("be", "a")
        == Status::ProcOk));
    assert!(p.server("be", "a").is_up());
    assert!(wait_until(Duration::from_secs(5), || !p
        .server("bf", "b")
        .is_up()));
    assert_eq!(status("bf", "b"), Status::ProcErr);
    assert_eq!(p.server("bf", "b").check.code.load(Ordering::Relaxed), 3);
    // Arguments and environment as the manual lists them (a backend: NOT_USED).
    assert!(wait_until(Duration::from_secs(3), || args_file.exists()));
    let seen = std::fs::read_to_string(&args_file).unwrap();
    assert!(
        seen.starts_with("NOT_USED NOT_USED 127.0.0.1 8081\n"),
        "{seen}"
    );
    for var in [
        "HAPROXY_PROXY_NAME=be",
        "HAPROXY_SERVER_NAME=a",
        "HAPROXY_SERVER_ADDR=127.0.0.1",
        "HAPROXY_SERVER_PORT=8081",
        "HAPROXY_SERVER_ID=1",
        "HAPROXY_SERVER_MAXCONN=0",
        "HAPROXY_SERVER_CURCONN=0",
        "HAPROXY_PROXY_ADDR=\n",
        "PATH=/usr/bin:/bin",
    ] {
        assert!(seen.contains(var), "{var} missing in {seen}");
    }
    // The slow one: killed after `timeout check`, counted as a timeout.
    assert!(wait_until(Duration::from_secs(5), || !p
        .server("bt", "c")
        .is_up()));
    assert_eq!(status("bt", "c"), Status::ProcTout);
    let took = p
        .server("bt", "c")
        .check
        .duration_ms
        .load(Ordering::Relaxed);
    assert!((280..1000).contains(&took), "took {took} ms");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(2), || !std::path::Path::new(&format!(
            "/proc/{pid}"
        ))
        .exists()),
        "the timed-out command {pid} was killed and reaped"
    );
    p.assert_clean();
    drop(p);
}
