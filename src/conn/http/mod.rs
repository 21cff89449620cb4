//! HTTP/1.1 mode: one client connection carrying a sequence of requests, each parsed, routed,
//! sent to a server (new or reused connection) and answered, with keep-alive on both sides.
//!
//! ```text
//!            ┌─────────────── keep-alive ◀──────────────────────────────┐
//!            ▼                                                         │
//!   accept ─▶ Head ──complete──▶ route ──▶ Connecting ──▶ Exchange ──done┘
//!            │  │ bad/too big/408         │ (or a reused idle conn)  │ 101 / CONNECT 2xx
//!            │  ▼                         ▼ 503 after retries        ▼
//!            │ Reply(error) ──▶ close    Reply(503)                 Tunnel (duplex)
//!            └─ client closed while idle ──▶ close
//! ```
//! Heads are parsed in place in the client's buffer (`req`) and rewritten into a second pooled
//! buffer (`head_out`) in one pass; bodies are forwarded as they arrive, their framing tracked
//! by `http::body::BodyState`, never re-encoded. Requests are not pipelined to servers: the next
//! request is parsed only once the current response is complete. Buffers are borrowed from the
//! reactor's pool only while they hold bytes.
//!
//! Status codes are HAProxy's: 400 bad request, 408 head not received within
//! `timeout http-request`, 414/431 head too large, 502 bad or missing response, 503 no server
//! or connect retries exhausted, 504 `timeout server` before the response head.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

mod persist;
mod reply;
mod request;
mod response;
mod retry;
mod upstream;

use super::connect::{Assign, Connector, Failure, Outcome};
use super::duplex::{Duplex, Progress};
use super::idle::{Eligible, IdleConn};
use super::logline::{self, StreamLog};
use super::pump::{Pump, Via};
use super::{Peer, Readiness};
use crate::balance::PickKey;
use crate::buffer::Buffer;
use crate::http::body::BodyState;
use crate::http::head::HeadWriter;
use crate::http::parse::{Limits, parse_request, parse_response};
use crate::http::view::ReqView;
use crate::http::{
    ConnFlags, Framing, HttpError, Method, Parse, RequestHead, ResponseHead, Version, errors,
};
use crate::log::record::Marks;
use crate::net::Sock;
use crate::rules::{HeaderEdits, HeaderFate};
use crate::term::{Cause, Side, Stage, Step, Termination};
use persist::LineOut;

use crate::conn::Ctx;
use crate::model::{BackendId, ConnMode, ForwardHeader, FrontendId, HttpReuse, ServerId};

/// A server connection serving this client's current (or last) request.
#[derive(Debug)]
struct Upstream {
    peer: Peer,
    backend: BackendId,
    server: ServerId,
    /// Connect completed (or taken from the idle pool).
    connected: bool,
    /// Taken from the idle pool: a failure before any response byte allows one replay on a
    /// fresh connection.
    reused: bool,
    /// Bytes from the server not yet forwarded.
    res: Option<Buffer>,
    /// The server sent its FIN.
    eof: bool,
    /// The PROXY header still to send before the request (`send-proxy`, a new connection).
    /// Boxed: 128 bytes that only `send-proxy` servers use would otherwise be copied with
    /// every move of the phase that owns the connection.
    proxy: Option<Box<crate::proxyproto::Line>>,
    /// Carries this client's PROXY header: never shared with another client (HAProxy marks
    /// such connections private), so it stays with this stream and is never parked.
    private: bool,
}

/// Where the response of the current exchange is.
#[derive(Debug)]
enum Response {
    /// Waiting for the (final) response head.
    Head,
    Body(BodyState),
    Done,
}

/// Why a request can no longer be replayed (`retry-on` past `conn-failure`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lost {
    /// Body bytes left the buffer, or the response head arrived.
    NotHeld,
    /// The body was still arriving when the request was first sent (HAProxy copies the
    /// request for a replay at the first send).
    Streamed,
    /// Head and body exceed the room of a buffer ([`request::replay_room`]).
    TooLarge,
}

impl Lost {
    fn why(self) -> &'static str {
        match self {
            Lost::NotHeld => "the request is no longer held in full",
            Lost::Streamed => "the request was not fully received when it was first sent",
            Lost::TooLarge => "the request does not fit in a buffer",
        }
    }
}

/// One request/response in flight.
#[derive(Debug)]
struct Exchange {
    method: Method,
    req_body: BodyState,
    /// Validated request body bytes at the front of `req`, not yet written.
    req_fwd: usize,
    /// Bytes of `head_out` already written to the server.
    head_sent: usize,
    response: Response,
    /// Validated response body bytes at the front of the server buffer, not yet written.
    res_fwd: usize,
    /// Some response byte arrived: no replay, and errors can no longer become a 502/504.
    response_started: bool,
    /// The client may send another request after this one.
    keep_client: bool,
    /// The server connection may be reused after this response.
    keep_server: bool,
    /// The request asked to switch protocols (Upgrade) or is a CONNECT.
    wants_tunnel: bool,
    /// `None` while the request can still be sent again (no body, or its whole body kept in
    /// `req`), else why not (`-d` output).
    lost: Option<Lost>,
    retried_reuse: bool,
    /// Body bytes already written but kept at the front of `req` for a replay (`retry-on`
    /// past `conn-failure`, any method, as HAProxy): released when the response head arrives.
    req_kept: usize,
    /// Written body bytes are kept (`req_kept`) rather than dropped.
    keep_body: bool,
    /// `timeout server`: the response must progress before this.
    server_deadline: Option<Instant>,
}

/// Where the connection is, and what it owns there: the exchange of the current request and
/// the server connection serving it (`up`) live in the phases that have them. Between requests
/// a server connection kept from the last response is the connection's (`HttpConn::kept`).
#[derive(Debug)]
enum Phase {
    /// Waiting for a request head. `deadline`: `timeout http-request` (or keep-alive while idle).
    Head {
        deadline: Option<Instant>,
        idle: bool,
    },
    /// The head is complete; waiting for its body before going on (`option
    /// http-buffer-request`, `http-request wait-for-body`): until the whole body, `at_least`
    /// bytes of it (when non-zero) or a full buffer arrived, else a 408 at `deadline`.
    WaitBody {
        deadline: Option<Instant>,
        at_least: u64,
    },
    /// Waiting before retrying the same server.
    TurnAround { until: Instant, exchange: Exchange },
    /// In the backend's queue until a server slot is granted (then `start_server` again) or
    /// `timeout queue` passes (503, `sQ`).
    Queued {
        deadline: Option<Instant>,
        exchange: Exchange,
    },
    /// Connecting `up` for the current request.
    Connecting {
        deadline: Option<Instant>,
        exchange: Exchange,
        up: Upstream,
    },
    /// The request and its response flow between the client and `up`.
    Exchange { ex: Exchange, up: Upstream },
    /// Writing a response Ravelin generated (in `out`), then closing or waiting for the next
    /// request.
    Reply { close: bool, term: Termination },
    /// After a 101 or a successful CONNECT: raw bytes both ways.
    /// Boxed: the tunnel is rare and twice the size of the other phases.
    Tunnel { duplex: Box<Duplex>, up: Upstream },
    /// Transient, while moving between phases (and after teardown).
    Gone,
}

