//! State shared by every reactor, as atomics: server status and weights, live-connection counts
//! at every level that has a `maxconn` (global, frontend, bind, server), counters, and the
//! stop flags. This is the only module with cross-thread mutable state.
//!
//! Limits are enforced with a compare-and-swap reservation ([`Slots::try_acquire`]) so reactors
//! never overshoot a `maxconn` together; a release that brings a full counter back under its
//! limit wakes the reactors that paused their listeners on it.

pub mod errors;
pub mod exits;
pub mod latency;
pub mod notes;
pub mod queue;

use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed,
};

use crate::server::notes::HealthNote;

use crate::model::{BackendId, FrontendId, Model, ServerId};
use crate::server::queue::Queue;
use crate::timer::Owner;

/// A live-connection counter with its limit (`0`: no limit).
#[derive(Debug, Default)]
pub struct Slots {
    cur: AtomicU32,
    limit: AtomicU32,
    peak: AtomicU32,
}

impl Slots {
    pub(crate) fn new(limit: u32) -> Slots {
        Slots {
            cur: AtomicU32::new(0),
            limit: AtomicU32::new(limit),
            peak: AtomicU32::new(0),
        }
    }

    /// Takes a slot unless the limit is reached.
    pub(crate) fn try_acquire(&self) -> bool {
        let limit = self.limit.load(Relaxed);
        let got = self.cur.fetch_update(Relaxed, Relaxed, |c| {
            (limit == 0 || c < limit).then_some(c + 1)
        });
        if let Ok(prev) = got {
            self.peak.fetch_max(prev + 1, Relaxed);
        }
        got.is_ok()
    }

    /// Takes a slot unless `limit` (a dynamic limit computed by the caller; 0: none) is reached.
    pub(crate) fn try_acquire_under(&self, limit: u32) -> bool {
        let got = self.cur.fetch_update(Relaxed, Relaxed, |c| {
            (limit == 0 || c < limit).then_some(c + 1)
        });
        if let Ok(prev) = got {
            self.peak.fetch_max(prev + 1, Relaxed);
        }
        got.is_ok()
    }

    pub(crate) fn set_limit(&self, limit: u32) {
        self.limit.store(limit, Relaxed);
    }

    /// Takes a slot regardless of the limit (used where the limit was checked by the caller).
    pub(crate) fn acquire(&self) {
        let prev = self.cur.fetch_add(1, Relaxed);
        self.peak.fetch_max(prev + 1, Relaxed);
    }

    /// Gives a slot back. Returns true when the counter was at its limit (someone may be waiting).
    pub(crate) fn release(&self) -> bool {
        let prev = self.cur.fetch_sub(1, Relaxed);
        debug_assert!(prev > 0, "slot released twice");
        let limit = self.limit.load(Relaxed);
        limit != 0 && prev >= limit
    }

    pub fn cur(&self) -> u32 {
        self.cur.load(Relaxed)
    }

    pub fn limit(&self) -> u32 {
        self.limit.load(Relaxed)
    }

    pub(crate) fn is_full(&self) -> bool {
        let limit = self.limit.load(Relaxed);
        limit != 0 && self.cur.load(Relaxed) >= limit
    }

    pub fn peak(&self) -> u32 {
        self.peak.load(Relaxed)
    }

    /// `clear counters`: the peak starts over from the current value.
    pub(crate) fn reset_peak(&self) {
        self.peak.store(self.cur(), Relaxed);
    }
}

/// Events per second (HAProxy's `freq_ctr` for `rate`/`rate_max`): the count of the current
/// second and of the one before, packed with the second they belong to. Counting is one
/// relaxed `fetch_add`, plus a CAS (and the maximum's update) once a second when the second
/// rolls over.
#[derive(Debug, Default)]
pub(crate) struct Rate {
    /// `second << 32 | count` of the current second.
    cur: AtomicU64,
    /// The complete count of the second before `cur`'s.
    prev: AtomicU32,
    max: AtomicU32,
}

