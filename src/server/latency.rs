//! Latency histograms (HdrHistogram) of HAProxy's timers `Tt` (total), `Tr` (server response),
//! `Tc` (connect) and `Tw` (queue wait), in milliseconds, per frontend, backend and server.
//!
//! Each reactor owns a [`LatencyRecorder`] and records into it at stream end without a lock
//! or an atomic. Once a second (a timer-wheel entry of the reactor) it adds what it recorded
//! into its slot of [`Published`] — one `Mutex` per reactor, locked by that reactor once a
//! second and by stats readers — and starts again from zero; readers merge the reactors'
//! slots ([`Published::merged`]). A histogram is allocated the first time something is
//! recorded for its object (so idle proxies and servers cost nothing): about 16 KiB per timer
//! per object per reactor, twice (recorder and published slot).

use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::model::Model;

/// Highest value a histogram tracks exactly (ms): one hour; longer ones count as one hour.
const HIGHEST_MS: u64 = 3_600_000;
/// Significant figures: 2 gives 1 % precision (HAProxy's percentiles are estimates too).
const SIGFIG: u8 = 2;

/// The four timers, in this order everywhere (index into [`Set`]).
pub(crate) const TIMERS: [&str; 4] = ["total", "response", "connect", "queue"];

/// The timers of one finished stream, in ms. `None`: the stream did not reach that step
/// (HAProxy logs `-1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timings {
    pub(crate) tt_ms: u64,
    pub(crate) tr_ms: Option<u64>,
    pub(crate) tc_ms: Option<u64>,
    pub(crate) tw_ms: Option<u64>,
}

/// The four histograms of one object.
#[derive(Clone, Debug)]
pub(crate) struct Set(pub [Histogram<u64>; 4]);

impl Set {
    fn new() -> Option<Box<Set>> {
        let h = || Histogram::<u64>::new_with_bounds(1, HIGHEST_MS, SIGFIG).ok();
        Some(Box::new(Set([h()?, h()?, h()?, h()?])))
    }

    fn record(&mut self, t: &Timings) {
        let [tt, tr, tc, tw] = &mut self.0;
        tt.saturating_record(t.tt_ms.min(HIGHEST_MS));
        for (h, v) in [(tr, t.tr_ms), (tc, t.tc_ms), (tw, t.tw_ms)] {
            if let Some(v) = v {
                h.saturating_record(v.min(HIGHEST_MS));
            }
        }
    }

    fn add(&mut self, other: &Set) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            // Same bounds on both sides: `add` cannot fail or grow.
            let _ = a.add(b);
        }
    }

    fn reset(&mut self) {
        for h in &mut self.0 {
            h.reset();
        }
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|h| h.is_empty())
    }
}

/// Where each object's histograms sit in a flat table: frontends, then backends, then every
/// backend's servers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layout {
    frontends: usize,
    backends: usize,
    /// Index of each backend's first server.
    server_base: Vec<usize>,
    len: usize,
}

/// Which object a histogram belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Object {
    Frontend(usize),
    Backend(usize),
    Server(usize, usize),
}

impl Layout {
    pub(crate) fn new(model: &Model) -> Layout {
        let frontends = model.frontends.len();
        let backends = model.backends.len();
        let mut next = frontends + backends;
        let server_base = model
            .backends
            .iter()
            .map(|b| {
                let base = next;
                next += b.servers.len();
                base
            })
            .collect();
        Layout {
            frontends,
            backends,
            server_base,
            len: next,
        }
    }

    fn index(&self, o: Object) -> Option<usize> {
        match o {
            Object::Frontend(i) => (i < self.frontends).then_some(i),
            Object::Backend(i) => (i < self.backends).then_some(self.frontends + i),
            Object::Server(b, s) => {
                let base = *self.server_base.get(b)?;
                let end = self.server_base.get(b + 1).copied().unwrap_or(self.len);
                (base + s < end).then_some(base + s)
            }
        }
    }
}

/// One reactor's histograms since its last publication.
#[derive(Debug)]
pub(crate) struct LatencyRecorder {
    layout: Layout,
    sets: Vec<Option<Box<Set>>>,
    /// Something was recorded since the last publication.
    dirty: bool,
}

impl LatencyRecorder {
    pub(crate) fn new(model: &Model) -> LatencyRecorder {
        let layout = Layout::new(model);
        let sets = (0..layout.len).map(|_| None).collect();
        LatencyRecorder {
            layout,
            sets,
            dirty: false,
        }
    }

    /// Records a finished stream for its frontend, and its backend and server when it had
    /// them. No allocation except the first time an object records something.
    pub(crate) fn record(
        &mut self,
        frontend: usize,
        backend: Option<usize>,
        server: Option<usize>,
        t: &Timings,
    ) {
        let objects = [
            Some(Object::Frontend(frontend)),
            backend.map(Object::Backend),
            backend.zip(server).map(|(b, s)| Object::Server(b, s)),
        ];
        for o in objects.into_iter().flatten() {
            let Some(i) = self.layout.index(o) else {
                continue;
            };
            let Some(slot) = self.sets.get_mut(i) else {
                continue;
            };
            if slot.is_none() {
                *slot = Set::new();
            }
            if let Some(set) = slot.as_mut() {
                set.record(t);
                self.dirty = true;
            }
        }
    }

