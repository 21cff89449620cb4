//! A stream's log line: gathers what a TCP stream or an HTTP request knows (its marks, its
//! connector, the shared counters) into a [`Record`] and renders it into the reactor's
//! line buffer. Nothing is allocated; nothing is done when the frontend does not log.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use super::connect::Connector;
use crate::civil as time;
use crate::log::record::{Marks, Record, span};
use crate::log::sink::Source;
use crate::log::{LOG_ERR, LOG_INFO, format};
use crate::term::{Cause, Stage, Termination};

use crate::conn::Ctx;
use crate::model::{FrontendId, Mode, PortRule, ServerAddr};

/// What the stream itself contributes to its line.
#[derive(Debug)]
pub(crate) struct StreamLog<'a> {
    pub(crate) frontend: FrontendId,
    pub(crate) src: Option<SocketAddr>,
    pub(crate) dst: Option<SocketAddr>,
    /// A backend was chosen (else the line names the frontend as its backend).
    pub(crate) routed: bool,
    pub(crate) marks: &'a Marks,
    pub(crate) term: Termination,
    pub(crate) cookie: [u8; 2],
    pub(crate) request_line: Option<&'a [u8]>,
    pub(crate) http: bool,
    /// The request's unique id (`%ID`), empty when none.
    pub(crate) unique_id: &'a [u8],
    /// Captured request / response headers, in `capture` order.
    pub(crate) cap_req: &'a [Vec<u8>],
    pub(crate) cap_res: &'a [Vec<u8>],
    /// `%rt`.
    pub(crate) req_counter: u64,
}

fn pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// Whether a line for this frontend would be written (cheap: checked before gathering).
pub(crate) fn wanted(ctx: &Ctx<'_>, fe: FrontendId) -> bool {
    ctx.log.enabled()
        && ctx
            .shared
            .model
            .frontend(fe)
            .is_some_and(|f| f.log.format.is_some() && (f.log.enabled() || ctx.debug))
}

/// Writes the traffic line of a stream (TCP) or a request (HTTP) ending now.
pub(crate) fn emit(ctx: &mut Ctx<'_>, c: &Connector, s: &StreamLog<'_>) {
    record_latency(ctx, c, s);
    if !wanted(ctx, s.frontend) {
        return;
    }
    let shared = ctx.shared;
    let model = &shared.model;
    let Some(fe) = model.frontend(s.frontend) else {
        return;
    };
    let Some(fmt) = fe.log.format.as_deref() else {
        return;
    };
    let m = s.marks;
    if fe.log.dontlognull && m.bytes_in == 0 {
        return;
    }
    let be = model.backend(c.backend);
    let retries = match (be, c.log.assign) {
        (Some(b), Some(_)) => c.retries_done(b.retries),
        _ => 0,
    };
    let mut term = s.term;
    let mut status = m.status;
    // A connection closed before any request byte: HAProxy logs a 400 `CR`.
    if s.http && m.req_first.is_none() && term.cause == Cause::Normal {
        term = Termination::new(Cause::ClientAbort, Stage::Request);
        if status < 0 {
            status = 400;
        }
    }
    let error = term.cause != Cause::Normal || status >= 500 || retries > 0 || c.log.redispatched;
    if fe.log.dontlog_normal && !error {
        return;
    }
    let level = if fe.log.separate_errors && error {
        LOG_ERR
    } else {
        LOG_INFO
    };
    let end = ctx.now;
    let now_ms = time::now_ms();
    let wall =
        |i: Instant| now_ms.saturating_sub(crate::timer::millis(end.saturating_duration_since(i)));
    // A configured server, or one added at run time (`add server`).
    let srv_conf = c
        .log
        .server
        .and_then(|sid| shared.server_conf(c.backend, sid));
    let srv_conf = srv_conf.as_deref();
    let srv_state = c.log.server.and_then(|sid| shared.server(c.backend, sid));
    let (server_name, server_addr, srvconn) = match (srv_conf, srv_state) {
        (Some(srv), Some(ss)) => {
            let port_of = |rule: PortRule| match rule {
                PortRule::Fixed(p) => p,
                PortRule::Same => s.dst.map_or(0, |d| d.port()),
                // Out of range, the connect was refused (`Connector::open`).
                PortRule::Offset(o) => {
                    u16::try_from(i32::from(s.dst.map_or(0, |d| d.port())) + o).unwrap_or(0)
                }
            };
            let addr = match (&srv.addr, ss.runtime_addr()) {
                // `set server ... addr` moved it.
                (ServerAddr::Inet { port, .. }, Some((ip, p))) => {
                    Some(SocketAddr::new(ip, p.unwrap_or_else(|| port_of(*port))))
                }
                (ServerAddr::Inet { ip, port }, None) => Some(SocketAddr::new(*ip, port_of(*port))),
                (ServerAddr::Unix(_), _) => None,
            };
            (srv.name.as_str(), addr, ss.conns.cur())
        }
        _ => ("<NOSRV>", None, 0),
    };
    let backend_name = match (s.routed, be) {
        (true, Some(b)) => b.name.as_str(),
        _ => fe.name.as_str(),
    };
    let beconn = if s.routed {
        shared.backend(c.backend).map_or(0, |b| b.beconn.cur())
    } else {
        0
    };
    let req_start = m.req_first.unwrap_or(m.start);
    let (ti, t_req, tr) = if s.http {
        (
            span(Some(m.ready), m.req_first),
            span(m.req_first, m.req_head),
            span(c.log.connected, m.res_head),
        )
    } else {
        (-1, -1, -1)
    };
    let rec = Record {
        client: s.src,
        frontend_addr: s.dst,
        backend_src: None,
        server_addr,
        accept_ms: wall(m.start),
        request_ms: wall(req_start),
        frontend: fe.name.as_str(),
        backend: backend_name,
        server: server_name,
        th: span(Some(m.start), Some(m.ready)),
        ti,
        t_req,
        tw: span(c.log.assign, c.log.granted),
        tc: span(c.log.granted, c.log.connected),
        tr,
        ta: span(Some(req_start), Some(end)),
        tt: span(Some(m.start), Some(end)),
        http: s.http,
        status,
        // HAProxy's connection layer answers a bad or late request head itself, outside any
        // stream: those bytes are not counted.
        bytes_out: if s.http && m.req_head.is_none() {
            0
        } else {
            m.bytes_out
        },
        bytes_in: m.bytes_in,
        actconn: shared.global.cur(),
        feconn: shared.frontend(s.frontend).map_or(0, |f| f.conns.cur()),
        beconn,
        srvconn,
        retries,
        redispatched: c.log.redispatched,
        srv_queue: c.log.srv_queue,
        be_queue: c.log.be_queue,
        term: term.code(),
        cookie: s.cookie,
        cap_req: s.cap_req,
        cap_req_on: fe
            .captures
            .iter()
            .any(|c| c.dir == crate::model::CaptureDir::Request),
        cap_res: s.cap_res,
        cap_res_on: fe
            .captures
            .iter()
            .any(|c| c.dir == crate::model::CaptureDir::Response),
        req_counter: s.req_counter,
        request_line: s.request_line,
        unique_id: s.unique_id,
        pid: pid(),
        hostname: hostname(),
    };
    ctx.log.emit(Source::Frontend(s.frontend.0), level, |out| {
        format::render(fmt, &rec, out)
    });
}

