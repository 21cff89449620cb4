//! Both directions of a tunnel: two pumps and the idle deadlines of each side. Used by TCP mode
//! for the whole stream and by HTTP mode after an `Upgrade` (101) or a `CONNECT`.
//!
//! Timeouts (HAProxy's): each side's deadline is refreshed by I/O on that side (`timeout client`
//! / `timeout server`); `timeout tunnel` replaces both and is refreshed by activity in either
//! direction; once a direction is shut, `timeout client-fin` / `server-fin` apply when set.

use std::io;
use std::time::{Duration, Instant};

use super::Peer;
use super::pump::{Fault, Pools, Pump, Via};
use crate::model::Timeouts;
use crate::sys::socket;
use crate::term::{Cause, Stage, Termination};

#[derive(Debug)]
pub(crate) struct Duplex {
    pub(crate) request: Pump,
    pub(crate) response: Pump,
    client_deadline: Option<Instant>,
    server_deadline: Option<Instant>,
}

/// How a run of the duplex ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Still flowing. `more`: stopped on a budget, run again next turn; `starved`: wants a
    /// buffer from an empty pool.
    Open { more: bool, starved: bool },
    /// Both directions finished: the stream ends normally.
    Done,
}

impl Duplex {
    pub(crate) fn new(via_request: Via, via_response: Via) -> Duplex {
        Duplex::with_pumps(Pump::new(via_request), Pump::new(via_response))
    }

    pub(crate) fn with_pumps(request: Pump, response: Pump) -> Duplex {
        Duplex {
            request,
            response,
            client_deadline: None,
            server_deadline: None,
        }
    }

    /// Moves bytes both ways. An error on one socket aborts the stream: the other socket is set
    /// to close with a RST so the reset propagates, as HAProxy does.
    pub(crate) fn run(
        &mut self,
        client: &mut Peer,
        server: &mut Peer,
        pools: &mut Pools,
        timeouts: (&Timeouts, &Timeouts),
        now: Instant,
    ) -> Result<Progress, (Termination, io::Error)> {
        let (
            Peer {
                sock: client,
                ready: cr,
            },
            Peer {
                sock: server,
                ready: sr,
            },
        ) = (client, server);
        let req = self.request.run(client, cr, server, sr, pools);
        let res = self.response.run(server, sr, client, cr, pools);
        let (req, res) = match (req, res) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(Fault::Source(e)), _) | (_, Err(Fault::Destination(e))) => {
                let _ = socket::set_abortive_close(&*server);
                return Err((Termination::new(Cause::ClientAbort, Stage::Data), e));
            }
            (Err(Fault::Destination(e)), _) | (_, Err(Fault::Source(e))) => {
                let _ = socket::set_abortive_close(&*client);
                return Err((Termination::new(Cause::ServerAbort, Stage::Data), e));
            }
        };
        if self.request.is_done() && self.response.is_done() {
            return Ok(Progress::Done);
        }
        self.touch(timeouts, now, req.read || res.wrote, req.wrote || res.read);
        Ok(Progress::Open {
            more: req.more || res.more,
            starved: req.starved || res.starved,
        })
    }

    /// Refreshes the idle deadlines of the sides that saw activity (`force`: both, at start).
    pub(crate) fn touch(
        &mut self,
        (fe, be): (&Timeouts, &Timeouts),
        now: Instant,
        client_io: bool,
        server_io: bool,
    ) {
        let half_closed = self.request.eof || self.response.eof;
        let (client_t, server_t) = match be.tunnel {
            Some(t) => (t, t),
            None => (
                fe.client.unwrap_or(Duration::ZERO),
                be.server.unwrap_or(Duration::ZERO),
            ),
        };
        let pick = |fin: Option<Duration>, base: Duration| {
            let t = if half_closed {
                fin.unwrap_or(base)
            } else {
                base
            };
            (t > Duration::ZERO).then(|| now + t)
        };
        if be.tunnel.is_some() && (client_io || server_io) {
            // The tunnel timeout covers inactivity in both directions together.
            self.client_deadline = pick(fe.client_fin, client_t);
            self.server_deadline = pick(be.server_fin, server_t);
            return;
        }
        let refresh = |cur: Option<Instant>, io: bool, fin: Option<Duration>, base: Duration| {
            if io || cur.is_none() {
                pick(fin, base)
            } else if half_closed {
                // A side going half-closed may only bring its deadline closer.
                match (cur, pick(fin, base)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            } else {
                cur
            }
        };
        self.client_deadline = refresh(self.client_deadline, client_io, fe.client_fin, client_t);
        self.server_deadline = refresh(self.server_deadline, server_io, be.server_fin, server_t);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match (self.client_deadline, self.server_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The idle timeout that has struck, if any (`cD` before `sD`).
    pub(crate) fn expired(&self, now: Instant) -> Option<Termination> {
        if self.client_deadline.is_some_and(|d| d <= now) {
            Some(Termination::new(Cause::ClientTimeout, Stage::Data))
        } else if self.server_deadline.is_some_and(|d| d <= now) {
            Some(Termination::new(Cause::ServerTimeout, Stage::Data))
        } else {
            None
        }
    }

    /// Returns pipes and buffers to the pools; gives the bytes moved (request, response).
    pub(crate) fn release(&mut self, pools: &mut Pools) -> (u64, u64) {
        self.request.release(pools);
        self.response.release(pools);
        (self.request.bytes, self.response.bytes)
    }
}
