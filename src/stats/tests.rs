//! Unit tests of the collection and the renderers on a model without sockets.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::*;
use crate::server::SharedState;

fn shared() -> SharedState {
    let text = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
                frontend fe\n    bind 127.0.0.1:1\n    default_backend be\n\
                backend be\n    server s1 127.0.0.1:80 check\n    server s2 127.0.0.1:81 backup\n\
                listen st\n    bind 127.0.0.1:2\n    stats enable\n    server x 127.0.0.1:82 maxconn 7 maxqueue 3\n";
    let loaded = crate::config::load_str("t.cfg", text).expect("config");
    SharedState::new(Arc::new(loaded.model), 100, 2)
}

#[test]
fn header_is_haproxy_26_then_latency_columns() {
    let mut out = String::new();
    csv_header(&mut out);
    assert!(out.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,"));
    assert!(
        out.contains(",h1_spliced_bytes_out,ttime_p50,ttime_p90,ttime_p99,ttime_p999,rtime_p50,")
    );
    assert!(out.ends_with("qtime_p999,\n"));
}

#[test]
fn rows_in_proxy_order_with_counters() {
    let st = shared();
    st.frontends[0].total.fetch_add(5, Relaxed);
    st.frontends[0].count_status(200);
    st.frontends[0].count_status(503);
    st.backends[0].servers[0].total.fetch_add(3, Relaxed);
    st.backends[0].servers[1].set_admin(Admin::Maint, 0);
    let rows = collect(&st, &StatFilter::default());
    let names: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.str("pxname"), r.str("svname")))
        .collect();
    let want = [
        ("fe", "FRONTEND"),
        ("be", "s1"),
        ("be", "s2"),
        ("be", "BACKEND"),
        ("st", "FRONTEND"),
        ("st", "x"),
        ("st", "BACKEND"),
    ];
    assert_eq!(
        names,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    assert_eq!(rows[0].u64("stot"), 5);
    assert_eq!(rows[0].u64("hrsp_2xx"), 1);
    assert_eq!(rows[0].u64("hrsp_5xx"), 1);
    assert_eq!(rows[0].str("status"), "OPEN");
    assert_eq!(rows[1].u64("stot"), 3);
    assert_eq!(rows[1].str("status"), "UP");
    assert_eq!(rows[1].str("check_status"), "INI");
    assert_eq!(rows[2].str("status"), "MAINT");
    assert_eq!(rows[3].str("status"), "UP");
    assert_eq!(rows[3].u64("act"), 1);
    assert_eq!(rows[3].u64("bck"), 0);
    assert_eq!(rows[5].str("status"), "no check");
    assert_eq!(rows[5].u64("slim"), 7);
    assert_eq!(rows[5].u64("qlimit"), 3);
    assert_eq!(rows[5].str("addr"), "127.0.0.1:82");
    assert_eq!(rows[0].u64("iid"), 1);
    assert_eq!(rows[3].u64("iid"), 2);
    assert_eq!(rows[4].u64("iid"), 3);
    assert_eq!(rows[6].u64("iid"), 3);
    assert_eq!(rows[5].u64("sid"), 1);
    // Filters: proxy by name or id, kinds, server id.
    let only = |f: StatFilter| collect(&st, &f).len();
    let f = |p: Option<&str>, m: i32, s: Option<i32>| StatFilter {
        proxy: p.map(str::to_string),
        kind_mask: m,
        server: s,
        ..StatFilter::default()
    };
    assert_eq!(only(f(Some("be"), -1, None)), 3);
    assert_eq!(only(f(Some("3"), -1, None)), 3);
    assert_eq!(only(f(None, 1, None)), 2);
    assert_eq!(only(f(None, 4, Some(2))), 1);
    assert_eq!(only(f(None, 6, None)), 5);
}

