//! The immutable runtime model: what the reactors run on.
//!
//! Built once from the parsed configuration (`config::load`) and shared read-only behind an `Arc`.
//! Everything here is plain data: names resolved to ids, defaults inherited, units converted.
//! Nothing in this module touches a socket; the reactors never see configuration text.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::ids::{BackendId, FrontendId, Origin, ServerId};
pub use crate::status::Observe;

/// The whole frozen configuration.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub global: Global,
    /// Frontends, including the frontend half of every `listen` section.
    pub frontends: Vec<Frontend>,
    /// Backends, including the backend half of every `listen` section.
    pub backends: Vec<Backend>,
}

impl Model {
    /// Descriptors HAProxy 2.6 sets aside before it counts two per connection (its
    /// `global.maxsock` before `maxconn` is added, plus what `compute_ideal_maxconn()`
    /// subtracts): 20 for logs, DNS, the CLI's clients and the like, one per listener
    /// (every `bind` and `stats socket`), one per health and agent check, and three per thread
    /// (its poller and its wake-up pipe). Measured against haproxy 2.6.12's `show info`.
    pub(crate) fn fd_reserve(&self, nbthread: usize) -> u64 {
        let listeners: usize = self.frontends.iter().map(|f| f.binds.len()).sum::<usize>()
            + self.global.stats_sockets.len();
        let checks: usize = self
            .backends
            .iter()
            .flat_map(|b| b.servers.iter())
            .map(|s| usize::from(s.check.enabled) + usize::from(s.check.agent))
            .sum();
        let n = listeners
            .saturating_add(checks)
            .saturating_add(nbthread.saturating_mul(3));
        20u64.saturating_add(u64::try_from(n).unwrap_or(u64::MAX))
    }

    pub(crate) fn frontend(&self, id: FrontendId) -> Option<&Frontend> {
        self.frontends.get(id.0 as usize)
    }

    pub fn backend(&self, id: BackendId) -> Option<&Backend> {
        self.backends.get(id.0 as usize)
    }
}

/// `global` section.
#[derive(Clone, Debug)]
pub struct Global {
    /// `maxconn`; `None` means "derive from the open-files limit", as HAProxy does.
    pub(crate) maxconn: Option<u32>,
    /// `ulimit-n`; `None` means "the open-files limit at start, or what `maxconn` needs".
    pub(crate) ulimit_n: Option<u32>,
    /// `nbthread`; `None` means one reactor per available CPU.
    pub(crate) nbthread: Option<u16>,
    /// `cpu-map` lines, resolved to (thread index 0-based, CPU set). Later lines override earlier
    /// ones for the same thread.
    pub(crate) cpu_map: Vec<CpuMap>,
    pub(crate) pidfile: Option<PathBuf>,
    pub(crate) hard_stop_after: Option<Duration>,
    /// `tune.bufsize`, default 16384.
    pub(crate) bufsize: u32,
    /// `tune.maxaccept`, default 64; `-1` in the config means unlimited and is stored as `u32::MAX`.
    pub(crate) maxaccept: u32,
    /// `tune.pipesize`; `None` keeps the kernel's default pipe size.
    pub(crate) pipesize: Option<u32>,
    /// `tune.http.maxhdr`, default 101.
    pub(crate) http_maxhdr: u32,
    /// `daemon`.
    pub(crate) daemon: bool,
    /// `nosplice`: disable splice(2) everywhere (like `-dS`).
    pub(crate) nosplice: bool,
    /// `pp2-never-send-local`: health checks send a v2 PROXY command with their own addresses
    /// instead of LOCAL (HAProxy's pre-2.2 behaviour, for servers that mishandle LOCAL).
    pub(crate) pp2_never_send_local: bool,
    /// `log`, `log-tag`, `log-send-hostname`.
    pub(crate) log: crate::log::GlobalLog,
    /// `stats socket` lines, stored verbatim for the runtime-API issue.
    pub(crate) stats_sockets: Vec<RawLine>,
    /// `stats socket` / `stats timeout` / `stats maxconn`, parsed (the runtime API, `api/`).
    pub(crate) stats: StatsCli,
    /// `spread-checks`: random jitter of +/- this percent on every check interval (0..=50).
    pub(crate) spread_checks: u32,
    /// `max-spread-checks`: upper bound of the window the first checks are spread over.
    pub(crate) max_spread_checks: Option<Duration>,
    /// `external-check`: external checks allowed.
    pub(crate) external_check: bool,
    /// `insecure-fork-wanted` (HAProxy warns that external checks fail without it).
    pub(crate) insecure_fork_wanted: bool,
    /// `server-state-file`: servers' states saved by `show servers state` before a reload.
    pub(crate) server_state_file: Option<PathBuf>,
    /// `server-state-base`: directory of relative server-state file names.
    pub(crate) server_state_base: Option<PathBuf>,
    /// `master-worker`: run as a master process supervising a worker (like `-W`).
    pub(crate) master_worker: bool,
    /// `grace`: delay between SIGUSR1 and the soft stop (listeners keep accepting meanwhile).
    pub(crate) grace: Option<Duration>,
    /// `close-spread-time`: how a soft stop closes keep-alive connections (`None`: at once).
    pub(crate) close_spread: Option<CloseSpread>,
    /// `ssl-default-bind-options|ciphers|ciphersuites|curves`: what `bind ... ssl` lines
    /// inherit.
    pub(crate) ssl_default_bind: crate::tls::BindOpts,
}

