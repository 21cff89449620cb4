//! Connection queues (HAProxy's "pendconns"): streams waiting for a server slot, per server
//! (a stream bound to one server) and per backend (any server may serve it), shared by every
//! reactor.
//!
//! A waiting stream holds an `Arc<Ticket>`; the queue holds another. Whoever frees a slot on
//! any reactor hands it to the oldest live ticket of the server's queue or the backend's queue
//! (the slot count never drops in between, so no new stream overtakes a waiter) and wakes the
//! waiter's reactor. A waiter that gives up (`timeout queue`, client gone) cancels its ticket
//! with a compare-and-swap; a grant and a cancel never both win. The fast path — no one waiting
//! — is one atomic load of `live`; the deque's mutex is only taken while streams queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::model::{BackendId, ServerId};
use crate::server::SharedState;
use crate::timer::Owner;

const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const CANCELLED: u8 = 2;
/// Sent back to load balancing: the server it waited for went down (HAProxy's
/// `pendconn_redistribute()`).
const REDISPATCHED: u8 = 3;

/// One waiting stream.
#[derive(Debug)]
pub(crate) struct Ticket {
    state: AtomicU8,
    server: AtomicU32,
    /// The reactor running the stream, and the stream there.
    pub(crate) reactor: usize,
    pub(crate) owner: Owner,
    pub(crate) since: Instant,
}

impl Ticket {
    pub(crate) fn new(reactor: usize, owner: Owner, since: Instant) -> Arc<Ticket> {
        Arc::new(Ticket {
            state: AtomicU8::new(WAITING),
            server: AtomicU32::new(0),
            reactor,
            owner,
            since,
        })
    }

    /// Hands the ticket a slot of `srv`; false if it was cancelled (the slot stays the caller's).
    fn grant(&self, srv: ServerId) -> bool {
        self.server.store(srv.0, SeqCst);
        self.state
            .compare_exchange(WAITING, GRANTED, SeqCst, SeqCst)
            .is_ok()
    }

    /// Gives up waiting. `Err(srv)`: too late, a slot of `srv` was granted and is now the
    /// caller's. A redispatched ticket has left its queue already: `Ok`.
    pub(crate) fn cancel(&self) -> Result<(), ServerId> {
        match self
            .state
            .compare_exchange(WAITING, CANCELLED, SeqCst, SeqCst)
        {
            Ok(_) => Ok(()),
            Err(REDISPATCHED) => Ok(()),
            Err(_) => Err(ServerId(self.server.load(SeqCst))),
        }
    }

    /// Whether the ticket was sent back to load balancing (its queue no longer holds it).
    pub(crate) fn redispatched(&self) -> bool {
        self.state.load(SeqCst) == REDISPATCHED
    }

    /// Whether the waiter has news: a slot, or back to load balancing.
    pub(crate) fn resolved(&self) -> bool {
        matches!(self.state.load(SeqCst), GRANTED | REDISPATCHED)
    }

    /// The server whose slot this ticket was granted, if any.
    pub(crate) fn granted(&self) -> Option<ServerId> {
        (self.state.load(SeqCst) == GRANTED).then(|| ServerId(self.server.load(SeqCst)))
    }
}

/// A FIFO of tickets with its counters.
#[derive(Debug, Default)]
pub struct Queue {
    waiting: Mutex<VecDeque<Arc<Ticket>>>,
    /// Tickets still waiting (cancelled and granted ones are not counted).
    live: AtomicU32,
    peak: AtomicU32,
    /// Streams that ever waited here.
    pub(crate) total: AtomicU64,
}

impl Queue {
    pub(crate) fn push(&self, t: Arc<Ticket>) {
        let mut q = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        q.push_back(t);
        let live = self.live.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(live, SeqCst);
        self.total.fetch_add(1, SeqCst);
    }

