//! The event loop of one reactor thread: its own `mio::Poll`, its own listeners (one socket of
//! each `SO_REUSEPORT` group, or a dup of an inherited/unix listener), a slab of streams, a
//! timer wheel and the buffer/pipe pools. It never blocks except in `poll`, and never takes a
//! lock: shared state is read and written through the atomics of `server`.
//!
//! Admission: a connection is accepted only after a slot was reserved at the global, frontend
//! and bind level; when one is full the listener pauses (the kernel backlog holds the clients)
//! and resumes when a slot is released anywhere (the releasing reactor wakes the paused ones).
//!
//! A connection accepted on a `bind ... accept-proxy` first lives in the slab as a
//! `conn::handshake::Handshake` until its PROXY header is read; `accept::open_stream` then
//! builds its stream, exactly as it does right after accept for the other binds.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::event::Event;
use mio::{Events, Interest, Poll, Registry, Waker};
use slab::Slab;

use crate::balance::Balancer;
use crate::buffer::BufferPool;
#[cfg(target_os = "linux")]
use crate::buffer::PipePool;
use crate::check::{CheckCtx, Checks};
use crate::conn::Ctx;
use crate::conn::handshake::Handshake;
use crate::conn::http::HttpConn;
use crate::conn::idle::{self, IdlePool};
use crate::conn::pump::{Pools, Via};
use crate::conn::tcp::Tunnel;
use crate::log::sink::LogBuf;
use crate::server::notes::HealthNote;
use crate::term::{Cause, Side, Stage, Step, Termination};

use crate::model::{BackendId, Balance, FrontendId, ServerId};
use crate::server::SharedState;
use crate::timer::{Owner, OwnerKind, TimerWheel};
use crate::token::{self, Target};

mod accept;

/// Commands from the supervisor.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    /// Close listeners, let streams finish, exit when none is left.
    SoftStop,
    /// Close everything now and exit.
    HardStop,
    /// A runtime-API question about this reactor's streams, answered within the loop turn.
    Api(Query),
}

/// A question for one reactor from the runtime API.
#[derive(Clone, Debug)]
pub(crate) enum Query {
    /// `show sess`: the reactor sends what it knows of its streams (the API formats it).
    Sessions(Sender<Vec<StreamInfo>>),
    /// `shutdown session ID`: the reactor closes the stream if it has it and says so.
    Kill(u64, Sender<bool>),
}

/// What a reactor tells about one stream for `show sess`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamInfo {
    pub(crate) id: u64,
    pub(crate) frontend: FrontendId,
    pub(crate) held: Option<(BackendId, ServerId)>,
    pub(crate) age: Duration,
    pub(crate) peer: Option<std::net::SocketAddr>,
    pub(crate) reactor: usize,
}

/// How long accepting pauses after EMFILE/ENFILE/ENOMEM before trying again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Resource-shortage alerts are repeated at most this often.
const ALERT_EVERY: Duration = Duration::from_secs(10);

/// How often a reactor publishes its latency histograms for the stats.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// A listening socket of this reactor.
#[derive(Debug)]
pub(crate) enum ListenSock {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

/// One listener owned by this reactor.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) sock: ListenSock,
    pub(crate) frontend: FrontendId,
    /// Index of the `Bind` inside its frontend.
    pub(crate) bind: usize,
    /// Port the listener is bound to (for servers without a fixed port).
    pub(crate) port: u16,
    /// The address bound, when it is a specific one (a wildcard needs getsockname per stream).
    pub(crate) addr: Option<SocketAddr>,
    /// May have connections waiting (edge-triggered: we stopped before WouldBlock).
    ready: bool,
    /// Stopped on a full `maxconn` until a slot is released.
    paused: bool,
    /// Stopped after a resource error until this instant.
    blocked_until: Option<Instant>,
    registered: bool,
}

impl Listener {
    pub(crate) fn new(sock: ListenSock, frontend: FrontendId, bind: usize, port: u16) -> Listener {
        Listener {
            sock,
            frontend,
            bind,
            port,
            addr: None,
            ready: true,
            paused: false,
            blocked_until: None,
            registered: false,
        }
    }
}

