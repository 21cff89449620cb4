//! HAProxy 2.6's keyword tables and its "did you mean" suggestion.
//!
//! Ravelin must tell apart three kinds of words: keywords it supports (parsed elsewhere),
//! keywords HAProxy has but Ravelin does not support yet (an explicit alert, never silently
//! ignored), and words HAProxy does not know either (HAProxy's `unknown keyword` alert with
//! its close-match suggestion). The tables come from the 2.6 manual: section 3 (global),
//! 4.1 (proxy keyword matrix), 4.2 (`option` names), 5.1 (bind) and 5.2 (server).

/// Which kinds of proxy section a keyword is valid in (a column of the 4.1 matrix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Caps {
    pub(crate) defaults: bool,
    pub(crate) frontend: bool,
    pub(crate) listen: bool,
    pub(crate) backend: bool,
}

/// Sections HAProxy has and Ravelin does not support yet.
pub(crate) const UNSUPPORTED_SECTIONS: &[&str] = &[
    "peers",
    "resolvers",
    "userlist",
    "mailers",
    "program",
    "ring",
    "cache",
    "fcgi-app",
    "log-forward",
    "dynamic-update",
];

/// Every keyword of the `global` section in HAProxy 2.6 (section 3).
pub(crate) const GLOBAL: &[&str] = &[
    "51degrees-cache-size",
    "51degrees-data-file",
    "51degrees-property-name-list",
    "51degrees-property-separator",
    "ca-base",
    "chroot",
    "cluster-secret",
    "cpu-map",
    "crt-base",
    "daemon",
    "default-path",
    "description",
    "deviceatlas-json-file",
    "deviceatlas-log-level",
    "deviceatlas-properties-cookie",
    "deviceatlas-separator",
    "expose-experimental-directives",
    "external-check",
    "fd-hard-limit",
    "gid",
    "grace",
    "group",
    "h1-accept-payload-with-any-method",
    "h1-case-adjust",
    "h1-case-adjust-file",
    "h2-workaround-bogus-websocket-clients",
    "hard-stop-after",
    "httpclient.resolvers.id",
    "httpclient.resolvers.prefer",
    "httpclient.ssl.ca-file",
    "httpclient.ssl.verify",
    "insecure-fork-wanted",
    "insecure-setuid-wanted",
    "issuers-chain-path",
    "localpeer",
    "log",
    "log-send-hostname",
    "log-tag",
    "lua-load",
    "lua-load-per-thread",
    "lua-prepend-path",
    "master-worker",
    "mworker-max-reloads",
    "nbthread",
    "node",
    "numa-cpu-mapping",
    "pidfile",
    "pp2-never-send-local",
    "presetenv",
    "resetenv",
    "set-dumpable",
    "set-var",
    "setenv",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-curves",
    "ssl-default-bind-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites",
    "ssl-default-server-options",
    "ssl-dh-param-file",
    "ssl-propquery",
    "ssl-provider",
    "ssl-provider-path",
    "ssl-server-verify",
    "ssl-skip-self-issued-ca",
    "stats",
    "strict-limits",
    "uid",
    "ulimit-n",
    "unix-bind",
    "unsetenv",
    "user",
    "wurfl-cache-size",
    "wurfl-data-file",
    "wurfl-information-list",
    "wurfl-information-list-separator",
    "busy-polling",
    "max-spread-checks",
    "maxcompcpuusage",
    "maxcomprate",
    "maxconn",
    "maxconnrate",
    "maxpipes",
    "maxsessrate",
    "maxsslconn",
    "maxsslrate",
    "maxzlibmem",
    "no-memory-trimming",
    "noepoll",
    "noevports",
    "nogetaddrinfo",
    "nokqueue",
    "nopoll",
    "noreuseport",
    "nosplice",
    "profiling.tasks",
    "server-state-base",
    "server-state-file",
    "spread-checks",
    "ssl-engine",
    "ssl-mode-async",
    "tune.buffers.limit",
    "tune.buffers.reserve",
    "tune.bufsize",
    "tune.comp.maxlevel",
    "tune.fail-alloc",
    "tune.fd.edge-triggered",
    "tune.h2.header-table-size",
    "tune.h2.initial-window-size",
    "tune.h2.max-concurrent-streams",
    "tune.http.cookielen",
    "tune.http.logurilen",
    "tune.http.maxhdr",
    "tune.idle-pool.shared",
    "tune.idletimer",
    "tune.lua.forced-yield",
    "tune.lua.maxmem",
    "tune.lua.service-timeout",
    "tune.lua.session-timeout",
    "tune.lua.task-timeout",
    "tune.maxaccept",
    "tune.maxpollevents",
    "tune.maxrewrite",
    "tune.pattern.cache-size",
    "tune.peers.max-updates-at-once",
    "tune.pipesize",
    "tune.pool-high-fd-ratio",
    "tune.pool-low-fd-ratio",
    "tune.quic.frontend.conn-tx-buffers.limit",
    "tune.quic.frontend.max-idle-timeout",
    "tune.quic.frontend.max-streams-bidi",
    "tune.quic.retry-threshold",
    "tune.rcvbuf.client",
    "tune.rcvbuf.server",
    "tune.recv_enough",
    "tune.runqueue-depth",
    "tune.sched.low-latency",
    "tune.sndbuf.client",
    "tune.sndbuf.server",
    "tune.ssl.cachesize",
    "tune.ssl.capture-buffer-size",
    "tune.ssl.capture-cipherlist-size",
    "tune.ssl.default-dh-param",
    "tune.ssl.force-private-cache",
    "tune.ssl.hard-maxrecord",
    "tune.ssl.keylog",
    "tune.ssl.lifetime",
    "tune.ssl.maxrecord",
    "tune.ssl.ssl-ctx-cache-size",
    "tune.vars.global-max-size",
    "tune.vars.proc-max-size",
    "tune.vars.reqres-max-size",
    "tune.vars.sess-max-size",
    "tune.vars.txn-max-size",
    "tune.zlib.memlevel",
    "tune.zlib.windowsize",
    "quiet",
    "zero-warning",
    "debug",
];

