//! Statistics: one walk over the model and the shared atomics ([`collect`]) yields HAProxy's
//! rows (a `FRONTEND` row per frontend, then per backend one row per server and a `BACKEND`
//! row), each with haproxy 2.6's `show stat` fields in haproxy's order; the renderers turn
//! them into the CSV / typed / JSON forms ([`show_stat`]), `show info` ([`show_info`]), the
//! HTML page (`html`), and the Prometheus exposition (`prometheus`). Latency histograms are in
//! `latency`; the HTTP side of the page (auth, admin actions) in `page`.
//!
//! Counters stay shared atomics in `server.rs` (read here with relaxed loads, no lock), not
//! per-reactor copies summed on read: they are written with one relaxed `fetch_add` already.
//! Fields Ravelin does not have are left empty, as HAProxy leaves N/A fields empty. After
//! haproxy's columns come Ravelin's: the p50/p90/p99/p99.9 of Tt, Tr, Tc and Tw (ms).

pub mod html;

pub mod page;
pub mod prometheus;

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use crate::status::Status;

use crate::model::{Mode, Model, ServerAddr};
use crate::server::latency::{self, Object, PERCENTILES, percentiles};
use crate::server::{Admin, SharedState};

/// haproxy 2.6's `show stat` columns, in order (`# pxname,svname,...`, checked against the
/// real binary's output).
pub(crate) const HAPROXY_FIELDS: &[&str] = &[
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// Ravelin's extra columns, after haproxy's: `<timer>_<percentile>` in ms for `ttime`
/// (Tt), `rtime` (Tr), `ctime` (Tc), `qtime` (Tw).
pub(crate) const LATENCY_TIMERS: [&str; 4] = ["ttime", "rtime", "ctime", "qtime"];

/// Every column name, haproxy's then Ravelin's.
pub(crate) fn field_names() -> Vec<String> {
    let mut v: Vec<String> = HAPROXY_FIELDS.iter().map(|s| s.to_string()).collect();
    for t in LATENCY_TIMERS {
        for (p, _) in PERCENTILES {
            v.push(format!("{t}_{p}"));
        }
    }
    v
}

/// One value of a row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Value {
    /// Not applicable / unknown: an empty CSV field.
    #[default]
    Empty,
    U64(u64),
    Str(String),
}

impl Value {
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(v) => Some(*v),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Empty => Ok(()),
            Value::U64(v) => write!(f, "{v}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// What a row describes (HAProxy's `type` field: 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowKind {
    Frontend,
    Backend,
    Server,
}

/// One `show stat` line.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) kind: RowKind,
    /// Index of the frontend or backend in the model.
    pub(crate) proxy: usize,
    /// Index of the server in its backend (server rows).
    pub(crate) server: Option<usize>,
    pub(crate) values: Vec<Value>,
}

impl Row {
    fn new(kind: RowKind, proxy: usize, server: Option<usize>) -> Row {
        let mut r = Row {
            kind,
            proxy,
            server,
            values: vec![Value::Empty; HAPROXY_FIELDS.len() + 16],
        };
        // haproxy 2.6 prints a literal `-` in its `-` column (a separator before the
        // module counters).
        r.set("-", "-");
        r
    }

    /// `hrsp_1xx` ... `hrsp_other` from counters by class.
    fn set_hrsp(&mut self, by_class: &[std::sync::atomic::AtomicU64; 6]) {
        for (k, c) in by_class.iter().enumerate() {
            let name = HRSP.get(k).copied().unwrap_or("hrsp_other");
            self.set(name, c.load(Relaxed));
        }
    }

    /// `qtime`: the average queue wait (ms) of the streams that waited.
    fn set_qtime(
        &mut self,
        waits: &std::sync::atomic::AtomicU64,
        wait_ms: &std::sync::atomic::AtomicU64,
    ) {
        self.set(
            "qtime",
            wait_ms
                .load(Relaxed)
                .checked_div(waits.load(Relaxed))
                .unwrap_or(0),
        );
    }

    fn set(&mut self, name: &str, v: impl Into<Value>) {
        if let Some(i) = HAPROXY_FIELDS.iter().position(|f| *f == name) {
            if let Some(slot) = self.values.get_mut(i) {
                *slot = v.into();
            }
        }
    }

    /// The value of column `name` (haproxy's names, or a latency column).
    pub(crate) fn get(&self, name: &str) -> &Value {
        static EMPTY: Value = Value::Empty;
        let i = HAPROXY_FIELDS.iter().position(|f| *f == name).or_else(|| {
            let (t, p) = name.split_once('_')?;
            let ti = LATENCY_TIMERS.iter().position(|x| *x == t)?;
            let pi = PERCENTILES.iter().position(|(x, _)| *x == p)?;
            Some(HAPROXY_FIELDS.len() + ti * 4 + pi)
        });
        i.and_then(|i| self.values.get(i)).unwrap_or(&EMPTY)
    }

    pub(crate) fn u64(&self, name: &str) -> u64 {
        self.get(name).as_u64().unwrap_or(0)
    }

    pub(crate) fn str(&self, name: &str) -> String {
        self.get(name).to_string()
    }

