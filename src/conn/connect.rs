//! Getting a server connection for a stream, shared by TCP and HTTP: choosing a server (and
//! holding one of its slots), opening a non-blocking connection, and HAProxy's rules after a
//! failed attempt (`back_handle_st_cer`): up to `retries` retries; a retry stays on the same
//! server after a turn-around delay of `min(1s, timeout connect)`, unless `option redispatch`
//! applies (its interval, a server no longer usable, or a non-hashing algorithm with more than
//! one active server), in which case another server is picked, at once for round-robin kinds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use mio::Token;

use crate::balance::PickKey;
use crate::check::passive;
use crate::net::Sock;
use crate::status::Seen;
use crate::term::{Cause, Stage, Termination};

use crate::conn::Ctx;
use crate::model::{BackendId, Balance, PortRule, RetryOn, ServerAddr, ServerId};
use crate::server::queue;
use crate::server::queue::Ticket;
use crate::sys::socket;

/// HAProxy waits this long (or `timeout connect` if lower) before retrying the same server
/// after a refused connection, so it doesn't hammer a server that just said no.
const TURN_AROUND: Duration = Duration::from_secs(1);

/// Why an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Refused or errored: HAProxy's SI_FL_ERR, the turn-around applies.
    Error,
    Timeout,
    /// The connection worked but gave no usable response (`retry-on` past `conn-failure`):
    /// retried at once, not counted as a connection error.
    Late,
}

/// Where getting a connection stands.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A connect is in flight on this socket (registered), to be given up at `deadline`.
    Pending {
        sock: Sock,
        deadline: Option<Instant>,
    },
    /// Call [`Connector::connect`] again at this instant (turn-around).
    Wait(Instant),
    /// Every usable server is at its limit: the stream waits in the backend's queue until it
    /// is resumed with a slot (call [`Connector::connect`] again) or this deadline (`timeout
    /// queue`) passes — then `connect` reports `sQ`.
    Queued(Option<Instant>),
    /// No connection: the stream ends (`SC`/`sC`), or gets a 503 in HTTP.
    Failed(Termination),
}

/// A stream's side of server selection and connection attempts.
#[derive(Debug)]
pub(crate) struct Connector {
    pub(crate) backend: BackendId,
    pub(crate) key: PickKey,
    /// The port the client connected to (for servers without a fixed port).
    pub(crate) local_port: u16,
    /// The server holding one of this stream's slots.
    server: Option<ServerId>,
    retries_left: u32,
    /// Waiting in a server's or the backend's queue, until the deadline.
    ticket: Option<(Arc<Ticket>, Option<Instant>)>,
    /// The server whose queue holds the ticket (`None`: the backend's).
    queued_on: Option<ServerId>,
    /// The server a persistence cookie names (HAProxy's `SF_DIRECT`): used without
    /// balancing, waited for when full.
    direct: Option<ServerId>,
    /// Counted in the backend's `beconn` (from the first assignment to the release).
    counted: bool,
    /// What the log line says about getting a server (reset per request).
    pub(crate) log: ConnLog,
}

/// Instants and counts of getting a server connection, for the log's `Tw`, `Tc`, `%rc`,
/// `%sq`/`%bq` and server name.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ConnLog {
    /// The first server assignment was asked for (start of `Tw`).
    pub(crate) assign: Option<Instant>,
    /// A server slot was obtained (end of `Tw`, start of `Tc`).
    pub(crate) granted: Option<Instant>,
    /// The server connection was established (end of `Tc`, start of `Tr`).
    pub(crate) connected: Option<Instant>,
    /// The last server tried.
    pub(crate) server: Option<ServerId>,
    pub(crate) redispatched: bool,
    /// Streams ahead in the server's / the backend's queue when this one queued.
    pub(crate) srv_queue: u32,
    pub(crate) be_queue: u32,
}

