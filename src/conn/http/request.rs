//! The request side: parsing and routing a head, rewriting it for the server, sending the
//! head and the body.

use std::io::{self, IoSlice};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::persist::LineOut;
use super::*;
use crate::balance;

use crate::model::RestrictHdrNames;
use crate::rules::{self, Verdict};

impl HttpConn {
    pub(super) fn try_head(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Some(buf) = self.client.req.as_ref() else {
            if self.client.eof {
                // The client closed between requests: a normal end.
                return Err(Step::Close(Termination::NORMAL));
            }
            return Ok(false);
        };
        if buf.is_empty() {
            if self.client.eof {
                return Err(Step::Close(Termination::NORMAL));
            }
            return Ok(false);
        }
        // Bytes of a pipelined request were read with the previous one.
        self.txn.marks.first_byte(ctx.now);
        if let Phase::Head { idle: true, .. } = self.phase {
            // First byte of a new request: `timeout http-request` starts now.
            let fe = ctx.frontend_timeouts(self.origin.frontend);
            let t = fe.http_request.or(fe.client);
            self.phase = Phase::Head {
                deadline: t.map(|t| ctx.now + t),
                idle: false,
            };
        }
        let limits = Limits {
            max_headers: ctx.shared.model.global.http_maxhdr as usize,
        };
        let full = buf.is_full();
        match parse_request(buf.pending(), &limits, full, &mut self.txn.head) {
            Ok(Parse::Partial) => {
                if self.client.eof {
                    // Closed in the middle of a head: nobody to answer (HAProxy's `CR`).
                    self.count_req_error(ctx);
                    return Err(Step::Close(Termination::new(
                        Cause::ClientAbort,
                        Stage::Request,
                    )));
                }
                Ok(false)
            }
            Ok(Parse::Complete) => {
                self.txn.marks.req_head = Some(ctx.now);
                self.requests += 1;
                if self.client.tls.is_none() {
                    self.note_tls(ctx);
                }
                if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
                    self.txn.req_counter = f.requests.fetch_add(1, Relaxed) + 1;
                }
                self.note_request(ctx);
                self.on_request(ctx).map(|()| true)
            }
            Err(e) => {
                self.count_req_error(ctx);
                let (fe, src) = (self.origin.frontend, Some(self.origin.src));
                crate::server::errors::capture_request(ctx.shared, fe, src, buf.pending());
                ctx.debug_event(format_args!("bad request: {}", e.reason));
                Err(self.reply_error(
                    ctx,
                    e.status,
                    Termination::new(Cause::Proxy, Stage::Request),
                ))
            }
        }
    }

    pub(super) fn count_req_error(&self, ctx: &Ctx<'_>) {
        if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
            f.req_errors.fetch_add(1, Relaxed);
        }
    }

    /// A complete head is in `req`: answer it locally, or route it and start the exchange.
    pub(super) fn on_request(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Step> {
        // Borrow the model through the shared reference, not through `ctx`, so replies (which
        // need `ctx` mutably) can be sent while rules are borrowed.
        let shared = ctx.shared;
        let model = &shared.model;
        let Some(fe) = model.frontend(self.origin.frontend) else {
            return Err(Step::Close(Termination::new(Cause::Proxy, Stage::Request)));
        };
        let keep = client_wants_keep_alive(self.txn.head.version, self.txn.head.conn)
            && conn_mode(fe.http.conn_mode, None) != ConnMode::Close;
        let view = request_view(
            &self.client.req,
            &self.txn.head,
            self.origin,
            self.client.tls.as_deref(),
        );
        if let Some(uri) = &fe.monitor_uri {
            if view.path() == uri.as_bytes() {
                // Monitor requests are never logged.
                self.txn.marks.pending = false;
                self.consume_head();
                self.count_intercepted(ctx);
                let close = !keep || self.request_has_body();
                return Err(self.reply(ctx, 200, close, Termination::NORMAL));
            }
        }
        // Frontend rules, then the backend choice, then the backend's own rules (a listen
        // section's rules all sit in its frontend half).
        self.txn.edits.clear();
        let verdict = rules::apply_request(&fe.rules.request, &view, &mut self.txn.edits);
        if let Some(step) = self.answer_verdict(ctx, verdict, keep) {
            return Err(step);
        }
        // The stats page comes after the proxy's `http-request` rules (a `deny` there
        // protects it, as in HAProxy) and skips the backend choice.
        if let Some(conf) = &fe.stats {
            if let Some(r) = self.stats_page(ctx, conf, &fe.name, keep) {
                return r;
            }
        }
        let view = request_view(
            &self.client.req,
            &self.txn.head,
            self.origin,
            self.client.tls.as_deref(),
        );
        let Some(backend) = fe.select_backend(&view).or_else(|| fe.backend()) else {
            return Err(self.reply_error(ctx, 503, Termination::new(Cause::Proxy, Stage::Request)));
        };
        let Some(be) = model.backend(backend) else {
            return Err(self.reply_error(ctx, 503, Termination::new(Cause::Proxy, Stage::Request)));
        };
        if fe.listen_backend != Some(backend) {
            let view = request_view(
                &self.client.req,
                &self.txn.head,
                self.origin,
                self.client.tls.as_deref(),
            );
            let verdict = rules::apply_request(&be.rules.request, &view, &mut self.txn.edits);
            if let Some(step) = self.answer_verdict(ctx, verdict, keep) {
                return Err(step);
            }
            if let Some(conf) = &be.stats {
                if let Some(r) = self.stats_page(ctx, conf, &be.name, keep) {
                    return r;
                }
            }
        }
        // `option http-restrict-req-hdr-names reject`, after the rules as in HAProxy.
        if restrict(fe.restrict_req_hdr_names, be.restrict_req_hdr_names)
            == RestrictHdrNames::Reject
            && self.has_restricted_name()
        {
            let step = self.answer_verdict(ctx, Verdict::Deny { status: 403 }, keep);
            return Err(step.unwrap_or(Step::Close(Termination::new(Cause::Proxy, Stage::Request))));
        }
        if self.body_wait(ctx, backend) {
            return Ok(());
        }
        let view = request_view(
            &self.client.req,
            &self.txn.head,
            self.origin,
            self.client.tls.as_deref(),
        );
        let key = PickKey {
            hash: balance::request_hash_with(&be.balance, be.hash_type.function, &view),
        };
        let mode = conn_mode(fe.http.conn_mode, be.http.conn_mode);
        let wants_tunnel = self.txn.head.conn.upgrade || self.txn.head.method == Method::Connect;
        // A process stopping (soft stop, reload) ends each connection after its response
        // (`connection: close`), as HAProxy without `close-spread-time`.
        let keep_client = mode != ConnMode::Close
            && client_wants_keep_alive(self.txn.head.version, self.txn.head.conn)
            && !self.closes_on_stop(ctx);
        let keep_server = mode == ConnMode::KeepAlive && !wants_tunnel;
        // Cookie persistence reads (and may rewrite) the `Cookie` lines before balancing.
        let direct = match ctx.shared.backend(backend) {
            Some(st) if be.cookie.is_some() => {
                let buf = self.client.pending();
                self.txn
                    .persist
                    .on_request(be, st, &self.txn.head.headers, buf)
            }
            _ => {
                self.txn.persist.req = None;
                None
            }
        };
        // Build the outgoing head now, while the parsed spans still point into `req`.
        if let Err(status) = self.write_request_head(ctx, backend, keep_server) {
            return Err(self.reply_error(
                ctx,
                status,
                Termination::new(Cause::Proxy, Stage::Request),
            ));
        }
        self.consume_head();
        // A request that may be replayed after it reached a server keeps its body until the
        // response head arrives (HAProxy's L7 retry buffer), whatever its method; whether the
        // copy is usable is decided at the first write (`send_request`).
        let keep_body =
            self.txn.head.framing != Framing::None && be.retries > 0 && be.retry_on.after_send();
        let exchange = Exchange {
            method: self.txn.head.method,
            req_body: BodyState::new(self.txn.head.framing),
            req_fwd: 0,
            head_sent: 0,
            response: Response::Head,
            res_fwd: 0,
            response_started: false,
            keep_client,
            keep_server,
            wants_tunnel,
            lost: (self.txn.head.framing != Framing::None && !keep_body).then_some(Lost::NotHeld),
            retried_reuse: false,
            req_kept: 0,
            keep_body,
            server_deadline: None,
        };
        self.connector.reset(ctx, backend, key);
        if let Some(b) = ctx.shared.backend(backend) {
            b.requests.fetch_add(1, Relaxed);
        }
        if let Some(s) = direct {
            self.connector.set_direct(ServerId::from_index(s));
        }
        self.txn.routed = true;
        self.client.deadline = ctx
            .frontend_timeouts(self.origin.frontend)
            .client
            .map(|t| ctx.now + t);
        self.start_server(ctx, exchange)
    }

    /// Starts waiting for the request body when `option http-buffer-request` (frontend or
    /// backend) or a `wait-for-body` rule asks for it and the body is not all there yet; an
    /// `Expect: 100-continue` is then answered here, as HAProxy does. True when the request is
    /// parked in `Phase::WaitBody`; it is routed again once the wait ends.
    fn body_wait(&mut self, ctx: &mut Ctx<'_>, backend: BackendId) -> bool {
        if self.txn.body_waited || self.txn.head.framing == Framing::None {
            return false;
        }
        let Some(wait) = self.wait_spec(ctx, backend) else {
            return false;
        };
        let (time, at_least) = wait;
        if self.body_ready(at_least) {
            return false;
        }
        if self.txn.head.expect_continue && self.client.out.is_none() {
            if let Some(mut out) = ctx.pools.bufs.get() {
                const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
                let spare = out.spare();
                if let Some(dst) = spare.get_mut(..CONTINUE.len()) {
                    dst.copy_from_slice(CONTINUE);
                    out.filled(CONTINUE.len());
                    self.txn.continue_sent = true;
                }
                self.client.out = Some(out);
            }
        }
        self.phase = Phase::WaitBody {
            deadline: time.map(|t| ctx.now + t),
            at_least,
        };
        true
    }

    /// A request header name outside `[A-Za-z0-9-]`.
    fn has_restricted_name(&self) -> bool {
        let buf = self.client.pending();
        self.txn
            .head
            .headers
            .iter()
            .any(|h| restricted_name(h.name.get(buf)))
    }

    /// How long and for how many body bytes the current request waits, if it does.
    fn wait_spec(&self, ctx: &Ctx<'_>, backend: BackendId) -> Option<(Option<Duration>, u64)> {
        let model = &ctx.shared.model;
        let fe = model.frontend(self.origin.frontend)?;
        let be = model.backend(backend)?;
        match self.txn.edits.wait_body() {
            Some((t, n)) => Some((Some(t), n)),
            None if fe.http.buffer_request || be.http.buffer_request => {
                let t = ctx.frontend_timeouts(self.origin.frontend);
                Some((t.http_request.or(t.client), 0))
            }
            None => None,
        }
    }

    /// Acts on a rule verdict: `None` to go on, or the step after answering the request.
    fn answer_verdict(
        &mut self,
        ctx: &mut Ctx<'_>,
        verdict: Verdict<'_>,
        keep: bool,
    ) -> Option<Step> {
        let denied = Termination::new(Cause::Proxy, Stage::Request);
        // A local answer leaves the request body unread: the connection closes after it, or
        // the body would be parsed as the next request (smuggling).
        let keep = keep && !self.request_has_body();
        match verdict {
            Verdict::Continue => None,
            Verdict::Deny { status } => {
                if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
                    f.denied.fetch_add(1, Relaxed);
                }
                self.consume_head();
                // Observed on HAProxy 2.6: these statuses keep a keep-alive client, others close.
                let keeps = matches!(status, 200 | 401 | 404 | 410 | 422 | 425 | 503);
                Some(self.reply(ctx, status, !(keep && keeps), denied))
            }
            Verdict::Return(spec) => {
                self.consume_head();
                Some(self.reply_return(ctx, spec, !keep))
            }
            Verdict::Redirect { code } => {
                self.consume_head();
                Some(self.reply_redirect(ctx, code, !keep))
            }
            Verdict::Service(rules::Service::PrometheusExporter) => {
                self.consume_head();
                self.count_intercepted(ctx);
                let bytes = crate::stats::prometheus::response(ctx.shared, !keep);
                Some(self.reply_owned(ctx, 200, bytes, !keep))
            }
        }
    }

    /// The stats page of `conf` (a frontend's or the routed backend's), when the request's
    /// URI starts with its `stats uri`. Admin POSTs need the whole body in the buffer (forms
    /// are small); a body still arriving is waited for like `http-buffer-request`.
    fn stats_page(
        &mut self,
        ctx: &mut Ctx<'_>,
        conf: &crate::model::StatsConf,
        proxy: &str,
        keep: bool,
    ) -> Option<Result<(), Step>> {
        let view = request_view(
            &self.client.req,
            &self.txn.head,
            self.origin,
            self.client.tls.as_deref(),
        );
        if !crate::stats::page::matches(conf, view.uri()) {
            return None;
        }
        let post = self.txn.head.method == Method::Post;
        let body_len = match self.txn.head.framing {
            Framing::Length(n) => usize::try_from(n).unwrap_or(usize::MAX),
            _ => 0,
        };
        let buf = self.client.pending();
        let body = buf
            .get(self.txn.head.len..)
            .map(|b| b.get(..body_len).unwrap_or(b))
            .unwrap_or_default();
        // HAProxy's forms are a few hundred bytes; a larger body is not waited for.
        const MAX_FORM: usize = 16 * 1024;
        if post && body.len() < body_len && body_len <= MAX_FORM && !self.txn.body_waited {
            let t = ctx.frontend_timeouts(self.origin.frontend);
            let t = t.http_request.or(t.client);
            self.phase = Phase::WaitBody {
                deadline: t.map(|t| ctx.now + t),
                at_least: body_len as u64,
            };
            return Some(Ok(()));
        }
        let admin = conf.admin.iter().any(|c| crate::acl::eval(c, &view));
        // A body not read whole (chunked, too large, or cut short) closes the connection after
        // the page, so no part of it is taken for the next request.
        let taken = body.len();
        let keep = keep && !matches!(self.txn.head.framing, Framing::Chunked) && taken >= body_len;
        let req = crate::stats::page::Request {
            uri: view.uri(),
            post,
            authorization: view.header(b"authorization"),
            admin,
            body,
            close: !keep,
            proxy,
        };
        self.count_intercepted(ctx);
        let (status, bytes) = crate::stats::page::respond(ctx.shared, conf, &req);
        self.consume_head();
        if let Some(b) = self.client.req.as_mut() {
            b.consume(taken.min(b.len()));
        }
        Some(Err(self.reply_owned(ctx, status, bytes, !keep)))
    }

    /// The client's TLS handshake is done (a request arrived over it): keeps what it agreed
    /// for `ssl_fc*` and counts the session (`ssl_sess`, `ssl_reused_sess`).
    fn note_tls(&mut self, ctx: &Ctx<'_>) {
        let Some(info) = self.client.peer.sock.tls_info() else {
            return;
        };
        if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
            f.ssl_sess.fetch_add(1, Relaxed);
            if info.resumed {
                f.ssl_reused.fetch_add(1, Relaxed);
            }
        }
        self.client.tls = Some(Box::new(info));
    }

    /// Whether the current request announces a body (chunked, or a non-zero length).
    pub(super) fn request_has_body(&self) -> bool {
        !matches!(self.txn.head.framing, Framing::None | Framing::Length(0))
    }

    /// Drops the parsed head from `req` (the body and any pipelined bytes stay).
    pub(super) fn consume_head(&mut self) {
        if let Some(b) = self.client.req.as_mut() {
            b.consume(self.txn.head.len.min(b.len()));
        }
    }

    /// Writes the request head for the server into `head_out`: request line, the client's
    /// headers minus hop-by-hop ones (names lowercased, as HAProxy 2.x sends them),
    /// `x-forwarded-for`/`x-original-to`, and the `connection` header the server side needs.
    pub(super) fn write_request_head(
        &mut self,
        ctx: &mut Ctx<'_>,
        backend: BackendId,
        keep_server: bool,
    ) -> Result<(), u16> {
        let model = &ctx.shared.model;
        let fe = model.frontend(self.origin.frontend).ok_or(500u16)?;
        let be = model.backend(backend).ok_or(500u16)?;
        let mut out = match self.txn.head_out.take() {
            Some(b) => b,
            None => ctx.pools.bufs.get().ok_or(500u16)?,
        };
        out.consume(out.len());
        let buf = self.client.pending();
        let head = &self.txn.head;
        let delete_restricted = restrict(fe.restrict_req_hdr_names, be.restrict_req_hdr_names)
            == RestrictHdrNames::Delete;
        let mut w = HeadWriter::new(out.spare());
        w.request_line(
            head.method_span.get(buf),
            head.target.get(buf),
            head.version,
        );
        let continue_sent = self.txn.continue_sent;
        let persist = &self.txn.persist;
        rewrite_headers(
            &mut w,
            buf,
            &head.headers,
            Hops::Strip {
                keep_upgrade: head.conn.upgrade,
            },
            &self.txn.edits,
            |idx, name| {
                if (continue_sent && name.eq_ignore_ascii_case(b"expect"))
                    || (delete_restricted && restricted_name(name))
                {
                    LineOut::Drop // `expect` was answered here
                } else {
                    persist.request_line(idx)
                }
            },
        );
        let mut lower = [0u8; 256];
        if let (Some(name), false) = (fe.unique_id_header.as_ref(), self.txn.uid.is_empty()) {
            w.header(lowercase(name.as_bytes(), &mut lower), &self.txn.uid);
        }
        let mut text = [0u8; 64];
        for fwd in [fe.http.forwardfor.as_ref(), be.http.forwardfor.as_ref()]
            .into_iter()
            .flatten()
            .take(1)
        {
            if self.forward_header_applies(fwd, buf) {
                let ip = ip_text(self.origin.src.ip(), &mut text);
                w.header(lowercase(fwd.header.as_bytes(), &mut lower), ip);
            }
        }
        for fwd in [fe.http.originalto.as_ref(), be.http.originalto.as_ref()]
            .into_iter()
            .flatten()
            .take(1)
        {
            if self.forward_header_applies(fwd, buf) {
                let ip = ip_text(self.origin.dst.ip(), &mut text);
                w.header(lowercase(fwd.header.as_bytes(), &mut lower), ip);
            }
        }
        if head.conn.upgrade {
            w.header(b"connection", b"upgrade");
        } else if !keep_server {
            w.header(b"connection", b"close");
        } else if head.version == Version::Http10 {
            w.header(b"connection", b"keep-alive");
        }
        match w.finish() {
            Some(n) => {
                out.filled(n);
                self.txn.head_out = Some(out);
                Ok(())
            }
            None => {
                ctx.pools.bufs.put(out);
                Err(500)
            }
        }
    }

    pub(super) fn forward_header_applies(&self, fwd: &ForwardHeader, buf: &[u8]) -> bool {
        if fwd
            .except
            .is_some_and(|net| in_network(self.origin.src.ip(), net))
        {
            return false;
        }
        if fwd.if_none {
            let name = fwd.header.as_bytes();
            let present = self
                .txn
                .head
                .headers
                .iter()
                .any(|h| h.name.get(buf).eq_ignore_ascii_case(name));
            return !present;
        }
        true
    }

    pub(super) fn send_request(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Phase::Exchange { ex, up } = &mut self.phase else {
            return Ok(false);
        };
        // A body kept for a replay that outgrows the buffer would stall reading: send on
        // without the copy (such a request can no longer be retried, as in HAProxy).
        if ex.keep_body
            && !ex.req_body.is_done()
            && self.client.req.as_ref().is_some_and(|b| b.is_full())
        {
            ex.lost = Some(Lost::TooLarge);
            release_kept(ex, self.client.req.as_mut());
            ctx.debug_event(format_args!("request body larger than a buffer: no retry"));
        }
        // Validate newly arrived body bytes.
        if !ex.req_body.is_done() {
            if let Some(req) = self.client.req.as_ref() {
                let fresh = req.pending().get(ex.req_kept + ex.req_fwd..).unwrap_or(&[]);
                if !fresh.is_empty() {
                    match ex.req_body.advance(fresh) {
                        Ok(n) => ex.req_fwd += n,
                        Err(e) => {
                            let started = ex.response_started;
                            return Err(self.bad_request_body(ctx, e, started));
                        }
                    }
                }
            }
        }
        let head_rem = self
            .txn
            .head_out
            .as_ref()
            .map_or(&[][..], |h| h.pending().get(ex.head_sent..).unwrap_or(&[]));
        let body = self.client.req.as_ref().map_or(&[][..], |b| {
            b.pending()
                .get(ex.req_kept..ex.req_kept + ex.req_fwd)
                .unwrap_or(&[])
        });
        let pre = up.proxy.as_ref().map_or(&[][..], |l| l.pending());
        if (pre.is_empty() && head_rem.is_empty() && body.is_empty())
            || !up.peer.ready.writable
            || up.eof
        {
            return Ok(false);
        }
        // The first write: HAProxy copies the request for a replay (its L7 retry buffer) when
        // it first sends it, so only a request then held whole, within a buffer, is replayed.
        if ex.keep_body && ex.head_sent == 0 {
            let head = self.txn.head_out.as_ref().map_or(&[][..], |h| h.pending());
            let lost = if !ex.req_body.is_done() {
                Some(Lost::Streamed)
            } else if htx_size(head, ex.req_fwd) > replay_room(ctx.shared.model.global.bufsize) {
                Some(Lost::TooLarge)
            } else {
                None
            };
            if let Some(why) = lost {
                ex.lost = Some(why);
                release_kept(ex, self.client.req.as_mut());
                ctx.debug_event(format_args!("no retry possible: {}", why.why()));
                // `body` borrowed `req`: sent on the next call, after this decision.
                return Ok(true);
            }
        }
        let res = if !pre.is_empty() {
            // A new `send-proxy` connection: its PROXY header leaves first, in the same
            // write as the head.
            up.peer.sock.write_vectored(&[
                IoSlice::new(pre),
                IoSlice::new(head_rem),
                IoSlice::new(body),
            ])
        } else if head_rem.is_empty() {
            up.peer.sock.write(body)
        } else {
            up.peer
                .sock
                .write_vectored(&[IoSlice::new(head_rem), IoSlice::new(body)])
        };
        match res {
            Ok(written) => {
                let n = match up.proxy.as_mut() {
                    Some(line) => {
                        let used = line.consume(written);
                        if line.is_sent() {
                            up.proxy = None;
                        }
                        written - used
                    }
                    None => written,
                };
                let from_head = n.min(head_rem.len());
                ex.head_sent += from_head;
                let from_body = n - from_head;
                if from_body > 0 {
                    ex.req_fwd -= from_body.min(ex.req_fwd);
                    if ex.keep_body {
                        ex.req_kept += from_body;
                    } else {
                        if let Some(b) = self.client.req.as_mut() {
                            b.consume(from_body);
                        }
                        // Body bytes left the buffer: this request can no longer be replayed.
                        ex.lost.get_or_insert(Lost::NotHeld);
                    }
                }
                ex.server_deadline = server_deadline(ctx, self.connector.backend);
                self.touch_client(ctx);
                Ok(written > 0)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                up.peer.ready.writable = false;
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(self.server_failed(ctx, Some(e))),
        }
    }

    pub(super) fn bad_request_body(
        &mut self,
        ctx: &mut Ctx<'_>,
        e: HttpError,
        response_started: bool,
    ) -> Step {
        self.count_req_error(ctx);
        ctx.debug_event(format_args!("bad request body: {}", e.reason));
        self.drop_upstream(ctx, true);
        if response_started {
            return Step::Close(Termination::new(Cause::Proxy, Stage::Data));
        }
        self.reply_error(ctx, 400, Termination::new(Cause::Proxy, Stage::Data))
    }
}