    fn set_latency(&mut self, set: Option<latency::Set>) {
        let Some(set) = set else {
            return;
        };
        for (ti, h) in set.0.iter().enumerate() {
            if h.is_empty() {
                continue;
            }
            // HAProxy's averages and maxima (over its last 1024 streams; here over the run)
            // exist for backends and servers; `qtime` comes from the queue accounting.
            if self.kind != RowKind::Frontend {
                if let Some(t) = LATENCY_TIMERS.get(ti) {
                    if *t != "qtime" {
                        // Float to integer: `as` saturates; a mean in ms fits.
                        #[allow(clippy::cast_possible_truncation)]
                        let mean = h.mean().round() as u64;
                        self.set(t, mean);
                    }
                    self.set(&format!("{t}_max"), h.max());
                }
            }
            for (pi, v) in percentiles(h).into_iter().enumerate() {
                if let Some(slot) = self.values.get_mut(HAPROXY_FIELDS.len() + ti * 4 + pi) {
                    *slot = Value::U64(v);
                }
            }
        }
    }
}

/// `lastsess`: seconds since the last stream was assigned, `-1` before the first (HAProxy).
fn lastsess(since: Option<u32>) -> Value {
    since.map_or_else(|| Value::from("-1"), Value::from)
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::U64(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::U64(u64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

/// `show stat`'s output forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatForm {
    Csv,
    Typed,
    Json,
}

/// `show stat [{<iid>|<proxy>} <type> <sid>]`: which rows to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatFilter {
    /// A proxy name, or `#`-less numeric id as text; `None`: every proxy.
    pub(crate) proxy: Option<String>,
    /// -1: all; else a mask of 1 (frontends), 2 (backends), 4 (servers).
    pub(crate) kind_mask: i32,
    /// A server id (`sid`); `None` or -1: every server.
    pub(crate) server: Option<i32>,
    /// `show stat ... up`: only the servers that are UP.
    pub(crate) up_only: bool,
    /// `show stat ... no-maint`: no server in maintenance.
    pub(crate) no_maint: bool,
}

impl Default for StatFilter {
    fn default() -> StatFilter {
        StatFilter {
            proxy: None,
            kind_mask: -1,
            server: None,
            up_only: false,
            no_maint: false,
        }
    }
}

impl StatFilter {
    fn accepts(&self, row: &Row, name: &str, iid: u32, sid: u32) -> bool {
        if let Some(p) = &self.proxy {
            let by_id = p.parse::<u32>().ok() == Some(iid);
            if p != name && !by_id {
                return false;
            }
        }
        let bit = match row.kind {
            RowKind::Frontend => 1,
            RowKind::Backend => 2,
            RowKind::Server => 4,
        };
        if self.kind_mask != -1 && self.kind_mask & bit == 0 {
            return false;
        }
        match (row.kind, self.server) {
            (RowKind::Server, Some(s)) if s >= 0 => u32::try_from(s).ok() == Some(sid),
            _ => true,
        }
    }
}

/// What `show info` reports about the process that the shared state does not know.
#[derive(Clone, Debug, Default)]
pub struct ProcessInfo {
    pub(crate) pid: u32,
    /// `Instant`-free start time: seconds since the Unix epoch.
    pub(crate) start_unix: u64,
    pub(crate) nbthread: u32,
    /// e.g. `2.6-ravelin-0.1.0`.
    pub(crate) version: String,
    pub(crate) release_date: String,
    pub(crate) node: String,
    pub(crate) description: String,
    pub(crate) ulimit_n: u64,
    pub(crate) stopping: bool,
    /// The global `maxconn` at start (HAProxy's `Hard_maxconn`; 0: the current limit).
    pub(crate) hard_maxconn: u32,
}

impl ProcessInfo {
    /// The running process's values.
    pub(crate) fn current(shared: &SharedState) -> ProcessInfo {
        ProcessInfo {
            pid: std::process::id(),
            start_unix: shared.started_unix,
            nbthread: u32::try_from(shared.reactors()).unwrap_or(u32::MAX),
            version: version(),
            release_date: String::new(),
            node: hostname(),
            description: String::new(),
            ulimit_n: nofile_limit(),
            stopping: shared.soft_stop.load(Relaxed),
            hard_maxconn: 0,
        }
    }
}

/// The soft open-files limit (`Ulimit-n`), from `/proc/self/limits` (0: unknown).
fn nofile_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Ravelin's version as shown by the stats.
pub(crate) fn version() -> String {
    format!("ravelin-{}", env!("CARGO_PKG_VERSION"))
}

/// The host name (`node`), from `/proc` (no syscall wrapper needed).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// HAProxy's proxy ids (`iid`): proxies numbered from 1 in declaration order, a listen's two
/// halves sharing one. Returns (frontend ids, backend ids).
pub(crate) fn proxy_ids(model: &Model) -> (Vec<u32>, Vec<u32>) {
    let mut origins: Vec<(&str, u32, &str)> = Vec::new();
    for f in &model.frontends {
        origins.push((f.origin.file.as_str(), f.origin.line, &f.name));
    }
    for b in &model.backends {
        origins.push((b.origin.file.as_str(), b.origin.line, &b.name));
    }
    origins.sort();
    origins.dedup();
    let id = |o: (&str, u32, &str)| {
        origins
            .iter()
            .position(|x| *x == o)
            .and_then(|i| u32::try_from(i + 1).ok())
            .unwrap_or(0)
    };
    (
        model
            .frontends
            .iter()
            .map(|f| id((f.origin.file.as_str(), f.origin.line, &f.name)))
            .collect(),
        model
            .backends
            .iter()
            .map(|b| id((b.origin.file.as_str(), b.origin.line, &b.name)))
            .collect(),
    )
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Tcp => "tcp",
        Mode::Http => "http",
    }
}

