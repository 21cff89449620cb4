//! Start-up and supervision: opens every listening socket on the main thread (so a bind error
//! stops the start before anything runs, and port 0 resolves once for a whole `SO_REUSEPORT`
//! group), spawns one pinned reactor thread per `nbthread`, and relays stop commands to them
//! through a crossbeam channel plus the reactor's `mio::Waker`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use mio::{Poll, Waker};

use crate::model::{BindAddr, FrontendId, Model};
use crate::reactor::{Command, ListenSock, Listener, Reactor, ReactorOptions};
use crate::reload::getsocks::{ExposedListeners, InheritedSock, SockAddr};
use crate::server::SharedState;
use crate::sys::{process, socket};
use crate::token;

/// Why the proxy could not start.
#[derive(Debug)]
pub enum StartError {
    /// A listener could not be opened. Printed like HAProxy's start-up alert.
    Bind {
        frontend: String,
        addr: String,
        err: io::Error,
    },
    Io(io::Error),
    /// A `stats socket` could not be opened (the whole HAProxy-style message).
    Cli(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Bind {
                frontend,
                addr,
                err,
            } => {
                let reason = match err.raw_os_error() {
                    Some(libc::EADDRINUSE) => "Address already in use".to_string(),
                    Some(libc::EACCES) => "Permission denied".to_string(),
                    Some(libc::EADDRNOTAVAIL) => "Cannot assign requested address".to_string(),
                    _ => err.to_string(),
                };
                write!(
                    f,
                    "Starting frontend {frontend}: cannot bind socket ({reason}) [{addr}]"
                )
            }
            StartError::Io(e) => write!(f, "cannot start: {e}"),
            StartError::Cli(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Io(e)
    }
}

/// A reactor thread that ended while the process was not stopping: it panicked, or its loop
/// returned an error. Its listeners are gone, while the other reactors' sockets of the same
/// `SO_REUSEPORT` group (and the dups kept for `_getsocks`) stay open, so the kernel would go
/// on queueing part of the new connections for it: the process must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadReactor {
    /// The reactor's index; HAProxy's thread number is this plus one.
    pub reactor: usize,
    /// The panic message, or the error the loop returned.
    pub reason: String,
}

/// The message of a panic payload (`panic!` with a literal or with a format).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// How a reactor thread ended, in words.
fn exit_reason(r: std::thread::Result<io::Result<()>>) -> Option<String> {
    match r {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(payload) => Some(format!("panic: {}", panic_message(&*payload))),
    }
}

/// A running proxy: its shared state and its reactor threads.
pub struct Handle {
    shared: Arc<SharedState>,
    /// (reactor index, thread), in reactor order; a dead reactor's is taken out.
    threads: Vec<(usize, JoinHandle<io::Result<()>>)>,
    commands: Vec<Sender<Command>>,
    wakers: Arc<[Waker]>,
    bound: Vec<(FrontendId, SocketAddr)>,
    /// The logger thread (ends once every reactor has dropped its line buffer).
    logger: Option<JoinHandle<()>>,
    /// The runtime API (`stats socket`), when configured.
    api: Option<crate::api::Api>,
    exposed: Arc<ExposedListeners>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("reactors", &self.threads.len())
            .field("bound", &self.bound)
            .finish()
    }
}

impl Handle {
    pub fn shared(&self) -> &Arc<SharedState> {
        &self.shared
    }

    /// The first address bound by the frontend called `name`.
    pub fn addr_of(&self, name: &str) -> Option<SocketAddr> {
        let id = self
            .shared
            .model
            .frontends
            .iter()
            .position(|f| f.name == name)?;
        self.bound
            .iter()
            .find(|(fe, _)| fe.0 as usize == id)
            .map(|(_, a)| *a)
    }

    fn send(&self, cmd: Command) {
        for (tx, w) in self.commands.iter().zip(self.wakers.iter()) {
            let _ = tx.send(cmd.clone());
            let _ = w.wake();
        }
    }