    /// Streams waiting now (HAProxy's `qcur`).
    pub fn len(&self) -> u32 {
        self.live.load(SeqCst)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Most streams ever waiting at once (`qmax`).
    pub fn peak(&self) -> u32 {
        self.peak.load(SeqCst)
    }

    /// A waiter gave up: it no longer counts (its entry is dropped when reached).
    pub(crate) fn forget(&self) {
        let _ = self
            .live
            .fetch_update(SeqCst, SeqCst, |n| Some(n.saturating_sub(1)));
    }

    /// Sends every waiting ticket back to load balancing (the server went down), calling
    /// `wake` for each; returns how many.
    pub(crate) fn redistribute(&self, mut wake: impl FnMut(&Ticket)) -> u32 {
        let mut q = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        while let Some(t) = q.pop_front() {
            if t.state
                .compare_exchange(WAITING, REDISPATCHED, SeqCst, SeqCst)
                .is_ok()
            {
                self.forget();
                n += 1;
                wake(&t);
            }
        }
        n
    }

    /// When the oldest still-waiting ticket arrived (dead tickets in front are dropped).
    fn oldest(&self) -> Option<Instant> {
        let mut q = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        while q.front().is_some_and(|t| t.state.load(SeqCst) != WAITING) {
            q.pop_front();
        }
        q.front().map(|t| t.since)
    }

    /// Grants a slot of `srv` to the oldest waiting ticket; the ticket, or `None` if nobody
    /// was waiting (the slot stays the caller's).
    fn grant_oldest(&self, srv: ServerId) -> Option<Arc<Ticket>> {
        let mut q = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(t) = q.pop_front() {
            if t.grant(srv) {
                self.forget();
                return Some(t);
            }
        }
        None
    }
}

/// Hands a free slot of `srv` to the oldest waiter of the server's queue or the backend's
/// queue. `None`: nobody waits for it.
pub(crate) fn grant(server_q: &Queue, backend_q: &Queue, srv: ServerId) -> Option<Arc<Ticket>> {
    loop {
        if server_q.is_empty() && backend_q.is_empty() {
            return None;
        }
        let pick_server = match (server_q.oldest(), backend_q.oldest()) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a <= b,
        };
        let q = if pick_server { server_q } else { backend_q };
        if let Some(t) = q.grant_oldest(srv) {
            return Some(t);
        }
        // Raced with cancellations: look again.
    }
}

/// `conn::connect::dispatch` from outside a stream (a health check saw a server come up, so it may take
/// streams waiting in the backend's queue — HAProxy's `pendconn_grab_from_px`): every
/// granted stream is woken through its reactor's inbox. Returns how many were granted.
pub(crate) fn dispatch_from(shared: &SharedState, be: BackendId, now: Instant) -> u32 {
    dispatch_with(shared, be, None, now, |t| {
        shared.wake_stream(t.reactor, t.owner)
    })
}

