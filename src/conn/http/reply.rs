//! Responses Ravelin writes itself: HAProxy's error pages (or the proxy's `errorfile` /
//! `http-error` overrides), `monitor-uri`, and the replies of `http-request deny|return|redirect`.

use super::*;
use crate::acl::RespView;
use crate::http::head::write_u64;

use crate::rules::{self, ReplyBody, ReturnSpec, Verdict};

impl HttpConn {
    /// Answers with the error page for `status`, then closes the connection.
    pub(super) fn reply_error(
        &mut self,
        ctx: &mut Ctx<'_>,
        status: u16,
        term: Termination,
    ) -> Step {
        self.drop_upstream(ctx, true);
        self.reply(ctx, status, true, term)
    }

    /// The page for `status`: the backend's override (for errors on the server side), the
    /// frontend's, or HAProxy's built-in page. HAProxy answers request-side failures (bad or
    /// oversized head, `timeout http-request`) from its connection layer and everything else
    /// from its HTTP layer; the two page shapes differ in header case and order.
    fn page<'m>(&self, model: &'m crate::model::Model, status: u16) -> &'m [u8] {
        let fe = model.frontend(self.origin.frontend);
        let be = model.backend(self.connector.backend);
        let custom = match status {
            500..=599 => be
                .and_then(|b| b.errors.get(status))
                .or_else(|| fe.and_then(|f| f.errors.get(status))),
            _ => fe.and_then(|f| f.errors.get(status)),
        };
        if let Some(p) = custom {
            return p;
        }
        let page = match status {
            400 | 408 | 414 | 431 | 422 | 501 => errors::conn_error(status),
            _ => errors::builtin(status),
        };
        page.or_else(|| errors::builtin(500)).unwrap_or(b"")
    }

    /// Queues the page for `status` in `out`, then closes (or waits for the next request).
    pub(super) fn reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        status: u16,
        close: bool,
        term: Termination,
    ) -> Step {
        let shared = ctx.shared;
        self.txn.marks.status = i64::from(status);
        self.count_local(ctx, status);
        let page = self.page(&shared.model, status);
        self.reply_with(ctx, close, term, |out| {
            let n = page.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), page.get(..n)) {
                dst.copy_from_slice(src);
            }
            Some(n)
        })
    }

    /// `http-request return`: status line, `hdr` lines, then `content-length` and
    /// `content-type`, in HAProxy's order; an `errorfile`-style payload is sent raw.
    pub(super) fn reply_return(
        &mut self,
        ctx: &mut Ctx<'_>,
        spec: &ReturnSpec,
        close: bool,
    ) -> Step {
        let term = Termination::new(Cause::Local, Stage::Request);
        self.txn.marks.status = i64::from(spec.status);
        self.count_local(ctx, spec.status);
        self.reply_with(ctx, close, term, |out| {
            let payload: &[u8] = match &spec.body {
                ReplyBody::Raw(raw) => {
                    let n = raw.len().min(out.len());
                    out.get_mut(..n)?.copy_from_slice(raw.get(..n)?);
                    return Some(n);
                }
                ReplyBody::Payload(p) => p,
                ReplyBody::Empty => &[],
            };
            let mut w = HeadWriter::new(out);
            w.status_line(
                Version::Http11,
                spec.status,
                errors::reason(spec.status).as_bytes(),
            );
            for (n, v) in &spec.headers {
                w.header(n.as_bytes(), v.as_bytes());
            }
            let mut num = [0u8; 20];
            w.header(b"content-length", write_u64(payload.len() as u64, &mut num));
            if let Some(ct) = &spec.content_type {
                w.header(b"content-type", ct.as_bytes());
            }
            if close {
                w.header(b"connection", b"close");
            }
            let n = w.finish()?;
            let end = n.checked_add(payload.len())?;
            out.get_mut(n..end)?.copy_from_slice(payload);
            Some(end)
        })
    }

    /// `http-request redirect`: the `Location` was built by the rules into `edits`.
    pub(super) fn reply_redirect(&mut self, ctx: &mut Ctx<'_>, code: u16, close: bool) -> Step {
        let term = Termination::new(Cause::Local, Stage::Request);
        self.txn.marks.status = i64::from(code);
        self.count_local(ctx, code);
        let edits = std::mem::take(&mut self.txn.edits);
        let step = self.reply_with(ctx, close, term, |out| {
            let mut w = HeadWriter::new(out);
            // HAProxy's redirect head: its own 302 reason, `cache-control: no-cache` on the
            // temporary kinds.
            let reason = if code == 302 {
                "Found"
            } else {
                errors::reason(code)
            };
            w.status_line(Version::Http11, code, reason.as_bytes());
            w.header(b"content-length", b"0");
            w.header(b"location", edits.location());
            if matches!(code, 302 | 303 | 307) {
                w.header(b"cache-control", b"no-cache");
            }
            if close {
                w.header(b"connection", b"close");
            }
            w.finish()
        });
        self.txn.edits = edits;
        step
    }

    /// Counts a request answered by a built-in service (stats page, exporter) before its
    /// response is built, so the page counts itself, as HAProxy's does.
    pub(super) fn count_intercepted(&self, ctx: &Ctx<'_>) {
        if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
            f.intercepted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Counts a response Ravelin generated in the frontend's `hrsp_*`.
    pub(super) fn count_local(&self, ctx: &Ctx<'_>, status: u16) {
        if let Some(f) = ctx.shared.frontend(self.origin.frontend) {
            f.count_status(status);
        }
    }

    /// Sends a generated response of any size (`bytes`: head and body), then closes or waits
    /// for the next request. The bytes are written from the heap after `out` (the stats
    /// page does not fit a buffer).
    pub(super) fn reply_owned(
        &mut self,
        ctx: &mut Ctx<'_>,
        status: u16,
        mut bytes: Vec<u8>,
        close: bool,
    ) -> Step {
        // A soft stop ends the connection after this answer too (the bytes already say
        // whether they close; a keep-alive answer then ends with the close).
        let close = close || self.closes_on_stop(ctx);
        self.count_local(ctx, status);
        if self.txn.head.method == Method::Head {
            // The head only (its content-length still says what a GET gets).
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                bytes.truncate(end + 4);
            }
        }
        // Bytes already queued for the client (an interim `100 Continue`) leave first.
        if self.client.out.as_ref().is_some_and(|b| b.is_empty()) {
            if let Some(b) = self.client.out.take() {
                ctx.pools.bufs.put(b);
            }
        }
        if let Phase::Exchange { .. } | Phase::Connecting { .. } | Phase::TurnAround { .. } =
            self.phase
        {
            self.connector.release(ctx);
        }
        if let Some(b) = self.txn.head_out.take() {
            ctx.pools.bufs.put(b);
        }
        self.client.long_out = Some((bytes, 0));
        let fe = ctx.frontend_timeouts(self.origin.frontend);
        self.client.deadline = fe.client.map(|t| ctx.now + t);
        self.phase = Phase::Reply {
            close,
            term: Termination::NORMAL,
        };
        self.drive(ctx)
    }

    /// Writes a generated response into `out` with `write` (which returns its length, or
    /// `None` if it does not fit), then moves to `Reply`.
    fn reply_with(
        &mut self,
        ctx: &mut Ctx<'_>,
        close: bool,
        term: Termination,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Step {
        let close = close || self.closes_on_stop(ctx);
        let mut out = match self.client.out.take() {
            Some(b) => b,
            None => match ctx.pools.bufs.get() {
                Some(b) => b,
                None => return Step::Close(Termination::new(Cause::Proxy, term.stage)),
            },
        };
        out.consume(out.len());
        match write(out.spare()) {
            Some(n) => out.filled(n),
            None => {
                ctx.pools.bufs.put(out);
                return Step::Close(Termination::new(Cause::Proxy, term.stage));
            }
        }
        let out = self.after_response_rules(ctx, out);
        self.client.out = Some(out);
        if let Phase::Exchange { .. } | Phase::Connecting { .. } | Phase::TurnAround { .. } =
            self.phase
        {
            self.connector.release(ctx);
        }
        if let Some(b) = self.txn.head_out.take() {
            ctx.pools.bufs.put(b);
        }
        let fe = ctx.frontend_timeouts(self.origin.frontend);
        self.client.deadline = fe.client.map(|t| ctx.now + t);
        self.phase = Phase::Reply { close, term };
        self.drive(ctx)
    }

    /// `http-after-response` rules (backend's, then frontend's, as HAProxy) applied to a
    /// response Ravelin generated in `out`: its head is parsed and rewritten with the edits
    /// (names lowercased, `connection` last), the body copied after it. Request criteria see
    /// no request here: the head may be gone or was never valid.
    fn after_response_rules(&mut self, ctx: &mut Ctx<'_>, out: Buffer) -> Buffer {
        let model = &ctx.shared.model;
        let fe = model.frontend(self.origin.frontend);
        let be = model
            .backend(self.connector.backend)
            .filter(|_| self.txn.routed)
            .filter(|_| fe.is_none_or(|f| f.listen_backend != Some(self.connector.backend)));
        let lists = [
            be.map(|b| &b.rules.after_response),
            fe.map(|f| &f.rules.after_response),
        ];
        if lists.iter().flatten().all(|l| l.is_empty()) {
            return out;
        }
        let limits = Limits {
            max_headers: model.global.http_maxhdr as usize,
        };
        let src = out.pending();
        if parse_response(src, &limits, Method::Get, true, &mut self.txn.rhead)
            != Ok(Parse::Complete)
        {
            return out;
        }
        let no_request = RequestHead::default();
        let view = ReqView {
            buf: &[],
            head: &no_request,
            src: self.origin.src,
            dst: self.origin.dst,
            tls: None,
        };
        let resp = RespView {
            status: self.txn.rhead.status,
            buf: src,
            headers: &self.txn.rhead.headers,
        };
        self.txn.edits.clear();
        for list in lists.into_iter().flatten() {
            if rules::apply_response(list, &view, resp, &mut self.txn.edits) != Verdict::Continue {
                break;
            }
        }
        let Some(mut fresh) = ctx.pools.bufs.get() else {
            return out;
        };
        let mut w = HeadWriter::new(fresh.spare());
        w.status_line(
            self.txn.rhead.version,
            self.txn.rhead.status,
            self.txn.rhead.reason.get(src),
        );
        let connection = rewrite_headers(
            &mut w,
            src,
            &self.txn.rhead.headers,
            Hops::ConnectionLast,
            &self.txn.edits,
            |_, _| LineOut::Keep,
        );
        if let Some(v) = connection {
            w.header(b"connection", v);
        }
        let body = src.get(self.txn.rhead.len..).unwrap_or(&[]);
        let written = w.finish().and_then(|n| {
            let end = n.checked_add(body.len())?;
            fresh.spare().get_mut(n..end)?.copy_from_slice(body);
            Some(end)
        });
        match written {
            Some(n) => {
                fresh.filled(n);
                ctx.pools.bufs.put(out);
                fresh
            }
            None => {
                ctx.pools.bufs.put(fresh);
                out
            }
        }
    }
}