/// `close-spread-time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseSpread {
    /// `infinite`: a soft stop closes no connection actively (no `connection: close`, idle
    /// connections live until their timeout).
    Infinite,
    /// Closing is spread over this window after the soft stop.
    Window(Duration),
}

impl Default for Global {
    fn default() -> Self {
        Global {
            maxconn: None,
            ulimit_n: None,
            nbthread: None,
            cpu_map: Vec::new(),
            pidfile: None,
            hard_stop_after: None,
            bufsize: 16384,
            maxaccept: 64,
            pipesize: None,
            http_maxhdr: 101,
            daemon: false,
            nosplice: false,
            pp2_never_send_local: false,
            log: Default::default(),
            stats_sockets: Vec::new(),
            stats: StatsCli::default(),
            spread_checks: 0,
            max_spread_checks: None,
            external_check: false,
            insecure_fork_wanted: false,
            server_state_file: None,
            server_state_base: None,
            master_worker: false,
            grace: None,
            close_spread: None,
            ssl_default_bind: crate::tls::BindOpts::default(),
        }
    }
}

/// The runtime API's sockets and limits (`stats socket`, `stats timeout`, `stats maxconn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatsCli {
    pub(crate) sockets: Vec<StatsSocket>,
    /// `stats timeout`, default 10 s: idle time before a CLI connection is closed.
    pub(crate) timeout: Duration,
    /// `stats maxconn`, default 10: concurrent CLI connections.
    pub(crate) maxconn: u32,
}

impl Default for StatsCli {
    fn default() -> Self {
        StatsCli {
            sockets: Vec::new(),
            timeout: Duration::from_secs(10),
            maxconn: 10,
        }
    }
}

/// Access level of a CLI socket (HAProxy's `ACCESS_LVL_*`), ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CliLevel {
    User,
    Operator,
    Admin,
}

/// Where a `stats socket` listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CliAddr {
    Unix(PathBuf),
    Inet(SocketAddr),
}

/// One `stats socket` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatsSocket {
    pub(crate) origin: Origin,
    pub(crate) addr: CliAddr,
    /// `mode` (octal) applied to a unix socket file.
    pub(crate) mode: Option<u32>,
    /// `uid`/`user` and `gid`/`group` of a unix socket file.
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    /// `level`, default `operator` as HAProxy.
    pub(crate) level: CliLevel,
    /// `expose-fd listeners`: `_getsocks` allowed.
    pub(crate) expose_fd: bool,
}

/// A configuration line kept as words for a later feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawLine {
    pub(crate) origin: Origin,
    pub(crate) words: Vec<String>,
}

/// One thread's CPU binding from `cpu-map`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CpuMap {
    /// Reactor index, 0-based (`cpu-map 1/1 0` binds thread 1, which is index 0).
    pub(crate) thread: u16,
    /// CPUs the thread may run on. Ravelin pins to the first one (core_affinity pins to one core).
    pub(crate) cpus: Vec<u16>,
}

/// `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    #[default]
    Tcp,
    Http,
}

/// The timeouts a proxy can carry. `None` is "not set", which HAProxy treats as infinite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) connect: Option<Duration>,
    pub(crate) client: Option<Duration>,
    pub(crate) server: Option<Duration>,
    pub(crate) tunnel: Option<Duration>,
    pub(crate) queue: Option<Duration>,
    pub(crate) client_fin: Option<Duration>,
    pub(crate) server_fin: Option<Duration>,
    /// `timeout http-request`: the whole request head must arrive within it (else 408).
    pub(crate) http_request: Option<Duration>,
    /// `timeout http-keep-alive`: idle time allowed between two requests.
    pub(crate) http_keep_alive: Option<Duration>,
    /// `timeout check`: bounds a health check's read phase once connected (see `check`).
    pub(crate) check: Option<Duration>,
}

/// The three splice options. `None`: not mentioned (Ravelin splices by default in TCP mode;
/// HAProxy does not), `Some(true)`: `option splice-*`, `Some(false)`: `no option splice-*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpliceOptions {
    pub(crate) auto: Option<bool>,
    pub(crate) request: Option<bool>,
    pub(crate) response: Option<bool>,
}

/// HTTP connection handling (`option http-keep-alive|http-server-close|httpclose`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ConnMode {
    /// `option http-keep-alive` (default): keep both sides open between requests.
    #[default]
    KeepAlive,
    /// `option http-server-close`: keep the client side, close the server side after each
    /// response.
    ServerClose,
    /// `option httpclose`: close both sides after each response.
    Close,
}

/// `option forwardfor` / `option originalto`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ForwardHeader {
    /// Header name (`X-Forwarded-For` / `X-Original-To` by default).
    pub(crate) header: String,
    /// `except NET[/MASK]`: do not add it for these sources.
    pub(crate) except: Option<(std::net::IpAddr, u8)>,
    /// `if-none`: only add it when the request has none.
    pub(crate) if_none: bool,
}

