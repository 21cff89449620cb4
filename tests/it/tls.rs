//! TLS at the edge through real sockets: certificates made by the test (rcgen), a rustls
//! client, SNI selection (exact, wildcard, default), ALPN, client certificates, resumption,
//! `ssl_fc` rules, handshake failures, large responses, and the configuration's alerts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::util::bin::TempDir;
use crate::util::http_backend::{HttpBackend, ok};
use crate::util::proxy::Proxy;

/// A CA and leaf certificates it signed, written as HAProxy PEM files (chain + key).
struct Pki {
    dir: TempDir,
    ca_key: KeyPair,
    ca_params: CertificateParams,
    ca_der: CertificateDer<'static>,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = TempDir::new(tag);
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Ravelin test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.0.join("ca.pem"), ca.pem()).unwrap();
        Pki {
            ca_der: ca.der().clone(),
            dir,
            ca_key,
            ca_params,
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.0.join("ca.pem")
    }

    /// A leaf for `names` (SANs) written to `file`; returns its DER and its PEM path.
    fn leaf(&self, file: &str, names: &[&str]) -> (CertificateDer<'static>, PathBuf) {
        self.leaf_with(file, names, |_| {})
    }

    fn leaf_with(
        &self,
        file: &str,
        names: &[&str],
        tweak: impl FnOnce(&mut CertificateParams),
    ) -> (CertificateDer<'static>, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        tweak(&mut params);
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let path = self.dir.0.join(file);
        std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
        (cert.der().clone(), path)
    }

    fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut c = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A finished TLS connection to `addr` with `sni`.
fn connect(cfg: &Arc<rustls::ClientConfig>, addr: SocketAddr, sni: &str) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from(sni.to_string()).map_err(std::io::Error::other)?;
    let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// One keep-alive GET on `s`: (status, head, body).
fn get(s: &mut Tls, path: &str) -> (u16, String, Vec<u8>) {
    write!(s, "GET {path} HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    s.flush().unwrap();
    crate::util::http_backend::read_response(&mut std::io::BufReader::new(s))
}

fn cfg(binds: &str, extra: &str, backend_port: u16) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 2s\n\
frontend fe\n{binds}{extra}    default_backend be\n\
backend be\n    server s1 127.0.0.1:{backend_port}\n"
    )
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn sni_picks_exact_wildcard_and_default_certificates() {
    let pki = Pki::new("tls-sni");
    let (default_der, default_pem) = pki.leaf("default.pem", &["default.test"]);
    let (a_der, a_pem) = pki.leaf("a.pem", &["a.test"]);
    let (w_der, w_pem) = pki.leaf("w.pem", &["*.wild.test"]);
    let be = HttpBackend::start(ok("s1", "hello"));
    let text = cfg(
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} crt {} crt {} alpn h2,http/1.1\n",
            p(&default_pem),
            p(&a_pem),
            p(&w_pem)
        ),
        "    http-request set-header x-sni %[ssl_fc_sni]\n    http-request set-header x-proto %[ssl_fc_protocol]\n",
        be.port(),
    );
    let proxy = Proxy::start(&text);
    let addr = proxy.addr("fe");
    let client = pki.client_config(&[b"h2", b"http/1.1"]);
    for (sni, want) in [
        ("a.test", &a_der),
        ("x.wild.test", &w_der),
        ("default.test", &default_der),
    ] {
        let mut s = connect(&client, addr, sni).unwrap();
        let leaf = s.conn.peer_certificates().and_then(|c| c.first()).cloned();
        assert_eq!(leaf.as_ref(), Some(want), "{sni}");
        assert_eq!(
            s.conn.alpn_protocol(),
            Some(&b"http/1.1"[..]),
            "h2 is never agreed"
        );
        let (status, _, body) = get(&mut s, "/");
        assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
        let (status, ..) = get(&mut s, "/again");
        assert_eq!(status, 200, "keep-alive over TLS");
    }
    // An unknown name gets the first certificate (which the client then rejects by name).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    assert!(connect(&client, addr, "other.test").is_err());
    let seen = be.requests();
    let snis: Vec<String> = seen.iter().filter_map(|r| r.header("x-sni")).collect();
    assert!(snis.contains(&"a.test".to_string()) && snis.contains(&"x.wild.test".to_string()));
    assert!(
        seen.iter()
            .all(|r| r.header("x-proto").as_deref() == Some("TLSv1.3"))
    );
    proxy.assert_clean();
}