/// The request as ACLs and rules see it: the parsed head over the client buffer. Takes the
/// fields, not `&self`, so the connection's other fields stay free for the caller.
fn request_view<'a>(
    req: &'a Option<Buffer>,
    head: &'a RequestHead,
    origin: Origin,
    tls: Option<&'a crate::tls::TlsInfo>,
) -> ReqView<'a> {
    let buf = req.as_ref().map_or(&[][..], |b| b.pending());
    ReqView {
        buf,
        head,
        src: origin.src,
        dst: origin.dst,
        tls,
    }
}

/// A header name with a character outside `[A-Za-z0-9-]` (`option http-restrict-req-hdr-names`).
fn restricted_name(name: &[u8]) -> bool {
    name.iter()
        .any(|&c| !(c.is_ascii_alphanumeric() || c == b'-'))
}

/// The stricter of the frontend's and the backend's `http-restrict-req-hdr-names` policies.
fn restrict(fe: RestrictHdrNames, be: RestrictHdrNames) -> RestrictHdrNames {
    use RestrictHdrNames::*;
    match (fe, be) {
        (Reject, _) | (_, Reject) => Reject,
        (Delete, _) | (_, Delete) => Delete,
        _ => Preserve,
    }
}

/// Room for a request HAProxy 2.6 can replay: its L7 retry buffer is a copy of the request
/// channel's buffer, whose input may fill `tune.bufsize` minus `tune.maxrewrite` (1024 by
/// default, at most half the buffer).
pub(super) fn replay_room(bufsize: u32) -> usize {
    let bufsize = bufsize as usize;
    bufsize.saturating_sub(MAXREWRITE.min(bufsize / 2))
}