/// HTTP settings of a proxy. For a stream, HAProxy combines the frontend's and the backend's
/// (e.g. the stricter connection mode wins; forwardfor from either side applies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HttpSettings {
    /// `None`: not set in this proxy (the other side or the default decides).
    pub(crate) conn_mode: Option<ConnMode>,
    pub(crate) forwardfor: Option<ForwardHeader>,
    pub(crate) originalto: Option<ForwardHeader>,
    /// `option abortonclose`.
    pub(crate) abortonclose: bool,
    /// `option http-buffer-request`.
    pub(crate) buffer_request: bool,
}

/// `http-reuse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum HttpReuse {
    Never,
    #[default]
    Safe,
    Aggressive,
    Always,
}

/// A frontend: listeners plus routing to backends.
#[derive(Clone, Debug)]
pub struct Frontend {
    pub name: String,
    pub(crate) origin: Origin,
    pub(crate) mode: Mode,
    pub(crate) binds: Vec<Bind>,
    /// `maxconn` of the frontend; HAProxy's default is the global maxconn (`None` here).
    pub(crate) maxconn: Option<u32>,
    /// `use_backend` rules in order (the first whose condition holds wins, see
    /// `Frontend::select_backend`), then `default_backend`. Validation guarantees at least
    /// one of them.
    pub(crate) use_backends: Vec<crate::rules::UseBackend>,
    pub(crate) default_backend: Option<BackendId>,
    pub(crate) timeouts: Timeouts,
    pub(crate) splice: SpliceOptions,
    /// Set on the frontend half of a `listen` section: the backend with the same name.
    pub(crate) listen_backend: Option<BackendId>,
    pub(crate) http: HttpSettings,
    /// `monitor-uri`: requests for this path are answered 200 by Ravelin itself.
    pub(crate) monitor_uri: Option<String>,
    /// `http-request`, `http-response`, `http-after-response` rules of the frontend.
    pub(crate) rules: crate::rules::HttpRules,
    /// `errorfile`/`errorfiles`/`http-error` overrides.
    pub(crate) errors: ErrorPages,
    /// `capture request|response header` lines, in order.
    pub(crate) captures: Vec<Capture>,
    /// `unique-id-header`.
    pub(crate) unique_id_header: Option<String>,
    pub(crate) restrict_req_hdr_names: RestrictHdrNames,
    /// `option idle-close-on-response`: on a soft stop, idle keep-alive client connections
    /// are not closed; their next response carries `connection: close` (or their timeout
    /// ends them), so a client never loses a request written on an idle connection.
    pub(crate) idle_close_on_response: bool,
    /// Traffic logs: targets, line format, options.
    pub(crate) log: crate::log::ProxyLog,
    /// `stats enable|uri|...`: the stats page this proxy serves (the frontend half of a
    /// listen carries the listen's).
    pub(crate) stats: Option<std::sync::Arc<StatsConf>>,
}

/// A proxy's stats page (`stats enable`, `stats uri`, `stats realm`, `stats auth`, `stats
/// refresh`, `stats admin`, `stats hide-version`, `stats show-legends`, `stats show-node`,
/// `stats show-desc`). Any of these keywords enables the page, as in HAProxy.
#[derive(Clone, Debug)]
pub struct StatsConf {
    /// URI prefix (`/haproxy?stats` by default).
    pub(crate) uri: String,
    /// `stats realm` (`HAProxy Statistics` when auth is set without a realm).
    pub(crate) realm: Option<String>,
    /// `stats auth USER:PASS` lines (empty: no authentication).
    pub(crate) auth: Vec<(String, String)>,
    /// `stats refresh` in seconds.
    pub(crate) refresh: Option<u64>,
    /// `stats admin if|unless COND` rules (any true enables the admin form).
    pub(crate) admin: Vec<crate::acl::Condition>,
    pub(crate) hide_version: bool,
    pub(crate) show_legends: bool,
    /// `stats show-node [NAME]`: `Some("")` for the host name.
    pub(crate) show_node: Option<String>,
    pub(crate) show_desc: Option<String>,
}

impl Default for StatsConf {
    fn default() -> StatsConf {
        StatsConf {
            uri: "/haproxy?stats".into(),
            realm: None,
            auth: Vec::new(),
            refresh: None,
            admin: Vec::new(),
            hide_version: false,
            show_legends: false,
            show_node: None,
            show_desc: None,
        }
    }
}

impl Frontend {
    /// The backend for a request: the first `use_backend` whose condition holds, else
    /// `default_backend`, else the backend half of a `listen` section.
    pub(crate) fn select_backend(
        &self,
        view: &crate::http::view::ReqView<'_>,
    ) -> Option<BackendId> {
        let ctx = crate::acl::Ctx {
            req: view,
            resp: None,
        };
        self.use_backends
            .iter()
            .find(|u| crate::acl::eval_opt(u.cond.as_ref(), &ctx))
            .map(|u| u.backend)
            .or(self.default_backend)
            .or(self.listen_backend)
    }

    /// The backend a new stream goes to when there is no request to look at (TCP mode): the
    /// first unconditional `use_backend`, else `default_backend`, else the listen's backend.
    /// Conditional rules are skipped here; with a request use `Frontend::select_backend`.
    pub fn backend(&self) -> Option<BackendId> {
        self.use_backends
            .iter()
            .find(|u| u.cond.is_none())
            .map(|u| u.backend)
            .or(self.default_backend)
            .or(self.listen_backend)
    }