/// Per-stream settings resolved once from the model.
#[derive(Clone, Copy, Debug)]
struct Route {
    backend: BackendId,
    via_request: Via,
    via_response: Via,
    retries: u32,
    hash_source: bool,
    /// Some server of the backend takes a PROXY header: the stream needs its destination
    /// address even on a wildcard listener.
    send_proxy: bool,
}

/// A connection in the slab, with the slots it holds at the global/frontend/bind level.
#[derive(Debug)]
struct Slot {
    generation: u32,
    frontend: FrontendId,
    bind: usize,
    id: u64,
    conn: Conn,
}

/// The protocols a stream can speak.
#[derive(Debug)]
// TCP tunnels are stored by value on purpose (the common case, no allocation per stream).
#[allow(clippy::large_enum_variant)]
enum Conn {
    /// Waiting for the PROXY header (`bind ... accept-proxy`); becomes `Tcp` or `Http`.
    Handshake(Handshake),
    Tcp(Tunnel),
    /// Boxed: an HTTP connection carries parsed heads and is several times larger than a TCP
    /// tunnel; boxing keeps every slab slot (and so each idle TCP stream) small, at one
    /// allocation per HTTP connection (not per request).
    Http(Box<HttpConn>),
}

/// Reactor options from the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReactorOptions {
    pub debug: bool,
    /// `-dS` / `nosplice`.
    pub nosplice: bool,
    /// TEST ONLY: the reactor with this index panics on its first loop turn, so tests can see
    /// what the process does when a reactor dies. Set by `main.rs` from the environment
    /// variable `RAVELIN_TEST_PANIC_REACTOR` (read once at start-up); no configuration
    /// keyword, command-line flag or traffic reaches it.
    pub test_panic_reactor: Option<usize>,
}

/// The environment variable that sets `ReactorOptions::test_panic_reactor` (tests only).
pub const TEST_PANIC_REACTOR_ENV: &str = "RAVELIN_TEST_PANIC_REACTOR";

impl Core {
    /// The context a connection runs with (everything of the reactor but the slab).
    fn ctx<'a>(
        &'a mut self,
        registry: &'a Registry,
        shared: &'a SharedState,
        now: Instant,
        owner: Owner,
        debug: bool,
        stream_id: u64,
    ) -> Ctx<'a> {
        Ctx {
            registry,
            timers: &mut self.timers,
            pools: &mut self.pools,
            shared,
            balancers: &mut self.balancers,
            now,
            owner,
            starved: &mut self.starved,
            runnable: &mut self.runnable,
            idle: &mut self.idle,
            reactor: self.reactor,
            debug,
            stream_id,
            log: &mut self.log,
            latency: &mut self.latency,
            handshake_buf: &mut self.handshake_buf,
        }
    }
}

/// The parts of the reactor a connection may borrow while the slab is borrowed too.
struct Core {
    reactor: usize,
    timers: TimerWheel,
    pools: Pools,
    balancers: Vec<Balancer>,
    starved: VecDeque<Owner>,
    runnable: Vec<Owner>,
    idle: IdlePool,
    log: LogBuf,
    /// Latency histograms of the streams this reactor ended (published once a second).
    latency: crate::server::latency::LatencyRecorder,
    /// Scratch for peeking at PROXY headers (allocated once).
    handshake_buf: Box<[u8]>,
}

pub(crate) struct Reactor {
    id: usize,
    poll: Poll,
    shared: Arc<SharedState>,
    wakers: Arc<[Waker]>,
    commands: Receiver<Command>,
    listeners: Vec<Listener>,
    routes: Vec<Option<Route>>,
    conns: Slab<Slot>,
    core: Core,
    next_gen: u32,
    next_id: u64,
    maxaccept: u32,
    opts: ReactorOptions,
    soft_stopping: bool,
    /// When a resource shortage on accept was last reported.
    resource_alerted: Option<Instant>,
    /// The health checks this reactor owns.
    checks: Checks,
}