/// What choosing a server gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Assign {
    Server(ServerId),
    Queued(Option<Instant>),
    /// No usable server at all.
    None,
    /// The stream is bound to a server (by a hash key) whose queue is at `maxqueue`:
    /// HAProxy's `SRV_STATUS_FULL`, a 503 with `SQ` (another server would break the key's
    /// affinity, and hashing would only pick the same server again).
    Full,
}

impl Connector {
    pub(crate) fn new(
        backend: BackendId,
        key: PickKey,
        local_port: u16,
        retries: u32,
    ) -> Connector {
        Connector {
            backend,
            key,
            local_port,
            server: None,
            retries_left: retries,
            ticket: None,
            queued_on: None,
            direct: None,
            counted: false,
            log: ConnLog::default(),
        }
    }

    /// Retries done for the current request.
    pub(crate) fn retries_done(&self, ctx_retries: u32) -> u32 {
        ctx_retries.saturating_sub(self.retries_left)
    }

    /// Notes that the server connection is established (or an idle one was taken).
    pub(crate) fn mark_connected(&mut self, now: Instant) {
        if self.log.granted.is_none() {
            self.log.granted = Some(now);
        }
        self.log.connected = Some(now);
    }

    pub(crate) fn server(&self) -> Option<ServerId> {
        self.server
    }

    /// The PROXY header version the held server wants first on a new connection
    /// (`send-proxy`, `send-proxy-v2`); servers added at run time take none.
    pub(crate) fn send_proxy(&self, ctx: &Ctx<'_>) -> Option<crate::proxyproto::Version> {
        let s = self.server?;
        ctx.shared
            .model
            .backend(self.backend)?
            .server(s)?
            .send_proxy
    }

    /// Sends the stream to `srv` without balancing (a valid persistence cookie).
    pub(crate) fn set_direct(&mut self, srv: ServerId) {
        self.direct = Some(srv);
    }

    /// Whether the stream went to the server its cookie named.
    pub(crate) fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Starts over for a new request on the same backend or another one (HTTP keep-alive).
    pub(crate) fn reset(&mut self, ctx: &mut Ctx<'_>, backend: BackendId, key: PickKey) {
        self.release(ctx);
        self.backend = backend;
        self.key = key;
        self.direct = None;
        self.log = ConnLog::default();
        self.retries_left = ctx.shared.model.backend(backend).map_or(0, |b| b.retries);
    }