    /// Whether some rule of this frontend may send streams to `be` (for `fullconn`'s default).
    pub(crate) fn may_route_to(&self, be: BackendId) -> bool {
        self.use_backends.iter().any(|u| u.backend == be)
            || self.default_backend == Some(be)
            || self.listen_backend == Some(be)
    }
}

/// One listening address from a `bind` line (a line with several addresses or a port range
/// produces several `Bind`s that share the same parameters).
#[derive(Clone, Debug)]
pub(crate) struct Bind {
    pub(crate) origin: Origin,
    pub(crate) addr: BindAddr,
    /// `name`.
    pub(crate) name: Option<String>,
    /// `backlog`; `None`: the frontend's maxconn, as HAProxy does, else the kernel's somaxconn.
    pub(crate) backlog: Option<u32>,
    /// `maxconn` on the bind line.
    pub(crate) maxconn: Option<u32>,
    /// `v4v6` → `Some(false)`, `v6only` → `Some(true)`, absent → `None` (system default).
    pub(crate) v6only: Option<bool>,
    /// `ssl` and the TLS keywords as written (certificates loaded); `None` without `ssl`.
    pub(crate) ssl: Option<Box<crate::tls::BindOpts>>,
    /// The TLS configuration built from `ssl` and the global defaults (`config::build`).
    pub(crate) tls: Option<crate::tls::BindTls>,
    /// `accept-proxy`: every connection starts with a PROXY protocol header (v1 or v2) whose
    /// addresses replace the connection's (`conn::handshake`).
    pub(crate) accept_proxy: bool,
}

/// What a `bind` listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BindAddr {
    /// An IPv4 or IPv6 address and port (`*`, empty and `0.0.0.0` are the IPv4 wildcard).
    Inet(SocketAddr),
    /// `unix@/path` or a bare `/path`.
    Unix(PathBuf),
    /// `fd@N`: a listening socket inherited from the parent process.
    Fd(i32),
}

/// `balance` algorithm. Not `Copy`: the hashing variants carry a name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    /// `balance uri [whole] [path-only] [len N] [depth N]`: hash the URI (up to `?` unless
    /// `whole`; without scheme and authority when `path_only`). `len`/`depth` 0 = no limit.
    Uri {
        whole: bool,
        path_only: bool,
        len: u32,
        depth: u32,
    },
    /// `balance url_param NAME [check_post]`: hash the query parameter's value (round robin
    /// when absent).
    UrlParam {
        name: Box<str>,
        check_post: bool,
    },
    /// `balance hdr(NAME) [use_domain_only]`: hash the header's value (round robin when
    /// absent).
    Hdr {
        name: Box<str>,
        use_domain_only: bool,
    },
    /// `balance random[(DRAWS)]`: DRAWS random points on the consistent-hash ring (so weights
    /// count), the least loaded of the drawn servers wins ("power of two choices" at 2, the
    /// default).
    Random {
        draws: u32,
    },
}

impl Balance {
    /// The `balance` keyword naming the algorithm (stats `algo`, the advisor's report).
    pub(crate) fn keyword(&self) -> &'static str {
        match self {
            Balance::RoundRobin => "roundrobin",
            Balance::StaticRr => "static-rr",
            Balance::LeastConn => "leastconn",
            Balance::First => "first",
            Balance::Source => "source",
            Balance::Uri { .. } => "uri",
            Balance::UrlParam { .. } => "url_param",
            Balance::Hdr { .. } => "hdr",
            Balance::Random { .. } => "random",
        }
    }
}

impl Balance {
    /// True for the algorithms that hash something of the request (HAProxy's "hash" family).
    pub(crate) fn is_hash(&self) -> bool {
        matches!(
            self,
            Balance::Source | Balance::Uri { .. } | Balance::UrlParam { .. } | Balance::Hdr { .. }
        )
    }

    /// Whether weights may change while running and slow starts ramp them (HAProxy's
    /// `BE_LB_PROP_DYN`): roundrobin, leastconn, random and consistent hashing; not static-rr,
    /// first, or map-based hashing.
    pub(crate) fn dynamic_weights(&self, method: crate::hash::HashMethod) -> bool {
        match self {
            Balance::RoundRobin | Balance::LeastConn | Balance::Random { .. } => true,
            Balance::StaticRr | Balance::First => false,
            _ => method == crate::hash::HashMethod::Consistent,
        }
    }
}

/// Custom error pages of a proxy (`errorfile`, `errorfiles`, `http-error`): status → the raw
/// HTTP response to send. Codes without an entry use the built-in pages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ErrorPages {
    pub(crate) pages: Vec<(u16, std::sync::Arc<[u8]>)>,
}

impl ErrorPages {
    /// The raw response configured for `status`, if any.
    pub(crate) fn get(&self, status: u16) -> Option<&std::sync::Arc<[u8]>> {
        self.pages
            .iter()
            .find(|(c, _)| *c == status)
            .map(|(_, p)| p)
    }

    /// Sets (or replaces) the page for `status`.
    pub(crate) fn set(&mut self, status: u16, page: std::sync::Arc<[u8]>) {
        match self.pages.iter_mut().find(|(c, _)| *c == status) {
            Some(slot) => slot.1 = page,
            None => self.pages.push((status, page)),
        }
    }
}

/// Which message a `capture ... header` line reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CaptureDir {
    Request,
    Response,
}

