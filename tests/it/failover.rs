//! Issue 6's config B end to end, on real sockets: three HTTP backends, a paced stream of GETs
//! (one connection each, as the loadtest), one backend killed (its listener and connections
//! gone: refused, reset) or hung (its kernel still accepts, nothing answers) for 1.5 s, then
//! back. With HTTP checks, fastinter, retries with redispatch and `retry-on conn-failure
//! empty-response response-timeout`, no client request fails. The loadtest's
//! failover-kill-b/-hang-b scenarios measure the same against HAProxy with real processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::proxy::Proxy;
use crate::util::wait_until;

const UP: u8 = 0;
const DEAD: u8 = 1;
const HUNG: u8 = 2;

/// An HTTP backend that can be killed (listener closed, connections reset) or hung (nothing
/// accepted or answered; the kernel still completes handshakes) and brought back.
struct Victim {
    addr: SocketAddr,
    state: Arc<AtomicU8>,
    served: Arc<AtomicUsize>,
    done: Arc<AtomicU8>,
}

impl Victim {
    fn start(name: &'static str) -> Victim {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let state = Arc::new(AtomicU8::new(UP));
        let served = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicU8::new(0));
        let (st, sv, dn) = (state.clone(), served.clone(), done.clone());
        std::thread::spawn(move || {
            let mut listener = Some(l);
            while dn.load(SeqCst) == 0 {
                match st.load(SeqCst) {
                    DEAD => {
                        listener = None;
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    HUNG => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    _ => {}
                }
                if listener.is_none() {
                    listener = TcpListener::bind(addr).ok();
                }
                let Some(l) = &listener else { continue };
                l.set_nonblocking(true).unwrap();
                match l.accept() {
                    Ok((c, _)) => {
                        let (st, sv) = (st.clone(), sv.clone());
                        std::thread::spawn(move || serve(c, name, &st, &sv));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Victim {
            addr,
            state,
            served,
            done,
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        self.done.store(1, SeqCst);
    }
}

/// Keep-alive HTTP/1.1 without bodies; checks the victim's state between reads.
fn serve(c: TcpStream, name: &str, state: &AtomicU8, served: &AtomicUsize) {
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    let mut line = String::new();
    let mut head_done = false;
    let idle_until = Instant::now() + Duration::from_secs(10);
    loop {
        match state.load(SeqCst) {
            DEAD => {
                // Killed: the connection ends without an answer (a FIN both ways; a killed
                // process's reset is not reachable from std without unsafe).
                let _ = w.shutdown(std::net::Shutdown::Both);
                return;
            }
            HUNG => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            _ => {}
        }
        if Instant::now() > idle_until {
            return;
        }
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => continue,
        }
        if line == "\r\n" {
            head_done = true;
        }
        if head_done {
            head_done = false;
            served.fetch_add(1, SeqCst);
            let body = name.as_bytes();
            let reply = format!(
                "HTTP/1.1 200 OK\r\nx-server: {name}\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            if w.write_all(reply.as_bytes()).is_err() || w.write_all(body).is_err() {
                return;
            }
        }
    }
}

const CONFIG_B: &str = "    timeout connect 1s\n    timeout client 30s\n    timeout server 1s\n    \
    timeout check 300ms\n    retries 2\n    option redispatch\n    \
    retry-on conn-failure empty-response response-timeout\n";

/// Runs a paced GET load (`rate` per second for `run`), disrupting `b1` with `fault` from
/// `at` for `len`; returns (statuses that were not 200, slowest request, b1's requests after
/// it came back).
fn run(fault: u8) -> (Vec<String>, Duration, usize) {
    let vs = [
        Victim::start("b1"),
        Victim::start("b2"),
        Victim::start("b3"),
    ];
    let p = Proxy::start(&format!(
        "global\n    nbthread 2\n\
         defaults\n    mode http\n{CONFIG_B}\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend app\n\
         backend app\n    balance roundrobin\n    option httpchk GET /\n    \
         default-server check inter 1s fastinter 100 downinter 1s rise 3 fall 2\n    \
         server b1 {}\n    server b2 {}\n    server b3 {}\n",
        vs[0].addr, vs[1].addr, vs[2].addr
    ));
    let addr = p.addr("fe");
    // Every server has had its first check.
    assert!(wait_until(Duration::from_secs(5), || ["b1", "b2", "b3"]
        .iter()
        .all(|s| p.server("app", s).check.status.load(SeqCst) != 0)));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let start = Instant::now();
    let run_for = Duration::from_millis(5000);
    // 40 clients, one request each 250 ms: 160 requests/s.
    let clients: Vec<_> = (0..40)
        .map(|i| {
            let (f, s) = (failures.clone(), slowest.clone());
            std::thread::spawn(move || {
                let mut next = start + Duration::from_millis(i * 6);
                while next < start + run_for {
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    let t0 = Instant::now();
                    let outcome = get(addr);
                    let took = t0.elapsed();
                    {
                        let mut m = s.lock().unwrap();
                        *m = (*m).max(took);
                    }
                    if outcome != "200" {
                        f.lock()
                            .unwrap()
                            .push(format!("{outcome} at {:?}", t0.duration_since(start)));
                    }
                    next += Duration::from_millis(250);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    vs[0].state.store(fault, SeqCst);
    std::thread::sleep(Duration::from_millis(1500));
    vs[0].state.store(UP, SeqCst);
    let back = vs[0].served.load(SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let after = vs[0].served.load(SeqCst) - back;
    let f = failures.lock().unwrap().clone();
    let s = *slowest.lock().unwrap();
    p.assert_clean();
    (f, s, after)
}

/// One GET on a new connection, as the loadtest's clients; "200" or what went wrong. The
/// client gives up after 2 s.
fn get(addr: SocketAddr) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return "connect failed".into();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return "write failed".into();
    }
    let mut r = BufReader::new(s);
    let mut status = String::new();
    if r.read_line(&mut status).is_err() {
        return "timeout".into();
    }
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    status.split(' ').nth(1).unwrap_or("closed").to_string()
}

#[test]
fn config_b_loses_no_request_when_a_server_dies() {
    let (failed, slowest, after) = run(DEAD);
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(slowest < Duration::from_millis(1500), "slowest {slowest:?}");
    // Back in rotation within downinter + rise x fastinter (1.3 s) of its return.
    assert!(after > 0, "b1 got no traffic after it came back");
}

#[test]
fn config_b_loses_no_idempotent_request_when_a_server_hangs() {
    let (failed, slowest, after) = run(HUNG);
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    // A caught request is replayed elsewhere after `timeout server` (1 s).
    assert!(slowest < Duration::from_millis(1900), "slowest {slowest:?}");
    assert!(after > 0, "b1 got no traffic after it came back");
}
