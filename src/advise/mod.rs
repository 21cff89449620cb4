//! The failover advisor (`ravelin -c --advise`): for each backend, how long a dead or a hung
//! server stays in rotation, how many requests meet it meanwhile, whether retries save them,
//! and which settings put requests at risk (`[RISK]` lines, each with what to change).
//!
//! Plain functions over the model: no socket, no clock. The check timing is the one the
//! `check` module runs (HAProxy's `srv_getinter()` in `check::health`, the deadlines of
//! `timeout check`); the retry rules are those of `conn::connect` (HAProxy's
//! `back_handle_st_cer()` and `stream_choose_redispatch()`), plus `retry-on` as HAProxy
//! applies it. [`render`] returns the text; `main.rs` prints it and turns
//! [`BackendAdvice::flagged`] into the exit status. `docs/FAILOVER.md` explains every number.
//!
//! Worst cases, for a server at full health (every formula takes the longest `spread-checks`
//! jitter on each interval):
//!
//! * dead server (refuses connections): out of rotation after `inter + (fall-1) × fastinter`
//!   (the failure starts just after a check passed; a refused connect takes ~0);
//! * hung server (accepts, never answers): with a layer-7 check, `inter + T + (fall-1) ×
//!   (fastinter + T)` where `T` is `timeout check` if set, else `inter` (which then bounds the
//!   whole check; the kernel completes the connect at once); with a connect-only check, never;
//! * back in rotation once it answers again: `downinter + (rise-1) × fastinter`;
//! * requests meeting it: its weight over the weights of the servers in rotation × rate × the
//!   time out of rotation.

use std::fmt;
use std::time::Duration;

mod report;
use report::param;
pub use report::{render, render_backend};

use crate::check::health;

use crate::model::{Backend, Balance, CheckParams, Mode, Model, RetryOn, Server};

/// `--rate` default: requests per second the backend receives.
pub const DEFAULT_RATE: u32 = 500;
/// `--patience` default: how long a client waits for an answer before giving up.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(5);
/// A dead server that takes more requests than this much of the whole traffic before it
/// leaves rotation (with no retry to save them) is flagged: an outage of a tenth of the
/// servers should not cost more than a few seconds of everybody's traffic.
pub(crate) const RISK_BUDGET: Duration = Duration::from_secs(10);
/// HAProxy's turn-around before a retry on the same server after a refused connection is
/// `min(1s, timeout connect)` (the manual's `retries`; `conn::connect::TURN_AROUND`).
const TURN_AROUND: Duration = Duration::from_secs(1);

/// What the advice is computed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Requests per second sent to each backend.
    pub rate: u32,
    /// The client's patience: a response later than this is a failure to the client.
    pub patience: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            rate: DEFAULT_RATE,
            patience: DEFAULT_PATIENCE,
        }
    }
}

/// Whether the backend's checks look at the application's answer (layer 7), so that a server
/// which accepts connections but never answers fails them: `option httpchk`, `option
/// tcp-check` with an `expect` rule, or an external check (its command is bounded by the
/// check's timeout, and is assumed to talk to the application).
pub(crate) fn check_is_layer7(be: &Backend) -> bool {
    let hc = &be.health_check;
    let tcp_expects = hc.tcp.as_ref().is_some_and(|t| {
        t.rules
            .iter()
            .any(|r| matches!(r.action, crate::model::TcpAction::Expect(_)))
    });
    hc.http.is_some() || tcp_expects || hc.external.is_some()
}

/// `T`: how long one check of a hung server takes to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckTimeout {
    /// `timeout check` is set: the connect completes at once (the kernel accepts), then the
    /// answer is awaited this long.
    Check(Duration),
    /// No `timeout check`: `inter` bounds the whole check.
    Inter(Duration),
}

impl CheckTimeout {
    pub(crate) fn duration(self) -> Duration {
        match self {
            CheckTimeout::Check(d) | CheckTimeout::Inter(d) => d,
        }
    }
}