    /// Adds what was recorded into this reactor's published slot and starts again (the
    /// reactor's once-a-second timer). One lock; allocates only for objects published for the
    /// first time.
    pub(crate) fn publish(&mut self, published: &Published, reactor: usize) {
        if !self.dirty {
            return;
        }
        let Some(slot) = published.reactors.get(reactor) else {
            return;
        };
        let Ok(mut shared) = slot.lock() else {
            return;
        };
        for (mine, theirs) in self.sets.iter_mut().zip(shared.iter_mut()) {
            let Some(mine) = mine.as_mut() else {
                continue;
            };
            if mine.is_empty() {
                continue;
            }
            if theirs.is_none() {
                *theirs = Set::new();
            }
            if let Some(t) = theirs.as_mut() {
                t.add(mine);
            }
            mine.reset();
        }
        self.dirty = false;
    }
}

/// One reactor's published histograms, by object (`None`: nothing yet).
type Slots = Vec<Option<Box<Set>>>;

/// The histograms every reactor published, for the stats readers.
#[derive(Debug, Default)]
pub(crate) struct Published {
    layout: Layout,
    reactors: Box<[Mutex<Slots>]>,
}

impl Published {
    pub(crate) fn new(model: &Model, reactors: usize) -> Published {
        let layout = Layout::new(model);
        let reactors = (0..reactors.max(1))
            .map(|_| Mutex::new((0..layout.len).map(|_| None).collect()))
            .collect();
        Published { layout, reactors }
    }

    /// The four histograms of `o` merged over every reactor (`None`: nothing recorded).
    pub(crate) fn merged(&self, o: Object) -> Option<Set> {
        let i = self.layout.index(o)?;
        let mut out: Option<Set> = None;
        for r in self.reactors.iter() {
            let Ok(slots) = r.lock() else {
                continue;
            };
            let Some(Some(set)) = slots.get(i) else {
                continue;
            };
            match out.as_mut() {
                Some(o) => o.add(set),
                None => out = Some((**set).clone()),
            }
        }
        out
    }
}

/// The percentiles shown in the stats: p50, p90, p99, p99.9.
pub(crate) const PERCENTILES: [(&str, f64); 4] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)];

/// `h`'s value at each of [`PERCENTILES`], in ms.
pub(crate) fn percentiles(h: &Histogram<u64>) -> [u64; 4] {
    PERCENTILES.map(|(_, q)| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(q / 100.0)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let text = "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
                    frontend fe\n    bind 127.0.0.1:1\n    default_backend be\n\
                    backend be\n    server s1 127.0.0.1:80\n    server s2 127.0.0.1:81\n\
                    backend other\n    server s 127.0.0.1:82\n";
        crate::config::load_str("t.cfg", text)
            .map(|l| l.model)
            .unwrap_or_else(|e| unreachable!("test config: {e:?}"))
    }

    fn t(tt: u64, tr: Option<u64>) -> Timings {
        Timings {
            tt_ms: tt,
            tr_ms: tr,
            tc_ms: Some(1),
            tw_ms: Some(0),
        }
    }

    #[test]
    fn records_merge_across_reactors_and_give_percentiles() {
        let m = model();
        let published = Published::new(&m, 2);
        let mut r0 = LatencyRecorder::new(&m);
        let mut r1 = LatencyRecorder::new(&m);
        for v in 1..=500 {
            r0.record(0, Some(0), Some(1), &t(v, Some(v / 2)));
        }
        for v in 501..=1000 {
            r1.record(0, Some(0), Some(1), &t(v, None));
        }
        // Unknown ids are ignored, never a panic.
        r0.record(7, Some(9), Some(9), &t(1, None));
        r1.record(0, Some(0), Some(42), &t(1, None));
        r0.publish(&published, 0);
        r1.publish(&published, 1);
        let fe = published.merged(Object::Frontend(0)).expect("frontend");
        assert_eq!(fe.0[0].len(), 1001);
        let srv = published.merged(Object::Server(0, 1)).expect("server");
        assert_eq!(srv.0[0].len(), 1000);
        let p = percentiles(&srv.0[0]);
        let near = |v: u64, want: u64| v.abs_diff(want) <= want / 50 + 1;
        assert!(near(p[0], 500), "p50 {}", p[0]);
        assert!(near(p[1], 900), "p90 {}", p[1]);
        assert!(near(p[2], 990), "p99 {}", p[2]);
        assert!(near(p[3], 999), "p99.9 {}", p[3]);
        // Tr only from the first reactor's streams.
        assert_eq!(srv.0[1].len(), 500);
        assert!(published.merged(Object::Server(0, 0)).is_none());
        assert!(published.merged(Object::Backend(1)).is_none());
        assert!(published.merged(Object::Server(5, 0)).is_none());
    }

    #[test]
    fn publishing_adds_and_restarts() {
        let m = model();
        let published = Published::new(&m, 1);
        let mut r = LatencyRecorder::new(&m);
        r.record(0, Some(1), Some(0), &t(10, Some(5)));
        r.publish(&published, 0);
        r.publish(&published, 0);
        r.record(0, Some(1), Some(0), &t(20, Some(5)));
        r.publish(&published, 0);
        let be = published.merged(Object::Backend(1)).expect("backend");
        assert_eq!(be.0[0].len(), 2, "each stream counted once");
        assert_eq!(be.0[0].max(), 20);
        // Out-of-range values saturate at the highest trackable value.
        r.record(0, None, None, &t(u64::MAX, None));
        r.publish(&published, 0);
        let fe = published.merged(Object::Frontend(0)).expect("frontend");
        assert!(fe.0[0].max() >= HIGHEST_MS);
        // A publication into a reactor slot that does not exist is ignored.
        r.record(0, None, None, &t(1, None));
        r.publish(&published, 3);
    }
}