#[test]
fn forms_render() {
    let st = shared();
    let mut csv = String::new();
    show_stat(&st, StatForm::Csv, &StatFilter::default(), &mut csv);
    assert_eq!(csv.lines().count(), 1 + 7);
    let width = field_names().len();
    for l in csv.lines().skip(1).filter(|l| !l.is_empty()) {
        assert_eq!(l.matches(',').count(), width, "{l}");
    }
    let mut typed = String::new();
    show_stat(&st, StatForm::Typed, &StatFilter::default(), &mut typed);
    assert!(typed.contains("F.1.0.0.pxname.1:KNS:str:fe\n"), "{typed}");
    assert!(typed.contains("S.2.1.17.status.1:SGP:str:UP\n"));
    assert!(!typed.contains(".-.1:"));
    assert!(!typed.contains("\n\n"), "no blank line between rows");
    let mut json = String::new();
    show_stat(&st, StatForm::Json, &StatFilter::default(), &mut json);
    assert!(json.starts_with("[[{\"objType\":\"Frontend\",\"proxyId\":1,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"}"));
    let mut info = String::new();
    show_info(&st, &ProcessInfo::current(&st), &mut info);
    let keys: Vec<&str> = info.lines().filter_map(|l| l.split(": ").next()).collect();
    assert_eq!(&keys[..4], ["Name", "Version", "Release_date", "Nbthread"]);
    assert!(keys.contains(&"Uptime_sec") && keys.contains(&"CumConns") && keys.contains(&"node"));
    let ulimit = info.lines().find_map(|l| l.strip_prefix("Ulimit-n: "));
    assert!(
        ulimit
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
    );
    let mut html = String::new();
    let conf = crate::model::StatsConf::default();
    html::render(
        &st,
        &conf,
        &ProcessInfo::current(&st),
        &page::Options::default(),
        true,
        "st",
        &mut html,
    );
    assert!(html.contains("<tr class=\"maintain\">") || html.contains("class=\"active_up\""));
    assert!(html.contains("name=\"s\" value=\"s1\""));
    let mut prom = String::new();
    prometheus::render(&st, &ProcessInfo::current(&st), &mut prom);
    assert!(prom.contains("ravelin_server_status{proxy=\"be\",server=\"s1\",state=\"UP\"} 1\n"));
    assert!(prom.contains("# TYPE ravelin_backend_total_time_seconds histogram\n"));
}

#[test]
fn rate_counts_the_last_second() {
    let r = crate::server::Rate::default();
    for _ in 0..10 {
        r.tick(5_000);
    }
    assert_eq!(r.per_sec(5_000), 10);
    // Half a second later, half of the previous second still counts.
    r.tick(6_000);
    assert_eq!(r.per_sec(6_500), 1 + 5);
    // A late reader of the clock counts in the current second, not back in the old one.
    r.tick(5_999);
    assert_eq!(r.per_sec(6_500), 2 + 5);
    assert_eq!(r.per_sec(9_000), 0);
    assert_eq!(r.max(), 10);
}

#[test]
fn published_latency_fills_percentile_average_and_max_columns() {
    let st = shared();
    let mut rec = latency::LatencyRecorder::new(&st.model);
    for v in 1..=100 {
        let t = latency::Timings {
            tt_ms: v,
            tr_ms: Some(v / 2),
            tc_ms: Some(1),
            tw_ms: None,
        };
        rec.record(0, Some(0), Some(0), &t);
    }
    rec.publish(&st.latency, 1);
    let rows = collect(&st, &StatFilter::default());
    let fe = &rows[0];
    assert_eq!(fe.u64("ttime_p50"), 50);
    assert_eq!(fe.u64("ttime_p999"), 100);
    assert_eq!(*fe.get("ttime"), Value::Empty, "no averages on frontends");
    let s1 = &rows[1];
    assert_eq!(s1.u64("rtime_p90"), 45);
    assert_eq!(s1.u64("ctime_p50"), 1);
    assert_eq!(*s1.get("qtime_p50"), Value::Empty, "Tw never recorded");
    assert_eq!(s1.u64("ttime"), 51, "mean of 1..=100, rounded");
    assert_eq!(s1.u64("ttime_max"), 100);
    assert_eq!(rows[3].u64("ttime_max"), 100, "backend");
    assert_eq!(*rows[2].get("ttime_p50"), Value::Empty, "s2 saw nothing");
    // Typed positions skip the CSV's `-` column, as haproxy's (`ssl_sess` is 103 there).
    let mut typed = String::new();
    show_stat(&st, StatForm::Typed, &StatFilter::default(), &mut typed);
    let want = format!(
        "S.2.1.{}.ttime_p50.1:MCP:u64:50\n",
        HAPROXY_FIELDS.len() - 1
    );
    assert!(typed.contains(&want), "{want}");
    assert_eq!(
        HAPROXY_FIELDS.iter().position(|f| *f == "ssl_sess"),
        Some(104)
    );
    let mut prom = String::new();
    prometheus::render(&st, &ProcessInfo::current(&st), &mut prom);
    assert!(prom.contains(
        "ravelin_server_total_time_seconds_bucket{proxy=\"be\",server=\"s1\",le=\"0.05\"} 50\n"
    ));
    assert!(
        prom.contains("ravelin_server_total_time_seconds_count{proxy=\"be\",server=\"s1\"} 100\n")
    );
    assert!(
        prom.contains("ravelin_server_total_time_seconds_sum{proxy=\"be\",server=\"s1\"} 5.05\n")
    );
}
