//! The stats page (CSV, HTML, auth, admin), the Prometheus exporter, and the page in a real
//! browser (headless Chromium; skipped when it is not installed, a failure under `CI=true`).

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::util::closed_port;
use crate::util::http_backend::{HttpBackend, exchange, ok, read_response};
use crate::util::proxy::Proxy;
use crate::util::wait_until;

/// haproxy 2.6.12's `show stat` header, copied from the real binary (`echo "show stat" |
/// socat stdio UNIX:...`).
const HAPROXY_26_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

/// admin:pw
const AUTH: &str = "Authorization: Basic YWRtaW46cHc=\r\n";

fn cfg(up_port: u16, extra_servers: &str) -> String {
    format!(
        "global\n    nbthread 2\n\
defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
listen web\n    bind 127.0.0.1:0\n    server s1 127.0.0.1:{up_port} check inter 100ms\n    server s2 127.0.0.1:{down} check inter 100ms fall 1 rise 1\n    server s3 127.0.0.1:{up_port} disabled\n{extra_servers}\
listen st\n    bind 127.0.0.1:0\n    stats enable\n    stats uri /st\n    stats realm Ravelin\\ Stats\n    stats auth admin:pw\n    stats refresh 1s\n    stats admin if TRUE\n\
frontend metrics\n    bind 127.0.0.1:0\n    http-request use-service prometheus-exporter if {{ path /metrics }}\n    default_backend web\n",
        down = closed_port()
    )
}

fn get(addr: SocketAddr, path: &str, auth: bool) -> (u16, String, Vec<u8>) {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        if auth { AUTH } else { "" }
    );
    exchange(addr, req.as_bytes())
}

/// The CSV rows as (pxname, svname) → field map.
struct Csv {
    header: String,
    names: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn fetch(addr: SocketAddr) -> Csv {
        let (status, head, body) = get(addr, "/st;csv", true);
        assert_eq!(status, 200, "{head}");
        let text = String::from_utf8(body).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap().to_string();
        let names = header
            .trim_start_matches("# ")
            .split(',')
            .map(str::to_string)
            .collect();
        let rows = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        Csv {
            header,
            names,
            rows,
        }
    }

    fn get(&self, px: &str, sv: &str, field: &str) -> String {
        let i = self.names.iter().position(|n| n == field).unwrap();
        let row = self
            .rows
            .iter()
            .find(|r| {
                r.first().map(String::as_str) == Some(px)
                    && r.get(1).map(String::as_str) == Some(sv)
            })
            .unwrap_or_else(|| panic!("no row {px}/{sv}"));
        row.get(i).cloned().unwrap_or_default()
    }

    fn num(&self, px: &str, sv: &str, field: &str) -> u64 {
        self.get(px, sv, field)
            .parse()
            .unwrap_or_else(|_| panic!("{px}/{sv} {field}"))
    }
}