/// `capture request|response header NAME len N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Capture {
    pub(crate) dir: CaptureDir,
    pub(crate) name: String,
    pub(crate) len: u32,
}

/// `option http-restrict-req-hdr-names`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum RestrictHdrNames {
    #[default]
    Preserve,
    Delete,
    Reject,
}

/// `retry-on`: the failures after which a request is tried again (HAProxy's `PR_RE_*`
/// flags), one bit per keyword and per retryable status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryOn(pub u16);

impl RetryOn {
    pub(crate) const NONE: RetryOn = RetryOn(0);
    /// The connection failed before the request could be sent (the default).
    pub(crate) const CONN_FAILURE: u16 = 1;
    /// The server closed after (part of) the request was sent, with no response byte.
    pub(crate) const EMPTY_RESPONSE: u16 = 1 << 1;
    /// The server sent something that is not a complete HTTP response head.
    pub(crate) const JUNK_RESPONSE: u16 = 1 << 2;
    /// `timeout server` struck before any response byte.
    pub(crate) const RESPONSE_TIMEOUT: u16 = 1 << 3;
    /// Early data rejected (TLS 0-RTT; nothing sends early data yet).
    pub(crate) const ZERO_RTT_REJECTED: u16 = 1 << 4;
    /// The statuses `retry-on` accepts, in the order of their bits (from bit 5).
    pub(crate) const STATUSES: [u16; 10] = [401, 403, 404, 408, 425, 500, 501, 502, 503, 504];
    /// `all-retryable-errors`.
    pub(crate) const ALL_RETRYABLE: RetryOn = RetryOn(
        Self::CONN_FAILURE
            | Self::EMPTY_RESPONSE
            | Self::JUNK_RESPONSE
            | Self::RESPONSE_TIMEOUT
            | Self::ZERO_RTT_REJECTED
            | Self::status_bit(500)
            | Self::status_bit(502)
            | Self::status_bit(503)
            | Self::status_bit(504),
    );

    /// The bit of a retryable status (0 for any other).
    // A const fn (used in constants): `i` stays below the table's length.
    #[allow(clippy::indexing_slicing)]
    pub(crate) const fn status_bit(code: u16) -> u16 {
        let mut i = 0;
        while i < Self::STATUSES.len() {
            if Self::STATUSES[i] == code {
                return 1 << (5 + i);
            }
            i += 1;
        }
        0
    }

    pub(crate) fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }

    /// Whether a response with this status is retried.
    pub(crate) fn on_status(self, code: u16) -> bool {
        let bit = Self::status_bit(code);
        bit != 0 && self.0 & bit != 0
    }

    /// Whether any failure after the request reached a server is retried (the request must
    /// then be kept until its response starts).
    pub(crate) fn after_send(self) -> bool {
        self.0 & !Self::CONN_FAILURE != 0
    }
}

impl Default for RetryOn {
    fn default() -> RetryOn {
        RetryOn(Self::CONN_FAILURE)
    }
}

/// `on-error`: what `error-limit` consecutive errors do (HAProxy's `HANA_ONERR_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum OnError {
    /// Only force `fastinter` for the next checks.
    FastInter,
    /// Count a failed check (and force `fastinter`): the default.
    #[default]
    FailCheck,
    /// A pre-fatal failed check: one more failure marks the server down.
    SuddenDeath,
    /// Mark the server down at once.
    MarkDown,
}

/// Passive health of a server: what traffic to it says (`observe`, `error-limit`, `on-error`)
/// and what its state changes do to live streams (`on-marked-down`, `on-marked-up`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passive {
    pub(crate) observe: Observe,
    /// `error-limit`, default 10.
    pub(crate) error_limit: u32,
    pub(crate) on_error: OnError,
    /// `on-marked-down shutdown-sessions`.
    pub(crate) shutdown_on_down: bool,
    /// `on-marked-up shutdown-backup-sessions`.
    pub(crate) shutdown_backups_on_up: bool,
}

impl Default for Passive {
    fn default() -> Passive {
        Passive {
            observe: Observe::None,
            error_limit: 10,
            on_error: OnError::FailCheck,
            shutdown_on_down: false,
            shutdown_backups_on_up: false,
        }
    }
}

