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
        if let Some(up) = self.up.take() {
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
            .backends
            .get(backend.0 as usize)
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
                    sock: idle.sock,
                    // A reused socket may have become writable long ago: assume it still is.
                    ready: Readiness {
                        writable: true,
                        ..Readiness::default()
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
        self.phase = Phase::Connecting {
            deadline: None,
            exchange,
        };
        match self.connect_current(ctx) {
            Step::Continue => Ok(()),
            step => Err(step),
        }
    }

    /// Starts sending on a reused (or kept) connection; its slot (`self.sconn`) is this stream's
    /// already, so its events come here.
    pub(super) fn attach(&mut self, ctx: &mut Ctx<'_>, mut up: Upstream, exchange: Exchange) {
        // The server may have closed it while idle: a failure before the response is replayed.
        up.reused = true;
        self.connector.mark_connected(ctx.now);
        // A reused socket may have become writable long ago: assume it still is.
        up.ready.writable = true;
        self.up = Some(up);
        self.touch_server(ctx);
        self.phase = Phase::Exchange(exchange);
    }

    /// Opens a new connection for the current exchange (first try, or after a turn-around).
    pub(super) fn connect_current(&mut self, ctx: &mut Ctx<'_>) -> Step {
        let token = self.server_token(ctx);
        let outcome = self.connector.connect(ctx, token);
        self.settle(ctx, outcome)
    }

    /// The poll token of this stream's new server connection: its slot, reserved on first use
    /// and kept across connect retries, with a generation of its own for each socket (the
    /// previous one is deregistered already), so a stale event of the failed socket is
    /// dropped.
    fn server_token(&mut self, ctx: &mut Ctx<'_>) -> mio::Token {
        debug_assert!(self.up.is_none(), "a new server socket while one is open");
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
    fn close_upstream(&mut self, ctx: &mut Ctx<'_>, mut up: Upstream) {
        self.release_res(ctx, &mut up);
        up.sock.deregister(ctx.registry);
        if let Some(sconn) = self.sconn.take() {
            ctx.idle.release(sconn, ctx.owner.key);
        }
    }

    pub(super) fn settle(&mut self, ctx: &mut Ctx<'_>, outcome: Outcome) -> Step {
        let exchange = match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Connecting { exchange, .. }
            | Phase::TurnAround { exchange, .. }
            | Phase::Queued { exchange, .. }
            | Phase::Exchange(exchange) => exchange,
            other => {
                self.phase = other;
                return Step::Continue;
            }
        };
        match outcome {
            Outcome::Pending { sock, deadline } => {
                let (backend, server) = (
                    self.connector.backend,
                    self.connector.server().unwrap_or(ServerId(0)),
                );
                let proxy = self
                    .connector
                    .send_proxy(ctx)
                    .map(|v| crate::proxyproto::Line::build(v, self.origin.proxy_addrs()));
                self.up = Some(Upstream {
                    sock,
                    ready: Readiness::default(),
                    backend,
                    server,
                    connected: false,
                    reused: false,
                    res: None,
                    eof: false,
                    private: proxy.is_some(),
                    proxy,
                });
                self.phase = Phase::Connecting { deadline, exchange };
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
            Outcome::Failed(t) => {
                self.phase = Phase::Exchange(exchange);
                self.reply_error(ctx, 503, t)
            }
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
        let Some(up) = self.up.as_mut() else {
            return Ok(false);
        };
        if up.ready.error {
            return Err(self.connect_failed(ctx, Failure::Error));
        }
        if !up.ready.writable {
            return Ok(false);
        }
        up.connected = true;
        self.connector.observe(ctx, Seen::L4Ok);
        self.connector.mark_connected(ctx.now);
        if let Phase::Connecting { exchange, .. } = std::mem::replace(&mut self.phase, Phase::Gone)
        {
            self.phase = Phase::Exchange(exchange);
        }
        self.touch_server(ctx);
        Ok(true)
    }

    pub(super) fn connect_failed(&mut self, ctx: &mut Ctx<'_>, failure: Failure) -> Step {
        if let Some(mut up) = self.up.take() {
            up.sock.deregister(ctx.registry);
            self.release_res(ctx, &mut up);
        }
        let token = self.server_token(ctx);
        let outcome = self.connector.failed(ctx, failure, token);
        self.settle(ctx, outcome)
    }

    pub(super) fn release_res(&mut self, ctx: &mut Ctx<'_>, up: &mut Upstream) {
        if let Some(b) = up.res.take() {
            ctx.pools.bufs.put(b);
        }
    }

    /// Writes the request head, then validated body bytes, to the server.
    /// Reads from the server into its buffer.
    pub(super) fn read_server(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Some(up) = self.up.as_mut() else {
            return Ok(false);
        };
        if !up.ready.readable || up.eof {
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
        match up.sock.read(spare) {
            Ok(0) => {
                up.eof = true;
                uncork(&self.client, &mut self.corked);
                Ok(true)
            }
            Ok(n) => {
                buf.filled(n);
                up.ready.after_read(n, room);
                if let Phase::Exchange(ex) = &mut self.phase {
                    ex.response_started = true;
                }
                self.touch_server(ctx);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                up.ready.readable = false;
                // The body paused after a write sent with `MSG_MORE`: release it now.
                uncork(&self.client, &mut self.corked);
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
        let Phase::Exchange(ex) = &mut self.phase else {
            return Step::Close(Termination::new(Cause::ServerAbort, Stage::Data));
        };
        let reused = self.up.as_ref().is_some_and(|u| u.reused);
        if !ex.response_started && reused && ex.replayable && !ex.retried_reuse {
            ex.retried_reuse = true;
            ex.head_sent = 0;
            self.drop_upstream(ctx, false);
            if let Phase::Exchange(ex) = std::mem::replace(&mut self.phase, Phase::Gone) {
                self.phase = Phase::Connecting {
                    deadline: None,
                    exchange: ex,
                };
            }
            return self.connect_current(ctx);
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
        self.drop_upstream(ctx, true);
        if let Some(be) = ctx.shared.backend(self.connector.backend) {
            be.resp_errors.fetch_add(1, Relaxed);
        }
        if self.out_started() {
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
            Phase::Exchange(ex) => !matches!(ex.response, Response::Head),
            _ => false,
        }
    }

    /// Ends the exchange once the request was fully sent and the response fully written.
    pub(super) fn maybe_finish(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Phase::Exchange(ex) = &mut self.phase else {
            return Ok(false);
        };
        let response_done = match &ex.response {
            Response::Done => true,
            Response::Body(b) => {
                b.is_done() || (b.until_close() && self.up.as_ref().is_some_and(|u| u.eof))
            }
            Response::Head => false,
        };
        if !response_done || ex.res_fwd > 0 || self.out.is_some() || self.client.tls_pending() {
            return Ok(false);
        }
        uncork(&self.client, &mut self.corked);
        let request_done = ex.req_body.is_done() && ex.req_fwd == 0;
        let head_done = self
            .head_out
            .as_ref()
            .is_none_or(|h| ex.head_sent >= h.len());
        let (keep_client, keep_server) = (
            ex.keep_client && request_done && head_done,
            ex.keep_server && request_done && head_done,
        );
        // The server slot is held for the request only; the connection may outlive it.
        self.connector.release(ctx);
        self.log_request(ctx, Termination::NORMAL);
        if let Some(b) = self.head_out.take() {
            ctx.pools.bufs.put(b);
        }
        let extra_server_bytes = self
            .up
            .as_ref()
            .and_then(|u| u.res.as_ref())
            .is_some_and(|b| !b.is_empty());
        ctx.debug_event(format_args!(
            "exchange done: keep client {keep_client}, keep server {keep_server}, server eof {:?}, extra {extra_server_bytes}",
            self.up.as_ref().map(|u| u.eof)
        ));
        match self.up.take() {
            Some(up) if keep_server && !up.eof && !extra_server_bytes => self.up = Some(up),
            Some(up) => self.close_upstream(ctx, up),
            None => {}
        }
        if !keep_client {
            // The server connection may still serve other clients.
            if let Some(up) = self.up.take() {
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
        if let Some(up) = self.up.take() {
            let never = ctx
                .shared
                .model
                .backends
                .get(up.backend.0 as usize)
                .is_none_or(|b| b.http_reuse == HttpReuse::Never);
            if never || up.private {
                self.up = Some(up);
            } else {
                self.park(ctx, up);
            }
        }
        self.body_waited = false;
        self.continue_sent = false;
        self.routed = false;
        self.marks.next(ctx.now);
        self.req_line.clear();
        self.uid.clear();
        self.cap_req.iter_mut().for_each(Vec::clear);
        self.cap_res.iter_mut().for_each(Vec::clear);
        let fe = ctx.frontend_timeouts(self.origin.frontend);
        let t = fe.http_keep_alive.or(fe.http_request).or(fe.client);
        self.phase = Phase::Head {
            deadline: t.map(|t| ctx.now + t),
            idle: true,
        };
        self.client_deadline = None;
        self.server_deadline = None;
        self.release_empty_req(ctx);
    }

    /// Puts a healthy server connection into the reactor's idle pool (or closes it).
    pub(super) fn park(&mut self, ctx: &mut Ctx<'_>, mut up: Upstream) {
        self.release_res(ctx, &mut up);
        let server = ctx
            .shared
            .model
            .backends
            .get(up.backend.0 as usize)
            .and_then(|b| b.servers.get(up.server.0 as usize));
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
            up.sock.deregister(ctx.registry);
            return;
        };
        let idle = IdleConn {
            sock: up.sock,
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

    /// Closes the server connection of the current exchange (and its slot).
    pub(super) fn drop_upstream(&mut self, ctx: &mut Ctx<'_>, release_slot: bool) {
        if let Some(up) = self.up.take() {
            self.close_upstream(ctx, up);
        }
        if let Some(sconn) = self.sconn.take() {
            ctx.idle.release(sconn, ctx.owner.key);
        }
        if release_slot {
            self.connector.release(ctx);
        }
    }
}
