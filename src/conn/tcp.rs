//! TCP mode: a stream that picks a server, connects (with HAProxy's retries and redispatch, in
//! `connect`), then forwards bytes both ways (`duplex`) until both directions have ended.
//!
//! ```text
//!   accept ─▶ Connecting ──connected──▶ [Proxying] ──▶ Forwarding ──both FINs──▶ closed (--)
//!              ▲  │ refused/timeout      send-proxy     │ reset / idle timeout
//!              │  ▼                                     ▼
//!          TurnAround                             closed (CD/SD/cD/sD)
//!              │ retries exhausted ─▶ closed (SC/sC)
//! ```

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::Peer;
use super::connect::{Connector, Failure, Outcome};
use super::duplex::{Duplex, Progress};
use super::logline::{self, StreamLog};
use super::pump::Via;
use crate::balance::PickKey;
use crate::log::record::Marks;
use crate::net::Sock;
use crate::status::Seen;
use crate::term::{Side, Step, Termination};

use crate::conn::Ctx;
use crate::model::{BackendId, FrontendId, ServerId};
use crate::proxyproto::Line;

#[derive(Debug)]
enum Phase {
    /// Waiting before retrying the same server.
    TurnAround {
        until: Instant,
    },
    /// In the backend's queue (every usable server full) until a slot is granted or
    /// `timeout queue` passes (`sQ`).
    Queued {
        deadline: Option<Instant>,
    },
    Connecting {
        server: Peer,
        deadline: Option<Instant>,
    },
    /// Connected to a `send-proxy` server: its PROXY header goes out before any client byte
    /// (still under `timeout connect`, as HAProxy sends it within the connection setup).
    Proxying {
        server: Peer,
        line: Line,
        deadline: Option<Instant>,
    },
    Forwarding {
        server: Peer,
        duplex: Duplex,
    },
    /// Transient placeholder while moving between phases.
    Gone,
}

/// Where a stream came in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) frontend: FrontendId,
    /// Index of the `Bind` in its frontend.
    pub(crate) bind: usize,
    pub(crate) backend: BackendId,
    /// The port the client connected to (for servers without a fixed port).
    pub(crate) local_port: u16,
    pub(crate) key: PickKey,
    /// The client's address and the address it connected to (from the socket or the PROXY
    /// header): for the log, `show sess` and a PROXY header sent to the server.
    pub(crate) src: Option<std::net::SocketAddr>,
    pub(crate) dst: Option<std::net::SocketAddr>,
}

impl Entry {
    /// The addresses a PROXY header sent to the server carries (`None`: UNKNOWN / LOCAL).
    pub(crate) fn proxy_addrs(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        self.src.zip(self.dst)
    }
}

#[derive(Debug)]
pub(crate) struct Tunnel {
    pub(crate) entry: Entry,
    client: Peer,
    phase: Phase,
    connector: Connector,
    via_request: Via,
    via_response: Via,
    /// Earliest wake-up already in the timer wheel.
    armed: Option<Instant>,
    pub(crate) accepted: Instant,
    /// Accept instant and byte counts for the log line.
    marks: Marks,
}

impl Tunnel {
    /// The server whose slot this stream holds.
    pub(crate) fn held_server(&self) -> Option<(BackendId, ServerId)> {
        self.connector.held()
    }

    /// The client's address (`show sess`): the PROXY header's when there was one.
    pub(crate) fn client_peer(&self) -> Option<std::net::SocketAddr> {
        self.entry.src
    }

    pub(crate) fn new(
        client: Sock,
        entry: Entry,
        via_request: Via,
        via_response: Via,
        retries: u32,
        accepted: Instant,
        now: Instant,
    ) -> Tunnel {
        Tunnel {
            connector: Connector::new(entry.backend, entry.key, entry.local_port, retries),
            entry,
            client: Peer::new(client),
            phase: Phase::Gone,
            via_request,
            via_response,
            armed: None,
            accepted,
            marks: Marks::after_handshake(accepted, now),
        }
    }