#[test]
fn csv_counts_traffic_and_states() {
    let be = HttpBackend::start(ok("s1", "hello"));
    let proxy = Proxy::start(&cfg(be.port(), ""));
    let st = proxy.addr("st");
    // s2 (closed port, fall 1) goes DOWN, s1 stays UP, s3 is in maintenance.
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(st).get("web", "s2", "status") == "DOWN"
    }));
    for i in 0..5 {
        let (status, _, body) = get(proxy.addr("web"), &format!("/{i}"), false);
        assert_eq!(status, 200);
        assert_eq!(body, b"hello");
    }
    // Byte counters are added when connections close: wait for them.
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(st).num("web", "FRONTEND", "bout") > 0
    }));
    let csv = Csv::fetch(st);
    assert!(
        csv.header.starts_with(HAPROXY_26_HEADER),
        "header differs from haproxy 2.6:\n{}",
        csv.header
    );
    assert!(csv.header.ends_with(
        ",ttime_p50,ttime_p90,ttime_p99,ttime_p999,rtime_p50,rtime_p90,rtime_p99,rtime_p999,ctime_p50,ctime_p90,ctime_p99,ctime_p999,qtime_p50,qtime_p90,qtime_p99,qtime_p999,"
    ));
    assert_eq!(csv.num("web", "FRONTEND", "stot"), 5);
    assert_eq!(csv.num("web", "FRONTEND", "req_tot"), 5);
    assert_eq!(csv.num("web", "FRONTEND", "hrsp_2xx"), 5);
    assert_eq!(csv.get("web", "FRONTEND", "status"), "OPEN");
    let (bin, bout) = (
        csv.num("web", "FRONTEND", "bin"),
        csv.num("web", "FRONTEND", "bout"),
    );
    // 5 requests of ~40 bytes in, 5 responses of ~60 bytes out.
    assert!((5 * 30..5 * 80).contains(&bin), "bin {bin}");
    assert!((5 * 40..5 * 120).contains(&bout), "bout {bout}");
    assert_eq!(csv.num("web", "s1", "stot"), 5);
    assert_eq!(csv.num("web", "s1", "hrsp_2xx"), 5);
    assert_eq!(csv.num("web", "BACKEND", "req_tot"), 5);
    assert_eq!(csv.num("web", "BACKEND", "hrsp_2xx"), 5);
    assert_eq!(csv.num("web", "BACKEND", "stot"), 5);
    assert_eq!(csv.get("web", "s1", "status"), "UP");
    assert_eq!(csv.get("web", "s1", "check_status"), "L4OK");
    assert_eq!(csv.get("web", "s2", "status"), "DOWN");
    assert_eq!(csv.get("web", "s2", "check_status"), "L4CON");
    assert!(csv.num("web", "s2", "chkfail") >= 1);
    assert_eq!(csv.get("web", "s3", "status"), "MAINT");
    assert_eq!(csv.get("web", "BACKEND", "status"), "UP");
    assert_eq!(csv.num("web", "BACKEND", "act"), 1);
    assert_eq!(csv.get("web", "BACKEND", "algo"), "roundrobin");
    assert_eq!(csv.get("web", "s1", "type"), "2");
    assert_eq!(
        csv.get("web", "s1", "addr"),
        format!("127.0.0.1:{}", be.port())
    );
    // The page itself is counted by its own frontend.
    assert!(csv.num("st", "FRONTEND", "intercepted") >= 3);
    drop(csv);
    proxy.assert_clean();
}

#[test]
fn auth_is_basic_with_haproxy_401() {
    let be = HttpBackend::start(ok("s1", "x"));
    let proxy = Proxy::start(&cfg(be.port(), ""));
    let st = proxy.addr("st");
    let (status, head, body) = get(st, "/st", false);
    assert_eq!(status, 401);
    // haproxy 2.6's head and body, in its order.
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(
        &lines[..5],
        [
            "HTTP/1.1 401 Unauthorized",
            "content-length: 112",
            "cache-control: no-cache",
            "content-type: text/html",
            "www-authenticate: Basic realm=\"Ravelin Stats\"",
        ]
    );
    assert_eq!(
        body,
        b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n"
    );
    let bad = b"GET /st HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46eHg=\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(st, bad).0, 401);
    let (status, head, body) = get(st, "/st", true);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("refresh: 1\r\n"), "{head}");
    assert!(head.contains("content-type: text/html\r\n"));
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("<table class=\"tbl\""));
    assert!(page.ends_with("</html>\n"));
    // `;norefresh` drops the header; other URIs of the proxy are not the page.
    let (_, head, _) = get(st, "/st;norefresh", true);
    assert!(!head.to_ascii_lowercase().contains("refresh:"), "{head}");
    let (status, _, _) = get(st, "/other", true);
    assert_eq!(
        status, 503,
        "a listen without servers answers 503 outside the stats uri"
    );
    proxy.assert_clean();
}