/// The proxy keyword matrix of section 4.1, by first word: `(keyword, "DFLB")` where each
/// letter is present when the keyword is allowed in defaults, frontend, listen, backend.
/// Multi-word keywords (`timeout client`, `option x`, `stats uri`) are listed by their first
/// word with the union of their columns; the second word is checked by the caller.
const PROXY: &[(&str, &str)] = &[
    ("acl", "DFLB"),
    ("backlog", "DFL-"),
    ("balance", "D-LB"),
    ("bind", "-FL-"),
    ("bind-process", "DFLB"),
    ("capture", "-FL-"),
    ("clitcpka-cnt", "DFL-"),
    ("clitcpka-idle", "DFL-"),
    ("clitcpka-intvl", "DFL-"),
    ("compression", "DFLB"),
    ("cookie", "D-LB"),
    ("declare", "-FL-"),
    ("default-server", "D-LB"),
    ("default_backend", "DFL-"),
    ("description", "-FLB"),
    ("disabled", "DFLB"),
    ("dispatch", "--LB"),
    ("email-alert", "DFLB"),
    ("enabled", "DFLB"),
    ("errorfile", "DFLB"),
    ("errorfiles", "DFLB"),
    ("errorloc", "DFLB"),
    ("errorloc302", "DFLB"),
    ("errorloc303", "DFLB"),
    ("error-log-format", "DFL-"),
    ("force-persist", "--LB"),
    ("filter", "-FLB"),
    ("fullconn", "D-LB"),
    ("hash-type", "D-LB"),
    ("hash-balance-factor", "D-LB"),
    ("http-after-response", "DFLB"),
    ("http-check", "D-LB"),
    ("http-error", "DFLB"),
    ("http-request", "DFLB"),
    ("http-response", "DFLB"),
    ("http-reuse", "D-LB"),
    ("http-send-name-header", "D-LB"),
    ("id", "-FLB"),
    ("ignore-persist", "--LB"),
    ("load-server-state-from-file", "D-LB"),
    ("log", "DFLB"),
    ("log-format", "DFL-"),
    ("log-format-sd", "DFL-"),
    ("log-tag", "DFLB"),
    ("max-keep-alive-queue", "D-LB"),
    ("max-session-srv-conns", "DFL-"),
    ("maxconn", "DFL-"),
    ("mode", "DFLB"),
    ("monitor", "-FL-"),
    ("monitor-uri", "DFL-"),
    ("no", "DFLB"),
    ("option", "DFLB"),
    ("external-check", "D-LB"),
    ("persist", "D-LB"),
    ("rate-limit", "DFL-"),
    ("redirect", "-FLB"),
    ("retries", "D-LB"),
    ("retry-on", "D-LB"),
    ("server", "--LB"),
    ("server-state-file-name", "D-LB"),
    ("server-template", "--LB"),
    ("source", "D-LB"),
    ("srvtcpka-cnt", "D-LB"),
    ("srvtcpka-idle", "D-LB"),
    ("srvtcpka-intvl", "D-LB"),
    ("stats", "DFLB"),
    ("stick", "--LB"),
    ("stick-table", "-FLB"),
    ("tcp-check", "D-LB"),
    ("tcp-request", "DFLB"),
    ("tcp-response", "D-LB"),
    ("timeout", "DFLB"),
    ("transparent", "D-LB"),
    ("unique-id-format", "DFL-"),
    ("unique-id-header", "DFL-"),
    ("use_backend", "-FL-"),
    ("use-fcgi-app", "--LB"),
    ("use-server", "--LB"),
    ("http-send-name-header", "D-LB"),
    ("grace", "DFLB"),
    ("usesrc", "D-LB"),
    ("dynamic-cookie-key", "D-LB"),
    ("monitor-net", "-FL-"),
];

