//! Active health checks and agents, run by the reactors: each server with `check` or
//! `agent-check` has one task, owned by one reactor (the k-th such server of the model belongs
//! to reactor `k % nbthread`) and driven by that reactor's `TimerWheel` and `mio::Poll` — no
//! thread per check. A task holds up to two probes, the check and the agent, each with its
//! own interval, socket and timer: a small state machine `Idle` (waiting for its next run) →
//! `Connecting` → `Sending` → `Reading` → `Idle` (a `tcp-check` sequence loops through its
//! rules, reconnecting at each `connect`), or `Process` while an external check's command
//! runs on the reactor's helper thread (`external`).
//!
//! Timing follows HAProxy 2.6 (`start_checks()`, `process_chk_conn()`): the first runs are
//! spread over the smallest interval (`health::first_delays`), the next run is scheduled
//! `srv_getinter()` after the previous one ended (`inter`, `fastinter` while the health is
//! changing, `downinter` while down; `agent-inter` for the agent), with `spread-checks`
//! jitter. Timeouts follow the manual's `timeout check`: without it, the interval bounds the
//! whole run; with it, a connect is bounded by `min(timeout connect, interval)` and the rest
//! by `timeout check` from the moment the connection is established.
//!
//! Results go through `health::Monitor` (HAProxy's check/agent precedence) and
//! `transition::apply` (the server's atomics and HAProxy's `[WARNING]` lines). What a probe
//! concluded is decided on plain values in `http`, `tcp` and `agent`.

pub mod agent;
pub mod external;
pub mod health;
pub mod http;
pub mod passive;
pub mod report;
pub mod runtime;
pub mod tcp;
pub mod transition;

use std::fmt::Write as _;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mio::Registry;
use mio::event::Event;

use self::health::{Monitor, SrvState};
use self::http::{Eval, Info};
use crate::net::Sock;
use crate::server::notes::owner_of;
use crate::status::{Probe, Status, Verdict};

use crate::model::{BackendId, Model, PortRule, ServerAddr, ServerId, TcpAction};
use crate::server::{Admin, SharedState, WEIGHT_SCALE};
use crate::timer::{Owner, TimerWheel};
use crate::token;

/// What the check machinery of a reactor may use while it runs.
pub(crate) struct CheckCtx<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) timers: &'a mut TimerWheel,
    pub(crate) shared: &'a SharedState,
    pub(crate) now: Instant,
}

/// Where a probe connects.
#[derive(Debug, Clone)]
enum Target {
    Inet(SocketAddr),
    Unix(PathBuf),
}

/// What a probe does once connected.
#[derive(Debug)]
enum Kind {
    /// A plain TCP connect.
    Connect,
    Http,
    /// `option tcp-check`: the backend's rules.
    Tcp,
    Agent,
    External(Arc<external::Spec>),
}

/// One run's progress. Sockets exist only while a run is in flight.
#[derive(Debug)]
enum Phase {
    Idle,
    Connecting(Sock),
    Sending(Sock),
    Reading(Sock),
    /// An external check's command runs on the helper thread.
    Process,
}