#[test]
fn admin_form_sets_maint_and_back() {
    let be = HttpBackend::start(ok("s1", "x"));
    let proxy = Proxy::start(&cfg(be.port(), ""));
    let st = proxy.addr("st");
    let post = |body: &str, auth: bool| {
        let req = format!(
            "POST /st HTTP/1.1\r\nHost: x\r\n{}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            if auth { AUTH } else { "" },
            body.len()
        );
        exchange(st, req.as_bytes())
    };
    assert!(wait_until(Duration::from_secs(5), || {
        let c = Csv::fetch(st);
        c.get("web", "s1", "status") == "UP" && c.get("web", "s2", "status") == "DOWN"
    }));
    // The page's form names the backend by `#iid`.
    let iid = Csv::fetch(st).get("web", "BACKEND", "iid");
    let (status, head, _) = post(&format!("s=s1&action=maint&b=%23{iid}"), true);
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /st;st=DONE\r\n"), "{head}");
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(st).get("web", "s1", "status") == "MAINT"
    }));
    // No usable server left: the backend is DOWN.
    assert_eq!(Csv::fetch(st).get("web", "BACKEND", "status"), "DOWN");
    assert_eq!(get(proxy.addr("web"), "/", false).0, 503);
    let (status, head, _) = post("s=s1&action=ready&b=web", true);
    assert_eq!(status, 303);
    assert!(head.contains("location: /st;st=DONE\r\n"), "{head}");
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(st).get("web", "s1", "status") == "UP"
    }));
    // A server without probes (s3 starts `disabled`).
    let (_, head, _) = post("s=s3&action=ready&b=web", true);
    assert!(head.contains("location: /st;st=DONE\r\n"), "{head}");
    // Applied by the reactor owning the server within one loop turn, as the runtime API.
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(st).get("web", "s3", "status") == "no check"
    }));
    let (_, head, _) = post("s=s3&s=nope&action=drain&b=web", true);
    assert!(head.contains("location: /st;st=PART\r\n"), "{head}");
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(st).get("web", "s3", "status") == "DRAIN"
    }));
    // Bad parameters and unauthenticated posts.
    assert!(
        post("s=nope&action=maint&b=web", true)
            .1
            .contains("st=ERRP")
    );
    assert!(post("s=s1&action=bogus&b=web", true).1.contains("st=ERRP"));
    assert_eq!(post("s=s1&action=maint&b=web", false).0, 401);
    assert_eq!(Csv::fetch(st).get("web", "s1", "status"), "UP");
    // The page shows the result and the form.
    let (_, _, body) = get(st, "/st;st=DONE", true);
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("Action processed successfully."));
    assert!(page.contains("<select name=action>"));
    assert!(page.contains(&format!("name=\"b\" value=\"#{iid}\"")));
    proxy.assert_clean();
}