/// The check timeout `T` of a server of `be` (see `check::Checks::begin` and `connected`).
pub(crate) fn check_timeout(be: &Backend, p: &CheckParams) -> CheckTimeout {
    match be.timeouts.check {
        Some(t) => CheckTimeout::Check(t),
        None => CheckTimeout::Inter(p.inter),
    }
}

/// The longest an interval can last with `spread-checks` jitter of `spread` percent.
fn longest(interval: Duration, spread: u32) -> Duration {
    health::jittered(interval, spread, 0.0)
}

/// Worst-case time a dead server (connection refused) stays in rotation:
/// `inter + (fall-1) × fastinter`. The server dies just after a check passed: the next check
/// comes `inter` later (full health) and fails at once; the `fall-1` others follow
/// `fastinter` apart (health between 0 and full).
pub(crate) fn dead_out(p: &CheckParams, spread: u32) -> Duration {
    let fails_after_first = p.fall.max(1) - 1;
    longest(p.inter, spread)
        .saturating_add(longest(p.fastinter, spread).saturating_mul(fails_after_first))
}

/// Worst-case time a hung server (accepts, never answers) stays in rotation with a layer-7
/// check: `inter + T + (fall-1) × (fastinter + T)`, each failing check lasting `T`.
pub(crate) fn hung_out(p: &CheckParams, t: Duration, spread: u32) -> Duration {
    let fails_after_first = p.fall.max(1) - 1;
    let each = longest(p.fastinter, spread).saturating_add(t);
    longest(p.inter, spread)
        .saturating_add(t)
        .saturating_add(each.saturating_mul(fails_after_first))
}

/// Worst-case time a down server that answers again takes to come back:
/// `downinter + (rise-1) × fastinter` (the next check is `downinter` after the last failed
/// one ended, the `rise-1` others `fastinter` apart).
pub(crate) fn back_in(p: &CheckParams, spread: u32) -> Duration {
    let passes_after_first = p.rise.max(1) - 1;
    longest(p.downinter, spread)
        .saturating_add(longest(p.fastinter, spread).saturating_mul(passes_after_first))
}

/// The servers load-balanced traffic goes to while all are up: the active ones (not backup,
/// not disabled, weight > 0); with none, the first backup, or every backup with
/// `option allbackups` (HAProxy's rules, see `balance`).
pub(crate) fn rotation(be: &Backend) -> Vec<&Server> {
    let usable = |s: &&Server| !s.disabled && s.weight > 0;
    let active: Vec<&Server> = be
        .servers
        .iter()
        .filter(|s| !s.backup)
        .filter(usable)
        .collect();
    if !active.is_empty() {
        return active;
    }
    let backups = be.servers.iter().filter(|s| s.backup).filter(usable);
    if be.allbackups {
        backups.collect()
    } else {
        backups.take(1).collect()
    }
}

/// The share of the backend's traffic `srv` receives: its weight over the total weight of
/// the servers in rotation (0 when it is not in rotation). `leastconn` may send a server that
/// fails fast more than this (its connection count stays low).
pub(crate) fn share(be: &Backend, srv: &Server) -> f64 {
    let servers = rotation(be);
    if !servers.iter().any(|s| std::ptr::eq(*s, srv)) {
        return 0.0;
    }
    let total: f64 = servers.iter().map(|s| f64::from(s.weight)).sum();
    if total > 0.0 {
        f64::from(srv.weight) / total
    } else {
        0.0
    }
}

/// Requests sent to a failed server with traffic share `share` at `rate` requests/s during
/// `during`.
pub(crate) fn requests_at_risk(share: f64, rate: u32, during: Duration) -> f64 {
    share * f64::from(rate) * during.as_secs_f64()
}