    /// A dup of every listening socket, for the runtime API's `_getsocks` (`expose-fd
    /// listeners`); emptied once the process stops.
    pub fn exposed_listeners(&self) -> Arc<ExposedListeners> {
        self.exposed.clone()
    }

    /// SIGUSR1: stop listening, let streams finish.
    pub fn soft_stop(&self) {
        self.exposed.release();
        self.shared.soft_stop_ms.store(
            self.shared.ms(std::time::Instant::now()),
            std::sync::atomic::Ordering::SeqCst,
        );
        self.shared
            .soft_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.send(Command::SoftStop);
    }

    /// SIGTERM/SIGINT or `hard-stop-after`: close everything now.
    pub fn hard_stop(&self) {
        self.exposed.release();
        self.shared
            .hard_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.send(Command::HardStop);
    }

    /// Stops the runtime API (its socket files are removed).
    pub(crate) fn stop_api(&mut self) {
        if let Some(mut api) = self.api.take() {
            api.stop();
        }
    }

    /// True once every reactor has exited.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|(_, t)| t.is_finished())
    }

    /// True once a soft or hard stop was asked: reactors then end on purpose.
    pub(crate) fn is_stopping(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.shared.soft_stop.load(SeqCst) || self.shared.hard_stop.load(SeqCst)
    }

    /// Reactor threads not joined yet.
    pub(crate) fn threads_left(&self) -> usize {
        self.threads.len()
    }

    /// A reactor thread that ended although no stop was asked (a panic, or an error of its
    /// loop), joined and taken out of the handle; `None` while every reactor runs, and once
    /// the process is stopping. The supervisor asks when a reactor's exit wakes it: one
    /// atomic load per reactor (the thread's finished flag), nothing on the reactors' side.
    pub fn dead_reactor(&mut self) -> Option<DeadReactor> {
        if self.is_stopping() {
            return None;
        }
        let i = self.threads.iter().position(|(_, t)| t.is_finished())?;
        let (reactor, t) = self.threads.remove(i);
        let reason =
            exit_reason(t.join()).unwrap_or_else(|| "its loop returned without a stop".to_string());
        Some(DeadReactor { reactor, reason })
    }

    /// Waits for every reactor to exit; the first reactor error is returned.
    pub fn join(mut self) -> io::Result<()> {
        self.stop_api();
        let mut result = Ok(());
        for (i, t) in std::mem::take(&mut self.threads) {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = result.and(Err(e)),
                Err(payload) => {
                    let why = panic_message(&*payload);
                    let e = io::Error::other(format!("reactor {i} panicked: {why}"));
                    result = result.and(Err(e));
                }
            }
        }
        self.shared.logs.close();
        if let Some(l) = self.logger.take() {
            let _ = l.join();
        }
        result
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop_api();
        if !self.threads.is_empty() && !self.is_finished() {
            self.hard_stop();
            for (_, t) in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}

/// How the process's descriptors are budgeted (HAProxy 2.6's `maxconn`, `maxsock` and
/// `ulimit-n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FdBudget {
    /// The global `maxconn`.
    pub(crate) maxconn: u32,
    /// Descriptors the process may need at most: two per connection plus the reserve.
    pub(crate) maxsock: u64,
    /// The open-files limit to set: `ulimit-n` when configured, otherwise `maxsock`.
    pub(crate) ulimit_n: u64,
}

/// The budget for `nbthread` reactors when the hard open-files limit at start is `nofile`: a
/// configured `maxconn` sets `maxsock` (and the limit to ask for), otherwise `maxconn` is
/// what the limit (or `ulimit-n`) leaves once the reserve is set aside.
pub(crate) fn fd_budget(model: &Model, nbthread: usize, nofile: u64) -> FdBudget {
    let reserve = model.fd_reserve(nbthread);
    let limit = model.global.ulimit_n.map_or(nofile, u64::from);
    let maxconn = model.global.maxconn.unwrap_or_else(|| {
        let by_fd = limit.saturating_sub(reserve) / 2;
        u32::try_from(by_fd.clamp(1, 1 << 20)).unwrap_or(1 << 20)
    });
    let maxsock = u64::from(maxconn).saturating_mul(2).saturating_add(reserve);
    FdBudget {
        maxconn,
        maxsock,
        ulimit_n: model.global.ulimit_n.map_or(maxsock, u64::from),
    }
}

