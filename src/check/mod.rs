//! Active health checks, run by the reactors: each server with `check` has one check task,
//! owned by one reactor (the k-th checked server of the model belongs to reactor
//! `k % nbthread`) and driven by that reactor's `TimerWheel` and `mio::Poll` — no thread per
//! check. A task is a small state machine: `Idle` (waiting for its next run) → `Connecting`
//! → (HTTP checks) `Sending` → `Reading` → `Idle`, with one deadline per run.
//!
//! Timing follows HAProxy 2.6 (`start_checks()`, `process_chk_conn()`): the first runs are
//! spread over the smallest interval (`health::first_delays`), the next run is scheduled
//! `srv_getinter()` after the previous one ended (`inter`, `fastinter` while the health is
//! changing, `downinter` while down), with `spread-checks` jitter. Timeouts follow the
//! manual's `timeout check`: without it, `inter` bounds the whole check; with it, the
//! connect is bounded by `min(timeout connect, inter)` and the response by `timeout check`
//! from the moment the connection is established.
//!
//! Results go to the server's atomics (`ServerState::check`, `set_up`, `set_nolb`); state
//! changes are printed on stderr as HAProxy's `[WARNING]` lines. What the check concluded is
//! decided in `health` (counting) and `http` (the response) on plain values.

pub mod health;
pub mod http;
pub mod passive;
pub mod report;
pub mod transition;

use std::fmt::Write as _;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mio::Registry;
use mio::event::Event;

use self::health::{Health, SrvState};
use self::http::{Eval, Info};
use self::report::Status;
use crate::conn::Sock;
use crate::model::{BackendId, Model, PortRule, ServerAddr, ServerId};
use crate::server::{Admin, SharedState, WEIGHT_SCALE};
use crate::timer::{Owner, TimerWheel};
use crate::token;

/// Timer owners of check tasks carry this bit in their key (stream keys never do; idle
/// connections use the bit above it).
pub const CHECK_TIMER_BIT: usize = 1 << (usize::BITS - 4);

/// What the check machinery of a reactor may use while it runs.
pub struct CheckCtx<'a> {
    pub registry: &'a Registry,
    pub timers: &'a mut TimerWheel,
    pub shared: &'a SharedState,
    pub now: Instant,
}

/// Where a check connects.
#[derive(Debug)]
enum Target {
    Inet(SocketAddr),
    Unix(PathBuf),
}

/// One run's progress. Sockets exist only while a run is in flight.
#[derive(Debug)]
enum Phase {
    Idle,
    Connecting(Sock),
    Sending(Sock),
    Reading(Sock),
}