    /// Chooses a server (if none is held) and takes one of its slots. A stream bound to its
    /// server (by a hash key) waits in that server's queue when the server is at its limit;
    /// any other stream takes a server with room, or joins the backend's queue when every
    /// usable server is at its limit — behind anyone already waiting, so new streams never
    /// overtake queued ones.
    pub(crate) fn assign(&mut self, ctx: &mut Ctx<'_>, avoid: Option<ServerId>) -> Assign {
        if let Some(s) = self.server {
            return Assign::Server(s);
        }
        let be_id = self.backend.0 as usize;
        let (Some(be), Some(st)) = (
            ctx.shared.model.backends.get(be_id),
            ctx.shared.backends.get(be_id),
        ) else {
            return Assign::None;
        };
        if let Some((t, deadline)) = &self.ticket {
            if let Some(s) = t.granted() {
                let waited = ctx.now.saturating_duration_since(t.since);
                self.ticket = None;
                st.count_queue_wait(waited);
                if let Some(ss) = st.server(s) {
                    ss.count_queue_wait(waited);
                }
                return self.took(ctx, s);
            }
            if !t.redispatched() {
                return Assign::Queued(*deadline);
            }
            // The server this stream waited for went down: back to load balancing, without
            // its cookie's server (HAProxy clears SF_DIRECT and SF_ASSIGNED).
            self.ticket = None;
            self.queued_on = None;
            self.direct = None;
        }
        if !self.counted {
            self.counted = true;
            st.beconn.acquire();
        }
        let now_ms = ctx.shared.ms(ctx.now);
        if self.log.assign.is_none() {
            self.log.assign = Some(ctx.now);
            // The backend's `stot` and rate: once per stream (HTTP: per request), served or
            // not, as HAProxy counts at `stream_set_backend`; not again on a redispatch.
            st.total.fetch_add(1, Relaxed);
            st.rate.tick(now_ms);
        }
        let Some(bal) = ctx.balancers.get_mut(be_id) else {
            return Assign::None;
        };
        let bound = match self.direct {
            Some(d) => Some(d),
            None if bal.binds(self.key) => match bal.pick(be, st, self.key, avoid, now_ms) {
                Some(s) => Some(s),
                None => return Assign::None,
            },
            None => None,
        };
        if let Some(s) = bound {
            let i = s.0 as usize;
            let Some(ss) = st.servers.get(i) else {
                return Assign::None;
            };
            if ss.queue.is_empty() && st.try_take(i, now_ms) {
                return self.took(ctx, s);
            }
            if ss.maxqueue == 0 || ss.queue.len() < ss.maxqueue {
                return self.enqueue(ctx, Some(s));
            }
            ss.connect_errors.fetch_add(1, Relaxed);
            // A full `maxqueue`: a cookie's stream goes to another server with `option
            // redispatch` (HAProxy's `srv_redispatch_connect()`); a hash would only pick the
            // same server again.
            if self.direct.is_none() || be.redispatch.is_none() {
                return Assign::Full;
            }
            self.direct = None;
            return self.assign(ctx, avoid);
        }
        if st.queue.is_empty() {
            // A pick can race with another reactor filling the server: try a few times.
            for _ in 0..4 {
                let Some(s) = bal.pick(be, st, self.key, avoid, now_ms) else {
                    break;
                };
                if st.try_take(s.0 as usize, now_ms) {
                    return self.took(ctx, s);
                }
            }
        }
        if !st.servers.iter().any(|ss| ss.is_usable()) {
            return Assign::None;
        }
        self.enqueue(ctx, None)
    }

    /// Waits in `server`'s queue, or the backend's, until `timeout queue` (default: `timeout
    /// connect`).
    fn enqueue(&mut self, ctx: &mut Ctx<'_>, server: Option<ServerId>) -> Assign {
        let Some(st) = ctx.shared.backend(self.backend) else {
            return Assign::None;
        };
        let t = ctx.backend_timeouts(self.backend);
        let deadline = t.queue.or(t.connect).map(|d| ctx.now + d);
        let ticket = Ticket::new(ctx.reactor, ctx.owner, ctx.now);
        let queue = match server.and_then(|s| st.server(s)) {
            Some(ss) => {
                self.log.srv_queue += ss.queue.len();
                &ss.queue
            }
            None => {
                self.log.be_queue += st.queue.len();
                &st.queue
            }
        };
        queue.push(ticket.clone());
        self.ticket = Some((ticket, deadline));
        self.queued_on = server;
        // A slot freed just before the push found nobody waiting: hand out free slots now.
        dispatch(ctx, self.backend, server);
        self.assign(ctx, None)
    }

    fn took(&mut self, ctx: &Ctx<'_>, s: ServerId) -> Assign {
        if let Some(ss) = ctx.shared.server(self.backend, s) {
            ss.total.fetch_add(1, Relaxed);
            ss.rate.tick(ctx.shared.ms(ctx.now));
        }
        self.server = Some(s);
        self.log.server = Some(s);
        if self.log.granted.is_none() {
            self.log.granted = Some(ctx.now);
        }
        Assign::Server(s)
    }

    /// The server whose slot the stream holds, with its backend.
    pub(crate) fn held(&self) -> Option<(BackendId, ServerId)> {
        self.server.map(|s| (self.backend, s))
    }

    /// Reports what the stream saw of its server to passive health (`observe`).
    pub(crate) fn observe(&self, ctx: &Ctx<'_>, seen: Seen) {
        if let Some(s) = self.server {
            passive::observe(ctx.shared, self.backend, s, seen);
        }
    }

