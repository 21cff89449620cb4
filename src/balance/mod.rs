//! Choosing a server: the `balance` algorithms over the shared server atomics.
//!
//! A [`Balancer`] belongs to one reactor and one backend; it keeps per-reactor cursors (the smooth
//! weighted round-robin state) and reads server state only through atomics, so picking takes no
//! lock. HAProxy's rules: servers that are down, in maintenance, draining or at weight 0 get no
//! new traffic; full servers (at `maxconn`) are skipped; backup servers are used only when no
//! active server is running, the first one alone unless `option allbackups`.

mod hash;

pub use hash::{bytes_hash, source_hash};

use crate::http::view::ReqView;

use crate::model::{Backend, Balance, ServerId};
use crate::server::BackendState;

/// What an algorithm may hash on.
#[derive(Clone, Copy, Debug, Default)]
pub struct PickKey {
    /// The request's hash for the hashing algorithms (`source`, `uri`, `url_param`, `hdr`);
    /// `None` when the key is absent (no such parameter or header), in which case HAProxy falls
    /// back to round robin.
    pub hash: Option<u32>,
}

/// The hash key of a request for `algo`; `None` for non-hashing algorithms and when the key
/// is absent (HAProxy then falls back to round robin).
pub fn request_hash(algo: &Balance, view: &ReqView<'_>) -> Option<u32> {
    match algo {
        Balance::Source => Some(source_hash(view.src.ip())),
        Balance::Uri {
            whole,
            path_only,
            len,
            depth,
        } => {
            let uri = if *path_only { view.path() } else { view.uri() };
            Some(bytes_hash(hash::uri_key(uri, *whole, *len, *depth)))
        }
        Balance::UrlParam { name, .. } => view.url_param(name.as_bytes()).map(bytes_hash),
        Balance::Hdr {
            name,
            use_domain_only,
        } => {
            let v = view.header(name.as_bytes())?;
            Some(bytes_hash(if *use_domain_only {
                hash::domain_only(v)
            } else {
                v
            }))
        }
        Balance::RoundRobin | Balance::StaticRr | Balance::LeastConn | Balance::First => None,
    }
}

/// Per-reactor balancing state of one backend.
#[derive(Debug)]
pub struct Balancer {
    algo: Balance,
    /// Smooth weighted round-robin "current weights", one per server.
    current: Vec<i64>,
    /// Rotating start for ties (leastconn) so equal servers take turns.
    rotor: usize,
}

impl Balancer {
    pub fn new(be: &Backend) -> Balancer {
        Balancer {
            algo: be.balance.clone(),
            current: vec![0; be.servers.len()],
            rotor: 0,
        }
    }

    /// Picks a server for a new stream; `avoid` is tried last (redispatch after a failure).
    /// `None`: no server can take the stream now.
    pub fn pick(
        &mut self,
        be: &Backend,
        st: &BackendState,
        key: PickKey,
        avoid: Option<ServerId>,
    ) -> Option<ServerId> {
        let active_running = be
            .servers
            .iter()
            .zip(st.servers.iter())
            .any(|(s, ss)| !s.backup && ss.is_usable());
        let pool = if active_running {
            Pool::Active
        } else if be.allbackups {
            Pool::AllBackups
        } else {
            // The first usable backup alone.
            let first = be
                .servers
                .iter()
                .zip(st.servers.iter())
                .position(|(s, ss)| s.backup && ss.is_usable())?;
            return (!st.servers.get(first)?.conns.is_full()).then_some(ServerId(first as u32));
        };
        let candidate = |i: usize, avoid: Option<ServerId>| -> bool {
            let (Some(s), Some(ss)) = (be.servers.get(i), st.servers.get(i)) else {
                return false;
            };
            let in_pool = match pool {
                Pool::Active => !s.backup,
                Pool::AllBackups => s.backup,
            };
            in_pool && ss.is_usable() && !ss.conns.is_full() && avoid != Some(ServerId(i as u32))
        };
        let n = be.servers.len();
        // Prefer servers other than `avoid`; fall back to it when it is the only choice.
        let choice = self.pick_among(st, n, key, |i| candidate(i, avoid));
        choice.or_else(|| {
            if avoid.is_some() {
                self.pick_among(st, n, key, |i| candidate(i, None))
            } else {
                None
            }
        })
    }

    fn pick_among(
        &mut self,
        st: &BackendState,
        n: usize,
        key: PickKey,
        ok: impl Fn(usize) -> bool,
    ) -> Option<ServerId> {
        let weight = |i: usize| st.servers.get(i).map_or(0, |s| s.weight()) as i64;
        let idx = match (&self.algo, key.hash) {
            (
                Balance::Source
                | Balance::Uri { .. }
                | Balance::UrlParam { .. }
                | Balance::Hdr { .. },
                Some(h),
            ) => {
                // Map-based hashing: the hash modulo the total weight of the candidates.
                let total: i64 = (0..n).filter(|&i| ok(i)).map(weight).sum();
                if total <= 0 {
                    return None;
                }
                let mut point = (h as i64) % total;
                let mut chosen = None;
                for i in (0..n).filter(|&i| ok(i)) {
                    point -= weight(i);
                    if point < 0 {
                        chosen = Some(i);
                        break;
                    }
                }
                chosen?
            }
            (Balance::LeastConn, _) => {
                // Lowest (conns + 1) / weight, compared by cross-multiplication; ties rotate.
                let mut best: Option<(usize, u64, u64)> = None;
                for off in 0..n {
                    let i = (self.rotor + off) % n;
                    if !ok(i) {
                        continue;
                    }
                    let load = st.servers.get(i).map_or(0, |s| s.conns.cur()) as u64 + 1;
                    let w = weight(i) as u64;
                    if best.is_none_or(|(_, bl, bw)| load * bw < bl * w) {
                        best = Some((i, load, w));
                    }
                }
                self.rotor = self.rotor.wrapping_add(1);
                best?.0
            }
            (Balance::First, _) => (0..n).find(|&i| ok(i))?,
            // roundrobin and static-rr, and the hashing algorithms without a key.
            _ => {
                // Smooth weighted round robin (as nginx does it): every candidate gains its
                // weight, the richest is chosen and pays the total. Spreads picks evenly.
                let mut total = 0i64;
                let mut best: Option<(usize, i64)> = None;
                for i in (0..n).filter(|&i| ok(i)) {
                    let w = weight(i);
                    let cur = self.current.get_mut(i)?;
                    *cur += w;
                    total += w;
                    if best.is_none_or(|(_, bc)| *cur > bc) {
                        best = Some((i, *cur));
                    }
                }
                let b = best?.0;
                if let Some(c) = self.current.get_mut(b) {
                    *c -= total;
                }
                b
            }
        };
        Some(ServerId(idx as u32))
    }
}

#[derive(Clone, Copy)]
enum Pool {
    Active,
    AllBackups,
}

#[cfg(test)]
mod tests;