/// A server's `status` text, as HAProxy's stats show it: `UP`, `DOWN`, `MAINT`, `DRAIN`,
/// `NOLB`, `no check`, and the transitions `UP 1/3` (going down) / `DOWN 1/2` (going up).
pub(crate) fn server_status(srv: &crate::model::Server, st: &crate::server::ServerState) -> String {
    if st.admin() == Admin::Maint {
        return "MAINT".into();
    }
    let checked = srv.check.enabled;
    let (rise, fall) = (srv.check.rise.max(1), srv.check.fall.max(1));
    let health = st.check.health.load(Relaxed);
    if st.is_up() {
        if st.admin() == Admin::Drain {
            "DRAIN".to_string()
        } else if st.is_nolb() {
            "NOLB".to_string()
        } else if !checked {
            "no check".to_string()
        } else if health < rise + fall - 1 && health >= rise {
            format!("UP {}/{}", health - rise + 1, fall)
        } else {
            "UP".to_string()
        }
    } else if checked && health > 0 && health < rise {
        format!("DOWN {health}/{rise}")
    } else {
        "DOWN".to_string()
    }
}

/// Builds every row, frontends first, then each backend's servers and its `BACKEND` row
/// (HAProxy's order is per proxy in declaration order; the `iid` tells them apart).
pub(crate) fn collect(shared: &SharedState, filter: &StatFilter) -> Vec<Row> {
    let model = &shared.model;
    let now_ms = shared.ms(std::time::Instant::now());
    let (fe_ids, be_ids) = proxy_ids(model);
    let mut rows = Vec::new();
    // Walk proxies in iid order so a listen's FRONTEND, servers and BACKEND come together.
    let mut order: Vec<(u32, u8, usize)> = Vec::new();
    for (i, id) in fe_ids.iter().enumerate() {
        order.push((*id, 0, i));
    }
    for (i, id) in be_ids.iter().enumerate() {
        order.push((*id, 1, i));
    }
    order.sort();
    for (iid, what, i) in order {
        if what == 0 {
            let (Some(fe), Some(fs)) = (model.frontends.get(i), shared.frontends.get(i)) else {
                continue;
            };
            let mut r = Row::new(RowKind::Frontend, i, None);
            if !filter.accepts(&r, &fe.name, iid, 0) {
                continue;
            }
            r.set("pxname", fe.name.as_str());
            r.set("svname", "FRONTEND");
            r.set("scur", fs.conns.cur());
            r.set("smax", fs.conns.peak());
            r.set("slim", fs.conns.limit());
            r.set("stot", fs.total.load(Relaxed));
            r.set("bin", fs.bytes_in.load(Relaxed));
            r.set("bout", fs.bytes_out.load(Relaxed));
            r.set("dreq", fs.denied.load(Relaxed));
            r.set("dresp", 0u64);
            r.set("ereq", fs.req_errors.load(Relaxed));
            let stopped = shared.soft_stop.load(Relaxed) || shared.hard_stop.load(Relaxed);
            r.set("status", if stopped { "STOP" } else { "OPEN" });
            r.set("pid", 1u64);
            r.set("iid", iid);
            r.set("sid", 0u64);
            r.set("type", 0u64);
            r.set("rate", fs.rate.per_sec(now_ms));
            r.set("rate_lim", 0u64);
            r.set("rate_max", fs.rate.max());
            if fe.mode == Mode::Http {
                r.set_hrsp(&fs.http_responses);
                r.set("req_tot", fs.requests.load(Relaxed));
                r.set("intercepted", fs.intercepted.load(Relaxed));
            }
            r.set("mode", mode_name(fe.mode));
            r.set("conn_tot", fs.conn_total.load(Relaxed));
            if fe.binds.iter().any(|b| b.tls.is_some()) {
                r.set("ssl_sess", fs.ssl_sess.load(Relaxed));
                r.set("ssl_reused_sess", fs.ssl_reused.load(Relaxed));
                r.set("ssl_failed_handshake", fs.ssl_failed.load(Relaxed));
            }
            r.set("conn_rate", fs.conn_rate.per_sec(now_ms));
            r.set("conn_rate_max", fs.conn_rate.max());
            r.set_latency(shared.latency.merged(Object::Frontend(i)));
            rows.push(r);
            continue;
        }
        let (Some(be), Some(bs)) = (model.backends.get(i), shared.backends.get(i)) else {
            continue;
        };
        let mut totals = Totals::default();
        // The configured servers, then those added at run time (`add server`).
        for (si, srv) in shared.servers_of(crate::model::BackendId::from_index(i)) {
            let Some(st) = bs.servers.get(si) else {
                continue;
            };
            let mut r = Row::new(RowKind::Server, i, Some(si));
            let usable = st.is_usable();
            if usable {
                if srv.backup {
                    totals.bck += 1;
                } else {
                    totals.act += 1;
                    totals.weight += st.weight();
                }
            }
            totals.econ += st.connect_errors.load(Relaxed);
            totals.wretr += st.retries.load(Relaxed);
            totals.wredis += st.redispatches.load(Relaxed);
            totals.scur += st.conns.cur();
            totals.lbtot += st.total.load(Relaxed);
            if !filter.accepts(&r, &be.name, iid, srv.id)
                || (filter.up_only && !st.is_up())
                || (filter.no_maint && st.admin() == crate::server::Admin::Maint)
            {
                continue;
            }
            r.set("pxname", be.name.as_str());
            r.set("svname", srv.name.as_str());
            r.set("qcur", st.queue.len());
            r.set("qmax", st.queue.peak());
            r.set("scur", st.conns.cur());
            r.set("smax", st.conns.peak());
            if st.conns.limit() > 0 {
                r.set("slim", st.conns.limit());
            }
            r.set("stot", st.total.load(Relaxed));
            r.set("bin", st.bytes_in.load(Relaxed));
            r.set("bout", st.bytes_out.load(Relaxed));
            r.set("dresp", 0u64);
            r.set("econ", st.connect_errors.load(Relaxed));
            r.set("eresp", st.resp_errors.load(Relaxed));
            r.set("wretr", st.retries.load(Relaxed));
            r.set("wredis", st.redispatches.load(Relaxed));
            r.set("cli_abrt", st.cli_aborts.load(Relaxed));
            r.set("lastsess", lastsess(st.rate.since_last(now_ms)));
            r.set("srv_abrt", st.srv_aborts.load(Relaxed));
            r.set("status", server_status(&srv, st));
            r.set("weight", st.weight());
            r.set("act", u64::from(!srv.backup));
            r.set("bck", u64::from(srv.backup));
            if srv.check.enabled {
                r.set("chkfail", st.check.failed.load(Relaxed));
                r.set("chkdown", st.check.down_transitions.load(Relaxed));
            }
            let last = st.check.last_change_ms.load(Relaxed);
            r.set("lastchg", now_ms.saturating_sub(last) / 1000);
            if srv.check.enabled {
                r.set("downtime", st.downtime.total_ms(now_ms) / 1000);
            }
            if st.maxqueue > 0 {
                r.set("qlimit", st.maxqueue);
            }
            r.set("pid", 1u64);
            r.set("iid", iid);
            r.set("sid", srv.id);
            r.set("lbtot", st.total.load(Relaxed));
            r.set("type", 2u64);
            r.set("rate", st.rate.per_sec(now_ms));
            r.set("rate_max", st.rate.max());
            if srv.check.enabled {
                let status = Status::from_u8(st.check.status.load(Relaxed));
                r.set("check_status", status.code());
                let code = st.check.code.load(Relaxed);
                if code > 0 {
                    r.set("check_code", code);
                }
                if status != Status::Ini {
                    r.set("check_duration", st.check.duration_ms.load(Relaxed));
                }
                r.set("check_desc", status.description());
                r.set("check_rise", srv.check.rise);
                r.set("check_fall", srv.check.fall);
                r.set("check_health", st.check.health.load(Relaxed));
            } else {
                r.set("check_status", "");
            }
            if srv.check.agent {
                let a = Status::from_u8(st.check.agent_status.load(Relaxed));
                r.set("agent_status", a.code());
                r.set("agent_desc", a.description());
            }
            if be.mode == Mode::Http {
                r.set_hrsp(&st.http_responses);
                // HAProxy counts a server's `req_tot` with its `hrsp_*`: one per response
                // head received from it.
                let responses: u64 = st.http_responses.iter().map(|c| c.load(Relaxed)).sum();
                r.set("req_tot", responses);
            }
            r.set("hanafail", st.failed_hana.load(Relaxed));
            r.set_qtime(&st.queue_waits, &st.queue_wait_ms);
            match st.runtime_addr() {
                // `set server ... addr`: the address connects use now.
                Some((ip, port)) => r.set(
                    "addr",
                    server_addr(&ServerAddr::Inet {
                        ip,
                        port: port
                            .map_or_else(|| port_rule(&srv.addr), crate::model::PortRule::Fixed),
                    }),
                ),
                None => r.set("addr", server_addr(&srv.addr)),
            }
            if let Some(c) = &srv.cookie {
                r.set("cookie", c.as_str());
            }
            r.set("mode", mode_name(be.mode));
            r.set("uweight", st.weight());
            r.set_latency(shared.latency.merged(Object::Server(i, si)));
            rows.push(r);
        }
        let mut r = Row::new(RowKind::Backend, i, None);
        if !filter.accepts(&r, &be.name, iid, 0) {
            continue;
        }
        let up = totals.act + totals.bck > 0;
        r.set("pxname", be.name.as_str());
        r.set("svname", "BACKEND");
        r.set("qcur", bs.queue.len());
        r.set("qmax", bs.queue.peak());
        r.set("scur", totals.scur);
        r.set("smax", bs.beconn.peak());
        r.set("slim", bs.fullconn);
        r.set("stot", bs.total.load(Relaxed));
        r.set("bin", bs.bytes_in.load(Relaxed));
        r.set("bout", bs.bytes_out.load(Relaxed));
        r.set("dreq", 0u64);
        r.set("dresp", 0u64);
        r.set("econ", totals.econ);
        r.set("eresp", bs.resp_errors.load(Relaxed));
        r.set("cli_abrt", bs.cli_aborts.load(Relaxed));
        r.set("lastsess", lastsess(bs.rate.since_last(now_ms)));
        r.set("srv_abrt", bs.srv_aborts.load(Relaxed));
        r.set("wretr", totals.wretr);
        r.set("wredis", totals.wredis);
        r.set("status", if up { "UP" } else { "DOWN" });
        r.set("weight", totals.weight);
        r.set("act", totals.act);
        r.set("bck", totals.bck);
        r.set("chkdown", 0u64);
        r.set(
            "lastchg",
            now_ms.saturating_sub(bs.last_change_ms.load(Relaxed)) / 1000,
        );
        r.set("downtime", bs.downtime.total_ms(now_ms) / 1000);
        r.set("pid", 1u64);
        r.set("iid", iid);
        r.set("sid", 0u64);
        r.set("lbtot", totals.lbtot);
        r.set("type", 1u64);
        r.set("rate", bs.rate.per_sec(now_ms));
        r.set("rate_max", bs.rate.max());
        if be.mode == Mode::Http {
            r.set_hrsp(&bs.http_responses);
            r.set("req_tot", bs.requests.load(Relaxed));
        }
        r.set_qtime(&bs.queue_waits, &bs.queue_wait_ms);
        r.set("mode", mode_name(be.mode));
        r.set("algo", be.balance.keyword());
        r.set("uweight", totals.weight);
        r.set_latency(shared.latency.merged(Object::Backend(i)));
        rows.push(r);
    }
    rows
}