#[test]
fn ssl_fc_redirects_clear_requests_and_forwarded_proto_is_set() {
    let pki = Pki::new("tls-redirect");
    let (_, pem) = pki.leaf("site.pem", &["site.test"]);
    let be = HttpBackend::start(ok("s1", "hello"));
    let rules = "    http-request redirect scheme https if !{ ssl_fc }\n    http-request set-header X-Forwarded-Proto https if { ssl_fc }\n    default_backend be\n";
    let text = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend clear\n    bind 127.0.0.1:0\n{rules}\
frontend secure\n    bind 127.0.0.1:0 ssl crt {}\n{rules}\
backend be\n    server s1 127.0.0.1:{}\n",
        p(&pem),
        be.port()
    );
    let proxy = Proxy::start(&text);
    let (clear, tls) = (proxy.addr("clear"), proxy.addr("secure"));
    let (status, head, _) =
        crate::util::http_backend::exchange(clear, b"GET /x HTTP/1.1\r\nhost: site.test\r\n\r\n");
    assert_eq!(status, 302, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("location: https://site.test/x"),
        "{head}"
    );
    let mut s = connect(&pki.client_config(&[]), tls, "site.test").unwrap();
    let (status, ..) = get(&mut s, "/x");
    assert_eq!(status, 200);
    assert_eq!(
        be.requests()
            .last()
            .and_then(|r| r.header("x-forwarded-proto")),
        Some("https".to_string())
    );
    drop(s);
    proxy.assert_clean();
}

#[test]
fn client_certificates_are_verified_against_the_ca_file() {
    let pki = Pki::new("tls-verify");
    let (_, pem) = pki.leaf("site.pem", &["site.test"]);
    let be = HttpBackend::start(ok("s1", "hello"));
    let text = cfg(
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} verify required ca-file {}\n",
            p(&pem),
            p(&pki.ca_file())
        ),
        "",
        be.port(),
    );
    let proxy = Proxy::start(&text);
    let addr = proxy.addr("fe");
    // Without a certificate: refused (TLS 1.3 reports it on the first read).
    let refused = connect(&pki.client_config(&[]), addr, "site.test").and_then(|mut s| {
        write!(s, "GET / HTTP/1.1\r\nhost: t\r\n\r\n")?;
        let mut b = [0u8; 64];
        s.read(&mut b)
    });
    assert!(
        !matches!(refused, Ok(n) if n > 0),
        "no answer without a client certificate"
    );
    // With one the CA signed: served.
    let (cert_der, cert_pem) = pki.leaf("client.pem", &["client.test"]);
    let text_pem = std::fs::read_to_string(&cert_pem).unwrap();
    let key = PrivateKeyDer::from_pem_slice(text_pem.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let with_cert = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![cert_der], key)
            .unwrap(),
    );
    let mut s = connect(&with_cert, addr, "site.test").unwrap();
    let (status, ..) = get(&mut s, "/");
    assert_eq!(status, 200);
    let failed = proxy.handle().shared().frontends[0]
        .ssl_failed
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(failed >= 1, "the refused handshake is counted");
    drop(s);
    proxy.assert_clean();
}

use rustls::pki_types::pem::PemObject;

#[test]
fn sessions_resume_and_are_counted() {
    let pki = Pki::new("tls-resume");
    let (_, pem) = pki.leaf("site.pem", &["site.test"]);
    let be = HttpBackend::start(ok("s1", "hello"));
    let text = cfg(
        &format!("    bind 127.0.0.1:0 ssl crt {}\n", p(&pem)),
        "",
        be.port(),
    );
    let proxy = Proxy::start(&text);
    let addr = proxy.addr("fe");
    let client = pki.client_config(&[]);
    for round in 0..3 {
        let mut s = connect(&client, addr, "site.test").unwrap();
        let (status, ..) = get(&mut s, "/");
        assert_eq!(status, 200);
        if round > 0 {
            assert_eq!(
                s.conn.handshake_kind(),
                Some(rustls::HandshakeKind::Resumed),
                "round {round} resumes"
            );
        }
    }
    let f = &proxy.handle().shared().frontends[0];
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(f.ssl_sess.load(Relaxed), 3);
    assert_eq!(f.ssl_reused.load(Relaxed), 2);
    proxy.assert_clean();
}