/// Where the `info:` text of a result comes from (no copy of the response).
#[derive(Clone, Debug)]
enum InfoSrc {
    None,
    /// A range of the probe's input buffer (an HTTP reason phrase).
    Input(std::ops::Range<usize>),
    Text(&'static str),
    /// The probe's `err` text (a connect error, a tcp-check or agent message).
    Err,
}

/// One probe of a server: its check or its agent.
#[derive(Debug)]
struct Run {
    kind: Kind,
    target: Target,
    phase: Phase,
    /// Bumped at every timer armed: only the latest timer of a probe counts.
    generation: u32,
    started: Instant,
    /// Request bytes, reused from run to run.
    out: Vec<u8>,
    sent: usize,
    /// Response bytes, up to `tune.bufsize`, reused.
    input: Vec<u8>,
    /// The server closed its side (or the buffer is full): no more bytes will come.
    closed: bool,
    /// The text of the last error or message (`Connection refused`), reused.
    err: String,
    /// `tcp-check`: the rule being run.
    step: usize,
    /// The last status, for `option log-health-checks`.
    status: Status,
    /// When the next run is armed (while idle).
    next_at: Option<Instant>,
}

impl Run {
    fn new(kind: Kind, target: Target) -> Run {
        Run {
            kind,
            target,
            phase: Phase::Idle,
            generation: 0,
            started: Instant::now(),
            out: Vec::new(),
            sent: 0,
            input: Vec::new(),
            closed: false,
            err: String::new(),
            step: 0,
            status: Status::Ini,
            next_at: None,
        }
    }
}

#[derive(Debug)]
struct Task {
    backend: BackendId,
    server: ServerId,
    monitor: Monitor,
    /// The check (index 0) and the agent (index 1).
    runs: [Option<Run>; 2],
    /// Passive health asked for `fastinter` until the check's next run ends (HAProxy's
    /// `CHK_ST_FASTINTER`).
    fast: bool,
    /// The server's runtime address generation the targets follow (`runtime.rs`).
    addr_gen: u32,
}

fn probe_of(slot: usize) -> Probe {
    if slot % 2 == 0 {
        Probe::Check
    } else {
        Probe::Agent
    }
}

/// The check tasks of one reactor. A probe is addressed by its slot `task × 2 + probe`
/// (socket token, timer key).
#[derive(Debug)]
pub(crate) struct Checks {
    tasks: Vec<Task>,
    /// xorshift state for `spread-checks`.
    rng: u64,
    bufsize: usize,
    /// HAProxy's `node` for `send-state`: the host name.
    node: String,
    /// Reused for log lines and the `send-state` header.
    line: String,
    /// Reused for `rbinary` matches.
    hex: Vec<u8>,
    /// First delay of each slot.
    first: Vec<(usize, Duration)>,
    /// The helper thread of external checks, when this reactor has any.
    runner: Option<external::Runner>,
}

impl Checks {
    /// The checks reactor `reactor` of `reactors` owns.
    pub(crate) fn new(reactor: usize, reactors: usize, model: &Model) -> Checks {
        let first = health::first_delays(model);
        let mut tasks = Vec::new();
        let mut delays = Vec::new();
        let mut probe_no = 0usize;
        for (bi, be) in model.backends.iter().enumerate() {
            for (si, s) in be.servers.iter().enumerate() {
                let Some(owner) = owner_of(model, reactors, bi, si) else {
                    continue;
                };
                let mine = owner == reactor;
                let check_delay = s.check.enabled.then(|| {
                    probe_no += 1;
                    first.get(probe_no - 1).copied().unwrap_or_default()
                });
                let agent_delay = s.check.agent.then(|| {
                    probe_no += 1;
                    first.get(probe_no - 1).copied().unwrap_or_default()
                });
                if !mine {
                    continue;
                }
                let hc = &be.health_check;
                let check = s.check.enabled.then(|| {
                    let kind = if let Some(ext) = &hc.external {
                        Kind::External(Arc::new(external::Spec::new(be, s, ext)))
                    } else if hc.tcp.is_some() {
                        Kind::Tcp
                    } else if hc.http.is_some() {
                        Kind::Http
                    } else {
                        Kind::Connect
                    };
                    let target = match (&kind, target_of(s)) {
                        (_, Some(t)) => Some(t),
                        // An external check needs no address of its own.
                        (Kind::External(_), None) => Some(Target::Unix(PathBuf::new())),
                        (_, None) => None,
                    };
                    target.map(|t| Run::new(kind, t))
                });
                let agent = s
                    .check
                    .agent
                    .then(|| agent_target(s).map(|t| Run::new(Kind::Agent, t)));
                let runs = [check.flatten(), agent.flatten()];
                if runs.iter().all(Option::is_none) {
                    continue;
                }
                let i = tasks.len();
                for (p, d) in [check_delay, agent_delay].into_iter().enumerate() {
                    if let (Some(d), Some(_)) = (d, runs.get(p).and_then(Option::as_ref)) {
                        delays.push((i * 2 + p, d));
                    }
                }
                tasks.push(Task {
                    backend: BackendId::from_index(bi),
                    server: ServerId::from_index(si),
                    monitor: Monitor::new(&s.check),
                    runs,
                    fast: false,
                    addr_gen: 0,
                });
            }
        }
        let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Checks {
            tasks,
            rng: 0x9e37_79b9_7f4a_7c15 ^ (reactor as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d),
            bufsize: model.global.bufsize as usize,
            node,
            line: String::new(),
            hex: Vec::new(),
            first: delays,
            runner: None,
        }
    }

    /// Starts the helper thread when this reactor owns external checks.
    pub(crate) fn attach_runner(&mut self, reactor: usize, shared: &Arc<SharedState>) {
        let needed = self.tasks.iter().any(|t| {
            t.runs
                .iter()
                .flatten()
                .any(|r| matches!(r.kind, Kind::External(_)))
        });
        if needed && self.runner.is_none() {
            match external::Runner::start(reactor, shared.clone()) {
                Ok(r) => self.runner = Some(r),
                Err(e) => eprintln!(
                    "[ALERT]    ({}) : cannot start the external check helper thread: {e}",
                    std::process::id()
                ),
            }
        }
    }

    fn run(&self, slot: usize) -> Option<&Run> {
        self.tasks.get(slot / 2)?.runs.get(slot % 2)?.as_ref()
    }

    fn run_mut(&mut self, slot: usize) -> Option<&mut Run> {
        self.tasks
            .get_mut(slot / 2)?
            .runs
            .get_mut(slot % 2)?
            .as_mut()
    }

    /// Arms every probe's first run and publishes the starting health.
    pub(crate) fn start(&mut self, ctx: &mut CheckCtx<'_>) {
        // A server-state file applied at start-up (`reload::state`) replaces the configured
        // start: the check goes on from the health and state the old process had.
        for t in &mut self.tasks {
            let Some(st) = ctx.shared.server(t.backend, t.server) else {
                continue;
            };
            if !st.check.restored.load(Relaxed) {
                continue;
            }
            if let Some(h) = t.monitor.check.as_mut() {
                h.health = st.check.health.load(Relaxed).min(h.top());
            }
            t.monitor.state = if !st.is_up() {
                SrvState::Stopped
            } else if st.is_nolb() {
                SrvState::Stopping
            } else {
                SrvState::Running
            };
        }
        for t in &self.tasks {
            if let (Some(st), Some(h)) = (ctx.shared.server(t.backend, t.server), t.monitor.check) {
                st.check.health.store(h.health, Relaxed);
            }
        }
        for k in 0..self.first.len() {
            if let Some(&(slot, delay)) = self.first.get(k) {
                self.arm(slot, ctx.now + delay, ctx.timers);
            }
        }
    }

    fn arm(&mut self, slot: usize, at: Instant, timers: &mut TimerWheel) {
        if let Some(r) = self.run_mut(slot) {
            r.generation = r.generation.wrapping_add(1);
            r.next_at = matches!(r.phase, Phase::Idle).then_some(at);
            timers.arm(at, Owner::check(slot, r.generation));
        }
    }

