//! Idle server connections kept for reuse (`http-reuse`), per reactor and per server.
//!
//! An idle connection stays registered with the reactor's poll under an idle token, so a server
//! that closes it (or sends unsolicited bytes) is noticed and the connection dropped. Each one
//! is purged after the server's `pool-purge-delay`. Lists are LIFO: the most recently used
//! connection is reused first (warm, least likely closed by the server's own idle timeout).

use std::time::Instant;

use mio::Registry;
use slab::Slab;

use super::Sock;
use crate::model::{BackendId, Model, ServerId};
use crate::token;

/// Timer owners of idle connections carry this bit in their key (stream keys never do).
pub const IDLE_TIMER_BIT: usize = 1 << (usize::BITS - 3);

/// A connection waiting in the pool.
#[derive(Debug)]
pub struct IdleConn {
    pub sock: Sock,
    pub backend: BackendId,
    pub server: ServerId,
    pub purge_at: Instant,
    pub generation: u32,
    /// It already carried a request for another session (HAProxy's "proven" connections,
    /// which `http-reuse aggressive` may give to a session's first request).
    pub reused: bool,
}

/// Which connections a session may take (HAProxy's `http-reuse` rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eligible {
    /// Any idle connection (`always`, or a session's later requests with `safe`/`aggressive`).
    Any,
    /// Only connections that have been reused already (`aggressive`, first request).
    Proven,
}

#[derive(Debug, Default)]
pub struct IdlePool {
    conns: Slab<IdleConn>,
    /// `[backend][server]` → keys in `conns`, most recent last.
    lists: Vec<Vec<Vec<usize>>>,
    next_generation: u32,
}

impl IdlePool {
    pub fn new(model: &Model) -> IdlePool {
        IdlePool {
            conns: Slab::new(),
            lists: model
                .backends
                .iter()
                .map(|b| b.servers.iter().map(|_| Vec::new()).collect())
                .collect(),
            next_generation: 1,
        }
    }

    fn list(&mut self, be: BackendId, srv: ServerId) -> Option<&mut Vec<usize>> {
        self.lists.get_mut(be.0 as usize)?.get_mut(srv.0 as usize)
    }

    /// Idle connections to one server in this reactor.
    pub fn count(&self, be: BackendId, srv: ServerId) -> usize {
        self.lists
            .get(be.0 as usize)
            .and_then(|l| l.get(srv.0 as usize))
            .map_or(0, Vec::len)
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Takes the most recent eligible idle connection to `srv`, deregistered from the idle token.
    pub fn take(&mut self, be: BackendId, srv: ServerId, eligible: Eligible) -> Option<IdleConn> {
        let conns = &self.conns;
        let list = self.lists.get_mut(be.0 as usize)?.get_mut(srv.0 as usize)?;
        let pos = list.iter().rposition(|&k| {
            conns
                .get(k)
                .is_some_and(|c| eligible == Eligible::Any || c.reused)
        })?;
        let key = list.remove(pos);
        // Still registered under the idle token: the taker moves it with `reregister`.
        self.conns.try_remove(key)
    }

    /// Puts a connection in the pool; returns the timer owner key and generation to arm for its
    /// purge, or `None` when the pool refused it (limit reached; the socket is closed).
    pub fn put(
        &mut self,
        registry: &Registry,
        mut c: IdleConn,
        limit: Option<u32>,
    ) -> Option<(usize, u32)> {
        if limit.is_some_and(|l| self.count(c.backend, c.server) >= l as usize) {
            c.sock.deregister(registry);
            return None;
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        c.generation = generation;
        let (be, srv) = (c.backend, c.server);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        // The socket is normally still registered under its stream's token: move it.
        let moved = c
            .sock
            .reregister(registry, token::idle(key))
            .or_else(|_| c.sock.register(registry, token::idle(key)));
        if moved.is_err() {
            c.sock.deregister(registry);
            return None;
        }
        entry.insert(c);
        if let Some(l) = self.list(be, srv) {
            l.push(key);
        }
        Some((key | IDLE_TIMER_BIT, generation))
    }

    /// Drops the idle connection at `key` (the server closed it, sent bytes, or it expired).
    pub fn drop_conn(&mut self, registry: &Registry, key: usize) {
        if let Some(mut c) = self.conns.try_remove(key) {
            c.sock.deregister(registry);
            if let Some(l) = self.list(c.backend, c.server) {
                l.retain(|&k| k != key);
            }
        }
    }

    /// A purge timer fired: drops the connection if it is still the same one and due.
    pub fn purge(&mut self, registry: &Registry, key: usize, generation: u32, now: Instant) {
        let due = self
            .conns
            .get(key)
            .is_some_and(|c| c.generation == generation && c.purge_at <= now);
        if due {
            self.drop_conn(registry, key);
        }
    }

    /// Closes every idle connection (soft stop, hard stop).
    pub fn clear(&mut self, registry: &Registry) {
        for (_, c) in self.conns.iter_mut() {
            c.sock.deregister(registry);
        }
        self.conns.clear();
        for be in &mut self.lists {
            for l in be {
                l.clear();
            }
        }
    }
}