impl Reactor {
    /// Builds a reactor around a `Poll` whose waker is `wakers[id]`.
    pub(crate) fn new(
        id: usize,
        poll: Poll,
        shared: Arc<SharedState>,
        wakers: Arc<[Waker]>,
        commands: Receiver<Command>,
        listeners: Vec<Listener>,
        opts: ReactorOptions,
    ) -> Reactor {
        let model = &shared.model;
        let reactors = shared.streams.len().max(1);
        let maxconn = shared.global.limit().max(1) as usize;
        let per_reactor = maxconn.div_ceil(reactors);
        let nosplice = opts.nosplice || model.global.nosplice || !cfg!(target_os = "linux");
        let routes = model
            .frontends
            .iter()
            .map(|fe| {
                let be_id = fe.backend()?;
                let be = model.backend(be_id)?;
                // Per direction: `no option splice-X` (either side), `nosplice` or `-dS` → copy;
                // `option splice-X` → always splice; otherwise auto-splice (Ravelin's default,
                // HAProxy's `splice-auto`), unless `no option splice-auto` says copy.
                let policy = |fe_dir: Option<bool>, be_dir: Option<bool>| {
                    if nosplice || fe_dir == Some(false) || be_dir == Some(false) {
                        Via::Copy
                    } else if fe_dir == Some(true) || be_dir == Some(true) {
                        Via::Splice
                    } else if fe.splice.auto == Some(false) || be.splice.auto == Some(false) {
                        Via::Copy
                    } else {
                        Via::Auto
                    }
                };
                Some(Route {
                    backend: be_id,
                    via_request: policy(fe.splice.request, be.splice.request),
                    via_response: policy(fe.splice.response, be.splice.response),
                    retries: be.retries,
                    hash_source: be.balance == Balance::Source,
                    send_proxy: be.servers.iter().any(|s| s.send_proxy.is_some()),
                })
            })
            .collect();
        let now = Instant::now();
        let mut checks = Checks::new(id, reactors, model);
        checks.attach_runner(id, &shared);
        let core = Core {
            timers: TimerWheel::new(now),
            pools: Pools {
                // Buffers are only held while bytes are in flight. The cap counts every
                // connection of the global `maxconn`, not this reactor's share: `SO_REUSEPORT`
                // spreads clients unevenly, and a reactor hosting more than its share whose
                // streams each hold a request buffer would otherwise starve them all of the
                // buffer their server's response needs (a deadlock until `timeout server`).
                // Up to four per connection: request, response and both directions' output.
                bufs: BufferPool::new(
                    model.global.bufsize as usize,
                    maxconn.saturating_mul(4).max(64),
                ),
                // HAProxy's default `maxpipes` is maxconn/4.
                #[cfg(target_os = "linux")]
                pipes: PipePool::new(model.global.pipesize, (per_reactor / 4).max(16)),
            },
            balancers: model.backends.iter().map(Balancer::new).collect(),
            starved: VecDeque::new(),
            runnable: Vec::new(),
            idle: IdlePool::new(model),
            reactor: id,
            log: LogBuf::disabled(shared.logs.clone()),
            latency: crate::server::latency::LatencyRecorder::new(model),
            handshake_buf: vec![0; (model.global.bufsize as usize).max(crate::proxyproto::V1_MAX)]
                .into_boxed_slice(),
        };
        Reactor {
            id,
            poll,
            maxaccept: model.global.maxaccept,
            shared,
            wakers,
            commands,
            listeners,
            routes,
            conns: Slab::new(),
            core,
            next_gen: 1,
            next_id: (id as u64) << 40,
            opts,
            soft_stopping: false,
            resource_alerted: None,
            checks,
        }
    }

    /// Gives the reactor its line buffer (when some proxy logs).
    pub(crate) fn with_log(mut self, log: LogBuf) -> Reactor {
        self.core.log = log;
        self
    }

