//! State shared by every reactor, as atomics: server status and weights, live-connection counts
//! at every level that has a `maxconn` (global, frontend, bind, server), counters, and the
//! stop flags. This is the only module with cross-thread mutable state.
//!
//! Limits are enforced with a compare-and-swap reservation ([`Slots::try_acquire`]) so reactors
//! never overshoot a `maxconn` together; a release that brings a full counter back under its
//! limit wakes the reactors that paused their listeners on it.

use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed,
};

use crate::model::{BackendId, Model, ServerId};
use crate::queue::Queue;
use crate::timer::Owner;

/// A live-connection counter with its limit (`0`: no limit).
#[derive(Debug, Default)]
pub struct Slots {
    cur: AtomicU32,
    limit: AtomicU32,
    peak: AtomicU32,
}

impl Slots {
    pub fn new(limit: u32) -> Slots {
        Slots {
            cur: AtomicU32::new(0),
            limit: AtomicU32::new(limit),
            peak: AtomicU32::new(0),
        }
    }

    /// Takes a slot unless the limit is reached.
    pub fn try_acquire(&self) -> bool {
        let limit = self.limit.load(Relaxed);
        let got = self.cur.fetch_update(Relaxed, Relaxed, |c| {
            (limit == 0 || c < limit).then_some(c + 1)
        });
        if let Ok(prev) = got {
            self.peak.fetch_max(prev + 1, Relaxed);
        }
        got.is_ok()
    }

    /// Takes a slot regardless of the limit (used where the limit was checked by the caller).
    pub fn acquire(&self) {
        let prev = self.cur.fetch_add(1, Relaxed);
        self.peak.fetch_max(prev + 1, Relaxed);
    }

    /// Gives a slot back. Returns true when the counter was at its limit (someone may be waiting).
    pub fn release(&self) -> bool {
        let prev = self.cur.fetch_sub(1, Relaxed);
        debug_assert!(prev > 0, "slot released twice");
        let limit = self.limit.load(Relaxed);
        limit != 0 && prev >= limit
    }

    pub fn cur(&self) -> u32 {
        self.cur.load(Relaxed)
    }

    pub fn limit(&self) -> u32 {
        self.limit.load(Relaxed)
    }

    pub fn is_full(&self) -> bool {
        let limit = self.limit.load(Relaxed);
        limit != 0 && self.cur.load(Relaxed) >= limit
    }

    pub fn peak(&self) -> u32 {
        self.peak.load(Relaxed)
    }
}

/// Administrative state of a server (HAProxy's `ready|drain|maint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Admin {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

/// One server's shared state. Cache-line aligned so two servers never share a line.
#[derive(Debug)]
#[repr(align(64))]
pub struct ServerState {
    admin: AtomicU8,
    up: AtomicBool,
    /// Effective weight (0..=256).
    weight: AtomicU32,
    pub conns: Slots,
    pub total: AtomicU64,
    pub connect_errors: AtomicU64,
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Streams waiting for a slot of this server (bound to it by a hash or a cookie).
    pub queue: Queue,
}

impl ServerState {
    fn new(weight: u32, maxconn: u32, disabled: bool) -> ServerState {
        ServerState {
            admin: AtomicU8::new(if disabled {
                Admin::Maint as u8
            } else {
                Admin::Ready as u8
            }),
            up: AtomicBool::new(true),
            weight: AtomicU32::new(weight),
            conns: Slots::new(maxconn),
            total: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            redispatches: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            queue: Queue::default(),
        }
    }

    pub fn admin(&self) -> Admin {
        match self.admin.load(Relaxed) {
            0 => Admin::Ready,
            1 => Admin::Drain,
            _ => Admin::Maint,
        }
    }

    pub fn set_admin(&self, a: Admin) {
        self.admin.store(a as u8, Relaxed);
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Relaxed);
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Relaxed)
    }

    pub fn set_weight(&self, w: u32) {
        self.weight.store(w.min(256), Relaxed);
    }

    /// Running and not in maintenance: may keep its sessions and counts as "up" for backup
    /// decisions.
    pub fn is_running(&self) -> bool {
        self.is_up() && self.admin() != Admin::Maint
    }

    /// May receive new traffic: running, ready (not draining) and a non-zero weight.
    pub fn is_usable(&self) -> bool {
        self.is_up() && self.admin() == Admin::Ready && self.weight() > 0
    }
}

/// One backend's shared state.
#[derive(Debug)]
pub struct BackendState {
    pub servers: Box<[ServerState]>,
    pub total: AtomicU64,
    /// Streams closed because no server could take them.
    pub no_server: AtomicU64,
    /// Invalid or truncated responses from servers (HAProxy's `eresp`).
    pub resp_errors: AtomicU64,
    /// HTTP responses by class: index 0 = 1xx ... 4 = 5xx, 5 = other.
    pub http_responses: [AtomicU64; 6],
    /// Streams waiting for a slot of any server.
    pub queue: Queue,
    /// Streams given up after `timeout queue` (HAProxy's `sQ` terminations).
    pub queue_timeouts: AtomicU64,
}