/// `second << 32 | count` split into its halves (the casts keep the low 32 bits on purpose).
#[allow(clippy::cast_possible_truncation)]
fn rate_halves(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// The shared clock's second on 32 bits: it wraps after 136 years, and seconds are compared
/// with wrapping arithmetic.
#[allow(clippy::cast_possible_truncation)]
fn rate_second(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

impl Rate {
    /// Counts one event at `now_ms` (the shared millisecond clock).
    pub(crate) fn tick(&self, now_ms: u64) {
        let sec = rate_second(now_ms);
        let cur = self.cur.load(Relaxed);
        let (csec, _) = rate_halves(cur);
        // The same second, or a later one already started by a reactor whose clock read
        // was a little newer: count there, never move the window back.
        if csec == sec || (csec.wrapping_sub(sec) as i32) > 0 {
            self.cur.fetch_add(1, Relaxed);
            return;
        }
        let fresh = (u64::from(sec) << 32) | 1;
        match self.cur.compare_exchange(cur, fresh, Relaxed, Relaxed) {
            Ok(old) => {
                let (old_sec, old_count) = rate_halves(old);
                let prev = if old_sec.wrapping_add(1) == sec {
                    old_count
                } else {
                    0
                };
                self.prev.store(prev, Relaxed);
                // The finished second's count is a candidate maximum (the running second's
                // is looked at by `max`).
                self.max.fetch_max(old_count, Relaxed);
            }
            // Another reactor rolled it over first: count in the new second.
            Err(_) => {
                self.cur.fetch_add(1, Relaxed);
            }
        }
    }

    /// Events over the last second: the previous second's count weighted by the part of it
    /// still inside the window, plus the current second's (HAProxy's `read_freq_ctr`).
    pub(crate) fn per_sec(&self, now_ms: u64) -> u32 {
        let sec = rate_second(now_ms);
        let (csec, count) = rate_halves(self.cur.load(Relaxed));
        // A count times a fraction of one: never more than the count.
        let part =
            |n: u32| u32::try_from(u64::from(n) * (1000 - now_ms % 1000) / 1000).unwrap_or(n);
        if csec == sec {
            count.saturating_add(part(self.prev.load(Relaxed)))
        } else if csec.wrapping_add(1) == sec {
            part(count)
        } else {
            0
        }
    }

    /// Whole seconds since the last event (HAProxy's `lastsess`), `None` before the first.
    pub(crate) fn since_last(&self, now_ms: u64) -> Option<u32> {
        let (csec, count) = rate_halves(self.cur.load(Relaxed));
        (count > 0).then(|| rate_second(now_ms).saturating_sub(csec))
    }

    /// `clear counters`: the maximum starts over (HAProxy resets `rate_max`).
    pub(crate) fn reset_max(&self) {
        self.max.store(0, Relaxed);
    }

    /// The highest count seen in one second (the running second included).
    pub(crate) fn max(&self) -> u32 {
        self.max
            .load(Relaxed)
            .max(rate_halves(self.cur.load(Relaxed)).1)
    }
}

/// Time spent down (a server DOWN, a backend with no usable server), for the stats
/// `downtime`: the periods that ended, and when the current one started (`u64::MAX`: up).
#[derive(Debug)]
pub(crate) struct Downtime {
    total_ms: AtomicU64,
    since: AtomicU64,
}

impl Downtime {
    /// Starting up (`down: false`) or down since 0.
    pub(crate) fn new(down: bool) -> Downtime {
        Downtime {
            total_ms: AtomicU64::new(0),
            since: AtomicU64::new(if down { 0 } else { u64::MAX }),
        }
    }

    /// A down period starts at `now_ms`, unless one is running. True if it started.
    pub(crate) fn start(&self, now_ms: u64) -> bool {
        self.since
            .compare_exchange(u64::MAX, now_ms, Relaxed, Relaxed)
            .is_ok()
    }

    /// The running down period ends at `now_ms`. True if one was running.
    pub(crate) fn end(&self, now_ms: u64) -> bool {
        let since = self.since.swap(u64::MAX, Relaxed);
        if since == u64::MAX {
            return false;
        }
        self.total_ms
            .fetch_add(now_ms.saturating_sub(since), Relaxed);
        true
    }

    /// Total time down so far, the running period included, in ms.
    pub(crate) fn total_ms(&self, now_ms: u64) -> u64 {
        let since = self.since.load(Relaxed);
        let cur = if since == u64::MAX {
            0
        } else {
            now_ms.saturating_sub(since)
        };
        self.total_ms.load(Relaxed) + cur
    }
}

/// Administrative state of a server (HAProxy's `ready|drain|maint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Admin {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

/// A value alone on its cache line(s), so writes to it never invalidate its neighbours.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct CacheLine<T>(pub T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One server's shared state. Laid out in order (`repr(C)`) by how it is used: the first cache
/// line holds what every pick reads and only state changes write (admin, up, weight, slow
/// start); the live-connection counter, written by every stream, has a line of its own; the
/// counters follow. Cache-line aligned so two servers never share a line.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct ServerState {
    admin: AtomicU8,
    up: AtomicBool,
    /// NOLB (HAProxy's `SRV_ST_STOPPING`): `http-check disable-on-404` saw a 404. The server
    /// keeps its sessions and persistent traffic but gets no new load-balanced stream.
    nolb: AtomicBool,
    /// The weight set by the configuration or at run time (HAProxy's `uweight`, 0..=256).
    weight: AtomicU32,
    /// `minconn` (equal to `maxconn` when not set, so the limit is static).
    minconn: AtomicU32,
    /// `maxconn` (0: none), mirrored from the slot limit so picks read one line.
    maxconn: AtomicU32,
    /// `maxqueue` (0: unlimited).
    pub(crate) maxqueue: u32,
    /// `slowstart` in milliseconds (0: off).
    slowstart_ms: u64,
    /// When the server last came back (ms on the shared clock), while its slow start lasts;
    /// `u64::MAX`: not ramping.
    ramp_from: AtomicU64,
    /// Live streams, limited by `maxconn` (the slot limit; 0: none).
    pub conns: CacheLine<Slots>,
    pub total: AtomicU64,
    pub connect_errors: AtomicU64,
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    /// Invalid or truncated responses (HAProxy's `eresp`).
    pub(crate) resp_errors: AtomicU64,
    /// Streams the client (`cli_abrt`) or the server (`srv_abrt`) aborted during the
    /// exchange with this server.
    pub(crate) cli_aborts: AtomicU64,
    pub(crate) srv_aborts: AtomicU64,
    /// Failed requests `retry-on` wanted to retry but could not safely (see `conn::http::retry`).
    pub retry_skipped: AtomicU64,
    /// `balance leastconn`: when the server was last requeued (taken by a pick or given a slot
    /// back), on its backend's [`BackendState::lc_clock`]. Among servers of equal load the
    /// smallest stamp goes first, as HAProxy's fwlc tree puts a requeued server after its
    /// equals, so ties rotate across reactors.
    pub(crate) lc_stamp: AtomicU64,
    /// Consecutive errors seen by streams (`observe`), and how often `error-limit` was
    /// reached (HAProxy's `failed_hana`).
    pub(crate) consecutive_errors: AtomicU32,
    pub failed_hana: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    /// Streams waiting for a slot of this server (bound to it by a hash or a cookie).
    pub queue: Queue,
    /// Streams that waited in this server's queue or the backend's and got a slot of this
    /// server, and their summed wait, for the average queue time (HAProxy's `qtime`).
    pub queue_waits: AtomicU64,
    pub(crate) queue_wait_ms: AtomicU64,
    /// Health-check results, written by the reactor that owns the server's check.
    pub check: CheckState,
    /// In maintenance because the configuration says `disabled` (HAProxy's `SRV_ADMF_CMAINT`),
    /// until it first leaves maintenance.
    cmaint: AtomicBool,
    /// Address set at run time (`set server BE/SRV addr`); `addr_gen` counts the changes
    /// (0: never changed, the connect path reads nothing else). An IPv4 address (and port)
    /// is packed into `addr_v4` so connects read it without a lock; an IPv6 one lives behind
    /// the mutex.
    addr_gen: AtomicU32,
    addr_v4: AtomicU64,
    addr: std::sync::Mutex<Option<(std::net::IpAddr, Option<u16>)>>,
    /// A spare slot (after the configured servers) that `add server` may fill: its
    /// configuration while in use. Read only off the data path (logs, the CLI).
    dynamic: std::sync::Mutex<Option<Arc<crate::model::Server>>>,
    /// An added server is a backup one (read by picks for spare slots only).
    added_backup: AtomicBool,
    /// New streams per second (stats `rate`).
    pub(crate) rate: Rate,
    /// HTTP responses received from this server by class (0 = 1xx ... 4 = 5xx, 5 = other).
    pub(crate) http_responses: [AtomicU64; 6],
    /// Time spent DOWN, for the stats `downtime`.
    pub(crate) downtime: Downtime,
}

/// Spare server slots per backend for `add server` (HAProxy adds servers without a limit;
/// Ravelin reserves this many so server indexes never move).
pub(crate) const SPARE_SERVERS: usize = 16;

/// `addr_v4` tags: an IPv4 address is stored, a port is stored.
const ADDR_V4: u64 = 1 << 63;
const ADDR_PORT: u64 = 1 << 62;

/// What the last health checks of a server found (for stats and `send-state`). Written only
/// by the reactor owning the check; read anywhere.
#[derive(Debug, Default)]
pub struct CheckState {
    /// `check::Status` as a number (0: not checked yet).
    pub status: AtomicU8,
    /// The agent's last `check::Status` (`agent-check`; 0: none yet).
    pub agent_status: AtomicU8,
    /// HTTP status of the last layer-7 check (0: none).
    pub code: AtomicU32,
    /// Duration of the last check, in ms.
    pub duration_ms: AtomicU32,
    /// HAProxy's health counter, `0..rise+fall-1` (up when `>= rise`).
    pub(crate) health: AtomicU32,
    /// Failed checks (HAProxy's `chkfail`).
    pub failed: AtomicU64,
    /// UP→DOWN transitions (HAProxy's `chkdown`).
    pub(crate) down_transitions: AtomicU64,
    /// When the server last changed state, on the shared millisecond clock.
    pub(crate) last_change_ms: AtomicU64,
    /// `disable health` / `disable agent` from the runtime API: the probe stops counting.
    pub disabled: AtomicBool,
    pub(crate) agent_disabled: AtomicBool,
    /// `health` and the up/NOLB state come from a server-state file: the check starts from
    /// them instead of its configured start (`reload::state`).
    pub(crate) restored: AtomicBool,
}

/// HAProxy's `BE_WEIGHT_SCALE`: effective weights are in 1/16 of a configured weight so a
/// slow start can ramp a weight-1 server in steps.
pub(crate) const WEIGHT_SCALE: u32 = 16;

impl ServerState {
    fn new(s: &crate::model::Server) -> ServerState {
        // HAProxy (cfgparse.c): a minconn above maxconn becomes the maxconn; no minconn means
        // a static limit.
        let maxconn = if s.minconn > s.maxconn {
            s.minconn
        } else {
            s.maxconn
        };
        let minconn = if s.minconn == 0 { maxconn } else { s.minconn };
        ServerState {
            admin: AtomicU8::new(if s.disabled {
                Admin::Maint as u8
            } else {
                Admin::Ready as u8
            }),
            up: AtomicBool::new(s.starts_up()),
            weight: AtomicU32::new(s.weight),
            conns: CacheLine(Slots::new(maxconn)),
            minconn: AtomicU32::new(minconn),
            maxconn: AtomicU32::new(maxconn),
            maxqueue: s.maxqueue,
            slowstart_ms: crate::timer::millis(s.slowstart),
            ramp_from: AtomicU64::new(u64::MAX),
            total: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            redispatches: AtomicU64::new(0),
            resp_errors: AtomicU64::new(0),
            cli_aborts: AtomicU64::new(0),
            srv_aborts: AtomicU64::new(0),
            retry_skipped: AtomicU64::new(0),
            lc_stamp: AtomicU64::new(0),
            consecutive_errors: AtomicU32::new(0),
            failed_hana: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            queue: Queue::default(),
            queue_waits: AtomicU64::new(0),
            queue_wait_ms: AtomicU64::new(0),
            nolb: AtomicBool::new(false),
            check: CheckState::default(),
            cmaint: AtomicBool::new(s.disabled),
            addr_gen: AtomicU32::new(0),
            addr_v4: AtomicU64::new(0),
            addr: std::sync::Mutex::new(None),
            dynamic: std::sync::Mutex::new(None),
            added_backup: AtomicBool::new(false),
            rate: Rate::default(),
            http_responses: Default::default(),
            downtime: Downtime::new(!s.starts_up()),
        }
    }

    /// A free spare slot: in maintenance, down, weight 0 (never picked).
    fn spare() -> ServerState {
        let st = ServerState::new(&crate::model::Server::placeholder());
        st.up.store(false, Relaxed);
        st.weight.store(0, Relaxed);
        st
    }

    /// The configuration of a server added at run time (`None`: a configured server or a
    /// free spare slot).
    pub(crate) fn dynamic(&self) -> Option<Arc<crate::model::Server>> {
        self.dynamic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `add server`: fills this free spare slot (in maintenance, as HAProxy adds servers).
    /// False when the slot is taken.
    pub(crate) fn fill(
        &self,
        conf: crate::model::Server,
        addr: std::net::SocketAddr,
        now_ms: u64,
    ) -> bool {
        let mut d = self.dynamic.lock().unwrap_or_else(|e| e.into_inner());
        if d.is_some() {
            return false;
        }
        // Port 0: the port the client connected to.
        self.set_runtime_addr(addr.ip(), (addr.port() != 0).then_some(addr.port()));
        self.weight.store(conf.weight.min(256), Relaxed);
        self.set_maxconn(conf.maxconn);
        self.clear_counters();
        self.admin.store(Admin::Maint as u8, Relaxed);
        self.cmaint.store(false, Relaxed);
        // Up once it leaves maintenance (no check).
        self.up.store(true, Relaxed);
        self.nolb.store(false, Relaxed);
        self.check.last_change_ms.store(now_ms, Relaxed);
        self.added_backup.store(conf.backup, Relaxed);
        *d = Some(Arc::new(conf));
        true
    }

    /// Whether server `i` of `be` is a backup one: from the model, or from `add server` for
    /// a spare slot (one load, only past the configured servers).
    pub(crate) fn is_backup(be: &crate::model::Backend, bs: &BackendState, i: usize) -> bool {
        match be.servers.get(i) {
            Some(s) => s.backup,
            None => bs
                .servers
                .get(i)
                .is_some_and(|s| s.added_backup.load(Relaxed)),
        }
    }

    /// `del server`: frees the slot of an added server (the caller checked it is in
    /// maintenance with no stream and no queue).
    pub(crate) fn free(&self) {
        let mut d = self.dynamic.lock().unwrap_or_else(|e| e.into_inner());
        self.up.store(false, Relaxed);
        self.weight.store(0, Relaxed);
        self.admin.store(Admin::Maint as u8, Relaxed);
        self.added_backup.store(false, Relaxed);
        *d = None;
    }

    /// Still in the maintenance the configuration (`disabled`) put it in.
    pub(crate) fn config_maint(&self) -> bool {
        self.cmaint.load(Relaxed)
    }

    /// How many times the address was changed at run time (0: never).
    pub(crate) fn addr_generation(&self) -> u32 {
        self.addr_gen.load(Relaxed)
    }

    /// The address (and port, when one was given) set at run time, if any: one atomic load
    /// while it was never changed, two for an IPv4 address, a lock for an IPv6 one.
    pub(crate) fn runtime_addr(&self) -> Option<(std::net::IpAddr, Option<u16>)> {
        if self.addr_generation() == 0 {
            return None;
        }
        let packed = self.addr_v4.load(std::sync::atomic::Ordering::Acquire);
        if packed & ADDR_V4 != 0 {
            let ip = std::net::Ipv4Addr::from(((packed >> 16) & 0xffff_ffff) as u32);
            let port = (packed & ADDR_PORT != 0).then_some((packed & 0xffff) as u16);
            return Some((ip.into(), port));
        }
        *self.addr.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `set server BE/SRV addr A [port P]` (`None`: the port rule stays).
    pub(crate) fn set_runtime_addr(&self, ip: std::net::IpAddr, port: Option<u16>) {
        use std::sync::atomic::Ordering::Release;
        *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = Some((ip, port));
        let packed = match ip {
            std::net::IpAddr::V4(v4) => {
                ADDR_V4
                    | (u64::from(u32::from(v4)) << 16)
                    | port.map_or(0, |p| ADDR_PORT | u64::from(p))
            }
            std::net::IpAddr::V6(_) => 0,
        };
        self.addr_v4.store(packed, Release);
        self.addr_gen.fetch_add(1, Release);
    }

    /// `clear counters all`: the cumulative counters start over.
    pub(crate) fn clear_counters(&self) {
        for c in [
            &self.total,
            &self.connect_errors,
            &self.retries,
            &self.redispatches,
            &self.resp_errors,
            &self.cli_aborts,
            &self.srv_aborts,
            &self.retry_skipped,
            &self.failed_hana,
            &self.bytes_in,
            &self.bytes_out,
            &self.queue_waits,
            &self.queue_wait_ms,
            &self.check.failed,
            &self.check.down_transitions,
        ] {
            c.store(0, Relaxed);
        }
        self.http_responses.iter().for_each(|c| c.store(0, Relaxed));
    }

    /// In NOLB (`disable-on-404`): no new load-balanced traffic.
    pub fn is_nolb(&self) -> bool {
        self.nolb.load(Relaxed)
    }

    pub(crate) fn set_nolb(&self, nolb: bool) {
        self.nolb.store(nolb, Relaxed);
    }

    pub fn admin(&self) -> Admin {
        match self.admin.load(Relaxed) {
            0 => Admin::Ready,
            1 => Admin::Drain,
            _ => Admin::Maint,
        }
    }

    /// Changes the administrative state; leaving maintenance starts the slow start (HAProxy
    /// ramps a server coming out of maintenance like one coming back up).
    pub fn set_admin(&self, a: Admin, now_ms: u64) {
        let prev = self.admin.swap(a as u8, Relaxed);
        if a != Admin::Maint {
            self.cmaint.store(false, Relaxed);
        }
        if prev == Admin::Maint as u8 && a != Admin::Maint && self.is_up() {
            self.start_ramp(now_ms);
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// Marks the server up or down; coming up starts the slow start, if any.
    pub fn set_up(&self, up: bool, now_ms: u64) {
        let was = self.up.swap(up, Relaxed);
        if up && !was {
            self.start_ramp(now_ms);
            self.downtime.end(now_ms);
        } else if !up && was {
            self.downtime.start(now_ms);
        }
    }

    fn start_ramp(&self, now_ms: u64) {
        if self.slowstart_ms > 0 {
            self.ramp_from.store(now_ms, Relaxed);
        }
    }

    /// The configured (or runtime-set) weight, 0..=256.
    pub fn weight(&self) -> u32 {
        self.weight.load(Relaxed)
    }

    pub(crate) fn set_weight(&self, w: u32) {
        self.weight.store(w.min(256), Relaxed);
    }

    /// How far into its slow start the server is, in 1/16 (HAProxy's `server_recalc_eweight`:
    /// `(16 × elapsed + slowstart) / slowstart`, so it starts at 1/16 ≈ 6 %), or `None` when
    /// not ramping.
    fn ramp_sixteenths(&self, now_ms: u64) -> Option<u32> {
        let from = self.ramp_from.load(Relaxed);
        if from == u64::MAX || self.slowstart_ms == 0 {
            return None;
        }
        let elapsed = now_ms.saturating_sub(from);
        if elapsed >= self.slowstart_ms {
            // Done: later reads skip the arithmetic.
            let _ = self
                .ramp_from
                .compare_exchange(from, u64::MAX, Relaxed, Relaxed);
            return None;
        }
        let w = (u64::from(WEIGHT_SCALE) * elapsed + self.slowstart_ms) / self.slowstart_ms;
        Some(u32::try_from(w).map_or(WEIGHT_SCALE, |w| w.min(WEIGHT_SCALE)))
    }

    /// The weight the dynamic algorithms use, in 1/16 of a configured weight: `weight × 16`,
    /// ramped during a slow start.
    pub(crate) fn eweight(&self, now_ms: u64) -> u32 {
        let w = self.weight();
        match self.ramp_sixteenths(now_ms) {
            Some(r) => (w * r).max(u32::from(w > 0)),
            None => w * WEIGHT_SCALE,
        }
    }

    /// `minconn` (equal to the `maxconn` when the limit is static).
    pub(crate) fn minconn(&self) -> u32 {
        self.minconn.load(Relaxed)
    }

    /// Changes `maxconn` at run time (the minconn follows when the limit was static).
    pub(crate) fn set_maxconn(&self, n: u32) {
        let old = self.conns.limit();
        if self.minconn() == old || self.minconn() > n {
            self.minconn.store(n, Relaxed);
        }
        self.conns.set_limit(n);
        self.maxconn.store(n, Relaxed);
    }

    /// The server's connection limit now (0: none): HAProxy's `srv_dynamic_maxconn()`. With a
    /// `minconn`, `max(minconn, beconn × maxconn / fullconn)` while the backend has fewer than
    /// `fullconn` streams, else `maxconn`; during a slow start, that times the elapsed share
    /// (at least 1).
    pub(crate) fn limit(&self, beconn: u32, fullconn: u32, now_ms: u64) -> u32 {
        let maxconn = self.maxconn.load(Relaxed);
        if maxconn == 0 {
            return 0;
        }
        let minconn = self.minconn();
        let mut max = if beconn >= fullconn || minconn >= maxconn {
            maxconn
        } else {
            let dynamic = u64::from(beconn) * u64::from(maxconn) / u64::from(fullconn.max(1));
            // Below maxconn: beconn < fullconn here.
            minconn.max(u32::try_from(dynamic).unwrap_or(maxconn))
        };
        let from = self.ramp_from.load(Relaxed);
        if from != u64::MAX && self.slowstart_ms > 0 {
            let elapsed = now_ms.saturating_sub(from);
            if elapsed < self.slowstart_ms {
                let ratio = 100 * elapsed / self.slowstart_ms;
                // A share (ratio below 100) of max: fits.
                max = u32::try_from(u64::from(max) * ratio / 100)
                    .unwrap_or(max)
                    .max(1);
            }
        }
        max
    }

    /// Running and not in maintenance: may keep its sessions and counts as "up" for backup
    /// decisions.
    pub(crate) fn is_running(&self) -> bool {
        self.is_up() && self.admin() != Admin::Maint
    }

    /// May receive new traffic: running, ready (not draining), not NOLB and a non-zero weight.
    pub fn is_usable(&self) -> bool {
        self.is_up() && self.admin() == Admin::Ready && self.weight() > 0 && !self.is_nolb()
    }

    /// Counts a stream's wait in a queue before it got a slot of this server.
    pub(crate) fn count_queue_wait(&self, waited: std::time::Duration) {
        self.queue_waits.fetch_add(1, Relaxed);
        self.queue_wait_ms
            .fetch_add(crate::timer::millis(waited), Relaxed);
    }
}

/// One backend's shared state.
#[derive(Debug)]
pub struct BackendState {
    pub servers: Box<[ServerState]>,
    pub(crate) total: AtomicU64,
    /// Streams closed because no server could take them.
    pub(crate) no_server: AtomicU64,
    /// Invalid or truncated responses from servers (HAProxy's `eresp`).
    pub(crate) resp_errors: AtomicU64,
    /// Streams aborted by the client (`cli_abrt`) or the server (`srv_abrt`) during the
    /// exchange with a server.
    pub(crate) cli_aborts: AtomicU64,
    pub(crate) srv_aborts: AtomicU64,
    /// HTTP responses by class: index 0 = 1xx ... 4 = 5xx, 5 = other.
    pub(crate) http_responses: [AtomicU64; 6],
    /// Streams waiting for a slot of any server.
    pub queue: Queue,
    /// Streams given up after `timeout queue` (HAProxy's `sQ` terminations).
    pub queue_timeouts: AtomicU64,
    /// Streams attached to the backend now, queued ones included (HAProxy's `beconn`): the
    /// load `minconn`/`fullconn` scale server limits with.
    pub beconn: Slots,
    /// `fullconn`, or its default: 10 % of the summed `maxconn` of the frontends that may
    /// route to the backend.
    pub(crate) fullconn: u32,
    /// The algorithm uses dynamic weights (slow start ramps them).
    pub(crate) dynamic_weights: bool,
    /// `balance leastconn`: servers are requeued ([`BackendState::requeue`]) when taken and
    /// released.
    pub(crate) leastconn: bool,
    /// The clock of the leastconn requeue stamps ([`ServerState::lc_stamp`]), shared by the
    /// reactors.
    pub(crate) lc_clock: AtomicU64,
    /// Streams that waited in a queue of this backend and got a slot, and their summed wait.
    pub queue_waits: AtomicU64,
    pub(crate) queue_wait_ms: AtomicU64,
    /// Spare server slots ever filled by `add server` (a high-water mark): picks look at the
    /// configured servers and this many spares, so unused spares cost nothing.
    pub(crate) spares_used: AtomicUsize,
    /// HTTP requests routed here.
    pub(crate) requests: AtomicU64,
    /// Client bytes of the streams routed here (HTTP: counted when the connection closes).
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    /// New streams per second.
    pub(crate) rate: Rate,
    /// When the backend last went from no usable server to some or back (ms on the shared
    /// clock), and the time it spent with none, for the stats.
    pub(crate) last_change_ms: AtomicU64,
    pub(crate) downtime: Downtime,
}

impl BackendState {
    pub(crate) fn server(&self, id: ServerId) -> Option<&ServerState> {
        self.servers.get(id.0 as usize)
    }

    /// Records whether the backend has a usable server now (called on server transitions).
    pub(crate) fn note_usable(&self, usable: bool, now_ms: u64) {
        let changed = if usable {
            self.downtime.end(now_ms)
        } else {
            self.downtime.start(now_ms)
        };
        if changed {
            self.last_change_ms.store(now_ms, Relaxed);
        }
    }

    /// Counts a stream's wait in a queue before it got a slot.
    pub(crate) fn count_queue_wait(&self, waited: std::time::Duration) {
        self.queue_waits.fetch_add(1, Relaxed);
        self.queue_wait_ms
            .fetch_add(crate::timer::millis(waited), Relaxed);
    }

    /// The connection limit of server `i` now (0: none).
    pub(crate) fn server_limit(&self, i: usize, now_ms: u64) -> u32 {
        self.servers
            .get(i)
            .map_or(0, |s| s.limit(self.beconn.cur(), self.fullconn, now_ms))
    }

    /// Whether server `i` is at its limit or has streams waiting for it (HAProxy's LB
    /// algorithms skip such a server: `srv->maxconn && (queue || served >= dynamic max)`).
    pub(crate) fn server_busy(&self, i: usize, now_ms: u64) -> bool {
        let Some(s) = self.servers.get(i) else {
            return true;
        };
        let limit = self.server_limit(i, now_ms);
        limit != 0 && (!s.queue.is_empty() || s.conns.cur() >= limit)
    }

    /// Takes a slot of server `i` under its dynamic limit.
    pub(crate) fn try_take(&self, i: usize, now_ms: u64) -> bool {
        let limit = self.server_limit(i, now_ms);
        self.servers
            .get(i)
            .is_some_and(|s| s.conns.try_acquire_under(limit))
    }

    /// `balance leastconn`: moves server `i` after the servers of equal load (HAProxy's
    /// `fwlc_srv_reposition()` on a take and a release). One shared counter, no lock; a no-op
    /// for the other algorithms.
    pub(crate) fn requeue(&self, i: usize) {
        if !self.leastconn {
            return;
        }
        if let Some(s) = self.servers.get(i) {
            let stamp = self.lc_clock.fetch_add(1, Relaxed).wrapping_add(1);
            s.lc_stamp.store(stamp, Relaxed);
        }
    }

    /// The weight server `i` balances with, in 1/16 units ([`ServerState::eweight`]); static
    /// algorithms ignore slow starts.
    pub(crate) fn eweight(&self, i: usize, now_ms: u64) -> u32 {
        self.servers.get(i).map_or(0, |s| {
            if self.dynamic_weights {
                s.eweight(now_ms)
            } else {
                s.weight() * WEIGHT_SCALE
            }
        })
    }
}

/// One frontend's shared state.
#[derive(Debug)]
pub struct FrontendState {
    pub conns: Slots,
    /// Sessions (`stot`): streams started, after any handshake (PROXY header) succeeded.
    pub total: AtomicU64,
    /// Connections accepted (`conn_tot`), whether their handshake succeeded or not.
    pub conn_total: AtomicU64,
    /// HTTP requests received.
    pub requests: AtomicU64,
    /// Invalid, truncated or timed-out requests (HAProxy's `ereq`).
    pub req_errors: AtomicU64,
    /// Requests denied by rules (`dreq`).
    pub(crate) denied: AtomicU64,
    /// One per `Bind` of the frontend, in model order.
    pub binds: Box<[Slots]>,
    /// Client bytes (TCP: at stream close; HTTP: at connection close).
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    /// New sessions per second.
    pub(crate) rate: Rate,
    /// New connections per second (`conn_rate`).
    pub(crate) conn_rate: Rate,
    /// HTTP requests answered by Ravelin itself (stats page, exporter, monitor-uri).
    pub(crate) intercepted: AtomicU64,
    /// TLS handshakes completed (`ssl_sess`), of them resumed (`ssl_reused_sess`), and failed
    /// (`ssl_failed_handshake`).
    pub ssl_sess: AtomicU64,
    pub ssl_reused: AtomicU64,
    pub ssl_failed: AtomicU64,
    /// HTTP responses sent to clients by class: index 0 = 1xx ... 4 = 5xx, 5 = other.
    pub(crate) http_responses: [AtomicU64; 6],
}

impl FrontendState {
    /// Counts a response sent to a client.
    pub(crate) fn count_status(&self, status: u16) {
        let class = usize::from(status / 100).saturating_sub(1).min(5);
        if let Some(c) = self.http_responses.get(class) {
            c.fetch_add(1, Relaxed);
        }
    }
}

/// Everything the reactors share. Built once per start; `Arc`-shared.
#[derive(Debug)]
pub struct SharedState {
    pub model: Arc<Model>,
    pub global: Slots,
    pub frontends: Box<[FrontendState]>,
    pub backends: Box<[BackendState]>,
    /// Soft stop requested (SIGUSR1): listeners close, streams finish.
    pub(crate) soft_stop: AtomicBool,
    /// When the soft stop began, on the `ms` clock (for `close-spread-time`).
    pub(crate) soft_stop_ms: AtomicU64,
    /// Hard stop requested (SIGTERM/SIGINT or hard-stop-after).
    pub(crate) hard_stop: AtomicBool,
    /// Bit i set: reactor i has listeners paused on a full `maxconn` and wants a wake-up.
    pub(crate) paused: AtomicU64,
    /// Live streams per reactor (slab occupancy), for tests and stats.
    pub(crate) streams: Box<[AtomicUsize]>,
    /// EMFILE/ENFILE events seen while accepting.
    pub(crate) accept_errors: AtomicU64,
    /// Log lines handed to the logger and dropped (HAProxy's `DroppedLogs`).
    pub logs: Arc<crate::log::sink::Counters>,
    /// Per reactor: streams another reactor granted a queued slot to, to resume.
    inboxes: Box<
        [(
            crossbeam_channel::Sender<Owner>,
            crossbeam_channel::Receiver<Owner>,
        )],
    >,
    /// Per reactor: health notes (passive-health errors for the check's owner, streams to
    /// shut down).
    notes: Box<
        [(
            crossbeam_channel::Sender<HealthNote>,
            crossbeam_channel::Receiver<HealthNote>,
        )],
    >,
    /// The reactors' wakers, set once they exist.
    wakers: std::sync::OnceLock<Arc<[mio::Waker]>>,
    /// Origin of the millisecond clock slow starts are measured on.
    epoch: std::time::Instant,
    /// The last invalid request/response per proxy (the runtime API's `show errors`).
    pub(crate) errors: errors::Captures,
    /// Latency histograms published by each reactor (merged by stats readers).
    pub(crate) latency: crate::server::latency::Published,
    /// Wall-clock time of the start, in seconds since the epoch (stats `Start_time_sec`).
    pub(crate) started_unix: u64,
    /// HAProxy's `maxsock`: two descriptors per connection of the global `maxconn`, plus the
    /// reserve for listeners, checks, logs, the CLI and the reactors (`show info` Maxsock).
    pub(crate) maxsock: u64,
    /// The reactor threads still running; the supervisor is woken when one ends.
    pub(crate) reactor_exits: Arc<exits::ReactorExits>,
}

impl SharedState {
    /// Builds the shared state from the model; `global_maxconn` is the resolved global limit.
    pub fn new(model: Arc<Model>, global_maxconn: u32, reactors: usize) -> SharedState {
        let maxsock = u64::from(global_maxconn)
            .saturating_mul(2)
            .saturating_add(model.fd_reserve(reactors));
        let frontends = model
            .frontends
            .iter()
            .map(|fe| FrontendState {
                conns: Slots::new(fe.maxconn.unwrap_or(global_maxconn)),
                total: AtomicU64::new(0),
                conn_total: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                req_errors: AtomicU64::new(0),
                denied: AtomicU64::new(0),
                binds: fe
                    .binds
                    .iter()
                    .map(|b| Slots::new(b.maxconn.unwrap_or(0)))
                    .collect(),
                bytes_in: AtomicU64::new(0),
                bytes_out: AtomicU64::new(0),
                rate: Rate::default(),
                conn_rate: Rate::default(),
                intercepted: AtomicU64::new(0),
                ssl_sess: AtomicU64::new(0),
                ssl_reused: AtomicU64::new(0),
                ssl_failed: AtomicU64::new(0),
                http_responses: Default::default(),
            })
            .collect();
        let backends = model
            .backends
            .iter()
            .enumerate()
            .map(|(i, be)| BackendState {
                servers: be
                    .servers
                    .iter()
                    .map(ServerState::new)
                    .chain((0..SPARE_SERVERS).map(|_| ServerState::spare()))
                    .collect(),
                total: AtomicU64::new(0),
                no_server: AtomicU64::new(0),
                resp_errors: AtomicU64::new(0),
                cli_aborts: AtomicU64::new(0),
                srv_aborts: AtomicU64::new(0),
                http_responses: Default::default(),
                queue: Queue::default(),
                queue_timeouts: AtomicU64::new(0),
                beconn: Slots::new(0),
                fullconn: be.fullconn.unwrap_or_else(|| {
                    default_fullconn(&model, BackendId::from_index(i), global_maxconn)
                }),
                dynamic_weights: be.balance.dynamic_weights(be.hash_type.method),
                leastconn: matches!(be.balance, crate::model::Balance::LeastConn),
                lc_clock: AtomicU64::new(0),
                queue_waits: AtomicU64::new(0),
                queue_wait_ms: AtomicU64::new(0),
                spares_used: AtomicUsize::new(0),
                requests: AtomicU64::new(0),
                bytes_in: AtomicU64::new(0),
                bytes_out: AtomicU64::new(0),
                rate: Rate::default(),
                last_change_ms: AtomicU64::new(0),
                downtime: Downtime::new(false),
            })
            .collect();
        SharedState {
            latency: crate::server::latency::Published::new(&model, reactors),
            model,
            global: Slots::new(global_maxconn),
            frontends,
            backends,
            soft_stop: AtomicBool::new(false),
            soft_stop_ms: AtomicU64::new(0),
            hard_stop: AtomicBool::new(false),
            paused: AtomicU64::new(0),
            streams: (0..reactors).map(|_| AtomicUsize::new(0)).collect(),
            accept_errors: AtomicU64::new(0),
            logs: Default::default(),
            inboxes: (0..reactors)
                .map(|_| crossbeam_channel::unbounded())
                .collect(),
            notes: (0..reactors)
                .map(|_| crossbeam_channel::unbounded())
                .collect(),
            wakers: std::sync::OnceLock::new(),
            epoch: std::time::Instant::now(),
            errors: Default::default(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            maxsock,
            reactor_exits: Default::default(),
        }
    }

    /// `now` on the millisecond clock of slow starts.
    pub fn ms(&self, now: std::time::Instant) -> u64 {
        crate::timer::millis(now.saturating_duration_since(self.epoch))
    }

    /// During a soft stop, whether a keep-alive client connection should close after its
    /// current exchange (HAProxy's H1 mux, `close-spread-time`): always without the
    /// setting, never with `infinite`, else with a probability growing over the window
    /// (closing when a draw in `0..window` reaches the time left). `salt` varies per
    /// connection. False when not stopping: one relaxed load on the request path.
    pub(crate) fn closes_on_stop(&self, now_ms: u64, salt: u64) -> bool {
        if !self.soft_stop.load(Relaxed) {
            return false;
        }
        match self.model.global.close_spread {
            None => true,
            Some(crate::model::CloseSpread::Infinite) => false,
            Some(crate::model::CloseSpread::Window(w)) => {
                let window = crate::timer::millis(w).max(1);
                let end = self.soft_stop_ms.load(Relaxed).saturating_add(window);
                let left = end.saturating_sub(now_ms);
                left == 0 || salt % window >= left
            }
        }
    }

    /// During a soft stop with a `close-spread-time` window, when an idle keep-alive
    /// connection that is not closed now should be: a point in the time left (on the `ms`
    /// clock). `None`: no spread (close now, or never with `infinite`).
    pub(crate) fn idle_close_at(&self, now_ms: u64, salt: u64) -> Option<u64> {
        match self.model.global.close_spread {
            Some(crate::model::CloseSpread::Window(w)) => {
                let end = self
                    .soft_stop_ms
                    .load(Relaxed)
                    .saturating_add(crate::timer::millis(w).max(1));
                let left = end.saturating_sub(now_ms).max(1);
                Some(now_ms + salt % left)
            }
            _ => None,
        }
    }

    pub(crate) fn frontend(&self, id: FrontendId) -> Option<&FrontendState> {
        self.frontends.get(id.0 as usize)
    }

    pub fn backend(&self, id: BackendId) -> Option<&BackendState> {
        self.backends.get(id.0 as usize)
    }

    pub fn server(&self, be: BackendId, srv: ServerId) -> Option<&ServerState> {
        self.backend(be)?.server(srv)
    }

    /// The configuration of server `srv` of backend `be`: the model's, or the one `add server`
    /// gave a slot past them.
    pub(crate) fn server_conf(&self, be: BackendId, srv: ServerId) -> Option<ServerConf<'_>> {
        match self.model.backend(be)?.server(srv) {
            Some(s) => Some(ServerConf::Configured(s)),
            None => self.server(be, srv)?.dynamic().map(ServerConf::Added),
        }
    }

    pub(crate) fn set_wakers(&self, wakers: Arc<[mio::Waker]>) {
        let _ = self.wakers.set(wakers);
    }

    /// Asks reactor `reactor` to resume stream `owner` (its queued stream got a slot).
    pub(crate) fn wake_stream(&self, reactor: usize, owner: Owner) {
        if let Some((tx, _)) = self.inboxes.get(reactor) {
            let _ = tx.send(owner);
            if let Some(w) = self.wakers.get().and_then(|w| w.get(reactor)) {
                let _ = w.wake();
            }
        }
    }

    /// How many reactors run.
    pub(crate) fn reactors(&self) -> usize {
        self.inboxes.len()
    }

    /// Wakes reactor `reactor` (health notes or results of its external checks are waiting).
    pub(crate) fn wake_reactor(&self, reactor: usize) {
        if let Some(w) = self.wakers.get().and_then(|w| w.get(reactor)) {
            let _ = w.wake();
        }
    }

    /// Sends reactor `reactor` a health note and wakes it.
    pub(crate) fn send_note(&self, reactor: usize, note: HealthNote) {
        if let Some((tx, _)) = self.notes.get(reactor) {
            let _ = tx.send(note);
            self.wake_reactor(reactor);
        }
    }

    /// Sends a runtime change (runtime API, stats page admin form) to the reactor owning the
    /// server's probes (reactor 0 when it has none), so its health counters follow.
    pub(crate) fn send_runtime(
        &self,
        be: BackendId,
        srv: ServerId,
        op: crate::server::notes::RuntimeOp,
    ) {
        let owner = crate::server::notes::owner_of(
            &self.model,
            self.reactors(),
            be.0 as usize,
            srv.0 as usize,
        )
        .unwrap_or(0);
        self.send_note(
            owner,
            HealthNote::Runtime {
                backend: be,
                server: srv,
                op,
            },
        );
    }

    /// Sends every reactor the note.
    pub(crate) fn broadcast_note(&self, note: HealthNote) {
        for r in 0..self.notes.len() {
            self.send_note(r, note);
        }
    }

    /// The next health note sent to `reactor`, if any.
    pub(crate) fn next_note(&self, reactor: usize) -> Option<HealthNote> {
        self.notes.get(reactor)?.1.try_recv().ok()
    }

    /// The streams other reactors asked `reactor` to resume.
    pub(crate) fn woken(&self, reactor: usize) -> impl Iterator<Item = Owner> + '_ {
        self.inboxes
            .get(reactor)
            .into_iter()
            .flat_map(|(_, rx)| rx.try_iter())
    }

    /// `clear counters` (peaks) or `clear counters all` (every cumulative counter too).
    pub(crate) fn clear_counters(&self, all: bool) {
        self.global.reset_peak();
        for f in self.frontends.iter() {
            f.conns.reset_peak();
            f.rate.reset_max();
            f.conn_rate.reset_max();
            f.binds.iter().for_each(Slots::reset_peak);
            if all {
                for c in [
                    &f.total,
                    &f.conn_total,
                    &f.requests,
                    &f.req_errors,
                    &f.denied,
                    &f.bytes_in,
                    &f.bytes_out,
                    &f.intercepted,
                    &f.ssl_sess,
                    &f.ssl_reused,
                    &f.ssl_failed,
                ] {
                    c.store(0, Relaxed);
                }
                f.http_responses.iter().for_each(|c| c.store(0, Relaxed));
            }
        }
        for b in self.backends.iter() {
            b.beconn.reset_peak();
            b.rate.reset_max();
            for s in b.servers.iter() {
                s.conns.reset_peak();
                s.rate.reset_max();
                if all {
                    s.clear_counters();
                }
            }
            if all {
                for c in [
                    &b.total,
                    &b.no_server,
                    &b.resp_errors,
                    &b.cli_aborts,
                    &b.srv_aborts,
                    &b.queue_timeouts,
                    &b.queue_waits,
                    &b.queue_wait_ms,
                    &b.requests,
                    &b.bytes_in,
                    &b.bytes_out,
                ] {
                    c.store(0, Relaxed);
                }
                b.http_responses.iter().for_each(|c| c.store(0, Relaxed));
            }
        }
        if all {
            self.accept_errors.store(0, Relaxed);
        }
    }

    /// Live streams over all reactors.
    pub fn live_streams(&self) -> usize {
        self.streams.iter().map(|s| s.load(Relaxed)).sum()
    }
}

/// HAProxy's default `fullconn`: 10 % (rounded up, at least 1) of the summed `maxconn` of the
/// frontends (and listens) whose `default_backend` or `use_backend` rules may lead to `be`.
fn default_fullconn(model: &Model, be: BackendId, global_maxconn: u32) -> u32 {
    let total: u64 = model
        .frontends
        .iter()
        .filter(|fe| fe.may_route_to(be))
        .map(|fe| u64::from(fe.maxconn.unwrap_or(global_maxconn)))
        .sum();
    u32::try_from(total.div_ceil(10)).map_or(u32::MAX, |n| n.max(1))
}

/// A server's configuration: from the model, or the one `add server` gave it.
pub(crate) enum ServerConf<'a> {
    Configured(&'a crate::model::Server),
    Added(Arc<crate::model::Server>),
}

impl std::ops::Deref for ServerConf<'_> {
    type Target = crate::model::Server;
    fn deref(&self) -> &crate::model::Server {
        match self {
            ServerConf::Configured(s) => s,
            ServerConf::Added(s) => s,
        }
    }
}

impl SharedState {
    /// Every server of backend `b` with its index: the configured ones, then those added at run
    /// time.
    pub(crate) fn servers_of(&self, b: BackendId) -> Vec<(usize, ServerConf<'_>)> {
        let Some(be) = self.model.backend(b) else {
            return Vec::new();
        };
        let mut v: Vec<(usize, ServerConf<'_>)> = be
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| (i, ServerConf::Configured(s)))
            .collect();
        if let Some(bs) = self.backend(b) {
            for (i, st) in bs.servers.iter().enumerate().skip(be.servers.len()) {
                if let Some(d) = st.dynamic() {
                    v.push((i, ServerConf::Added(d)));
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_never_overshoot() {
        let s = Slots::new(2);
        assert!(s.try_acquire());
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        assert!(s.release(), "was full");
        assert!(!s.release());
        assert_eq!(s.cur(), 0);
        assert_eq!(s.peak(), 2);
    }

    #[test]
    fn soft_stop_close_spread() {
        use crate::model::{CloseSpread, Model};
        let shared = |spread: Option<CloseSpread>| {
            let mut m = Model::default();
            m.global.close_spread = spread;
            SharedState::new(Arc::new(m), 100, 1)
        };
        // Not stopping: never.
        let s = shared(None);
        assert!(!s.closes_on_stop(0, 1));
        s.soft_stop.store(true, Relaxed);
        assert!(s.closes_on_stop(0, 1), "no spread: close at once");
        assert_eq!(s.idle_close_at(0, 1), None);
        let s = shared(Some(CloseSpread::Infinite));
        s.soft_stop.store(true, Relaxed);
        assert!(!s.closes_on_stop(1_000_000, 1), "infinite: never");
        let s = shared(Some(CloseSpread::Window(std::time::Duration::from_millis(
            1000,
        ))));
        s.soft_stop_ms.store(10_000, Relaxed);
        s.soft_stop.store(true, Relaxed);
        // At the start of the window few close, at its end all do.
        let at = |now| (0..1000u64).filter(|i| s.closes_on_stop(now, *i)).count();
        assert_eq!(at(10_000), 0);
        assert!((400..=600).contains(&at(10_500)), "{}", at(10_500));
        assert_eq!(at(11_000), 1000);
        for salt in 0..100 {
            let t = s.idle_close_at(10_200, salt).unwrap();
            assert!((10_200..11_000).contains(&t), "{t}");
        }
    }

    #[test]
    fn unlimited_slots() {
        let s = Slots::new(0);
        for _ in 0..1000 {
            assert!(s.try_acquire());
        }
        assert!(!s.release());
    }

    fn server(conf: &str) -> ServerState {
        let text = format!(
            "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             backend be\n    server s 127.0.0.1:80 {conf}\n"
        );
        let loaded = crate::config::load_str("t.cfg", &text).expect("config");
        let s = loaded
            .model
            .backends
            .first()
            .and_then(|b| b.servers.first());
        ServerState::new(s.expect("server"))
    }

    #[test]
    fn dynamic_limit_follows_the_manual_example() {
        // fullconn 1024, minconn 10 maxconn 100: max(minconn, beconn x maxconn / fullconn).
        let s = server("minconn 10 maxconn 100");
        let at = |beconn| s.limit(beconn, 1024, 0);
        assert_eq!(at(0), 10);
        assert_eq!(at(102), 10, "9.96 rounds down, minconn wins");
        assert_eq!(at(205), 20);
        assert_eq!(at(512), 50);
        assert_eq!(at(1023), 99);
        assert_eq!(at(1024), 100);
        assert_eq!(at(100_000), 100);
        // Without minconn the limit is static; minconn alone becomes the maxconn.
        assert_eq!(server("maxconn 30").limit(0, 1024, 0), 30);
        assert_eq!(server("minconn 40 maxconn 30").limit(0, 1024, 0), 40);
        assert_eq!(server("").limit(0, 1024, 0), 0);
    }

    #[test]
    fn slow_start_ramps_weight_and_limit() {
        let s = server("weight 10 maxconn 100 slowstart 10s");
        assert_eq!(s.eweight(0), 160, "no ramp at start");
        s.set_up(false, 1_000);
        s.set_up(true, 1_000);
        assert_eq!(s.eweight(1_000), 10, "1/16 at once");
        assert_eq!(s.limit(0, 1, 1_000), 1, "at least one connection");
        assert_eq!(s.eweight(6_000), 90, "(16 x 5 + 10) / 10 = 9/16");
        assert_eq!(s.limit(0, 1, 6_000), 50);
        assert_eq!(s.eweight(11_000), 160);
        assert_eq!(s.limit(0, 1, 11_000), 100);
        // Leaving maintenance ramps too; a weight-0 server stays out.
        s.set_admin(Admin::Maint, 20_000);
        s.set_admin(Admin::Ready, 20_000);
        assert_eq!(s.eweight(20_000), 10);
        s.set_weight(0);
        assert_eq!(s.eweight(21_000), 0);
    }

    #[test]
    fn fullconn_defaults_to_a_tenth_of_the_frontends_maxconn() {
        let text = "global\n    maxconn 4000\ndefaults\n    timeout client 1s\n    timeout server 1s\n\
             \x20   timeout connect 1s\nfrontend a\n    bind 127.0.0.1:1\n    maxconn 1000\n    default_backend be\n\
             frontend b\n    bind 127.0.0.1:1\n    use_backend be if TRUE\n    default_backend other\n\
             backend be\n    server s 127.0.0.1:80\nbackend other\n    fullconn 77\n    server s 127.0.0.1:80\n";
        let loaded = crate::config::load_str("t.cfg", text).expect("config");
        let st = SharedState::new(Arc::new(loaded.model), 4000, 1);
        // (1000 + 4000) / 10; `other` keeps its own.
        assert_eq!(st.backends[0].fullconn, 500);
        assert_eq!(st.backends[1].fullconn, 77);
    }
}
