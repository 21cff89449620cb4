//! The runtime API through real unix sockets: texts, levels, prompt mode, and changes seen by
//! the traffic of every reactor.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::backend::Backend;
use crate::util::bin::TempDir;
use crate::util::client::{connect, tag_of};
use crate::util::proxy::Proxy;
use crate::util::wait_until;

/// Sends one line and reads the answer until the API closes the connection.
fn cli(path: &Path, line: &str) -> String {
    let mut s = UnixStream::connect(path).expect("connect to the stats socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("answer");
    out
}

/// Reads until `end` shows up in what was read (bounded by the read timeout).
fn read_until(s: &mut UnixStream, end: &str) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    for _ in 0..1000 {
        if String::from_utf8_lossy(&got).ends_with(end) {
            break;
        }
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

struct Setup {
    proxy: Proxy,
    dir: TempDir,
}

impl Setup {
    fn sock(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }
    fn admin(&self, line: &str) -> String {
        cli(&self.sock("admin.sock"), line)
    }
}

/// A proxy with three CLI sockets (admin, operator by default, user) over `servers`.
fn setup(servers: &str, extra_global: &str) -> Setup {
    let dir = TempDir::new("api");
    let d = dir.0.display();
    let cfg = format!(
        "global\n    nbthread 2\n    stats socket {d}/admin.sock level admin mode 600\n    stats socket {d}/oper.sock\n    stats socket {d}/user.sock level user\n{extra_global}\
defaults\n    mode tcp\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
backend be\n{servers}\n"
    );
    Setup {
        proxy: Proxy::start(&cfg),
        dir,
    }
}

fn two_tagged() -> (Backend, Backend, String) {
    let (a, b) = (Backend::tagged(1), Backend::tagged(2));
    let servers = format!(
        "    server a 127.0.0.1:{}\n    server b 127.0.0.1:{}",
        a.port(),
        b.port()
    );
    (a, b, servers)
}

fn counts(proxy: &Proxy, n: usize) -> [usize; 4] {
    let mut c = [0usize; 4];
    for _ in 0..n {
        if let Some(t) = tag_of(proxy.addr("fe")) {
            c[usize::from(t).min(3)] += 1;
        }
    }
    c
}

#[test]
fn help_unknown_and_errors_as_haproxy() {
    let (_a, _b, servers) = two_tagged();
    let s = setup(&servers, "");
    let help = s.admin("help");
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    assert!(help.contains(
        "  set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl\n"
    ));
    assert!(help.ends_with("  quit                                    : disconnect\n\n"));
    let unknown = s.admin("foo");
    assert!(
        unknown.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        ),
        "{unknown}"
    );
    assert!(
        s.admin("")
            .starts_with("Unknown command. Please enter one of the following commands only:\n")
    );
    assert_eq!(
        s.admin("set server be/zz state maint"),
        "No such server.\n\n"
    );
    assert_eq!(
        s.admin("set server be state maint"),
        "Require 'backend/server'.\n\n"
    );
    assert_eq!(
        s.admin("set server x/a state maint"),
        "No such backend.\n\n"
    );
    assert_eq!(
        s.admin("set server be/a weight 300"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(
        s.admin("set server be/a weight"),
        "Require <weight> or <weight%>.\n\n"
    );
    assert_eq!(
        s.admin("set server be/a state foo"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    assert_eq!(
        s.admin("set server be/a health foo"),
        "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n"
    );
    assert_eq!(
        s.admin("set server be/a agent up"),
        "agent checks are not enabled on this server.\n\n"
    );
    assert_eq!(
        s.admin("enable health be/a"),
        "Health check was not configured on this server, cannot enable.\n\n"
    );
    assert_eq!(s.admin("get weight be/a"), "1 (initial 1)\n\n");
    assert_eq!(
        s.admin("show servers state nope"),
        "Can't find backend.\n\n"
    );
    assert_eq!(s.admin("show backend"), "# name\nbe\n\n");
    assert_eq!(
        s.admin("set maxconn frontend zz 10"),
        "No such frontend.\n\n"
    );
    assert_eq!(
        s.admin("set maxconn global"),
        "Expects an integer value.\n\n"
    );
    assert_eq!(s.admin("set maxconn server be/a"), "Require <maxconn>.\n\n");
    assert_eq!(
        s.admin("set maxconn server be/a abc"),
        "maxconn string empty or preceded by garbage\n"
    );
    assert_eq!(s.admin("show errors zz"), "No such proxy.\n\n");
    assert_eq!(s.admin("show sess 0x1"), "Session not found.\n\n");
    assert_eq!(
        s.admin("shutdown session 0x1"),
        "No such session (use 'show sess').\n\n"
    );
    // Several commands on one line, each answer followed by an empty line; `quit` ends it.
    assert_eq!(
        s.admin("show backend;show cli level"),
        "# name\nbe\n\nadmin\n\n"
    );
    assert_eq!(s.admin("show backend;quit;show backend"), "# name\nbe\n\n");
    s.proxy.assert_clean();
}

#[test]
fn levels_restrict_commands() {
    let (_a, _b, servers) = two_tagged();
    let s = setup(&servers, "");
    let user = s.sock("user.sock");
    let oper = s.sock("oper.sock");
    assert_eq!(cli(&user, "show cli level"), "user\n\n");
    assert_eq!(
        cli(&oper, "show cli level"),
        "operator\n\n",
        "operator is the default level"
    );
    for cmd in [
        "set server be/a state maint",
        "clear counters",
        "show sess",
        "show errors",
        "set maxconn global 10",
        "enable server be/a",
        "operator",
    ] {
        assert_eq!(cli(&user, cmd), "Permission denied\n\n", "user: {cmd}");
    }
    for cmd in [
        "set server be/a state maint",
        "clear counters all",
        "set server be/a weight 3",
        "shutdown sessions server be/a",
    ] {
        assert_eq!(cli(&oper, cmd), "Permission denied\n\n", "operator: {cmd}");
    }
    assert_eq!(cli(&oper, "clear counters"), "\n");
    assert_eq!(cli(&user, "get weight be/a"), "1 (initial 1)\n\n");
    assert!(cli(&user, "show servers state").starts_with("1\n# be_id be_name"));
    // Lowering the level inside a session.
    assert_eq!(
        s.admin("user;set server be/a state maint;show cli level;operator"),
        "\nPermission denied\n\nuser\n\nPermission denied\n\n"
    );
    assert_eq!(
        s.proxy.server("be", "a").admin(),
        ravelin::server::Admin::Ready
    );
    s.proxy.assert_clean();
}

#[test]
fn unknown_command_changes_nothing() {
    let (_a, _b, servers) = two_tagged();
    let s = setup(&servers, "");
    let strip_time = |t: String| -> Vec<String> {
        t.lines()
            .map(|l| {
                let mut w: Vec<&str> = l.split(' ').collect();
                if w.len() > 9 && !l.starts_with('#') {
                    w[9] = "T";
                }
                w.join(" ")
            })
            .collect()
    };
    let before = strip_time(s.admin("show servers state"));
    for bad in [
        "sett server be/a state maint",
        "set servr be/a state maint",
        "set server be/a stat maint",
        "set server be/a state maintenance",
        "set server be/a weight 999",
        "disable servers be/a",
    ] {
        let out = s.admin(bad);
        assert!(!out.is_empty(), "{bad}: an explanation is given");
    }
    assert_eq!(strip_time(s.admin("show servers state")), before);
    assert_eq!(
        s.proxy.server("be", "a").admin(),
        ravelin::server::Admin::Ready
    );
    assert_eq!(s.proxy.server("be", "a").weight(), 1);
    s.proxy.assert_clean();
}

#[test]
fn prompt_mode_keeps_the_connection() {
    let (_a, _b, servers) = two_tagged();
    let s = setup(&servers, "");
    let mut c = UnixStream::connect(s.sock("admin.sock")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"prompt\n").unwrap();
    assert_eq!(read_until(&mut c, "> "), "\n> ");
    c.write_all(b"show backend;show cli level\n").unwrap();
    assert_eq!(
        read_until(&mut c, "admin\n\n> "),
        "# name\nbe\n\n> admin\n\n> "
    );
    c.write_all(b"set server be/a weight 4\n").unwrap();
    assert_eq!(read_until(&mut c, "> "), "\n> ");
    assert_eq!(s.proxy.server("be", "a").weight(), 4);
    c.write_all(b"quit\n").unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(rest.is_empty(), "quit closes without a word: {rest:?}");
    s.proxy.assert_clean();
}

#[test]
fn maint_is_seen_by_every_reactor() {
    let (_a, _b, servers) = two_tagged();
    let s = setup(&servers, "");
    assert_eq!(s.admin("set server be/a state maint"), "\n");
    // Connections from many source ports land on both reactors (SO_REUSEPORT).
    let got = counts(&s.proxy, 100);
    assert_eq!(
        got[1], 0,
        "no connection reaches a server in maintenance: {got:?}"
    );
    assert_eq!(got[2], 100, "{got:?}");
    let state = s.admin("show servers state be");
    assert!(state.contains(" a 127.0.0.1 0 1 "), "{state}");
    assert_eq!(s.admin("set server be/a state drain"), "\n");
    assert_eq!(counts(&s.proxy, 20)[1], 0, "drain takes no new traffic");
    assert_eq!(s.admin("enable server be/a"), "\n");
    let got = counts(&s.proxy, 100);
    assert!(got[1] >= 30 && got[2] >= 30, "back in rotation: {got:?}");
    assert_eq!(s.admin("disable server be/b"), "\n");
    assert_eq!(counts(&s.proxy, 40)[2], 0);
    s.proxy.assert_clean();
}

#[test]
fn weights_change_the_distribution() {
    let (_a, _b, servers) = two_tagged();
    let s = setup(&servers, "");
    assert_eq!(s.admin("set server be/b weight 0"), "\n");
    let got = counts(&s.proxy, 60);
    assert_eq!(got[2], 0, "weight 0 takes nothing: {got:?}");
    assert_eq!(
        s.admin("set server be/b weight 3;set weight be/a 1"),
        "\n\n"
    );
    assert_eq!(s.admin("get weight be/b"), "3 (initial 1)\n\n");
    let got = counts(&s.proxy, 400);
    // Expected 100/300; each reactor balances on its own, allow 10 %.
    assert!((got[2] as i64 - 300).abs() <= 40, "{got:?}");
    s.proxy.assert_clean();
}

#[test]
fn set_addr_moves_traffic_and_checks() {
    let (a, b, c) = (Backend::tagged(1), Backend::tagged(2), Backend::tagged(3));
    let servers = format!(
        "    server a 127.0.0.1:{} check inter 100ms\n    server b 127.0.0.1:{}",
        a.port(),
        b.port()
    );
    let s = setup(&servers, "");
    assert_eq!(
        s.admin(&format!("set server be/a addr 127.0.0.1 port {}", c.port())),
        format!(
            "no need to change the addr, port changed from '{}' to '{}' by 'stats socket command'\n\n",
            a.port(),
            c.port()
        )
    );
    let got = counts(&s.proxy, 100);
    assert_eq!(got[1], 0, "nothing reaches the old address: {got:?}");
    assert!(got[3] >= 30, "the new address takes a's share: {got:?}");
    let state = s.admin("show servers state be");
    assert!(state.contains(&format!(" - {} - ", c.port())), "{state}");
    // The check follows: stop the new target and the server goes down.
    drop(c);
    let st = s.proxy.server("be", "a");
    assert!(
        wait_until(Duration::from_secs(5), || !st.is_up()),
        "the check follows the address"
    );
    assert_eq!(
        s.admin("set server be/a addr foo"),
        "Invalid addr 'foo' by 'stats socket command'\n\n"
    );
    drop(b);
    s.proxy.assert_clean();
}

#[test]
fn health_and_agent_forced_from_the_cli() {
    let (a, b) = (Backend::tagged(1), Backend::tagged(2));
    let servers = format!(
        "    server a 127.0.0.1:{} check inter 60s\n    server b 127.0.0.1:{}",
        a.port(),
        b.port()
    );
    let s = setup(&servers, "");
    let st = s.proxy.server("be", "a");
    assert!(wait_until(Duration::from_secs(2), || st.is_up()));
    assert_eq!(s.admin("set server be/a health down"), "\n");
    assert!(!st.is_up());
    assert_eq!(counts(&s.proxy, 20)[1], 0);
    let state = s.admin("show servers state be");
    assert!(state.contains(" a 127.0.0.1 0 0 1 1 "), "{state}");
    assert_eq!(s.admin("set server be/a health up"), "\n");
    assert!(st.is_up());
    assert_eq!(s.admin("set server be/b health stopping"), "\n");
    assert!(s.proxy.server("be", "b").is_nolb());
    assert_eq!(counts(&s.proxy, 20)[2], 0, "NOLB takes no new traffic");
    assert_eq!(s.admin("disable health be/a"), "\n");
    assert!(st.check.disabled.load(std::sync::atomic::Ordering::Relaxed));
    let state = s.admin("show servers state be");
    assert!(
        state
            .lines()
            .any(|l| l.contains(" a ") && l.split(' ').nth(13) == Some("2")),
        "{state}"
    );
    assert_eq!(s.admin("enable health be/a"), "\n");
    s.proxy.assert_clean();
}

#[test]
fn maxconn_and_counters() {
    let (_a, _b, servers) = two_tagged();
    let s = setup(&servers, "");
    assert_eq!(s.admin("set maxconn server be/a 7"), "\n");
    assert_eq!(s.proxy.server("be", "a").conns.limit(), 7);
    assert_eq!(s.admin("set maxconn frontend fe 33"), "\n");
    let sh = s.proxy.handle().shared().clone();
    assert_eq!(sh.frontends[0].conns.limit(), 33);
    let hard = sh.global.limit();
    assert_eq!(
        s.admin(&format!("set maxconn global {}", u64::from(hard) + 1)),
        "Value out of range.\n\n"
    );
    assert_eq!(s.admin("set maxconn global 50"), "\n");
    assert_eq!(sh.global.limit(), 50);
    counts(&s.proxy, 10);
    assert!(wait_until(Duration::from_secs(2), || sh.frontends[0]
        .total
        .load(std::sync::atomic::Ordering::Relaxed)
        >= 10));
    assert!(
        s.proxy
            .server("be", "a")
            .total
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert_eq!(s.admin("clear counters"), "\n");
    assert!(
        s.proxy
            .server("be", "a")
            .total
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "only maxima cleared"
    );
    assert_eq!(s.admin("clear counters all"), "\n");
    assert_eq!(
        s.proxy
            .server("be", "a")
            .total
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        sh.frontends[0]
            .total
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    s.proxy.assert_clean();
}

#[test]
fn sessions_listed_and_shut_down() {
    let slow = Backend::slow(1, Duration::from_secs(8));
    let servers = format!("    server a 127.0.0.1:{}", slow.port());
    let s = setup(&servers, "");
    let mut c1 = connect(s.proxy.addr("fe"));
    let mut c2 = connect(s.proxy.addr("fe"));
    let sh = s.proxy.handle().shared().clone();
    assert!(wait_until(Duration::from_secs(2), || s
        .proxy
        .server("be", "a")
        .conns
        .cur()
        == 2));
    let sess = s.admin("show sess");
    let lines: Vec<&str> = sess.lines().filter(|l| l.contains("srv=a")).collect();
    assert_eq!(lines.len(), 2, "{sess}");
    assert!(
        lines[0].contains("proto=tcpv4 src=127.0.0.1:") && lines[0].contains(" fe=fe be=be srv=a "),
        "{sess}"
    );
    let id = lines[0].split(':').next().unwrap();
    assert!(s.admin(&format!("show sess {id}")).starts_with(id));
    assert_eq!(s.admin(&format!("shutdown session {id}")), "\n");
    assert!(wait_until(Duration::from_secs(2), || sh.live_streams() == 1));
    assert_eq!(s.admin("shutdown sessions server be/a"), "\n");
    assert!(wait_until(Duration::from_secs(2), || sh.live_streams() == 0));
    let mut b = Vec::new();
    let _ = c1.read_to_end(&mut b);
    let _ = c2.read_to_end(&mut b);
    assert!(b.is_empty(), "killed before the server answered");
    s.proxy.assert_clean();
}

#[test]
fn show_errors_keeps_the_bad_request() {
    let dir = TempDir::new("api-err");
    let cfg = format!(
        "global\n    stats socket {}/a.sock level admin\n\
defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server s 127.0.0.1:1\n",
        dir.0.display()
    );
    let proxy = Proxy::start(&cfg);
    let path = dir.0.join("a.sock");
    let empty = cli(&path, "show errors");
    assert!(empty.starts_with("Total events captured on ["), "{empty}");
    assert!(empty.ends_with("] : 0\n\n"), "{empty}");
    let mut c = connect(proxy.addr("fe"));
    c.write_all(b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    assert!(
        resp.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    let out = cli(&path, "show errors");
    assert!(out.contains("] : 1\n \n["), "{out}");
    assert!(out.contains("] frontend fe (#2): invalid request\n  backend <NONE> (#-1), server <NONE> (#-1), event #0, src 127.0.0.1:"), "{out}");
    assert!(
        out.contains("  len 30, wraps at 16336, error at position 6\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "  00000  GET /a\\x01b HTTP/1.1\\r\\n\n  00019  Host: x\\r\\n\n  00028  \\r\\n\n"
        ),
        "{out}"
    );
    assert!(!cli(&path, "show errors fe response").contains("invalid request"));
    proxy.assert_clean();
}

#[test]
fn socket_file_mode_stale_file_and_cleanup() {
    let (_a, _b, servers) = two_tagged();
    let dir = TempDir::new("api-file");
    // A stale file where the socket goes is replaced.
    let stale = dir.file("admin.sock", "stale");
    let d = dir.0.display();
    let cfg = format!(
        "global\n    stats socket {d}/admin.sock level admin mode 640\n    stats timeout 300ms\n\
defaults\n    mode tcp\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n{servers}\n"
    );
    let proxy = Proxy::start(&cfg);
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&stale).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(cli(&stale, "show cli level"), "admin\n\n");
    // `stats timeout`: an idle prompt session is closed.
    let mut c = UnixStream::connect(&stale).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"prompt\n").unwrap();
    assert_eq!(read_until(&mut c, "> "), "\n> ");
    let t = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "closed after stats timeout"
    );
    proxy.assert_clean();
    drop(proxy);
    assert!(!stale.exists(), "the socket file is removed on exit");
}

#[test]
fn tcp_cli_socket() {
    let (_a, _b, servers) = two_tagged();
    let port = crate::util::free_port();
    let cfg = format!(
        "global\n    stats socket ipv4@127.0.0.1:{port} level user\n\
defaults\n    mode tcp\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n{servers}\n"
    );
    let proxy = Proxy::start(&cfg);
    let mut c = connect(format!("127.0.0.1:{port}").parse().unwrap());
    c.write_all(b"show cli level\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert_eq!(out, "user\n\n");
    proxy.assert_clean();
}

#[test]
fn bind_failure_is_haproxys_alert() {
    let (_a, _b, servers) = two_tagged();
    let dir = TempDir::new("api-bind");
    let text = format!(
        "global\n    stats socket {}/ok.sock\n    stats socket /nonexistent-dir/x.sock\n\
defaults\n    mode tcp\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:{}\n    default_backend be\nbackend be\n{servers}\n",
        dir.0.display(),
        crate::util::closed_port()
    );
    let loaded = ravelin::config::load_str("test.cfg", &text).expect("config");
    let err = ravelin::start(
        std::sync::Arc::new(loaded.model),
        ravelin::ReactorOptions::default(),
    )
    .expect_err("the second socket cannot bind");
    assert_eq!(
        err.to_string(),
        "Binding [test.cfg:3] for frontend GLOBAL: cannot bind UNIX socket (No such file or directory) [/nonexistent-dir/x.sock]"
    );
    assert!(
        !dir.0.join("ok.sock").exists(),
        "the first socket's file is removed"
    );
}

#[test]
fn getsocks_needs_expose_fd() {
    let (_a, _b, servers) = two_tagged();
    let dir = TempDir::new("api-fd");
    let d = dir.0.display();
    let cfg = format!(
        "global\n    stats socket {d}/plain.sock level admin\n    stats socket {d}/fd.sock level admin expose-fd listeners\n\
defaults\n    mode tcp\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n{servers}\n"
    );
    let proxy = Proxy::start(&cfg);
    // HAProxy closes without a word on a socket lacking `expose-fd listeners`.
    assert_eq!(cli(&dir.0.join("plain.sock"), "_getsocks"), "");
    assert_eq!(
        cli(&dir.0.join("plain.sock"), "show cli level"),
        "admin\n\n"
    );
    // Not in the help: an internal command.
    assert!(!cli(&dir.0.join("fd.sock"), "help").contains("_getsocks"));
    proxy.assert_clean();
}

#[test]
fn add_server_takes_traffic_and_del_server_waits_for_it() {
    let (_a, _b, servers) = two_tagged();
    let c = Backend::tagged(3);
    let slow = Backend::slow(3, Duration::from_millis(600));
    let s = setup(&servers, "");
    assert_eq!(
        s.admin("add server be/c"),
        "'server' expects <name> and <addr>[:<port>] as arguments.\n\n"
    );
    assert_eq!(
        s.admin("add server be/a 127.0.0.1:1"),
        "Already exists a server with the same name in backend.\n\n"
    );
    assert_eq!(s.admin("add server zz/c 127.0.0.1:1"), "No such backend.\n");
    assert_eq!(
        s.admin("add server be/c 127.0.0.1:1 weight 300"),
        "weight of server c is not within 0 and 256 (300)..\n\n"
    );
    assert_eq!(
        s.admin(&format!("add server be/c 127.0.0.1:{} weight 2", c.port())),
        "New server registered.\n\n"
    );
    // Added servers start in maintenance (HAProxy 2.6).
    let state = s.admin("show servers state be");
    assert!(
        state.contains(&format!(
            "3 be 3 c 127.0.0.1 0 1 2 2 0 1 0 0 0 0 0 0 - {} - 0 0 - - 0\n",
            c.port()
        )),
        "{state}"
    );
    assert_eq!(counts(&s.proxy, 20)[3], 0, "not before it is enabled");
    assert_eq!(s.admin("get weight be/c"), "2 (initial 2)\n\n");
    assert_eq!(s.admin("set server be/c state ready"), "\n");
    // Weights 1/1/2 over both reactors: c gets about half.
    let got = counts(&s.proxy, 80);
    assert!(got[3] >= 20, "the added server takes traffic: {got:?}");
    assert_eq!(
        s.admin("del server be/c"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    // A stream on it: maintenance, but not deletable while the stream lives.
    s.admin(&format!(
        "set server be/c addr 127.0.0.1 port {}",
        slow.port()
    ));
    let sh = s.proxy.handle().shared().clone();
    let mut held = None;
    for _ in 0..20 {
        let conn = connect(s.proxy.addr("fe"));
        // Wait (briefly) for the stream to be on c; it may have gone to another server.
        let on_c = wait_until(Duration::from_millis(300), || {
            s.admin("show sess").lines().any(|l| l.contains("srv=c "))
        });
        if on_c {
            held = Some(conn);
            break;
        }
    }
    assert!(held.is_some(), "a stream reached c");
    assert_eq!(s.admin("set server be/c state maint"), "\n");
    assert_eq!(
        s.admin("del server be/c"),
        "Server still has connections attached to it, cannot remove it.\n"
    );
    let mut rest = Vec::new();
    let _ = held.unwrap().read_to_end(&mut rest);
    assert!(wait_until(Duration::from_secs(3), || sh.live_streams() == 0));
    assert_eq!(s.admin("del server be/c"), "Server deleted.\n");
    assert_eq!(s.admin("get weight be/c"), "No such server.\n\n");
    assert!(!s.admin("show servers state be").contains(" c "));
    assert_eq!(
        s.admin("del server be/a"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    // The slot is reused.
    assert_eq!(
        s.admin(&format!("add server be/d 127.0.0.1:{}", c.port())),
        "New server registered.\n\n"
    );
    assert_eq!(
        s.admin(
            "set server be/d state ready;set server be/a state maint;set server be/b state maint"
        ),
        "\n\n\n"
    );
    let got = counts(&s.proxy, 10);
    assert_eq!(got[3], 10, "only the added server is left: {got:?}");
    s.proxy.assert_clean();
}

#[test]
fn added_backup_server_takes_over_only_when_actives_are_out() {
    let (_a, _b, servers) = two_tagged();
    let c = Backend::tagged(3);
    let s = setup(&servers, "");
    assert_eq!(
        s.admin(&format!("add server be/c 127.0.0.1:{} backup", c.port())),
        "New server registered.\n\n"
    );
    assert_eq!(s.admin("set server be/c state ready"), "\n");
    assert_eq!(
        counts(&s.proxy, 30)[3],
        0,
        "a backup takes nothing while actives run"
    );
    assert_eq!(
        s.admin("set server be/a state maint;set server be/b state maint"),
        "\n\n"
    );
    assert_eq!(counts(&s.proxy, 20)[3], 20, "the added backup takes over");
    assert_eq!(s.admin("set server be/a state ready"), "\n");
    assert_eq!(counts(&s.proxy, 20)[1], 20);
    s.proxy.assert_clean();
}

/// The CSV rows of `show stat` as (pxname, svname, status, stot).
fn stat_rows(csv: &str) -> Vec<(String, String, String, u64)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (px, sv, st, tot) = (col("pxname"), col("svname"), col("status"), col("stot"));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[px].to_string(),
                f[sv].to_string(),
                f[st].to_string(),
                f[tot].parse().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn show_stat_and_show_info_through_the_socket() {
    let (_a, _b, servers) = two_tagged();
    let c = Backend::tagged(3);
    let s = setup(&servers, "");
    counts(&s.proxy, 20);
    let csv = s.admin("show stat");
    assert!(csv.starts_with("# pxname,svname,qcur,qmax,"), "{csv}");
    let rows = stat_rows(&csv);
    let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(
        names,
        [
            ("fe", "FRONTEND"),
            ("be", "a"),
            ("be", "b"),
            ("be", "BACKEND")
        ]
    );
    assert_eq!(rows[0].3, 20, "frontend sessions: {csv}");
    assert_eq!(rows[1].3 + rows[2].3, 20, "server sessions: {csv}");
    assert_eq!(rows[3].3, 20, "backend sessions: {csv}");
    assert_eq!(rows[1].2, "no check");
    // Filters: servers only; `up` hides a server in maintenance, as does `no-maint`.
    assert_eq!(stat_rows(&s.admin("show stat -1 4 -1")).len(), 2);
    assert_eq!(s.admin("set server be/a state maint"), "\n");
    let rows = stat_rows(&s.admin("show stat"));
    assert_eq!(rows[1].2, "MAINT");
    for f in ["up", "no-maint"] {
        let rows = stat_rows(&s.admin(&format!("show stat be 4 -1 {f}")));
        let servers: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(servers, ["b"], "{f}");
    }
    // A server added at run time has its row.
    s.admin(&format!("add server be/c 127.0.0.1:{}", c.port()));
    let rows = stat_rows(&s.admin("show stat be 4 -1"));
    assert!(
        rows.iter().any(|r| r.1 == "c" && r.2 == "MAINT"),
        "{rows:?}"
    );
    let typed = s.admin("show stat typed");
    assert!(
        typed
            .lines()
            .any(|l| l.starts_with("F.") && l.contains(".pxname.")),
        "{typed}"
    );
    let info = s.admin("show info");
    assert!(
        info.contains(&format!("Pid: {}\n", std::process::id())),
        "{info}"
    );
    assert!(info.contains("Nbthread: 2\n"), "{info}");
    assert!(info.contains("CumConns: 20\n"), "{info}");
    let typed = s.admin("show info typed");
    assert!(
        typed
            .lines()
            .any(|l| l.contains(".Nbthread.1:") && l.ends_with(":2"))
    );
    let json = s.admin("show info json");
    assert!(
        json.starts_with("[{\"field\":{\"pos\":0,\"name\":\"Name\"}"),
        "{json}"
    );
    s.proxy.assert_clean();
}