    /// A timer of probe `owner.key` fired (an `OwnerKind::Check` owner).
    pub(crate) fn on_timer(&mut self, owner: Owner, ctx: &mut CheckCtx<'_>) {
        let slot = owner.key;
        let Some(r) = self.run(slot) else { return };
        if r.generation != owner.generation {
            return; // superseded
        }
        match (&r.phase, &r.kind) {
            (Phase::Idle, _) if self.probe_disabled(slot, ctx) => {
                // `disable health|agent`: no run, looked at again after an interval.
                let inter = self.interval_of(slot, ctx.shared);
                self.arm(slot, ctx.now + inter, ctx.timers);
            }
            (Phase::Idle, _) => {
                self.follow_addr(slot, ctx);
                self.begin(slot, ctx)
            }
            (Phase::Process, _) => {} // the helper enforces the deadline
            (Phase::Connecting(_), Kind::Tcp) => {
                self.tcp_error(slot, Status::L4Tout, None, ctx);
            }
            (Phase::Sending(_) | Phase::Reading(_), Kind::Tcp) => {
                let tout = self
                    .tcp_rule(slot, &ctx.shared.model)
                    .and_then(|r| match &r.action {
                        TcpAction::Expect(e) => Some(Status::from_u8(e.tout_status)),
                        _ => None,
                    });
                self.tcp_error(slot, tout.unwrap_or(Status::L7Tout), None, ctx);
            }
            (Phase::Connecting(_), _) => self.finish(slot, Status::L4Tout, 0, InfoSrc::None, ctx),
            (Phase::Sending(_) | Phase::Reading(_), _) => {
                self.finish(slot, Status::L7Tout, 0, InfoSrc::None, ctx)
            }
        }
    }

    /// The interval of a probe: the check's `srv_getinter()`, or `agent-inter`.
    fn interval_of(&self, slot: usize, shared: &SharedState) -> Duration {
        let Some(t) = self.tasks.get(slot / 2) else {
            return Duration::from_secs(2);
        };
        let Some(srv) = shared
            .model
            .backend(t.backend)
            .and_then(|b| b.server(t.server))
        else {
            return Duration::from_secs(2);
        };
        match probe_of(slot) {
            Probe::Check => t.monitor.interval(&srv.check),
            Probe::Agent => srv.check.agent_inter,
        }
    }

    /// Starts a run.
    fn begin(&mut self, slot: usize, ctx: &mut CheckCtx<'_>) {
        let inter = self.interval_of(slot, ctx.shared);
        let Some(t) = self.tasks.get(slot / 2) else {
            return;
        };
        let (be_id, srv_id) = (t.backend, t.server);
        let Some(r) = self.run_mut(slot) else { return };
        r.started = ctx.now;
        r.step = 0;
        match &r.kind {
            Kind::External(spec) => {
                let timeout = match ctx
                    .shared
                    .model
                    .backend(be_id)
                    .and_then(|b| b.timeouts.check)
                {
                    // As haproxy 2.6 does: the earlier of `inter` and `timeout check`.
                    Some(tc) => tc.min(inter),
                    None => inter,
                };
                let job = external::Job {
                    spec: spec.clone(),
                    slot,
                    generation: r.generation,
                    curconn: ctx
                        .shared
                        .server(be_id, srv_id)
                        .map_or(0, |s| s.conns.cur()),
                    timeout,
                };
                r.phase = Phase::Process;
                let submitted = self.runner.as_ref().is_some_and(|rn| rn.submit(job));
                if !submitted {
                    self.finish(slot, Status::ProcErr, 255, InfoSrc::None, ctx);
                }
            }
            Kind::Tcp => self.tcp_advance(slot, ctx),
            Kind::Connect | Kind::Http | Kind::Agent => {
                let target = r.target.clone();
                self.connect(slot, &target, ctx);
            }
        }
    }

    /// A non-blocking connect to `target` with its deadline.
    fn connect(&mut self, slot: usize, target: &Target, ctx: &mut CheckCtx<'_>) {
        let inter = self.interval_of(slot, ctx.shared);
        let Some(t) = self.tasks.get(slot / 2) else {
            return;
        };
        let Some(be) = ctx.shared.model.backend(t.backend) else {
            return;
        };
        let Some(r) = self.run_mut(slot) else { return };
        if let Phase::Connecting(mut s) | Phase::Sending(mut s) | Phase::Reading(mut s) =
            std::mem::replace(&mut r.phase, Phase::Idle)
        {
            s.deregister(ctx.registry);
        }
        r.closed = false;
        r.input.clear();
        let sock = match target {
            Target::Inet(a) => mio::net::TcpStream::connect(*a).map(Sock::Tcp),
            Target::Unix(p) => mio::net::UnixStream::connect(p).map(Sock::Unix),
        };
        let mut sock = match sock {
            Ok(s) => s,
            Err(e) => {
                set_err(&mut r.err, &e);
                return self.conn_error(slot, Status::L4Con, ctx);
            }
        };
        if let Err(e) = sock.register(ctx.registry, token::check(slot)) {
            set_err(&mut r.err, &e);
            return self.conn_error(slot, Status::SockErr, ctx);
        }
        r.phase = Phase::Connecting(sock);
        // `timeout check` set: the connect gets min(timeout connect, inter); else the whole
        // run gets the interval (armed once, at the first connect).
        match (be.timeouts.check, be.timeouts.connect) {
            (Some(_), Some(c)) => self.arm(slot, ctx.now + c.min(inter), ctx.timers),
            _ if r.started == ctx.now => self.arm(slot, ctx.now + inter, ctx.timers),
            _ => {}
        }
    }