/// Where the `info:` text of a result comes from (no copy of the response).
#[derive(Clone, Debug)]
enum InfoSrc {
    None,
    /// A range of the task's input buffer (an HTTP reason phrase).
    Input(std::ops::Range<usize>),
    Text(&'static str),
    /// The task's `err` text (a connect error).
    Err,
}

#[derive(Debug)]
struct Task {
    backend: BackendId,
    server: ServerId,
    target: Target,
    health: Health,
    phase: Phase,
    /// Bumped at every timer armed: only the latest timer of a task counts.
    generation: u32,
    started: Instant,
    /// Request bytes (HTTP checks), reused from run to run.
    out: Vec<u8>,
    sent: usize,
    /// Response bytes, up to `tune.bufsize`, reused.
    input: Vec<u8>,
    /// The text of the last connect error (`Connection refused`).
    err: String,
    /// When the next run is armed (while idle).
    next_at: Option<Instant>,
    /// Passive health asked for `fastinter` until the next run ends (HAProxy's
    /// `CHK_ST_FASTINTER`).
    fast: bool,
}

/// The check tasks of one reactor.
#[derive(Debug)]
pub struct Checks {
    tasks: Vec<Task>,
    /// xorshift state for `spread-checks`.
    rng: u64,
    bufsize: usize,
    /// HAProxy's `node` for `send-state`: the host name.
    node: String,
    /// Reused for log lines and the `send-state` header.
    line: String,
    first: Vec<Duration>,
}

impl Checks {
    /// The checks reactor `reactor` of `reactors` owns.
    pub fn new(reactor: usize, reactors: usize, model: &Model) -> Checks {
        let first = health::first_delays(model);
        let mut tasks = Vec::new();
        let mut delays = Vec::new();
        let mut k = 0usize;
        for (bi, be) in model.backends.iter().enumerate() {
            for (si, s) in be.servers.iter().enumerate() {
                if !s.check.enabled {
                    continue;
                }
                let mine = k % reactors.max(1) == reactor;
                let delay = first.get(k).copied().unwrap_or_default();
                k += 1;
                if !mine {
                    continue;
                }
                let Some(target) = target_of(s) else {
                    continue;
                };
                tasks.push(Task {
                    backend: BackendId(bi as u32),
                    server: ServerId(si as u32),
                    target,
                    health: Health::new(&s.check),
                    phase: Phase::Idle,
                    generation: 0,
                    started: Instant::now(),
                    out: Vec::new(),
                    sent: 0,
                    input: Vec::new(),
                    err: String::new(),
                    next_at: None,
                    fast: false,
                });
                delays.push(delay);
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
            first: delays,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Arms every task's first run and publishes the starting health.
    pub fn start(&mut self, ctx: &mut CheckCtx<'_>) {
        for i in 0..self.tasks.len() {
            let delay = self.first.get(i).copied().unwrap_or_default();
            if let Some(t) = self.tasks.get(i) {
                if let Some(st) = ctx.shared.server(t.backend, t.server) {
                    st.check.health.store(t.health.health, Relaxed);
                }
            }
            if let Some(t) = self.tasks.get_mut(i) {
                t.next_at = Some(ctx.now + delay);
            }
            self.arm(i, ctx.now + delay, ctx.timers);
        }
    }

    fn arm(&mut self, i: usize, at: Instant, timers: &mut TimerWheel) {
        if let Some(t) = self.tasks.get_mut(i) {
            t.generation = t.generation.wrapping_add(1);
            timers.arm(
                at,
                Owner {
                    key: CHECK_TIMER_BIT | i,
                    generation: t.generation,
                },
            );
        }
    }

    /// A timer of task `key & !CHECK_TIMER_BIT` fired.
    pub fn on_timer(&mut self, owner: Owner, ctx: &mut CheckCtx<'_>) {
        let i = owner.key & !CHECK_TIMER_BIT;
        let Some(t) = self.tasks.get(i) else { return };
        if t.generation != owner.generation {
            return; // superseded
        }
        match t.phase {
            Phase::Idle => self.begin(i, ctx),
            Phase::Connecting(_) => self.finish(i, Status::L4Tout, 0, InfoSrc::None, ctx),
            Phase::Sending(_) | Phase::Reading(_) => {
                self.finish(i, Status::L7Tout, 0, InfoSrc::None, ctx)
            }
        }
    }

    /// Starts a run: a non-blocking connect with its deadline.
    fn begin(&mut self, i: usize, ctx: &mut CheckCtx<'_>) {
        let Some(t) = self.tasks.get_mut(i) else {
            return;
        };
        t.started = ctx.now;
        t.next_at = None;
        let Some(be) = ctx.shared.model.backends.get(t.backend.0 as usize) else {
            return;
        };
        let Some(srv) = be.servers.get(t.server.0 as usize) else {
            return;
        };
        let sock = match &t.target {
            Target::Inet(a) => mio::net::TcpStream::connect(*a).map(Sock::Tcp),
            Target::Unix(p) => mio::net::UnixStream::connect(p).map(Sock::Unix),
        };
        let mut sock = match sock {
            Ok(s) => s,
            Err(e) => {
                set_err(&mut t.err, &e);
                return self.finish(i, Status::L4Con, 0, InfoSrc::Err, ctx);
            }
        };
        if let Err(e) = sock.register(ctx.registry, token::check(i)) {
            set_err(&mut t.err, &e);
            return self.finish(i, Status::SockErr, 0, InfoSrc::Err, ctx);
        }
        t.phase = Phase::Connecting(sock);
        let inter = srv.check.inter;
        // `timeout check` set: the connect gets min(timeout connect, inter); else the whole
        // check gets `inter`.
        let limit = match (be.timeouts.check, be.timeouts.connect) {
            (Some(_), Some(c)) => c.min(inter),
            _ => inter,
        };
        self.arm(i, ctx.now + limit, ctx.timers);
    }

    /// A readiness event on task `i`'s socket.
    pub fn on_event(&mut self, i: usize, ev: &Event, ctx: &mut CheckCtx<'_>) {
        let Some(t) = self.tasks.get_mut(i) else {
            return;
        };
        match &t.phase {
            Phase::Idle => {}
            Phase::Connecting(sock) => {
                if ev.is_error() || (ev.is_write_closed() && !ev.is_writable()) {
                    let e = match sock.take_error() {
                        Ok(Some(e)) | Err(e) => e,
                        Ok(None) => io::Error::from(ErrorKind::ConnectionRefused),
                    };
                    set_err(&mut t.err, &e);
                    return self.finish(i, Status::L4Con, 0, InfoSrc::Err, ctx);
                }
                if !ev.is_writable() {
                    return;
                }
                self.connected(i, ctx);
            }
            Phase::Sending(_) => self.send(i, ctx),
            Phase::Reading(_) => self.receive(i, ctx),
        }
    }

    /// The connection is established: a TCP check passed; an HTTP check sends its request.
    fn connected(&mut self, i: usize, ctx: &mut CheckCtx<'_>) {
        let Some(t) = self.tasks.get(i) else { return };
        let Some(be) = ctx.shared.model.backends.get(t.backend.0 as usize) else {
            return;
        };
        let Some(h) = &be.health_check.http else {
            return self.finish(i, Status::L4Ok, 0, InfoSrc::None, ctx);
        };
        let state = if be.health_check.send_state {
            self.state_header(i, ctx.shared);
            Some(self.line.as_str())
        } else {
            None
        };
        let Some(t) = self.tasks.get_mut(i) else {
            return;
        };
        http::write_request(&mut t.out, h, state);
        t.sent = 0;
        t.input.clear();
        if t.input.capacity() < self.bufsize {
            t.input.reserve_exact(self.bufsize);
        }
        t.phase = match std::mem::replace(&mut t.phase, Phase::Idle) {
            Phase::Connecting(s) | Phase::Sending(s) | Phase::Reading(s) => Phase::Sending(s),
            Phase::Idle => return,
        };
        if let Some(tc) = be.timeouts.check {
            self.arm(i, ctx.now + tc, ctx.timers);
        }
        self.send(i, ctx);
    }

    fn send(&mut self, i: usize, ctx: &mut CheckCtx<'_>) {
        let Some(t) = self.tasks.get_mut(i) else {
            return;
        };
        let Phase::Sending(sock) = &mut t.phase else {
            return;
        };
        while t.sent < t.out.len() {
            match sock.write(t.out.get(t.sent..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => t.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    set_err(&mut t.err, &e);
                    return self.finish(i, Status::L4Con, 0, InfoSrc::Err, ctx);
                }
            }
        }
        t.phase = match std::mem::replace(&mut t.phase, Phase::Idle) {
            Phase::Connecting(s) | Phase::Sending(s) | Phase::Reading(s) => Phase::Reading(s),
            Phase::Idle => return,
        };
        // Edge-triggered: the answer may have arrived while we were still writing.
        self.receive(i, ctx);
    }

    fn receive(&mut self, i: usize, ctx: &mut CheckCtx<'_>) {
        let Some(t) = self.tasks.get_mut(i) else {
            return;
        };
        let Phase::Reading(sock) = &mut t.phase else {
            return;
        };
        let mut complete = false;
        let mut chunk = [0u8; 4096];
        loop {
            let room = self.bufsize.saturating_sub(t.input.len());
            if room == 0 {
                complete = true; // as HAProxy, judge what fits in one buffer
                break;
            }
            let want = room.min(chunk.len());
            match sock.read(chunk.get_mut(..want).unwrap_or_default()) {
                Ok(0) => {
                    complete = true;
                    break;
                }
                Ok(n) => t
                    .input
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    complete = true;
                    break;
                }
            }
        }
        let Some(be) = ctx.shared.model.backends.get(t.backend.0 as usize) else {
            return;
        };
        let Some(h) = &be.health_check.http else {
            return;
        };
        let running = t.health.state != SrvState::Stopped;
        match http::evaluate(
            &t.input,
            complete,
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
                self.finish(i, status, code, info, ctx);
            }
        }
    }

    /// Ends a run: closes the socket, records the result, applies a state change, schedules
    /// the next run.
    fn finish(
        &mut self,
        i: usize,
        status: Status,
        code: u16,
        info: InfoSrc,
        ctx: &mut CheckCtx<'_>,
    ) {
        let shared = ctx.shared;
        let Some(t) = self.tasks.get_mut(i) else {
            return;
        };
        if let Phase::Connecting(mut s) | Phase::Sending(mut s) | Phase::Reading(mut s) =
            std::mem::replace(&mut t.phase, Phase::Idle)
        {
            s.deregister(ctx.registry);
        }
        let duration = ctx.now.saturating_duration_since(t.started);
        let duration_ms = duration.as_millis() as u64;
        let (Some(be), Some(bs)) = (
            shared.model.backends.get(t.backend.0 as usize),
            shared.backend(t.backend),
        ) else {
            return;
        };
        let (Some(srv), Some(st)) = (
            be.servers.get(t.server.0 as usize),
            bs.servers.get(t.server.0 as usize),
        ) else {
            return;
        };
        let verdict = status.verdict();
        if verdict == health::Verdict::Failed && t.health.health > 0 {
            st.check.failed.fetch_add(1, Relaxed);
        }
        let change = t.health.record(verdict, st.admin() == Admin::Maint);
        st.check.status.store(status as u8, Relaxed);
        st.check.code.store(u32::from(code), Relaxed);
        st.check
            .duration_ms
            .store(u32::try_from(duration_ms).unwrap_or(u32::MAX), Relaxed);
        st.check.health.store(t.health.health, Relaxed);
        if let Some(c) = change {
            let info: &[u8] = match &info {
                InfoSrc::None => b"",
                InfoSrc::Input(r) => t.input.get(r.clone()).unwrap_or_default(),
                InfoSrc::Text(s) => s.as_bytes(),
                InfoSrc::Err => t.err.as_bytes(),
            };
            let why = transition::Why {
                status,
                code,
                info,
                duration_ms,
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
        let interval = if t.fast && t.health.health > 0 {
            srv.check.fastinter
        } else {
            t.health.interval(&srv.check)
        };
        t.fast = false;
        let percent = shared.model.global.spread_checks;
        let unit = if percent > 0 { self.random_unit() } else { 0.0 };
        let next = health::jittered(interval, percent, unit);
        if let Some(t) = self.tasks.get_mut(i) {
            t.next_at = Some(ctx.now + next);
        }
        self.arm(i, ctx.now + next, ctx.timers);
    }

    /// `x-haproxy-server-state`'s value, into `self.line` (HAProxy's
    /// `httpchk_build_status_header()`; field order and spacing as haproxy 2.6 sends them).
    fn state_header(&mut self, i: usize, shared: &SharedState) {
        self.line.clear();
        let Some(t) = self.tasks.get(i) else { return };
        let (Some(be), Some(bs)) = (
            shared.model.backends.get(t.backend.0 as usize),
            shared.backend(t.backend),
        ) else {
            return;
        };
        let (Some(srv), Some(st)) = (
            be.servers.get(t.server.0 as usize),
            bs.servers.get(t.server.0 as usize),
        ) else {
            return;
        };
        t.health.state_word(&mut self.line);
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

    /// Closes every check connection (the reactor stops).
    pub fn close_all(&mut self, registry: &Registry) {
        for t in &mut self.tasks {
            if let Phase::Connecting(mut s) | Phase::Sending(mut s) | Phase::Reading(mut s) =
                std::mem::replace(&mut t.phase, Phase::Idle)
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

/// `strerror()`'s text, as HAProxy's `info:` shows it (`Connection refused`).
fn set_err(out: &mut String, e: &io::Error) {
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