const HRSP: [&str; 6] = [
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
];

#[derive(Default)]
struct Totals {
    act: u32,
    bck: u32,
    weight: u32,
    econ: u64,
    wretr: u64,
    wredis: u64,
    scur: u32,
    /// Streams given to one of the servers (the backend's `lbtot`).
    lbtot: u64,
}

/// The port rule of a configured address (a unix socket has none: the client's port).
fn port_rule(a: &ServerAddr) -> crate::model::PortRule {
    match a {
        ServerAddr::Inet { port, .. } => *port,
        ServerAddr::Unix(_) => crate::model::PortRule::Same,
    }
}

fn server_addr(a: &ServerAddr) -> String {
    match a {
        ServerAddr::Inet { ip, port } => {
            let port = match port {
                crate::model::PortRule::Fixed(p) => p.to_string(),
                crate::model::PortRule::Offset(o) => format!("{o:+}"),
                crate::model::PortRule::Same => "0".into(),
            };
            match ip {
                std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
                std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            }
        }
        ServerAddr::Unix(p) => format!("unix@{}", p.display()),
    }
}

/// The CSV header line (`# pxname,...,` and a newline).
pub(crate) fn csv_header(out: &mut String) {
    out.push_str("# ");
    for f in field_names() {
        out.push_str(&f);
        out.push(',');
    }
    out.push('\n');
}

