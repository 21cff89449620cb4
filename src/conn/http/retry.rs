//! `retry-on` past `conn-failure` (HAProxy's L7 retries, `do_l7_retry()`): a request that
//! reached a server and got no usable response is sent again — to another server with `option
//! redispatch` — within the same `retries` budget as connection retries.
//!
//! What is replayed is HAProxy 2.6's rule (recorded against 2.6.12), whatever the method, POST
//! included: HAProxy copies the request into its L7 retry buffer when it first sends it, so a
//! request is replayed only if it was held whole then — its body fully received, head and body
//! within a buffer's room (`request::htx_size`, `request::replay_room`) — and no response
//! byte (not even a forwarded `100 Continue`) came back before a response timeout. A skipped
//! retry says why (`-d` output; counted in the server's `retry_skipped`).

use std::sync::atomic::Ordering::Relaxed;

use super::request::release_kept;
use super::*;
use crate::model::RetryOn;

/// A failure after the request (or part of it) reached a server, before the response started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Late {
    /// Closed or reset with no response byte: `empty-response`.
    Empty,
    /// An incomplete or invalid response head: `junk-response`.
    Junk,
    /// `timeout server` before any response byte: `response-timeout`.
    Timeout,
    /// A complete response head with this status: `retry-on <status>`.
    Status(u16),
}

impl Late {
    fn wanted(self, on: RetryOn) -> bool {
        match self {
            Late::Empty => on.has(RetryOn::EMPTY_RESPONSE),
            Late::Junk => on.has(RetryOn::JUNK_RESPONSE),
            Late::Timeout => on.has(RetryOn::RESPONSE_TIMEOUT),
            Late::Status(code) => on.on_status(code),
        }
    }
}

impl HttpConn {
    /// Sends the current request again after `late` when `retry-on` asks for it and the replay
    /// is safe; `None` when it is not retried (the caller answers as without `retry-on`).
    pub(super) fn retry_late(&mut self, ctx: &mut Ctx<'_>, late: Late) -> Option<Step> {
        let backend = self.connector.backend;
        let be = ctx.shared.model.backend(backend)?;
        let Phase::Exchange { ex, .. } = &self.phase else {
            return None;
        };
        // Nothing reached the server (the connection died before the first byte left): a
        // connection failure, safe to retry whatever the method.
        let reached = ex.head_sent > 0;
        let wanted = if reached {
            late.wanted(be.retry_on)
        } else {
            be.retry_on.has(RetryOn::CONN_FAILURE)
        };
        if !wanted {
            return None;
        }
        let skip = if !matches!(ex.response, Response::Head) {
            Some("the response already started")
        } else if late == Late::Timeout && ex.response_started {
            // HAProxy retries a response timeout only with nothing in the response buffer
            // (`co_data(rep)`). After a forwarded `100 Continue` haproxy 2.6.12 did not replay
            // either (it answered 500).
            Some("a response already began (an interim 1xx or part of a head)")
        } else if let Some(lost) = ex.lost {
            Some(lost.why())
        } else if !ex.req_body.is_done() {
            Some("the request was not fully received")
        } else if self.txn.head_out.is_none() {
            Some("the request is no longer held in full")
        } else if self.connector.retries_left() == 0 {
            Some("no retries left")
        } else {
            None
        };
        if let Some(why) = skip {
            ctx.debug_event(format_args!("retry skipped after {late:?}: {why}"));
            if let Some(s) = self.connector.server() {
                if let Some(ss) = ctx.shared.server(backend, s) {
                    ss.retry_skipped.fetch_add(1, Relaxed);
                }
            }
            return None;
        }
        ctx.debug_event(format_args!("retrying the request after {late:?}"));
        // The server connection is closed (its slot kept unless the retry redispatches).
        let Phase::Exchange { mut ex, up } = std::mem::replace(&mut self.phase, Phase::Gone) else {
            return None;
        };
        self.close_upstream(ctx, up);
        ex.head_sent = 0;
        ex.req_fwd += ex.req_kept;
        ex.req_kept = 0;
        ex.response = Response::Head;
        ex.res_fwd = 0;
        ex.response_started = false;
        ex.server_deadline = None;
        Some(match self.connector.failed_late(ctx) {
            None => self.connect_current(ctx, ex),
            Some(outcome) => self.settle(ctx, outcome, ex),
        })
    }

    /// The final response head arrived: the body copy kept for a replay is no longer needed.
    pub(super) fn release_replay_copy(&mut self) {
        if let Phase::Exchange { ex, .. } = &mut self.phase {
            release_kept(ex, self.client.req.as_mut());
        }
    }
}
