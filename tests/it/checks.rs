//! Active health checks on real sockets: servers marked down and up by TCP and HTTP checks,
//! with traffic following; `disable-on-404`; a hung server caught by `timeout check`;
//! backup takeover and return. Intervals are 100-300 ms and every wait is bounded.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ravelin::status::Status;

use crate::util::backend::Backend;
use crate::util::client::tag_of;
use crate::util::http_backend::{HttpBackend, Respond, exchange};
use crate::util::proxy::Proxy;
use crate::util::{closed_port, wait_until};

/// A server on a chosen port that writes `tag` and closes; stops (listener closed) on drop,
/// so the same port can refuse connections and later listen again.
struct PortServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PortServer {
    fn start(port: u16, tag: u8) -> PortServer {
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let _ = c.write_all(&[tag]);
                let _ = c.shutdown(Shutdown::Write);
            }
        });
        PortServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PortServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tcp_cfg(backend: &str) -> String {
    format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n{backend}"
    )
}

fn status(p: &Proxy, be: &str, s: &str) -> Status {
    Status::from_u8(p.server(be, s).check.status.load(Ordering::Relaxed))
}

#[test]
fn refused_server_goes_down_then_comes_back() {
    let s1 = Backend::tagged(1);
    let port2 = closed_port();
    let cfg = tcp_cfg(&format!(
        "backend be\n    server s1 127.0.0.1:{} check inter 100 fall 2 rise 2\n    \
         server s2 127.0.0.1:{port2} check inter 100 fall 2 rise 2\n",
        s1.port()
    ));
    let t0 = Instant::now();
    let p = Proxy::start(&cfg);
    // The first check runs within one `inter`; starting at health = rise, one failure is
    // enough (HAProxy 2.6): well within fall × inter + margin.
    assert!(
        wait_until(Duration::from_secs(2), || !p.server("be", "s2").is_up()),
        "s2 never marked down"
    );
    assert!(t0.elapsed() < Duration::from_millis(200 + 500));
    assert_eq!(status(&p, "be", "s2"), Status::L4Con);
    assert!(p.server("be", "s1").is_up());
    assert!(p.server("be", "s2").check.failed.load(Ordering::Relaxed) >= 1);
    // No failed request once it is down: everything goes to s1.
    let fe = p.addr("fe");
    for _ in 0..20 {
        assert_eq!(tag_of(fe), Some(1));
    }
    // It listens again: back within rise × inter (+ margin).
    let srv2 = PortServer::start(port2, 2);
    let back = Instant::now();
    assert!(
        wait_until(Duration::from_secs(2), || p.server("be", "s2").is_up()),
        "s2 never came back"
    );
    assert!(back.elapsed() < Duration::from_millis(2 * 100 + 400));
    assert_eq!(status(&p, "be", "s2"), Status::L4Ok);
    let tags: Vec<_> = (0..10).map(|_| tag_of(fe)).collect();
    assert!(
        tags.contains(&Some(1)) && tags.contains(&Some(2)),
        "{tags:?}"
    );
    drop(srv2);
    p.assert_clean();
}

fn http_cfg(backend: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n{backend}"
    )
}

