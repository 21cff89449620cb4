//! A hashed timer wheel with 1 ms ticks: every timeout of a reactor (connect, client, server,
//! tunnel, queue, checks, accept pauses) is an entry here.
//!
//! Entries are "wake this owner at tick T" reminders, not callbacks. An owner is a kind (a
//! stream, an idle server connection, a health-check probe, or one of the reactor's own
//! timers), a key in that kind's table and the generation of the value that was there when
//! the entry was armed; an entry whose generation no longer matches is stale and dropped by
//! the reactor, which makes cancellation free (lazy). Owners keep their real deadlines
//! themselves and re-arm on expiry when a deadline moved later, so refreshing an idle timeout
//! on every read costs a store, not a wheel operation.
//!
//! Arming is O(1) (push into `slots[tick % SLOTS]`). Expiry walks the ticks elapsed since the
//! last call; an entry further away than one turn of the wheel stays in its slot until its turn.

use std::time::{Duration, Instant};

/// Whole milliseconds of `d`, saturating (a `u64` of milliseconds is 584 million years).
#[inline]
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Number of slots; a power of two. 4096 × 1 ms covers the common timeouts in one turn.
const SLOTS: usize = 4096;
const WORDS: usize = SLOTS / 64;
const SLOT_MASK: u64 = SLOTS as u64 - 1;

/// The slot of `tick`: its low bits (masked below `SLOTS`, so the cast keeps every bit).
#[inline]
fn slot_of(tick: u64) -> usize {
    (tick & SLOT_MASK) as usize
}

/// What kind of thing a timer wakes; says which table `Owner::key` indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    /// A stream: `key` is its slab key in the reactor.
    Stream,
    /// The purge of an idle HTTP server connection: `key` is its `conn::idle::IdlePool` slot.
    IdleConn,
    /// A health-check probe: `key` is its slot (`2 × task + probe`) in `check::Checks`.
    Check,
    /// The reactor's listeners paused after a resource shortage on accept (no key).
    ResumeListeners,
    /// The reactor's once-a-second publication of its latency histograms (no key).
    PublishLatency,
}

/// Who to wake: a kind, a key in that kind's table and the generation the keyed value had
/// when the entry was armed. 16 bytes, as the `(key, generation)` pair it replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub(crate) kind: OwnerKind,
    pub(crate) key: usize,
    pub(crate) generation: u32,
}

impl Owner {
    /// The reactor's listener resume after `EMFILE`/`ENFILE`/`ENOMEM`.
    pub(crate) const RESUME_LISTENERS: Owner = Owner {
        kind: OwnerKind::ResumeListeners,
        key: 0,
        generation: 0,
    };
    /// The reactor's latency publication.
    pub(crate) const PUBLISH_LATENCY: Owner = Owner {
        kind: OwnerKind::PublishLatency,
        key: 0,
        generation: 0,
    };

    /// The stream at slab key `key`, of `generation`.
    pub const fn stream(key: usize, generation: u32) -> Owner {
        Owner {
            kind: OwnerKind::Stream,
            key,
            generation,
        }
    }

    /// The idle server connection in pool slot `key`, of `generation`.
    pub(crate) const fn idle_conn(key: usize, generation: u32) -> Owner {
        Owner {
            kind: OwnerKind::IdleConn,
            key,
            generation,
        }
    }

