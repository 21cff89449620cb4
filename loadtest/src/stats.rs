//! Measurement results: per-thread counters and latency histograms, how they merge, the
//! error classes, and the JSON document (`RunReport`) every load mode writes. No sockets
//! here; the clients fill a `ThreadStats` and `main` turns the merged one into a report.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency the histograms track, in microseconds (one hour); larger values saturate.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Width of one failover timeline bucket: the issue asks for errors per 100 ms.
pub const TIMELINE_BUCKET: Duration = Duration::from_millis(100);
/// Backends tracked per timeline; more distinct `X-Backend` names are lumped into "other".
const MAX_TRACKED_BACKENDS: usize = 16;

/// Why one request (or connection, or stream) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Nothing listens (RST on SYN).
    ConnectRefused,
    /// No answer to the SYN within the connect timeout.
    ConnectTimeout,
    /// The peer reset the connection (ECONNRESET, EPIPE).
    Reset,
    /// The response did not complete within the request timeout.
    ReadTimeout,
    /// The peer closed before the response was complete.
    Closed,
    /// The response could not be parsed.
    Protocol,
    /// Any other socket error.
    Other,
    /// A complete response with status >= 400.
    Status(u16),
}

impl ErrorClass {
    /// Classifies a socket error seen while connecting (`connecting = true`) or later.
    pub fn from_io(err: &io::Error, connecting: bool) -> ErrorClass {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => ErrorClass::ConnectRefused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ErrorClass::Reset,
            io::ErrorKind::TimedOut if connecting => ErrorClass::ConnectTimeout,
            io::ErrorKind::TimedOut => ErrorClass::ReadTimeout,
            _ => ErrorClass::Other,
        }
    }
}

/// Error counters by class; HTTP statuses 400..=599 each have their own counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCounts {
    pub connect_refused: u64,
    pub connect_timeout: u64,
    pub reset: u64,
    pub read_timeout: u64,
    pub closed: u64,
    pub protocol: u64,
    pub other: u64,
    /// Of the errors above, those of a request written on a reused keep-alive connection that
    /// the server closed or reset before any byte of the response: the server may have
    /// closed it while idle and never read the request (a soft-stopping proxy does), but the
    /// client cannot know, so it stays a failure; reported apart to tell the cases apart.
    pub reused_idle: u64,
    /// Index `s - 400` counts status `s`; statuses outside 400..=599 land in `other`.
    status: [u64; 200],
}

impl Default for ErrorCounts {
    fn default() -> Self {
        ErrorCounts {
            connect_refused: 0,
            connect_timeout: 0,
            reset: 0,
            read_timeout: 0,
            closed: 0,
            protocol: 0,
            other: 0,
            reused_idle: 0,
            status: [0; 200],
        }
    }
}

impl ErrorCounts {
    pub fn add(&mut self, class: ErrorClass) {
        let slot = match class {
            ErrorClass::ConnectRefused => &mut self.connect_refused,
            ErrorClass::ConnectTimeout => &mut self.connect_timeout,
            ErrorClass::Reset => &mut self.reset,
            ErrorClass::ReadTimeout => &mut self.read_timeout,
            ErrorClass::Closed => &mut self.closed,
            ErrorClass::Protocol => &mut self.protocol,
            ErrorClass::Other => &mut self.other,
            ErrorClass::Status(s) => match usize::from(s)
                .checked_sub(400)
                .and_then(|i| self.status.get_mut(i))
            {
                Some(slot) => slot,
                None => &mut self.other,
            },
        };
        *slot += 1;
    }

    pub fn total(&self) -> u64 {
        self.connect_refused
            + self.connect_timeout
            + self.reset
            + self.read_timeout
            + self.closed
            + self.protocol
            + self.other
            + self.status.iter().sum::<u64>()
    }

    pub fn merge(&mut self, o: &ErrorCounts) {
        self.connect_refused += o.connect_refused;
        self.connect_timeout += o.connect_timeout;
        self.reset += o.reset;
        self.read_timeout += o.read_timeout;
        self.closed += o.closed;
        self.protocol += o.protocol;
        self.other += o.other;
        self.reused_idle += o.reused_idle;
        for (a, b) in self.status.iter_mut().zip(o.status.iter()) {
            *a += b;
        }
    }

