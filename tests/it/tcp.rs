//! TCP mode: transfers on both paths (splice and copy), half-close, resets, idle timeouts.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::util::backend::Backend;
use crate::util::client::{connect, read_all};
use crate::util::proxy::Proxy;
use crate::util::{Checksum, pattern};

/// A listen section forwarding to `port`; `extra` goes into the section.
fn listen_cfg(port: u16, extra: &str) -> String {
    format!(
        "global\n    nbthread 2\n\
defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 20s\n    timeout server 20s\n\
listen li\n    bind 127.0.0.1:0\n{extra}\n    server s1 127.0.0.1:{port}\n"
    )
}

/// Sends `total` bytes and reads the echo back concurrently; compares checksums.
fn echo_transfer(proxy: &Proxy, total: usize) {
    let mut s = connect(proxy.addr("li"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut sent = Checksum::new();
        let chunk = 1 << 20;
        let mut off = 0;
        while off < total {
            let n = chunk.min(total - off);
            let data = pattern(off as u64 + 1, n);
            w.write_all(&data).unwrap();
            sent.feed(&data);
            off += n;
        }
        w.shutdown(Shutdown::Write).unwrap();
        sent
    });
    let mut got = Checksum::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = s.read(&mut buf).expect("read echo");
        if n == 0 {
            break;
        }
        got.feed(&buf[..n]);
    }
    let sent = writer.join().unwrap();
    assert_eq!(got.1, total as u64, "byte count");
    assert_eq!(got, sent, "checksum");
}

const BIG: usize = 64 << 20;

#[test]
fn transfer_64mib_each_way_splice() {
    let be = Backend::echo();
    let proxy = Proxy::start(&listen_cfg(
        be.port(),
        "    option splice-request\n    option splice-response",
    ));
    echo_transfer(&proxy, BIG);
    proxy.assert_clean();
}

#[test]
fn transfer_64mib_each_way_copy() {
    let be = Backend::echo();
    let proxy = Proxy::start(&listen_cfg(
        be.port(),
        "    no option splice-request\n    no option splice-response",
    ));
    echo_transfer(&proxy, BIG);
    proxy.assert_clean();
}

#[test]
fn transfer_auto_splice_switches_mid_stream() {
    // No splice option: Ravelin starts copying and moves to splice once reads keep filling the
    // buffer; the switch must not reorder or lose a byte.
    let be = Backend::echo();
    let proxy = Proxy::start(&listen_cfg(be.port(), ""));
    echo_transfer(&proxy, 16 << 20);
    proxy.assert_clean();
}

#[test]
fn transfer_with_small_buffers_and_global_nosplice() {
    let be = Backend::echo();
    let cfg = listen_cfg(be.port(), "")
        .replace("global\n", "global\n    nosplice\n    tune.bufsize 1024\n");
    let proxy = Proxy::start(&cfg);
    echo_transfer(&proxy, 4 << 20);
    proxy.assert_clean();
}

fn half_close_client_first(extra: &str) {
    // The server reads to EOF, then answers with what it counted, then closes.
    let be = Backend::start(std::sync::Arc::new(|mut s: std::net::TcpStream| {
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(format!("got {}", v.len()).as_bytes()).unwrap();
    }));
    let proxy = Proxy::start(&listen_cfg(be.port(), extra));
    let mut c = connect(proxy.addr("li"));
    c.write_all(&[7u8; 100_000]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(&mut c).unwrap(), b"got 100000");
    proxy.assert_clean();
}

#[test]
fn half_close_from_client_keeps_response_flowing() {
    half_close_client_first("");
    half_close_client_first("    no option splice-request\n    no option splice-response");
}

#[test]
fn half_close_from_server_keeps_request_flowing() {
    // The server sends a greeting and half-closes at once, then reads the client's data.
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let be = Backend::start(std::sync::Arc::new(move |mut s: std::net::TcpStream| {
        s.write_all(b"hello").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        tx.lock().unwrap().send(v).unwrap();
    }));
    let proxy = Proxy::start(&listen_cfg(be.port(), ""));
    let mut c = connect(proxy.addr("li"));
    let mut greet = Vec::new();
    c.read_to_end(&mut greet).unwrap();
    assert_eq!(
        greet, b"hello",
        "server's FIN reached the client after its data"
    );
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"late data").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        b"late data"
    );
    proxy.assert_clean();
}