/// One frontend's shared state.
#[derive(Debug)]
pub struct FrontendState {
    pub conns: Slots,
    pub total: AtomicU64,
    /// HTTP requests received.
    pub requests: AtomicU64,
    /// Invalid, truncated or timed-out requests (HAProxy's `ereq`).
    pub req_errors: AtomicU64,
    /// Requests denied by rules (`dreq`).
    pub denied: AtomicU64,
    /// One per `Bind` of the frontend, in model order.
    pub binds: Box<[Slots]>,
}

/// Everything the reactors share. Built once per start; `Arc`-shared.
#[derive(Debug)]
pub struct SharedState {
    pub model: Arc<Model>,
    pub global: Slots,
    pub frontends: Box<[FrontendState]>,
    pub backends: Box<[BackendState]>,
    /// Soft stop requested (SIGUSR1): listeners close, streams finish.
    pub soft_stop: AtomicBool,
    /// Hard stop requested (SIGTERM/SIGINT or hard-stop-after).
    pub hard_stop: AtomicBool,
    /// Bit i set: reactor i has listeners paused on a full `maxconn` and wants a wake-up.
    pub paused: AtomicU64,
    /// Live streams per reactor (slab occupancy), for tests and stats.
    pub streams: Box<[AtomicUsize]>,
    /// EMFILE/ENFILE events seen while accepting.
    pub accept_errors: AtomicU64,
    /// Per reactor: streams another reactor granted a queued slot to, to resume.
    inboxes: Box<
        [(
            crossbeam_channel::Sender<Owner>,
            crossbeam_channel::Receiver<Owner>,
        )],
    >,
    /// The reactors' wakers, set once they exist.
    wakers: std::sync::OnceLock<Arc<[mio::Waker]>>,
}

impl SharedState {
    /// Builds the shared state from the model; `global_maxconn` is the resolved global limit.
    pub fn new(model: Arc<Model>, global_maxconn: u32, reactors: usize) -> SharedState {
        let frontends = model
            .frontends
            .iter()
            .map(|fe| FrontendState {
                conns: Slots::new(fe.maxconn.unwrap_or(global_maxconn)),
                total: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                req_errors: AtomicU64::new(0),
                denied: AtomicU64::new(0),
                binds: fe
                    .binds
                    .iter()
                    .map(|b| Slots::new(b.maxconn.unwrap_or(0)))
                    .collect(),
            })
            .collect();
        let backends = model
            .backends
            .iter()
            .map(|be| BackendState {
                servers: be
                    .servers
                    .iter()
                    .map(|s| ServerState::new(s.weight, s.maxconn, s.disabled))
                    .collect(),
                total: AtomicU64::new(0),
                no_server: AtomicU64::new(0),
                resp_errors: AtomicU64::new(0),
                http_responses: Default::default(),
                queue: Queue::default(),
                queue_timeouts: AtomicU64::new(0),
            })
            .collect();
        SharedState {
            model,
            global: Slots::new(global_maxconn),
            frontends,
            backends,
            soft_stop: AtomicBool::new(false),
            hard_stop: AtomicBool::new(false),
            paused: AtomicU64::new(0),
            streams: (0..reactors).map(|_| AtomicUsize::new(0)).collect(),
            accept_errors: AtomicU64::new(0),
            inboxes: (0..reactors)
                .map(|_| crossbeam_channel::unbounded())
                .collect(),
            wakers: std::sync::OnceLock::new(),
        }
    }

    pub fn backend(&self, id: BackendId) -> Option<&BackendState> {
        self.backends.get(id.0 as usize)
    }

    pub fn server(&self, be: BackendId, srv: ServerId) -> Option<&ServerState> {
        self.backend(be)?.servers.get(srv.0 as usize)
    }

    pub fn set_wakers(&self, wakers: Arc<[mio::Waker]>) {
        let _ = self.wakers.set(wakers);
    }

    /// Asks reactor `reactor` to resume stream `owner` (its queued stream got a slot).
    pub fn wake_stream(&self, reactor: usize, owner: Owner) {
        if let Some((tx, _)) = self.inboxes.get(reactor) {
            let _ = tx.send(owner);
            if let Some(w) = self.wakers.get().and_then(|w| w.get(reactor)) {
                let _ = w.wake();
            }
        }
    }

    /// The streams other reactors asked `reactor` to resume.
    pub fn woken(&self, reactor: usize) -> impl Iterator<Item = Owner> + '_ {
        self.inboxes
            .get(reactor)
            .into_iter()
            .flat_map(|(_, rx)| rx.try_iter())
    }

    /// Live streams over all reactors.
    pub fn live_streams(&self) -> usize {
        self.streams.iter().map(|s| s.load(Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_never_overshoot() {
        let s = Slots::new(2);
        assert!(s.try_acquire());
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        assert!(s.release(), "was full");
        assert!(!s.release());
        assert_eq!(s.cur(), 0);
        assert_eq!(s.peak(), 2);
    }

    #[test]
    fn unlimited_slots() {
        let s = Slots::new(0);
        for _ in 0..1000 {
            assert!(s.try_acquire());
        }
        assert!(!s.release());
    }
}