    /// The JSON form: fixed classes plus `"http": {"503": n}` for statuses seen.
    pub fn to_report(&self) -> ErrorsReport {
        let mut http = BTreeMap::new();
        for (i, n) in self.status.iter().enumerate() {
            if *n > 0 {
                http.insert((400 + i).to_string(), *n);
            }
        }
        ErrorsReport {
            total: self.total(),
            connect_refused: self.connect_refused,
            connect_timeout: self.connect_timeout,
            reset: self.reset,
            read_timeout: self.read_timeout,
            closed: self.closed,
            protocol: self.protocol,
            other: self.other,
            reused_idle: self.reused_idle,
            http,
        }
    }
}

/// Requests completed and errors per 100 ms, plus hits per backend (from `X-Backend`).
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub errors: Vec<u64>,
    pub ok: Vec<u64>,
    pub backends: Vec<(String, Vec<u64>)>,
}

impl Timeline {
    fn bucket(v: &mut Vec<u64>, idx: usize) -> &mut u64 {
        if v.len() <= idx {
            v.resize(idx + 1, 0);
        }
        &mut v[idx] // resized just above, cannot be out of bounds
    }

    pub fn record(&mut self, at: Duration, ok: bool, backend: Option<&[u8]>) {
        let idx =
            usize::try_from(at.as_millis() / TIMELINE_BUCKET.as_millis()).unwrap_or(usize::MAX / 2);
        let idx = idx.min(1_000_000); // 27 hours of buckets; keeps a runaway clock from allocating
        if ok {
            *Self::bucket(&mut self.ok, idx) += 1;
        } else {
            *Self::bucket(&mut self.errors, idx) += 1;
        }
        if let Some(name) = backend {
            let pos = match self.backends.iter().position(|(n, _)| n.as_bytes() == name) {
                Some(p) => p,
                None if self.backends.len() < MAX_TRACKED_BACKENDS => {
                    self.backends
                        .push((String::from_utf8_lossy(name).into_owned(), Vec::new()));
                    self.backends.len() - 1
                }
                None => return,
            };
            if let Some((_, v)) = self.backends.get_mut(pos) {
                *Self::bucket(v, idx) += 1;
            }
        }
    }

    pub fn merge(&mut self, o: &Timeline) {
        fn add(a: &mut Vec<u64>, b: &[u64]) {
            if a.len() < b.len() {
                a.resize(b.len(), 0);
            }
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        add(&mut self.errors, &o.errors);
        add(&mut self.ok, &o.ok);
        for (name, v) in &o.backends {
            match self.backends.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => add(mine, v),
                None => self.backends.push((name.clone(), v.clone())),
            }
        }
    }
}

/// Everything one load thread measured.
#[derive(Debug, Clone)]
pub struct ThreadStats {
    /// Latency in microseconds.
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub errors: ErrorCounts,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub timeline: Option<Timeline>,
}

impl ThreadStats {
    pub fn new(timeline: bool) -> ThreadStats {
        #[allow(clippy::expect_used)] // constant bounds; failing here is a programming error
        let hist =
            Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
        ThreadStats {
            hist,
            ok: 0,
            errors: ErrorCounts::default(),
            bytes_read: 0,
            bytes_written: 0,
            timeline: timeline.then(Timeline::default),
        }
    }

    pub fn record_latency(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(MAX_LATENCY_US)
            .clamp(1, MAX_LATENCY_US);
        self.hist.saturating_record(us);
    }

    pub fn merge(&mut self, o: &ThreadStats) {
        // Same bounds everywhere, so add() cannot fail; keep going if it somehow does.
        let _ = self.hist.add(&o.hist);
        self.ok += o.ok;
        self.errors.merge(&o.errors);
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        match (&mut self.timeline, &o.timeline) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => self.timeline = Some(b.clone()),
            (_, None) => {}
        }
    }
}

/// Counters the threads bump as they go, read by the progress line and by `hold`.
#[derive(Debug, Default)]
pub struct Live {
    pub done: AtomicU64,
    pub errors: AtomicU64,
    pub bytes: AtomicU64,
    pub held: AtomicU64,
}