/// A backend: servers and how to pick among them.
#[derive(Clone, Debug)]
pub struct Backend {
    /// Targets of the backend's own event lines (server state changes).
    pub(crate) log: crate::log::ProxyLog,
    pub name: String,
    pub(crate) origin: Origin,
    pub(crate) mode: Mode,
    pub(crate) balance: Balance,
    pub servers: Vec<Server>,
    pub(crate) timeouts: Timeouts,
    /// `retries`, default 3.
    pub(crate) retries: u32,
    /// `retry-on` (HTTP only), default `conn-failure`.
    pub(crate) retry_on: RetryOn,
    /// `option redispatch [INTERVAL]`: `None` when off; `Some(interval)` when on, the interval
    /// defaulting to -1 (redispatch on the last retry), as in HAProxy.
    pub(crate) redispatch: Option<i32>,
    /// `option allbackups`.
    pub(crate) allbackups: bool,
    /// `cookie NAME ...`: cookie persistence.
    pub(crate) cookie: Option<crate::http::cookie::CookieConf>,
    /// `option persist`.
    pub(crate) persist: bool,
    pub(crate) splice: SpliceOptions,
    pub(crate) http: HttpSettings,
    pub(crate) http_reuse: HttpReuse,
    /// `http-request`, `http-response`, `http-after-response` rules of the backend.
    pub(crate) rules: crate::rules::HttpRules,
    /// `errorfile`/`errorfiles`/`http-error` overrides.
    pub(crate) errors: ErrorPages,
    /// `dispatch ADDR:PORT`: where to send streams when the backend has no server. Parsed but
    /// not applied yet: nothing routes a stream there.
    #[allow(dead_code)]
    pub(crate) dispatch: Option<SocketAddr>,
    pub(crate) restrict_req_hdr_names: RestrictHdrNames,
    /// `hash-type`: how the hashing algorithms map keys to servers (default `map-based sdbm`).
    pub hash_type: crate::hash::HashType,
    /// `hash-balance-factor`: bounded loads on the consistent-hash ring, in percent of the
    /// average load (0: off, else > 100).
    pub(crate) hash_balance_factor: u32,
    /// `fullconn`; `None`: HAProxy's default (10 % of the referencing frontends' maxconn,
    /// computed when the shared state is built, once the global maxconn is known).
    pub(crate) fullconn: Option<u32>,
    /// How the servers with `check` are checked (`option httpchk`, `http-check ...`).
    pub(crate) health_check: HealthCheck,
    /// `load-server-state-from-file` (default `none`).
    pub(crate) load_server_state: LoadServerState,
    /// `server-state-file-name`: the file for `load-server-state-from-file local`
    /// (`None`: the backend's name).
    pub(crate) server_state_file_name: Option<String>,
    /// `stats ...` of a backend (a request routed here to the stats URI gets the page).
    pub(crate) stats: Option<std::sync::Arc<StatsConf>>,
}

/// `load-server-state-from-file`: where a backend's servers' states come from at start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LoadServerState {
    #[default]
    None,
    /// The global `server-state-file`.
    Global,
    /// The backend's own file (`server-state-file-name`, else the backend's name).
    Local,
}

impl Backend {
    /// A server of the configuration (servers added at run time are `SharedState::server_conf`'s).
    pub(crate) fn server(&self, id: ServerId) -> Option<&Server> {
        self.servers.get(id.0 as usize)
    }

    /// A backend with HAProxy's defaults for everything but its algorithm and servers (the
    /// servers are numbered from 1 in order, as HAProxy's automatic ids): what tests and
    /// benchmarks start from.
    pub fn new(name: &str, balance: Balance, mut servers: Vec<Server>) -> Backend {
        for (i, s) in servers.iter_mut().enumerate() {
            s.id = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        Backend {
            log: Default::default(),
            name: name.to_string(),
            origin: Origin::default(),
            mode: Mode::Tcp,
            balance,
            servers,
            timeouts: Timeouts::default(),
            retries: 3,
            retry_on: RetryOn::default(),
            redispatch: None,
            allbackups: false,
            cookie: None,
            persist: false,
            splice: SpliceOptions::default(),
            http: HttpSettings::default(),
            http_reuse: HttpReuse::default(),
            rules: Default::default(),
            errors: ErrorPages::default(),
            dispatch: None,
            restrict_req_hdr_names: RestrictHdrNames::default(),
            hash_type: Default::default(),
            hash_balance_factor: 0,
            fullconn: None,
            health_check: HealthCheck::default(),
            load_server_state: LoadServerState::None,
            server_state_file_name: None,
            stats: None,
        }
    }
}

/// A backend's health-check settings. Without `option httpchk` a check is a TCP connect.
#[derive(Clone, Debug, Default)]
pub(crate) struct HealthCheck {
    /// `option httpchk` (with the `http-check send`/`expect` rules merged in).
    pub(crate) http: Option<HttpCheck>,
    /// `http-check disable-on-404`: a running server answering 404 goes to NOLB.
    pub(crate) disable_on_404: bool,
    /// `http-check send-state`: add the `x-haproxy-server-state` header.
    pub(crate) send_state: bool,
    /// `option tcp-check` with its `tcp-check` rules (the last `option` of the three check
    /// kinds wins, as in HAProxy).
    pub(crate) tcp: Option<TcpCheck>,
    /// `option external-check` with its `external-check command|path`.
    pub(crate) external: Option<ExternalCheck>,
    /// `option log-health-checks`: log every check status or health change.
    pub(crate) log_health_checks: bool,
}

/// `option tcp-check`: the rules in order, an implicit first `connect` already inserted when
/// the sequence does not start with one (HAProxy's `check_proxy_tcpcheck()`).
#[derive(Clone, Debug, Default)]
pub(crate) struct TcpCheck {
    pub(crate) rules: Vec<TcpRule>,
}

/// One `tcp-check` rule. `step` is HAProxy's number for it in failure reports: its position
/// among the configured rules (comments included) from 1; 0 for the implicit connect.
#[derive(Clone, Debug)]
pub(crate) struct TcpRule {
    pub(crate) step: u32,
    pub(crate) action: TcpAction,
    /// `comment TEXT`, or the text of a `tcp-check comment` rule just before.
    pub(crate) comment: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum TcpAction {
    /// `tcp-check connect [port N] [addr A]`.
    Connect {
        port: Option<u16>,
        addr: Option<std::net::IpAddr>,
    },
    /// `tcp-check send` / `send-binary`: the bytes to write.
    Send(Vec<u8>),
    Expect(TcpExpect),
    /// `tcp-check comment`: counts as a step, does nothing.
    Comment,
}

/// `tcp-check expect [min-recv N] [ok-status S] [error-status S] [tout-status S] [!] MATCH P`.
#[derive(Clone, Debug)]
pub(crate) struct TcpExpect {
    pub(crate) invert: bool,
    pub(crate) pattern: TcpPattern,
    /// `min-recv`; -1: not set.
    pub(crate) min_recv: i64,
    /// The status on success when this is the last rule (default `L7OK`).
    pub(crate) ok_status: u8,
    /// The status of a failed match (default `L7RSP`).
    pub(crate) error_status: u8,
    /// The status of a timeout while waiting for this match (default `L7TOUT`).
    pub(crate) tout_status: u8,
}

/// What `tcp-check expect` looks for in the received bytes.
#[derive(Clone, Debug)]
pub(crate) enum TcpPattern {
    /// `string TEXT` / `binary HEX`: the bytes anywhere in the input (`binary`: true).
    Bytes(Vec<u8>, bool),
    /// `rstring REGEX` on the input.
    Regex(regex::bytes::Regex),
    /// `rbinary REGEX` on the input written as upper-case hex digits.
    RBinary(regex::bytes::Regex),
}

/// `option external-check`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ExternalCheck {
    /// `external-check command`.
    pub(crate) command: PathBuf,
    /// `external-check path`: the command's `PATH` (default empty, as HAProxy).
    pub(crate) path: String,
    /// The first address the proxy listens on (a `listen` section), for the arguments and
    /// `HAPROXY_PROXY_ADDR`/`_PORT`; `None` in a backend.
    pub(crate) bind: Option<BindAddr>,
    /// HAProxy's proxy id (`HAPROXY_PROXY_ID`): the proxy's position among all proxies.
    pub(crate) proxy_id: u32,
}

/// The HTTP request a check sends and what it expects back.
#[derive(Clone, Debug)]
pub(crate) struct HttpCheck {
    /// Default `OPTIONS`.
    pub(crate) method: String,
    /// Default `/`.
    pub(crate) uri: String,
    /// Default `HTTP/1.0`.
    pub(crate) version: String,
    /// `http-check send hdr NAME VALUE`, in order (names are sent lowercased, as HAProxy does).
    pub(crate) headers: Vec<(String, String)>,
    /// `http-check send body`.
    pub(crate) body: String,
    /// `http-check expect`; `None`: the implicit rule (2xx and 3xx pass).
    pub(crate) expect: Option<HttpExpect>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: Vec::new(),
            body: String::new(),
            expect: None,
        }
    }
}