/// Where a connection came in: the client's address and the one it reached, from the
/// socket or from its PROXY header (`bind ... accept-proxy`).
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    pub(crate) frontend: FrontendId,
    pub(crate) bind: usize,
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    /// `src` and `dst` are real IP addresses (false: a unix-socket client without a PROXY
    /// header, whose addresses read `0.0.0.0:0`).
    pub(crate) inet: bool,
}

impl Origin {
    /// The addresses a PROXY header sent to a server carries (`None`: UNKNOWN / LOCAL).
    pub(crate) fn proxy_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.inet.then_some((self.src, self.dst))
    }
}

/// The client side of the connection: its socket, what it sent that is not forwarded yet and
/// what it is sent. One per connection, whatever the number of requests it carries.
#[derive(Debug)]
struct ClientSide {
    peer: Peer,
    /// The client sent its FIN.
    eof: bool,
    /// Bytes from the client not yet forwarded: request heads, bodies, pipelined requests.
    req: Option<Buffer>,
    /// Bytes for the client written before any response body: heads and generated responses.
    out: Option<Buffer>,
    /// A generated response too large for one buffer (the stats page), written after `out`;
    /// with the offset already sent.
    long_out: Option<(Vec<u8>, usize)>,
    /// The last write to the client was sent with `MSG_MORE`: push it if nothing follows.
    corked: bool,
    /// Bytes read from / written to the client not yet added to the stats counters
    /// (`flush_bytes`).
    bytes_in: u64,
    bytes_out: u64,
    /// What the client's TLS handshake agreed, once it is done (`ssl_fc*`); `None` in clear.
    tls: Option<Box<crate::tls::TlsInfo>>,
    /// `timeout client` while a request is served.
    deadline: Option<Instant>,
}

impl ClientSide {
    /// Sends what a write with `MSG_MORE` left held in the kernel.
    fn uncork(&mut self) {
        if self.corked {
            self.peer.sock.push();
            self.corked = false;
        }
    }

    /// Gives an empty request buffer back to the pool.
    fn release_empty_req(&mut self, pools: &mut super::pump::Pools) {
        if self.req.as_ref().is_some_and(|b| b.is_empty()) {
            if let Some(b) = self.req.take() {
                pools.bufs.put(b);
            }
        }
    }

    /// The received bytes (empty when no buffer is held).
    fn pending(&self) -> &[u8] {
        self.req.as_ref().map_or(&[][..], |b| b.pending())
    }
}

/// One request and its response, from the request's first byte to its log line: the parsed
/// heads, the rewritten request head, the rules' header edits, persistence, and what the log
/// line reports. Reset for each request; its buffers keep their capacity.
#[derive(Debug)]
struct Txn {
    head: RequestHead,
    rhead: ResponseHead,
    /// The rewritten request head (kept until the response starts, for a replay).
    head_out: Option<Buffer>,
    /// Header edits of the rules for the current message (reused).
    edits: HeaderEdits,
    /// Cookie persistence of the current exchange.
    persist: persist::Persist,
    /// The current request's instants and counts for its log line.
    marks: Marks,
    /// The current request line, kept for the log (only when the frontend logs).
    req_line: Vec<u8>,
    /// `capture request|response header` values of the current request, in `capture` order.
    cap_req: Vec<Vec<u8>>,
    cap_res: Vec<Vec<u8>>,
    /// The current request's unique id (`unique-id-format`), empty when none.
    uid: Vec<u8>,
    /// `%rt`: the frontend's request count when this request arrived.
    req_counter: u64,
    /// The current request was routed to `connector.backend` (its rules apply to replies).
    routed: bool,
    /// The current request's body wait is over (the request is being routed again after it).
    body_waited: bool,
    /// Ravelin answered the current request's `Expect: 100-continue` itself (while waiting for
    /// the body), so the header is not forwarded.
    continue_sent: bool,
}

impl Txn {
    fn new(marks: Marks) -> Txn {
        Txn {
            head: RequestHead::default(),
            rhead: ResponseHead::default(),
            head_out: None,
            edits: HeaderEdits::new(),
            persist: persist::Persist::default(),
            marks,
            req_line: Vec::new(),
            cap_req: Vec::new(),
            cap_res: Vec::new(),
            uid: Vec::new(),
            req_counter: 0,
            routed: false,
            body_waited: false,
            continue_sent: false,
        }
    }

    /// Ready for the next request on the connection (at `now`).
    fn next(&mut self, now: Instant) {
        self.body_waited = false;
        self.continue_sent = false;
        self.routed = false;
        self.marks.next(now);
        self.req_line.clear();
        self.uid.clear();
        self.cap_req.iter_mut().for_each(Vec::clear);
        self.cap_res.iter_mut().for_each(Vec::clear);
    }
}

/// An HTTP/1.1 client connection: its client side, the transaction of its current request,
/// and the phase that request is in (which owns the server connection serving it).
#[derive(Debug)]
pub(crate) struct HttpConn {
    pub(crate) origin: Origin,
    pub(crate) accepted: Instant,
    client: ClientSide,
    txn: Txn,
    connector: Connector,
    /// The server connection kept after the last response, for this client's next request
    /// (`http-reuse never`, a private connection, or one not yet parked).
    kept: Option<Upstream>,
    /// Slot of this stream's server connection in the reactor's `IdlePool` (its poll token):
    /// reserved for a new connection, taken with an idle one, handed back when parking.
    sconn: Option<usize>,
    phase: Phase,
    /// Requests received on this connection.
    requests: u32,
    armed: Option<Instant>,
}

