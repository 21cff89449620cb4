//! The consistent-hashing ring (`hash-type consistent`, and `balance random`), after HAProxy's
//! `lb_chash.c`.
//!
//! Each usable server of the pool owns `weight × POINTS_PER_WEIGHT` points on a 32-bit ring;
//! point `n` of the server declared at position `i` sits at `full_hash((i + 1) × 4096 + n)`
//! (HAProxy's `full_hash(puid × SRV_EWGHT_RANGE + node)` with automatic server ids), so a
//! backend declared the same way maps keys as HAProxy does. A key goes to the closest point,
//! before or after it; when that server may not take the stream (full, the one to avoid, or
//! above its bounded load) the walk goes on clockwise. Removing a server removes only its
//! points: only the keys it owned move.
//!
//! The ring is plain data owned by one [`super::Balancer`]; building it is the caller's job
//! when the servers' weights or states change, never per pick.

use crate::hash::full_hash;

/// Points per unit of weight: HAProxy's `BE_WEIGHT_SCALE` (a server at weight w has an
/// effective weight of 16·w and one ring point per effective-weight unit).
pub const POINTS_PER_WEIGHT: u32 = 16;

/// HAProxy's `SRV_EWGHT_RANGE` (256 user weights × 16): the key-space stride between servers.
const SERVER_STRIDE: u32 = 256 * POINTS_PER_WEIGHT;

/// One server's point on the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Point {
    key: u32,
    server: u32,
}

/// The ring of one backend's usable servers. Invariant: `points` is sorted by key; `cumulative`
/// and `eweight` have one entry per server of the backend.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    points: Vec<Point>,
    /// Effective weight (`weight × 16`) of each server on the ring, 0 when absent.
    eweight: Vec<u64>,
    /// Sum of the effective weights of the ring's servers declared before each server.
    cumulative: Vec<u64>,
    /// Sum of every effective weight on the ring.
    total: u64,
}

impl Ring {
    /// Rebuilds the ring for effective weights `eweights` (in 1/16 of a configured weight,
    /// one per server of the backend, 0 for a server that must not be on it): a server owns
    /// one point per unit, so a slow start grows its share point by point. Reuses the
    /// allocation.
    pub(crate) fn rebuild(&mut self, eweights: &[u32]) {
        self.points.clear();
        self.eweight.clear();
        self.cumulative.clear();
        self.total = 0;
        for (i, &ew) in eweights.iter().enumerate() {
            self.eweight.push(ew as u64);
            self.cumulative.push(self.total);
            self.total += ew as u64;
            // A server index (a backend has far fewer than u32::MAX servers).
            let server = u32::try_from(i).unwrap_or(u32::MAX);
            let base = server.wrapping_add(1).wrapping_mul(SERVER_STRIDE);
            self.points.extend((0..ew).map(|n| Point {
                key: full_hash(base.wrapping_add(n)),
                server,
            }));
        }
        self.points.sort_unstable();
    }

    /// The server for `hash`: the owner of the closest point (ties go to the point before, as
    /// HAProxy's `chash_get_server_hash()`), or the first server clockwise from it for which
    /// `ok` and `eligible` hold. A server that is `ok` but never `eligible` is the answer of last
    /// resort (as HAProxy, which gives up the bound after one turn). `None`: no server is `ok`.
    pub(crate) fn lookup(
        &self,
        hash: u32,
        ok: impl Fn(usize) -> bool,
        eligible: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.points.len();
        if n == 0 {
            return None;
        }
        let next = self.points.partition_point(|p| p.key < hash) % n;
        let prev = next.checked_sub(1).unwrap_or(n - 1);
        let (pn, pp) = (self.points.get(next)?, self.points.get(prev)?);
        let before = hash.wrapping_sub(pp.key);
        let after = pn.key.wrapping_sub(hash);
        let start = if before <= after { prev } else { next };
        let mut fallback = None;
        let mut last = u32::MAX;
        for off in 0..n {
            let Some(p) = self.points.get((start + off) % n) else {
                break;
            };
            // Consecutive points of one server give the same answer: test it once.
            if p.server == last {
                continue;
            }
            last = p.server;
            let s = p.server as usize;
            if !ok(s) {
                continue;
            }
            if eligible(s) {
                return Some(s);
            }
            fallback.get_or_insert(s);
        }
        fallback
    }

    /// `hash-balance-factor`: may server `s`, with `conns` in-flight streams, take one more
    /// when the backend's servers serve `served` streams and the factor is `factor` percent?
    ///
    /// HAProxy's `chash_server_is_eligible()` ("Consistent Hashing with Bounded Loads",
    /// Mirrokni, Thorup and Zadimoghaddam, arXiv:1608.01350, with weights): the in-flight
    /// streams plus this one, times the factor, rounded up, are shared between the servers in
    /// proportion to their weights (the remainder spread by cumulative weight, so the shares
    /// add up exactly); a server may take one more while it is below its share, and a share is
    /// never 0.
    pub(crate) fn eligible(&self, factor: u32, served: u64, s: usize, conns: u32) -> bool {
        if self.total == 0 {
            return true;
        }
        let slots_total = served
            .saturating_add(1)
            .saturating_mul(factor as u64)
            .div_ceil(100);
        let per_weight = slots_total / self.total;
        let remainder = slots_total % self.total;
        let ew = self.eweight.get(s).copied().unwrap_or(0);
        let cum = self.cumulative.get(s).copied().unwrap_or(0);
        // cum + ew <= total, so the products stay far below u64::MAX; the difference of the
        // two floors is >= 0 because the first operand is the larger.
        let spread = (cum + ew) * remainder / self.total - cum * remainder / self.total;
        let slots = (ew * per_weight + spread).max(1);
        (conns as u64) < slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_owns_weight_times_16_points() {
        let mut r = Ring::default();
        r.rebuild(&[16, 0, 48]);
        assert_eq!(r.points.len(), 4 * POINTS_PER_WEIGHT as usize);
        assert!(r.points.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(r.points.iter().filter(|p| p.server == 1).count(), 0);
        assert_eq!(r.points.iter().filter(|p| p.server == 2).count(), 48);
        r.rebuild(&[]);
        assert!(r.points.is_empty());
        assert_eq!(r.lookup(7, |_| true, |_| true), None);
    }

    #[test]
    fn lookup_takes_the_closest_point() {
        let mut r = Ring::default();
        r.rebuild(&[16, 16]);
        for p in r.points.clone() {
            assert_eq!(r.lookup(p.key, |_| true, |_| true), Some(p.server as usize));
            assert_eq!(
                r.lookup(p.key.wrapping_add(1), |_| true, |_| true),
                Some(p.server as usize)
            );
        }
        // Skips servers that may not take the stream, and gives up when none may.
        assert_eq!(r.lookup(0, |s| s == 1, |_| true), Some(1));
        assert_eq!(r.lookup(0, |_| false, |_| true), None);
        // Ineligible everywhere: the first acceptable server clockwise, as a last resort.
        assert!(r.lookup(0, |_| true, |_| false).is_some());
    }
}
