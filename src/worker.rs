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

/// A running proxy: its shared state and its reactor threads.
pub struct Handle {
    shared: Arc<SharedState>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    commands: Vec<Sender<Command>>,
    wakers: Arc<[Waker]>,
    bound: Vec<(FrontendId, SocketAddr)>,
    /// The logger thread (ends once every reactor has dropped its line buffer).
    logger: Option<JoinHandle<()>>,
    /// The runtime API (`stats socket`), when configured.
    api: Option<crate::api::Api>,
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

    /// The addresses actually bound (port 0 resolved), per frontend, in model order.
    pub fn bound(&self) -> &[(FrontendId, SocketAddr)] {
        &self.bound
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

    /// SIGUSR1: stop listening, let streams finish.
    pub fn soft_stop(&self) {
        self.shared
            .soft_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.send(Command::SoftStop);
    }

    /// SIGTERM/SIGINT or `hard-stop-after`: close everything now.
    pub fn hard_stop(&self) {
        self.shared
            .hard_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.send(Command::HardStop);
    }

    /// Stops the runtime API (its socket files are removed).
    pub fn stop_api(&mut self) {
        if let Some(mut api) = self.api.take() {
            api.stop();
        }
    }

    /// True once every reactor has exited.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Waits for every reactor to exit; the first reactor error is returned.
    pub fn join(mut self) -> io::Result<()> {
        self.stop_api();
        let mut result = Ok(());
        for t in std::mem::take(&mut self.threads) {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = result.and(Err(e)),
                Err(_) => result = result.and(Err(io::Error::other("a reactor thread panicked"))),
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
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}

/// The global `maxconn` in force: the configured one, or HAProxy's rule of deriving it from the
/// open-files limit (two sockets and part of a pipe per connection).
pub fn global_maxconn(model: &Model, nofile: u64) -> u32 {
    model.global.maxconn.unwrap_or_else(|| {
        let by_fd = nofile.saturating_sub(100) / 3;
        by_fd.clamp(100, 1 << 20) as u32
    })
}

/// Number of reactors: `nbthread`, or one per available CPU.
pub fn reactor_count(model: &Model) -> usize {
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
}

impl fmt::Debug for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bound").field("bound", &self.bound).finish()
    }
}

/// Opens every listener; any failure is reported before anything runs.
pub fn bind(model: Arc<Model>) -> Result<Bound, StartError> {
    let nofile = process::raise_nofile_limit();
    let maxconn = global_maxconn(&model, nofile);
    let n = reactor_count(&model).min(64);
    let (per_reactor, bound) = open_listeners(&model, n, maxconn)?;
    Ok(Bound {
        model,
        maxconn,
        n,
        per_reactor,
        bound,
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
    let (mut log_bufs, logger) =
        crate::log::sink::start(model.clone(), n, opts.debug, shared.logs.clone());
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
        let t = std::thread::Builder::new()
            .name(format!("ravelin-r{i}"))
            .spawn(move || {
                if let Some(id) = cpu {
                    // Pinning can fail in a restricted cpuset; the reactor still runs unpinned.
                    let _ = core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                reactor.run()
            })?;
        threads.push(t);
    }
    let mut handle = Handle {
        shared,
        threads,
        commands,
        wakers,
        bound,
        logger,
        api: None,
    };
    // The runtime API starts once the reactors run (a bind error stops them again).
    handle.api = crate::api::start(
        handle.shared.clone(),
        handle.commands.clone(),
        handle.wakers.clone(),
    )
    .map_err(StartError::Cli)?;
    Ok(handle)
}

type PerReactor = Vec<Vec<Listener>>;

/// Opens every bind of every frontend: one `SO_REUSEPORT` socket per reactor for IP addresses,
/// one shared socket (dup'ed per reactor) for unix paths and inherited `fd@N` sockets.
fn open_listeners(
    model: &Model,
    n: usize,
    maxconn: u32,
) -> Result<(PerReactor, Vec<(FrontendId, SocketAddr)>), StartError> {
    let mut per_reactor: PerReactor = (0..n).map(|_| Vec::new()).collect();
    let mut bound = Vec::new();
    let mut inherited: Vec<(i32, socket::Inherited)> = Vec::new();
    for (fi, fe) in model.frontends.iter().enumerate() {
        let fid = FrontendId(fi as u32);
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
                    for listeners in per_reactor.iter_mut() {
                        let l = socket::listen_inet(addr, true, backlog, bind.v6only)
                            .map_err(|e| bind_err(addr.to_string(), e))?;
                        if addr.port() == 0 {
                            addr = l.local_addr()?;
                        }
                        let sock = ListenSock::Tcp(mio::net::TcpListener::from_std(l));
                        listeners.push(Listener::new(sock, fid, bi, addr.port()));
                    }
                    bound.push((fid, addr));
                }
                BindAddr::Unix(path) => {
                    let l = socket::listen_unix(path, backlog)
                        .map_err(|e| bind_err(path.display().to_string(), e))?;
                    for listeners in per_reactor.iter_mut() {
                        let fd = socket::dup(&l)?;
                        let sock =
                            ListenSock::Unix(mio::net::UnixListener::from_std(OwnedFd::into(fd)));
                        listeners.push(Listener::new(sock, fid, bi, 0));
                    }
                }
                BindAddr::Fd(num) => {
                    if !inherited.iter().any(|(n, _)| n == num) {
                        let s = socket::inherit_listener(*num)
                            .map_err(|e| bind_err(format!("fd@{num}"), e))?;
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
    // The original inherited sockets close here; every reactor holds a dup.
    drop(inherited);
    Ok((per_reactor, bound))
}