/// Extra words HAProxy offers as suggestions in proxy sections (`common_kw_list`).
const PROXY_EXTRA: &[&str] = &[
    "listen",
    "frontend",
    "backend",
    "defaults",
    "server",
    "default-server",
    "server-template",
    "bind",
    "monitor-net",
    "monitor-uri",
    "mode",
    "id",
    "description",
    "disabled",
    "enabled",
    "acl",
    "dynamic-cookie-key",
    "cookie",
    "email-alert",
    "persist",
    "appsession",
    "load-server-state-from-file",
    "server-state-file-name",
    "max-session-srv-conns",
    "capture",
    "retries",
    "http-request",
    "http-response",
    "http-after-response",
    "http-send-name-header",
    "block",
    "redirect",
    "use_backend",
    "use-server",
    "force-persist",
    "ignore-persist",
    "stick-table",
    "stick",
    "stats",
    "option",
    "default_backend",
    "http-reuse",
    "monitor",
    "transparent",
    "maxconn",
    "backlog",
    "fullconn",
    "grace",
    "dispatch",
    "balance",
    "hash-type",
    "hash-balance-factor",
    "unique-id-format",
    "unique-id-header",
    "log-format",
    "log-format-sd",
    "log-tag",
    "log",
    "source",
    "usesrc",
    "error-log-format",
];