fn respond_with(code: Arc<AtomicU16>, name: &'static str) -> Respond {
    Arc::new(move |_| {
        let c = code.load(Ordering::SeqCst);
        let reason = match c {
            200 => "OK",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        format!("HTTP/1.1 {c} {reason}\r\nx-server: {name}\r\ncontent-length: 2\r\n\r\nhi")
            .into_bytes()
    })
}

#[test]
fn http_check_expect_status_marks_a_500_down() {
    let good = HttpBackend::start(respond_with(Arc::new(AtomicU16::new(200)), "good"));
    let bad = HttpBackend::start(respond_with(Arc::new(AtomicU16::new(500)), "bad"));
    let cfg = http_cfg(&format!(
        "backend be\n    option httpchk GET /health\n    http-check expect status 200\n    \
         http-check send-state\n    \
         server good 127.0.0.1:{} check inter 100 fall 2 rise 2\n    \
         server bad 127.0.0.1:{} check inter 100 fall 2 rise 2\n",
        good.port(),
        bad.port()
    ));
    let p = Proxy::start(&cfg);
    assert!(wait_until(Duration::from_secs(2), || !p
        .server("be", "bad")
        .is_up()));
    assert_eq!(status(&p, "be", "bad"), Status::L7Sts);
    assert_eq!(
        p.server("be", "bad").check.code.load(Ordering::Relaxed),
        500
    );
    assert!(wait_until(Duration::from_secs(2), || status(
        &p, "be", "good"
    ) == Status::L7Ok));
    assert!(p.server("be", "good").is_up());
    // The request HAProxy sends: the configured method and URI in HTTP/1.0, no Connection
    // header, and the state header.
    let seen = good.requests();
    let first = seen.first().expect("a check request");
    assert!(
        first.head.starts_with("GET /health HTTP/1.0\r\n"),
        "{}",
        first.head
    );
    assert_eq!(first.header("connection"), None);
    let state = first.header("x-haproxy-server-state").expect("send-state");
    assert!(state.starts_with("UP"), "{state}");
    assert!(
        state.contains(&format!("; port={}; name=be/good; node=", good.port())),
        "{state}"
    );
    // Traffic only reaches the good one.
    for _ in 0..10 {
        let (code, head, _) = exchange(p.addr("fe"), b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        assert_eq!(code, 200);
        assert!(head.contains("x-server: good"), "{head}");
    }
    p.assert_clean();
}

#[test]
fn disable_on_404_puts_the_server_in_nolb_and_back() {
    let code = Arc::new(AtomicU16::new(200));
    let drained = HttpBackend::start(respond_with(code.clone(), "drained"));
    let other = HttpBackend::start(respond_with(Arc::new(AtomicU16::new(200)), "other"));
    let cfg = http_cfg(&format!(
        "backend be\n    option httpchk\n    http-check disable-on-404\n    \
         server drained 127.0.0.1:{} check inter 100 rise 1 fall 2\n    \
         server other 127.0.0.1:{} check inter 100\n",
        drained.port(),
        other.port()
    ));
    let p = Proxy::start(&cfg);
    assert!(wait_until(Duration::from_secs(2), || status(
        &p, "be", "drained"
    ) == Status::L7Ok));
    code.store(404, Ordering::SeqCst);
    let s = || p.server("be", "drained");
    assert!(
        wait_until(Duration::from_secs(2), || s().is_nolb()),
        "never NOLB"
    );
    assert!(s().is_up() && !s().is_usable());
    assert_eq!(status(&p, "be", "drained"), Status::L7OkC);
    for _ in 0..10 {
        let (c, head, _) = exchange(p.addr("fe"), b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        assert_eq!(c, 200);
        assert!(head.contains("x-server: other"), "{head}");
    }
    // 2xx again: back in the farm at once.
    code.store(200, Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(2), || s().is_usable()),
        "never back"
    );
    p.assert_clean();
}

#[test]
fn hung_server_is_caught_by_timeout_check() {
    let hung = Backend::silent();
    let cfg = http_cfg(&format!(
        "backend be\n    option httpchk\n    timeout check 150ms\n    \
         server hung 127.0.0.1:{} check inter 1s fall 1\n",
        hung.port()
    ));
    let p = Proxy::start(&cfg);
    assert!(
        wait_until(Duration::from_secs(3), || !p.server("be", "hung").is_up()),
        "hung server never marked down"
    );
    assert_eq!(status(&p, "be", "hung"), Status::L7Tout);
    // Connected at once, then `timeout check` (not `inter`) bounds the wait for the answer.
    let took = p
        .server("be", "hung")
        .check
        .duration_ms
        .load(Ordering::Relaxed);
    assert!(
        (140..600).contains(&took),
        "check took {took} ms (inter is 1 s)"
    );
    p.assert_clean();
}

#[test]
fn hung_server_without_timeout_check_waits_inter() {
    let hung = Backend::silent();
    let cfg = http_cfg(&format!(
        "backend be\n    option httpchk\n    server hung 127.0.0.1:{} check inter 250 fall 1\n",
        hung.port()
    ));
    let p = Proxy::start(&cfg);
    assert!(wait_until(Duration::from_secs(3), || !p
        .server("be", "hung")
        .is_up()));
    let took = p
        .server("be", "hung")
        .check
        .duration_ms
        .load(Ordering::Relaxed);
    assert!((240..700).contains(&took), "check took {took} ms");
}

#[test]
fn backup_takes_over_and_hands_back() {
    let port = closed_port();
    let primary = PortServer::start(port, 1);
    let backup = Backend::tagged(9);
    let cfg = tcp_cfg(&format!(
        "backend be\n    server s1 127.0.0.1:{port} check inter 100 fall 2 rise 2\n    \
         server b1 127.0.0.1:{} check inter 100 backup\n",
        backup.port()
    ));
    let p = Proxy::start(&cfg);
    let fe = p.addr("fe");
    assert!(wait_until(Duration::from_secs(2), || status(
        &p, "be", "s1"
    ) == Status::L4Ok));
    for _ in 0..5 {
        assert_eq!(tag_of(fe), Some(1));
    }
    drop(primary);
    assert!(
        wait_until(Duration::from_secs(2), || !p.server("be", "s1").is_up()),
        "primary never marked down"
    );
    for _ in 0..10 {
        assert_eq!(tag_of(fe), Some(9), "the backup serves");
    }
    let _primary = PortServer::start(port, 1);
    assert!(
        wait_until(Duration::from_secs(2), || p.server("be", "s1").is_up()),
        "primary never came back"
    );
    for _ in 0..10 {
        assert_eq!(tag_of(fe), Some(1), "handed back");
    }
    p.assert_clean();
}

#[test]
fn a_server_coming_up_takes_streams_from_the_backend_queue() {
    // s1 is full (maxconn 1, slow); s2 fails its HTTP check until `healthy` flips. Requests
    // queued meanwhile go to s2 as soon as its check passes, not when s1 frees a slot.
    let slow = HttpBackend::start(Arc::new(|_: &_| {
        std::thread::sleep(Duration::from_millis(1500));
        b"HTTP/1.1 200 OK\r\nx-server: s1\r\ncontent-length: 0\r\n\r\n".to_vec()
    }));
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let respond: Respond = Arc::new(move |seen| {
        let check = seen.head.starts_with("OPTIONS");
        let status = if check && !h.load(Ordering::SeqCst) {
            500
        } else {
            200
        };
        format!("HTTP/1.1 {status} X\r\nx-server: s2\r\ncontent-length: 0\r\n\r\n").into_bytes()
    });
    let late = HttpBackend::start(respond);
    let proxy = Proxy::start(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout queue 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    option httpchk\n\
\x20   server s1 127.0.0.1:{} maxconn 1\n\
\x20   server s2 127.0.0.1:{} check inter 100ms rise 1 fall 1\n",
        slow.port(),
        late.port()
    ));
    let addr = proxy.addr("fe");
    assert!(wait_until(Duration::from_secs(2), || !proxy
        .server("be", "s2")
        .is_up()));
    let get = move || {
        let raw = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let (status, head, _) = exchange(addr, raw);
        (status, head.contains("x-server: s2"))
    };
    let first = std::thread::spawn(get);
    assert!(
        wait_until(Duration::from_secs(2), || proxy
            .server("be", "s1")
            .conns
            .cur()
            == 1),
        "the first request holds s1"
    );
    let queued: Vec<_> = (0..2).map(|_| std::thread::spawn(get)).collect();
    let st = proxy
        .handle()
        .shared()
        .backend(ravelin::model::BackendId(0))
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(1), || st.queue.len() == 2),
        "queued behind s1"
    );
    let flipped = Instant::now();
    healthy.store(true, Ordering::SeqCst);
    for q in queued {
        assert_eq!(q.join().unwrap(), (200, true), "served by s2");
    }
    assert!(
        flipped.elapsed() < Duration::from_millis(900),
        "taken by s2 once up ({:?}), not after s1's slot",
        flipped.elapsed()
    );
    assert_eq!(first.join().unwrap(), (200, false));
    proxy.assert_clean();
}

