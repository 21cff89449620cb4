//! The response side: parsing and rewriting the head (interim responses included), forwarding
//! the body, and switching to a tunnel after a 101 or a CONNECT.
use std::io;
use std::sync::atomic::Ordering::Relaxed;

use super::retry::Late;
use super::*;
use crate::acl::RespView;
use crate::status::Seen;

use crate::rules::{self, Verdict};
use crate::server::SharedState;

impl HttpConn {
    /// Parses response heads and validates body bytes as they arrive.
    pub(super) fn on_response_bytes(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        let Phase::Exchange { ex, up } = &mut self.phase else {
            return Ok(false);
        };
        match &mut ex.response {
            Response::Head => {
                let Some(res) = up.res.as_ref() else {
                    if up.eof {
                        return Err(self.server_failed(ctx, None));
                    }
                    return Ok(false);
                };
                if self.client.out.is_some() {
                    return Ok(false); // an interim response is still being written
                }
                let limits = Limits {
                    max_headers: ctx.shared.model.global.http_maxhdr as usize,
                };
                match parse_response(
                    res.pending(),
                    &limits,
                    ex.method,
                    res.is_full(),
                    &mut self.txn.rhead,
                ) {
                    Ok(Parse::Partial) => {
                        if up.eof {
                            return Err(self.server_failed(ctx, None));
                        }
                        Ok(false)
                    }
                    Ok(Parse::Complete) => {
                        self.on_response_head(ctx)?;
                        // Validate the body bytes that came with the head now, so the head and
                        // they leave in one write.
                        if let Phase::Exchange {
                            ex:
                                Exchange {
                                    response: Response::Body(_),
                                    ..
                                },
                            ..
                        } = &self.phase
                        {
                            self.on_response_bytes(ctx)?;
                        }
                        Ok(true)
                    }
                    Err(e) => {
                        let held = self.connector.held().map(|(_, s)| s);
                        crate::server::errors::capture_response(
                            ctx.shared,
                            self.connector.backend,
                            held,
                            self.origin.frontend,
                            Some(self.origin.src),
                            res.pending(),
                        );
                        ctx.debug_event(format_args!("bad response: {}", e.reason));
                        self.connector.observe(ctx, Seen::HttpHdrRsp);
                        if let Some(step) = self.retry_late(ctx, Late::Junk) {
                            return Err(step);
                        }
                        self.count_resp_error(ctx);
                        self.drop_upstream(ctx, true);
                        Err(self.reply_error(ctx, 502, Termination::new(Cause::Proxy, Stage::Data)))
                    }
                }
            }
            Response::Body(body) => {
                let Some(res) = up.res.as_ref() else {
                    if up.eof && !body.is_done() {
                        if body.until_close() {
                            ex.response = Response::Done;
                            ex.keep_server = false;
                            return Ok(true);
                        }
                        // Truncated body: the client connection cannot continue.
                        self.count_resp_error(ctx);
                        return Err(Step::Close(Termination::new(
                            Cause::ServerAbort,
                            Stage::Data,
                        )));
                    }
                    return Ok(false);
                };
                if body.is_done() {
                    return Ok(false);
                }
                let fresh = res.pending().get(ex.res_fwd..).unwrap_or(&[]);
                if fresh.is_empty() {
                    if up.eof {
                        if body.until_close() {
                            ex.keep_server = false;
                            // The end of stream ends the body; nothing more to validate.
                            return Ok(false);
                        }
                        // Truncated body, as above.
                        self.count_resp_error(ctx);
                        return Err(Step::Close(Termination::new(
                            Cause::ServerAbort,
                            Stage::Data,
                        )));
                    }
                    return Ok(false);
                }
                match body.advance(fresh) {
                    Ok(n) => {
                        ex.res_fwd += n;
                        Ok(n > 0)
                    }
                    Err(e) => {
                        ctx.debug_event(format_args!("bad response body: {}", e.reason));
                        self.count_resp_error(ctx);
                        Err(Step::Close(Termination::new(
                            Cause::ServerAbort,
                            Stage::Data,
                        )))
                    }
                }
            }
            Response::Done => Ok(false),
        }
    }