    /// A connect or socket error with `r.err` holding `strerror()`'s text.
    fn conn_error(&mut self, slot: usize, status: Status, ctx: &mut CheckCtx<'_>) {
        if matches!(self.run(slot).map(|r| &r.kind), Some(Kind::Tcp)) {
            let err = self
                .run_mut(slot)
                .map(|r| std::mem::take(&mut r.err))
                .unwrap_or_default();
            self.tcp_error(slot, status, Some(&err), ctx);
            if let Some(r) = self.run_mut(slot) {
                if r.err.is_empty() {
                    r.err = err; // keep the allocation
                }
            }
        } else {
            self.finish(slot, status, 0, InfoSrc::Err, ctx);
        }
    }

    /// A readiness event on probe `slot`'s socket.
    pub(crate) fn on_event(&mut self, slot: usize, ev: &Event, ctx: &mut CheckCtx<'_>) {
        let Some(r) = self.run_mut(slot) else { return };
        match &r.phase {
            Phase::Idle | Phase::Process => {}
            Phase::Connecting(sock) => {
                if ev.is_error() || (ev.is_write_closed() && !ev.is_writable()) {
                    let e = match sock.take_error() {
                        Ok(Some(e)) | Err(e) => e,
                        Ok(None) => io::Error::from(ErrorKind::ConnectionRefused),
                    };
                    set_err(&mut r.err, &e);
                    return self.conn_error(slot, Status::L4Con, ctx);
                }
                if !ev.is_writable() {
                    return;
                }
                self.connected(slot, ctx);
            }
            Phase::Sending(_) => self.send(slot, ctx),
            Phase::Reading(_) => self.receive(slot, ctx),
        }
    }

    /// The connection is established.
    fn connected(&mut self, slot: usize, ctx: &mut CheckCtx<'_>) {
        let Some(t) = self.tasks.get(slot / 2) else {
            return;
        };
        let Some(be) = ctx.shared.model.backend(t.backend) else {
            return;
        };
        let agent_send = be
            .server(t.server)
            .map(|s| s.check.agent_send.as_bytes())
            .unwrap_or_default();
        // `send-proxy` servers get the PROXY header on their checks too (not on agents).
        let proxy = match probe_of(slot) {
            Probe::Check => be.server(t.server).and_then(|s| s.check_send_proxy()),
            Probe::Agent => None,
        };
        if let Some(v) = proxy {
            let never_local = ctx.shared.model.global.pp2_never_send_local;
            if let Err(e) = self.send_proxy_header(slot, v, never_local) {
                if let Some(r) = self.run_mut(slot) {
                    set_err(&mut r.err, &e);
                }
                return self.conn_error(slot, Status::SockErr, ctx);
            }
        }
        let kind_http = matches!(self.run(slot).map(|r| &r.kind), Some(Kind::Http));
        let state = if kind_http && be.health_check.send_state {
            self.state_header(slot / 2, ctx.shared);
            Some(self.line.as_str())
        } else {
            None
        };
        let bufsize = self.bufsize;
        let Some(r) = self
            .tasks
            .get_mut(slot / 2)
            .and_then(|t| t.runs.get_mut(slot % 2))
            .and_then(Option::as_mut)
        else {
            return;
        };
        r.out.clear();
        match &r.kind {
            Kind::Connect => return self.finish(slot, Status::L4Ok, 0, InfoSrc::None, ctx),
            Kind::External(_) => return,
            Kind::Http => {
                if let Some(h) = &be.health_check.http {
                    http::write_request(&mut r.out, h, state);
                }
            }
            Kind::Agent => r.out.extend_from_slice(agent_send),
            Kind::Tcp => {}
        }
        r.sent = 0;
        r.input.clear();
        if r.input.capacity() < bufsize {
            r.input.reserve_exact(bufsize);
        }
        let tcp = matches!(r.kind, Kind::Tcp);
        r.phase = match std::mem::replace(&mut r.phase, Phase::Idle) {
            Phase::Connecting(s) | Phase::Sending(s) | Phase::Reading(s) => Phase::Sending(s),
            Phase::Idle | Phase::Process => return,
        };
        if let Some(tc) = be.timeouts.check {
            self.arm(slot, ctx.now + tc, ctx.timers);
        }
        if tcp {
            if let Some(r) = self.run_mut(slot) {
                r.step += 1;
            }
            return self.tcp_advance(slot, ctx);
        }
        self.send(slot, ctx);
    }

    /// Writes the PROXY header on a check that just connected, as HAProxy does: version 1
    /// with the check connection's own addresses (`UNKNOWN` over a unix socket), version 2
    /// as a LOCAL command (a PROXY command with those addresses under `pp2-never-send-local`).
    /// It is a few dozen bytes on an empty socket: the specification guarantees it leaves in
    /// one write, so a short write is an error.
    fn send_proxy_header(
        &mut self,
        slot: usize,
        v: crate::proxyproto::Version,
        never_local: bool,
    ) -> io::Result<()> {
        use crate::proxyproto::{Line, Version};
        let Some(r) = self.run_mut(slot) else {
            return Ok(());
        };
        let (Phase::Connecting(sock) | Phase::Sending(sock) | Phase::Reading(sock)) = &mut r.phase
        else {
            return Ok(());
        };
        let addrs = match v {
            Version::V2 if !never_local => None,
            Version::V1 | Version::V2 => sock.local_addr().zip(sock.peer_addr()),
        };
        let line = Line::build(v, addrs);
        let n = sock.write(line.pending())?;
        if n == line.pending().len() {
            Ok(())
        } else {
            Err(io::Error::from(ErrorKind::WouldBlock))
        }
    }