/// `option` names of HAProxy 2.6 (sections 4.1/4.2) with their matrix columns.
const OPTIONS: &[(&str, &str)] = &[
    ("abortonclose", "D-LB"),
    ("accept-invalid-http-request", "DFL-"),
    ("accept-invalid-http-response", "D-LB"),
    ("allbackups", "D-LB"),
    ("checkcache", "D-LB"),
    ("clitcpka", "DFL-"),
    ("contstats", "DFL-"),
    ("disable-h2-upgrade", "DFL-"),
    ("dontlog-normal", "DFL-"),
    ("dontlognull", "DFL-"),
    ("forwardfor", "DFLB"),
    ("h1-case-adjust-bogus-client", "DFL-"),
    ("h1-case-adjust-bogus-server", "D-LB"),
    ("http-buffer-request", "DFLB"),
    ("http-ignore-probes", "DFL-"),
    ("http-keep-alive", "DFLB"),
    ("http-no-delay", "DFLB"),
    ("http-pretend-keepalive", "D-LB"),
    ("http-restrict-req-hdr-names", "DFLB"),
    ("http-server-close", "DFLB"),
    ("http-use-proxy-header", "DFL-"),
    ("httpchk", "D-LB"),
    ("httpclose", "DFLB"),
    ("httplog", "DFL-"),
    ("httpslog", "DFL-"),
    ("independent-streams", "DFLB"),
    ("ldap-check", "D-LB"),
    ("external-check", "D-LB"),
    ("log-health-checks", "D-LB"),
    ("log-separate-errors", "DFL-"),
    ("logasap", "DFL-"),
    ("mysql-check", "D-LB"),
    ("nolinger", "DFLB"),
    ("originalto", "DFLB"),
    ("persist", "D-LB"),
    ("pgsql-check", "D-LB"),
    ("prefer-last-server", "D-LB"),
    ("redispatch", "D-LB"),
    ("redis-check", "D-LB"),
    ("smtpchk", "D-LB"),
    ("socket-stats", "DFL-"),
    ("splice-auto", "DFLB"),
    ("splice-request", "DFLB"),
    ("splice-response", "DFLB"),
    ("spop-check", "D-LB"),
    ("srvtcpka", "D-LB"),
    ("ssl-hello-chk", "D-LB"),
    ("tcp-check", "D-LB"),
    ("tcp-smart-accept", "DFL-"),
    ("tcp-smart-connect", "D-LB"),
    ("tcpka", "DFLB"),
    ("tcplog", "DFLB"),
    ("transparent", "D-LB"),
    ("idle-close-on-response", "DFL-"),
];

/// Options that accept `no option` (marked `(*)` in section 4.1).
const NEGATABLE_OPTIONS: &[&str] = &[
    "abortonclose",
    "accept-invalid-http-request",
    "accept-invalid-http-response",
    "allbackups",
    "checkcache",
    "clitcpka",
    "contstats",
    "disable-h2-upgrade",
    "dontlog-normal",
    "dontlognull",
    "h1-case-adjust-bogus-client",
    "h1-case-adjust-bogus-server",
    "http-buffer-request",
    "http-ignore-probes",
    "http-keep-alive",
    "http-no-delay",
    "http-pretend-keepalive",
    "http-server-close",
    "http-use-proxy-header",
    "httpclose",
    "independent-streams",
    "log-health-checks",
    "log-separate-errors",
    "logasap",
    "nolinger",
    "persist",
    "prefer-last-server",
    "redispatch",
    "socket-stats",
    "splice-auto",
    "splice-request",
    "splice-response",
    "srvtcpka",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "transparent",
    "idle-close-on-response",
];

/// `server` and `default-server` keywords of section 5.2.
pub(crate) const SERVER: &[&str] = &[
    "addr",
    "agent-addr",
    "agent-check",
    "agent-inter",
    "agent-port",
    "agent-send",
    "allow-0rtt",
    "alpn",
    "backup",
    "ca-file",
    "check",
    "check-alpn",
    "check-proto",
    "check-send-proxy",
    "check-sni",
    "check-ssl",
    "check-via-socks4",
    "ciphers",
    "ciphersuites",
    "cookie",
    "crl-file",
    "crt",
    "curves",
    "disabled",
    "downinter",
    "enabled",
    "error-limit",
    "fall",
    "fastinter",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "hash-key",
    "id",
    "init-addr",
    "inter",
    "interface",
    "log-proto",
    "maxconn",
    "maxqueue",
    "max-reuse",
    "minconn",
    "namespace",
    "no-agent-check",
    "no-backup",
    "no-check",
    "no-check-ssl",
    "no-send-proxy",
    "no-send-proxy-v2",
    "no-send-proxy-v2-ssl",
    "no-send-proxy-v2-ssl-cn",
    "no-ssl",
    "no-ssl-reuse",
    "no-sslv3",
    "no-tfo",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-verifyhost",
    "non-stick",
    "npn",
    "observe",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "port",
    "proto",
    "proxy-v2-options",
    "redir",
    "rise",
    "resolve-opts",
    "resolve-prefer",
    "resolve-net",
    "resolvers",
    "send-proxy",
    "send-proxy-v2",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "slowstart",
    "sni",
    "source",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "ssl-reuse",
    "stick",
    "socks4",
    "tcp-ut",
    "tfo",
    "track",
    "tls-tickets",
    "usesrc",
    "verify",
    "verifyhost",
    "weight",
    "ws",
];

