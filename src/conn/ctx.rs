//! What a connection may use while it runs: everything of its reactor but the slab. The
//! reactor builds one per call into a state machine (`reactor::Core::ctx`).

use std::collections::VecDeque;
use std::time::Instant;

use mio::Registry;

use crate::balance::Balancer;
use crate::conn::idle::IdlePool;
use crate::conn::pump::Pools;
use crate::log::sink::LogBuf;
use crate::model::{BackendId, FrontendId, Timeouts};
use crate::server::SharedState;
use crate::term::Side;
use crate::timer::{Owner, TimerWheel};
use crate::token;

/// What a connection may use while it runs: everything of the reactor but the slab.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) timers: &'a mut TimerWheel,
    pub(crate) pools: &'a mut Pools,
    pub(crate) shared: &'a SharedState,
    pub(crate) balancers: &'a mut [Balancer],
    pub(crate) now: Instant,
    /// The connection being run.
    pub(crate) owner: Owner,
    /// Connections waiting for a buffer.
    pub(crate) starved: &'a mut VecDeque<Owner>,
    /// Connections that stopped on their budget and must run again next turn.
    pub(crate) runnable: &'a mut Vec<Owner>,
    /// Idle server connections kept for reuse.
    pub(crate) idle: &'a mut IdlePool,
    /// This reactor's index (queued streams are woken through it).
    pub(crate) reactor: usize,
    pub(crate) debug: bool,
    pub(crate) stream_id: u64,
    /// This reactor's log lines, handed to the logger thread at the end of the turn.
    pub(crate) log: &'a mut LogBuf,
    /// This reactor's latency histograms (stats), recorded at each stream's end.
    pub(crate) latency: &'a mut crate::server::latency::LatencyRecorder,
    /// Where PROXY headers are peeked (`tune.bufsize` bytes, like HAProxy's buffer).
    pub(crate) handshake_buf: &'a mut [u8],
}

impl Ctx<'_> {
    /// The poll token of this stream's socket on `side`: its slab key and the slot's
    /// generation (an event for an earlier stream in the same slot is told apart).
    pub(crate) fn stream_token(&self, side: Side) -> mio::Token {
        token::conn(self.owner.key, self.owner.generation, side)
    }

    pub(crate) fn frontend_timeouts(&self, fe: FrontendId) -> Timeouts {
        self.shared
            .model
            .frontend(fe)
            .map(|f| f.timeouts)
            .unwrap_or_default()
    }

    pub(crate) fn backend_timeouts(&self, be: BackendId) -> Timeouts {
        self.shared
            .model
            .backend(be)
            .map(|b| b.timeouts)
            .unwrap_or_default()
    }

    /// `-d` mode: one line per event on stderr. Formatting happens only when enabled.
    pub(crate) fn debug_event(&self, args: std::fmt::Arguments<'_>) {
        if self.debug {
            eprintln!("{:08x}:{}", self.stream_id, args);
        }
    }
}
