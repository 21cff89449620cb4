//! The server connection of a request: reuse from the idle pool or a new connection through
//! the connector, failures before the response, and what happens to it once the response ends.
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::retry::Late;
use super::*;
use crate::status::Seen;

impl HttpConn {
    /// Gets a server connection for the exchange: an idle one when `http-reuse` allows, else a
    /// new connection through the connector.
    pub(super) fn start_server(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: Exchange,
    ) -> Result<(), Step> {
        let srv = match self.connector.assign(ctx, None) {
            Assign::Server(s) => s,
            Assign::Queued(deadline) => {
                self.phase = Phase::Queued { deadline, exchange };
                self.rearm(ctx);
                return Ok(());
            }
            Assign::None => return Err(self.no_server_reply(ctx)),
            Assign::Full => {
                // The server this request is bound to has a full queue (`maxqueue`).
                self.connector.release(ctx);
                return Err(self.reply_error(
                    ctx,
                    503,
                    Termination::new(Cause::ServerAbort, Stage::Queue),
                ));
            }
        };
        let backend = self.connector.backend;
        if let Some(up) = self.kept.take() {
            // The previous server connection of this client, kept after the last response.
            if up.backend == backend && up.server == srv && up.connected && !up.eof {
                self.attach(ctx, up, exchange);
                return Ok(());
            }
            self.park(ctx, up);
        }
        let reuse = ctx
            .shared
            .model
            .backend(backend)
            .map_or(HttpReuse::Safe, |b| b.http_reuse);
        let eligible = match (reuse, self.requests > 1) {
            (HttpReuse::Never, _) => None,
            (HttpReuse::Always, _) | (_, true) => Some(Eligible::Any),
            (HttpReuse::Aggressive, false) => Some(Eligible::Proven),
            (HttpReuse::Safe, false) => None,
        };
        if let Some(el) = eligible {
            if let Some((sconn, idle)) = ctx.idle.take(backend, srv, el, ctx.owner.key) {
                let up = Upstream {
                    peer: Peer {
                        sock: idle.sock,
                        // A reused socket may have become writable long ago: assume it still is.
                        ready: Readiness {
                            writable: true,
                            ..Readiness::default()
                        },
                    },
                    backend,
                    server: srv,
                    connected: true,
                    reused: true,
                    res: None,
                    eof: false,
                    proxy: None,
                    private: false,
                };
                self.sconn = Some(sconn);
                self.attach(ctx, up, exchange);
                return Ok(());
            }
        }
        match self.connect_current(ctx, exchange) {
            Step::Continue => Ok(()),
            step => Err(step),
        }
    }

    /// Starts sending on a reused (or kept) connection; its slot (`self.sconn`) is this stream's
    /// already, so its events come here.
    pub(super) fn attach(&mut self, ctx: &mut Ctx<'_>, mut up: Upstream, mut ex: Exchange) {
        // The server may have closed it while idle: a failure before the response is replayed.
        up.reused = true;
        self.connector.mark_connected(ctx.now);
        // A reused socket may have become writable long ago: assume it still is.
        up.peer.ready.writable = true;
        ex.server_deadline = server_deadline(ctx, self.connector.backend);
        self.phase = Phase::Exchange { ex, up };
    }

    /// Opens a new connection for `exchange` (first try, after a turn-around or a replay).
    pub(super) fn connect_current(&mut self, ctx: &mut Ctx<'_>, exchange: Exchange) -> Step {
        let token = self.server_token(ctx);
        let outcome = self.connector.connect(ctx, token);
        self.settle(ctx, outcome, exchange)
    }