    /// Retries still allowed for the current request (connection and `retry-on` retries
    /// share HAProxy's `retries` budget).
    pub(crate) fn retries_left(&self) -> u32 {
        self.retries_left
    }

    /// The request got no usable response and is retried (the caller checked
    /// `retries_left`): the retry rules as after a failed connect, without the turn-around.
    /// `None`: connect now (the server to use is assigned).
    pub(crate) fn failed_late(&mut self, ctx: &mut Ctx<'_>) -> Option<Outcome> {
        self.after_failure(ctx, Failure::Late)
    }

    /// Whether a queued stream's slot arrived, or it was sent back to load balancing (it
    /// should call `connect` again).
    pub(crate) fn granted(&self) -> bool {
        self.ticket.as_ref().is_some_and(|(t, _)| t.resolved())
    }

    /// Gives the server slot back (end of stream, or of a request in HTTP) — to the oldest
    /// queued stream if there is one — and leaves the queue if the stream was waiting.
    pub(crate) fn release(&mut self, ctx: &mut Ctx<'_>) {
        if let Some((t, _)) = self.ticket.take() {
            match t.cancel() {
                Ok(()) if t.redispatched() => {}
                Ok(()) => {
                    if let Some(st) = ctx.shared.backend(self.backend) {
                        match self.queued_on.and_then(|s| st.server(s)) {
                            Some(ss) => ss.queue.forget(),
                            None => st.queue.forget(),
                        }
                    }
                }
                // Granted meanwhile: the slot is ours to pass on.
                Err(s) => self.server = Some(s),
            }
        }
        if let Some(s) = self.server.take() {
            release_slot(ctx, self.backend, s);
        }
        if std::mem::take(&mut self.counted) {
            if let Some(st) = ctx.shared.backend(self.backend) {
                st.beconn.release();
            }
        }
    }

    /// Opens a connection to the assigned server (assigning one first), registered under
    /// `token`. Immediate failures go through the retry rules.
    pub(crate) fn connect(&mut self, ctx: &mut Ctx<'_>, token: Token) -> Outcome {
        loop {
            let srv = match self.assign(ctx, None) {
                Assign::Server(s) => s,
                Assign::Queued(deadline) => {
                    if deadline.is_some_and(|d| d <= ctx.now) {
                        return self.queue_timeout(ctx);
                    }
                    return Outcome::Queued(deadline);
                }
                Assign::None => return self.no_server(ctx),
                Assign::Full => {
                    self.release(ctx);
                    return Outcome::Failed(Termination::new(Cause::ServerAbort, Stage::Queue));
                }
            };
            match self.open(ctx, srv, token) {
                Ok(pending) => return pending,
                Err(f) => match self.after_failure(ctx, f) {
                    None => continue,
                    Some(outcome) => return outcome,
                },
            }
        }
    }

    /// `timeout queue` passed without a slot: HAProxy's `sQ` (a 503 in HTTP).
    fn queue_timeout(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        // `Tw` covers the whole wait, as HAProxy stamps `t_queue` on the timeout.
        if self.log.granted.is_none() {
            self.log.granted = Some(ctx.now);
        }
        // A slot granted at the last moment is passed on by `release`.
        self.release(ctx);
        if let Some(st) = ctx.shared.backend(self.backend) {
            st.queue_timeouts.fetch_add(1, Relaxed);
        }
        Outcome::Failed(Termination::new(Cause::ServerTimeout, Stage::Queue))
    }

    /// A pending attempt failed (seen on an event or its deadline): retry rules, then the next
    /// attempt if one is due now.
    pub(crate) fn failed(&mut self, ctx: &mut Ctx<'_>, failure: Failure, token: Token) -> Outcome {
        match self.after_failure(ctx, failure) {
            None => self.connect(ctx, token),
            Some(outcome) => outcome,
        }
    }