#[test]
fn large_page_is_delivered_whole_on_keep_alive() {
    let be = HttpBackend::start(ok("s1", "x"));
    let mut many = String::new();
    for i in 0..120 {
        many.push_str(&format!("    server extra{i} 127.0.0.1:{}\n", be.port()));
    }
    let proxy = Proxy::start(&cfg(be.port(), &many));
    let s = TcpStream::connect(proxy.addr("st")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..2 {
        w.write_all(format!("GET /st HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n").as_bytes())
            .unwrap();
        let (status, _, body) = read_response(&mut r);
        assert_eq!(status, 200);
        assert!(body.len() > 64 * 1024, "a page of {} bytes", body.len());
        let page = String::from_utf8(body).unwrap();
        assert!(page.contains("extra119"));
        assert!(page.ends_with("</html>\n"));
    }
    drop((w, r));
    proxy.assert_clean();
}

#[test]
fn prometheus_exporter_parses() {
    let be = HttpBackend::start(ok("s1", "hello"));
    let proxy = Proxy::start(&cfg(be.port(), ""));
    let st = proxy.addr("st");
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(st).get("web", "s2", "status") == "DOWN"
    }));
    for _ in 0..3 {
        assert_eq!(get(proxy.addr("metrics"), "/x", false).0, 200);
    }
    let (status, head, body) = get(proxy.addr("metrics"), "/metrics", false);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let text = String::from_utf8(body).unwrap();
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse");
    let value = |metric: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |c| c.count),
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
    };
    assert_eq!(value("ravelin_process_nbthread", &[]), Some(2.0));
    assert_eq!(
        value(
            "ravelin_frontend_http_requests_total",
            &[("proxy", "metrics")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            "ravelin_frontend_http_responses_total",
            &[("proxy", "metrics"), ("code", "2xx")]
        ),
        Some(3.0),
        "the exporter's own answer is counted when it is sent"
    );
    assert_eq!(
        value(
            "ravelin_server_sessions_total",
            &[("proxy", "web"), ("server", "s1")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            "ravelin_server_status",
            &[("proxy", "web"), ("server", "s2"), ("state", "DOWN")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "ravelin_server_status",
            &[("proxy", "web"), ("server", "s3"), ("state", "MAINT")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "ravelin_server_http_responses_total",
            &[("proxy", "web"), ("server", "s1"), ("code", "2xx")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value("ravelin_backend_active_servers", &[("proxy", "web")]),
        Some(1.0)
    );
    // Latency histograms exist for every object kind and timer.
    for kind in ["frontend", "backend", "server"] {
        for timer in ["total", "response", "connect", "queue"] {
            let name = format!("ravelin_{kind}_{timer}_time_seconds");
            assert!(
                scrape.samples.iter().any(|s| s.metric == name
                    && matches!(s.value, prometheus_parse::Value::Histogram(_))),
                "{name} missing"
            );
        }
    }
    assert!(scrape.docs.contains_key("ravelin_server_current_sessions"));
    proxy.assert_clean();
}

/// The Chromium binary, if installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs Chromium headless in its own process group; the group (only the processes this test
/// started) is killed after `limit`.
fn run_chromium(bin: &str, args: &[&str], limit: Duration) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin);
    cmd.process_group(0);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
    ]);
    // A profile of its own: nothing shared with another run or a user's browser.
    let profile =
        std::env::temp_dir().join(format!("ravelin-stats-chromium-{}", std::process::id()));
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(args);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Bounded: the browser's process group (its pid is the group id) is killed at `limit`.
    let id = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let killer = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if d.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{id}")])
            .status();
    });
    let out = child.wait_with_output().expect("chromium output");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = killer.join();
    out
}

#[test]
fn chromium_renders_and_refreshes_the_page() {
    let Some(bin) = chromium() else {
        crate::util::missing_tool(
            "chromium",
            "apt-get install chromium",
            "the stats page was not checked in a browser",
        );
        return;
    };
    let be = HttpBackend::start(ok("s1", "x"));
    // No auth here: the browser is given the plain URL.
    let text = cfg(be.port(), "")
        .replace("    stats auth admin:pw\n", "")
        .replace("    stats realm Ravelin\\ Stats\n", "");
    let proxy = Proxy::start(&text);
    let st = proxy.addr("st");
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(st).get("web", "s2", "status") == "DOWN"
    }));
    let url = format!("http://{st}/st");
    let dir = std::env::temp_dir().join(format!("ravelin-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("stats.png");
    let shot = format!("--screenshot={}", png.display());
    let out = run_chromium(
        bin,
        &[&shot, "--window-size=1280,900", &url],
        Duration::from_secs(60),
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a trivial screenshot: {} bytes",
        bytes.len()
    );
    // The DOM as rendered (`;norefresh`, so the virtual time budget ends): the tables and the
    // state colours are there, and the page was loaded once.
    let loads = || Csv::fetch(st).num("st", "FRONTEND", "intercepted");
    let before = loads();
    let norefresh = format!("{url};norefresh");
    let out = run_chromium(
        bin,
        &["--virtual-time-budget=4500", "--dump-dom", &norefresh],
        Duration::from_secs(60),
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("<table class=\"tbl\""), "no table in:\n{dom}");
    assert!(dom.contains("class=\"active_up\""), "s1 is UP");
    assert!(dom.contains("class=\"active_down\""), "s2 is DOWN");
    assert!(dom.contains("class=\"maintain\""), "s3 is in MAINT");
    assert!(dom.contains("Latency ms"));
    // Each CSV fetch is one intercepted request too.
    let once = loads() - before - 1;
    assert_eq!(once, 1, "without refresh the browser loads the page once");
    // `stats refresh 1s` (the `Refresh: 1` header): under virtual time the browser reloads
    // the page again and again (it never settles, so it is stopped after 5 s).
    let before = loads();
    let _ = run_chromium(
        bin,
        &["--virtual-time-budget=60000", "--dump-dom", &url],
        Duration::from_secs(5),
    );
    let reloads = loads() - before - 1;
    assert!(
        reloads >= 3,
        "the page was loaded {reloads} times: refresh not honoured"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("ravelin-stats-chromium-{}", std::process::id())),
    );
    proxy.assert_clean();
}