/// Why the requests that meet a failed server are not replayed on another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lost {
    /// `retries 0`.
    NoRetries,
    /// `retry-on none` (HTTP).
    RetryOnNone,
    /// `retry-on` without `conn-failure` (HTTP): HAProxy gives up on the first refusal.
    NoConnFailure,
    /// `retry-on` without `response-timeout`: a request sent is never replayed after a timeout.
    NoResponseTimeout,
    /// TCP mode: `retry-on` is HTTP only; bytes sent are never replayed.
    TcpMode,
    /// Retries stay on the same server.
    NoRedispatch { retries: u32 },
    /// No other server in rotation to go to.
    NoOtherServer,
    /// A hashing algorithm only moves a retry on the `option redispatch` interval, and this
    /// one never falls within `retries`.
    RedispatchNever { interval: i32, retries: u32 },
    /// `timeout server` unset: the request waits forever, no retry is ever triggered.
    NoServerTimeout,
    /// The retry that reaches another server only starts after the client gave up.
    PastPatience { wait: Duration, patience: Duration },
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lost::NoRetries => f.write_str("retries 0"),
            Lost::RetryOnNone => f.write_str("retry-on none"),
            Lost::NoConnFailure => f.write_str("retry-on without conn-failure"),
            Lost::NoResponseTimeout => f.write_str("retry-on without response-timeout"),
            Lost::TcpMode => f.write_str("TCP mode: a request sent is never replayed"),
            Lost::NoRedispatch { retries } => {
                write!(f, "retries {retries} without option redispatch")
            }
            Lost::NoOtherServer => f.write_str("no other server in rotation"),
            Lost::RedispatchNever { interval, retries } => write!(
                f,
                "option redispatch {interval} never moves a hashed request within retries {retries}"
            ),
            Lost::NoServerTimeout => f.write_str("timeout server not set: it waits forever"),
            Lost::PastPatience { wait, patience } => write!(
                f,
                "another server is tried after {} >= patience {}",
                param(*wait),
                param(*patience)
            ),
        }
    }
}

/// What happens to a request that meets a failed server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Retry number `on_retry` goes to another server, `wait` after the first attempt
    /// (turn-arounds after refused connections; `timeout server` per attempt on a hung one).
    Saved {
        on_retry: u32,
        wait: Duration,
    },
    Lost(Lost),
}

/// Whether the balancing hashes the request (a retry then stays on the key's server except on
/// the redispatch interval, HAProxy's `BE_LB_KIND_HI`).
fn hashing(be: &Backend) -> bool {
    be.balance.is_hash()
}

/// The retry that goes to another server while the failed server is still in rotation
/// (HAProxy's `stream_choose_redispatch()`): the first with a non-hashing algorithm and
/// another server in rotation; with hashing, the first on the `option redispatch` interval
/// (`P > 0`: every P-th retry; `-N`: the N-th before the last, i.e. retry `retries+1-N`).
pub(crate) fn redispatch_retry(be: &Backend) -> Result<u32, Lost> {
    if be.retries == 0 {
        return Err(Lost::NoRetries);
    }
    if rotation(be).len() <= 1 {
        return Err(Lost::NoOtherServer);
    }
    let Some(interval) = be.redispatch else {
        return Err(Lost::NoRedispatch {
            retries: be.retries,
        });
    };
    if !hashing(be) {
        return Ok(1);
    }
    let first = if interval > 0 {
        i64::from(interval)
    } else {
        i64::from(be.retries) + 1 + i64::from(interval)
    };
    match u32::try_from(first) {
        Ok(k) if k >= 1 && k <= be.retries => Ok(k),
        _ => Err(Lost::RedispatchNever {
            interval,
            retries: be.retries,
        }),
    }
}