    /// Writes what is left of `out`; true when all is written (false: would block, or the
    /// run ended on an error).
    fn write_out(&mut self, slot: usize, ctx: &mut CheckCtx<'_>) -> bool {
        let Some(r) = self.run_mut(slot) else {
            return false;
        };
        let (Phase::Sending(sock) | Phase::Reading(sock)) = &mut r.phase else {
            return false;
        };
        while r.sent < r.out.len() {
            match sock.write(r.out.get(r.sent..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => r.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    set_err(&mut r.err, &e);
                    let st = if matches!(r.kind, Kind::Tcp) {
                        Status::SockErr
                    } else {
                        Status::L4Con
                    };
                    self.conn_error(slot, st, ctx);
                    return false;
                }
            }
        }
        true
    }

    fn send(&mut self, slot: usize, ctx: &mut CheckCtx<'_>) {
        if !self.write_out(slot, ctx) {
            return;
        }
        let Some(r) = self.run_mut(slot) else { return };
        r.phase = match std::mem::replace(&mut r.phase, Phase::Idle) {
            Phase::Connecting(s) | Phase::Sending(s) | Phase::Reading(s) => Phase::Reading(s),
            p @ (Phase::Idle | Phase::Process) => p,
        };
        if matches!(r.kind, Kind::Tcp) {
            r.step += 1;
            return self.tcp_advance(slot, ctx);
        }
        // Edge-triggered: the answer may have arrived while we were still writing.
        self.receive(slot, ctx);
    }

    /// Reads what the socket holds, up to the buffer size; sets `closed` at the end of the
    /// stream or a full buffer. Err: a read error before any byte.
    fn read_in(&mut self, slot: usize) -> io::Result<()> {
        let bufsize = self.bufsize;
        let Some(r) = self.run_mut(slot) else {
            return Ok(());
        };
        let (Phase::Reading(sock) | Phase::Sending(sock)) = &mut r.phase else {
            return Ok(());
        };
        let mut chunk = [0u8; 4096];
        loop {
            let room = bufsize.saturating_sub(r.input.len());
            if room == 0 {
                r.closed = true; // as HAProxy, judge what fits in one buffer
                return Ok(());
            }
            let want = room.min(chunk.len());
            match sock.read(chunk.get_mut(..want).unwrap_or_default()) {
                Ok(0) => {
                    r.closed = true;
                    return Ok(());
                }
                Ok(n) => r
                    .input
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    r.closed = true;
                    // HAProxy reports a network error only when no byte came before it.
                    return if r.input.is_empty() { Err(e) } else { Ok(()) };
                }
            }
        }
    }

    fn receive(&mut self, slot: usize, ctx: &mut CheckCtx<'_>) {
        if matches!(self.run(slot).map(|r| &r.kind), Some(Kind::Tcp)) {
            return self.tcp_advance(slot, ctx);
        }
        let read = self.read_in(slot);
        let Some(t) = self.tasks.get(slot / 2) else {
            return;
        };
        let Some(be) = ctx.shared.model.backend(t.backend) else {
            return;
        };
        let running = t.monitor.state != SrvState::Stopped;
        let Some(r) = self.run(slot) else { return };
        match &r.kind {
            Kind::Agent => {
                if read.is_err() && r.input.is_empty() {
                    return self.finish(slot, Status::L7Tout, 0, InfoSrc::None, ctx);
                }
                self.agent_reply(slot, ctx)
            }
            Kind::Http => {
                let Some(h) = &be.health_check.http else {
                    return;
                };
                match http::evaluate(
                    &r.input,
                    r.closed,
                    h,
                    be.health_check.disable_on_404,
                    running,
                ) {
                    Eval::Wait => {}
                    Eval::Done { status, code, info } => {
                        let info = match info {
                            Info::None => InfoSrc::None,
                            Info::Reason(r) => InfoSrc::Input(r),
                            Info::Text(s) => InfoSrc::Text(s),
                        };
                        self.finish(slot, status, code, info, ctx);
                    }
                }
            }
            Kind::Connect | Kind::Tcp | Kind::External(_) => {}
        }
    }