/// `bind` keywords of section 5.1.
pub(crate) const BIND: &[&str] = &[
    "accept-netscaler-cip",
    "accept-proxy",
    "allow-0rtt",
    "alpn",
    "backlog",
    "ca-file",
    "ca-ignore-err",
    "ca-sign-file",
    "ca-sign-pass",
    "ca-verify-file",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "crt-ignore-err",
    "crt-list",
    "curves",
    "defer-accept",
    "ecdhe",
    "expose-fd",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "generate-certificates",
    "gid",
    "group",
    "id",
    "interface",
    "level",
    "maxconn",
    "mode",
    "mss",
    "name",
    "namespace",
    "nice",
    "no-ca-names",
    "no-sslv3",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "npn",
    "prefer-client-ciphers",
    "process",
    "proto",
    "quic-cc-algo",
    "quic-force-retry",
    "severity-output",
    "shards",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "strict-sni",
    "tcp-ut",
    "tfo",
    "thread",
    "tls-ticket-keys",
    "transparent",
    "uid",
    "user",
    "v4v6",
    "v6only",
    "verify",
];

fn caps_of(cols: &str) -> Caps {
    let b = cols.as_bytes();
    Caps {
        defaults: b.first() == Some(&b'D'),
        frontend: b.get(1) == Some(&b'F'),
        listen: b.get(2) == Some(&b'L'),
        backend: b.get(3) == Some(&b'B'),
    }
}

/// Matrix columns of a proxy keyword (first word), if HAProxy knows it.
pub(crate) fn proxy_caps(kw: &str) -> Option<Caps> {
    PROXY
        .iter()
        .find(|(k, _)| *k == kw)
        .map(|(_, c)| caps_of(c))
}

/// Matrix columns of an `option` name, if HAProxy knows it.
pub(crate) fn option_caps(name: &str) -> Option<Caps> {
    OPTIONS
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, c)| caps_of(c))
}

/// Whether `no option NAME` is allowed.
pub(crate) fn option_negatable(name: &str) -> bool {
    NEGATABLE_OPTIONS.contains(&name)
}

pub(crate) fn is_global(kw: &str) -> bool {
    GLOBAL.contains(&kw)
}

pub(crate) fn is_server(kw: &str) -> bool {
    SERVER.contains(&kw)
}

pub(crate) fn is_bind(kw: &str) -> bool {
    BIND.contains(&kw)
}

/// Suggestion for an unknown global keyword.
pub(crate) fn suggest_global(word: &str) -> Option<&'static str> {
    best_match(word, GLOBAL.iter().copied())
}

/// Suggestion for an unknown proxy keyword.
pub(crate) fn suggest_proxy(word: &str) -> Option<&'static str> {
    best_match(
        word,
        PROXY
            .iter()
            .map(|(k, _)| *k)
            .chain(PROXY_EXTRA.iter().copied()),
    )
}

/// Suggestion for an unknown `option` name.
pub(crate) fn suggest_option(word: &str) -> Option<&'static str> {
    best_match(word, OPTIONS.iter().map(|(k, _)| *k))
}

pub(crate) fn suggest_server(word: &str) -> Option<&'static str> {
    best_match(word, SERVER.iter().copied())
}

pub(crate) fn suggest_bind(word: &str) -> Option<&'static str> {
    best_match(word, BIND.iter().copied())
}

/// `; did you mean 'X' maybe ?` or nothing, as HAProxy appends to unknown-keyword alerts.
pub(crate) fn did_you_mean(s: Option<&str>) -> String {
    s.map(|s| format!("; did you mean '{s}' maybe ?"))
        .unwrap_or_default()
}