    /// Runs until stopped. Returns when the reactor has no stream left after a soft stop, or
    /// right away after a hard stop.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let r = self.run_loop();
        self.core.log.flush();
        r
    }

    fn run_loop(&mut self) -> io::Result<()> {
        for (i, l) in self.listeners.iter_mut().enumerate() {
            let r = match &mut l.sock {
                ListenSock::Tcp(s) => {
                    self.poll
                        .registry()
                        .register(s, token::listener(i), Interest::READABLE)
                }
                ListenSock::Unix(s) => {
                    self.poll
                        .registry()
                        .register(s, token::listener(i), Interest::READABLE)
                }
            };
            r?;
            l.registered = true;
        }
        self.with_checks(Instant::now(), |checks, ctx| checks.start(ctx));
        self.core
            .timers
            .arm(Instant::now() + PUBLISH_EVERY, Owner::PUBLISH_LATENCY);
        if self.opts.test_panic_reactor == Some(self.id) {
            // Test-only trigger (see `ReactorOptions::test_panic_reactor`).
            #[allow(clippy::panic)]
            {
                panic!(
                    "{TEST_PANIC_REACTOR_ENV}: reactor {} panics on purpose (test only)",
                    self.id
                );
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut due = Vec::new();
        let mut turn = Vec::new();
        loop {
            let now = Instant::now();
            self.expire_timers(now, &mut due);
            self.accept_ready(now);
            self.feed_starved(now);
            self.run_runnable(now, &mut turn);
            self.publish_streams();
            self.core.log.flush_if_due(now);
            if self.soft_stopping && self.conns.is_empty() {
                return Ok(());
            }
            let timeout = if !self.core.runnable.is_empty()
                || self
                    .listeners
                    .iter()
                    .any(|l| l.ready && !l.paused && l.blocked_until.is_none())
            {
                Some(Duration::ZERO)
            } else {
                let timers = self.core.timers.next_timeout(now);
                // Wake up to hand waiting log lines over.
                match self.core.log.due() {
                    Some(d) => {
                        let left = d.saturating_duration_since(now);
                        Some(timers.map_or(left, |t| t.min(left)))
                    }
                    None => timers,
                }
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for ev in events.iter() {
                match token::decode(ev.token()) {
                    Target::Waker => {
                        if self.on_commands(now) {
                            return Ok(());
                        }
                        // Results of external checks come with a wake-up too.
                        self.with_checks(now, |checks, ctx| checks.on_wake(ctx));
                    }
                    Target::Listener(i) => {
                        if let Some(l) = self.listeners.get_mut(i) {
                            l.ready = true;
                        }
                    }
                    Target::Conn {
                        key,
                        generation,
                        side,
                    } => {
                        // An event for an earlier stream of this slot is dropped.
                        if self
                            .conns
                            .get(key)
                            .is_some_and(|s| token::same_generation(s.generation, generation))
                        {
                            self.on_conn_event(key, side, ev, now);
                        }
                    }
                    Target::ServerConn { key, generation } => {
                        let route =
                            self.core
                                .idle
                                .on_event(self.poll.registry(), key, generation, ev);
                        if let idle::Route::Stream(stream) = route {
                            self.on_conn_event(stream, Side::Server, ev, now);
                        }
                    }
                    Target::Check(i) => {
                        self.with_checks(now, |checks, ctx| checks.on_event(i, ev, ctx))
                    }
                }
            }
        }
    }

    /// Runs `f` on the health checks with what they may use of the reactor.
    fn with_checks(&mut self, now: Instant, f: impl FnOnce(&mut Checks, &mut CheckCtx<'_>)) {
        let mut ctx = CheckCtx {
            registry: self.poll.registry(),
            timers: &mut self.core.timers,
            shared: &self.shared,
            now,
        };
        f(&mut self.checks, &mut ctx);
    }

    fn publish_streams(&self) {
        if let Some(s) = self.shared.streams.get(self.id) {
            s.store(self.conns.len(), Relaxed);
        }
    }

    /// Handles supervisor commands; true when the reactor must exit now.
    fn on_commands(&mut self, now: Instant) -> bool {
        while let Ok(cmd) = self.commands.try_recv() {
            match cmd {
                Command::SoftStop => self.soft_stop(now),
                Command::HardStop => {
                    self.close_all(now);
                    self.checks.close_all(self.poll.registry());
                    return true;
                }
                Command::Api(q) => self.api_query(q, now),
            }
        }
        // Queued streams another reactor granted a server slot to.
        self.core.runnable.extend(self.shared.woken(self.id));
        while let Some(note) = self.shared.next_note(self.id) {
            match note {
                HealthNote::Errors {
                    backend,
                    server,
                    last,
                    count,
                } => self.with_checks(now, |checks, ctx| {
                    checks.on_errors(backend, server, last, count, ctx)
                }),
                HealthNote::Shutdown {
                    backend,
                    server,
                    cause,
                } => self.shutdown_streams(backend, server, cause, now),
                HealthNote::Runtime {
                    backend,
                    server,
                    op,
                } => self.with_checks(now, |checks, ctx| checks.runtime(backend, server, op, ctx)),
            }
        }
        // A wake-up without a command: a slot was released, paused listeners may resume.
        for l in &mut self.listeners {
            if l.paused {
                l.paused = false;
                l.ready = true;
            }
        }
        false
    }

    /// Closes the streams holding a slot of `server` of `backend` (or of any of its backup
    /// servers when `None`): HAProxy's `srv_shutdown_streams()` /
    /// `srv_shutdown_backup_streams()`.
    fn shutdown_streams(
        &mut self,
        backend: BackendId,
        server: Option<ServerId>,
        cause: Cause,
        now: Instant,
    ) {
        let backups: Vec<bool> = self
            .shared
            .model
            .backend(backend)
            .map(|b| b.servers.iter().map(|s| s.backup).collect())
            .unwrap_or_default();
        let hit = |held: Option<(BackendId, ServerId)>| match (held, server) {
            (Some((b, s)), Some(want)) => b == backend && s == want,
            (Some((b, s)), None) => b == backend && backups.get(s.0 as usize) == Some(&true),
            (None, _) => false,
        };
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, slot)| {
                hit(match &slot.conn {
                    Conn::Handshake(_) => None,
                    Conn::Tcp(t) => t.held_server(),
                    Conn::Http(h) => h.held_server(),
                })
            })
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.close(key, Termination::new(cause, Stage::Data), now);
        }
        self.publish_streams();
    }

    /// `show sess` (each stream's line) and `shutdown session ID` from the runtime API.
    fn api_query(&mut self, q: Query, now: Instant) {
        match q {
            Query::Sessions(tx) => {
                let mut out = Vec::with_capacity(self.conns.len());
                for (_, slot) in self.conns.iter() {
                    let (held, accepted, peer) = match &slot.conn {
                        // Not a stream yet (HAProxy lists no embryonic session either).
                        Conn::Handshake(_) => continue,
                        Conn::Tcp(t) => (t.held_server(), t.accepted, t.client_peer()),
                        Conn::Http(h) => (h.held_server(), h.accepted, h.client_peer()),
                    };
                    out.push(StreamInfo {
                        id: slot.id,
                        frontend: slot.frontend,
                        held,
                        age: now.saturating_duration_since(accepted),
                        peer,
                        reactor: self.id,
                    });
                }
                let _ = tx.send(out);
            }
            Query::Kill(id, tx) => {
                let key = self.conns.iter().find(|(_, s)| s.id == id).map(|(k, _)| k);
                if let Some(k) = key {
                    self.close(k, Termination::new(Cause::Killed, Stage::Data), now);
                    self.publish_streams();
                }
                let _ = tx.send(key.is_some());
            }
        }
    }

    fn soft_stop(&mut self, now: Instant) {
        self.soft_stopping = true;
        // Every HTTP connection looks once more for a request: idle keep-alive ones with
        // none close now, the others close after their response.
        let http: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, s)| matches!(s.conn, Conn::Http(_)))
            .map(|(key, _)| key)
            .collect();
        for key in http {
            self.run_conn(key, now, |conn, ctx| match conn {
                Conn::Handshake(_) => Step::Continue,
                Conn::Tcp(t) => t.resume(ctx),
                Conn::Http(h) => h.on_soft_stop(ctx),
            });
        }
        self.core.idle.clear(self.poll.registry());
        for mut l in self.listeners.drain(..) {
            if l.registered {
                let _ = match &mut l.sock {
                    ListenSock::Tcp(s) => self.poll.registry().deregister(s),
                    ListenSock::Unix(s) => self.poll.registry().deregister(s),
                };
            }
        }
        self.shared
            .paused
            .fetch_and(!(1u64 << (self.id % 64)), SeqCst);
    }

    fn close_all(&mut self, now: Instant) {
        self.core.idle.clear(self.poll.registry());
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.close(key, Termination::new(Cause::Killed, Stage::Data), now);
        }
        self.publish_streams();
    }

    fn expire_timers(&mut self, now: Instant, due: &mut Vec<Owner>) {
        due.clear();
        self.core.timers.expire(now, due);
        for owner in due.drain(..) {
            match owner.kind {
                OwnerKind::Stream => self.stream_timer(owner, now),
                OwnerKind::IdleConn => {
                    let again = self.core.idle.purge(
                        self.poll.registry(),
                        owner.key,
                        owner.generation,
                        now,
                    );
                    if let Some(at) = again {
                        self.core.timers.arm(at, owner);
                    }
                }
                OwnerKind::Check => {
                    self.with_checks(now, |checks, ctx| checks.on_timer(owner, ctx));
                }
                OwnerKind::ResumeListeners => {
                    for l in &mut self.listeners {
                        if l.blocked_until.is_some_and(|t| t <= now) {
                            l.blocked_until = None;
                            l.ready = true;
                        }
                    }
                }
                OwnerKind::PublishLatency => {
                    self.core.latency.publish(&self.shared.latency, self.id);
                    self.core.timers.arm(now + PUBLISH_EVERY, owner);
                }
            }
        }
    }

    /// A stream's timer fired: runs it if it is still the stream that armed it.
    fn stream_timer(&mut self, owner: Owner, now: Instant) {
        let Some(slot) = self
            .conns
            .get(owner.key)
            .filter(|s| s.generation == owner.generation)
        else {
            return;
        };
        if let Conn::Handshake(_) = slot.conn {
            self.run_handshake(owner.key, now, |h, ctx| h.on_timer(ctx));
            return;
        }
        self.run_conn(owner.key, now, |conn, ctx| match conn {
            Conn::Handshake(_) => Step::Continue,
            Conn::Tcp(t) => t.on_timer(ctx),
            Conn::Http(h) => h.on_timer(ctx),
        });
    }

    /// Runs the connections that yielded on their budget in the previous turn.
    fn run_runnable(&mut self, now: Instant, turn: &mut Vec<Owner>) {
        std::mem::swap(turn, &mut self.core.runnable);
        for owner in turn.drain(..) {
            if self
                .conns
                .get(owner.key)
                .is_some_and(|s| s.generation == owner.generation)
            {
                self.run_conn(owner.key, now, |conn, ctx| match conn {
                    Conn::Handshake(_) => Step::Continue,
                    Conn::Tcp(t) => t.resume(ctx),
                    Conn::Http(h) => h.resume(ctx),
                });
            }
        }
    }

    fn feed_starved(&mut self, now: Instant) {
        let mut budget = self.core.starved.len();
        while budget > 0 && self.core.pools.bufs.has_room() {
            budget -= 1;
            let Some(owner) = self.core.starved.pop_front() else {
                break;
            };
            if self
                .conns
                .get(owner.key)
                .is_some_and(|s| s.generation == owner.generation)
            {
                self.run_conn(owner.key, now, |conn, ctx| match conn {
                    Conn::Handshake(_) => Step::Continue,
                    Conn::Tcp(t) => t.resume(ctx),
                    Conn::Http(h) => h.resume(ctx),
                });
            }
        }
    }

    fn on_conn_event(&mut self, key: usize, side: Side, ev: &Event, now: Instant) {
        let Some(slot) = self.conns.get(key) else {
            return;
        };
        if let Conn::Handshake(_) = slot.conn {
            self.run_handshake(key, now, |h, ctx| h.on_event(ev, ctx));
            return;
        }
        self.run_conn(key, now, |conn, ctx| match conn {
            Conn::Handshake(_) => Step::Continue,
            Conn::Tcp(t) => t.on_event(side, ev, ctx),
            Conn::Http(h) => h.on_event(side, ev, ctx),
        });
    }

    /// Runs `f` on the connection at `key` with a context; closes it if it asks to.
    fn run_conn(
        &mut self,
        key: usize,
        now: Instant,
        f: impl FnOnce(&mut Conn, &mut Ctx<'_>) -> Step,
    ) {
        let Some(slot) = self.conns.get_mut(key) else {
            return;
        };
        let owner = Owner::stream(key, slot.generation);
        let mut ctx = self.core.ctx(
            self.poll.registry(),
            &self.shared,
            now,
            owner,
            self.opts.debug,
            slot.id,
        );
        if let Step::Close(t) = f(&mut slot.conn, &mut ctx) {
            self.close(key, t, now);
        }
    }

    /// The single removal point: teardown of the connection, then release of its admission
    /// slots, waking reactors paused on a limit that is no longer full.
    fn close(&mut self, key: usize, term: Termination, now: Instant) {
        if !self.conns.contains(key) {
            return;
        }
        let slot = self.conns.remove(key);
        let owner = Owner::stream(key, slot.generation);
        let mut ctx = self.core.ctx(
            self.poll.registry(),
            &self.shared,
            now,
            owner,
            self.opts.debug,
            slot.id,
        );
        match slot.conn {
            Conn::Handshake(h) => {
                if ctx.debug {
                    let code = term.code();
                    ctx.debug_event(format_args!(
                        "closed {}{} after {}ms, waiting for the PROXY header",
                        code[0] as char,
                        code[1] as char,
                        now.saturating_duration_since(h.arrival.accepted)
                            .as_millis()
                    ));
                }
                h.teardown(&mut ctx);
            }
            Conn::Tcp(t) => {
                if ctx.debug {
                    let (up, down) = t.bytes();
                    let code = term.code();
                    ctx.debug_event(format_args!(
                        "closed {}{} after {}ms, {up} bytes in, {down} bytes out",
                        code[0] as char,
                        code[1] as char,
                        now.saturating_duration_since(t.accepted).as_millis()
                    ));
                }
                t.teardown(&mut ctx, term);
            }
            Conn::Http(h) => {
                if ctx.debug {
                    let code = term.code();
                    ctx.debug_event(format_args!(
                        "closed {}{} after {}ms, {} requests",
                        code[0] as char,
                        code[1] as char,
                        now.saturating_duration_since(h.accepted).as_millis(),
                        h.requests()
                    ));
                }
                h.teardown(&mut ctx, term);
            }
        }
        let sh = &self.shared;
        let mut was_full = sh.global.release();
        if let Some(fe) = sh.frontend(slot.frontend) {
            was_full |= fe.conns.release();
            if let Some(b) = fe.binds.get(slot.bind) {
                was_full |= b.release();
            }
        }
        if was_full {
            self.wake_paused();
        }
    }

    fn wake_paused(&self) {
        std::sync::atomic::fence(SeqCst);
        let mut paused = self.shared.paused.load(SeqCst);
        while paused != 0 {
            let i = paused.trailing_zeros() as usize;
            paused &= paused - 1;
            if i == self.id {
                continue; // our own loop re-checks paused listeners below
            }
            if let Some(w) = self.wakers.get(i) {
                let _ = w.wake();
            }
        }
        // Our own listeners: resume them on the next loop turn.
        if self.shared.paused.load(SeqCst) & (1 << (self.id % 64)) != 0 {
            if let Some(w) = self.wakers.get(self.id) {
                let _ = w.wake();
            }
        }
    }
}