/// Hop-by-hop headers never forwarded as they are (RFC 9110 §7.6.1); `connection` is rebuilt.
const HOP_BY_HOP: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"upgrade",
];

fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// The connection mode in force for a stream: the stricter of the frontend's and the
/// backend's, as HAProxy combines them.
fn conn_mode(fe: Option<ConnMode>, be: Option<ConnMode>) -> ConnMode {
    let rank = |m: ConnMode| match m {
        ConnMode::KeepAlive => 0,
        ConnMode::ServerClose => 1,
        ConnMode::Close => 2,
    };
    match (fe, be) {
        (Some(a), Some(b)) => {
            if rank(a) >= rank(b) {
                a
            } else {
                b
            }
        }
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => ConnMode::KeepAlive,
    }
}

/// Whether the client asked to keep its connection after this request.
fn client_wants_keep_alive(version: Version, conn: ConnFlags) -> bool {
    match version {
        Version::Http11 => !conn.close,
        Version::Http10 => conn.keep_alive && !conn.close,
    }
}

/// Does `ip` fall in `net/len`?
fn in_network(ip: std::net::IpAddr, (net, len): (std::net::IpAddr, u8)) -> bool {
    match (ip, net) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Writes an IP address without allocating (into a small stack buffer).
fn ip_text(ip: std::net::IpAddr, out: &mut [u8; 64]) -> &[u8] {
    use std::io::Write;
    let mut cur = std::io::Cursor::new(&mut out[..]);
    let _ = write!(cur, "{ip}");
    let n = usize::try_from(cur.position()).unwrap_or(0);
    out.get(..n).unwrap_or(&[])
}

impl HttpConn {
    /// A connection accepted at `accepted` whose handshakes (if any) ended `now`.
    pub(crate) fn new(
        client: Sock,
        origin: Origin,
        backend: BackendId,
        accepted: Instant,
        now: Instant,
    ) -> HttpConn {
        HttpConn {
            origin,
            accepted,
            client: ClientSide {
                peer: Peer::new(client),
                eof: false,
                req: None,
                out: None,
                long_out: None,
                corked: false,
                bytes_in: 0,
                bytes_out: 0,
                tls: None,
                deadline: None,
            },
            txn: Txn::new(Marks::after_handshake(accepted, now)),
            connector: Connector::new(backend, PickKey::default(), origin.dst.port(), 0),
            kept: None,
            sconn: None,
            phase: Phase::Head {
                deadline: None,
                idle: false,
            },
            requests: 0,
            armed: None,
        }
    }

    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if self
            .client
            .peer
            .sock
            .register(ctx.registry, ctx.stream_token(Side::Client))
            .is_err()
        {
            return Step::Close(Termination::new(Cause::Proxy, Stage::Connect));
        }
        // The first request must arrive within `timeout http-request` (else `timeout client`).
        let fe = ctx.frontend_timeouts(self.origin.frontend);
        let t = fe.http_request.or(fe.client);
        self.phase = Phase::Head {
            deadline: t.map(|t| ctx.now + t),
            idle: false,
        };
        // Clients usually send at once after connecting: read now rather than after a first
        // `epoll_wait` (a miss costs one EAGAIN read), as HAProxy does.
        self.client.peer.ready.readable = true;
        self.drive(ctx)
    }

    pub(crate) fn on_event(
        &mut self,
        side: Side,
        ev: &mio::event::Event,
        ctx: &mut Ctx<'_>,
    ) -> Step {
        match side {
            Side::Client => {
                if let Err(e) = self.client.peer.on_client_event(ev) {
                    return self.client_failed(ctx, e);
                }
            }
            Side::Server => {
                if let Some(up) = self.upstream_mut() {
                    if let Err(e) = up.peer.on_server_event(ev) {
                        ctx.debug_event(format_args!("server TLS flush failed: {e}"));
                    }
                }
            }
        }
        self.drive(ctx)
    }

    /// The process soft-stops: an idle keep-alive connection reads once more (a request may
    /// be in the socket without its edge handled yet) and closes if none came.
    pub(crate) fn on_soft_stop(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if let Phase::Head { idle: true, .. } = self.phase {
            self.client.peer.ready.readable = true;
        }
        self.drive(ctx)
    }

    pub(crate) fn resume(&mut self, ctx: &mut Ctx<'_>) -> Step {
        self.drive(ctx)
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if self.armed.is_some_and(|a| a <= ctx.now) {
            self.armed = None;
        }
        let now = ctx.now;
        let due = |d: &Option<Instant>| d.is_some_and(|d| d <= now);
        match &self.phase {
            Phase::Head { deadline, .. }
                if due(deadline) && self.client.peer.sock.tls_handshaking() =>
            {
                return self.tls_failed(ctx, "Timeout during SSL handshake");
            }
            Phase::Head { deadline, idle } if due(deadline) => {
                let idle = *idle && self.client.req.as_ref().is_none_or(|b| b.is_empty());
                if idle {
                    // `timeout http-keep-alive` between requests: close silently.
                    return Step::Close(Termination::new(Cause::ClientTimeout, Stage::End));
                }
                self.count_req_error(ctx);
                return self.reply_error(
                    ctx,
                    408,
                    Termination::new(Cause::ClientTimeout, Stage::Request),
                );
            }
            Phase::WaitBody { deadline, .. } if due(deadline) => {
                self.count_req_error(ctx);
                return self.reply_error(
                    ctx,
                    408,
                    Termination::new(Cause::ClientTimeout, Stage::Request),
                );
            }
            Phase::TurnAround { until, .. } if *until <= now => {
                return self.connect_from_phase(ctx);
            }
            Phase::Queued { deadline, .. } if due(deadline) => return self.connect_from_phase(ctx),
            Phase::Connecting { deadline, .. } if due(deadline) => {
                return self.connect_failed(ctx, Failure::Timeout);
            }
            Phase::Tunnel { duplex, .. } => {
                if let Some(t) = duplex.expired(now) {
                    return Step::Close(t);
                }
            }
            Phase::Exchange { ex, .. } => {
                if due(&ex.server_deadline) {
                    if !self.out_started() {
                        // No response head within `timeout server`: `retry-on
                        // response-timeout` when no response byte came (`retry_late` says why
                        // not otherwise); else a 504 as HAProxy.
                        self.connector
                            .observe(ctx, crate::status::Seen::HttpReadTimeout);
                        if let Some(step) = self.retry_late(ctx, retry::Late::Timeout) {
                            return step;
                        }
                        return self.reply_error(
                            ctx,
                            504,
                            Termination::new(Cause::ServerTimeout, Stage::Headers),
                        );
                    }
                    return Step::Close(Termination::new(Cause::ServerTimeout, Stage::Data));
                }
                if due(&self.client.deadline) {
                    return Step::Close(Termination::new(Cause::ClientTimeout, self.stage()));
                }
            }
            Phase::Reply { .. } if due(&self.client.deadline) => {
                return Step::Close(Termination::new(Cause::ClientTimeout, Stage::Data));
            }
            // Not due yet (a timer armed for an earlier deadline, or one that moved later).
            Phase::Head { .. }
            | Phase::WaitBody { .. }
            | Phase::TurnAround { .. }
            | Phase::Queued { .. }
            | Phase::Connecting { .. }
            | Phase::Reply { .. }
            | Phase::Gone => {}
        }
        self.drive(ctx)
    }

    /// Runs every step that can make progress with the current readiness.
    fn drive(&mut self, ctx: &mut Ctx<'_>) -> Step {
        for _ in 0..64 {
            let progress = match self.step(ctx) {
                Ok(p) => p,
                Err(step) => return step,
            };
            if !progress {
                if self.idle_while_stopping(ctx) {
                    return Step::Close(Termination::NORMAL);
                }
                return self.rearm(ctx);
            }
        }
        // Still work to do: yield to the other streams and come back next turn.
        ctx.runnable.push(ctx.owner);
        self.rearm(ctx)
    }

    /// Waiting between requests with nothing received while the process soft-stops: HAProxy
    /// closes such idle keep-alive connections at once (no `close-spread-time`); one with a
    /// request pending is served first (its response carries `connection: close`). With a
    /// `close-spread-time` window, a connection not closed now gets its idle deadline moved
    /// to a point in the window (it then closes as on `timeout http-keep-alive`).
    fn idle_while_stopping(&mut self, ctx: &Ctx<'_>) -> bool {
        let idle = matches!(self.phase, Phase::Head { idle: true, .. })
            && !self.client.peer.ready.readable
            && self.client.req.as_ref().is_none_or(|b| b.is_empty())
            && self.client.out.is_none();
        if !idle
            || !ctx
                .shared
                .soft_stop
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return false;
        }
        // `option idle-close-on-response`: the connection stays until its next response
        // (which `closes_on_stop` ends with `connection: close`) or its timeout.
        if ctx
            .shared
            .model
            .frontend(self.origin.frontend)
            .is_some_and(|f| f.idle_close_on_response)
        {
            return false;
        }
        let now_ms = ctx.shared.ms(ctx.now);
        let salt = self.stop_salt();
        if ctx.shared.closes_on_stop(now_ms, salt) {
            return true;
        }
        if let (Some(at), Phase::Head { deadline, .. }) =
            (ctx.shared.idle_close_at(now_ms, salt), &mut self.phase)
        {
            let at = ctx.now + std::time::Duration::from_millis(at.saturating_sub(now_ms));
            *deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        false
    }

    /// The process soft-stops and this connection should end after its exchange (one relaxed
    /// load when not stopping; see `SharedState::closes_on_stop`).
    fn closes_on_stop(&self, ctx: &Ctx<'_>) -> bool {
        ctx.shared
            .soft_stop
            .load(std::sync::atomic::Ordering::Relaxed)
            && ctx
                .shared
                .closes_on_stop(ctx.shared.ms(ctx.now), self.stop_salt())
    }

    /// A per-connection pseudo-random number (client port and request count mixed), for
    /// spreading closes over `close-spread-time`.
    fn stop_salt(&self) -> u64 {
        let x = u64::from(self.origin.src.port()) ^ (u64::from(self.requests) << 16);
        let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 29)
    }

    /// One round of work; `Ok(true)` if something moved.
    fn step(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        if let Phase::Tunnel { .. } = self.phase {
            return self.run_tunnel(ctx).map(|()| false);
        }
        let mut progress = self.flush_out(ctx)?;
        match &self.phase {
            Phase::Head { .. } => {
                // A kept server connection that speaks or closes while idle is useless.
                if self
                    .kept
                    .as_ref()
                    .is_some_and(|u| u.peer.ready.readable || u.peer.ready.error)
                {
                    self.drop_upstream(ctx, false);
                }
                progress |= self.read_client(ctx)?;
                progress |= self.try_head(ctx)?;
            }
            Phase::WaitBody { at_least, .. } => {
                let at_least = *at_least;
                progress |= self.read_client(ctx)?;
                if self.body_ready(at_least) || self.client.eof {
                    self.txn.body_waited = true;
                    self.phase = Phase::Head {
                        deadline: None,
                        idle: false,
                    };
                    self.on_request(ctx)?;
                    progress = true;
                }
            }
            Phase::Queued { .. } if self.connector.granted() => {
                if let Phase::Queued { exchange, .. } =
                    std::mem::replace(&mut self.phase, Phase::Gone)
                {
                    self.start_server(ctx, exchange)?;
                    progress = true;
                }
            }
            Phase::Connecting { .. } | Phase::TurnAround { .. } | Phase::Queued { .. } => {
                // `option abortonclose`: a client that closed while its request still waits
                // for a connection is not served (HAProxy's `CC`).
                if self.abortonclose(ctx) {
                    progress |= self.read_client(ctx)?;
                    if self.client.eof {
                        self.drop_upstream(ctx, true);
                        return Err(Step::Close(Termination::new(
                            Cause::ClientAbort,
                            Stage::Connect,
                        )));
                    }
                }
                if let Phase::Connecting { .. } = self.phase {
                    progress |= self.check_connect(ctx)?;
                }
            }
            Phase::Exchange { .. } => {
                progress |= self.read_client(ctx)?;
                progress |= self.send_request(ctx)?;
                progress |= self.read_server(ctx)?;
                progress |= self.on_response_bytes(ctx)?;
                progress |= self.send_response_body(ctx)?;
                progress |= self.maybe_finish(ctx)?;
                self.client_gave_up(ctx)?;
            }
            Phase::Reply { close, term } => {
                if self.client.out.is_none()
                    && self.client.long_out.is_none()
                    && !self.client.peer.sock.tls_pending()
                {
                    let (close, term) = (*close, *term);
                    self.log_request(ctx, term);
                    if close {
                        return Err(Step::Close(term));
                    }
                    self.next_request(ctx);
                    progress = true;
                }
            }
            Phase::Tunnel { .. } | Phase::Gone => {}
        }
        Ok(progress)
    }

    // ----- client side -----

    /// Reads from the client into `req` while there is room.
    fn read_client(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        if !self.client.peer.ready.readable || self.client.eof {
            return Ok(false);
        }
        if self.client.req.is_none() {
            match ctx.pools.bufs.get() {
                Some(b) => self.client.req = Some(b),
                None => {
                    ctx.starved.push_back(ctx.owner);
                    return Ok(false);
                }
            }
        }
        let Some(buf) = self.client.req.as_mut() else {
            return Ok(false);
        };
        let spare = buf.spare();
        let room = spare.len();
        if room == 0 {
            return Ok(false);
        }
        match self.client.peer.sock.read(spare) {
            Ok(0) if self.client.peer.sock.tls_handshaking() => {
                Err(self.tls_failed(ctx, "Connection closed during SSL handshake"))
            }
            Ok(0) => {
                self.client.eof = true;
                Ok(true)
            }
            Ok(n) => {
                buf.filled(n);
                self.client.bytes_in += n as u64;
                self.client.peer.ready.after_read(n, room);
                self.txn.marks.bytes_in += n as u64;
                if let Phase::Head { .. } = self.phase {
                    self.txn.marks.first_byte(ctx.now);
                }
                self.touch_client(ctx);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.client.peer.ready.readable = false;
                self.client.release_empty_req(ctx.pools);
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(_) if self.client.peer.sock.tls_failed() => {
                Err(self.tls_failed(ctx, "SSL handshake failure"))
            }
            // HAProxy counts and logs a connection that ends during the handshake too.
            Err(_) if self.client.peer.sock.tls_handshaking() => {
                Err(self.tls_failed(ctx, "Connection error during SSL handshake"))
            }
            Err(e) => Err(self.client_failed(ctx, e)),
        }
    }

    /// A TLS handshake that failed or timed out: counted (`ssl_failed_handshake`), logged as
    /// HAProxy does (`SRC:PORT [DATE] FRONTEND/BIND: MESSAGE`, when the frontend logs), and
    /// the connection closed; no request existed.
    fn tls_failed(&mut self, ctx: &mut Ctx<'_>, msg: &str) -> Step {
        let fe = self.origin.frontend;
        if let Some(f) = ctx.shared.frontend(fe) {
            f.ssl_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.txn.marks.pending = false;
        // The client sent nothing: `option dontlognull` keeps it out of the logs.
        let silent = msg.starts_with("Connection closed");
        let src = self.origin.inet.then_some(self.origin.src);
        logline::emit_conn_error(
            ctx,
            (fe, self.origin.bind),
            src,
            self.txn.marks.start,
            msg,
            silent,
        );
        Step::Close(Termination::new(Cause::ClientAbort, Stage::Request))
    }

    fn client_failed(&mut self, ctx: &mut Ctx<'_>, e: io::Error) -> Step {
        ctx.debug_event(format_args!("client failed: {e}"));
        if let Some(up) = self.upstream_mut() {
            let _ = crate::sys::socket::set_abortive_close(&up.peer.sock);
        }
        Step::Close(Termination::new(Cause::ClientAbort, self.stage()))
    }

    /// Where the current request is, as the second letter of a termination state.
    fn stage(&self) -> Stage {
        match &self.phase {
            Phase::Head { .. } | Phase::WaitBody { .. } => Stage::Request,
            Phase::Queued { .. } => Stage::Queue,
            Phase::Connecting { .. } | Phase::TurnAround { .. } => Stage::Connect,
            // Still sending the request body: HAProxy's data stage (`CD`, `cD`).
            Phase::Exchange { ex, .. }
                if matches!(ex.response, Response::Head) && ex.req_body.is_done() =>
            {
                Stage::Headers
            }
            Phase::Exchange { .. } | Phase::Reply { .. } | Phase::Tunnel { .. } | Phase::Gone => {
                Stage::Data
            }
        }
    }

    /// The server connection this stream holds now: the one of its phase, or the one kept
    /// from the last response (never both: a request takes the kept one before connecting).
    fn upstream_mut(&mut self) -> Option<&mut Upstream> {
        match &mut self.phase {
            Phase::Connecting { up, .. }
            | Phase::Exchange { up, .. }
            | Phase::Tunnel { up, .. } => Some(up),
            Phase::Head { .. }
            | Phase::WaitBody { .. }
            | Phase::TurnAround { .. }
            | Phase::Queued { .. }
            | Phase::Reply { .. }
            | Phase::Gone => self.kept.as_mut(),
        }
    }

    /// Writes `out`, then returns it to the pool once empty.
    fn flush_out(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Some(out) = self.client.out.as_mut() else {
            return self.flush_long_out(ctx);
        };
        if !self.client.peer.ready.writable {
            return Ok(false);
        }
        let n = match send_to_client(&mut self.client.peer, out.pending()) {
            Ok(n) => n,
            Err(e) => return Err(self.client_failed(ctx, e)),
        };
        out.consume(n);
        self.txn.marks.bytes_out += n as u64;
        self.client.bytes_out += n as u64;
        let mut progress = n > 0;
        if out.is_empty() {
            if let Some(b) = self.client.out.take() {
                ctx.pools.bufs.put(b);
            }
        }
        if progress {
            self.touch_client(ctx);
        }
        if self.client.out.is_none() && self.client.long_out.is_some() {
            progress |= self.flush_long_out(ctx)?;
        }
        Ok(progress)
    }

    /// Writes the rest of a large generated response (after `out`).
    fn flush_long_out(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Some((body, sent)) = self.client.long_out.as_mut() else {
            return Ok(false);
        };
        if !self.client.peer.ready.writable {
            return Ok(false);
        }
        let rest = body.get(*sent..).unwrap_or_default();
        let n = match send_to_client(&mut self.client.peer, rest) {
            Ok(n) => n,
            Err(e) => return Err(self.client_failed(ctx, e)),
        };
        *sent += n;
        self.txn.marks.bytes_out += n as u64;
        self.client.bytes_out += n as u64;
        let progress = n > 0;
        if body.len() <= *sent {
            self.client.long_out = None;
        }
        if progress {
            self.touch_client(ctx);
        }
        Ok(progress)
    }

    fn abortonclose(&self, ctx: &Ctx<'_>) -> bool {
        ctx.shared
            .model
            .backend(self.connector.backend)
            .is_some_and(|b| b.http.abortonclose)
    }

    /// Whether the body wait of the current request is over: the whole body, `at_least` bytes
    /// of it (when non-zero), or a full buffer are in `req`. A framing error ends the wait
    /// too; forwarding reports it.
    fn body_ready(&self, at_least: u64) -> bool {
        let Some(buf) = self.client.req.as_ref() else {
            return false;
        };
        if buf.is_full() {
            return true;
        }
        let body = buf.pending().get(self.txn.head.len..).unwrap_or(&[]);
        if at_least > 0 && body.len() as u64 >= at_least {
            return true;
        }
        let mut state = BodyState::new(self.txn.head.framing);
        state.advance(body).is_err() || state.is_done()
    }

    fn touch_client(&mut self, ctx: &Ctx<'_>) {
        if let Phase::Exchange { .. } | Phase::Reply { .. } = self.phase {
            self.client.deadline = client_deadline(ctx, self.origin.frontend);
        }
    }

    // ----- timers and teardown -----

    fn next_deadline(&self) -> Option<Instant> {
        let min = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match &self.phase {
            Phase::Head { deadline, .. }
            | Phase::WaitBody { deadline, .. }
            | Phase::Queued { deadline, .. } => *deadline,
            Phase::TurnAround { until, .. } => Some(*until),
            Phase::Connecting { deadline, .. } => *deadline,
            Phase::Exchange { ex, .. } => min(self.client.deadline, ex.server_deadline),
            Phase::Reply { .. } => self.client.deadline,
            Phase::Tunnel { duplex, .. } => duplex.next_deadline(),
            Phase::Gone => None,
        }
    }

    fn rearm(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if let Some(d) = self.next_deadline() {
            if self.armed.is_none_or(|a| d < a) {
                ctx.timers.arm(d, ctx.owner);
                self.armed = Some(d);
            }
        }
        Step::Continue
    }

    /// The single teardown path: both sockets deregistered, every buffer and pipe returned, the
    /// server slot released. A kept server connection goes to the idle pool when it can.
    pub(crate) fn teardown(mut self, ctx: &mut Ctx<'_>, term: Termination) {
        // No `epoll_ctl(DEL)`: closing the socket (dropped with `self`) removes it from the
        // poll set, and the client socket is never shared. A TLS client gets `close_notify`.
        self.client.peer.sock.tls_close();
        if let Phase::Tunnel { duplex, .. } = &mut self.phase {
            let (i, o) = duplex.release(ctx.pools);
            self.txn.marks.bytes_in += i;
            self.txn.marks.bytes_out += o;
            self.client.bytes_in += i;
            self.client.bytes_out += o;
            self.drop_upstream(ctx, true);
        }
        self.flush_bytes(ctx);
        // The server connection of a request in flight is closed; one kept from the last
        // response may serve other clients.
        if let Some(up) = self.take_active() {
            self.close_upstream(ctx, up);
        }
        if let Some(up) = self.kept.take() {
            let reusable = up.connected && !up.eof && up.res.as_ref().is_none_or(|b| b.is_empty());
            if reusable && self.connector.server().is_none() {
                self.park(ctx, up);
            } else {
                self.close_upstream(ctx, up);
            }
        }
        if let Some(sconn) = self.sconn.take() {
            ctx.idle.release(sconn, ctx.owner.key);
        }
        self.connector.release(ctx);
        self.log_request(ctx, term);
        for b in [
            self.client.req.take(),
            self.client.out.take(),
            self.txn.head_out.take(),
        ]
        .into_iter()
        .flatten()
        {
            ctx.pools.bufs.put(b);
        }
    }

    /// The server whose slot this stream holds (during an exchange).
    pub(crate) fn held_server(&self) -> Option<(BackendId, ServerId)> {
        self.connector.held()
    }

    /// The client's address (`show sess`): the PROXY header's when there was one.
    pub(crate) fn client_peer(&self) -> Option<std::net::SocketAddr> {
        self.origin.inet.then_some(self.origin.src)
    }

    pub(crate) fn requests(&self) -> u32 {
        self.requests
    }

    /// Adds the client bytes not yet counted to the frontend's `bin`/`bout`, and to the
    /// backend's and server's when the request was routed (at each request's end and at
    /// teardown, so keep-alive connections are counted as they go).
    fn flush_bytes(&mut self, ctx: &Ctx<'_>) {
        use std::sync::atomic::Ordering::Relaxed;
        let (i, o) = (
            std::mem::take(&mut self.client.bytes_in),
            std::mem::take(&mut self.client.bytes_out),
        );
        if i == 0 && o == 0 {
            return;
        }
        if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
            f.bytes_in.fetch_add(i, Relaxed);
            f.bytes_out.fetch_add(o, Relaxed);
        }
        if !self.txn.routed {
            return;
        }
        if let Some(b) = ctx.shared.backend(self.connector.backend) {
            b.bytes_in.fetch_add(i, Relaxed);
            b.bytes_out.fetch_add(o, Relaxed);
            if let Some(s) = self.connector.log.server.and_then(|s| b.server(s)) {
                s.bytes_in.fetch_add(i, Relaxed);
                s.bytes_out.fetch_add(o, Relaxed);
            }
        }
    }

    /// Writes the current request's log line (once).
    pub(super) fn log_request(&mut self, ctx: &mut Ctx<'_>, term: Termination) {
        self.flush_bytes(ctx);
        if !self.txn.marks.pending {
            return;
        }
        self.txn.marks.pending = false;
        self.count_abort(ctx, term);
        // `emit` records the request's timers for the stats even when nothing is logged.
        let cookie = if self.txn.routed && logline::wanted(ctx, self.origin.frontend) {
            let conf = ctx
                .shared
                .model
                .backend(self.connector.backend)
                .and_then(|b| b.cookie.as_ref());
            self.txn.persist.log_letters(conf)
        } else {
            *b"--"
        };
        let line = StreamLog {
            frontend: self.origin.frontend,
            src: Some(self.origin.src),
            dst: Some(self.origin.dst),
            routed: self.txn.routed,
            marks: &self.txn.marks,
            term,
            cookie,
            request_line: (!self.txn.req_line.is_empty()).then_some(&self.txn.req_line[..]),
            http: true,
            unique_id: &self.txn.uid,
            cap_req: &self.txn.cap_req,
            cap_res: &self.txn.cap_res,
            req_counter: self.txn.req_counter,
        };
        logline::emit(ctx, &self.connector, &line);
    }

    /// HAProxy's `cli_abrt` / `srv_abrt`, on the backend and the server: a request the client
    /// aborted at a server (waiting for the response head or moving data, `CH`/`CD`), or
    /// one whose server aborted in the middle of the data (`SD`). A client abort before any
    /// response status also counts in `hrsp_other`, as in HAProxy.
    fn count_abort(&self, ctx: &Ctx<'_>, term: Termination) {
        use std::sync::atomic::Ordering::Relaxed;
        let client = match (term.cause, term.stage) {
            (Cause::ClientAbort, Stage::Headers | Stage::Data) => true,
            (Cause::ServerAbort, Stage::Data) => false,
            _ => return,
        };
        if !self.txn.routed {
            return;
        }
        let Some(b) = ctx.shared.backend(self.connector.backend) else {
            return;
        };
        let Some(s) = self.connector.log.server.and_then(|s| b.server(s)) else {
            return;
        };
        if client {
            b.cli_aborts.fetch_add(1, Relaxed);
            s.cli_aborts.fetch_add(1, Relaxed);
            // No response status: HAProxy counts the stream's end in the frontend's and the
            // backend's `hrsp_other` (not the server's).
            if self.txn.marks.status < 100 {
                if let Some(c) = b.http_responses.get(5) {
                    c.fetch_add(1, Relaxed);
                }
                if let Some(c) = ctx
                    .shared
                    .frontend(self.origin.frontend)
                    .and_then(|f| f.http_responses.get(5))
                {
                    c.fetch_add(1, Relaxed);
                }
            }
        } else {
            b.srv_aborts.fetch_add(1, Relaxed);
            s.srv_aborts.fetch_add(1, Relaxed);
        }
    }

    /// HAProxy's `eresp`, on the backend and the server: an invalid or truncated response.
    pub(super) fn count_resp_error(&self, ctx: &Ctx<'_>) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(b) = ctx.shared.backend(self.connector.backend) {
            b.resp_errors.fetch_add(1, Relaxed);
            if let Some(s) = self.connector.log.server.and_then(|s| b.server(s)) {
                s.resp_errors.fetch_add(1, Relaxed);
            }
        }
    }

    /// The client closed (a FIN) before the end of its request body: the exchange cannot
    /// complete. HAProxy aborts the stream at once (`CD`, the server connection reset,
    /// `cli_abrt`) rather than waiting for the server until `timeout server`. A client that
    /// half-closes after its whole request still gets its response, as one whose response
    /// is already complete.
    fn client_gave_up(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Step> {
        let Phase::Exchange { ex, up } = &self.phase else {
            return Ok(());
        };
        if !self.client.eof || ex.req_body.is_done() {
            return Ok(());
        }
        let response_done = match &ex.response {
            Response::Done => true,
            Response::Body(b) => b.is_done(),
            Response::Head => false,
        };
        if response_done {
            return Ok(());
        }
        ctx.debug_event(format_args!(
            "client closed before the end of its request body"
        ));
        let _ = crate::sys::socket::set_abortive_close(&up.peer.sock);
        self.drop_upstream(ctx, true);
        Err(Step::Close(Termination::new(
            Cause::ClientAbort,
            Stage::Data,
        )))
    }

    /// Fills the request's header captures, request line copy and unique id once its head
    /// is complete (only what the frontend's logging uses).
    pub(super) fn note_request(&mut self, ctx: &Ctx<'_>) {
        let shared = ctx.shared;
        let Some(fe) = shared.model.frontend(self.origin.frontend) else {
            return;
        };
        let buf = self.client.pending();
        if logline::wanted(ctx, self.origin.frontend) || fe.log.unique_id.is_some() {
            self.txn.req_line.clear();
            let end = buf.iter().position(|&c| c == b'\n').unwrap_or(buf.len());
            let line = buf.get(..end).unwrap_or(buf);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let max = 1024.min(line.len());
            self.txn
                .req_line
                .extend_from_slice(line.get(..max).unwrap_or(line));
        }
        if !fe.captures.is_empty() {
            capture(
                &fe.captures,
                crate::model::CaptureDir::Request,
                &self.txn.head.headers,
                buf,
                &mut self.txn.cap_req,
            );
        }
        if fe.log.unique_id.is_some() {
            let mut uid = std::mem::take(&mut self.txn.uid);
            let line = StreamLog {
                frontend: self.origin.frontend,
                src: Some(self.origin.src),
                dst: Some(self.origin.dst),
                routed: false,
                marks: &self.txn.marks,
                term: Termination::NORMAL,
                cookie: *b"--",
                request_line: (!self.txn.req_line.is_empty()).then_some(&self.txn.req_line[..]),
                http: true,
                unique_id: b"",
                cap_req: &self.txn.cap_req,
                cap_res: &[],
                req_counter: self.txn.req_counter,
            };
            logline::unique_id(ctx, &line, &mut uid);
            self.txn.uid = uid;
        }
    }
}

