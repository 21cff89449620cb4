//! HTTP server connections of a reactor: the slot (and so the poll token) of every one, and
//! the idle ones kept for reuse (`http-reuse`), per server.
//!
//! A server connection is registered with the poll once, under its slot's token, for its whole
//! life. Handing it from a stream to the idle pool and back only changes who the slot points
//! to — no `epoll_ctl` per request, as HAProxy changes an fd's owner in memory. Events for a slot
//! owned by a stream go to that stream; an idle connection that speaks, closes or errors
//! cannot be reused and is dropped. Idle connections are purged after the server's
//! `pool-purge-delay`. Lists are LIFO: the most recently used connection is reused first
//! (warm, least likely closed by the server's own idle timeout).

use std::time::Instant;

use mio::{Registry, Token};
use slab::Slab;

use crate::net::Sock;
use crate::timer::Owner;
use crate::token;

use crate::model::{BackendId, Model, ServerId};

/// A connection waiting in the pool.
#[derive(Debug)]
pub(crate) struct IdleConn {
    pub(crate) sock: Sock,
    pub(crate) backend: BackendId,
    pub(crate) server: ServerId,
    pub(crate) purge_at: Instant,
    /// It already carried a request for another session (HAProxy's "proven" connections,
    /// which `http-reuse aggressive` may give to a session's first request).
    pub(crate) reused: bool,
}

/// Which connections a session may take (HAProxy's `http-reuse` rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eligible {
    /// Any idle connection (`always`, or a session's later requests with `safe`/`aggressive`).
    Any,
    /// Only connections that have been reused already (`aggressive`, first request).
    Proven,
}

#[derive(Debug)]
enum State {
    /// Used (or being connected) by the stream with this key.
    Active(usize),
    Idle(IdleConn),
}

#[derive(Debug)]
struct Slot {
    state: State,
    /// Tells this slot from an earlier one with the same key: its purge timers, and the events
    /// of its socket (the poll token carries the generation's low bits, `token::server_conn`).
    generation: u32,
    /// A purge timer of this generation is pending (one at a time: a connection parked after
    /// every request would otherwise leave one stale timer per request in the wheel).
    purge_armed: bool,
}

/// Where an event on a server connection slot goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// To the stream with this key.
    Stream(usize),
    /// Handled here (an idle connection, or a slot already gone).
    Done,
}

#[derive(Debug, Default)]
pub(crate) struct IdlePool {
    slots: Slab<Slot>,
    /// `[backend][server]` → keys of idle slots, most recent last.
    lists: Vec<Vec<Vec<usize>>>,
    next_generation: u32,
    idle: usize,
}

impl IdlePool {
    pub(crate) fn new(model: &Model) -> IdlePool {
        IdlePool {
            slots: Slab::new(),
            lists: model
                .backends
                .iter()
                .map(|b| b.servers.iter().map(|_| Vec::new()).collect())
                .collect(),
            next_generation: 1,
            idle: 0,
        }
    }

    fn list(&mut self, be: BackendId, srv: ServerId) -> Option<&mut Vec<usize>> {
        self.lists.get_mut(be.0 as usize)?.get_mut(srv.0 as usize)
    }

    /// Idle connections to one server in this reactor.
    pub(crate) fn count(&self, be: BackendId, srv: ServerId) -> usize {
        self.lists
            .get(be.0 as usize)
            .and_then(|l| l.get(srv.0 as usize))
            .map_or(0, Vec::len)
    }