#[test]
fn backend_stats_up_filter_and_hide_version() {
    let be = HttpBackend::start(ok("s1", "x"));
    let down = closed_port();
    let proxy = Proxy::start(&format!(
        "global\n    nbthread 1\n\
defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
frontend fe\n    bind 127.0.0.1:0\n    use_backend stb if {{ path_beg /bst }}\n    default_backend app\n\
backend stb\n    stats enable\n    stats uri /bst\n    stats hide-version\n\
backend app\n    server up 127.0.0.1:{}\n    server gone 127.0.0.1:{down} check inter 100ms fall 1 rise 1\n",
        be.port()
    ));
    let fe = proxy.addr("fe");
    // Requests outside the stats URI still reach the application.
    let (status, _, body) = get(fe, "/app", false);
    assert_eq!((status, body.as_slice()), (200, &b"x"[..]));
    assert!(wait_until(Duration::from_secs(5), || {
        let (_, _, body) = get(fe, "/bst;csv", false);
        String::from_utf8_lossy(&body).contains("app,gone,")
            && String::from_utf8_lossy(&body)
                .lines()
                .any(|l| l.starts_with("app,gone,") && l.contains(",DOWN,"))
    }));
    let (status, head, body) = get(fe, "/bst", false);
    assert_eq!(status, 200, "{head}");
    assert!(!head.to_ascii_lowercase().contains("refresh:"));
    let page = String::from_utf8(body).unwrap();
    assert!(!page.contains("ravelin-"), "hide-version shows no version");
    assert!(page.contains("<a name=\"app/gone\">"));
    let (_, _, body) = get(fe, "/bst;up", false);
    let page = String::from_utf8(body).unwrap();
    assert!(
        !page.contains("<a name=\"app/gone\">"),
        ";up hides DOWN servers"
    );
    assert!(page.contains("<a name=\"app/up\">"));
    proxy.assert_clean();
}

#[test]
fn http_request_rules_run_before_the_page() {
    let proxy = Proxy::start(
        "global\n    nbthread 1\n\
defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n\
listen st\n    bind 127.0.0.1:0\n    http-request deny if { hdr(x-block) 1 }\n    stats uri /st\n",
    );
    let st = proxy.addr("st");
    assert_eq!(get(st, "/st;csv", false).0, 200);
    // HEAD: the head alone.
    let mut s = TcpStream::connect(st).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"HEAD /st HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let all = crate::util::client::read_all(&mut s).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "no body after a HEAD: {text}");
    let req = b"GET /st;csv HTTP/1.1\r\nHost: x\r\nX-Block: 1\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(st, req).0, 403, "a deny rule protects the page");
    proxy.assert_clean();
}