/// Copies the values of the headers `caps` names (for direction `dir`) into `out`, one entry
/// per such capture in order, cut to its `len`; the last occurrence of a header wins, as
/// HAProxy keeps the last one it sees.
pub(super) fn capture(
    caps: &[crate::model::Capture],
    dir: crate::model::CaptureDir,
    headers: &[crate::http::HeaderSpan],
    buf: &[u8],
    out: &mut Vec<Vec<u8>>,
) {
    for (i, c) in caps.iter().filter(|c| c.dir == dir).enumerate() {
        if out.len() <= i {
            out.push(Vec::new());
        }
        if let Some(slot) = out.get_mut(i) {
            slot.clear();
            if let Some(h) = headers
                .iter()
                .rev()
                .find(|h| h.name.get(buf).eq_ignore_ascii_case(c.name.as_bytes()))
            {
                let v = h.value.get(buf);
                let n = (c.len as usize).min(v.len());
                slot.extend_from_slice(v.get(..n).unwrap_or(v));
            }
        }
    }
}

/// Writes `bytes` to the client until all are taken or the socket would block (then
/// `writable` is cleared); the count taken. A socket taking nothing is an error.
fn send_to_client(client: &mut Peer, bytes: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while let Some(rest) = bytes.get(sent..).filter(|r| !r.is_empty()) {
        match client.sock.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                client.ready.writable = false;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// What a head rewrite does with the hop-by-hop headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hops {
    /// A forwarded message: hop-by-hop headers are dropped (the caller writes the
    /// `connection` the next hop needs); `upgrade` is kept when the exchange may switch
    /// protocols.
    Strip { keep_upgrade: bool },
    /// A generated message: every header is kept, and `connection` is returned to go last.
    ConnectionLast,
}

/// The header rewrite of every head Ravelin writes, requests and responses alike: each header
/// line of `headers` (spans into `src`) goes through `line` first (persistence rewrites, names
/// the proxy drops), then through the rules' `edits` (keep, replace, drop), with its name
/// lowercased as HAProxy 2.x sends them; the rules' additions follow. Returns the `connection`
/// value under `Hops::ConnectionLast`.
fn rewrite_headers<'a>(
    w: &mut HeadWriter<'_>,
    src: &'a [u8],
    headers: &[crate::http::HeaderSpan],
    hops: Hops,
    edits: &HeaderEdits,
    mut line: impl FnMut(usize, &[u8]) -> LineOut<'a>,
) -> Option<&'a [u8]> {
    let mut lower = [0u8; 256];
    let mut connection = None;
    for (idx, h) in headers.iter().enumerate() {
        let name = h.name.get(src);
        match hops {
            Hops::Strip { keep_upgrade } if is_hop_by_hop(name) => {
                if keep_upgrade && name.eq_ignore_ascii_case(b"upgrade") {
                    w.header(b"upgrade", h.value.get(src));
                }
                continue;
            }
            Hops::ConnectionLast if name.eq_ignore_ascii_case(b"connection") => {
                connection = Some(h.value.get(src));
                continue;
            }
            Hops::Strip { .. } | Hops::ConnectionLast => {}
        }
        let value = match line(idx, name) {
            LineOut::Keep => h.value.get(src),
            LineOut::Value(v) => v,
            LineOut::Drop => continue,
        };
        match edits.rewrite(name, value) {
            HeaderFate::Keep => w.header(lowercase(name, &mut lower), value),
            HeaderFate::Replace(v) => w.header(lowercase(name, &mut lower), v),
            HeaderFate::Drop => {}
        }
    }
    for (name, value) in edits.additions() {
        w.header(lowercase(name, &mut lower), value);
    }
    connection
}

