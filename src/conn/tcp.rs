//! TCP mode: a stream that picks a server, connects (with retries and redispatch), then forwards
//! bytes both ways until both directions have ended.
//!
//! ```text
//!   accept ─▶ connect() ─▶ Connecting ──connected──▶ Forwarding ──both FINs──▶ closed (--)
//!               ▲   │ refused/timeout                    │ reset / idle timeout
//!               │   ▼                                    ▼
//!           TurnAround (wait min(1s, timeout connect)) closed (CD/SD/cD/sD)
//!                   │ retries exhausted ─▶ closed (SC/sC)
//! ```
//! The retry rules are HAProxy's (`back_handle_st_cer`): a retry stays on the same server after
//! a turn-around delay, unless `option redispatch` applies (its interval, a server no longer
//! running, or a non-hashing algorithm with more than one active server), in which case another
//! server is picked right away.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::pump::{Fault, Pump, Via};
use super::{Cause, Readiness, Side, Sock, Stage, Step, Termination};
use crate::balance::PickKey;
use crate::model::{BackendId, Balance, FrontendId, PortRule, ServerAddr, ServerId};
use crate::reactor::Ctx;
use crate::sys::socket;
use crate::token;

/// HAProxy waits this long (or `timeout connect` if lower) before retrying the same server
/// after a refused connection, so it doesn't hammer a server that just said no.
const TURN_AROUND: Duration = Duration::from_secs(1);

#[derive(Debug)]
enum Phase {
    /// Waiting before retrying the same server.
    TurnAround { until: Instant },
    Connecting {
        server: Sock,
        deadline: Option<Instant>,
    },
    Forwarding {
        server: Sock,
        request: Pump,
        response: Pump,
    },
    /// Transient placeholder while moving between phases.
    Gone,
}

/// Where a stream came in, for releasing its slots and choosing a port.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub frontend: FrontendId,
    /// Index of the `Bind` in its frontend.
    pub bind: usize,
    pub backend: BackendId,
    /// The port the client connected to (for servers without a fixed port).
    pub local_port: u16,
    pub key: PickKey,
}

#[derive(Debug)]
pub struct Tunnel {
    pub entry: Entry,
    client: Sock,
    client_ready: Readiness,
    server_ready: Readiness,
    phase: Phase,
    /// The server holding one of this stream's slots.
    server: Option<ServerId>,
    retries_left: u32,
    via_request: Via,
    via_response: Via,
    client_deadline: Option<Instant>,
    server_deadline: Option<Instant>,
    /// Earliest wake-up already in the timer wheel.
    armed: Option<Instant>,
    pub accepted: Instant,
}

/// Outcome of a connection attempt.
enum Attempt {
    Pending,
    Failed(Failure),
}

/// What to do after a failed attempt.
enum Next {
    /// Try again now (same or another server, already assigned).
    Connect,
    /// Wait in `TurnAround`.
    Wait,
    Close(Termination),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Refused or errored (asynchronous error): HAProxy's SI_FL_ERR, turn-around applies.
    Error,
    Timeout,
}

impl Tunnel {
    pub fn new(
        client: Sock,
        entry: Entry,
        via_request: Via,
        via_response: Via,
        retries: u32,
        now: Instant,
    ) -> Tunnel {
        Tunnel {
            entry,
            client,
            client_ready: Readiness::default(),
            server_ready: Readiness::default(),
            phase: Phase::Gone,
            server: None,
            retries_left: retries,
            via_request,
            via_response,
            client_deadline: None,
            server_deadline: None,
            armed: None,
            accepted: now,
        }
    }