/// Number of reactors: `nbthread`, or one per available CPU.
pub(crate) fn reactor_count(model: &Model) -> usize {
    match model.global.nbthread {
        Some(n) => usize::from(n.max(1)),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// Listeners opened and limits resolved, reactors not started yet: the state in which the
/// process may still daemonize (fork keeps the sockets, and must happen before any thread).
pub struct Bound {
    model: Arc<Model>,
    maxconn: u32,
    n: usize,
    per_reactor: PerReactor,
    bound: Vec<(FrontendId, SocketAddr)>,
    exposed: Arc<ExposedListeners>,
}

impl Bound {}

impl fmt::Debug for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bound").field("bound", &self.bound).finish()
    }
}

/// Opens every listener; any failure is reported before anything runs.
pub fn bind(model: Arc<Model>) -> Result<Bound, StartError> {
    bind_with(model, Vec::new())
}

/// Like [`bind`], using first the listening sockets received from the old process (`-x`).
pub(crate) fn bind_with(
    model: Arc<Model>,
    inherited: Vec<InheritedSock>,
) -> Result<Bound, StartError> {
    let n = reactor_count(&model).min(64);
    let budget = fd_budget(&model, n, process::nofile_hard_limit());
    process::set_nofile_limit(budget.ulimit_n);
    let maxconn = budget.maxconn;
    let opened = open_listeners(&model, n, maxconn, inherited)?;
    Ok(Bound {
        model,
        maxconn,
        n,
        per_reactor: opened.per_reactor,
        bound: opened.bound,
        exposed: Arc::new(ExposedListeners::new(opened.exposed)),
    })
}

/// Opens the listeners, builds the shared state and spawns the reactors.
pub fn start(model: Arc<Model>, opts: ReactorOptions) -> Result<Handle, StartError> {
    launch(bind(model)?, opts)
}