#[test]
fn bad_hellos_fail_alone_and_are_logged_and_large_responses_arrive_whole() {
    let pki = Pki::new("tls-bad");
    let (_, pem) = pki.leaf("site.pem", &["site.test"]);
    let big: &'static str = Box::leak("x".repeat(1_500_000).into_boxed_str());
    let be = HttpBackend::start(ok("s1", big));
    let log_path = pki.dir.0.join("log.sock");
    let log = std::os::unix::net::UnixDatagram::bind(&log_path).unwrap();
    log.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let text = format!(
        "global\n    log {} local0\ndefaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 500ms\n\
frontend fe\n    bind 127.0.0.1:0 ssl crt {} alpn http/1.1\n    default_backend be\n\
backend be\n    server s1 127.0.0.1:{}\n",
        p(&log_path),
        p(&pem),
        be.port()
    );
    let proxy = Proxy::start(&text);
    let addr = proxy.addr("fe");
    let client = pki.client_config(&[]);
    // A healthy connection open while others fail.
    let mut good = connect(&client, addr, "site.test").unwrap();
    // Plain HTTP on the TLS port, garbage, and a client offering only h2.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink);
    assert!(
        !sink.starts_with(b"HTTP/1.1 200"),
        "no clear answer on a TLS port"
    );
    let mut junk = TcpStream::connect(addr).unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    junk.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .unwrap();
    let _ = junk.read_to_end(&mut sink);
    assert!(connect(&pki.client_config(&[b"h2"]), addr, "site.test").is_err());
    // The healthy one is served, 1.5 MB whole, twice.
    for _ in 0..2 {
        let (status, _, body) = get(&mut good, "/");
        assert_eq!(status, 200);
        assert_eq!(body.len(), big.len());
    }
    // A client that connects and says nothing: closed after `timeout http-request`.
    let mut silent = TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t0 = std::time::Instant::now();
    let _ = silent.read_to_end(&mut sink);
    assert!(t0.elapsed() < Duration::from_secs(3));
    let failed = proxy.handle().shared().frontends[0]
        .ssl_failed
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        failed >= 4,
        "plain, junk, h2-only and silent counted: {failed}"
    );
    // HAProxy's lines for them: `SRC:PORT [DATE] fe/1: ...`.
    let mut lines = Vec::new();
    let mut b = [0u8; 2048];
    while let Ok(n) = log.recv(&mut b) {
        lines.push(String::from_utf8_lossy(&b[..n]).into_owned());
        if lines
            .iter()
            .any(|l| l.contains("Timeout during SSL handshake"))
        {
            break;
        }
    }
    let fails = lines
        .iter()
        .filter(|l| l.contains(" fe/1: SSL handshake failure"))
        .count();
    assert!(fails >= 3, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" fe/1: Timeout during SSL handshake")),
        "{lines:#?}"
    );
    drop(good);
    proxy.assert_clean();
}