    /// Connects for the exchange waiting in a turn-around or a queue (its wait is over).
    pub(super) fn connect_from_phase(&mut self, ctx: &mut Ctx<'_>) -> Step {
        match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::TurnAround { exchange, .. } | Phase::Queued { exchange, .. } => {
                self.connect_current(ctx, exchange)
            }
            other @ (Phase::Head { .. }
            | Phase::WaitBody { .. }
            | Phase::Connecting { .. }
            | Phase::Exchange { .. }
            | Phase::Reply { .. }
            | Phase::Tunnel { .. }
            | Phase::Gone) => {
                self.phase = other;
                Step::Continue
            }
        }
    }

    /// The poll token of this stream's new server connection: its slot, reserved on first use
    /// and kept across connect retries, with a generation of its own for each socket (the
    /// previous one is deregistered already), so a stale event of the failed socket is
    /// dropped.
    fn server_token(&mut self, ctx: &mut Ctx<'_>) -> mio::Token {
        debug_assert!(
            self.kept.is_none()
                && !matches!(
                    self.phase,
                    Phase::Connecting { .. } | Phase::Exchange { .. } | Phase::Tunnel { .. }
                ),
            "a new server socket while one is open"
        );
        let key = ctx.owner.key;
        match self.sconn {
            Some(sconn) => ctx.idle.renew(sconn, key),
            None => {
                let sconn = ctx.idle.reserve(key);
                self.sconn = Some(sconn);
                ctx.idle.token(sconn)
            }
        }
    }

    /// Closes a server connection of this stream and frees its slot.
    pub(super) fn close_upstream(&mut self, ctx: &mut Ctx<'_>, mut up: Upstream) {
        release_res(ctx, &mut up);
        up.peer.sock.deregister(ctx.registry);
        if let Some(sconn) = self.sconn.take() {
            ctx.idle.release(sconn, ctx.owner.key);
        }
    }

    /// Moves `exchange` to the phase an outcome of the connector calls for.
    pub(super) fn settle(
        &mut self,
        ctx: &mut Ctx<'_>,
        outcome: Outcome,
        exchange: Exchange,
    ) -> Step {
        match outcome {
            Outcome::Pending { sock, deadline } => {
                let (backend, server) = (
                    self.connector.backend,
                    self.connector.server().unwrap_or(ServerId(0)),
                );
                let proxy = self.connector.send_proxy(ctx).map(|v| {
                    Box::new(crate::proxyproto::Line::build(v, self.origin.proxy_addrs()))
                });
                let up = Upstream {
                    peer: Peer::new(sock),
                    backend,
                    server,
                    connected: false,
                    reused: false,
                    res: None,
                    eof: false,
                    private: proxy.is_some(),
                    proxy,
                };
                self.phase = Phase::Connecting {
                    deadline,
                    exchange,
                    up,
                };
                self.rearm(ctx)
            }
            Outcome::Wait(until) => {
                self.phase = Phase::TurnAround { until, exchange };
                self.rearm(ctx)
            }
            Outcome::Queued(deadline) => {
                self.phase = Phase::Queued { deadline, exchange };
                self.rearm(ctx)
            }
            // No server: the exchange ends here with a 503.
            Outcome::Failed(t) => self.reply_error(ctx, 503, t),
        }
    }

    pub(super) fn no_server_reply(&mut self, ctx: &mut Ctx<'_>) -> Step {
        if let Some(be) = ctx.shared.backend(self.connector.backend) {
            be.no_server.fetch_add(1, Relaxed);
        }
        self.reply_error(
            ctx,
            503,
            Termination::new(Cause::ServerAbort, Stage::Connect),
        )
    }

    pub(super) fn check_connect(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Phase::Connecting { up, .. } = &mut self.phase else {
            return Ok(false);
        };
        if up.peer.ready.error {
            return Err(self.connect_failed(ctx, Failure::Error));
        }
        if !up.peer.ready.writable {
            return Ok(false);
        }
        up.connected = true;
        self.connector.observe(ctx, Seen::L4Ok);
        self.connector.mark_connected(ctx.now);
        if let Phase::Connecting {
            exchange: mut ex,
            up,
            ..
        } = std::mem::replace(&mut self.phase, Phase::Gone)
        {
            ex.server_deadline = server_deadline(ctx, self.connector.backend);
            self.phase = Phase::Exchange { ex, up };
        }
        Ok(true)
    }

    pub(super) fn connect_failed(&mut self, ctx: &mut Ctx<'_>, failure: Failure) -> Step {
        let exchange = match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Connecting {
                exchange, mut up, ..
            } => {
                up.peer.sock.deregister(ctx.registry);
                release_res(ctx, &mut up);
                exchange
            }
            other @ (Phase::Head { .. }
            | Phase::WaitBody { .. }
            | Phase::TurnAround { .. }
            | Phase::Queued { .. }
            | Phase::Exchange { .. }
            | Phase::Reply { .. }
            | Phase::Tunnel { .. }
            | Phase::Gone) => {
                self.phase = other;
                return Step::Continue;
            }
        };
        let token = self.server_token(ctx);
        let outcome = self.connector.failed(ctx, failure, token);
        self.settle(ctx, outcome, exchange)
    }

    /// Reads from the server into its buffer.
    pub(super) fn read_server(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Phase::Exchange { ex, up } = &mut self.phase else {
            return Ok(false);
        };
        if !up.peer.ready.readable || up.eof {
            return Ok(false);
        }
        if up.res.is_none() {
            match ctx.pools.bufs.get() {
                Some(b) => up.res = Some(b),
                None => {
                    ctx.starved.push_back(ctx.owner);
                    return Ok(false);
                }
            }
        }
        let Some(buf) = up.res.as_mut() else {
            return Ok(false);
        };
        let spare = buf.spare();
        let room = spare.len();
        if room == 0 {
            return Ok(false);
        }
        match up.peer.sock.read(spare) {
            Ok(0) => {
                up.eof = true;
                self.client.uncork();
                Ok(true)
            }
            Ok(n) => {
                buf.filled(n);
                up.peer.ready.after_read(n, room);
                ex.response_started = true;
                ex.server_deadline = server_deadline(ctx, self.connector.backend);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                up.peer.ready.readable = false;
                // The body paused after a write sent with `MSG_MORE`: release it now.
                self.client.uncork();
                if up.res.as_ref().is_some_and(|b| b.is_empty()) {
                    if let Some(b) = up.res.take() {
                        ctx.pools.bufs.put(b);
                    }
                }
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(self.server_failed(ctx, Some(e))),
        }
    }

    /// The server connection failed or closed early. Before any response byte this is a 502 —
    /// or, on a reused connection with a replayable request, one retry on a fresh connection.
    pub(super) fn server_failed(&mut self, ctx: &mut Ctx<'_>, e: Option<io::Error>) -> Step {
        ctx.debug_event(format_args!("server failed: {e:?}"));
        let Phase::Exchange { ex, up } = &mut self.phase else {
            return Step::Close(Termination::new(Cause::ServerAbort, Stage::Data));
        };
        if !ex.response_started && up.reused && ex.lost.is_none() && !ex.retried_reuse {
            ex.retried_reuse = true;
            ex.head_sent = 0;
            if let Phase::Exchange { ex, up } = std::mem::replace(&mut self.phase, Phase::Gone) {
                self.close_upstream(ctx, up);
                return self.connect_current(ctx, ex);
            }
            return Step::Close(Termination::new(Cause::ServerAbort, Stage::Data));
        }
        let started = ex.response_started;
        let seen = match (&e, started) {
            (Some(_), _) => Seen::HttpReadError,
            (None, false) => Seen::HttpBrokenPipe,
            (None, true) => Seen::HttpHdrRsp,
        };
        if !self.out_started() {
            self.connector.observe(ctx, seen);
            // Nothing (or only part of a head) came back: `retry-on empty-response` /
            // `junk-response`.
            let late = if started { Late::Junk } else { Late::Empty };
            if let Some(step) = self.retry_late(ctx, late) {
                return step;
            }
        }
        // Read before the exchange goes with its server connection.
        let out_started = self.out_started();
        self.drop_upstream(ctx, true);
        self.count_resp_error(ctx);
        if out_started {
            // Part of the response may have reached the client: all we can do is close.
            return Step::Close(Termination::new(Cause::ServerAbort, Stage::Data));
        }
        self.reply_error(
            ctx,
            502,
            Termination::new(Cause::ServerAbort, Stage::Headers),
        )
    }

    pub(super) fn out_started(&self) -> bool {
        match &self.phase {
            Phase::Exchange { ex, .. } => !matches!(ex.response, Response::Head),
            Phase::Head { .. }
            | Phase::WaitBody { .. }
            | Phase::TurnAround { .. }
            | Phase::Queued { .. }
            | Phase::Connecting { .. }
            | Phase::Reply { .. }
            | Phase::Tunnel { .. }
            | Phase::Gone => false,
        }
    }

    /// Ends the exchange once the request was fully sent and the response fully written.
    pub(super) fn maybe_finish(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Phase::Exchange { ex, up } = &mut self.phase else {
            return Ok(false);
        };
        let response_done = match &ex.response {
            Response::Done => true,
            Response::Body(b) => b.is_done() || (b.until_close() && up.eof),
            Response::Head => false,
        };
        if !response_done
            || ex.res_fwd > 0
            || self.client.out.is_some()
            || self.client.peer.sock.tls_pending()
        {
            return Ok(false);
        }
        self.client.uncork();
        let request_done = ex.req_body.is_done() && ex.req_fwd == 0;
        let head_done = self
            .txn
            .head_out
            .as_ref()
            .is_none_or(|h| ex.head_sent >= h.len());
        let (keep_client, keep_server) = (
            ex.keep_client && request_done && head_done,
            ex.keep_server && request_done && head_done,
        );
        let extra_server_bytes = up.res.as_ref().is_some_and(|b| !b.is_empty());
        let Phase::Exchange { up, .. } = std::mem::replace(&mut self.phase, Phase::Gone) else {
            return Ok(false);
        };
        // The server slot is held for the request only; the connection may outlive it.
        self.connector.release(ctx);
        self.log_request(ctx, Termination::NORMAL);
        if let Some(b) = self.txn.head_out.take() {
            ctx.pools.bufs.put(b);
        }
        ctx.debug_event(format_args!(
            "exchange done: keep client {keep_client}, keep server {keep_server}, server eof {:?}, extra {extra_server_bytes}",
            Some(up.eof)
        ));
        if keep_server && !up.eof && !extra_server_bytes {
            self.kept = Some(up);
        } else {
            self.close_upstream(ctx, up);
        }
        if !keep_client {
            // The server connection may still serve other clients.
            if let Some(up) = self.kept.take() {
                self.park(ctx, up);
            }
            return Err(Step::Close(Termination::NORMAL));
        }
        self.next_request(ctx);
        Ok(true)
    }

    /// Back to waiting for a request (`timeout http-keep-alive` while idle). A server
    /// connection kept from the last response goes to the shared pool unless `http-reuse never`.
    pub(super) fn next_request(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(up) = self.kept.take() {
            let never = ctx
                .shared
                .model
                .backend(up.backend)
                .is_none_or(|b| b.http_reuse == HttpReuse::Never);
            if never || up.private {
                self.kept = Some(up);
            } else {
                self.park(ctx, up);
            }
        }
        self.txn.next(ctx.now);
        let fe = ctx.frontend_timeouts(self.origin.frontend);
        let t = fe.http_keep_alive.or(fe.http_request).or(fe.client);
        self.phase = Phase::Head {
            deadline: t.map(|t| ctx.now + t),
            idle: true,
        };
        self.client.deadline = None;
        self.client.release_empty_req(ctx.pools);
    }

    /// Puts a healthy server connection into the reactor's idle pool (or closes it).
    pub(super) fn park(&mut self, ctx: &mut Ctx<'_>, mut up: Upstream) {
        release_res(ctx, &mut up);
        let server = ctx
            .shared
            .model
            .backend(up.backend)
            .and_then(|b| b.server(up.server));
        let (limit, delay) = server.map_or((Some(0), Duration::ZERO), |s| {
            (s.pool_max_conn, s.pool_purge_delay)
        });
        if !up.connected || up.eof || delay.is_zero() || up.private {
            ctx.debug_event(format_args!(
                "not parking: connected {} eof {} private {} delay {delay:?}",
                up.connected, up.eof, up.private
            ));
            self.close_upstream(ctx, up);
            return;
        }
        let Some(sconn) = self.sconn.take() else {
            up.peer.sock.deregister(ctx.registry);
            return;
        };
        let idle = IdleConn {
            sock: up.peer.sock,
            backend: up.backend,
            server: up.server,
            purge_at: ctx.now + delay,
            reused: up.reused,
        };
        let put = ctx
            .idle
            .put(ctx.registry, sconn, ctx.owner.key, idle, limit);
        ctx.debug_event(format_args!("parked server connection: {put:?}"));
        if let Some(owner) = put {
            ctx.timers.arm(ctx.now + delay, owner);
        }
    }

    /// Closes the server connection this stream holds (and its slot): the one of the phase —
    /// which then ends (`Gone`; the caller moves on to a reply, a retry or the close) — or the
    /// one kept from the last response.
    pub(super) fn drop_upstream(&mut self, ctx: &mut Ctx<'_>, release_slot: bool) {
        if let Some(up) = self.take_active() {
            self.close_upstream(ctx, up);
        }
        if let Some(up) = self.kept.take() {
            self.close_upstream(ctx, up);
        }
        if let Some(sconn) = self.sconn.take() {
            ctx.idle.release(sconn, ctx.owner.key);
        }
        if release_slot {
            self.connector.release(ctx);
        }
    }

    /// Takes the server connection out of the phase that holds one, ending that phase.
    pub(super) fn take_active(&mut self) -> Option<Upstream> {
        match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Connecting { up, .. }
            | Phase::Exchange { up, .. }
            | Phase::Tunnel { up, .. } => Some(up),
            other @ (Phase::Head { .. }
            | Phase::WaitBody { .. }
            | Phase::TurnAround { .. }
            | Phase::Queued { .. }
            | Phase::Reply { .. }
            | Phase::Gone) => {
                self.phase = other;
                None
            }
        }
    }
}

/// Gives the server connection's response buffer back to the pool.
fn release_res(ctx: &mut Ctx<'_>, up: &mut Upstream) {
    if let Some(b) = up.res.take() {
        ctx.pools.bufs.put(b);
    }
}
