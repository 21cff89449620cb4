//! Accepting connections: admission against the global, frontend and bind limits, the
//! pre-stream state of a `bind ... accept-proxy` connection (`conn::handshake`), and
//! `open_stream`, the one function that turns a client socket into its HTTP or TCP stream —
//! right after accept, or once the PROXY header was read.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

use super::{ACCEPT_PAUSE, ALERT_EVERY, Conn, Ctx, ListenSock, Reactor, Route, Slot};
use crate::balance::PickKey;
use crate::conn::handshake::{Arrival, Handshake, Progress};
use crate::conn::http::{self, HttpConn};
use crate::conn::tcp::{Entry, Tunnel};
use crate::hash::source_hash;
use crate::net::Sock;
use crate::term::{Cause, Stage, Step, Termination};

use crate::model::{BackendId, FrontendId, Mode};
use crate::server::SharedState;
use crate::timer::Owner;

impl Reactor {
    /// Accepts on every ready listener, up to `tune.maxaccept` per listener per turn.
    pub(super) fn accept_ready(&mut self, now: Instant) {
        let mut still_paused = false;
        for i in 0..self.listeners.len() {
            let Some(l) = self.listeners.get(i) else {
                break;
            };
            if l.paused {
                // Re-check: the slot may have been released before we published the pause.
                if self.limits_full(l.frontend, l.bind) {
                    still_paused = true;
                    continue;
                }
                if let Some(l) = self.listeners.get_mut(i) {
                    l.paused = false;
                    l.ready = true;
                }
            }
            let ready = self
                .listeners
                .get(i)
                .is_some_and(|l| l.ready && l.blocked_until.is_none());
            if ready {
                self.accept_from(i, now);
            }
            still_paused |= self.listeners.get(i).is_some_and(|l| l.paused);
        }
        let bit = 1u64 << (self.id % 64);
        if still_paused {
            self.shared.paused.fetch_or(bit, SeqCst);
            // Close the race with a release that happened before the bit was visible.
            let retry: Vec<usize> = (0..self.listeners.len())
                .filter(|&i| {
                    self.listeners
                        .get(i)
                        .is_some_and(|l| l.paused && !self.limits_full(l.frontend, l.bind))
                })
                .collect();
            for i in retry {
                if let Some(l) = self.listeners.get_mut(i) {
                    l.paused = false;
                    l.ready = true;
                }
            }
        } else {
            self.shared.paused.fetch_and(!bit, SeqCst);
        }
    }

    fn limits_full(&self, fe: FrontendId, bind: usize) -> bool {
        let sh = &self.shared;
        let Some(f) = sh.frontend(fe) else {
            return true;
        };
        sh.global.is_full() || f.conns.is_full() || f.binds.get(bind).is_some_and(|b| b.is_full())
    }

    fn try_admit(&self, fe: FrontendId, bind: usize) -> bool {
        let sh = &self.shared;
        let Some(f) = sh.frontend(fe) else {
            return false;
        };
        if !sh.global.try_acquire() {
            return false;
        }
        if !f.conns.try_acquire() {
            sh.global.release();
            return false;
        }
        if let Some(b) = f.binds.get(bind) {
            if !b.try_acquire() {
                f.conns.release();
                sh.global.release();
                return false;
            }
        }
        true
    }

    fn unadmit(&self, fe: FrontendId, bind: usize) {
        let sh = &self.shared;
        sh.global.release();
        if let Some(f) = sh.frontend(fe) {
            f.conns.release();
            if let Some(b) = f.binds.get(bind) {
                b.release();
            }
        }
    }