    /// Registers the client socket and starts connecting to a server.
    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if let Err(e) = self
            .client
            .sock
            .register(ctx.registry, ctx.stream_token(Side::Client))
        {
            ctx.debug_event(format_args!("cannot register client socket: {e}"));
            return Step::Close(Termination::new(
                crate::term::Cause::Proxy,
                crate::term::Stage::Connect,
            ));
        }
        let outcome = self.connector.connect(ctx, ctx.stream_token(Side::Server));
        self.settle(ctx, outcome)
    }

    pub(crate) fn on_event(
        &mut self,
        side: Side,
        ev: &mio::event::Event,
        ctx: &mut Ctx<'_>,
    ) -> Step {
        match side {
            Side::Client => {
                // A failed flush shows on the next read or write.
                let _ = self.client.on_client_event(ev);
            }
            Side::Server => match &mut self.phase {
                Phase::Connecting { server, .. } | Phase::Proxying { server, .. } => {
                    server.ready.absorb(ev);
                }
                Phase::Forwarding { server, .. } => {
                    let _ = server.on_server_event(ev);
                }
                // No server socket: a stale event of one already closed.
                Phase::TurnAround { .. } | Phase::Queued { .. } | Phase::Gone => {}
            },
        }
        self.advance(ctx)
    }

    /// Runs again without a new event (budget exhausted last turn, or a buffer was released).
    pub(crate) fn resume(&mut self, ctx: &mut Ctx<'_>) -> Step {
        self.advance(ctx)
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if self.armed.is_some_and(|a| a <= ctx.now) {
            self.armed = None;
        }
        match &self.phase {
            Phase::TurnAround { until } if *until <= ctx.now => self.connect_again(ctx),
            Phase::Queued { deadline: Some(d) } if *d <= ctx.now => self.connect_again(ctx),
            Phase::Connecting {
                deadline: Some(d), ..
            }
            | Phase::Proxying {
                deadline: Some(d), ..
            } if *d <= ctx.now => self.connect_failed(ctx, Failure::Timeout),
            Phase::Forwarding { duplex, .. } => match duplex.expired(ctx.now) {
                Some(t) => Step::Close(t),
                None => self.advance(ctx),
            },
            _ => self.rearm(ctx),
        }
    }

    fn advance(&mut self, ctx: &mut Ctx<'_>) -> Step {
        match &mut self.phase {
            // As HAProxy does: the poller's flags tell how a connect ended (EPOLLERR: failed,
            // EPOLLOUT: connected), no getsockopt on the success path.
            Phase::Connecting { server, .. } => {
                if server.ready.error {
                    if ctx.debug {
                        let err = server.sock.take_error().ok().flatten();
                        ctx.debug_event(format_args!("connect failed: {err:?}"));
                    }
                    self.connect_failed(ctx, Failure::Error)
                } else if server.ready.writable {
                    self.connected(ctx)
                } else {
                    Step::Continue
                }
            }
            Phase::Proxying { server, line, .. } => {
                if !server.ready.writable {
                    return Step::Continue;
                }
                match server.sock.write(line.pending()) {
                    Ok(n) => {
                        line.consume(n);
                        if !line.is_sent() {
                            return Step::Continue;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        server.ready.writable = false;
                        return Step::Continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                        ctx.runnable.push(ctx.owner);
                        return Step::Continue;
                    }
                    Err(e) => {
                        ctx.debug_event(format_args!("sending the PROXY header: {e}"));
                        return self.connect_failed(ctx, Failure::Error);
                    }
                }
                match std::mem::replace(&mut self.phase, Phase::Gone) {
                    Phase::Proxying { server, .. } => self.forward(ctx, server),
                    other @ (Phase::TurnAround { .. }
                    | Phase::Queued { .. }
                    | Phase::Connecting { .. }
                    | Phase::Forwarding { .. }
                    | Phase::Gone) => {
                        self.phase = other;
                        Step::Continue
                    }
                }
            }
            Phase::Forwarding { server, duplex } => {
                let fe_t = ctx.frontend_timeouts(self.entry.frontend);
                let be_t = ctx.backend_timeouts(self.entry.backend);
                match duplex.run(&mut self.client, server, ctx.pools, (&fe_t, &be_t), ctx.now) {
                    Ok(Progress::Done) => Step::Close(Termination::NORMAL),
                    Ok(Progress::Open { more, starved }) => {
                        if starved {
                            ctx.starved.push_back(ctx.owner);
                        } else if more {
                            ctx.runnable.push(ctx.owner);
                        }
                        self.rearm(ctx)
                    }
                    Err((t, e)) => {
                        ctx.debug_event(format_args!("stream aborted: {e}"));
                        Step::Close(t)
                    }
                }
            }
            Phase::Queued { .. } if self.connector.granted() => self.connect_again(ctx),
            Phase::TurnAround { .. } | Phase::Queued { .. } | Phase::Gone => Step::Continue,
        }
    }

    /// Asks the connector again (after a turn-around, a queue grant or its timeout).
    fn connect_again(&mut self, ctx: &mut Ctx<'_>) -> Step {
        let outcome = self.connector.connect(ctx, ctx.stream_token(Side::Server));
        self.settle(ctx, outcome)
    }

    fn connect_failed(&mut self, ctx: &mut Ctx<'_>, failure: Failure) -> Step {
        if let Phase::Connecting { mut server, .. } | Phase::Proxying { mut server, .. } =
            std::mem::replace(&mut self.phase, Phase::Gone)
        {
            server.sock.deregister(ctx.registry);
        }
        let outcome = self
            .connector
            .failed(ctx, failure, ctx.stream_token(Side::Server));
        self.settle(ctx, outcome)
    }

    /// Moves to the phase an outcome of the connector calls for.
    fn settle(&mut self, ctx: &mut Ctx<'_>, outcome: Outcome) -> Step {
        match outcome {
            Outcome::Pending { sock, deadline } => {
                self.phase = Phase::Connecting {
                    server: Peer::new(sock),
                    deadline,
                };
                self.rearm(ctx)
            }
            Outcome::Wait(until) => {
                self.phase = Phase::TurnAround { until };
                self.rearm(ctx)
            }
            Outcome::Queued(deadline) => {
                self.phase = Phase::Queued { deadline };
                self.rearm(ctx)
            }
            Outcome::Failed(t) => Step::Close(t),
        }
    }

    fn connected(&mut self, ctx: &mut Ctx<'_>) -> Step {
        let Phase::Connecting { server, deadline } =
            std::mem::replace(&mut self.phase, Phase::Gone)
        else {
            return Step::Continue;
        };
        ctx.debug_event(format_args!(
            "connected to server {:?}",
            self.connector.server().map(|s| s.0)
        ));
        self.connector.observe(ctx, Seen::L4Ok);
        self.connector.mark_connected(ctx.now);
        if let Some(v) = self.connector.send_proxy(ctx) {
            let line = Line::build(v, self.entry.proxy_addrs());
            self.phase = Phase::Proxying {
                server,
                line,
                deadline,
            };
            return self.advance(ctx);
        }
        self.forward(ctx, server)
    }

    /// Starts forwarding both ways (after the connect, and the PROXY header if any).
    fn forward(&mut self, ctx: &mut Ctx<'_>, server: Peer) -> Step {
        // TLS on either side: copy, never splice.
        let tls = matches!(server.sock, Sock::Tls(_)) || matches!(self.client.sock, Sock::Tls(_));
        let mut duplex = if tls {
            Duplex::new(Via::Copy, Via::Copy)
        } else {
            Duplex::new(self.via_request, self.via_response)
        };
        let fe_t = ctx.frontend_timeouts(self.entry.frontend);
        let be_t = ctx.backend_timeouts(self.entry.backend);
        duplex.touch((&fe_t, &be_t), ctx.now, true, true);
        self.phase = Phase::Forwarding { server, duplex };
        self.advance(ctx)
    }

    fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::TurnAround { until } => Some(*until),
            Phase::Queued { deadline }
            | Phase::Connecting { deadline, .. }
            | Phase::Proxying { deadline, .. } => *deadline,
            Phase::Forwarding { duplex, .. } => duplex.next_deadline(),
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

    /// The single teardown path: deregisters both sockets, returns pipes and buffers, releases
    /// the server slot and accounts the bytes. Frontend/global slots are the reactor's.
    pub(crate) fn teardown(mut self, ctx: &mut Ctx<'_>, term: Termination) {
        // A TLS bind whose handshake never finished: counted and logged as HAProxy does.
        let tls_error = if self.client.sock.tls_failed() {
            Some(("SSL handshake failure", false))
        } else if self.client.sock.tls_handshaking() {
            Some(if term.cause == crate::term::Cause::ClientTimeout {
                ("Timeout during SSL handshake", false)
            } else {
                ("Connection closed during SSL handshake", true)
            })
        } else {
            None
        };
        if let Some((msg, silent)) = tls_error {
            if let Some(f) = ctx.shared.frontend(self.entry.frontend) {
                f.ssl_failed.fetch_add(1, Relaxed);
            }
            logline::emit_conn_error(
                ctx,
                (self.entry.frontend, self.entry.bind),
                self.entry.src,
                self.accepted,
                msg,
                silent,
            );
        }
        self.client.sock.tls_close();
        self.client.sock.deregister(ctx.registry);
        let (mut bytes_in, mut bytes_out) = (0, 0);
        match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Forwarding {
                mut server,
                mut duplex,
            } => {
                server.sock.deregister(ctx.registry);
                (bytes_in, bytes_out) = duplex.release(ctx.pools);
            }
            Phase::Connecting { mut server, .. } | Phase::Proxying { mut server, .. } => {
                server.sock.deregister(ctx.registry)
            }
            Phase::TurnAround { .. } | Phase::Queued { .. } | Phase::Gone => {}
        }
        if let Some(ss) = self
            .connector
            .server()
            .and_then(|s| ctx.shared.server(self.entry.backend, s))
        {
            ss.bytes_in.fetch_add(bytes_in, Relaxed);
            ss.bytes_out.fetch_add(bytes_out, Relaxed);
        }
        if let Some(f) = ctx.shared.frontend(self.entry.frontend) {
            f.bytes_in.fetch_add(bytes_in, Relaxed);
            f.bytes_out.fetch_add(bytes_out, Relaxed);
        }
        if let Some(b) = ctx.shared.backend(self.entry.backend) {
            b.bytes_in.fetch_add(bytes_in, Relaxed);
            b.bytes_out.fetch_add(bytes_out, Relaxed);
        }
        self.connector.release(ctx);
        // `emit` records the stream's timers for the stats, then logs when the frontend does.
        self.marks.bytes_in = bytes_in;
        self.marks.bytes_out = bytes_out;
        let line = StreamLog {
            frontend: self.entry.frontend,
            src: self.entry.src,
            dst: self.entry.dst,
            routed: true,
            marks: &self.marks,
            term,
            cookie: *b"--",
            request_line: None,
            http: false,
            unique_id: b"",
            cap_req: &[],
            cap_res: &[],
            req_counter: 0,
        };
        logline::emit(ctx, &self.connector, &line);
    }

    /// Bytes forwarded so far (client→server, server→client).
    pub(crate) fn bytes(&self) -> (u64, u64) {
        match &self.phase {
            Phase::Forwarding { duplex, .. } => (duplex.request.bytes, duplex.response.bytes),
            _ => (0, 0),
        }
    }
}