/// `timeout client` from now, for frontend `fe`.
fn client_deadline(ctx: &Ctx<'_>, fe: FrontendId) -> Option<Instant> {
    ctx.frontend_timeouts(fe).client.map(|t| ctx.now + t)
}

/// `timeout server` from now, for backend `be`.
fn server_deadline(ctx: &Ctx<'_>, be: BackendId) -> Option<Instant> {
    ctx.backend_timeouts(be).server.map(|t| ctx.now + t)
}

/// Lowercases a header name into `scratch` (names longer than it are passed unchanged).
fn lowercase<'a>(name: &'a [u8], scratch: &'a mut [u8; 256]) -> &'a [u8] {
    match scratch.get_mut(..name.len()) {
        Some(dst) => {
            for (d, s) in dst.iter_mut().zip(name) {
                *d = s.to_ascii_lowercase();
            }
            dst
        }
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phase moves with every transition of a request (several per request): it stays
    /// small (`Upstream::proxy` and the tunnel's `Duplex` are boxed for that).
    #[test]
    fn phases_stay_small() {
        assert!(
            std::mem::size_of::<Upstream>() <= 96,
            "{}",
            std::mem::size_of::<Upstream>()
        );
        assert!(
            std::mem::size_of::<Phase>() <= 192,
            "{}",
            std::mem::size_of::<Phase>()
        );
    }

    /// HAProxy 2.6.12's replay limit, bisected to the byte with `tune.bufsize` 16384.
    #[test]
    fn replay_room_matches_haproxy() {
        let room = request::replay_room(16384);
        assert_eq!(room, 15360);
        // What haproxy sent on: `POST /n15208`, host, content-length (the client's
        // `connection: close` is not kept).
        let head = b"POST /n15208 HTTP/1.1\r\nhost: x\r\ncontent-length: 15208\r\n\r\n";
        assert!(request::htx_size(head, 15208) <= room);
        assert!(request::htx_size(head, 15209) > room);
        let head =
            b"POST /h15172 HTTP/1.1\r\nhost: x\r\nx-a: 1\r\nx-b: 2\r\nx-c: 3\r\ncontent-length: 15172\r\n\r\n";
        assert!(request::htx_size(head, 15172) <= room);
        assert!(request::htx_size(head, 15173) > room);
        // A small buffer keeps at most half of itself for rewrites.
        assert_eq!(request::replay_room(1024), 512);
    }

    #[test]
    fn modes_combine_to_the_stricter() {
        assert_eq!(conn_mode(None, None), ConnMode::KeepAlive);
        assert_eq!(
            conn_mode(Some(ConnMode::ServerClose), None),
            ConnMode::ServerClose
        );
        assert_eq!(
            conn_mode(Some(ConnMode::KeepAlive), Some(ConnMode::Close)),
            ConnMode::Close
        );
        assert_eq!(
            conn_mode(Some(ConnMode::Close), Some(ConnMode::ServerClose)),
            ConnMode::Close
        );
    }

    #[test]
    fn keep_alive_defaults_per_version() {
        let none = ConnFlags::default();
        assert!(client_wants_keep_alive(Version::Http11, none));
        assert!(!client_wants_keep_alive(Version::Http10, none));
        assert!(client_wants_keep_alive(
            Version::Http10,
            ConnFlags {
                keep_alive: true,
                ..none
            }
        ));
        assert!(!client_wants_keep_alive(
            Version::Http11,
            ConnFlags {
                close: true,
                ..none
            }
        ));
    }

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(in_network(ip("10.1.2.3"), (ip("10.0.0.0"), 8)));
        assert!(!in_network(ip("11.1.2.3"), (ip("10.0.0.0"), 8)));
        assert!(in_network(ip("127.0.0.1"), (ip("127.0.0.1"), 32)));
        assert!(in_network(ip("::1"), (ip("::"), 0)));
        assert!(!in_network(ip("::1"), (ip("127.0.0.1"), 8)));
    }

    #[test]
    fn lowercases_names() {
        let mut s = [0u8; 256];
        assert_eq!(lowercase(b"X-Forwarded-For", &mut s), b"x-forwarded-for");
        let long = [b'A'; 300];
        assert_eq!(lowercase(&long, &mut s).len(), 300);
    }
}