/// Records the stream's (HTTP: the request's) timers in the reactor's latency histograms
/// for the stats: Tt always, Tw/Tc/Tr when the stream got that far, as the log reports them.
/// A stream that never sent a request byte (HTTP) is not a request and is not recorded.
fn record_latency(ctx: &mut Ctx<'_>, c: &Connector, s: &StreamLog<'_>) {
    let m = s.marks;
    if s.http && m.req_first.is_none() {
        return;
    }
    let ms = |v: i64| u64::try_from(v).ok();
    let tr = if s.http {
        ms(span(c.log.connected, m.res_head))
    } else {
        None
    };
    let t = crate::server::latency::Timings {
        tt_ms: ms(span(Some(m.start), Some(ctx.now))).unwrap_or(0),
        tr_ms: tr,
        tc_ms: ms(span(c.log.granted, c.log.connected)),
        tw_ms: ms(span(c.log.assign, c.log.granted)),
    };
    let server = c.log.server.filter(|_| s.routed).map(|sid| sid.0 as usize);
    let backend = s.routed.then_some(c.backend.0 as usize);
    ctx.latency
        .record(s.frontend.0 as usize, backend, server, &t);
}

/// The legacy line HAProxy writes at accept when a logging frontend has no line format:
/// `Connect from SRC to DST (FE/MODE)`.
pub(crate) fn emit_connect(
    ctx: &mut Ctx<'_>,
    fe: FrontendId,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
) {
    let shared = ctx.shared;
    let Some(f) = shared.model.frontend(fe) else {
        return;
    };
    if !ctx.log.enabled() || !f.log.enabled() || f.log.format.is_some() {
        return;
    }
    let mode = if f.mode == Mode::Http { "HTTP" } else { "TCP" };
    ctx.log.emit(Source::Frontend(fe.0), LOG_INFO, |out| {
        use std::io::Write;
        let _ = match (src, dst) {
            (Some(s), Some(d)) => write!(
                out,
                "Connect from {}:{} to {}:{} ({}/{mode})",
                s.ip(),
                s.port(),
                d.ip(),
                d.port(),
                f.name
            ),
            _ => write!(out, "Connect from unix:1 to unix:1 ({}/{mode})", f.name),
        };
    });
}