    /// The `tcp-check` rule probe `slot` is at (for a timeout's status).
    fn tcp_rule<'m>(&self, slot: usize, model: &'m Model) -> Option<&'m crate::model::TcpRule> {
        let t = self.tasks.get(slot / 2)?;
        let rules = &model.backend(t.backend)?.health_check.tcp.as_ref()?.rules;
        rules.get(self.run(slot)?.step)
    }

    /// Runs the `tcp-check` rules from the current one until one has to wait (a connect, a
    /// write or read that would block) or the sequence ends.
    fn tcp_advance(&mut self, slot: usize, ctx: &mut CheckCtx<'_>) {
        let shared = ctx.shared;
        let Some(t) = self.tasks.get(slot / 2) else {
            return;
        };
        let Some(rules) = shared
            .model
            .backend(t.backend)
            .and_then(|b| b.health_check.tcp.as_ref())
            .map(|tc| tc.rules.as_slice())
        else {
            return;
        };
        // Bounded: every pass moves to the next rule or returns.
        for _ in 0..=rules.len() {
            let Some(r) = self.run_mut(slot) else { return };
            let Some(rule) = rules.get(r.step) else {
                r.err.clear();
                r.err.push_str("(tcp-check)");
                let status = tcp::success_status(rules);
                return self.finish(slot, status, 0, InfoSrc::Err, ctx);
            };
            match &rule.action {
                TcpAction::Comment => r.step += 1,
                TcpAction::Connect { port, addr } => {
                    let target = match &r.target {
                        Target::Inet(a) => Target::Inet(SocketAddr::new(
                            addr.unwrap_or(a.ip()),
                            port.unwrap_or(a.port()),
                        )),
                        Target::Unix(p) => match (addr, port) {
                            (Some(ip), Some(port)) => Target::Inet(SocketAddr::new(*ip, *port)),
                            _ => Target::Unix(p.clone()),
                        },
                    };
                    return self.connect(slot, &target, ctx);
                }
                TcpAction::Send(bytes) => {
                    // HAProxy empties the input before sending a new message.
                    r.input.clear();
                    r.out.clear();
                    r.out.extend_from_slice(bytes);
                    r.sent = 0;
                    r.phase = match std::mem::replace(&mut r.phase, Phase::Idle) {
                        Phase::Connecting(s) | Phase::Sending(s) | Phase::Reading(s) => {
                            Phase::Sending(s)
                        }
                        p @ (Phase::Idle | Phase::Process) => p,
                    };
                    if !self.write_out(slot, ctx) {
                        return;
                    }
                    if let Some(r) = self.run_mut(slot) {
                        r.step += 1;
                    }
                }
                TcpAction::Expect(e) => {
                    if let Some(r) = self.run_mut(slot) {
                        r.phase = match std::mem::replace(&mut r.phase, Phase::Idle) {
                            Phase::Connecting(s) | Phase::Sending(s) | Phase::Reading(s) => {
                                Phase::Reading(s)
                            }
                            p @ (Phase::Idle | Phase::Process) => p,
                        };
                    }
                    if let Err(err) = self.read_in(slot) {
                        if let Some(r) = self.run_mut(slot) {
                            set_err(&mut r.err, &err);
                        }
                        return self.conn_error(slot, Status::SockErr, ctx);
                    }
                    let hex = &mut self.hex;
                    let Some(r) = self
                        .tasks
                        .get_mut(slot / 2)
                        .and_then(|t| t.runs.get_mut(slot % 2))
                        .and_then(Option::as_mut)
                    else {
                        return;
                    };
                    match tcp::expect(e, &r.input, r.closed, hex) {
                        tcp::Expect::Wait => return,
                        tcp::Expect::Next => r.step += 1,
                        outcome @ (tcp::Expect::Fail { .. } | tcp::Expect::Empty) => {
                            tcp::expect_failure(&mut r.err, rule, e, outcome);
                            let status = Status::from_u8(e.error_status);
                            return self.finish(slot, status, 0, InfoSrc::Err, ctx);
                        }
                    }
                }
            }
        }
    }

    /// Ends a `tcp-check` run on a connection error or timeout at the current rule: `err`
    /// (`strerror()`'s text, if any) followed by where it happened, as HAProxy's
    /// `chk_report_conn_err()`.
    fn tcp_error(
        &mut self,
        slot: usize,
        status: Status,
        err: Option<&str>,
        ctx: &mut CheckCtx<'_>,
    ) {
        let rules = self
            .tasks
            .get(slot / 2)
            .and_then(|t| ctx.shared.model.backend(t.backend))
            .and_then(|b| b.health_check.tcp.as_ref())
            .map(|tc| tc.rules.as_slice())
            .unwrap_or_default();
        let Some(r) = self.run_mut(slot) else { return };
        r.err.clear();
        r.err.push_str(err.unwrap_or_default());
        tcp::step_suffix(&mut r.err, rules.get(r.step));
        self.finish(slot, status, 0, InfoSrc::Err, ctx);
    }

    /// An agent's answer: applies the reply line once complete.
    fn agent_reply(&mut self, slot: usize, ctx: &mut CheckCtx<'_>) {
        let shared = ctx.shared;
        let Some(t) = self.tasks.get_mut(slot / 2) else {
            return;
        };
        let (be_id, srv_id) = (t.backend, t.server);
        let (Some(be), Some(bs)) = (shared.model.backend(be_id), shared.backend(be_id)) else {
            return;
        };
        let (Some(srv), Some(st)) = (be.server(srv_id), bs.server(srv_id)) else {
            return;
        };
        let Some(Some(r)) = t.runs.get_mut(1) else {
            return;
        };
        let Some(reply) = agent::parse(&r.input) else {
            if r.closed {
                // haproxy 2.6 ends a reply without an end of line as a layer-7 timeout.
                return self.finish(slot, Status::L7Tout, 0, InfoSrc::None, ctx);
            }
            return;
        };
        // The admin state first, then the weight and maxconn, then the health (HAProxy's
        // order).
        if let Some(a) = reply.admin {
            transition::apply_admin(
                shared,
                be_id,
                srv_id,
                a,
                &mut t.monitor,
                ctx.now,
                &mut self.line,
            );
        }
        let mut warning = None;
        if let Some(w) = reply.weight {
            match agent::weight_change(w, srv.weight, bs.dynamic_weights) {
                Ok(n) => st.set_weight(n),
                Err(m) => warning = Some(m),
            }
        }
        if let Some(m) = reply.maxconn {
            match agent::maxconn_change(m) {
                Ok(n) => st.set_maxconn(n),
                Err(m) => warning = warning.or(Some(m)),
            }
        }
        if let (Some((_, h)), Some(ah)) = (reply.health, t.monitor.agent.as_mut()) {
            ah.health = match h {
                agent::Health::Up => ah.top(),
                agent::Health::Down => 0,
            };
        }
        let mut err = std::mem::take(&mut r.err);
        let status = agent::outcome(&mut err, &reply, warning);
        r.err = err;
        self.finish(slot, status, 0, InfoSrc::Err, ctx);
    }

    /// The reactor was woken: results of external checks.
    pub(crate) fn on_wake(&mut self, ctx: &mut CheckCtx<'_>) {
        // A second handle on the channel (no allocation) so `finish` may borrow `self`.
        let Some(results) = self.runner.as_ref().map(|r| r.results.clone()) else {
            return;
        };
        while let Ok(d) = results.try_recv() {
            let Some(r) = self.run(d.slot) else { continue };
            if r.generation != d.generation || !matches!(r.phase, Phase::Process) {
                continue;
            }
            let (status, code) = match d.outcome {
                external::Outcome::Exited(0) => (Status::ProcOk, 0),
                external::Outcome::Exited(c) => (
                    Status::ProcErr,
                    u16::try_from(c.clamp(0, 255)).unwrap_or(255),
                ),
                external::Outcome::TimedOut => (Status::ProcTout, 0),
            };
            let now = ctx.now;
            if let Some(r) = self.run_mut(d.slot) {
                // The duration the helper measured (the reactor may have been busy).
                r.started = now.checked_sub(d.duration).unwrap_or(now);
            }
            self.finish(d.slot, status, code, InfoSrc::None, ctx);
        }
    }

    /// Ends a run: closes the socket, records the result, applies a state change, schedules
    /// the next run.
    fn finish(
        &mut self,
        slot: usize,
        status: Status,
        code: u16,
        info: InfoSrc,
        ctx: &mut CheckCtx<'_>,
    ) {
        let shared = ctx.shared;
        let probe = probe_of(slot);
        let Some(t) = self.tasks.get_mut(slot / 2) else {
            return;
        };
        let Some(Some(r)) = t.runs.get_mut(slot % 2) else {
            return;
        };
        if let Phase::Connecting(mut s) | Phase::Sending(mut s) | Phase::Reading(mut s) =
            std::mem::replace(&mut r.phase, Phase::Idle)
        {
            s.deregister(ctx.registry);
        }
        let duration_ms = crate::timer::millis(ctx.now.saturating_duration_since(r.started));
        let (Some(be), Some(bs)) = (shared.model.backend(t.backend), shared.backend(t.backend))
        else {
            return;
        };
        let (Some(srv), Some(st)) = (be.server(t.server), bs.server(t.server)) else {
            return;
        };
        let verdict = status.verdict();
        let maint = st.admin() == Admin::Maint;
        let rec = t.monitor.record(probe, verdict, status.has_code(), maint);
        if rec.failed {
            st.check.failed.fetch_add(1, Relaxed);
        }
        let prev = std::mem::replace(&mut r.status, status);
        match probe {
            Probe::Check => {
                st.check.status.store(status as u8, Relaxed);
                st.check.code.store(u32::from(code), Relaxed);
                st.check
                    .duration_ms
                    .store(u32::try_from(duration_ms).unwrap_or(u32::MAX), Relaxed);
                if let Some(h) = t.monitor.check {
                    st.check.health.store(h.health, Relaxed);
                }
            }
            Probe::Agent => st.check.agent_status.store(status as u8, Relaxed),
        }
        let info: &[u8] = match &info {
            InfoSrc::None => b"",
            InfoSrc::Input(x) => r.input.get(x.clone()).unwrap_or_default(),
            InfoSrc::Text(s) => s.as_bytes(),
            InfoSrc::Err => r.err.as_bytes(),
        };
        let log_checks = be.health_check.log_health_checks;
        // HAProxy's set_server_check_status(): a neutral result logs nothing; a paused
        // (maintenance) check neither.
        if log_checks
            && verdict != Verdict::Neutral
            && (prev != status || rec.counted)
            && !(maint && probe == Probe::Check)
        {
            if let Some(h) = t.monitor.probe(probe) {
                report::health_line(
                    &mut self.line,
                    probe,
                    srv.backup,
                    (&be.name, &srv.name),
                    verdict,
                    (status, code, info, duration_ms),
                    report::HealthNow {
                        health: h.health,
                        rise: h.rise,
                        fall: h.fall,
                        weighted: st.weight() > 0,
                    },
                );
                eprintln!("[WARNING]  ({}) : {}.", std::process::id(), self.line);
                ctx.shared.logs.event(
                    crate::log::sink::Source::Backend(t.backend.0),
                    crate::log::LOG_NOTICE,
                    &self.line,
                );
            }
        }
        if let Some(c) = rec.change {
            let why = transition::Why {
                status,
                code,
                info,
                duration_ms,
                no_reason: log_checks,
                cli: false,
            };
            transition::apply(
                shared,
                t.backend,
                t.server,
                c,
                &why,
                ctx.now,
                &mut self.line,
            );
        }
        let interval = match probe {
            Probe::Check
                if std::mem::take(&mut t.fast) && t.monitor.check.is_some_and(|h| h.health > 0) =>
            {
                srv.check.fastinter
            }
            Probe::Check => t.monitor.interval(&srv.check),
            Probe::Agent => srv.check.agent_inter,
        };
        let percent = shared.model.global.spread_checks;
        let unit = if percent > 0 { self.random_unit() } else { 0.0 };
        let next = health::jittered(interval, percent, unit);
        self.arm(slot, ctx.now + next, ctx.timers);
    }

    /// `x-haproxy-server-state`'s value, into `self.line` (HAProxy's
    /// `httpchk_build_status_header()`; field order and spacing as haproxy 2.6 sends them).
    fn state_header(&mut self, i: usize, shared: &SharedState) {
        self.line.clear();
        let Some(t) = self.tasks.get(i) else { return };
        let (Some(be), Some(bs)) = (shared.model.backend(t.backend), shared.backend(t.backend))
        else {
            return;
        };
        let (Some(srv), Some(st)) = (be.server(t.server), bs.server(t.server)) else {
            return;
        };
        t.monitor.state_word(&mut self.line);
        let (addr, port) = match &srv.addr {
            ServerAddr::Inet { ip, port } => (
                ip.to_string(),
                match port {
                    PortRule::Fixed(p) => p.to_string(),
                    PortRule::Offset(_) | PortRule::Same => String::new(),
                },
            ),
            ServerAddr::Unix(_) => ("unix".to_string(), String::new()),
        };
        // Weights in configured units: eweight / 16 rounded up, the total over the servers
        // that would get traffic (the active ones, else the backups).
        let now_ms = shared.ms(Instant::now());
        let scale = WEIGHT_SCALE;
        let total: u32 = {
            let sum = |backup: bool| -> u32 {
                be.servers
                    .iter()
                    .zip(bs.servers.iter())
                    .filter(|(s, x)| s.backup == backup && x.is_usable())
                    .map(|(_, x)| x.eweight(now_ms))
                    .sum()
            };
            let act = sum(false);
            if act > 0 { act } else { sum(true) }
        };
        let _ = write!(
            self.line,
            "; address={addr}; port={port}; name={}/{}; node={}; weight={}/{}; scur={}/{}; qcur={}",
            be.name,
            srv.name,
            self.node,
            st.eweight(now_ms).div_ceil(scale),
            total.div_ceil(scale),
            st.conns.cur(),
            bs.beconn.cur().saturating_sub(bs.queue.len()),
            st.queue.len()
        );
    }

    fn random_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Closes every check connection (the reactor stops). External commands still running
    /// are killed and reaped when the `Checks` (and its helper) is dropped.
    pub(crate) fn close_all(&mut self, registry: &Registry) {
        for r in self
            .tasks
            .iter_mut()
            .flat_map(|t| t.runs.iter_mut().flatten())
        {
            if let Phase::Connecting(mut s) | Phase::Sending(mut s) | Phase::Reading(mut s) =
                std::mem::replace(&mut r.phase, Phase::Idle)
            {
                s.deregister(registry);
            }
        }
    }
}