#[test]
fn cadence_follows_inter_fastinter_and_downinter() {
    // rise 2 fall 3: fully up → `inter` apart; failing while still up → `fastinter`; down →
    // `downinter`; rising → `fastinter`; back at the top → `inter` (HAProxy's srv_getinter).
    let code = Arc::new(AtomicU16::new(200));
    let times = Arc::new(std::sync::Mutex::new(Vec::<(Instant, u16)>::new()));
    let (c, t) = (code.clone(), times.clone());
    let srv = HttpBackend::start(Arc::new(move |_| {
        let status = c.load(Ordering::SeqCst);
        t.lock().unwrap().push((Instant::now(), status));
        format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n").into_bytes()
    }));
    let p = Proxy::start(&http_cfg(&format!(
        "backend be\n    option httpchk GET /\n    \
         server s {} check inter 600 fastinter 100 downinter 300 rise 2 fall 3\n",
        srv.addr
    )));
    let s = p.server("be", "s");
    let count = |st: u16| times.lock().unwrap().iter().filter(|x| x.1 == st).count();
    assert!(wait_until(Duration::from_secs(5), || count(200) >= 3));
    code.store(500, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || !s.is_usable()));
    assert!(wait_until(Duration::from_secs(5), || count(500) >= 6));
    code.store(200, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || s.is_usable()));
    let ups = count(200);
    assert!(wait_until(Duration::from_secs(5), || count(200) >= ups + 2));
    let seen = times.lock().unwrap().clone();
    let gaps: Vec<(u16, u16, u128)> = seen
        .windows(2)
        .map(|w| (w[0].1, w[1].1, (w[1].0 - w[0].0).as_millis()))
        .collect();
    let in_range = |g: u128, lo: u128, hi: u128| (lo..=hi).contains(&g);
    // Steady state, fully up: `inter` (the gaps between the first 200s after the first one).
    let steady: Vec<u128> = gaps
        .iter()
        .take_while(|g| g.1 == 200)
        .skip(1)
        .map(|g| g.2)
        .collect();
    assert!(!steady.is_empty(), "{gaps:?}");
    assert!(
        steady.iter().all(|&g| in_range(g, 450, 1100)),
        "inter: {gaps:?}"
    );
    // Failing: the 3 failures that take it down are `fastinter` apart...
    let first_fail = gaps.iter().position(|g| g.1 == 500).unwrap();
    let failing: Vec<u128> = gaps[first_fail + 1..first_fail + 3]
        .iter()
        .map(|g| g.2)
        .collect();
    assert!(
        failing.iter().all(|&g| in_range(g, 60, 450)),
        "fastinter: {gaps:?}"
    );
    // ...then, down, `downinter` apart.
    let down: Vec<u128> = gaps[first_fail + 3..]
        .iter()
        .take_while(|g| g.0 == 500 && g.1 == 500)
        .map(|g| g.2)
        .collect();
    assert!(!down.is_empty(), "{gaps:?}");
    assert!(
        down.iter().all(|&g| in_range(g, 220, 800)),
        "downinter: {gaps:?}"
    );
    // Rising: the second success comes `fastinter` after the first.
    let back = gaps.iter().rposition(|g| g.0 == 500 && g.1 == 200).unwrap();
    assert!(in_range(gaps[back + 1].2, 60, 450), "rising: {gaps:?}");
    p.assert_clean();
}