    fn accept_from(&mut self, i: usize, now: Instant) {
        let mut accepted = 0u32;
        loop {
            if accepted >= self.maxaccept {
                return; // still ready: the loop comes back after other work
            }
            let Some(l) = self.listeners.get(i) else {
                return;
            };
            let (fe, bind) = (l.frontend, l.bind);
            if !self.try_admit(fe, bind) {
                if let Some(l) = self.listeners.get_mut(i) {
                    l.paused = true;
                }
                return;
            }
            let Some(l) = self.listeners.get_mut(i) else {
                return;
            };
            let res = match &l.sock {
                ListenSock::Tcp(s) => s.accept().map(|(c, a)| (Sock::Tcp(c), Some(a))),
                ListenSock::Unix(s) => s.accept().map(|(c, _)| (Sock::Unix(c), None)),
            };
            match res {
                Ok((sock, peer)) => {
                    accepted += 1;
                    self.start_stream(sock, peer, i, now);
                }
                Err(e) => {
                    self.unadmit(fe, bind);
                    match e.raw_os_error() {
                        _ if e.kind() == io::ErrorKind::WouldBlock => {
                            if let Some(l) = self.listeners.get_mut(i) {
                                l.ready = false;
                            }
                            return;
                        }
                        Some(libc::EINTR | libc::ECONNABORTED | libc::EPROTO | libc::EPERM) => {
                            continue;
                        }
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                            self.shared.accept_errors.fetch_add(1, Relaxed);
                            let name = self
                                .shared
                                .model
                                .frontend(fe)
                                .map_or("?", |f| f.name.as_str());
                            // HAProxy's wording, at most one alert per ALERT_EVERY, not one per retry.
                            if self
                                .resource_alerted
                                .is_none_or(|t| now.saturating_duration_since(t) >= ALERT_EVERY)
                            {
                                self.resource_alerted = Some(now);
                                let limit = match e.raw_os_error() {
                                    Some(libc::EMFILE) => "process FD limit",
                                    Some(libc::ENFILE) => "system FD limit",
                                    _ => "system memory limit",
                                };
                                let advice = if e.raw_os_error() == Some(libc::EMFILE) {
                                    "Please check 'ulimit-n' and restart."
                                } else {
                                    "Please check system tunables."
                                };
                                eprintln!(
                                    "[ALERT]    ({}) : Proxy {name} reached {limit} (maxconn={}). {advice}",
                                    std::process::id(),
                                    self.shared.global.limit()
                                );
                            }
                            if let Some(l) = self.listeners.get_mut(i) {
                                l.blocked_until = Some(now + ACCEPT_PAUSE);
                            }
                            self.core
                                .timers
                                .arm(now + ACCEPT_PAUSE, Owner::RESUME_LISTENERS);
                            return;
                        }
                        _ => {
                            eprintln!("[WARNING]  ({}) : accept() failed: {e}", std::process::id());
                            return;
                        }
                    }
                }
            }
        }
    }

    /// A connection was accepted on listener `listener`: it counts as a frontend connection
    /// (`conn_tot`), then waits for its PROXY header (`accept-proxy`) or becomes a stream.
    fn start_stream(
        &mut self,
        sock: Sock,
        peer: Option<SocketAddr>,
        listener: usize,
        now: Instant,
    ) {
        let Some(l) = self.listeners.get(listener) else {
            return;
        };
        let at = Arrival {
            frontend: l.frontend,
            bind: l.bind,
            port: l.port,
            src: peer,
            dst: l.addr,
            accepted: now,
        };
        let (fe, bind) = (at.frontend, at.bind);
        if let Sock::Tcp(_) = sock {
            let _ = crate::sys::socket::set_nodelay(&sock);
        }
        let model = &self.shared.model;
        let accept_proxy = model
            .frontend(fe)
            .and_then(|f| f.binds.get(bind))
            .is_some_and(|b| b.accept_proxy);
        if let Some(f) = self.shared.frontend(fe) {
            f.conn_total.fetch_add(1, Relaxed);
            f.conn_rate.tick(self.shared.ms(now));
        }
        let conn = if accept_proxy {
            Conn::Handshake(Handshake::new(sock, at))
        } else {
            let route = self.routes.get(fe.0 as usize).copied().flatten();
            match open_stream(&self.shared, route, sock, &at, now) {
                Some(c) => c,
                None => {
                    self.unadmit(fe, bind);
                    return;
                }
            }
        };
        let generation = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        self.next_id += 1;
        let id = self.next_id;
        let key = self.conns.insert(Slot {
            generation,
            frontend: fe,
            bind,
            id,
            conn,
        });
        if self.opts.debug {
            let name = self
                .shared
                .model
                .frontend(fe)
                .map_or("?", |f| f.name.as_str());
            match peer {
                Some(a) => eprintln!("{id:08x}:{name}.accept() from [{a}]"),
                None => eprintln!("{id:08x}:{name}.accept() from [unix]"),
            }
        }
        if accept_proxy {
            self.run_handshake(key, now, |h, ctx| h.start(ctx));
        } else {
            self.begin_stream(key, now);
        }
    }

    /// Starts the stream now in slot `key` (right after accept, or after its PROXY header):
    /// counts the session and writes the legacy "Connect from" line with the stream's
    /// addresses.
    fn begin_stream(&mut self, key: usize, now: Instant) {
        let Some(slot) = self.conns.get(key) else {
            return;
        };
        let fe = slot.frontend;
        if let Some(f) = self.shared.frontend(fe) {
            f.total.fetch_add(1, Relaxed);
            f.rate.tick(self.shared.ms(now));
        }
        self.run_conn(key, now, |conn, ctx| match conn {
            Conn::Handshake(_) => Step::Continue,
            Conn::Tcp(t) => {
                crate::conn::logline::emit_connect(ctx, fe, t.entry.src, t.entry.dst);
                t.start(ctx)
            }
            Conn::Http(h) => {
                let (src, dst) = match h.origin.proxy_addrs() {
                    Some((s, d)) => (Some(s), Some(d)),
                    None => (None, Some(h.origin.dst)),
                };
                crate::conn::logline::emit_connect(ctx, fe, src, dst);
                h.start(ctx)
            }
        });
    }

    /// Runs `f` on the handshake at `key`; closes the connection when it fails, builds its
    /// stream when it completes.
    pub(super) fn run_handshake(
        &mut self,
        key: usize,
        now: Instant,
        f: impl FnOnce(&mut Handshake, &mut Ctx<'_>) -> Progress,
    ) {
        let Some(slot) = self.conns.get_mut(key) else {
            return;
        };
        let Conn::Handshake(h) = &mut slot.conn else {
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
        match f(h, &mut ctx) {
            Progress::Wait => {}
            Progress::Failed(t) => self.close(key, t, now),
            Progress::Done(addrs) => self.upgrade(key, addrs, now),
        }
    }

    /// The PROXY header was read: the handshake's slot becomes the stream, with the header's
    /// addresses in place of the connection's (LOCAL / UNKNOWN keep the real ones).
    fn upgrade(&mut self, key: usize, addrs: Option<(SocketAddr, SocketAddr)>, now: Instant) {
        let Some(slot) = self.conns.get_mut(key) else {
            return;
        };
        let Conn::Handshake(h) = &mut slot.conn else {
            return;
        };
        let mut at = h.arrival;
        let owner = Owner::stream(key, slot.generation);
        let ctx = self.core.ctx(
            self.poll.registry(),
            &self.shared,
            now,
            owner,
            self.opts.debug,
            slot.id,
        );
        let Some(sock) = h.take_client(&ctx) else {
            return self.close(key, Termination::new(Cause::Proxy, Stage::Request), now);
        };
        if let Some((src, dst)) = addrs {
            at.src = Some(src);
            at.dst = Some(dst);
            at.port = dst.port();
        }
        let route = self.routes.get(at.frontend.0 as usize).copied().flatten();
        match open_stream(&self.shared, route, sock, &at, now) {
            Some(conn) => slot.conn = conn,
            None => return self.close(key, Termination::new(Cause::Proxy, Stage::Request), now),
        }
        self.begin_stream(key, now);
    }
}

/// Builds the stream of a client connection from its socket and where it came in: right
/// after accept, or once its PROXY header gave the addresses in `at`. The one place a
/// connection becomes an `HttpConn` or a `Tunnel`, and where TLS is set up (after the PROXY
/// header, before HTTP). `None`: the frontend has no backend to send a TCP stream to, or the
/// TLS session could not be created.
fn open_stream(
    shared: &SharedState,
    route: Option<Route>,
    sock: Sock,
    at: &Arrival,
    now: Instant,
) -> Option<Conn> {
    let fe = shared.model.frontend(at.frontend)?;
    let http_mode = fe.mode == Mode::Http;
    // The address the client reached: known (specific listener, PROXY header), or the
    // socket's own — one `getsockname`, only when HTTP, a log line or a PROXY header to a
    // server needs it.
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let wants_dst = http_mode || fe.log.enabled() || route.is_some_and(|r| r.send_proxy);
    let dst = match at.dst {
        Some(a) => a,
        None if wants_dst => sock.local_addr().unwrap_or(unspecified),
        None => unspecified,
    };
    if http_mode {
        // `bind ... ssl`: the client side becomes TLS over the socket (after any PROXY
        // header, which came in clear).
        let sock = match (sock, fe.binds.get(at.bind).and_then(|b| b.tls.as_ref())) {
            (Sock::Tcp(tcp), Some(t)) => Sock::Tls(Box::new(
                crate::tls::stream::TlsSock::new(tcp, t.config.clone()).ok()?,
            )),
            (s, _) => s,
        };
        // Routing happens per request; the frontend's default backend seeds the connector.
        let backend = fe.backend().unwrap_or(BackendId(0));
        let origin = http::Origin {
            frontend: at.frontend,
            bind: at.bind,
            src: at.src.unwrap_or(unspecified),
            dst,
            inet: at.src.is_some(),
        };
        return Some(Conn::Http(Box::new(HttpConn::new(
            sock,
            origin,
            backend,
            at.accepted,
            now,
        ))));
    }
    let route = route?;
    let key = PickKey {
        hash: route
            .hash_source
            .then(|| at.src.map_or(0, |a| source_hash(a.ip()))),
    };
    let entry = Entry {
        frontend: at.frontend,
        bind: at.bind,
        backend: route.backend,
        local_port: at.port,
        key,
        src: at.src,
        dst: Some(dst),
    };
    // `bind ... ssl` in TCP mode: TLS over the socket, and bytes are copied (splicing would
    // move them past TLS).
    let (sock, via_request, via_response) =
        match (sock, fe.binds.get(at.bind).and_then(|b| b.tls.as_ref())) {
            (Sock::Tcp(tcp), Some(t)) => (
                Sock::Tls(Box::new(
                    crate::tls::stream::TlsSock::new(tcp, t.config.clone()).ok()?,
                )),
                crate::conn::pump::Via::Copy,
                crate::conn::pump::Via::Copy,
            ),
            (s, _) => (s, route.via_request, route.via_response),
        };
    Some(Conn::Tcp(Tunnel::new(
        sock,
        entry,
        via_request,
        via_response,
        route.retries,
        at.accepted,
        now,
    )))
}