/// `http-check expect [!] MATCH PATTERN`.
#[derive(Clone, Debug)]
pub(crate) struct HttpExpect {
    /// `!`: the check fails when the pattern matches.
    pub(crate) invert: bool,
    pub(crate) kind: ExpectKind,
}

/// What `http-check expect` looks at.
#[derive(Clone, Debug)]
pub(crate) enum ExpectKind {
    /// `status 200,201,300-310`: inclusive ranges.
    Status(Vec<(u16, u16)>),
    /// `rstatus REGEX` on the three status digits.
    RStatus(regex::Regex),
    /// `string TEXT` found in the body.
    String(String),
    /// `rstring REGEX` on the body.
    RString(regex::bytes::Regex),
}

/// A server's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAddr {
    /// IPv4/IPv6 (hostnames are resolved once while the model is built) and a port rule.
    Inet {
        ip: std::net::IpAddr,
        port: PortRule,
    },
    /// `unix@/path` or a bare `/path`.
    Unix(PathBuf),
}

/// How the port a server is connected to is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRule {
    /// `ADDR:PORT`.
    Fixed(u16),
    /// `ADDR:+N` / `ADDR:-N`: the port the client connected to, plus N.
    Offset(i32),
    /// No port: the port the client connected to.
    Same,
}

/// A `server` line.
#[derive(Clone, Debug)]
pub struct Server {
    pub name: String,
    pub origin: Origin,
    pub addr: ServerAddr,
    /// `weight`, 0..=256, default 1.
    pub weight: u32,
    /// `maxconn`, 0 = no limit.
    pub maxconn: u32,
    /// `minconn`, 0 = not set (the limit is static).
    pub minconn: u32,
    /// `maxqueue`, 0 = unlimited.
    pub maxqueue: u32,
    /// `slowstart` (zero: off).
    pub slowstart: Duration,
    /// `cookie VALUE`: the persistence cookie value naming this server.
    pub cookie: Option<String>,
    /// `id`: the server's numeric id (HAProxy assigns unused ones from 1 when not set).
    pub id: u32,
    pub backup: bool,
    pub disabled: bool,
    pub check: CheckParams,
    pub passive: Passive,
    /// `pool-max-conn`: idle connections kept for reuse; `None` = unlimited (HAProxy's -1).
    pub pool_max_conn: Option<u32>,
    /// `pool-purge-delay`, default 5 s: how long an idle server connection is kept.
    pub pool_purge_delay: Duration,
    /// `send-proxy` (v1) / `send-proxy-v2` (v2 wins when both are set, as HAProxy): the
    /// PROXY header sent first on every connection to this server.
    pub send_proxy: Option<crate::proxyproto::Version>,
    /// `ssl` (with `verify`, `ca-file`, `sni`, `crt`, `alpn`): connections to this server are
    /// TLS (HTTP mode).
    pub tls: Option<crate::tls::ServerTls>,
}