/// Spawns the reactors on already opened listeners.
pub fn launch(b: Bound, opts: ReactorOptions) -> Result<Handle, StartError> {
    let Bound {
        model,
        maxconn,
        n,
        per_reactor,
        bound,
        exposed,
    } = b;

    let mut polls = Vec::with_capacity(n);
    let mut wakers = Vec::with_capacity(n);
    for _ in 0..n {
        let poll = Poll::new()?;
        wakers.push(Waker::new(poll.registry(), token::WAKER)?);
        polls.push(poll);
    }
    let wakers: Arc<[Waker]> = wakers.into();
    let shared = Arc::new(SharedState::new(model.clone(), maxconn, n));
    shared.set_wakers(wakers.clone());
    // `load-server-state-from-file`: the old process's server states, before any traffic.
    for w in crate::reload::state::apply(&model, &shared, shared.ms(std::time::Instant::now())) {
        eprintln!("[WARNING]  ({}) : config : {w}", std::process::id());
    }
    let (mut log_bufs, logger) = crate::log::sink::start(
        crate::log::sink::Routes {
            global: model.global.log.clone(),
            frontends: model.frontends.iter().map(|f| f.log.clone()).collect(),
            backends: model.backends.iter().map(|b| b.log.clone()).collect(),
        },
        n,
        opts.debug,
        shared.logs.clone(),
    );
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut threads = Vec::with_capacity(n);
    let mut commands = Vec::with_capacity(n);
    for (i, (poll, listeners)) in polls.into_iter().zip(per_reactor).enumerate() {
        let (tx, rx) = crossbeam_channel::unbounded();
        commands.push(tx);
        let cpu = model
            .global
            .cpu_map
            .iter()
            .rev()
            .find(|m| usize::from(m.thread) == i)
            .and_then(|m| m.cpus.first().copied())
            .map(usize::from)
            .or_else(|| {
                (!cores.is_empty()).then(|| cores.get(i % cores.len()).map_or(i, |c| c.id))
            });
        let mut reactor =
            Reactor::new(i, poll, shared.clone(), wakers.clone(), rx, listeners, opts);
        if let Some(log) = log_bufs.pop() {
            reactor = reactor.with_log(log);
        }
        let exit = shared.reactor_exits.guard();
        let t = std::thread::Builder::new()
            .name(format!("ravelin-r{i}"))
            .spawn(move || {
                let _exit = exit; // dropped when the reactor ends, even by a panic
                if let Some(id) = cpu {
                    // Pinning can fail in a restricted cpuset; the reactor still runs unpinned.
                    let _ = core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                reactor.run()
            })?;
        threads.push((i, t));
    }
    let mut handle = Handle {
        shared,
        threads,
        commands,
        wakers,
        bound,
        logger,
        api: None,
        exposed,
    };
    // The runtime API starts once the reactors run (a bind error stops them again).
    handle.api = crate::api::start(
        handle.shared.clone(),
        handle.commands.clone(),
        handle.wakers.clone(),
        handle.exposed.clone(),
    )
    .map_err(StartError::Cli)?;
    Ok(handle)
}

type PerReactor = Vec<Vec<Listener>>;

/// What `open_listeners` produces.
struct Opened {
    per_reactor: PerReactor,
    bound: Vec<(FrontendId, SocketAddr)>,
    /// One dup of every distinct listening socket, for `_getsocks`.
    exposed: Vec<OwnedFd>,
}

/// Takes out of `pool` the inherited listening sockets that `want` matches.
fn take_inherited(
    pool: &mut Vec<InheritedSock>,
    want: impl Fn(&InheritedSock) -> bool,
) -> Vec<InheritedSock> {
    let (take, keep): (Vec<_>, Vec<_>) = std::mem::take(pool)
        .into_iter()
        .partition(|s| s.listening && !s.dgram && want(s));
    *pool = keep;
    take
}

/// Spreads `socks` over the reactors so that every one of them is accepted from: socket `j`
/// goes to reactor `j % n`; when there are fewer sockets than reactors, the remaining
/// reactors accept from dups of them. A socket no reactor accepted from would reset its
/// queued connections once the old process closes its copy.
fn spread(
    socks: Vec<OwnedFd>,
    per_reactor: &mut PerReactor,
    exposed: &mut Vec<OwnedFd>,
    mut make: impl FnMut(OwnedFd) -> Listener,
) -> io::Result<()> {
    let n = per_reactor.len();
    let k = socks.len();
    for s in &socks {
        exposed.push(socket::dup(s)?);
    }
    for r in k..n {
        if let Some(s) = socks.get(r % k.max(1)) {
            if let Some(l) = per_reactor.get_mut(r) {
                l.push(make(socket::dup(s)?));
            }
        }
    }
    for (j, s) in socks.into_iter().enumerate() {
        if let Some(l) = per_reactor.get_mut(j % n.max(1)) {
            l.push(make(s));
        }
    }
    Ok(())
}

/// Opens every bind of every frontend: one `SO_REUSEPORT` socket per reactor for IP addresses,
/// one shared socket (dup'ed per reactor) for unix paths and inherited `fd@N` sockets.
/// Sockets received from the old process (`-x`) that match a bind (same address, family and
/// type, read with `getsockname` as HAProxy does) are used instead of new ones; the unused
/// ones are closed.
fn open_listeners(
    model: &Model,
    n: usize,
    maxconn: u32,
    mut pool: Vec<InheritedSock>,
) -> Result<Opened, StartError> {
    let mut per_reactor: PerReactor = (0..n).map(|_| Vec::new()).collect();
    let mut bound = Vec::new();
    let mut exposed = Vec::new();
    let mut inherited: Vec<(i32, socket::Inherited)> = Vec::new();
    for (fi, fe) in model.frontends.iter().enumerate() {
        let fid = FrontendId::from_index(fi);
        for (bi, bind) in fe.binds.iter().enumerate() {
            // HAProxy: the backlog defaults to the frontend's maxconn.
            let backlog = bind.backlog.or(fe.maxconn).unwrap_or(maxconn).max(1);
            let bind_err = |addr: String, err: io::Error| StartError::Bind {
                frontend: fe.name.clone(),
                addr,
                err,
            };
            match &bind.addr {
                BindAddr::Inet(addr) => {
                    let mut addr = *addr;
                    let old = take_inherited(&mut pool, |s| {
                        addr.port() != 0
                            && s.addr == SockAddr::Inet(addr)
                            && bind.v6only.is_none_or(|v| !addr.is_ipv6() || v == s.v6only)
                    });
                    if !old.is_empty() {
                        let fds: Vec<OwnedFd> = old
                            .into_iter()
                            .filter_map(|s| {
                                socket2::SockRef::from(&s.fd).set_nonblocking(true).ok()?;
                                Some(s.fd)
                            })
                            .collect();
                        spread(fds, &mut per_reactor, &mut exposed, |fd| {
                            let l = std::net::TcpListener::from(fd);
                            let sock = ListenSock::Tcp(mio::net::TcpListener::from_std(l));
                            Listener::new(sock, fid, bi, addr.port())
                        })?;
                        bound.push((fid, addr));
                        continue;
                    }
                    for listeners in per_reactor.iter_mut() {
                        let l = socket::listen_inet(addr, true, backlog, bind.v6only)
                            .map_err(|e| bind_err(addr.to_string(), e))?;
                        if addr.port() == 0 {
                            addr = l.local_addr()?;
                        }
                        exposed.push(socket::dup(&l)?);
                        let sock = ListenSock::Tcp(mio::net::TcpListener::from_std(l));
                        listeners.push(Listener::new(sock, fid, bi, addr.port()));
                    }
                    bound.push((fid, addr));
                }
                BindAddr::Unix(path) => {
                    let old = take_inherited(&mut pool, |s| s.addr == SockAddr::Unix(path.clone()));
                    let socks: Vec<OwnedFd> = if old.is_empty() {
                        let l = socket::listen_unix(path, backlog)
                            .map_err(|e| bind_err(path.display().to_string(), e))?;
                        vec![OwnedFd::from(l)]
                    } else {
                        old.into_iter()
                            .filter_map(|s| {
                                socket2::SockRef::from(&s.fd).set_nonblocking(true).ok()?;
                                Some(s.fd)
                            })
                            .collect()
                    };
                    spread(socks, &mut per_reactor, &mut exposed, |fd| {
                        let l = std::os::unix::net::UnixListener::from(fd);
                        let sock = ListenSock::Unix(mio::net::UnixListener::from_std(l));
                        Listener::new(sock, fid, bi, 0)
                    })?;
                }
                BindAddr::Fd(num) => {
                    if !inherited.iter().any(|(n, _)| n == num) {
                        let s = socket::inherit_listener(*num)
                            .map_err(|e| bind_err(format!("fd@{num}"), e))?;
                        match &s {
                            socket::Inherited::Tcp(l) => exposed.push(socket::dup(l)?),
                            socket::Inherited::Unix(l) => exposed.push(socket::dup(l)?),
                        }
                        inherited.push((*num, s));
                    }
                    let Some((_, s)) = inherited.iter().find(|(n, _)| n == num) else {
                        continue;
                    };
                    for listeners in per_reactor.iter_mut() {
                        let (sock, port) = match s {
                            socket::Inherited::Tcp(l) => {
                                let port = l.local_addr().map_or(0, |a| a.port());
                                let dup: std::net::TcpListener = socket::dup(l)?.into();
                                (ListenSock::Tcp(mio::net::TcpListener::from_std(dup)), port)
                            }
                            socket::Inherited::Unix(l) => {
                                let dup: std::os::unix::net::UnixListener = socket::dup(l)?.into();
                                (ListenSock::Unix(mio::net::UnixListener::from_std(dup)), 0)
                            }
                        };
                        listeners.push(Listener::new(sock, fid, bi, port));
                    }
                    if let socket::Inherited::Tcp(l) = s {
                        if let Ok(a) = l.local_addr() {
                            bound.push((fid, a));
                        }
                    }
                }
            }
        }
    }
    // The original inherited sockets close here; every reactor holds a dup. Sockets from the
    // old process that no bind line uses any more close too (HAProxy's
    // `sock_drop_unused_old_sockets()`).
    drop(inherited);
    drop(pool);
    Ok(Opened {
        per_reactor,
        bound,
        exposed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 5s\n    timeout client 10s\n    timeout server 10s\n";

    /// A config with a stats socket, `binds` binds on one frontend and three servers, the
    /// first `checks` of them checked.
    fn cfg(nbthread: usize, binds: usize, checks: usize, global: &str) -> Model {
        let mut t = format!(
            "global\n    stats socket /tmp/ravelin-fd-test.sock level admin\n    nbthread {nbthread}\n{global}{DEFAULTS}frontend fe\n"
        );
        for i in 0..binds {
            t.push_str(&format!("    bind 127.0.0.1:{}\n", 18080 + i));
        }
        t.push_str("    default_backend be\nbackend be\n");
        for i in 0..3 {
            let check = if i < checks { " check" } else { "" };
            t.push_str(&format!("    server s{i} 127.0.0.1:{}{check}\n", 18090 + i));
        }
        match crate::config::load_str("t.cfg", &t) {
            Ok(l) => l.model,
            Err(e) => panic!("{:?}", e.alerts),
        }
    }

    fn budget(m: &Model, nofile: u64) -> (u32, u64, u64) {
        let b = fd_budget(m, reactor_count(m), nofile);
        (b.maxconn, b.maxsock, b.ulimit_n)
    }

    /// haproxy 2.6.12's `show info` (Maxconn, Maxsock, Ulimit-n) started under `ulimit -n`
    /// with the same configs (the machine's hard limit was 20000).
    #[test]
    fn derived_maxconn_matches_haproxy() {
        let plain = cfg(2, 1, 0, "");
        assert_eq!(budget(&plain, 256), (114, 256, 256));
        assert_eq!(budget(&plain, 1000), (486, 1000, 1000));
        assert_eq!(budget(&plain, 1024), (498, 1024, 1024));
        assert_eq!(budget(&plain, 4096), (2034, 4096, 4096));
        assert_eq!(budget(&plain, 20000), (9986, 20000, 20000));
        // Two binds and two checks.
        let checked = cfg(2, 2, 2, "");
        assert_eq!(budget(&checked, 256), (112, 255, 255));
        assert_eq!(budget(&checked, 1024), (496, 1023, 1023));
        assert_eq!(budget(&checked, 4096), (2032, 4095, 4095));
        assert_eq!(budget(&checked, 20000), (9984, 19999, 19999));
        // Threads, binds and checks one at a time, under `ulimit -n 1000`.
        assert_eq!(budget(&cfg(1, 1, 0, ""), 1000), (487, 999, 999));
        assert_eq!(budget(&cfg(4, 1, 0, ""), 1000), (483, 1000, 1000));
        assert_eq!(budget(&cfg(2, 2, 0, ""), 1000), (485, 999, 999));
        assert_eq!(budget(&cfg(2, 4, 0, ""), 1000), (484, 999, 999));
        assert_eq!(budget(&cfg(2, 1, 1, ""), 1000), (485, 999, 999));
        assert_eq!(budget(&cfg(2, 1, 3, ""), 1000), (484, 999, 999));
    }

    /// A configured `maxconn` sets the limit asked for; `ulimit-n` overrides both ways.
    #[test]
    fn maxconn_and_ulimit_n() {
        let m = cfg(2, 1, 0, "    maxconn 1000\n");
        assert_eq!(budget(&m, 256), (1000, 2028, 2028));
        // haproxy 2.6.12 derives maxconn from the hard limit even then, and refuses to start
        // when `ulimit-n` is lower than what that needs; Ravelin derives it from `ulimit-n`.
        let m = cfg(2, 1, 0, "    ulimit-n 512\n");
        assert_eq!(budget(&m, 20000), (242, 512, 512));
        let m = cfg(2, 1, 0, "    maxconn 100\n    ulimit-n 4000\n");
        assert_eq!(budget(&m, 256), (100, 228, 4000));
    }
}