#[test]
fn server_reset_reaches_client_as_reset() {
    let be = Backend::start(std::sync::Arc::new(|s: std::net::TcpStream| {
        let mut s = s;
        let mut b = [0u8; 4];
        let _ = s.read(&mut b);
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
    }));
    let proxy = Proxy::start(&listen_cfg(be.port(), ""));
    let mut c = connect(proxy.addr("li"));
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 16];
    let r = c.read(&mut buf);
    assert!(
        matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "expected a reset, got {r:?}"
    );
    proxy.assert_clean();
}

#[test]
fn client_idle_timeout_closes() {
    let be = Backend::silent();
    let cfg = listen_cfg(be.port(), "").replace("timeout client 20s", "timeout client 300ms");
    let proxy = Proxy::start(&cfg);
    let mut c = connect(proxy.addr("li"));
    let t0 = Instant::now();
    let got = read_all(&mut c);
    let took = t0.elapsed();
    assert!(matches!(got.as_deref(), Ok(b"")), "{got:?}");
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    proxy.assert_clean();
}

#[test]
fn server_idle_timeout_closes() {
    let be = Backend::silent();
    let cfg = listen_cfg(be.port(), "").replace("timeout server 20s", "timeout server 300ms");
    let proxy = Proxy::start(&cfg);
    let mut c = connect(proxy.addr("li"));
    let t0 = Instant::now();
    let _ = read_all(&mut c);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    proxy.assert_clean();
}

#[test]
fn activity_refreshes_idle_timeout() {
    let be = Backend::echo();
    let cfg = listen_cfg(be.port(), "").replace("timeout client 20s", "timeout client 400ms");
    let proxy = Proxy::start(&cfg);
    let mut c = connect(proxy.addr("li"));
    // 1.2 s of traffic, one exchange every 150 ms: longer than the timeout, never idle for it.
    for _ in 0..8 {
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    drop(c);
    proxy.assert_clean();
}

#[test]
fn tunnel_timeout_overrides_client_and_server() {
    let be = Backend::silent();
    let cfg = listen_cfg(be.port(), "    timeout tunnel 500ms")
        .replace("timeout client 20s", "timeout client 100ms")
        .replace("timeout server 20s", "timeout server 100ms");
    let proxy = Proxy::start(&cfg);
    let mut c = connect(proxy.addr("li"));
    let t0 = Instant::now();
    let _ = read_all(&mut c);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    proxy.assert_clean();
}

#[test]
fn client_fin_timeout_applies_once_half_closed() {
    // The server never answers nor closes; the client half-closes: client-fin cuts it short.
    let be = Backend::silent();
    let cfg = listen_cfg(
        be.port(),
        "    timeout client-fin 200ms\n    timeout server-fin 200ms",
    );
    let proxy = Proxy::start(&cfg);
    let mut c = connect(proxy.addr("li"));
    c.shutdown(Shutdown::Write).unwrap();
    let t0 = Instant::now();
    let _ = read_all(&mut c);
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(3000), "{took:?}");
    proxy.assert_clean();
}

#[test]
fn unix_socket_server() {
    let dir = crate::util::bin::TempDir::new("unix");
    let path = dir.0.join("echo.sock");
    let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        s.write_all(&v).unwrap();
    });
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
listen li\n    bind 127.0.0.1:0\n    server u unix@{}\n",
        path.display()
    );
    let proxy = Proxy::start(&cfg);
    let mut c = connect(proxy.addr("li"));
    c.write_all(b"via unix").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(&mut c).unwrap(), b"via unix");
    t.join().unwrap();
    proxy.assert_clean();
}

#[test]
fn server_without_port_uses_client_port_and_offsets() {
    // Bind the proxy on a fixed free port P and a server at P+1 (offset form).
    let be = Backend::echo();
    let p = be.port() - 1;
    if std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
        return; // port taken by someone else: nothing to check here
    }
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
listen li\n    bind 127.0.0.1:{p}\n    server s 127.0.0.1:+1\n"
    );
    let proxy = Proxy::start(&cfg);
    let mut c = connect(proxy.addr("li"));
    c.write_all(b"offset").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(&mut c).unwrap(), b"offset");
    proxy.assert_clean();
}