    /// Health-check probe `slot`, armed with the probe's `generation`.
    pub(crate) const fn check(slot: usize, generation: u32) -> Owner {
        Owner {
            kind: OwnerKind::Check,
            key: slot,
            generation,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    tick: u64,
    owner: Owner,
}

/// The wheel. Time is measured in ticks (ms) since `origin`.
#[derive(Debug)]
pub struct TimerWheel {
    origin: Instant,
    slots: Vec<Vec<Entry>>,
    /// Bit i set when `slots[i]` is not empty: finding the next wake-up scans 64 words.
    occupied: [u64; WORDS],
    /// Every tick up to and including this one has been processed.
    done: u64,
    len: usize,
}

impl TimerWheel {
    pub fn new(now: Instant) -> TimerWheel {
        TimerWheel {
            origin: now,
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            done: 0,
            len: 0,
        }
    }

    /// Number of entries (stale ones included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tick at which `at` has passed (rounded up, so a timer never fires early).
    fn tick_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        let ms = millis(d);
        if d.subsec_nanos() % 1_000_000 != 0 {
            ms + 1
        } else {
            ms
        }
    }

    fn now_tick(&self, now: Instant) -> u64 {
        millis(now.saturating_duration_since(self.origin))
    }

    /// Wakes `owner` at `at` (or at the next tick if `at` has passed).
    pub fn arm(&mut self, at: Instant, owner: Owner) {
        let tick = self.tick_of(at).max(self.done + 1);
        let slot = slot_of(tick);
        // `slot` is below SLOTS: both lookups succeed.
        if let (Some(entries), Some(word)) =
            (self.slots.get_mut(slot), self.occupied.get_mut(slot / 64))
        {
            entries.push(Entry { tick, owner });
            *word |= 1 << (slot % 64);
            self.len += 1;
        }
    }

    /// Moves every owner whose entry is due at `now` into `due`.
    pub fn expire(&mut self, now: Instant, due: &mut Vec<Owner>) {
        let now_tick = self.now_tick(now);
        if now_tick <= self.done {
            return;
        }
        // After a long pause, one pass over every slot is enough.
        let first = if now_tick - self.done > SLOTS as u64 {
            now_tick - SLOTS as u64 + 1
        } else {
            self.done + 1
        };
        for tick in first..=now_tick {
            let slot = slot_of(tick);
            let bit = 1u64 << (slot % 64);
            let (Some(word), Some(entries)) =
                (self.occupied.get_mut(slot / 64), self.slots.get_mut(slot))
            else {
                continue;
            };
            if *word & bit == 0 {
                continue;
            }
            let before = entries.len();
            entries.retain(|e| {
                if e.tick <= now_tick {
                    due.push(e.owner);
                    false
                } else {
                    true
                }
            });
            self.len -= before - entries.len();
            if entries.is_empty() {
                *word &= !bit;
            }
        }
        self.done = now_tick;
    }

    /// How long the reactor may sleep before the next occupied slot comes due; `None` when the
    /// wheel is empty. May be early (a slot can hold entries of a later turn), never late.
    pub fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if self.len == 0 {
            return None;
        }
        let now_tick = self.now_tick(now);
        let start = self.done + 1;
        let start_slot = slot_of(start);
        // Scan the bitmap from start_slot, wrapping once.
        let mut dist = None;
        for step in 0..=WORDS {
            let word_idx = (start_slot / 64 + step) % WORDS;
            let mut word = self.occupied.get(word_idx).copied().unwrap_or(0);
            if step == 0 {
                word &= !0u64 << (start_slot % 64);
            }
            if step == WORDS {
                word &= (1u64 << (start_slot % 64)).wrapping_sub(1);
            }
            if word != 0 {
                let slot = word_idx * 64 + word.trailing_zeros() as usize;
                dist = Some(((slot + SLOTS - start_slot) % SLOTS) as u64);
                break;
            }
        }
        // Tick `t` is due once `t` whole ms have elapsed since the origin.
        let due_tick = (start + dist?).max(now_tick);
        let deadline = self.origin + Duration::from_millis(due_tick);
        Some(deadline.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(key: usize) -> Owner {
        Owner::stream(key, 1)
    }

    #[test]
    fn entries_stay_small() {
        // The kind fits in the padding after the generation: 16-byte owners, 24-byte entries,
        // as with the bare (key, generation) pair.
        if usize::BITS == 64 {
            assert_eq!(std::mem::size_of::<Owner>(), 16);
            assert_eq!(std::mem::size_of::<Entry>(), 24);
        }
    }

    #[test]
    fn owners_of_different_kinds_are_different() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        let all = [
            Owner::stream(3, 1),
            Owner::idle_conn(3, 1),
            Owner::check(3, 1),
            Owner::RESUME_LISTENERS,
            Owner::PUBLISH_LATENCY,
        ];
        for o in all {
            w.arm(t0 + Duration::from_millis(5), o);
        }
        let mut due = Vec::new();
        w.expire(t0 + Duration::from_millis(5), &mut due);
        assert_eq!(due, all);
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        w.arm(t0 + Duration::from_millis(10), owner(1));
        let mut due = Vec::new();
        w.expire(t0 + Duration::from_millis(9), &mut due);
        assert!(due.is_empty());
        w.expire(t0 + Duration::from_millis(10), &mut due);
        assert_eq!(due, vec![owner(1)]);
        assert!(w.is_empty());
    }

    #[test]
    fn far_timers_survive_wheel_turns() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        w.arm(t0 + Duration::from_millis(3 * SLOTS as u64 + 5), owner(7));
        w.arm(t0 + Duration::from_millis(5), owner(8));
        let mut due = Vec::new();
        for ms in (0..3 * SLOTS as u64 + 4).step_by(97) {
            w.expire(t0 + Duration::from_millis(ms), &mut due);
        }
        assert_eq!(due, vec![owner(8)]);
        due.clear();
        w.expire(t0 + Duration::from_millis(3 * SLOTS as u64 + 5), &mut due);
        assert_eq!(due, vec![owner(7)]);
    }

    #[test]
    fn long_pause_fires_everything_once() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        for i in 0..100 {
            w.arm(t0 + Duration::from_millis(i * 37), owner(i as usize));
        }
        let mut due = Vec::new();
        w.expire(t0 + Duration::from_secs(3600), &mut due);
        assert_eq!(due.len(), 100);
        assert!(w.is_empty());
    }

    #[test]
    fn next_timeout_is_never_late() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        assert_eq!(w.next_timeout(t0), None);
        w.arm(t0 + Duration::from_millis(250), owner(1));
        let next = w.next_timeout(t0).unwrap();
        assert!(
            next <= Duration::from_millis(250) && next >= Duration::from_millis(249),
            "{next:?}"
        );
        // An entry one turn away lands in an earlier slot index than "now": still found.
        let mut due = Vec::new();
        w.expire(t0 + Duration::from_millis(4000), &mut due);
        w.arm(t0 + Duration::from_millis(4000 + 100), owner(2));
        let next = w.next_timeout(t0 + Duration::from_millis(4000)).unwrap();
        assert!(next <= Duration::from_millis(100), "{next:?}");
    }

    #[test]
    fn past_deadline_fires_next_tick() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        let mut due = Vec::new();
        w.expire(t0 + Duration::from_millis(50), &mut due);
        w.arm(t0, owner(3));
        w.expire(t0 + Duration::from_millis(51), &mut due);
        assert_eq!(due, vec![owner(3)]);
    }
}