/// A request sent to a dead server (connection refused, the server still in rotation).
/// `retry-on` only counts in HTTP mode (the manual: silently ignored otherwise). Each retry
/// on the same server waits the turn-around; the one that moves does too, except with
/// roundrobin/static-rr (`conn::connect::Connector::after_failure`). Turn-arounds that add up
/// to the client's patience save nothing.
pub(crate) fn dead_replay(be: &Backend, patience: Duration) -> Replay {
    if be.mode == Mode::Http && be.retries > 0 {
        if be.retry_on == RetryOn::NONE {
            return Replay::Lost(Lost::RetryOnNone);
        }
        if !be.retry_on.has(RetryOn::CONN_FAILURE) {
            return Replay::Lost(Lost::NoConnFailure);
        }
    }
    let k = match redispatch_retry(be) {
        Ok(k) => k,
        Err(lost) => return Replay::Lost(lost),
    };
    let round_robin = matches!(be.balance, Balance::RoundRobin | Balance::StaticRr);
    let waits = if round_robin { k - 1 } else { k };
    let turn = be
        .timeouts
        .connect
        .map_or(TURN_AROUND, |c| c.min(TURN_AROUND))
        .max(Duration::from_millis(1));
    let wait = turn.saturating_mul(waits);
    if wait >= patience {
        return Replay::Lost(Lost::PastPatience { wait, patience });
    }
    Replay::Saved { on_retry: k, wait }
}

/// A request sent to a hung server: replayed only in HTTP mode with `retry-on
/// response-timeout`, once `timeout server` struck on each attempt that stays on the hung
/// server, and only useful if that happens before the client's patience runs out.
pub(crate) fn hung_replay(be: &Backend, patience: Duration) -> Replay {
    if be.retries == 0 {
        return Replay::Lost(Lost::NoRetries);
    }
    if be.mode != Mode::Http {
        return Replay::Lost(Lost::TcpMode);
    }
    if be.retry_on == RetryOn::NONE {
        return Replay::Lost(Lost::RetryOnNone);
    }
    if !be.retry_on.has(RetryOn::RESPONSE_TIMEOUT) {
        return Replay::Lost(Lost::NoResponseTimeout);
    }
    let k = match redispatch_retry(be) {
        Ok(k) => k,
        Err(lost) => return Replay::Lost(lost),
    };
    let Some(server) = be.timeouts.server else {
        return Replay::Lost(Lost::NoServerTimeout);
    };
    let wait = server.saturating_mul(k);
    if wait >= patience {
        return Replay::Lost(Lost::PastPatience { wait, patience });
    }
    Replay::Saved { on_retry: k, wait }
}

/// One problem found in a backend; its `Display` says what to change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Risk {
    RetriesWithoutRedispatch {
        retries: u32,
    },
    NoRetries,
    RetryOnNone,
    RetryOnWithoutConnFailure,
    RedispatchNever {
        interval: i32,
        retries: u32,
    },
    NoCheck,
    UncheckedServers(Vec<String>),
    ConnectOnlyCheck,
    ServerTimeoutPastPatience {
        server: Option<Duration>,
        patience: Duration,
    },
    /// More requests lost to a dead server than [`RISK_BUDGET`] of traffic.
    SlowDetection {
        requests: f64,
        budget: f64,
    },
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Risk::RetriesWithoutRedispatch { retries } => write!(
                f,
                "retries without 'option redispatch': a retry goes back to the same dead server \
                 (add 'option redispatch', or the {retries} retries only delay the error)"
            ),
            Risk::NoRetries => f.write_str(
                "retries 0: a request that meets a dead server is never replayed \
                 (set 'retries 2' with 'option redispatch')",
            ),
            Risk::RetryOnNone => f.write_str(
                "'retry-on none' replays nothing, not even a refused connection \
                 (remove it, or use 'retry-on conn-failure empty-response response-timeout')",
            ),
            Risk::RetryOnWithoutConnFailure => f.write_str(
                "'retry-on' without conn-failure: a refused connection is never retried \
                 (add 'conn-failure' to 'retry-on')",
            ),
            Risk::RedispatchNever { interval, retries } => write!(
                f,
                "'option redispatch {interval}' with retries {retries} never moves a hashed \
                 request to another server (use 'option redispatch 1')"
            ),
            Risk::NoCheck => f.write_str(
                "no server has 'check': a dead or hung server is never taken out of rotation \
                 (add 'check' to the server lines)",
            ),
            Risk::UncheckedServers(names) => write!(
                f,
                "servers without 'check' ({}): a dead one is never taken out of rotation \
                 (add 'check' to them)",
                names.join(", ")
            ),
            Risk::ConnectOnlyCheck => f.write_str(
                "connect-only check on an HTTP backend: a hung server passes it \
                 (use 'option httpchk' with 'timeout check')",
            ),
            Risk::ServerTimeoutPastPatience { server, patience } => {
                let server = server.map_or_else(|| "not set (infinite)".to_string(), param);
                let patience = param(*patience);
                write!(
                    f,
                    "timeout server {server} >= client patience {patience}: requests caught by \
                     a hung server fail at the client first (set 'timeout server' below \
                     {patience}, with 'retry-on response-timeout' and 'option redispatch')"
                )
            }
            Risk::SlowDetection { requests, budget } => write!(
                f,
                "a dead server gets ~{requests:.0} requests before it leaves rotation, more \
                 than {budget:.0} ({} of traffic) (lower 'inter', 'fastinter' or 'fall')",
                param(RISK_BUDGET)
            ),
        }
    }
}