    /// Idle connections in this reactor.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.idle
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.idle == 0
    }

    /// A slot for a new server connection of stream `stream`; its key and generation name the
    /// poll token (`token`).
    pub(crate) fn reserve(&mut self, stream: usize) -> usize {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        self.slots.insert(Slot {
            state: State::Active(stream),
            generation,
            purge_armed: false,
        })
    }

    /// A token for a new socket of stream `stream` in its slot `key` (a connect retried after
    /// a failure, or after a turn-around): the slot takes a fresh generation, so an event still
    /// queued for the socket it had before is dropped rather than read as the new one's. The
    /// previous socket must be deregistered already.
    pub(crate) fn renew(&mut self, key: usize, stream: usize) -> Token {
        let generation = self.next_generation;
        if let Some(slot) = self
            .slots
            .get_mut(key)
            .filter(|s| matches!(s.state, State::Active(k) if k == stream))
        {
            self.next_generation = self.next_generation.wrapping_add(1).max(1);
            slot.generation = generation;
            // A purge timer pending for the old generation is stale now.
            slot.purge_armed = false;
        }
        self.token(key)
    }

    /// The poll token of slot `key`: its key and generation. A slot that does not exist gets
    /// generation 0's token, whose events find no slot.
    pub(crate) fn token(&self, key: usize) -> Token {
        token::server_conn(key, self.slots.get(key).map_or(0, |s| s.generation))
    }

    /// Frees the slot of a connection stream `stream` closed (no-op if it is not its own).
    pub(crate) fn release(&mut self, key: usize, stream: usize) {
        if self
            .slots
            .get(key)
            .is_some_and(|s| matches!(s.state, State::Active(k) if k == stream))
        {
            self.slots.remove(key);
        }
    }

    /// Takes the most recent eligible idle connection to `srv` for stream `stream`: the slot
    /// key (the socket stays registered under it) and the connection.
    pub(crate) fn take(
        &mut self,
        be: BackendId,
        srv: ServerId,
        eligible: Eligible,
        stream: usize,
    ) -> Option<(usize, IdleConn)> {
        let slots = &self.slots;
        let list = self.lists.get_mut(be.0 as usize)?.get_mut(srv.0 as usize)?;
        let pos = list.iter().rposition(|&k| {
            slots.get(k).is_some_and(
                |s| matches!(&s.state, State::Idle(c) if eligible == Eligible::Any || c.reused),
            )
        })?;
        let key = list.remove(pos);
        let slot = self.slots.get_mut(key)?;
        match std::mem::replace(&mut slot.state, State::Active(stream)) {
            State::Idle(c) => {
                self.idle -= 1;
                Some((key, c))
            }
            State::Active(k) => {
                slot.state = State::Active(k);
                None
            }
        }
    }

    /// Puts stream `stream`'s connection (slot `key`) in the pool. Returns the timer owner
    /// to arm for its purge when none is pending, or `None`; a connection the pool refuses
    /// (limit reached, not this stream's slot) is closed and its slot freed.
    pub(crate) fn put(
        &mut self,
        registry: &Registry,
        key: usize,
        stream: usize,
        mut c: IdleConn,
        limit: Option<u32>,
    ) -> Option<Owner> {
        let full = limit.is_some_and(|l| self.count(c.backend, c.server) >= l as usize);
        let own = self
            .slots
            .get(key)
            .is_some_and(|s| matches!(s.state, State::Active(k) if k == stream));
        if full || !own {
            c.sock.deregister(registry);
            self.release(key, stream);
            return None;
        }
        let (be, srv) = (c.backend, c.server);
        let slot = self.slots.get_mut(key)?;
        slot.state = State::Idle(c);
        self.idle += 1;
        let arm = !slot.purge_armed;
        slot.purge_armed = true;
        let generation = slot.generation;
        if let Some(l) = self.list(be, srv) {
            l.push(key);
        }
        arm.then_some(Owner::idle_conn(key, generation))
    }

    /// Routes an event on slot `key`, whose token named `generation` (`token::decode`). An
    /// event for an earlier occupant of the slot (freed and reused within the same poll batch)
    /// is dropped. An idle connection that is readable (bytes or EOF), closed or in error is
    /// dropped; writability alone is expected after a request was sent.
    pub(crate) fn on_event(
        &mut self,
        registry: &Registry,
        key: usize,
        generation: u32,
        ev: &mio::event::Event,
    ) -> Route {
        let Some(slot) = self
            .slots
            .get_mut(key)
            .filter(|s| token::same_generation(s.generation, generation))
        else {
            return Route::Done;
        };
        let c = match &mut slot.state {
            State::Active(stream) => return Route::Stream(*stream),
            State::Idle(c) => c,
        };
        let dead =
            ev.is_error() || ev.is_read_closed() || (ev.is_readable() && !still_quiet(&c.sock));
        if dead {
            self.drop_conn(registry, key);
        }
        Route::Done
    }

    /// Drops the idle connection at `key` (the server closed it, sent bytes, or it expired).
    pub(crate) fn drop_conn(&mut self, registry: &Registry, key: usize) {
        if !self
            .slots
            .get(key)
            .is_some_and(|s| matches!(s.state, State::Idle(_)))
        {
            return;
        }
        if let Some(Slot {
            state: State::Idle(mut c),
            ..
        }) = self.slots.try_remove(key)
        {
            self.idle -= 1;
            c.sock.deregister(registry);
            if let Some(l) = self.list(c.backend, c.server) {
                l.retain(|&k| k != key);
            }
        }
    }

    /// A purge timer fired: drops the connection if it is still the same one and due. Returns
    /// when to fire again if it is idle but was parked again since (its new purge time).
    pub(crate) fn purge(
        &mut self,
        registry: &Registry,
        key: usize,
        generation: u32,
        now: Instant,
    ) -> Option<Instant> {
        let slot = self.slots.get_mut(key)?;
        if slot.generation != generation {
            return None;
        }
        match &slot.state {
            State::Idle(c) if c.purge_at <= now => {
                slot.purge_armed = false;
                self.drop_conn(registry, key);
                None
            }
            State::Idle(c) => Some(c.purge_at),
            State::Active(_) => {
                // Armed again by the next `put`.
                slot.purge_armed = false;
                None
            }
        }
    }

    /// Closes every idle connection (soft stop, hard stop). Slots of streams stay theirs.
    pub(crate) fn clear(&mut self, registry: &Registry) {
        let keys: Vec<usize> = self
            .lists
            .iter()
            .flat_map(|be| be.iter().flatten().copied())
            .collect();
        for key in keys {
            self.drop_conn(registry, key);
        }
    }
}