    fn no_server(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        if let Some(be) = ctx.shared.backend(self.backend) {
            be.no_server.fetch_add(1, Relaxed);
        }
        ctx.debug_event(format_args!("no server available"));
        Outcome::Failed(Termination::new(Cause::ServerAbort, Stage::Connect))
    }

    fn open(&mut self, ctx: &mut Ctx<'_>, srv: ServerId, token: Token) -> Result<Outcome, Failure> {
        let be = ctx
            .shared
            .model
            .backend(self.backend)
            .ok_or(Failure::Error)?;
        // `set server addr` on the runtime API: one atomic load while never used.
        let moved = ctx
            .shared
            .server(self.backend, srv)
            .and_then(|st| st.runtime_addr());
        let Some(server) = be.server(srv) else {
            // A server added at run time (a spare slot): its address is the runtime one.
            let Some((ip, port)) = moved else {
                return Err(Failure::Error);
            };
            let port = port.unwrap_or(self.local_port);
            let sock = mio::net::TcpStream::connect(SocketAddr::new(ip, port)).map(Sock::Tcp);
            return self.opened(ctx, be, sock, token, "(added)");
        };
        let sock = match &server.addr {
            ServerAddr::Inet { ip, port } => {
                let (ip, set_port) = match &moved {
                    Some((ip, p)) => (ip, *p),
                    None => (ip, None),
                };
                let port = match *port {
                    _ if set_port.is_some() => set_port.unwrap_or_default(),
                    PortRule::Fixed(p) => p,
                    PortRule::Same => self.local_port,
                    PortRule::Offset(off) => u16::try_from(i32::from(self.local_port) + off)
                        .map_err(|_| Failure::Error)?,
                };
                let tcp = mio::net::TcpStream::connect(SocketAddr::new(*ip, port));
                match &server.tls {
                    // `ssl`: TLS over the connection; the client hello leaves with the first
                    // write of the request.
                    Some(t) => tcp.and_then(|tcp| {
                        crate::tls::stream::TlsSock::client(tcp, t.config.clone(), t.name_for(*ip))
                            .map(|s| Sock::Tls(Box::new(s)))
                    }),
                    None => tcp.map(Sock::Tcp),
                }
            }
            ServerAddr::Unix(path) => mio::net::UnixStream::connect(path).map(Sock::Unix),
        };
        self.opened(ctx, be, sock, token, &server.name)
    }

    /// Registers a socket being connected, or reports why it could not be opened.
    fn opened(
        &mut self,
        ctx: &mut Ctx<'_>,
        be: &crate::model::Backend,
        sock: std::io::Result<Sock>,
        token: Token,
        name: &str,
    ) -> Result<Outcome, Failure> {
        let mut sock = match sock {
            Ok(s) => s,
            Err(e) => {
                ctx.debug_event(format_args!("connect to server {name} failed: {e}"));
                return Err(Failure::Error);
            }
        };
        if let Sock::Tcp(_) | Sock::Tls(_) = sock {
            let _ = socket::set_nodelay(&sock);
        }
        if sock.register(ctx.registry, token).is_err() {
            return Err(Failure::Error);
        }
        let deadline = be.timeouts.connect.map(|t| ctx.now + t);
        Ok(Outcome::Pending { sock, deadline })
    }