    /// Registers the client socket and starts connecting to a server.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if let Err(e) = self
            .client
            .register(ctx.registry, token::conn(ctx.owner.key, Side::Client))
        {
            ctx.debug_event(format_args!("cannot register client socket: {e}"));
            return Step::Close(Termination::new(Cause::Proxy, Stage::Connect));
        }
        let step = self.connect(ctx);
        self.rearm(ctx);
        step
    }

    pub fn on_event(&mut self, side: Side, ev: &mio::event::Event, ctx: &mut Ctx<'_>) -> Step {
        match side {
            Side::Client => self.client_ready.absorb(ev),
            Side::Server => self.server_ready.absorb(ev),
        }
        let step = self.advance(ctx);
        if step == Step::Continue {
            self.rearm(ctx);
        }
        step
    }

    /// Runs again without a new event (a buffer became available).
    pub fn resume(&mut self, ctx: &mut Ctx<'_>) -> Step {
        self.on_timer(ctx)
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if self.armed.is_some_and(|a| a <= ctx.now) {
            self.armed = None;
        }
        let step = match &self.phase {
            Phase::TurnAround { until } if *until <= ctx.now => self.connect(ctx),
            Phase::Connecting {
                deadline: Some(d), ..
            } if *d <= ctx.now => self.retry(ctx, Failure::Timeout),
            Phase::Forwarding { .. } => {
                if self.client_deadline.is_some_and(|d| d <= ctx.now) {
                    Step::Close(Termination::new(Cause::ClientTimeout, Stage::Data))
                } else if self.server_deadline.is_some_and(|d| d <= ctx.now) {
                    Step::Close(Termination::new(Cause::ServerTimeout, Stage::Data))
                } else {
                    self.advance(ctx)
                }
            }
            _ => Step::Continue,
        };
        if step == Step::Continue {
            self.rearm(ctx);
        }
        step
    }

    fn advance(&mut self, ctx: &mut Ctx<'_>) -> Step {
        match &self.phase {
            // As HAProxy does: the poller's flags tell how a connect ended, no getsockopt or
            // getpeername needed on success (EPOLLERR: failed; EPOLLOUT alone: connected).
            Phase::Connecting { server, .. } => {
                if self.server_ready.error {
                    if ctx.debug {
                        let err = server.take_error().ok().flatten();
                        ctx.debug_event(format_args!("connect failed: {err:?}"));
                    }
                    self.retry(ctx, Failure::Error)
                } else if self.server_ready.writable {
                    self.connected(ctx)
                } else {
                    Step::Continue
                }
            }
            Phase::Forwarding { .. } => self.forward(ctx),
            Phase::TurnAround { .. } | Phase::Gone => Step::Continue,
        }
    }

    /// Picks a server if none is assigned and opens a connection, retrying immediate failures.
    fn connect(&mut self, ctx: &mut Ctx<'_>) -> Step {
        loop {
            let srv = match self.server {
                Some(s) => s,
                None => match self.assign(ctx, None) {
                    Some(s) => s,
                    None => return self.no_server(ctx),
                },
            };
            match self.open(ctx, srv) {
                Ok(Attempt::Pending) => return Step::Continue,
                Ok(Attempt::Failed(f)) | Err(f) => match self.after_failure(ctx, f) {
                    Next::Connect => continue,
                    Next::Wait => return Step::Continue,
                    Next::Close(t) => return Step::Close(t),
                },
            }
        }
    }

    fn no_server(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if let Some(be) = ctx.shared.backend(self.entry.backend) {
            be.no_server
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        ctx.debug_event(format_args!("no server available"));
        Step::Close(Termination::new(Cause::ServerAbort, Stage::Connect))
    }

    /// Chooses a server and takes one of its slots.
    fn assign(&mut self, ctx: &mut Ctx<'_>, avoid: Option<ServerId>) -> Option<ServerId> {
        let be_id = self.entry.backend.0 as usize;
        let be = ctx.shared.model.backends.get(be_id)?;
        let st = ctx.shared.backends.get(be_id)?;
        let bal = ctx.balancers.get_mut(be_id)?;
        // A pick can race with another reactor filling the server: try a few times.
        for _ in 0..4 {
            let s = bal.pick(be, st, self.entry.key, avoid)?;
            let ss = st.servers.get(s.0 as usize)?;
            if ss.conns.try_acquire() {
                ss.total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.server = Some(s);
                return Some(s);
            }
        }
        None
    }

    fn release_server(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(s) = self.server.take() {
            if let Some(ss) = ctx.shared.server(self.entry.backend, s) {
                ss.conns.release();
            }
        }
    }

    fn open(&mut self, ctx: &mut Ctx<'_>, srv: ServerId) -> Result<Attempt, Failure> {
        let server = ctx
            .shared
            .model
            .backends
            .get(self.entry.backend.0 as usize)
            .and_then(|be| be.servers.get(srv.0 as usize))
            .ok_or(Failure::Error)?;
        let sock = match &server.addr {
            ServerAddr::Inet { ip, port } => {
                let port = match *port {
                    PortRule::Fixed(p) => p,
                    PortRule::Same => self.entry.local_port,
                    PortRule::Offset(off) => u16::try_from(i32::from(self.entry.local_port) + off)
                        .map_err(|_| Failure::Error)?,
                };
                mio::net::TcpStream::connect(SocketAddr::new(*ip, port)).map(Sock::Tcp)
            }
            ServerAddr::Unix(path) => mio::net::UnixStream::connect(path).map(Sock::Unix),
        };
        let mut sock = match sock {
            Ok(s) => s,
            Err(e) => {
                ctx.debug_event(format_args!(
                    "connect to server {} failed: {e}",
                    server.name
                ));
                return Ok(Attempt::Failed(Failure::Error));
            }
        };
        if let Sock::Tcp(_) = sock {
            let _ = socket::set_nodelay(&sock);
        }
        if sock
            .register(ctx.registry, token::conn(ctx.owner.key, Side::Server))
            .is_err()
        {
            return Ok(Attempt::Failed(Failure::Error));
        }
        self.server_ready = Readiness::default();
        let timeout = ctx.backend_timeouts(self.entry.backend).connect;
        self.phase = Phase::Connecting {
            server: sock,
            deadline: timeout.map(|t| ctx.now + t),
        };
        Ok(Attempt::Pending)
    }

    /// A pending attempt failed (from an event or a timer).
    fn retry(&mut self, ctx: &mut Ctx<'_>, failure: Failure) -> Step {
        match self.after_failure(ctx, failure) {
            Next::Connect => self.connect(ctx),
            Next::Wait => Step::Continue,
            Next::Close(t) => Step::Close(t),
        }
    }

    /// HAProxy's retry/redispatch decision after a failed attempt.
    fn after_failure(&mut self, ctx: &mut Ctx<'_>, failure: Failure) -> Next {
        if let Phase::Connecting { mut server, .. } =
            std::mem::replace(&mut self.phase, Phase::Gone)
        {
            server.deregister(ctx.registry);
        }
        let Some(srv) = self.server else {
            return self.no_server_next(ctx);
        };
        let Some(be) = ctx.shared.model.backends.get(self.entry.backend.0 as usize) else {
            return Next::Close(Termination::new(Cause::Proxy, Stage::Connect));
        };
        let counters = ctx.shared.server(self.entry.backend, srv);
        if let Some(c) = counters {
            c.connect_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if self.retries_left == 0 {
            ctx.debug_event(format_args!(
                "giving up on server {} after {} retries",
                srv.0, be.retries
            ));
            let cause = if failure == Failure::Timeout {
                Cause::ServerTimeout
            } else {
                Cause::ServerAbort
            };
            return Next::Close(Termination::new(cause, Stage::Connect));
        }
        self.retries_left -= 1;
        let done = be.retries - self.retries_left;
        let st = ctx.shared.backends.get(self.entry.backend.0 as usize);
        let active_up = st.map_or(0, |st| {
            be.servers
                .iter()
                .zip(st.servers.iter())
                .filter(|(s, ss)| !s.backup && ss.is_usable())
                .count()
        });
        let running = counters.is_some_and(|c| c.is_usable());
        let redispatch = be.redispatch.is_some_and(|interval| {
            let by_interval = if interval > 0 {
                done % interval as u32 == 0
            } else {
                let period = be.retries as i64 + 1 + interval as i64;
                period > 0 && (done as i64) % period == 0
            };
            !running || by_interval || (be.balance != Balance::Source && active_up > 1)
        });
        let round_robin = matches!(be.balance, Balance::RoundRobin | Balance::StaticRr);
        let wait = failure == Failure::Error && (!redispatch || !round_robin || active_up <= 1);
        if redispatch {
            if let Some(c) = counters {
                c.redispatches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            self.release_server(ctx);
            if self.assign(ctx, Some(srv)).is_none() {
                return self.no_server_next(ctx);
            }
        } else if let Some(c) = counters {
            c.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if wait {
            let connect = ctx.backend_timeouts(self.entry.backend).connect;
            let delay = connect
                .map_or(TURN_AROUND, |c| c.min(TURN_AROUND))
                .max(Duration::from_millis(1));
            self.phase = Phase::TurnAround {
                until: ctx.now + delay,
            };
            return Next::Wait;
        }
        Next::Connect
    }

    fn no_server_next(&mut self, ctx: &mut Ctx<'_>) -> Next {
        match self.no_server(ctx) {
            Step::Close(t) => Next::Close(t),
            Step::Continue => Next::Wait,
        }
    }

    fn connected(&mut self, ctx: &mut Ctx<'_>) -> Step {
        let Phase::Connecting { server, .. } = std::mem::replace(&mut self.phase, Phase::Gone)
        else {
            return Step::Continue;
        };
        self.phase = Phase::Forwarding {
            server,
            request: Pump::new(self.via_request),
            response: Pump::new(self.via_response),
        };
        ctx.debug_event(format_args!(
            "connected to server {:?}",
            self.server.map(|s| s.0)
        ));
        self.client_deadline = None;
        self.server_deadline = None;
        self.touch(ctx, true, true);
        self.forward(ctx)
    }

    fn forward(&mut self, ctx: &mut Ctx<'_>) -> Step {
        let Phase::Forwarding {
            server,
            request,
            response,
        } = &mut self.phase
        else {
            return Step::Continue;
        };
        let req = request.run(
            &mut self.client,
            &mut self.client_ready,
            server,
            &mut self.server_ready,
            ctx.pools,
        );
        let res = response.run(
            server,
            &mut self.server_ready,
            &mut self.client,
            &mut self.client_ready,
            ctx.pools,
        );
        let (req, res) = match (req, res) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(Fault::Source(e)), _) | (_, Err(Fault::Destination(e))) => {
                return self.abort(ctx, Side::Client, e);
            }
            (Err(Fault::Destination(e)), _) | (_, Err(Fault::Source(e))) => {
                return self.abort(ctx, Side::Server, e);
            }
        };
        if req.starved || res.starved {
            ctx.starved.push_back(ctx.owner);
        } else if req.more || res.more {
            ctx.runnable.push(ctx.owner);
        }
        let done = request.is_done() && response.is_done();
        let client_io = req.read || res.wrote;
        let server_io = req.wrote || res.read;
        if done {
            return Step::Close(Termination::NORMAL);
        }
        self.touch(ctx, client_io, server_io);
        Step::Continue
    }

    fn abort(&mut self, ctx: &mut Ctx<'_>, side: Side, e: io::Error) -> Step {
        ctx.debug_event(format_args!("{side:?} side failed: {e}"));
        // Propagate the reset: the other side is closed with a RST, as HAProxy does.
        let other = match (side, &self.phase) {
            (Side::Client, Phase::Forwarding { server, .. } | Phase::Connecting { server, .. }) => {
                Some(server)
            }
            (Side::Server, _) => Some(&self.client),
            _ => None,
        };
        if let Some(s) = other {
            let _ = socket::set_abortive_close(s);
        }
        let cause = if side == Side::Client {
            Cause::ClientAbort
        } else {
            Cause::ServerAbort
        };
        Step::Close(Termination::new(cause, Stage::Data))
    }

    /// Refreshes the idle deadlines of the sides that saw activity.
    fn touch(&mut self, ctx: &Ctx<'_>, client_io: bool, server_io: bool) {
        let Phase::Forwarding {
            request, response, ..
        } = &self.phase
        else {
            return;
        };
        let fe = ctx.frontend_timeouts(self.entry.frontend);
        let be = ctx.backend_timeouts(self.entry.backend);
        let half_closed = request.eof || response.eof;
        let (client_t, server_t) = match be.tunnel {
            Some(t) => (t, t),
            None => (
                fe.client.unwrap_or(Duration::ZERO),
                be.server.unwrap_or(Duration::ZERO),
            ),
        };
        let pick = |fin: Option<Duration>, base: Duration| {
            let t = if half_closed {
                fin.unwrap_or(base)
            } else {
                base
            };
            (t > Duration::ZERO).then(|| ctx.now + t)
        };
        if be.tunnel.is_some() && (client_io || server_io) {
            // The tunnel timeout covers inactivity in both directions together.
            self.client_deadline = pick(fe.client_fin, client_t);
            self.server_deadline = pick(be.server_fin, server_t);
            return;
        }
        if client_io || self.client_deadline.is_none() || half_closed {
            self.client_deadline = if client_io || self.client_deadline.is_none() {
                pick(fe.client_fin, client_t)
            } else {
                self.client_deadline.min(pick(fe.client_fin, client_t))
            };
        }
        if server_io || self.server_deadline.is_none() || half_closed {
            self.server_deadline = if server_io || self.server_deadline.is_none() {
                pick(be.server_fin, server_t)
            } else {
                self.server_deadline.min(pick(be.server_fin, server_t))
            };
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::TurnAround { until } => Some(*until),
            Phase::Connecting { deadline, .. } => *deadline,
            Phase::Forwarding { .. } => match (self.client_deadline, self.server_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Phase::Gone => None,
        }
    }

    fn rearm(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(d) = self.next_deadline() {
            if self.armed.is_none_or(|a| d < a) {
                ctx.timers.arm(d, ctx.owner);
                self.armed = Some(d);
            }
        }
    }

    /// The single teardown path: deregisters both sockets, returns pipes and buffers, releases
    /// the server slot and accounts the bytes. Frontend/global slots are the reactor's.
    pub fn teardown(mut self, ctx: &mut Ctx<'_>) {
        self.client.deregister(ctx.registry);
        let phase = std::mem::replace(&mut self.phase, Phase::Gone);
        let (mut bytes_in, mut bytes_out) = (0, 0);
        match phase {
            Phase::Forwarding {
                mut server,
                mut request,
                mut response,
            } => {
                server.deregister(ctx.registry);
                request.release(ctx.pools);
                response.release(ctx.pools);
                bytes_in = request.bytes;
                bytes_out = response.bytes;
            }
            Phase::Connecting { mut server, .. } => server.deregister(ctx.registry),
            Phase::TurnAround { .. } | Phase::Gone => {}
        }
        if let Some(s) = self.server {
            if let Some(ss) = ctx.shared.server(self.entry.backend, s) {
                ss.bytes_in
                    .fetch_add(bytes_in, std::sync::atomic::Ordering::Relaxed);
                ss.bytes_out
                    .fetch_add(bytes_out, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.release_server(ctx);
    }

    /// Bytes forwarded so far (client→server, server→client).
    pub fn bytes(&self) -> (u64, u64) {
        match &self.phase {
            Phase::Forwarding {
                request, response, ..
            } => (request.bytes, response.bytes),
            _ => (0, 0),
        }
    }
}