/// An idle connection reported readable: true if that was stale (nothing to read, no EOF).
fn still_quiet(sock: &Sock) -> bool {
    let mut byte = [0u8; 1];
    match sock {
        Sock::Tcp(s) => {
            matches!(s.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        }
        Sock::Unix(_) | Sock::Tls(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle_conn(be: u32, srv: u32, reused: bool) -> (IdleConn, mio::net::TcpListener) {
        let l = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let s = mio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (
            IdleConn {
                sock: Sock::Tcp(s),
                backend: BackendId(be),
                server: ServerId(srv),
                purge_at: Instant::now(),
                reused,
            },
            l,
        )
    }

    fn pool() -> IdlePool {
        IdlePool {
            slots: Slab::new(),
            lists: vec![vec![Vec::new(), Vec::new()]],
            next_generation: 1,
            idle: 0,
        }
    }

    #[test]
    fn slots_move_between_streams_and_the_pool() {
        let poll = mio::Poll::new().unwrap();
        let reg = poll.registry();
        let mut p = pool();
        let k = p.reserve(7);
        let (c, _l) = idle_conn(0, 1, false);
        // First park arms a purge timer; taking and parking again does not arm another.
        assert_eq!(p.put(reg, k, 7, c, None), Some(Owner::idle_conn(k, 1)));
        assert_eq!((p.len(), p.count(BackendId(0), ServerId(1))), (1, 1));
        assert!(
            p.take(BackendId(0), ServerId(1), Eligible::Proven, 9)
                .is_none()
        );
        let (k2, c) = p.take(BackendId(0), ServerId(1), Eligible::Any, 9).unwrap();
        assert_eq!((k2, p.len()), (k, 0));
        // Stream 7 no longer owns it: its release is a no-op, stream 9's frees the slot.
        p.release(k, 7);
        assert_eq!(p.put(reg, k, 9, c, None), None);
        assert_eq!(p.len(), 1);
        // The pending timer finds it idle but parked later: fire again at its purge time.
        let (_, c) = p.take(BackendId(0), ServerId(1), Eligible::Any, 9).unwrap();
        p.release(k, 9);
        assert!(p.slots.is_empty());
        drop(c);
    }

    /// The hazard the generation in the token closes: within one poll batch, a stream closes
    /// its server connection (slot freed) and another stream's new connection gets the same
    /// slot; an event of the batch that was for the old socket must not reach the new owner.
    #[test]
    fn a_stale_event_does_not_reach_the_slots_next_owner() {
        let mut poll = mio::Poll::new().unwrap();
        let mut p = pool();
        let k = p.reserve(1);
        let old_token = p.token(k);
        let l = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut s = mio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        poll.registry()
            .register(
                &mut s,
                old_token,
                mio::Interest::READABLE | mio::Interest::WRITABLE,
            )
            .unwrap();
        let mut events = mio::Events::with_capacity(8);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while events.is_empty() && Instant::now() < deadline {
            poll.poll(&mut events, Some(std::time::Duration::from_millis(100)))
                .unwrap();
        }
        let ev = events.iter().next().expect("the connect completes");
        assert_eq!(ev.token(), old_token);
        // Still in the batch: stream 1 closes its connection and stream 2 connects, in the
        // same slot (the slab hands the freed key out again) under a new token.
        poll.registry().deregister(&mut s).unwrap();
        drop(s);
        p.release(k, 1);
        let k2 = p.reserve(2);
        assert_eq!(k2, k);
        assert_ne!(p.token(k2), old_token);
        // The batch's event names the old generation: dropped, not routed to stream 2.
        let token::Target::ServerConn { key, generation } = token::decode(ev.token()) else {
            panic!("not a server connection token: {:?}", ev.token());
        };
        assert_eq!(key, k);
        assert_eq!(
            p.on_event(poll.registry(), key, generation, ev),
            Route::Done
        );
        // The same readiness under the slot's current token is the new owner's.
        let token::Target::ServerConn { generation, .. } = token::decode(p.token(k2)) else {
            panic!("not a server connection token");
        };
        assert_eq!(
            p.on_event(poll.registry(), key, generation, ev),
            Route::Stream(2)
        );
        // Stream 2's connect fails and is retried in the same slot: the new socket gets a new
        // token, and the failed socket's event (same batch) is not read as the new one's.
        let failed = p.token(k2);
        let retried = p.renew(k2, 2);
        assert_ne!(retried, failed);
        let token::Target::ServerConn {
            generation: old, ..
        } = token::decode(failed)
        else {
            panic!("not a server connection token");
        };
        assert_eq!(p.on_event(poll.registry(), key, old, ev), Route::Done);
        let token::Target::ServerConn { generation, .. } = token::decode(retried) else {
            panic!("not a server connection token");
        };
        assert_eq!(
            p.on_event(poll.registry(), key, generation, ev),
            Route::Stream(2)
        );
        // Only the slot's owner renews it.
        assert_eq!(p.renew(k2, 1), retried);
        // A slot that is gone takes no event either.
        p.release(k2, 2);
        assert_eq!(
            p.on_event(poll.registry(), key, generation, ev),
            Route::Done
        );
    }

    #[test]
    fn limit_refuses_and_frees_the_slot() {
        let poll = mio::Poll::new().unwrap();
        let reg = poll.registry();
        let mut p = pool();
        let a = p.reserve(1);
        let b = p.reserve(2);
        let (ca, _la) = idle_conn(0, 0, false);
        let (cb, _lb) = idle_conn(0, 0, false);
        assert!(p.put(reg, a, 1, ca, Some(1)).is_some());
        assert_eq!(p.put(reg, b, 2, cb, Some(1)), None);
        assert_eq!(p.slots.len(), 1);
        let now = Instant::now();
        assert_eq!(p.purge(reg, a, 1, now), None);
        assert!(p.is_empty() && p.slots.is_empty());
    }
}