impl Live {
    pub fn add_done(&self, ok: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencyReport {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Error counters as written to JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorsReport {
    pub total: u64,
    pub connect_refused: u64,
    pub connect_timeout: u64,
    pub reset: u64,
    pub read_timeout: u64,
    pub closed: u64,
    pub protocol: u64,
    pub other: u64,
    /// See `ErrorCounts::reused_idle` (absent in older result files).
    #[serde(default)]
    pub reused_idle: u64,
    /// Status code (as a string, JSON keys are strings) to count.
    pub http: BTreeMap<String, u64>,
}

/// Timeline as written to JSON: bucket width and per-bucket counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TimelineReport {
    pub bucket_ms: u64,
    pub ok: Vec<u64>,
    pub errors: Vec<u64>,
    pub backends: BTreeMap<String, Vec<u64>>,
}

/// The result of one load run, as printed and as written with `--json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    /// "http", "tcp-bulk", "tcp-connrate" or "hold".
    pub mode: String,
    pub target: String,
    pub threads: usize,
    pub connections: usize,
    /// Wall clock at the start of measurement, Unix milliseconds (aligns failover events).
    pub started_unix_ms: u64,
    pub elapsed_s: f64,
    /// Finished attempts: `ok + errors.total`.
    pub requests: u64,
    pub ok: u64,
    pub requests_per_s: f64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub read_bytes_per_s: f64,
    pub written_bytes_per_s: f64,
    /// For tcp-bulk: payload throughput in the measured direction(s), Gbit/s.
    pub gbit_per_s: f64,
    pub latency_us: LatencyReport,
    /// `[percentile, microseconds]` pairs for the percentile curve.
    pub percentiles: Vec<[f64; 2]>,
    pub errors: ErrorsReport,
    pub timeline: Option<TimelineReport>,
    /// For `hold`: connections established end to end.
    pub held: Option<u64>,
}

/// Percentiles plotted on the latency curve.
const CURVE: [f64; 12] = [
    0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

impl RunReport {
    /// Builds the report from merged stats; `elapsed` is the measured wall time.
    pub fn from_stats(
        mode: &str,
        target: &str,
        threads: usize,
        connections: usize,
        started_unix_ms: u64,
        elapsed: Duration,
        s: &ThreadStats,
    ) -> RunReport {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let requests = s.ok + s.errors.total();
        let h = &s.hist;
        let latency_us = if h.is_empty() {
            LatencyReport::default()
        } else {
            LatencyReport {
                count: h.len(),
                min: h.min(),
                mean: h.mean(),
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
                p999: h.value_at_quantile(0.999),
                max: h.max(),
            }
        };
        let percentiles = if h.is_empty() {
            Vec::new()
        } else {
            CURVE
                .iter()
                .map(|p| [*p, h.value_at_percentile(*p) as f64])
                .collect()
        };
        let timeline = s.timeline.as_ref().map(|t| TimelineReport {
            bucket_ms: u64::try_from(TIMELINE_BUCKET.as_millis()).unwrap_or(100),
            ok: t.ok.clone(),
            errors: t.errors.clone(),
            backends: t.backends.iter().cloned().collect(),
        });
        RunReport {
            mode: mode.to_string(),
            target: target.to_string(),
            threads,
            connections,
            started_unix_ms,
            elapsed_s: secs,
            requests,
            ok: s.ok,
            requests_per_s: requests as f64 / secs,
            bytes_read: s.bytes_read,
            bytes_written: s.bytes_written,
            read_bytes_per_s: s.bytes_read as f64 / secs,
            written_bytes_per_s: s.bytes_written as f64 / secs,
            gbit_per_s: 0.0,
            latency_us,
            percentiles,
            errors: s.errors.to_report(),
            timeline,
            held: None,
        }
    }

    /// Readable multi-line summary.
    pub fn summary(&self) -> String {
        let l = &self.latency_us;
        let mut out = format!(
            "{} -> {}  ({} threads, {} connections, {:.2} s)\n",
            self.mode, self.target, self.threads, self.connections, self.elapsed_s
        );
        out += &format!(
            "  requests: {} ok, {} errors, {:.0} req/s\n",
            self.ok, self.errors.total, self.requests_per_s
        );
        out += &format!(
            "  bytes:    read {} ({}/s), written {} ({}/s)\n",
            human_bytes(self.bytes_read as f64),
            human_bytes(self.read_bytes_per_s),
            human_bytes(self.bytes_written as f64),
            human_bytes(self.written_bytes_per_s)
        );
        if self.gbit_per_s > 0.0 {
            out += &format!("  throughput: {:.2} Gbit/s\n", self.gbit_per_s);
        }
        if l.count > 0 {
            out += &format!(
                "  latency:  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
                human_us(l.p50),
                human_us(l.p90),
                human_us(l.p99),
                human_us(l.p999),
                human_us(l.max)
            );
        }
        if let Some(h) = self.held {
            out += &format!("  held:     {h} connections\n");
        }
        let e = &self.errors;
        if e.total > 0 {
            let mut parts = Vec::new();
            for (name, n) in [
                ("connect refused", e.connect_refused),
                ("connect timeout", e.connect_timeout),
                ("reset", e.reset),
                ("read timeout", e.read_timeout),
                ("closed early", e.closed),
                ("protocol", e.protocol),
                ("other", e.other),
            ] {
                if n > 0 {
                    parts.push(format!("{name} {n}"));
                }
            }
            for (status, n) in &e.http {
                parts.push(format!("HTTP {status} {n}"));
            }
            if e.reused_idle > 0 {
                parts.push(format!(
                    "(of which {} on a reused keep-alive connection before any response byte)",
                    e.reused_idle
                ));
            }
            out += &format!("  errors:   {}\n", parts.join(", "));
        }
        out
    }
}

/// `1.23 MB`-style formatting (decimal units).
pub fn human_bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = v;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.2} {}", UNITS.get(i).copied().unwrap_or("?"))
}