/// A CSV field: HAProxy quotes fields holding a comma, quote or newline (`csv_enc`).
fn csv_field(out: &mut String, v: &Value) {
    let s = v.to_string();
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&s);
    }
}

/// `rows` as CSV lines (no header).
pub(crate) fn csv_rows(rows: &[Row], out: &mut String) {
    for r in rows {
        for v in &r.values {
            csv_field(out, v);
            out.push(',');
        }
        out.push('\n');
    }
}

/// `show stat` in one of its forms (without the CLI's closing empty line, which is the
/// runtime API's to add, as for every command). CSV: header, then rows. Typed: `F.iid.sid.pos.name.1:tags:type:value` lines. JSON:
/// an array of rows, each an array of field objects.
pub(crate) fn show_stat(
    shared: &SharedState,
    form: StatForm,
    filter: &StatFilter,
    out: &mut String,
) {
    let rows = collect(shared, filter);
    let names = field_names();
    match form {
        StatForm::Csv => {
            csv_header(out);
            csv_rows(&rows, out);
        }
        StatForm::Typed => {
            for r in &rows {
                let letter = match r.kind {
                    RowKind::Frontend => 'F',
                    RowKind::Backend => 'B',
                    RowKind::Server => 'S',
                };
                let (iid, sid) = (r.u64("iid"), r.u64("sid"));
                for (i, (name, v)) in names.iter().zip(r.values.iter()).enumerate() {
                    let pos = typed_pos(i);
                    // `-` only separates the CSV's module columns.
                    if *v == Value::Empty || name == "-" {
                        continue;
                    }
                    let (tags, ty) = typed_tags(name, r.kind, v);
                    let _ = writeln!(out, "{letter}.{iid}.{sid}.{pos}.{name}.1:{tags}:{ty}:{v}");
                }
            }
        }
        StatForm::Json => {
            out.push('[');
            for (ri, r) in rows.iter().enumerate() {
                if ri > 0 {
                    out.push(',');
                }
                let obj = match r.kind {
                    RowKind::Frontend => "Frontend",
                    RowKind::Backend => "Backend",
                    RowKind::Server => "Server",
                };
                let (iid, sid) = (r.u64("iid"), r.u64("sid"));
                out.push('[');
                let mut first = true;
                for (i, (name, v)) in names.iter().zip(r.values.iter()).enumerate() {
                    let pos = typed_pos(i);
                    // `-` only separates the CSV's module columns.
                    if *v == Value::Empty || name == "-" {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    let (tags, ty) = typed_tags(name, r.kind, v);
                    let value = match v {
                        Value::U64(n) => n.to_string(),
                        // A signed number kept as text (`lastsess`'s -1) stays a number.
                        Value::Str(t) if ty == "s32" && t.parse::<i64>().is_ok() => t.clone(),
                        _ => json_string(&v.to_string()),
                    };
                    let (origin, nature, scope) = tag_words(tags);
                    let _ = write!(
                        out,
                        "{{\"objType\":\"{obj}\",\"proxyId\":{iid},\"id\":{sid},\"field\":{{\"pos\":{pos},\"name\":{}}},\"processNum\":1,\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}},\"value\":{{\"type\":\"{ty}\",\"value\":{value}}}}}",
                        json_string(name)
                    );
                }
                out.push(']');
            }
            out.push_str("]\n");
        }
    }
}

/// A column's position in the typed and JSON forms: the CSV's `-` separator is not a field
/// there, so the columns after it move up by one (haproxy 2.6: `ssl_sess` is 103).
fn typed_pos(i: usize) -> usize {
    match HAPROXY_FIELDS.iter().position(|f| *f == "-") {
        Some(dash) if i > dash => i - 1,
        _ => i,
    }
}

/// A typed field's three tag letters (`MCP`) as the JSON form's origin, nature and scope.
fn tag_words(tags: &str) -> (&'static str, &'static str, &'static str) {
    let mut t = tags.chars();
    let origin = tag_word(t.next(), true);
    let nature = tag_word(t.next(), false);
    let scope = if t.next() == Some('S') {
        "Service"
    } else {
        "Process"
    };
    (origin, nature, scope)
}

fn tag_word(c: Option<char>, origin: bool) -> &'static str {
    match (origin, c) {
        (true, Some('K')) => "Key",
        (true, Some('C')) => "Config",
        (true, Some('P')) => "Product",
        (true, Some('S')) => "Status",
        (true, _) => "Metric",
        (false, Some('G')) => "Gauge",
        (false, Some('L')) => "Limit",
        (false, Some('M')) => "Max",
        (false, Some('C')) => "Counter",
        (false, Some('R')) => "Rate",
        (false, Some('A')) => "Age",
        (false, Some('a')) => "Avg",
        (false, Some('D')) => "Duration",
        (false, Some('O')) => "Output",
        (false, Some('N')) => "Name",
        (false, _) => "Counter",
    }
}