/// Size of HAProxy's fingerprint array (32 "from" rows of 32 "to" columns).
const FP_SIZE: usize = 1024;

/// HAProxy's `update_word_fingerprint()`: counts transitions between character classes
/// (letters 1..=26, digits 27, anything else and the word's begin/end 28); row 0 marks which
/// classes appear at all.
fn fingerprint(word: &str) -> [u8; FP_SIZE] {
    let mut fp = [0u8; FP_SIZE];
    let mut from = 28usize;
    for c in word.bytes() {
        let to = match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => usize::from(c - b'a') + 1,
            b'0'..=b'9' => 27,
            _ => 28,
        };
        if let Some(slot) = fp.get_mut(to) {
            *slot = 1;
        }
        if let Some(slot) = fp.get_mut(32 * from + to) {
            *slot = slot.saturating_add(1);
        }
        from = to;
    }
    if let Some(slot) = fp.get_mut(32 * from + 28) {
        *slot = slot.saturating_add(1);
    }
    fp
}

fn distance(a: &[u8; FP_SIZE], b: &[u8; FP_SIZE]) -> usize {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| usize::from(x.abs_diff(*y)))
        .sum()
}

/// HAProxy's `cfg_find_best_match()`: the candidate with the smallest fingerprint distance,
/// unless that distance exceeds twice the length of either word.
pub(crate) fn best_match<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let fw = fingerprint(word);
    let mut best: Option<(&str, usize)> = None;
    for c in candidates {
        let d = distance(&fw, &fingerprint(c));
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    let (kw, d) = best?;
    if d > 2 * word.len() || d > 2 * kw.len() {
        return None;
    }
    Some(kw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_match_haproxy() {
        // Each pair was checked against `haproxy -c` 2.6.
        assert_eq!(suggest_global("nbthred"), Some("nbthread"));
        assert_eq!(suggest_global("maxcon"), Some("maxconn"));
        assert_eq!(suggest_global("daemn"), Some("daemon"));
        assert_eq!(suggest_global("pidfil"), Some("pidfile"));
        assert_eq!(suggest_global("blah"), None);
        assert_eq!(suggest_proxy("bnd"), Some("bind"));
        assert_eq!(suggest_proxy("defualt_backend"), Some("default_backend"));
        assert_eq!(suggest_proxy("mxconn"), Some("maxconn"));
        assert_eq!(suggest_proxy("optin"), Some("option"));
        assert_eq!(suggest_proxy("timout"), Some("timeout"));
        assert_eq!(suggest_proxy("blah"), None);
        assert_eq!(suggest_option("splice-aut"), Some("splice-auto"));
        assert_eq!(suggest_option("blahblah"), None);
        assert_eq!(suggest_server("wieght"), Some("weight"));
        assert_eq!(suggest_server("chek"), Some("check"));
        assert_eq!(suggest_server("blah"), None);
        assert_eq!(suggest_bind("foo"), Some("tfo"));
    }

    #[test]
    fn matrix_lookups() {
        let bind = proxy_caps("bind");
        assert_eq!(
            bind,
            Some(Caps {
                defaults: false,
                frontend: true,
                listen: true,
                backend: false
            })
        );
        assert_eq!(proxy_caps("nope"), None);
        assert!(option_caps("redispatch").is_some_and(|c| !c.frontend && c.backend));
        assert!(option_negatable("splice-auto"));
        assert!(!option_negatable("httplog"));
        assert!(is_global("tune.ssl.keylog"));
        assert!(is_server("ssl") && is_bind("accept-proxy"));
    }

    #[test]
    fn fingerprint_handles_odd_input() {
        assert_eq!(best_match("", ["a"].into_iter()), None);
        assert_eq!(best_match("\u{ff}\u{0}", GLOBAL.iter().copied()), None);
        let long = "x".repeat(100_000);
        assert_eq!(best_match(&long, GLOBAL.iter().copied()), None);
    }
}