/// HAProxy's usual stats and exporter snippets: frontends with no backend at all. The page
/// and the metrics are served; any other request gets HAProxy's 503.
#[test]
fn frontends_without_a_backend_serve_stats_and_metrics() {
    let text = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend stats\n    bind 127.0.0.1:0\n    stats enable\n    stats uri /stats\n    stats refresh 10s\n\
frontend prometheus\n    bind 127.0.0.1:0\n    http-request use-service prometheus-exporter if { path /metrics }\n    no log\n";
    let proxy = Proxy::start(text);
    let (status, _, body) = get(proxy.addr("stats"), "/stats", false);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("<table"));
    let (status, _, body) = get(proxy.addr("prometheus"), "/metrics", false);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("# TYPE "));
    for (fe, path) in [("stats", "/other"), ("prometheus", "/")] {
        let (status, _, body) = get(proxy.addr(fe), path, false);
        assert_eq!(status, 503, "{fe} {path}");
        assert!(String::from_utf8_lossy(&body).contains("No server is available"));
    }
    proxy.assert_clean();
}

/// A local answer (`http-request return`, the stats page, the exporter) leaves the request
/// body unread: the connection must close after it, so a request hidden in the body is
/// never parsed (it was answered as a second request before).
#[test]
fn local_answers_close_instead_of_reading_a_body_as_the_next_request() {
    let text = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
frontend ret\n    bind 127.0.0.1:0\n    http-request return status 200 content-type text/plain string ok\n\
frontend st\n    bind 127.0.0.1:0\n    stats enable\n    stats uri /st\n    http-request use-service prometheus-exporter if { path /metrics }\n";
    let proxy = Proxy::start(text);
    let hidden = b"GET /hidden HTTP/1.1\r\nhost: y\r\n\r\n";
    for (fe, path, te) in [
        ("ret", "/", false),
        ("ret", "/", true),
        ("st", "/st", true),
        ("st", "/metrics", false),
    ] {
        let mut s = TcpStream::connect(proxy.addr(fe)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let req = if te {
            let mut r = format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
                hidden.len()
            )
            .into_bytes();
            r.extend_from_slice(hidden);
            r.extend_from_slice(b"\r\n0\r\n\r\n");
            r
        } else {
            let mut r = format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
                hidden.len()
            )
            .into_bytes();
            r.extend_from_slice(hidden);
            r
        };
        s.write_all(&req).unwrap();
        let mut all = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut all);
        let text = String::from_utf8_lossy(&all);
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "{fe} {path} chunked={te}: one answer, then the close:\n{text}"
        );
    }
    proxy.assert_clean();
}

/// A response the proxy turns into a 502 (`http-response deny`) counts as a 5xx for the
/// frontend, not also as the server's 2xx.
#[test]
fn denied_response_counts_once_for_the_frontend() {
    let be = HttpBackend::start(ok("s1", "hello"));
    let extra = "    http-response deny if { path /deny }\n";
    let text = cfg(be.port(), "").replace(
        "listen st\n",
        &format!("frontend d\n    bind 127.0.0.1:0\n{extra}    default_backend web\nlisten st\n"),
    );
    let proxy = Proxy::start(&text);
    // s2 (a closed port) out of rotation first.
    assert!(wait_until(Duration::from_secs(5), || {
        Csv::fetch(proxy.addr("st")).get("web", "s2", "status") == "DOWN"
    }));
    let (status, _, _) = get(proxy.addr("d"), "/deny", false);
    assert_eq!(status, 502);
    let (status, _, _) = get(proxy.addr("d"), "/fine", false);
    assert_eq!(status, 200);
    let csv = Csv::fetch(proxy.addr("st"));
    assert_eq!(csv.num("d", "FRONTEND", "hrsp_5xx"), 1);
    assert_eq!(csv.num("d", "FRONTEND", "hrsp_2xx"), 1);
    proxy.assert_clean();
}