/// How long a failure stays in rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detection {
    /// Out of rotation after at most this long.
    After(Duration),
    /// The server is not checked.
    NoCheck,
    /// The check only connects: a hung server passes it.
    ConnectOnly,
}

impl Detection {
    fn time(self) -> Option<Duration> {
        match self {
            Detection::After(d) => Some(d),
            Detection::NoCheck | Detection::ConnectOnly => None,
        }
    }
}

/// The worst-case figures of one server of a backend.
#[derive(Clone, Debug)]
pub(crate) struct ServerAdvice<'a> {
    pub(crate) server: &'a Server,
    pub(crate) share: f64,
    pub(crate) dead: Detection,
    pub(crate) hung: Detection,
    /// `None` for an unchecked server (never taken out).
    pub(crate) back: Option<Duration>,
    pub(crate) timeout: CheckTimeout,
}

/// Figures for one server.
pub(crate) fn server_advice<'a>(be: &Backend, srv: &'a Server, spread: u32) -> ServerAdvice<'a> {
    let p = &srv.check;
    let timeout = check_timeout(be, p);
    let (dead, hung, back) = if !p.enabled {
        (Detection::NoCheck, Detection::NoCheck, None)
    } else if check_is_layer7(be) {
        (
            Detection::After(dead_out(p, spread)),
            Detection::After(hung_out(p, timeout.duration(), spread)),
            Some(back_in(p, spread)),
        )
    } else {
        (
            Detection::After(dead_out(p, spread)),
            Detection::ConnectOnly,
            Some(back_in(p, spread)),
        )
    };
    ServerAdvice {
        server: srv,
        share: share(be, srv),
        dead,
        hung,
        back,
        timeout,
    }
}

/// The advice for one backend (or the backend half of a `listen`).
#[derive(Clone, Debug)]
pub struct BackendAdvice<'a> {
    pub(crate) backend: &'a Backend,
    /// Part of a `listen` section.
    pub(crate) listen: bool,
    /// The server whose failure costs the most (`None`: no server in rotation).
    pub(crate) worst: Option<ServerAdvice<'a>>,
    /// The servers in rotation differ (weights or checks): the figures are the worst one's.
    pub(crate) servers_differ: bool,
    pub(crate) dead_replay: Replay,
    pub(crate) hung_replay: Replay,
    pub(crate) risks: Vec<Risk>,
}

impl BackendAdvice<'_> {
    /// Something in this backend puts requests at risk (exit status 2).
    pub fn flagged(&self) -> bool {
        !self.risks.is_empty()
    }
}

/// Sort key of a server's cost: requests lost to it dead (never detected counts as infinite),
/// then to it hung.
fn cost(s: &ServerAdvice<'_>, rate: u32) -> (f64, f64) {
    let at = |d: Detection| {
        d.time()
            .map_or(f64::INFINITY, |t| requests_at_risk(s.share, rate, t))
    };
    if s.share == 0.0 {
        return (0.0, 0.0);
    }
    (at(s.dead), at(s.hung))
}