/// Configuration problems: each is an alert with HAProxy's words, nothing starts.
#[test]
fn certificate_and_setting_problems_are_alerts() {
    let pki = Pki::new("tls-config");
    let (_, good) = pki.leaf("good.pem", &["good.test"]);
    let (_, expired) = pki.leaf_with("expired.pem", &["old.test"], |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    // A certificate with another certificate's key.
    let (_, other) = pki.leaf("other.pem", &["other.test"]);
    let good_text = std::fs::read_to_string(&good).unwrap();
    let other_text = std::fs::read_to_string(&other).unwrap();
    let cert_only = good_text
        .split("-----BEGIN PRIVATE KEY-----")
        .next()
        .unwrap()
        .to_string();
    let other_key = format!(
        "-----BEGIN PRIVATE KEY-----{}",
        other_text
            .split("-----BEGIN PRIVATE KEY-----")
            .nth(1)
            .unwrap()
    );
    let mismatch = pki.dir.0.join("mismatch.pem");
    std::fs::write(&mismatch, format!("{cert_only}{other_key}")).unwrap();
    let nokey = pki.dir.0.join("nokey.pem");
    std::fs::write(&nokey, &cert_only).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            "ssl crt /nonexistent/x.pem".into(),
            "unable to stat SSL certificate from file '/nonexistent/x.pem' : No such file or directory.",
        ),
        (
            format!("ssl crt {}", p(&mismatch)),
            "inconsistencies between private key and certificate loaded",
        ),
        (format!("ssl crt {}", p(&nokey)), "No Private Key found in"),
        (format!("ssl crt {}", p(&expired)), "expired on 2021-01-01"),
        ("ssl".into(), "no SSL certificate specified for bind"),
        (
            format!("ssl crt {} verify required", p(&good)),
            "verify is enabled but no CA file specified",
        ),
        (
            format!("ssl crt {} ssl-min-ver TLSv1.9", p(&good)),
            "'TLSv1.9' : unknown ssl/tls version",
        ),
        (
            format!("ssl crt {} ciphers FOO", p(&good)),
            "unable to set SSL cipher list to 'FOO'",
        ),
        (
            format!("ssl crt {} ca-file /nonexistent/ca.pem", p(&good)),
            "Couldn't open the ca-file '/nonexistent/ca.pem' (No such file or directory).",
        ),
    ];
    for (bind, want) in cases {
        let text = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:9 {bind}\n    default_backend be\nbackend be\n    server s 127.0.0.1:1\n"
        );
        let alerts = match ravelin::config::load_str("t.cfg", &text) {
            Ok(_) => panic!("{bind}: accepted"),
            Err(e) => e.alerts,
        };
        assert!(
            alerts.iter().any(|a| a.contains(want)),
            "{bind}: {alerts:?}"
        );
    }
    // TLS on a unix socket bind, and send-proxy with ssl to a server: not supported yet.
    for (bind, server) in [
        (
            "/tmp/ravelin-tls-test.sock ssl crt GOOD",
            "server s 127.0.0.1:1",
        ),
        (
            "127.0.0.1:9",
            "server s 127.0.0.1:1 ssl verify none send-proxy",
        ),
    ] {
        let text = format!(
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind {}\n    default_backend be\nbackend be\n    {server}\n",
            bind.replace("GOOD", &p(&good))
        );
        assert!(
            ravelin::config::load_str("t.cfg", &text).is_err(),
            "{bind} / {server}"
        );
    }
    // The good one loads, with global defaults applied.
    let text = format!(
        "global\n    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:9 ssl crt {}\n    default_backend be\nbackend be\n    server s 127.0.0.1:1\n",
        p(&good)
    );
    if let Err(e) = ravelin::config::load_str("t.cfg", &text) {
        panic!("{:?}", e.alerts);
    }
}

/// `accept-proxy` and `ssl` on one bind: the PROXY header comes in clear, then TLS; the
/// header's client address is the one the backend sees.
#[test]
fn proxy_header_then_tls_on_one_bind() {
    let pki = Pki::new("tls-proxy");
    let (_, pem) = pki.leaf("site.pem", &["site.test"]);
    let be = HttpBackend::start(ok("s1", "hello"));
    let text = cfg(
        &format!("    bind 127.0.0.1:0 accept-proxy ssl crt {}\n", p(&pem)),
        "    option forwardfor\n",
        be.port(),
    );
    let proxy = Proxy::start(&text);
    let addr = proxy.addr("fe");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 443\r\n")
        .unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = rustls::ClientConnection::new(
        pki.client_config(&[]),
        ServerName::try_from("site.test").unwrap(),
    )
    .unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let (status, _, body) = get(&mut s, "/");
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(
        be.requests()
            .last()
            .and_then(|r| r.header("x-forwarded-for")),
        Some("192.0.2.7".to_string())
    );
    drop(s);
    proxy.assert_clean();
}

/// TLS to servers: a Ravelin TLS frontend plays the server. Verification against the CA with
/// the SNI name, `verify none` for a certificate the CA did not sign, and server connections
/// reused over TLS (one handshake for many client connections with `http-reuse always`).
#[test]
fn tls_to_servers_verified_and_reused() {
    let pki = Pki::new("tls-upstream");
    let (_, pem) = pki.leaf("site.pem", &["site.test"]);
    let other = Pki::new("tls-upstream-other");
    let (_, foreign) = other.leaf("foreign.pem", &["site.test"]);
    let origin_cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend origin\n    bind 127.0.0.1:0 ssl crt {}\n    http-request deny unless {{ ssl_fc_sni site.test }}\n    http-request return status 200 content-type text/plain string tls-ok\n\
frontend foreign\n    bind 127.0.0.1:0 ssl crt {}\n    http-request return status 200 content-type text/plain string foreign\n",
        p(&pem),
        p(&foreign)
    );
    let origin = Proxy::start(&origin_cfg);
    let (o, f) = (origin.addr("origin"), origin.addr("foreign"));
    // One reactor: its idle pool holds the one server connection.
    let edge_cfg = format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    retries 0\n\