/// HAProxy's default `tune.maxrewrite`.
const MAXREWRITE: usize = 1024;

/// What a request of `head` (as sent) and `body` bytes takes in HAProxy's buffer (HTX): its
/// bytes, 4 more per header line (an 8-byte block header instead of `: ` and CRLF) and 87 for
/// the start line, end of headers and data blocks. Recorded with haproxy 2.6.12
/// (`tune.bufsize` 16384, so 15360 of room), bisected to the byte: `POST /n15208` with
/// `host` and `content-length` (a 57-byte head as sent, with or without the client's
/// `connection: close`, which HAProxy's HTX does not keep either) replays a 15,208-byte body
/// and not 15,209; with 3 more 8-byte headers, 15,172 and not 15,173.
pub(super) fn htx_size(head: &[u8], body: usize) -> usize {
    let lines = head.iter().filter(|&&b| b == b'\n').count();
    // The request line and the empty line end the head; the rest are headers.
    let headers = lines.saturating_sub(2);
    head.len() + 4 * headers + HTX_FIXED + body
}

/// HTX's fixed cost for a request (see [`htx_size`]).
const HTX_FIXED: usize = 87;

/// Drops the body bytes an exchange kept for a replay (its response arrived, or the body
/// outgrew the buffer): they leave `req`, later bytes are no longer kept, and the request can
/// no longer be replayed.
pub(super) fn release_kept(ex: &mut Exchange, req: Option<&mut Buffer>) {
    if ex.req_kept > 0 {
        if let Some(b) = req {
            b.consume(ex.req_kept);
        }
        ex.req_kept = 0;
    }
    ex.keep_body = false;
    ex.lost.get_or_insert(Lost::NotHeld);
}