/// haproxy 2.6.12's typed tags and types, from its `show stat typed` output.
const TYPED: &[(&str, &str, &str)] = &[
    ("addr", "CGS", "str"),
    ("agg_check_status", "MGP", "u32"),
    ("agg_server_check_status", "MGP", "u32"),
    ("agg_server_status", "MGP", "u32"),
    ("algo", "CGS", "str"),
    ("bin", "MCP", "u64"),
    ("bout", "MCP", "u64"),
    ("cache_hits", "MCP", "u64"),
    ("cache_lookups", "MCP", "u64"),
    ("chkdown", "MCP", "u64"),
    ("cli_abrt", "MCP", "u64"),
    ("comp_byp", "MCP", "u64"),
    ("comp_in", "MCP", "u64"),
    ("comp_out", "MCP", "u64"),
    ("comp_rsp", "MCP", "u64"),
    ("conn_rate", "MRP", "u32"),
    ("conn_rate_max", "MMP", "u32"),
    ("conn_tot", "MCP", "u64"),
    ("connect", "MCP", "u64"),
    ("ctime", "MaP", "u32"),
    ("ctime_max", "MMP", "u32"),
    ("dcon", "MCP", "u64"),
    ("downtime", "MCP", "u32"),
    ("dreq", "MCP", "u64"),
    ("dresp", "MCP", "u64"),
    ("dses", "MCP", "u64"),
    ("econ", "MCP", "u64"),
    ("eint", "MCP", "u64"),
    ("ereq", "MCP", "u64"),
    ("eresp", "MCP", "u64"),
    ("h1_bytes_in", "MCP", "u64"),
    ("h1_bytes_out", "MCP", "u64"),
    ("h1_open_connections", "MGP", "u64"),
    ("h1_open_streams", "MGP", "u64"),
    ("h1_spliced_bytes_in", "MCP", "u64"),
    ("h1_spliced_bytes_out", "MCP", "u64"),
    ("h1_total_connections", "MCP", "u64"),
    ("h1_total_streams", "MCP", "u64"),
    ("h2_backend_open_streams", "MGP", "u64"),
    ("h2_backend_total_streams", "MCP", "u64"),
    ("h2_data_rcvd", "MCP", "u64"),
    ("h2_detected_conn_protocol_errors", "MCP", "u64"),
    ("h2_detected_strm_protocol_errors", "MCP", "u64"),
    ("h2_goaway_rcvd", "MCP", "u64"),
    ("h2_goaway_resp", "MCP", "u64"),
    ("h2_headers_rcvd", "MCP", "u64"),
    ("h2_open_connections", "MGP", "u64"),
    ("h2_rst_stream_rcvd", "MCP", "u64"),
    ("h2_rst_stream_resp", "MCP", "u64"),
    ("h2_settings_rcvd", "MCP", "u64"),
    ("h2_total_connections", "MCP", "u64"),
    ("hrsp_1xx", "MCP", "u64"),
    ("hrsp_2xx", "MCP", "u64"),
    ("hrsp_3xx", "MCP", "u64"),
    ("hrsp_4xx", "MCP", "u64"),
    ("hrsp_5xx", "MCP", "u64"),
    ("hrsp_other", "MCP", "u64"),
    ("idle_conn_cur", "MGP", "u32"),
    ("iid", "KGS", "u32"),
    ("intercepted", "MCP", "u64"),
    ("lastchg", "MAP", "u32"),
    ("lastsess", "MAP", "s32"),
    ("lbtot", "MCP", "u64"),
    ("mode", "CGS", "str"),
    ("need_conn_est", "MGP", "u32"),
    ("pid", "KGP", "u32"),
    ("pxname", "KNS", "str"),
    ("qcur", "MGP", "u32"),
    ("qmax", "MMP", "u32"),
    ("qtime", "MaP", "u32"),
    ("qtime_max", "MMP", "u32"),
    ("rate_lim", "CLP", "u32"),
    ("req_rate", "MRP", "u32"),
    ("req_rate_max", "MMP", "u32"),
    ("req_tot", "MCP", "u64"),
    ("reuse", "MCP", "u64"),
    ("rtime", "MaP", "u32"),
    ("rtime_max", "MMP", "u32"),
    ("safe_conn_cur", "MGP", "u32"),
    ("scur", "MGP", "u32"),
    ("sid", "KGS", "u32"),
    ("slim", "CLP", "u32"),
    ("smax", "MMP", "u32"),
    ("srv_abrt", "MCP", "u64"),
    ("srv_icur", "MGP", "u32"),
    ("ssl_failed_handshake", "MCP", "u64"),
    ("ssl_reused_sess", "MCP", "u64"),
    ("ssl_sess", "MCP", "u64"),
    ("status", "SGP", "str"),
    ("stot", "MCP", "u64"),
    ("svname", "KNS", "str"),
    ("ttime", "MaP", "u32"),
    ("ttime_max", "MMP", "u32"),
    ("type", "CGS", "u32"),
    ("used_conn_cur", "MGP", "u32"),
    ("uweight", "MaP", "u32"),
    ("weight", "MaP", "u32"),
    ("wredis", "MCP", "u64"),
    ("wretr", "MCP", "u64"),
    ("wrew", "MCP", "u64"),
];

