//! The Prometheus exporter (`http-request use-service prometheus-exporter`): text exposition
//! format 0.0.4, metric names and labels in the style of HAProxy's exporter with the prefix
//! `ravelin_` (`ravelin_process_*`, `ravelin_frontend_*{proxy=...}`, `ravelin_backend_*`,
//! `ravelin_server_*{proxy=...,server=...}`), plus latency histograms
//! (`ravelin_<kind>_<timer>_time_seconds_bucket|_sum|_count`) from `server::latency`.

use std::fmt::Write as _;

use super::{ProcessInfo, Row, RowKind, StatFilter};
use crate::server::SharedState;
use crate::server::latency::{Object, Set};

/// One metric family taken from a stats column.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    /// Bit mask of row kinds: 1 frontend, 2 backend, 4 server.
    rows: u8,
    field: &'static str,
    /// Divide by 1000 (ms → s).
    ms: bool,
}

const fn fam(
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    rows: u8,
    field: &'static str,
) -> Family {
    Family {
        name,
        help,
        kind,
        rows,
        field,
        ms: false,
    }
}

const FAMILIES: &[Family] = &[
    fam(
        "current_queue",
        "Current number of queued requests.",
        "gauge",
        6,
        "qcur",
    ),
    fam(
        "max_queue",
        "Maximum observed number of queued requests.",
        "gauge",
        6,
        "qmax",
    ),
    fam(
        "current_sessions",
        "Number of current sessions.",
        "gauge",
        7,
        "scur",
    ),
    fam(
        "max_sessions",
        "Maximum observed number of active sessions.",
        "gauge",
        7,
        "smax",
    ),
    fam(
        "limit_sessions",
        "Configured session limit.",
        "gauge",
        7,
        "slim",
    ),
    fam(
        "sessions_total",
        "Total number of sessions.",
        "counter",
        7,
        "stot",
    ),
    fam(
        "bytes_in_total",
        "Current total of incoming bytes.",
        "counter",
        7,
        "bin",
    ),
    fam(
        "bytes_out_total",
        "Current total of outgoing bytes.",
        "counter",
        7,
        "bout",
    ),
    fam(
        "requests_denied_total",
        "Total number of denied requests.",
        "counter",
        1,
        "dreq",
    ),
    fam(
        "request_errors_total",
        "Total number of request errors.",
        "counter",
        1,
        "ereq",
    ),
    fam(
        "connection_errors_total",
        "Total number of connection errors.",
        "counter",
        6,
        "econ",
    ),
    fam(
        "response_errors_total",
        "Total number of response errors.",
        "counter",
        2,
        "eresp",
    ),
    fam(
        "retry_warnings_total",
        "Total number of retry warnings.",
        "counter",
        6,
        "wretr",
    ),
    fam(
        "redispatch_warnings_total",
        "Total number of redispatch warnings.",
        "counter",
        6,
        "wredis",
    ),
    fam("weight", "Service weight.", "gauge", 6, "weight"),
    fam(
        "active_servers",
        "Current number of active servers.",
        "gauge",
        2,
        "act",
    ),
    fam(
        "backup_servers",
        "Current number of backup servers.",
        "gauge",
        2,
        "bck",
    ),
    fam(
        "check_failures_total",
        "Total number of failed check (Only counts checks failed when the server is up).",
        "counter",
        4,
        "chkfail",
    ),
    fam(
        "check_up_down_total",
        "Total number of UP->DOWN transitions.",
        "counter",
        4,
        "chkdown",
    ),
    fam(
        "check_last_change_seconds",
        "How long ago the last server state changed, in seconds.",
        "gauge",
        6,
        "lastchg",
    ),
    fam(
        "downtime_seconds_total",
        "Total downtime (in seconds) for the service.",
        "counter",
        6,
        "downtime",
    ),
    fam(
        "queue_limit",
        "Configured maxqueue for the server (0 meaning no limit).",
        "gauge",
        4,
        "qlimit",
    ),
    fam(
        "loadbalanced_total",
        "Total number of times a service was selected, either for new sessions, or when redispatching.",
        "counter",
        6,
        "lbtot",
    ),
    fam(
        "current_session_rate",
        "Current number of sessions per second over last elapsed second.",
        "gauge",
        7,
        "rate",
    ),
    fam(
        "max_session_rate",
        "Maximum observed number of sessions per second.",
        "gauge",
        7,
        "rate_max",
    ),
    fam(
        "check_code",
        "layer5-7 code, if available of the last health check.",
        "gauge",
        4,
        "check_code",
    ),
    fam(
        "http_requests_total",
        "Total number of HTTP requests received.",
        "counter",
        3,
        "req_tot",
    ),
    fam(
        "intercepted_requests_total",
        "Total number of intercepted HTTP requests.",
        "counter",
        1,
        "intercepted",
    ),
    fam(
        "connections_total",
        "Total number of connections.",
        "counter",
        1,
        "conn_tot",
    ),
    Family {
        name: "check_duration_seconds",
        help: "Total duration of the latest server health check, in seconds.",
        kind: "gauge",
        rows: 4,
        field: "check_duration",
        ms: true,
    },
    Family {
        name: "queue_time_average_seconds",
        help: "Avg. queue time for last 1024 successful connections.",
        kind: "gauge",
        rows: 6,
        field: "qtime",
        ms: true,
    },
];

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const TIMER_HELP: [&str; 4] = [
    "total time of a stream (Tt)",
    "server response time (Tr)",
    "server connect time (Tc)",
    "time spent in queues (Tw)",
];

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(r: &Row) -> String {
    match r.kind {
        RowKind::Server => format!(
            "proxy=\"{}\",server=\"{}\"",
            label(&r.str("pxname")),
            label(&r.str("svname"))
        ),
        _ => format!("proxy=\"{}\"", label(&r.str("pxname"))),
    }
}