frontend fe\n    bind 127.0.0.1:0\n    use_backend bad if {{ path /bad }}\n    use_backend none if {{ path /none }}\n    default_backend good\n\
backend good\n    http-reuse always\n    server s1 {o} ssl verify required ca-file {} sni str(site.test)\n\
backend bad\n    server s1 {f} ssl verify required ca-file {} sni str(site.test)\n\
backend none\n    server s1 {f} ssl verify none\n",
        p(&pki.ca_file()),
        p(&pki.ca_file())
    );
    let edge = Proxy::start(&edge_cfg);
    let fe = edge.addr("fe");
    for _ in 0..5 {
        let (status, head, body) = crate::util::http_backend::exchange(
            fe,
            b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        );
        assert_eq!((status, body.as_slice()), (200, &b"tls-ok"[..]));
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "the server saw the SNI: {head}"
        );
    }
    use std::sync::atomic::Ordering::Relaxed;
    let handshakes = origin.handle().shared().frontends[0].ssl_sess.load(Relaxed);
    assert_eq!(handshakes, 1, "five requests, one TLS connection reused");
    // The CA did not sign this one: refused with verification, accepted without.
    let (status, ..) = crate::util::http_backend::exchange(
        fe,
        b"GET /bad HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(status == 502 || status == 503, "{status}");
    let (status, _, body) = crate::util::http_backend::exchange(
        fe,
        b"GET /none HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!((status, body.as_slice()), (200, &b"foreign"[..]));
    // Configuration: `ssl` alone is HAProxy's alert.
    let text = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nbackend b\n    server s1 127.0.0.1:1 ssl\n";
    let alerts = ravelin::config::load_str("t.cfg", text)
        .err()
        .map(|e| e.alerts)
        .unwrap_or_default();
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("verify is enabled by default but no CA file specified")),
        "{alerts:?}"
    );
    edge.assert_clean();
}

/// A WebSocket tunnel over a TLS client connection: megabytes each way arrive intact and
/// encrypted (the tunnel copies; splicing would move raw socket bytes past TLS).
#[test]
fn websocket_tunnel_over_tls_moves_megabytes_both_ways() {
    use std::io::BufRead;
    let pki = Pki::new("tls-ws");
    let (_, pem) = pki.leaf("site.pem", &["site.test"]);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((s, _)) = l.accept() else { return };
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let _ = w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        let mut buf = [0u8; 65536];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let text = cfg(
        &format!("    bind 127.0.0.1:0 ssl crt {}\n", p(&pem)),
        "",
        port,
    );
    let proxy = Proxy::start(&text);
    let mut s = connect(&pki.client_config(&[]), proxy.addr("fe"), "site.test").unwrap();
    write!(
        s,
        "GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
    )
    .unwrap();
    s.flush().unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "response head");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // 4 MiB through the echo, written and read in turns so neither side blocks for long.
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut got = vec![0u8; chunk.len()];
    for _ in 0..64 {
        s.write_all(&chunk).unwrap();
        s.flush().unwrap();
        s.read_exact(&mut got).unwrap();
        assert!(got == chunk, "echoed bytes intact");
    }
    drop(s);
    proxy.assert_clean();
}

