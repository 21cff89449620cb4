//! Choosing a server: the `balance` algorithms over the shared server atomics.
//!
//! A [`Balancer`] belongs to one reactor and one backend; it keeps per-reactor cursors (the smooth
//! weighted round-robin state, the draws of `random`) and lookup tables (the `map-based` map,
//! the `consistent` ring) and reads server state only through atomics, so picking takes no
//! lock. HAProxy's rules: servers that are down, in maintenance, draining or at weight 0 get no
//! new traffic; full servers (at `maxconn`) are skipped; backup servers are used only when no
//! active server is running, the first one alone unless `option allbackups`.
//!
//! Key hashing (`hash-type` functions, `avalanche`) is `crate::hash`, the map in `map.rs`, the
//! ring and `hash-balance-factor` in `ring.rs`; the config parser owns their keywords.

mod map;
mod ring;

pub use crate::hash::{
    HashFunction, HashMethod, HashType, crc32, djb2, full_hash, sdbm, source_hash, wt6,
};
pub use ring::POINTS_PER_WEIGHT;

use crate::http::view::ReqView;

use crate::model::{Backend, Balance, ServerId};
use crate::server::{BackendState, SPARE_SERVERS, ServerState, WEIGHT_SCALE};

use map::ServerMap;
use ring::Ring;

/// Most draws `balance random(N)` makes per pick. HAProxy loops N times whatever N is (the
/// parser takes up to 2^31); past a few hundred draws the choice is leastconn's, so the rest
/// would only burn CPU on every request.
const MAX_DRAWS: u32 = 1024;

/// HAProxy's `SRV_EWGHT_MAX` (256 × 16): the scale of the leastconn key.
const LC_EWGHT_MAX: u64 = 256 * WEIGHT_SCALE as u64;

/// What an algorithm may hash on.
#[derive(Clone, Copy, Debug, Default)]
pub struct PickKey {
    /// The request's key for the hashing algorithms (`source`, `uri`, `url_param`, `hdr`):
    /// the `hash-type` function applied to the key bytes, or the folded address for `source`,
    /// before the `avalanche` modifier (the balancer applies it). `None` when the key is absent
    /// (no such parameter or header), in which case HAProxy falls back to round robin.
    pub hash: Option<u32>,
}

/// The hash key of a request for `algo`, hashed with `function` (the backend's `hash-type`
/// function): `None` for the algorithms that hash nothing and when the key is absent or, for
/// a header, empty (HAProxy then falls back to round robin).
pub(crate) fn request_hash_with(
    algo: &Balance,
    function: HashFunction,
    view: &ReqView<'_>,
) -> Option<u32> {
    match algo {
        Balance::Source => Some(source_hash(view.src.ip())),
        Balance::Uri {
            whole,
            path_only,
            len,
            depth,
        } => {
            let uri = if *path_only { view.path() } else { view.uri() };
            Some(function.hash(crate::hash::uri_key(uri, *whole, *len, *depth)))
        }
        Balance::UrlParam { name, .. } => view.url_param(name.as_bytes()).map(|v| function.hash(v)),
        Balance::Hdr {
            name,
            use_domain_only,
        } => {
            let v = view.header(name.as_bytes()).filter(|v| !v.is_empty())?;
            Some(function.hash(if *use_domain_only {
                crate::hash::domain_only(v)
            } else {
                v
            }))
        }
        Balance::RoundRobin
        | Balance::StaticRr
        | Balance::LeastConn
        | Balance::First
        | Balance::Random { .. } => None,
    }
}

/// Per-reactor balancing state of one backend.
///
/// The hashing tables (the map of `hash-type map-based`, the ring of `hash-type consistent`
/// and `balance random`) depend on which servers are usable and on their weights, which other
/// threads change through the atomics. The balancer keeps a snapshot of what it built them
/// from, one weight per server (0 when the server is out); each pick compares the atomics
/// with it (one pass, no lock, no allocation) and rebuilds only when they differ, i.e. once
/// after a server goes up or down or changes weight.
#[derive(Debug)]
pub struct Balancer {
    algo: Balance,
    hash_type: HashType,
    /// `hash-balance-factor` (0: off).
    balance_factor: u32,
    /// Smooth weighted round-robin "current weights", one per server.
    current: Vec<i64>,
    /// Draws of `balance random`.
    rng: XorShift,
    table: Table,
    /// Per server, the weight `table` was built with (0: not in it).
    built_from: Vec<u32>,
    /// False until `table` was built once.
    built: bool,
    /// Greatest common divisor of the configured weights (the map's weight unit).
    weight_gcd: u32,
    /// Server indexes by increasing `id` (the order `balance first` fills them in).
    by_id: Vec<usize>,
}

/// The lookup table an algorithm needs.
#[derive(Debug)]
enum Table {
    None,
    Map(ServerMap),
    Ring(Ring),
}

