//! The server map of `hash-type map-based` (HAProxy's `lb_map.c`): a table with one slot per
//! unit of effective weight, the servers interleaved so that consecutive slots alternate as
//! smoothly as the weights allow. A hash picks slot `hash % total weight`, as HAProxy's
//! `map_get_server_hash()`, so the same keys land on the same servers as with HAProxy.
//!
//! Effective weights are the configured weights divided by their greatest common divisor
//! (HAProxy's `init_server_map()`), which keeps the table small and the modulo identical.
//! The map is plain data owned by one [`super::Balancer`], rebuilt when the servers' weights or
//! states change, never per pick.

/// Interleaved slots of the usable servers. Invariant: every slot holds the index of a server
/// that had a non-zero weight when the map was built.
#[derive(Debug, Default)]
pub(crate) struct ServerMap {
    slots: Vec<u32>,
    /// Scratch for the build (`wscore` in HAProxy), kept to reuse its allocation.
    score: Vec<i64>,
}

impl ServerMap {
    /// Rebuilds the map for `weights` (one per server, 0 for a server that must not be in it),
    /// each divided (rounding up) by `divisor`.
    ///
    /// HAProxy's `recalc_server_map()`: for each slot, every server gains its weight, the one
    /// with the highest `(score + total) / total` (the first declared on a tie) takes the slot
    /// and pays the total. The integer quotient matters: it decides the ties, and with them
    /// which server sits in which slot. Costs O(total weight × servers), on state changes only.
    pub(crate) fn rebuild(&mut self, weights: &[u32], divisor: u32) {
        let divisor = divisor.max(1);
        self.slots.clear();
        self.score.clear();
        self.score.resize(weights.len(), 0);
        let eweight = |w: u32| w.div_ceil(divisor) as i64;
        let total: i64 = weights.iter().map(|&w| eweight(w)).sum();
        if total == 0 {
            return;
        }
        for _ in 0..total {
            let mut best: Option<(usize, i64)> = None;
            for (i, (&w, score)) in weights.iter().zip(self.score.iter_mut()).enumerate() {
                let ew = eweight(w);
                if ew == 0 {
                    continue;
                }
                if total == 1 {
                    best = Some((i, 0));
                    break;
                }
                *score += ew;
                let v = (*score + total) / total;
                if best.is_none_or(|(_, max)| v > max) {
                    best = Some((i, v));
                }
            }
            let Some((b, _)) = best else {
                break;
            };
            // A server index (a backend has far fewer than u32::MAX servers).
            self.slots.push(u32::try_from(b).unwrap_or(u32::MAX));
            if let Some(s) = self.score.get_mut(b) {
                *s -= total;
            }
        }
    }

    /// The server in slot `hash % total`; when `ok` refuses it (full, or the server to avoid),
    /// the next slot's server that `ok` accepts. `None` when `ok` refuses every server.
    pub(crate) fn lookup(&self, hash: u32, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let start = hash as usize % n;
        (0..n)
            .filter_map(|off| self.slots.get((start + off) % n))
            .map(|&s| s as usize)
            .find(|&s| ok(s))
    }
}

/// Greatest common divisor of the non-zero `weights` (1 when there are none).
pub(crate) fn weight_gcd(weights: impl IntoIterator<Item = u32>) -> u32 {
    let mut g = 0u32;
    for mut w in weights {
        let mut a = g;
        while w != 0 {
            (a, w) = (w, a % w);
        }
        g = a;
    }
    g.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_by_weight() {
        let mut m = ServerMap::default();
        m.rebuild(&[2, 1], 1);
        assert_eq!(m.slots, vec![0, 0, 1]);
        // HAProxy's quantized scores give this table (computed with a port of
        // `recalc_server_map()`), not the smooth round-robin order.
        m.rebuild(&[5, 1, 1], 1);
        assert_eq!(m.slots, vec![0, 0, 0, 1, 0, 0, 2]);
        // Divided by the gcd: the same table.
        m.rebuild(&[10, 2, 2], 2);
        assert_eq!(m.slots.len(), 7);
        m.rebuild(&[0, 0], 1);
        assert!(m.slots.is_empty());
        assert_eq!(m.lookup(3, |_| true), None);
    }

    #[test]
    fn lookup_skips_refused_servers() {
        let mut m = ServerMap::default();
        m.rebuild(&[1, 1, 1], 1);
        assert_eq!(m.lookup(4, |_| true), Some(m.slots[1] as usize));
        let refused = m.slots[1] as usize;
        assert_eq!(m.lookup(4, |s| s != refused), Some(m.slots[2] as usize));
        assert_eq!(m.lookup(4, |_| false), None);
    }

    #[test]
    fn gcd_of_weights() {
        assert_eq!(weight_gcd([12, 0, 18, 30]), 6);
        assert_eq!(weight_gcd([0, 0]), 1);
        assert_eq!(weight_gcd([7]), 7);
    }
}