/// `set ssl cert` + `commit ssl cert` on the runtime API: new handshakes get the new
/// certificate, a connection established before keeps working; HAProxy's messages.
#[test]
fn certificate_replaced_at_run_time_without_dropping_connections() {
    use std::os::unix::net::UnixStream;
    let pki = Pki::new("tls-renew");
    let (old_der, pem) = pki.leaf("site.pem", &["site.test"]);
    let be = HttpBackend::start(ok("s1", "hello"));
    let sock = pki.dir.0.join("admin.sock");
    let text = format!(
        "global\n    stats socket {} level admin\n{}",
        p(&sock),
        cfg(
            &format!("    bind 127.0.0.1:0 ssl crt {}\n", p(&pem)),
            "",
            be.port()
        )
    );
    let proxy = Proxy::start(&text);
    let addr = proxy.addr("fe");
    let cli = |line: &str| {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(line.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let client = pki.client_config(&[]);
    let mut before = connect(&client, addr, "site.test").unwrap();
    assert_eq!(
        before
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned(),
        Some(old_der.clone())
    );
    assert_eq!(get(&mut before, "/").0, 200);
    let (new_der, new_pem) = pki.leaf("renewed.pem", &["site.test"]);
    let payload = std::fs::read_to_string(&new_pem).unwrap();
    let path = p(&pem);
    assert_eq!(
        cli(&format!("set ssl cert {path} <<\n{payload}\n")),
        format!("Transaction created for certificate {path}!\n\n")
    );
    // Not committed yet: still the old one.
    let s = connect(&pki.client_config(&[]), addr, "site.test").unwrap();
    assert_eq!(
        s.conn.peer_certificates().and_then(|c| c.first()).cloned(),
        Some(old_der)
    );
    drop(s);
    assert_eq!(
        cli(&format!("commit ssl cert {path}\n")),
        format!("Committing {path}.\nSuccess!\n\n")
    );
    // A fresh client (a resumed session would not show the server's certificate again).
    let mut after = connect(&pki.client_config(&[]), addr, "site.test").unwrap();
    assert_eq!(
        after
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned(),
        Some(new_der)
    );
    assert_eq!(get(&mut after, "/").0, 200);
    assert_eq!(
        get(&mut before, "/again").0,
        200,
        "the older connection goes on"
    );
    assert_eq!(
        cli(&format!("commit ssl cert {path}\n")),
        format!("No ongoing transaction! !\nCan't commit {path}!\n\n")
    );
    assert_eq!(
        cli(&format!("set ssl cert /nope.pem <<\n{payload}\n")),
        "Can't replace a certificate which is not referenced by the configuration!\nCan't update /nope.pem!\n\n"
    );
    assert_eq!(
        cli(&format!("set ssl cert {path} <<\ngarbage\n\n")),
        format!(
            "unable to load certificate from file '{path}'.\nCan't load the payload\nCan't update {path}!\n\n"
        )
    );
    drop((before, after));
    proxy.assert_clean();
}

/// TLS in `mode tcp`: a TLS bind in front of a TCP echo server, and a TCP proxy that speaks
/// TLS to its server (a Ravelin HTTP TLS frontend): bytes arrive intact both ways.
#[test]
fn tls_in_tcp_mode_both_sides() {
    use crate::util::backend::Backend;
    let pki = Pki::new("tls-tcp");
    let (_, pem) = pki.leaf("site.pem", &["site.test"]);
    let echo = Backend::echo();
    let text = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend tls_in\n    bind 127.0.0.1:0 ssl crt {}\n    default_backend echo\n\
backend echo\n    server s1 127.0.0.1:{}\n",
        p(&pem),
        echo.port()
    );
    let proxy = Proxy::start(&text);
    let mut s = connect(&pki.client_config(&[]), proxy.addr("tls_in"), "site.test").unwrap();
    let chunk: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    s.write_all(&chunk).unwrap();
    s.flush().unwrap();
    let mut got = vec![0u8; chunk.len()];
    s.read_exact(&mut got).unwrap();
    assert!(got == chunk, "echoed through TLS in tcp mode");
    drop(s);
    // A client that is not TLS: closed, counted as a failed handshake.
    let mut junk = TcpStream::connect(proxy.addr("tls_in")).unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut sink = Vec::new();
    let _ = junk.read_to_end(&mut sink);
    let sh = proxy.handle().shared().clone();
    assert!(crate::util::wait_until(Duration::from_secs(5), || {
        sh.frontends[0]
            .ssl_failed
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    }));
    proxy.assert_clean();
    // TLS to the server in tcp mode: clear HTTP in, TLS out to an HTTPS origin.
    let origin = Proxy::start(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend origin\n    bind 127.0.0.1:0 ssl crt {}\n    http-request return status 200 content-type text/plain string via-tls\n",
        p(&pem)
    ));
    let edge = Proxy::start(&format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n    server s1 {} ssl verify required ca-file {} sni str(site.test)\n",
        origin.addr("origin"),
        p(&pki.ca_file())
    ));
    let (status, _, body) = crate::util::http_backend::exchange(
        edge.addr("fe"),
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!((status, body.as_slice()), (200, &b"via-tls"[..]));
    edge.assert_clean();
}