/// Where a server's check connects: `addr`/`port` overrides, else the server's address.
/// A server without a fixed port and no `port` cannot be checked (None).
fn target_of(s: &crate::model::Server) -> Option<Target> {
    match &s.addr {
        ServerAddr::Inet { ip, port } => {
            let port = match (s.check.port, port) {
                (Some(p), _) => p,
                (None, PortRule::Fixed(p)) => *p,
                (None, PortRule::Same | PortRule::Offset(_)) => return None,
            };
            Some(Target::Inet(SocketAddr::new(
                s.check.addr.unwrap_or(*ip),
                port,
            )))
        }
        ServerAddr::Unix(p) => Some(match (s.check.addr, s.check.port) {
            (Some(ip), Some(port)) => Target::Inet(SocketAddr::new(ip, port)),
            _ => Target::Unix(p.clone()),
        }),
    }
}

/// Where a server's agent connects: `agent-addr` (else the server's address) and
/// `agent-port`. A UNIX-socket server needs an `agent-addr`.
fn agent_target(s: &crate::model::Server) -> Option<Target> {
    let port = s.check.agent_port?;
    let ip = match (&s.check.agent_addr, &s.addr) {
        (Some(ip), _) => *ip,
        (None, ServerAddr::Inet { ip, .. }) => *ip,
        (None, ServerAddr::Unix(_)) => return None,
    };
    Some(Target::Inet(SocketAddr::new(ip, port)))
}