impl Balancer {
    pub fn new(be: &Backend) -> Balancer {
        let table = match (&be.balance, be.hash_type.method) {
            (Balance::Random { .. }, _) => Table::Ring(Ring::default()),
            (b, HashMethod::Consistent) if b.is_hash() => Table::Ring(Ring::default()),
            (b, HashMethod::MapBased) if b.is_hash() => Table::Map(ServerMap::default()),
            _ => Table::None,
        };
        Balancer {
            algo: be.balance.clone(),
            hash_type: be.hash_type,
            balance_factor: be.hash_balance_factor,
            // Spare slots for servers added at run time follow the configured ones.
            current: vec![0; be.servers.len() + SPARE_SERVERS],
            rng: XorShift::seeded(),
            table,
            built_from: vec![0; be.servers.len() + SPARE_SERVERS],
            built: false,
            weight_gcd: map::weight_gcd(be.servers.iter().map(|s| s.weight)),
            by_id: {
                let mut v: Vec<usize> = (0..be.servers.len()).collect();
                v.sort_by_key(|&i| be.servers.get(i).map_or(0, |s| s.id));
                v.extend(be.servers.len()..be.servers.len() + SPARE_SERVERS);
                v
            },
        }
    }

    /// Whether a pick with `key` binds the stream to its server (a hashing algorithm with a
    /// key): the server is returned even when it is at its limit, and the stream then waits
    /// in that server's queue, as HAProxy does, rather than breaking the key's affinity.
    pub(crate) fn binds(&self, key: PickKey) -> bool {
        self.algo.is_hash() && key.hash.is_some()
    }

    /// Picks a server for a new stream; `avoid` is tried last (redispatch after a failure).
    /// `now_ms` is the shared clock ([`crate::server::SharedState::ms`]) slow starts ramp
    /// on. `None`: no server can take the stream now. Servers at their (dynamic) limit or
    /// with a queue are skipped, except by a binding pick (see [`Balancer::binds`]).
    pub fn pick(
        &mut self,
        be: &Backend,
        st: &BackendState,
        key: PickKey,
        avoid: Option<ServerId>,
        now_ms: u64,
    ) -> Option<ServerId> {
        let bound = self.binds(key);
        // One load: 0 unless `add server` was used on this backend.
        let spares = st.spares_used.load(std::sync::atomic::Ordering::Acquire);
        let active_running = be
            .servers
            .iter()
            .zip(st.servers.iter())
            .any(|(s, ss)| !s.backup && ss.is_usable())
            // Servers added at run time in the spare slots.
            || (be.servers.len()..be.servers.len() + spares)
                .any(|i| !ServerState::is_backup(be, st, i) && st.servers.get(i).is_some_and(|ss| ss.is_usable()));
        let pool = if active_running {
            Pool::Active
        } else if be.allbackups {
            Pool::AllBackups
        } else {
            // The first usable backup alone.
            let first = (0..be.servers.len() + spares).find(|&i| {
                ServerState::is_backup(be, st, i)
                    && st.servers.get(i).is_some_and(|ss| ss.is_usable())
            })?;
            return (bound || !st.server_busy(first, now_ms))
                .then_some(ServerId::from_index(first));
        };
        self.refresh(be, st, pool, now_ms, spares);
        let candidate = |i: usize, avoid: Option<ServerId>| -> bool {
            let Some(ss) = st.servers.get(i) else {
                return false;
            };
            let backup = ServerState::is_backup(be, st, i);
            pool.holds(backup)
                && ss.is_usable()
                && (bound || !st.server_busy(i, now_ms))
                && avoid != Some(ServerId::from_index(i))
        };
        let n = (be.servers.len() + spares).min(st.servers.len());
        // Prefer servers other than `avoid`; fall back to it when it is the only choice.
        let choice = self.pick_among(st, n, key, now_ms, |i| candidate(i, avoid));
        choice.or_else(|| {
            if avoid.is_some() {
                self.pick_among(st, n, key, now_ms, |i| candidate(i, None))
            } else {
                None
            }
        })
    }

    /// Rebuilds the hashing table when a server of `pool` changed state or weight since the
    /// last build.
    fn refresh(&mut self, be: &Backend, st: &BackendState, pool: Pool, now_ms: u64, spares: usize) {
        if matches!(self.table, Table::None) {
            return;
        }
        let mut changed = !self.built;
        let servers = st.servers.iter().take(be.servers.len() + spares);
        for (i, (ss, seen)) in servers.zip(self.built_from.iter_mut()).enumerate() {
            let backup = ServerState::is_backup(be, st, i);
            let w = if pool.holds(backup) && ss.is_usable() {
                st.eweight(i, now_ms)
            } else {
                0
            };
            if *seen != w {
                *seen = w;
                changed = true;
            }
        }
        if !changed {
            return;
        }
        self.built = true;
        match &mut self.table {
            // Map-based hashing is static: its effective weights are exactly weight × 16.
            Table::Map(m) => m.rebuild(&self.built_from, self.weight_gcd * WEIGHT_SCALE),
            Table::Ring(r) => r.rebuild(&self.built_from),
            Table::None => {}
        }
    }