    /// A complete response head is in the server buffer: interim responses are forwarded and
    /// waited past; a final one is rewritten for the client.
    pub(super) fn on_response_head(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Step> {
        let status = self.txn.rhead.status;
        let interim = (100..200).contains(&status) && status != 101;
        if !interim {
            self.txn.marks.res_head = Some(ctx.now);
            self.txn.marks.status = i64::from(status);
            let fe = ctx.shared.model.frontend(self.origin.frontend);
            if let (Some(fe), Phase::Exchange { up, .. }) = (fe, &self.phase) {
                if !fe.captures.is_empty() {
                    let buf = up.res.as_ref().map_or(&[][..], |b| b.pending());
                    super::capture(
                        &fe.captures,
                        crate::model::CaptureDir::Response,
                        &self.txn.rhead.headers,
                        buf,
                        &mut self.txn.cap_res,
                    );
                }
            }
            self.connector.observe(ctx, Seen::of_status(status));
            // `retry-on <status>`: this answer is dropped (not counted) and the request sent
            // again.
            if let Some(step) = self.retry_late(ctx, Late::Status(status)) {
                return Err(step);
            }
            self.release_replay_copy();
        }
        if let Some(be) = ctx.shared.backend(self.connector.backend) {
            let class = usize::from(status / 100).saturating_sub(1).min(5);
            if let Some(c) = be.http_responses.get(class) {
                c.fetch_add(1, Relaxed);
            }
            let srv = self.connector.server();
            if let Some(c) = srv
                .and_then(|s| be.server(s))
                .and_then(|s| s.http_responses.get(class))
            {
                c.fetch_add(1, Relaxed);
            }
        }
        let stop_close = self.closes_on_stop(ctx);
        let Phase::Exchange { ex, up } = &mut self.phase else {
            return Ok(());
        };
        let tunnel = ex.wants_tunnel
            && (status == 101 || (ex.method == Method::Connect && (200..300).contains(&status)));
        // A soft stop that came while the request was in flight still closes after this
        // response, announced in its head.
        let keep_client = ex.keep_client
            && !interim
            && self.txn.rhead.framing != Framing::UntilClose
            && !tunnel
            && !stop_close;
        // http-response rules (backend's, then frontend's), then http-after-response.
        self.txn.edits.clear();
        let denied = !interim
            && !tunnel
            && response_rules(
                ctx.shared,
                self.origin,
                self.connector.backend,
                self.txn.head_out.as_ref(),
                &mut self.txn.head,
                &self.txn.rhead,
                up.res.as_ref().map_or(&[][..], |b| b.pending()),
                &mut self.txn.edits,
            );
        if denied {
            if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
                f.denied.fetch_add(1, Relaxed);
            }
            self.drop_upstream(ctx, true);
            return Err(self.reply_error(ctx, 502, Termination::new(Cause::Proxy, Stage::Headers)));
        }
        if !interim {
            ex.keep_client = keep_client;
            if self.txn.rhead.conn.close
                || self.txn.rhead.framing == Framing::UntilClose
                || self.txn.rhead.version == Version::Http10 && !self.txn.rhead.conn.keep_alive
            {
                ex.keep_server = false;
            }
            // The request is answered: the copy kept for a replay is no longer needed.
            if let Some(b) = self.txn.head_out.take() {
                if ex.head_sent >= b.len() {
                    ctx.pools.bufs.put(b);
                } else {
                    self.txn.head_out = Some(b);
                }
            }
        }
        let Some(res) = up.res.as_ref() else {
            return Ok(());
        };
        let src = res.pending();
        if self.txn.persist.req.is_some() {
            let be = ctx.shared.model.backend(self.connector.backend);
            let cookie = be
                .and_then(|b| b.server(up.server))
                .and_then(|s| s.cookie.as_deref())
                .map(str::as_bytes);
            self.txn.persist.on_response(
                be.and_then(|b| b.cookie.as_ref()),
                cookie,
                self.connector.is_direct(),
                ex.method,
                &self.txn.rhead,
                src,
            );
        }
        let mut out = match self.client.out.take() {
            Some(b) => b,
            None => match ctx.pools.bufs.get() {
                Some(b) => b,
                None => {
                    ctx.starved.push_back(ctx.owner);
                    return Ok(());
                }
            },
        };
        let mut w = HeadWriter::new(out.spare());
        w.status_line(
            self.txn.rhead.version,
            status,
            self.txn.rhead.reason.get(src),
        );
        let persist = &self.txn.persist;
        rewrite_headers(
            &mut w,
            src,
            &self.txn.rhead.headers,
            Hops::Strip {
                keep_upgrade: tunnel,
            },
            &self.txn.edits,
            |idx, _| persist.response_line(idx),
        );
        for (name, value) in self.txn.persist.response_additions() {
            w.header(name, value);
        }
        if tunnel && status == 101 {
            w.header(b"connection", b"upgrade");
        } else if !interim {
            // Say it only where a version implies otherwise (HAProxy does the same: a 1.0
            // response or a 1.0 client kept alive gets `connection: keep-alive`).
            if !keep_client && self.txn.rhead.version == Version::Http11 {
                w.header(b"connection", b"close");
            } else if keep_client
                && (self.txn.rhead.version == Version::Http10
                    || self.txn.head.version == Version::Http10)
            {
                // An HTTP/1.0 client needs to be told too.
                w.header(b"connection", b"keep-alive");
            }
        }
        let Some(n) = w.finish() else {
            ctx.pools.bufs.put(out);
            self.drop_upstream(ctx, true);
            return Err(self.reply_error(ctx, 502, Termination::new(Cause::Proxy, Stage::Data)));
        };
        out.filled(n);
        self.client.out = Some(out);
        // The client gets this status (a denied or unwritable response became a 502 above,
        // counted by the local reply).
        if !interim {
            if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
                f.count_status(status);
            }
        }
        let head_len = self.txn.rhead.len;
        if let Some(res) = up.res.as_mut() {
            res.consume(head_len.min(res.len()));
        }
        if interim {
            // Wait for the final response (the next head in the buffer).
            return Ok(());
        }
        if tunnel {
            return self.start_tunnel(ctx);
        }
        ex.response = Response::Body(BodyState::new(self.txn.rhead.framing));
        Ok(())
    }

    /// After a 101 (or a 2xx to CONNECT): bytes already buffered on either side are handed to the
    /// pumps, which then forward raw bytes both ways (`timeout tunnel`).
    pub(super) fn start_tunnel(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Step> {
        let Phase::Exchange { up, .. } = &mut self.phase else {
            return Ok(());
        };
        // The response head (in `out`) goes first: put it in front of any server bytes.
        // Splicing moves raw socket bytes: never with TLS on either side.
        let via = if matches!(self.client.peer.sock, Sock::Tls(_))
            || matches!(up.peer.sock, Sock::Tls(_))
        {
            Via::Copy
        } else {
            Via::Auto
        };
        let mut res_pump = Pump::new(via);
        let mut req_pump = Pump::new(via);
        let out = self.client.out.take();
        let server_bytes = up.res.take();
        match (out, server_bytes) {
            (Some(mut o), Some(s)) => {
                let room = o.spare();
                let take = s.pending().len().min(room.len());
                if let (Some(dst), Some(src)) = (room.get_mut(..take), s.pending().get(..take)) {
                    dst.copy_from_slice(src);
                }
                o.filled(take);
                if take < s.len() {
                    // Cannot happen with equal buffer sizes unless the server sent a huge burst
                    // with its 101; refuse rather than reorder bytes.
                    ctx.pools.bufs.put(s);
                    ctx.pools.bufs.put(o);
                    return Err(Step::Close(Termination::new(Cause::Proxy, Stage::Data)));
                }
                ctx.pools.bufs.put(s);
                res_pump = Pump::with_buffer(via, o);
            }
            (Some(o), None) => res_pump = Pump::with_buffer(via, o),
            (None, Some(s)) => res_pump = Pump::with_buffer(via, s),
            (None, None) => {}
        }
        if let Some(r) = self.client.req.take() {
            if r.is_empty() {
                ctx.pools.bufs.put(r);
            } else {
                req_pump = Pump::with_buffer(via, r);
            }
        }
        if self.client.eof {
            req_pump.eof = true;
        }
        if up.eof {
            res_pump.eof = true;
        }
        if let Some(b) = self.txn.head_out.take() {
            ctx.pools.bufs.put(b);
        }
        let mut duplex = Duplex::with_pumps(req_pump, res_pump);
        let fe_t = ctx.frontend_timeouts(self.origin.frontend);
        let be_t = ctx.backend_timeouts(self.connector.backend);
        duplex.touch((&fe_t, &be_t), ctx.now, true, true);
        if let Phase::Exchange { up, .. } = std::mem::replace(&mut self.phase, Phase::Gone) {
            self.phase = Phase::Tunnel {
                duplex: Box::new(duplex),
                up,
            };
        }
        Ok(())
    }

    pub(super) fn run_tunnel(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Step> {
        let Phase::Tunnel { duplex, up } = &mut self.phase else {
            return Ok(());
        };
        let fe_t = ctx.frontend_timeouts(self.origin.frontend);
        let be_t = ctx.backend_timeouts(self.connector.backend);
        match duplex.run(
            &mut self.client.peer,
            &mut up.peer,
            ctx.pools,
            (&fe_t, &be_t),
            ctx.now,
        ) {
            Ok(Progress::Done) => Err(Step::Close(Termination::NORMAL)),
            Ok(Progress::Open { more, starved }) => {
                if starved {
                    ctx.starved.push_back(ctx.owner);
                } else if more {
                    ctx.runnable.push(ctx.owner);
                }
                Ok(())
            }
            Err((t, e)) => {
                ctx.debug_event(format_args!("tunnel aborted: {e}"));
                Err(Step::Close(t))
            }
        }
    }

    /// Writes validated response body bytes to the client (after `out`).
    pub(super) fn send_response_body(&mut self, ctx: &mut Ctx<'_>) -> Result<bool, Step> {
        if !self.client.peer.ready.writable {
            return Ok(false);
        }
        let Phase::Exchange { ex, up } = &mut self.phase else {
            return Ok(false);
        };
        if ex.res_fwd == 0 {
            return Ok(false);
        }
        let Some(res) = up.res.as_mut() else {
            return Ok(false);
        };
        let chunk = res.pending().get(..ex.res_fwd).unwrap_or(&[]);
        // A head still in `out` goes in the same write as the first body bytes.
        let head = self.client.out.as_ref().map_or(&[][..], |o| o.pending());
        let head_len = head.len();
        // The server is still readable after a full read: more of this body follows at once.
        let more = up.peer.ready.readable && !up.eof;
        let bufs = [io::IoSlice::new(head), io::IoSlice::new(chunk)];
        let bufs = if head.is_empty() {
            &bufs[1..]
        } else {
            &bufs[..]
        };
        let written = if more {
            self.client.peer.sock.write_more(bufs)
        } else {
            self.client.peer.sock.write_vectored(bufs)
        };
        self.client.corked = more;
        match written {
            Ok(n) => {
                self.txn.marks.bytes_out += n as u64;
                self.client.bytes_out += n as u64;
                if let Some(out) = self.client.out.as_mut() {
                    out.consume(n.min(head_len));
                    if out.is_empty() {
                        if let Some(b) = self.client.out.take() {
                            ctx.pools.bufs.put(b);
                        }
                    }
                }
                let body = n.saturating_sub(head_len);
                res.consume(body);
                ex.res_fwd -= body.min(ex.res_fwd);
                if res.is_empty() {
                    if let Some(b) = up.res.take() {
                        ctx.pools.bufs.put(b);
                    }
                }
                self.touch_client(ctx);
                Ok(n > 0)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.client.peer.ready.writable = false;
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(self.client_failed(ctx, e)),
        }
    }
}

/// Applies the response rules of the backend and the frontend (`http-response`, then
/// `http-after-response`) to a response head; header edits land in `edits`. Returns true when a
/// rule denies the response (the client then gets a 502, as in HAProxy). Request-side criteria
/// are evaluated on the request as it was sent (re-parsed from `head_out` into `scratch`), and
/// only when some rule exists.
#[allow(clippy::too_many_arguments)] // disjoint borrows of the connection's fields
fn response_rules(
    shared: &SharedState,
    origin: Origin,
    backend: BackendId,
    head_out: Option<&Buffer>,
    scratch: &mut RequestHead,
    rhead: &ResponseHead,
    res: &[u8],
    edits: &mut HeaderEdits,
) -> bool {
    let model = &shared.model;
    let fe = model.frontend(origin.frontend);
    let be = model
        .backend(backend)
        .filter(|_| fe.is_none_or(|f| f.listen_backend != Some(backend)));
    // HAProxy's order: backend then frontend, for each kind.
    let lists = [
        be.map(|b| &b.rules.response),
        fe.map(|f| &f.rules.response),
        be.map(|b| &b.rules.after_response),
        fe.map(|f| &f.rules.after_response),
    ];
    if lists.iter().flatten().all(|l| l.is_empty()) {
        return false;
    }
    let req_buf = head_out.map_or(&[][..], |b| b.pending());
    let limits = Limits {
        max_headers: model.global.http_maxhdr as usize,
    };
    if parse_request(req_buf, &limits, false, scratch) != Ok(Parse::Complete) {
        *scratch = RequestHead::default();
    }
    let view = ReqView {
        buf: req_buf,
        head: scratch,
        src: origin.src,
        dst: origin.dst,
        tls: None,
    };
    let resp = RespView {
        status: rhead.status,
        buf: res,
        headers: &rhead.headers,
    };
    for list in lists.into_iter().flatten() {
        match rules::apply_response(list, &view, resp, edits) {
            Verdict::Continue => {}
            Verdict::Deny { .. }
            | Verdict::Return(_)
            | Verdict::Redirect { .. }
            | Verdict::Service(_) => return true,
        }
    }
    false
}