/// `strerror()`'s text, as HAProxy's `info:` shows it (`Connection refused`).
pub(crate) fn set_err(out: &mut String, e: &io::Error) {
    out.clear();
    let _ = write!(out, "{e}");
    if let Some(cut) = out.find(" (os error") {
        out.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_strerror() {
        let mut s = String::new();
        set_err(&mut s, &io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(s, "Connection refused");
    }

    #[test]
    fn tasks_spread_over_reactors_by_model_order() {
        let text = "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             backend a\n    server a1 127.0.0.1:1 check\n    server a2 127.0.0.1:2\n    server a3 127.0.0.1:3 check\n\
             backend b\n    server b1 127.0.0.1:4 check\n    server b2 127.0.0.1:5 check port 9 addr 127.0.0.2\n";
        let loaded = crate::config::load_str("t.cfg", text).expect("config");
        let names = |r: usize| {
            let c = Checks::new(r, 2, &loaded.model);
            c.tasks
                .iter()
                .filter_map(|t| t.runs[0].as_ref())
                .map(|t| match &t.target {
                    Target::Inet(a) => a.to_string(),
                    Target::Unix(_) => String::new(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(names(0), vec!["127.0.0.1:1", "127.0.0.1:4"]);
        assert_eq!(names(1), vec!["127.0.0.1:3", "127.0.0.2:9"]);
    }
}