/// Hands free server slots to queued streams, oldest first, calling `wake` for each granted
/// stream: of `freed` when given, else of whichever usable servers have room.
pub(crate) fn dispatch_with(
    shared: &SharedState,
    be: BackendId,
    freed: Option<ServerId>,
    now: Instant,
    mut wake: impl FnMut(&Ticket),
) -> u32 {
    let (Some(model), Some(st)) = (shared.model.backend(be), shared.backend(be)) else {
        return 0;
    };
    let mut granted = 0;
    let now_ms = shared.ms(now);
    for _ in 0..model.servers.len().max(1) * 2 {
        let srv = match freed {
            Some(s) => s,
            None => {
                let found = (0..st.servers.len()).find(|&i| {
                    st.servers.get(i).is_some_and(|ss| {
                        let limit = st.server_limit(i, now_ms);
                        ss.is_usable() && (limit == 0 || ss.conns.cur() < limit)
                    })
                });
                match found {
                    Some(i) => ServerId::from_index(i),
                    None => return granted,
                }
            }
        };
        let Some(ss) = st.server(srv) else {
            return granted;
        };
        if st.queue.is_empty() && ss.queue.is_empty() {
            return granted;
        }
        if !ss.is_usable() || !st.try_take(srv.0 as usize, now_ms) {
            if freed.is_some() {
                return granted;
            }
            continue;
        }
        match grant(&ss.queue, &st.queue, srv) {
            Some(t) => {
                granted += 1;
                wake(&t);
            }
            None => {
                ss.conns.release();
                return granted;
            }
        }
    }
    granted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn owner(key: usize) -> Owner {
        Owner::stream(key, 1)
    }

    #[test]
    fn oldest_waiter_of_either_queue_goes_first() {
        let (sq, bq) = (Queue::default(), Queue::default());
        let t0 = Instant::now();
        let a = Ticket::new(0, owner(1), t0);
        let b = Ticket::new(1, owner(2), t0 + Duration::from_millis(1));
        let c = Ticket::new(0, owner(3), t0 + Duration::from_millis(2));
        bq.push(a.clone());
        sq.push(b.clone());
        bq.push(c.clone());
        assert_eq!((sq.len(), bq.len(), bq.peak()), (1, 2, 2));
        assert_eq!(grant(&sq, &bq, ServerId(4)).map(|t| t.owner.key), Some(1));
        assert_eq!(a.granted(), Some(ServerId(4)));
        assert_eq!(grant(&sq, &bq, ServerId(5)).map(|t| t.owner.key), Some(2));
        // A cancelled ticket is skipped; granting after the cancel fails for it.
        assert_eq!(c.cancel(), Ok(()));
        bq.forget();
        assert!(grant(&sq, &bq, ServerId(6)).is_none());
        assert_eq!((sq.len(), bq.len()), (0, 0));
        assert_eq!(c.granted(), None);
    }

    #[test]
    fn redistribution_empties_the_queue_and_wakes_each_waiter_once() {
        let q = Queue::default();
        let t0 = Instant::now();
        let (a, b, c) = (
            Ticket::new(0, owner(1), t0),
            Ticket::new(1, owner(2), t0),
            Ticket::new(0, owner(3), t0),
        );
        for t in [&a, &b, &c] {
            q.push(t.clone());
        }
        assert_eq!(b.cancel(), Ok(()));
        q.forget();
        let mut woken = Vec::new();
        assert_eq!(q.redistribute(|t| woken.push(t.owner.key)), 2);
        assert_eq!(woken, vec![1, 3]);
        assert!(q.is_empty());
        assert!(a.redispatched() && a.resolved() && a.granted().is_none());
        // Cancelling afterwards neither fails nor claims a slot.
        assert_eq!(a.cancel(), Ok(()));
        assert!(grant(&q, &Queue::default(), ServerId(1)).is_none());
    }

    #[test]
    fn cancel_after_grant_reports_the_slot() {
        let q = Queue::default();
        let t = Ticket::new(0, owner(1), Instant::now());
        q.push(t.clone());
        assert!(grant(&q, &Queue::default(), ServerId(2)).is_some());
        assert_eq!(t.cancel(), Err(ServerId(2)));
    }

    #[test]
    fn concurrent_grants_and_cancels_never_both_win() {
        for _ in 0..50 {
            let q = Arc::new(Queue::default());
            let tickets: Vec<_> = (0..64)
                .map(|i| Ticket::new(0, owner(i), Instant::now()))
                .collect();
            for t in &tickets {
                q.push(t.clone());
            }
            let granter = {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    while grant(&q, &Queue::default(), ServerId(0)).is_some() {
                        n += 1;
                    }
                    n
                })
            };
            let mut cancelled = 0;
            for t in tickets.iter().rev() {
                if t.cancel().is_ok() {
                    q.forget();
                    cancelled += 1;
                }
            }
            let granted = granter.join().unwrap();
            assert_eq!(granted + cancelled, 64);
        }
    }
}