fn kind_word(k: RowKind) -> (&'static str, u8) {
    match k {
        RowKind::Frontend => ("frontend", 1),
        RowKind::Backend => ("backend", 2),
        RowKind::Server => ("server", 4),
    }
}

fn head(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The whole exposition.
pub fn render(shared: &SharedState, info: &ProcessInfo, out: &mut String) {
    process(shared, info, out);
    let rows = super::collect(shared, &StatFilter::default());
    for kind in [RowKind::Frontend, RowKind::Backend, RowKind::Server] {
        let (word, bit) = kind_word(kind);
        let of_kind: Vec<&Row> = rows.iter().filter(|r| r.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        // Status: one sample per state, 1 for the current one (HAProxy's exporter style).
        let name = format!("ravelin_{word}_status");
        head(
            out,
            &name,
            "Current status of the service, per state label value.",
            "gauge",
        );
        for r in &of_kind {
            let cur = r.str("status");
            let states: &[&str] = match kind {
                RowKind::Frontend => &["DOWN", "UP"],
                RowKind::Backend => &["DOWN", "UP"],
                RowKind::Server => &["DOWN", "UP", "MAINT", "DRAIN", "NOLB", "no_check"],
            };
            let cur = match cur.as_str() {
                "OPEN" => "UP",
                "STOP" => "DOWN",
                "no check" => "no_check",
                s if s.starts_with("UP ") => "UP",
                s if s.starts_with("DOWN ") => "DOWN",
                s => s,
            }
            .to_string();
            for s in states {
                let _ = writeln!(
                    out,
                    "{name}{{{},state=\"{s}\"}} {}",
                    labels(r),
                    u8::from(cur == *s)
                );
            }
        }
        for f in FAMILIES.iter().filter(|f| f.rows & bit != 0) {
            let name = format!("ravelin_{word}_{}", f.name);
            let present: Vec<&&Row> = of_kind
                .iter()
                .filter(|r| r.get(f.field).as_u64().is_some())
                .collect();
            if present.is_empty() {
                continue;
            }
            head(out, &name, f.help, f.kind);
            for r in present {
                let v = r.u64(f.field);
                if f.ms {
                    let _ = writeln!(out, "{name}{{{}}} {}", labels(r), v as f64 / 1000.0);
                } else {
                    let _ = writeln!(out, "{name}{{{}}} {v}", labels(r));
                }
            }
        }
        {
            let name = format!("ravelin_{word}_http_responses_total");
            let http: Vec<&&Row> = of_kind
                .iter()
                .filter(|r| r.get("hrsp_2xx").as_u64().is_some())
                .collect();
            if !http.is_empty() {
                head(out, &name, "Total number of HTTP responses.", "counter");
                for r in http {
                    for (code, field) in [
                        ("1xx", "hrsp_1xx"),
                        ("2xx", "hrsp_2xx"),
                        ("3xx", "hrsp_3xx"),
                        ("4xx", "hrsp_4xx"),
                        ("5xx", "hrsp_5xx"),
                        ("other", "hrsp_other"),
                    ] {
                        let _ = writeln!(
                            out,
                            "{name}{{{},code=\"{code}\"}} {}",
                            labels(r),
                            r.u64(field)
                        );
                    }
                }
            }
        }
        histograms(shared, &of_kind, word, out);
    }
}

fn object(r: &Row) -> Object {
    match (r.kind, r.server) {
        (RowKind::Frontend, _) => Object::Frontend(r.proxy),
        (RowKind::Server, Some(s)) => Object::Server(r.proxy, s),
        _ => Object::Backend(r.proxy),
    }
}

fn histograms(shared: &SharedState, rows: &[&Row], word: &str, out: &mut String) {
    let sets: Vec<(&Row, Option<Set>)> = rows
        .iter()
        .map(|r| (*r, shared.latency.merged(object(r))))
        .collect();
    for (ti, timer) in crate::server::latency::TIMERS.iter().enumerate() {
        let name = format!("ravelin_{word}_{timer}_time_seconds");
        let help = TIMER_HELP.get(ti).copied().unwrap_or_default();
        let _ = writeln!(out, "# HELP {name} Histogram of the {help}, in seconds.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (r, set) in &sets {
            let l = labels(r);
            let mut counts = [0u64; BUCKETS.len()];
            let (mut total, mut sum_ms) = (0u64, 0u64);
            if let Some(h) = set.as_ref().and_then(|s| s.0.get(ti)) {
                for v in h.iter_recorded() {
                    let ms = h.highest_equivalent(v.value_iterated_to());
                    let n = v.count_at_value();
                    total += n;
                    sum_ms = sum_ms.saturating_add(ms.saturating_mul(n));
                    for (b, c) in BUCKETS.iter().zip(counts.iter_mut()) {
                        if ms as f64 <= b * 1000.0 {
                            *c += n;
                        }
                    }
                }
            }
            for (b, c) in BUCKETS.iter().zip(counts.iter()) {
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"{b}\"}} {c}");
            }
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {total}");
            let _ = writeln!(out, "{name}_sum{{{l}}} {}", sum_ms as f64 / 1000.0);
            let _ = writeln!(out, "{name}_count{{{l}}} {total}");
        }
    }
}

fn process(shared: &SharedState, info: &ProcessInfo, out: &mut String) {
    use std::sync::atomic::Ordering::Relaxed;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let conns: u64 = shared
        .frontends
        .iter()
        .map(|f| f.conn_total.load(Relaxed))
        .sum();
    let reqs: u64 = shared
        .frontends
        .iter()
        .map(|f| f.requests.load(Relaxed))
        .sum();
    let listeners: usize = shared.model.frontends.iter().map(|f| f.binds.len()).sum();
    let g = |out: &mut String, n: &str, help: &str, kind: &str, v: u64| {
        let name = format!("ravelin_process_{n}");
        head(out, &name, help, kind);
        let _ = writeln!(out, "{name} {v}");
    };
    g(
        out,
        "nbthread",
        "Number of started threads (global.nbthread).",
        "gauge",
        u64::from(info.nbthread),
    );
    g(
        out,
        "nbproc",
        "Number of started worker processes (historical, always 1).",
        "gauge",
        1,
    );
    g(
        out,
        "relative_process_id",
        "Relative worker process number (1..Nbproc).",
        "gauge",
        1,
    );
    g(
        out,
        "uptime_seconds",
        "How long ago this worker process was started (seconds).",
        "gauge",
        now.saturating_sub(info.start_unix),
    );
    g(
        out,
        "start_time_seconds",
        "Start time in seconds.",
        "gauge",
        info.start_unix,
    );
    g(
        out,
        "max_connections",
        "Maximum number of concurrent connections (global.maxconn).",
        "gauge",
        u64::from(shared.global.limit()),
    );
    g(
        out,
        "current_connections",
        "Number of connections in use.",
        "gauge",
        u64::from(shared.global.cur()),
    );
    g(
        out,
        "connections_total",
        "Total number of connections on this worker process since started.",
        "counter",
        conns,
    );
    g(
        out,
        "requests_total",
        "Total number of requests on this worker process since started.",
        "counter",
        reqs,
    );
    g(
        out,
        "stopping",
        "Non zero means stopping in progress.",
        "gauge",
        u64::from(info.stopping),
    );
    g(
        out,
        "jobs",
        "Current number of active jobs on the current worker process (frontend connections, master connections, listeners).",
        "gauge",
        (shared.live_streams() + listeners) as u64,
    );
    g(
        out,
        "listeners",
        "Current number of active listeners on the current worker process.",
        "gauge",
        listeners as u64,
    );
    let name = "ravelin_process_build_info";
    head(out, name, "Build info.", "gauge");
    let _ = writeln!(out, "{name}{{version=\"{}\"}} 1", label(&info.version));
}

/// The HTTP response: head (`content-type: text/plain; version=0.0.4`) and body.
pub(crate) fn response(shared: &SharedState, close: bool) -> Vec<u8> {
    let mut body = String::new();
    render(shared, &ProcessInfo::current(shared), &mut body);
    let mut head = format!(
        "HTTP/1.1 200 {}\r\ncache-control: no-cache\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\ncontent-length: {}\r\n",
        crate::http::errors::reason(200),
        body.len()
    );
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}