/// HAProxy's line for a connection whose handshake (the PROXY header) failed, written when
/// the frontend has a line format (`session_kill_embryonic()`): `127.0.0.1:40850
/// [04/Dec/2026:15:39:45.405] fe/1: Truncated PROXY protocol header received`; nothing with
/// `option dontlognull` when the client closed, reset or stayed silent.
pub(crate) fn emit_handshake_failure(
    ctx: &mut Ctx<'_>,
    at: &super::handshake::Arrival,
    failure: crate::proxyproto::Failure,
    received: bool,
) {
    use crate::proxyproto::Failure;
    let silent = match failure {
        Failure::Empty | Failure::Abort => true,
        Failure::Timeout => !received,
        Failure::Truncated | Failure::NotHeader | Failure::BadHeader | Failure::BadProto => false,
    };
    emit_conn_error(
        ctx,
        (at.frontend, at.bind),
        at.src,
        at.accepted,
        failure.message(),
        silent,
    );
}

/// HAProxy's line for a connection that ended before any stream (a failed PROXY header or TLS
/// handshake): `SRC:PORT [ACCEPT DATE] FRONTEND/LISTENER: MESSAGE`, the listener by its `name`
/// or its number in the frontend, a unix-socket client as `unix:<listener number>`. At `err`
/// level with `option log-separate-errors`; a `silent` one (the client sent nothing) is not
/// logged with `option dontlognull`.
pub(crate) fn emit_conn_error(
    ctx: &mut Ctx<'_>,
    (frontend, bind): (FrontendId, usize),
    src: Option<SocketAddr>,
    accepted: Instant,
    message: &str,
    silent: bool,
) {
    if !wanted(ctx, frontend) {
        return;
    }
    let Some(fe) = ctx.shared.model.frontend(frontend) else {
        return;
    };
    if fe.log.dontlognull && silent {
        return;
    }
    let level = if fe.log.separate_errors {
        LOG_ERR
    } else {
        LOG_INFO
    };
    let luid = bind + 1;
    let listener = fe.binds.get(bind).and_then(|b| b.name.as_deref());
    let now_ms = time::now_ms();
    let accept_ms = now_ms.saturating_sub(crate::timer::millis(
        ctx.now.saturating_duration_since(accepted),
    ));
    ctx.log.emit(Source::Frontend(frontend.0), level, |out| {
        use std::io::Write;
        let _ = match src {
            Some(a) => write!(out, "{}:{} [", a.ip(), a.port()),
            None => write!(out, "unix:{luid} ["),
        };
        time::haproxy_date(accept_ms, true, out);
        let _ = match listener {
            Some(name) => write!(out, "] {}/{name}: {message}", fe.name),
            None => write!(out, "] {}/{luid}: {message}", fe.name),
        };
    });
}

/// Renders the frontend's `unique-id-format` for the request whose head just arrived into
/// `out` (cleared first); false when the frontend has none.
pub(crate) fn unique_id(ctx: &Ctx<'_>, s: &StreamLog<'_>, out: &mut Vec<u8>) -> bool {
    out.clear();
    let shared = ctx.shared;
    let Some(fe) = shared.model.frontend(s.frontend) else {
        return false;
    };
    let Some(fmt) = fe.log.unique_id.as_deref() else {
        return false;
    };
    let m = s.marks;
    let end = ctx.now;
    let now_ms = time::now_ms();
    let wall =
        |i: Instant| now_ms.saturating_sub(crate::timer::millis(end.saturating_duration_since(i)));
    let req_start = m.req_first.unwrap_or(m.start);
    let rec = Record {
        client: s.src,
        frontend_addr: s.dst,
        backend_src: None,
        server_addr: None,
        accept_ms: wall(m.start),
        request_ms: wall(req_start),
        frontend: fe.name.as_str(),
        backend: fe.name.as_str(),
        server: "<NOSRV>",
        th: span(Some(m.start), Some(m.ready)),
        ti: span(Some(m.ready), m.req_first),
        t_req: span(m.req_first, m.req_head),
        tw: -1,
        tc: -1,
        tr: -1,
        ta: -1,
        tt: -1,
        http: s.http,
        status: -1,
        bytes_out: 0,
        bytes_in: m.bytes_in,
        actconn: shared.global.cur(),
        feconn: shared.frontend(s.frontend).map_or(0, |f| f.conns.cur()),
        beconn: 0,
        srvconn: 0,
        retries: 0,
        redispatched: false,
        srv_queue: 0,
        be_queue: 0,
        term: *b"--",
        cookie: *b"--",
        cap_req: s.cap_req,
        cap_req_on: false,
        cap_res: &[],
        cap_res_on: false,
        req_counter: s.req_counter,
        request_line: s.request_line,
        unique_id: b"",
        pid: pid(),
        hostname: hostname(),
    };
    format::render(fmt, &rec, out);
    true
}