    /// HAProxy's decision after a failed attempt: `None` to try again now (the server to use
    /// is already assigned), or what to do instead.
    fn after_failure(&mut self, ctx: &mut Ctx<'_>, failure: Failure) -> Option<Outcome> {
        let Some(srv) = self.server else {
            return Some(self.no_server(ctx));
        };
        let Some(be) = ctx.shared.model.backend(self.backend) else {
            return Some(Outcome::Failed(Termination::new(
                Cause::Proxy,
                Stage::Connect,
            )));
        };
        let counters = ctx.shared.server(self.backend, srv);
        if failure != Failure::Late {
            if let Some(c) = counters {
                c.connect_errors.fetch_add(1, Relaxed);
            }
            passive::observe(ctx.shared, self.backend, srv, Seen::L4Err);
        }
        // `retry-on` without `conn-failure` (HTTP): a failed connect is not retried.
        let allowed = failure == Failure::Late || be.retry_on.has(RetryOn::CONN_FAILURE);
        if self.retries_left == 0 || !allowed {
            ctx.debug_event(format_args!(
                "giving up on server {} after {} retries",
                srv.0, be.retries
            ));
            let cause = if failure == Failure::Timeout {
                Cause::ServerTimeout
            } else {
                Cause::ServerAbort
            };
            return Some(Outcome::Failed(Termination::new(cause, Stage::Connect)));
        }
        self.retries_left -= 1;
        let done = be.retries - self.retries_left;
        let active_up = ctx.shared.backend(self.backend).map_or(0, |st| {
            be.servers
                .iter()
                .zip(st.servers.iter())
                .filter(|(s, ss)| !s.backup && ss.is_usable())
                .count()
        });
        let running = counters.is_some_and(|c| c.is_usable());
        let hashing = be.balance.is_hash();
        let redispatch = be.redispatch.is_some_and(|interval| {
            let by_interval = if interval > 0 {
                done % interval as u32 == 0
            } else {
                let period = be.retries as i64 + 1 + interval as i64;
                period > 0 && (done as i64) % period == 0
            };
            !running || by_interval || (!hashing && self.direct.is_none() && active_up > 1)
        });
        let round_robin = matches!(be.balance, Balance::RoundRobin | Balance::StaticRr);
        let wait = failure == Failure::Error && (!redispatch || !round_robin || active_up <= 1);
        if redispatch {
            self.log.redispatched = true;
            if let Some(c) = counters {
                c.redispatches.fetch_add(1, Relaxed);
            }
            self.release(ctx);
            self.direct = None;
            match self.assign(ctx, Some(srv)) {
                Assign::None => return Some(self.no_server(ctx)),
                Assign::Full => {
                    self.release(ctx);
                    return Some(Outcome::Failed(Termination::new(
                        Cause::ServerAbort,
                        Stage::Queue,
                    )));
                }
                // Queued: `connect` reports it on the next attempt.
                Assign::Server(_) | Assign::Queued(_) => {}
            }
        } else if let Some(c) = counters {
            c.retries.fetch_add(1, Relaxed);
        }
        if wait {
            let delay = be
                .timeouts
                .connect
                .map_or(TURN_AROUND, |c| c.min(TURN_AROUND))
                .max(Duration::from_millis(1));
            return Some(Outcome::Wait(ctx.now + delay));
        }
        None
    }
}

/// Gives a slot of `srv` back, handing it to the oldest queued stream of the server or the
/// backend if any (the count then stays: the slot changes hands).
pub(crate) fn release_slot(ctx: &mut Ctx<'_>, be: BackendId, srv: ServerId) {
    let Some(ss) = ctx.shared.server(be, srv) else {
        return;
    };
    ss.conns.release();
    // leastconn: the server goes after its equals (a no-op for the other algorithms).
    if let Some(bs) = ctx.shared.backend(be) {
        bs.requeue(srv.0 as usize);
    }
    // Pairs with the fence in `dispatch` callers' enqueue: either the releaser sees the new
    // waiter or the waiter's own dispatch sees the freed slot.
    std::sync::atomic::fence(SeqCst);
    dispatch(ctx, be, Some(srv));
}

/// Hands free server slots to queued streams, oldest first: of `freed` when given, else of
/// whichever usable servers have room.
pub(crate) fn dispatch(ctx: &mut Ctx<'_>, be: BackendId, freed: Option<ServerId>) {
    let (shared, reactor, now) = (ctx.shared, ctx.reactor, ctx.now);
    let runnable = &mut *ctx.runnable;
    queue::dispatch_with(shared, be, freed, now, |t| {
        if t.reactor == reactor {
            runnable.push(t.owner);
        } else {
            shared.wake_stream(t.reactor, t.owner);
        }
    });
}