/// The typed tags (origin, nature, scope) and type of a field: haproxy's where its output
/// shows them (`rate`, `rate_max`, `act`, `bck` differ between backends and the others),
/// approximated by kind for the fields it did not print.
fn typed_tags(name: &str, kind: RowKind, v: &Value) -> (&'static str, &'static str) {
    match (name, kind) {
        ("rate" | "rate_max", RowKind::Backend) => return ("MGP", "u32"),
        ("rate", _) => return ("MRP", "u32"),
        ("rate_max", _) => return ("MMP", "u32"),
        ("act" | "bck", RowKind::Server) => return ("SGP", "u32"),
        ("act" | "bck", _) => return ("MGP", "u32"),
        _ => {}
    }
    if let Some((_, t, ty)) = TYPED.iter().find(|(n, _, _)| *n == name) {
        return (t, ty);
    }
    match (name, v) {
        (_, Value::Str(_)) => ("SOS", "str"),
        ("qlimit" | "check_rise" | "check_fall", _) => ("CLP", "u32"),
        ("check_duration" | "check_code" | "check_health", _) => ("MDP", "u32"),
        _ => ("MCP", "u64"),
    }
}

/// A JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// `0d 0h00m00s`, HAProxy's uptime format.
pub(crate) fn uptime_text(secs: u64) -> String {
    format!(
        "{}d {}h{:02}m{:02}s",
        secs / 86400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// `show info`: haproxy 2.6's field names and order, for the fields Ravelin has (others are
/// left out rather than invented).
pub(crate) fn show_info(shared: &SharedState, info: &ProcessInfo, out: &mut String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let uptime = now.saturating_sub(info.start_unix);
    let cum_conns: u64 = shared
        .frontends
        .iter()
        .map(|f| f.conn_total.load(Relaxed))
        .sum();
    let cum_req: u64 = shared
        .frontends
        .iter()
        .map(|f| f.requests.load(Relaxed))
        .sum();
    let bytes_out: u64 = shared
        .frontends
        .iter()
        .map(|f| f.bytes_out.load(Relaxed))
        .sum();
    let now_ms = shared.ms(std::time::Instant::now());
    let conn_rate: u32 = shared
        .frontends
        .iter()
        .map(|f| f.conn_rate.per_sec(now_ms))
        .sum();
    let max_conn_rate: u32 = shared.frontends.iter().map(|f| f.conn_rate.max()).sum();
    let sess_rate: u32 = shared
        .frontends
        .iter()
        .map(|f| f.rate.per_sec(now_ms))
        .sum();
    let max_rate: u32 = shared.frontends.iter().map(|f| f.rate.max()).sum();
    let listeners: usize = shared.model.frontends.iter().map(|f| f.binds.len()).sum();
    let lines: [(&str, String); 30] = [
        ("Name", "Ravelin".into()),
        ("Version", info.version.clone()),
        ("Release_date", info.release_date.clone()),
        ("Nbthread", info.nbthread.to_string()),
        ("Nbproc", "1".into()),
        ("Process_num", "1".into()),
        ("Pid", info.pid.to_string()),
        ("Uptime", uptime_text(uptime)),
        ("Uptime_sec", uptime.to_string()),
        ("Ulimit-n", info.ulimit_n.to_string()),
        ("Maxsock", shared.maxsock.to_string()),
        ("Maxconn", shared.global.limit().to_string()),
        (
            "Hard_maxconn",
            if info.hard_maxconn > 0 {
                info.hard_maxconn
            } else {
                shared.global.limit()
            }
            .to_string(),
        ),
        ("CurrConns", shared.global.cur().to_string()),
        ("CumConns", cum_conns.to_string()),
        ("CumReq", cum_req.to_string()),
        ("ConnRate", conn_rate.to_string()),
        ("ConnRateLimit", "0".into()),
        ("MaxConnRate", max_conn_rate.to_string()),
        ("SessRate", sess_rate.to_string()),
        ("SessRateLimit", "0".into()),
        ("MaxSessRate", max_rate.to_string()),
        ("node", info.node.clone()),
        ("description", info.description.clone()),
        ("Stopping", u8::from(info.stopping).to_string()),
        ("Jobs", (shared.live_streams() + listeners).to_string()),
        ("Listeners", listeners.to_string()),
        ("TotalBytesOut", bytes_out.to_string()),
        ("Build info", info.version.clone()),
        ("Start_time_sec", info.start_unix.to_string()),
    ];
    for (k, v) in lines {
        if k == "description" && v.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{k}: {v}");
    }
}

#[cfg(test)]
mod tests;

/// haproxy 2.6.12's `show info typed` positions, tags and types for the fields Ravelin
/// prints (from the real binary's output; positions skip the fields Ravelin leaves out).
const INFO_TYPED: &[(&str, usize, &str, &str)] = &[
    ("Name", 0, "POS", "str"),
    ("Version", 1, "POS", "str"),
    ("Release_date", 2, "POS", "str"),
    ("Nbthread", 3, "CGS", "u32"),
    ("Nbproc", 4, "CGS", "u32"),
    ("Process_num", 5, "KGP", "u32"),
    ("Pid", 6, "SGP", "u32"),
    ("Uptime", 7, "MDP", "str"),
    ("Uptime_sec", 8, "MDP", "u32"),
    ("Ulimit-n", 13, "CLP", "u32"),
    ("Maxsock", 14, "CLP", "u32"),
    ("Maxconn", 15, "CLP", "u32"),
    ("Hard_maxconn", 16, "CLP", "u32"),
    ("CurrConns", 17, "MGP", "u32"),
    ("CumConns", 18, "MCP", "u32"),
    ("CumReq", 19, "MCP", "u32"),
    ("ConnRate", 26, "MRP", "u32"),
    ("ConnRateLimit", 27, "CLP", "u32"),
    ("MaxConnRate", 28, "MMP", "u32"),
    ("SessRate", 29, "MRP", "u32"),
    ("SessRateLimit", 30, "CLP", "u32"),
    ("MaxSessRate", 31, "MRP", "u32"),
    ("node", 50, "COS", "str"),
    ("description", 51, "COS", "str"),
    ("Stopping", 52, "MGP", "u32"),
    ("Jobs", 53, "MGP", "u32"),
    ("Listeners", 55, "MGP", "u32"),
    ("TotalBytesOut", 61, "MGP", "u64"),
    ("Build info", 66, "POS", "str"),
    ("Start_time_sec", 70, "MDP", "u32"),
];

/// `show info` in `form`: the `Name: value` lines as they are, or HAProxy's typed
/// (`POS.Name.1:TAGS:type:value`) and JSON shapes with haproxy 2.6's positions and tags.
pub(crate) fn info_form(plain: &str, form: StatForm, out: &mut String) {
    let fields = plain
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| {
            let (pos, tags, ty) = INFO_TYPED
                .iter()
                .find(|(n, ..)| *n == k)
                .map_or((0, "MGP", "str"), |(_, p, t, ty)| (*p, *t, *ty));
            (k, v, pos, tags, ty)
        });
    match form {
        StatForm::Csv => out.push_str(plain),
        StatForm::Typed => {
            for (k, v, pos, tags, ty) in fields {
                let _ = writeln!(out, "{pos}.{k}.1:{tags}:{ty}:{v}");
            }
        }
        StatForm::Json => {
            out.push('[');
            for (i, (k, v, pos, tags, ty)) in fields.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let (origin, nature, scope) = tag_words(tags);
                let value = if ty == "str" || v.parse::<u64>().is_err() {
                    json_string(v)
                } else {
                    v.to_string()
                };
                let _ = write!(
                    out,
                    "{{\"field\":{{\"pos\":{pos},\"name\":{}}},\"processNum\":1,\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}},\"value\":{{\"type\":\"{ty}\",\"value\":{value}}}}}",
                    json_string(k)
                );
            }
            out.push_str("]\n");
        }
    }
}