    fn pick_among(
        &mut self,
        st: &BackendState,
        n: usize,
        key: PickKey,
        now_ms: u64,
        ok: impl Fn(usize) -> bool,
    ) -> Option<ServerId> {
        let weight = |i: usize| st.eweight(i, now_ms) as i64;
        let conns = |i: usize| st.servers.get(i).map_or(0, |s| s.conns.cur());
        // `hash-balance-factor` applies wherever the ring is used (HAProxy: consistent hashing
        // and random); it needs the backend's in-flight total, summed only when it is on.
        let factor = self.balance_factor;
        let served: u64 = if factor > 0 {
            st.servers.iter().map(|s| s.conns.cur() as u64).sum()
        } else {
            0
        };
        let idx = match (&self.algo, key.hash) {
            (
                Balance::Source
                | Balance::Uri { .. }
                | Balance::UrlParam { .. }
                | Balance::Hdr { .. },
                Some(h),
            ) => {
                let h = if self.hash_type.avalanche {
                    full_hash(h)
                } else {
                    h
                };
                match &self.table {
                    Table::Map(m) => m.lookup(h, &ok)?,
                    Table::Ring(r) => r.lookup(h, &ok, |s| {
                        factor == 0 || r.eligible(factor, served, s, conns(s))
                    })?,
                    Table::None => {
                        debug_assert!(false, "hashing algorithm without a table");
                        return None;
                    }
                }
            }
            (Balance::Random { draws }, _) => {
                // Power of N choices (HAProxy's `get_server_rnd()`): N random points on the
                // ring, so weights count; keep the least loaded relative to its weight, the
                // newer draw on a tie.
                let Table::Ring(r) = &self.table else {
                    debug_assert!(false, "random without a ring");
                    return None;
                };
                let mut best: Option<usize> = None;
                for _ in 0..(*draws).clamp(1, MAX_DRAWS) {
                    let h = self.rng.next_u32();
                    let Some(cur) = r.lookup(h, &ok, |s| {
                        factor == 0 || r.eligible(factor, served, s, conns(s))
                    }) else {
                        break;
                    };
                    best = match best {
                        Some(prev)
                            if prev != cur
                                && conns(cur) as i64 * weight(prev)
                                    > conns(prev) as i64 * weight(cur) =>
                        {
                            Some(prev)
                        }
                        _ => Some(cur),
                    };
                }
                best?
            }
            (Balance::LeastConn, _) => {
                // HAProxy's fwlc key: (served + queued + 1) × SRV_EWGHT_MAX / eweight, the
                // lowest first, and 0 for a server with nothing in flight (idle servers come
                // first whatever their weights: sequential requests alternate between weights
                // 2 and 1 on haproxy 2.6.12); among equal keys the server requeued longest ago (its take or
                // release stamp on the backend's shared clock), so ties rotate, across reactors
                // too. Stamped as soon as it is picked, before any other reactor looks.
                let mut best: Option<(usize, u64, u64)> = None;
                for i in (0..n).filter(|&i| ok(i)) {
                    let Some(ss) = st.servers.get(i) else {
                        continue;
                    };
                    let inflight = u64::from(ss.conns.cur()) + u64::from(ss.queue.len());
                    let w = u64::from(st.eweight(i, now_ms)).max(1);
                    let key = if inflight == 0 {
                        0
                    } else {
                        (inflight + 1) * LC_EWGHT_MAX / w
                    };
                    let stamp = ss.lc_stamp.load(std::sync::atomic::Ordering::Relaxed);
                    if best.is_none_or(|(_, bk, bs)| (key, stamp) < (bk, bs)) {
                        best = Some((i, key, stamp));
                    }
                }
                let b = best?.0;
                st.requeue(b);
                b
            }
            (Balance::First, _) => self.by_id.iter().copied().find(|&i| ok(i))?,
            // roundrobin and static-rr, and the hashing algorithms without a key.
            (
                Balance::RoundRobin
                | Balance::StaticRr
                | Balance::Source
                | Balance::Uri { .. }
                | Balance::UrlParam { .. }
                | Balance::Hdr { .. },
                _,
            ) => {
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
        Some(ServerId::from_index(idx))
    }
}

/// Which servers may take new streams.
#[derive(Clone, Copy)]
enum Pool {
    Active,
    AllBackups,
}

impl Pool {
    fn holds(self, backup: bool) -> bool {
        match self {
            Pool::Active => !backup,
            Pool::AllBackups => backup,
        }
    }
}

/// xorshift64* (Marsaglia; Vigna's multiplier): a few cycles per draw, statistically plenty for
/// picking servers, and owned by one balancer so draws need no synchronisation.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    /// Seeded from std's per-process random hash keys (different for every balancer).
    fn seeded() -> XorShift {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u32);
        // The state must never be 0, or every draw is 0.
        XorShift(seed | 1)
    }

    fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

#[cfg(test)]
mod tests;