/// The advice for backend `be`.
pub(crate) fn backend_advice<'a>(
    model: &Model,
    be: &'a Backend,
    listen: bool,
    opts: &Options,
) -> BackendAdvice<'a> {
    let spread = model.global.spread_checks;
    let in_rotation = rotation(be);
    let mut worst: Option<ServerAdvice<'a>> = None;
    for srv in &in_rotation {
        let a = server_advice(be, srv, spread);
        let worse = worst.as_ref().is_none_or(|w| {
            let (a_dead, a_hung) = cost(&a, opts.rate);
            let (w_dead, w_hung) = cost(w, opts.rate);
            a_dead > w_dead || (a_dead == w_dead && a_hung > w_hung)
        });
        if worse {
            worst = Some(a);
        }
    }
    let servers_differ = in_rotation.first().is_some_and(|first| {
        in_rotation
            .iter()
            .any(|s| s.weight != first.weight || s.check != first.check)
    });
    let dead_replay = dead_replay(be, opts.patience);
    let hung_replay = hung_replay(be, opts.patience);
    let risks = risks(be, worst.as_ref(), &dead_replay, opts);
    BackendAdvice {
        backend: be,
        listen,
        worst,
        servers_differ,
        dead_replay,
        hung_replay,
        risks,
    }
}

/// The problems of a backend, one [`Risk`] each. A backend without servers has none (it has
/// nothing to fail over between).
pub(crate) fn risks(
    be: &Backend,
    worst: Option<&ServerAdvice<'_>>,
    dead: &Replay,
    opts: &Options,
) -> Vec<Risk> {
    let mut out = Vec::new();
    let servers: Vec<&Server> = be.servers.iter().filter(|s| !s.disabled).collect();
    if servers.is_empty() {
        return out;
    }
    let several = rotation(be).len() > 1;
    if be.retries == 0 {
        out.push(Risk::NoRetries);
    } else {
        if be.redispatch.is_none() && several {
            out.push(Risk::RetriesWithoutRedispatch {
                retries: be.retries,
            });
        }
        if be.mode == Mode::Http && be.retry_on == RetryOn::NONE {
            out.push(Risk::RetryOnNone);
        } else if be.mode == Mode::Http && !be.retry_on.has(RetryOn::CONN_FAILURE) {
            out.push(Risk::RetryOnWithoutConnFailure);
        }
        if let Err(Lost::RedispatchNever { interval, retries }) = redispatch_retry(be) {
            out.push(Risk::RedispatchNever { interval, retries });
        }
    }
    let unchecked: Vec<String> = servers
        .iter()
        .filter(|s| !s.check.enabled)
        .map(|s| s.name.clone())
        .collect();
    let checked = unchecked.len() < servers.len();
    if !checked {
        out.push(Risk::NoCheck);
    } else if !unchecked.is_empty() {
        out.push(Risk::UncheckedServers(unchecked));
    }
    if be.mode == Mode::Http && checked && !check_is_layer7(be) {
        out.push(Risk::ConnectOnlyCheck);
    }
    if be.timeouts.server.is_none_or(|t| t >= opts.patience) {
        out.push(Risk::ServerTimeoutPastPatience {
            server: be.timeouts.server,
            patience: opts.patience,
        });
    }
    if let (Replay::Lost(_), Some(w)) = (dead, worst) {
        if let Some(t) = w.dead.time() {
            let requests = requests_at_risk(w.share, opts.rate, t);
            let budget = requests_at_risk(1.0, opts.rate, RISK_BUDGET);
            if requests > budget {
                out.push(Risk::SlowDetection { requests, budget });
            }
        }
    }
    out
}

/// The advice for every backend of the model, in configuration order.
pub fn advise<'a>(model: &'a Model, opts: &Options) -> Vec<BackendAdvice<'a>> {
    model
        .backends
        .iter()
        .enumerate()
        .map(|(i, be)| {
            let listen = model.frontends.iter().any(|f| {
                f.listen_backend
                    .is_some_and(|id| usize::try_from(id.0).is_ok_and(|id| id == i))
            });
            backend_advice(model, be, listen, opts)
        })
        .collect()
}

#[cfg(test)]
mod tests;