/// Microseconds as `850us`, `1.25ms` or `2.10s`.
pub fn human_us(us: u64) -> String {
    if us < 1000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_counted_per_code() {
        let mut e = ErrorCounts::default();
        e.add(ErrorClass::Status(503));
        e.add(ErrorClass::Status(503));
        e.add(ErrorClass::Status(404));
        e.add(ErrorClass::Status(999)); // outside 400..=599
        e.add(ErrorClass::Reset);
        let r = e.to_report();
        assert_eq!(r.http.get("503"), Some(&2));
        assert_eq!(r.http.get("404"), Some(&1));
        assert_eq!(r.other, 1);
        assert_eq!(r.reset, 1);
        assert_eq!(r.total, 5);
    }

    #[test]
    fn io_errors_classified() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            ErrorClass::from_io(&refused, true),
            ErrorClass::ConnectRefused
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(ErrorClass::from_io(&reset, false), ErrorClass::Reset);
        let to = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(ErrorClass::from_io(&to, true), ErrorClass::ConnectTimeout);
        assert_eq!(ErrorClass::from_io(&to, false), ErrorClass::ReadTimeout);
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = ThreadStats::new(true);
        let mut b = ThreadStats::new(true);
        a.ok = 3;
        a.record_latency(Duration::from_micros(100));
        b.ok = 4;
        b.record_latency(Duration::from_micros(300));
        b.errors.add(ErrorClass::ReadTimeout);
        if let Some(t) = b.timeline.as_mut() {
            t.record(Duration::from_millis(250), true, Some(b"b1"));
        }
        a.merge(&b);
        assert_eq!(a.ok, 7);
        assert_eq!(a.hist.len(), 2);
        assert_eq!(a.errors.total(), 1);
        let t = a
            .timeline
            .as_ref()
            .map(|t| t.backends.clone())
            .unwrap_or_default();
        assert_eq!(t, vec![("b1".to_string(), vec![0, 0, 1])]);
    }

    #[test]
    fn report_percentiles_ordered() {
        let mut s = ThreadStats::new(false);
        for us in 1..=10_000u64 {
            s.record_latency(Duration::from_micros(us));
        }
        s.ok = 10_000;
        let r = RunReport::from_stats("http", "x", 1, 1, 0, Duration::from_secs(2), &s);
        let l = &r.latency_us;
        assert!(
            l.min <= l.p50
                && l.p50 <= l.p90
                && l.p90 <= l.p99
                && l.p99 <= l.p999
                && l.p999 <= l.max
        );
        assert!((4900..=5100).contains(&l.p50), "p50 {}", l.p50);
        assert!((r.requests_per_s - 5000.0).abs() < 1.0);
        assert!(r.percentiles.windows(2).all(|w| w[0][1] <= w[1][1]));
    }

    #[test]
    fn timeline_caps_backends() {
        let mut t = Timeline::default();
        for i in 0..40 {
            t.record(Duration::ZERO, true, Some(format!("b{i}").as_bytes()));
        }
        assert_eq!(t.backends.len(), MAX_TRACKED_BACKENDS);
    }

    #[test]
    fn human_formats() {
        assert_eq!(human_us(850), "850us");
        assert_eq!(human_us(1250), "1.25ms");
        assert_eq!(human_bytes(1500.0), "1.50 kB");
    }
}