impl Server {
    /// A server with HAProxy's defaults and no address: the configuration of a spare slot
    /// before `add server` fills it, and the base of an added server.
    pub(crate) fn placeholder() -> Server {
        Server {
            name: String::new(),
            origin: Origin::default(),
            addr: ServerAddr::Inet {
                ip: std::net::Ipv4Addr::UNSPECIFIED.into(),
                port: PortRule::Fixed(0),
            },
            weight: 1,
            maxconn: 0,
            minconn: 0,
            maxqueue: 0,
            slowstart: Duration::ZERO,
            cookie: None,
            id: 0,
            backup: false,
            disabled: true,
            check: CheckParams::default(),
            passive: Passive::default(),
            pool_max_conn: Some(0),
            pool_purge_delay: Duration::from_secs(5),
            send_proxy: None,
            tls: None,
        }
    }
}

/// Health-check parameters, parsed and validated now, used by the health-check issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckParams {
    /// `check`.
    pub(crate) enabled: bool,
    /// `inter`, default 2s.
    pub(crate) inter: Duration,
    /// `fastinter`, default `inter`.
    pub(crate) fastinter: Duration,
    /// `downinter`, default `inter`.
    pub(crate) downinter: Duration,
    /// `rise`, default 2.
    pub(crate) rise: u32,
    /// `fall`, default 3.
    pub(crate) fall: u32,
    /// `init-state`: how the server starts when it is checked.
    pub(crate) init_state: InitState,
    /// `port`: check this port instead of the server's.
    pub(crate) port: Option<u16>,
    /// `addr`: check this address instead of the server's.
    pub(crate) addr: Option<std::net::IpAddr>,
    /// `agent-check` (with `agent-port` set; HAProxy refuses it without).
    pub(crate) agent: bool,
    /// `agent-port`.
    pub(crate) agent_port: Option<u16>,
    /// `agent-inter`, default 2 s: the agent's interval, and its timeout without `timeout check`.
    pub(crate) agent_inter: Duration,
    /// `agent-addr`: the agent's address instead of the server's.
    pub(crate) agent_addr: Option<std::net::IpAddr>,
    /// `agent-send`: sent verbatim once connected.
    pub(crate) agent_send: String,
    /// `check-send-proxy`: checks send a PROXY header even with `port`/`addr` set
    /// (see `Server::check_send_proxy`).
    pub(crate) send_proxy: bool,
}

impl Default for CheckParams {
    fn default() -> Self {
        CheckParams {
            enabled: false,
            inter: Duration::from_millis(2000),
            fastinter: Duration::from_millis(2000),
            downinter: Duration::from_millis(2000),
            rise: 2,
            fall: 3,
            init_state: InitState::Up,
            port: None,
            addr: None,
            agent: false,
            agent_port: None,
            agent_inter: Duration::from_millis(2000),
            agent_addr: None,
            agent_send: String::new(),
            send_proxy: false,
        }
    }
}

/// `init-state` (HAProxy 3.1): the state a checked server starts in and how many checks it
/// takes to leave it. The default, `up`, is what HAProxy 2.6 always does: a checked server
/// starts up with its health at `rise`, so its first failed check takes it down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum InitState {
    /// Up; `fall` failed checks take it down.
    FullyUp,
    /// Up; one failed check takes it down (the default).
    #[default]
    Up,
    /// Down; one good check brings it up.
    Down,
    /// Down; `rise` good checks bring it up.
    FullyDown,
}

impl Server {
    /// A server with HAProxy's defaults for every parameter (weight 1, no limits, id 0 until
    /// the caller numbers it): what tests and benchmarks start from.
    pub fn new(name: &str, addr: ServerAddr) -> Server {
        Server {
            name: name.to_string(),
            origin: Origin::default(),
            addr,
            weight: 1,
            maxconn: 0,
            minconn: 0,
            maxqueue: 0,
            slowstart: Duration::ZERO,
            cookie: None,
            id: 0,
            backup: false,
            disabled: false,
            check: CheckParams::default(),
            passive: Passive::default(),
            pool_max_conn: None,
            pool_purge_delay: Duration::from_secs(5),
            send_proxy: None,
            tls: None,
        }
    }

    /// The PROXY header version the server's health checks send, if any: with `send-proxy`
    /// (or `-v2`) when the check has no `port`/`addr` of its own, or with `check-send-proxy`;
    /// version 2 when the server sends v2, else version 1 (HAProxy's `init_srv_check()`).
    pub(crate) fn check_send_proxy(&self) -> Option<crate::proxyproto::Version> {
        use crate::proxyproto::Version;
        let same_target = self.check.port.is_none() && self.check.addr.is_none();
        if self.check.send_proxy || (same_target && self.send_proxy.is_some()) {
            Some(self.send_proxy.unwrap_or(Version::V1))
        } else {
            None
        }
    }

    /// Whether the server starts up: always without checks, else as `init-state` says.
    pub(crate) fn starts_up(&self) -> bool {
        !self.check.enabled || matches!(self.check.init_state, InitState::FullyUp | InitState::Up)
    }
}
