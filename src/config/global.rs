//! The `global` section: process-wide settings and `cpu-map`.
//!
//! Values go straight into [`crate::model::Global`] except `cpu-map`, which is kept per line
//! ([`CpuMapLine`]) because its thread numbers can only be checked against `nbthread` once the
//! whole configuration is read (the build step does that and resolves per-thread bindings).

use crate::config::error::{Diagnostics, Span};
use crate::config::error::{too_many, unsupported};
use crate::config::keywords::{self, did_you_mean};
use crate::config::units::{TimeError, parse_i64, parse_size, parse_time, parse_u32};

use crate::model::{CliAddr, CliLevel, Global, Origin, RawLine, StatsSocket};

/// Ravelin runs one reactor per thread and HAProxy 2.6 caps `nbthread` at `MAX_THREADS` (64).
pub(crate) const MAX_THREADS: u16 = 64;

/// HAProxy accepts CPU numbers up to its cpuset size (`CPU_SETSIZE` - 1 on Linux).
const MAX_CPU: u16 = 1023;

/// One `cpu-map` line, resolved to 1-based thread numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CpuMapLine {
    pub(crate) span: Span,
    /// (thread number, 1-based; CPUs) for every thread the line names.
    pub(crate) entries: Vec<(u16, Vec<u16>)>,
    /// The highest thread number written explicitly (not `all`/`odd`/`even`/open ranges),
    /// checked against `nbthread`.
    pub(crate) explicit_max: Option<u16>,
}

/// The `global` section as parsed.
#[derive(Clone, Debug, Default)]
pub(crate) struct GlobalConf {
    pub(crate) model: Global,
    pub(crate) cpu_maps: Vec<CpuMapLine>,
    /// Where `nbthread` was set, for messages.
    pub(crate) nbthread_span: Option<Span>,
    /// `spread-checks` was seen (HAProxy warns on a second one).
    pub(crate) spread_set: bool,
}

/// HAProxy's "already specified. Continuing." is a non-fatal alert; Ravelin reports it as a
/// warning because only fatal problems are alerts here.
fn already(d: &mut Diagnostics, span: &Span, kw: &str) {
    d.warning(span, format!("'{kw}' already specified. Continuing."));
}

/// `stats socket ADDR [params]`, `stats timeout T`, `stats maxconn N` (HAProxy's
/// `cli_parse_global()` and the bind keywords a CLI socket takes), with HAProxy's messages.
fn parse_stats(g: &mut Global, words: &[String], span: &Span, d: &mut Diagnostics) {
    let arg2 = words.get(2).map(String::as_str).unwrap_or_default();
    match words.get(1).map(String::as_str) {
        Some("timeout") => match parse_time(arg2) {
            Ok(t) if t.is_zero() => d.alert(span, "'stats timeout' expects a positive value"),
            Ok(t) => g.stats.timeout = t,
            Err(TimeError::Overflow) => d.alert(
                span,
                format!("timer overflow in argument '{arg2}' to 'stats timeout' (maximum value is 2147483647 ms or ~24.8 days)"),
            ),
            Err(TimeError::Underflow) => d.alert(
                span,
                format!("timer underflow in argument '{arg2}' to 'stats timeout' (minimum non-null value is 1 ms)"),
            ),
            Err(TimeError::Unexpected(c)) => {
                d.alert(span, format!("'stats timeout' : unexpected character '{c}'"))
            }
            Err(TimeError::Empty) => d.alert(span, "'stats timeout' : unexpected character '"),
        },
        Some("maxconn") => match parse_i64(arg2).filter(|n| *n > 0) {
            Some(n) => g.stats.maxconn = u32::try_from(n).unwrap_or(u32::MAX),
            None => d.alert(span, "'stats maxconn' expects a positive value"),
        },
        Some("socket") => {
            if arg2.is_empty() {
                return d.alert(
                    span,
                    "'stats socket' in global section expects an address or a path to a UNIX socket",
                );
            }
            let Some(addr) = cli_addr(arg2) else {
                return d.alert(
                    span,
                    format!("parsing [{}:{}] : 'stats socket' : missing port specification in '{arg2}'", span.file, span.line),
                );
            };
            let mut sock = StatsSocket {
                origin: Origin {
                    file: span.file.clone(),
                    line: span.line,
                },
                addr,
                mode: None,
                uid: None,
                gid: None,
                level: CliLevel::Operator,
                expose_fd: false,
            };
            let mut i = 3;
            while let Some(kw) = words.get(i).map(String::as_str) {
                let val = words.get(i + 1).map(String::as_str).unwrap_or_default();
                let bad = |d: &mut Diagnostics, m: String| d.alert(span, format!("'stats socket' : '{m}'"));
                match kw {
                    "mode" => match u32::from_str_radix(val, 8) {
                        Ok(m) if !val.is_empty() => sock.mode = Some(m),
                        _ => return bad(d, format!("'mode' : missing or invalid mode '{val}' (octal integer expected)")),
                    },
                    "level" => {
                        sock.level = match val {
                            "user" => CliLevel::User,
                            "operator" => CliLevel::Operator,
                            "admin" => CliLevel::Admin,
                            "" => return bad(d, "'level' : missing level".into()),
                            _ => return bad(d, format!("'level' only supports 'user', 'operator', and 'admin' (got '{val}')")),
                        }
                    }
                    "expose-fd" => match val {
                        "listeners" => sock.expose_fd = true,
                        "" => return bad(d, "'expose-fd' : missing fd type".into()),
                        _ => return bad(d, format!("'expose-fd' only supports 'listeners' (got '{val}')")),
                    },
                    // HAProxy reads `uid`/`gid` with atol(): junk is 0.
                    "uid" => sock.uid = Some(val.parse().unwrap_or(0)),
                    "gid" => sock.gid = Some(val.parse().unwrap_or(0)),
                    "user" => match id_of("/etc/passwd", val) {
                        Some(u) => sock.uid = Some(u),
                        None => return bad(d, format!("'user' : unknown user name '{val}'")),
                    },
                    "group" => match id_of("/etc/group", val) {
                        Some(u) => sock.gid = Some(u),
                        None => return bad(d, format!("'group' : unknown group name '{val}'")),
                    },
                    _ => {
                        return d.alert(span, format!("'stats socket' : unknown keyword '{kw}'."));
                    }
                }
                i += 2;
            }
            g.stats.sockets.push(sock);
        }
        _ => {}
    }
}

/// A CLI socket address: `unix@PATH`, a path with a `/`, `ipv4@`/`ipv6@`/bare `ADDR:PORT`.
fn cli_addr(s: &str) -> Option<CliAddr> {
    if let Some(p) = s.strip_prefix("unix@") {
        return Some(CliAddr::Unix(p.into()));
    }
    let inet = s
        .strip_prefix("ipv4@")
        .or_else(|| s.strip_prefix("ipv6@"))
        .or_else(|| s.strip_prefix("tcp@"));
    match inet {
        None if s.contains('/') => Some(CliAddr::Unix(s.into())),
        _ => {
            let a = inet.unwrap_or(s);
            let (host, port) = a.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let ip: std::net::IpAddr = if host.is_empty() || host == "*" {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            } else {
                host.parse().ok()?
            };
            Some(CliAddr::Inet(std::net::SocketAddr::new(ip, port)))
        }
    }
}

/// The numeric id of user or group `name` in `/etc/passwd` or `/etc/group`.
fn id_of(file: &str, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// One keyword line of the `global` section.
pub(crate) fn parse_global(g: &mut GlobalConf, words: &[String], span: &Span, d: &mut Diagnostics) {
    let kw = words.first().map(String::as_str).unwrap_or_default();
    let arg1 = words.get(1).map(String::as_str);
    let no_more = |d: &mut Diagnostics, n: usize| match words.get(n) {
        Some(x) => {
            d.alert(span, too_many(kw, x));
            false
        }
        None => true,
    };
    let raw = || RawLine {
        origin: crate::model::Origin {
            file: span.file.clone(),
            line: span.line,
        },
        words: words.to_vec(),
    };
    match kw {
        "ssl-default-bind-options" => {
            if let Err(e) =
                crate::config::tls::default_bind_options(&mut g.model.ssl_default_bind, words)
            {
                d.alert(span, e);
            }
        }
        "ssl-default-bind-ciphers" | "ssl-default-bind-ciphersuites" | "ssl-default-bind-curves" => {
            let Some(v) = arg1 else {
                return d.alert(span, format!("global statement '{kw}' expects a cipher suite as an argument."));
            };
            if no_more(d, 2) {
                let o = &mut g.model.ssl_default_bind;
                let slot = match kw {
                    "ssl-default-bind-ciphers" => &mut o.ciphers,
                    "ssl-default-bind-ciphersuites" => &mut o.ciphersuites,
                    _ => &mut o.curves,
                };
                *slot = Some(v.to_string());
            }
        }
        "spread-checks" | "max-spread-checks" => crate::config::check::parse_global_spread(
            &mut g.model,
            &mut g.spread_set,
            words,
            span,
            d,
        ),
        "external-check" | "insecure-fork-wanted" => {
            if no_more(d, 1) {
                if kw == "external-check" {
                    g.model.external_check = true;
                } else {
                    g.model.insecure_fork_wanted = true;
                }
            }
        }
        "maxconn" => {
            let Some(n) = arg1.and_then(parse_u32) else {
                return d.alert(span, "'maxconn' expects an integer argument.");
            };
            if no_more(d, 2) {
                if g.model.maxconn.is_some() {
                    already(d, span, kw);
                }
                g.model.maxconn = Some(n);
            }
        }
        "ulimit-n" => {
            let Some(n) = arg1.and_then(parse_u32) else {
                return d.alert(span, "'ulimit-n' expects an integer argument.");
            };
            if no_more(d, 2) {
                if g.model.ulimit_n.is_some() {
                    already(d, span, kw);
                }
                g.model.ulimit_n = Some(n);
            }
        }
        "nbthread" => {
            let arg = arg1.unwrap_or_default();
            let Some(n) = parse_i64(arg) else {
                return d.alert(span, format!("'nbthread' passed a missing or unparsable integer value in '{arg}'"));
            };
            match u16::try_from(n).ok().filter(|n| (1..=MAX_THREADS).contains(n)) {
                Some(n) if no_more(d, 2) => {
                    g.model.nbthread = Some(n);
                    g.nbthread_span = Some(span.clone());
                }
                Some(_) => {}
                None => d.alert(span, format!("'nbthread' value must be between 1 and {MAX_THREADS} (was {n})")),
            }
        }
        "cpu-map" => {
            if let Some(line) = parse_cpu_map(words, span, d) {
                g.cpu_maps.push(line);
            }
        }
        "pidfile" => {
            let Some(path) = arg1 else {
                return d.alert(span, "'pidfile' expects a file name as an argument.");
            };
            if g.model.pidfile.is_some() {
                return already(d, span, kw);
            }
            if no_more(d, 2) {
                g.model.pidfile = Some(path.into());
            }
        }
        "hard-stop-after" | "grace" | "close-spread-time" => {
            let Some(arg) = arg1 else {
                return d.alert(span, format!("'{kw}' expects <time> as argument."));
            };
            if kw == "close-spread-time" && arg == "infinite" {
                if no_more(d, 2) {
                    g.model.close_spread = Some(crate::model::CloseSpread::Infinite);
                }
                return;
            }
            match parse_time(arg) {
                Ok(t) => {
                    if no_more(d, 2) {
                        match kw {
                            "grace" => g.model.grace = Some(t),
                            "close-spread-time" => {
                                // HAProxy: 0 means "not set" (close at once).
                                g.model.close_spread =
                                    (!t.is_zero()).then_some(crate::model::CloseSpread::Window(t));
                            }
                            _ => g.model.hard_stop_after = Some(t),
                        }
                    }
                }
                Err(TimeError::Unexpected(c)) => {
                    d.alert(span, format!("unexpected character '{c}' in argument to <{kw}>."));
                }
                Err(e) => d.alert(span, e.message(arg, kw)),
            }
        }
        "tune.ssl.cachesize" => match arg1.and_then(|v| v.parse::<u32>().ok()) {
            Some(n) => {
                if no_more(d, 2) {
                    g.model.ssl_default_bind.cachesize = Some(n);
                }
            }
            None => d.alert(span, "'tune.ssl.cachesize' expects an integer argument."),
        },
        "tune.bufsize" => match arg1.and_then(parse_size).and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n > 0 && i32::try_from(n).is_ok() => {
                if no_more(d, 2) {
                    g.model.bufsize = n;
                }
            }
            _ => d.alert(span, "'tune.bufsize' expects a positive integer argument."),
        },
        "tune.http.maxhdr" => match arg1 {
            None => d.alert(span, "'tune.http.maxhdr' expects an integer argument."),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=32767).contains(&n) => {
                    if no_more(d, 2) {
                        g.model.http_maxhdr = u32::try_from(n).unwrap_or(101);
                    }
                }
                _ => d.alert(
                    span,
                    "'tune.http.maxhdr' expects a numeric value between 1 and 32767",
                ),
            },
        },
        "tune.pipesize" => match arg1.and_then(parse_size).and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n > 0 => {
                if no_more(d, 2) {
                    g.model.pipesize = Some(n);
                }
            }
            _ => d.alert(span, "'tune.pipesize' expects a positive integer argument."),
        },
        "tune.maxaccept" => {
            let n = match arg1.and_then(parse_i64) {
                Some(-1) => u32::MAX,
                Some(n) => match u32::try_from(n) {
                    Ok(n) if n < u32::MAX => n,
                    _ => return d.alert(span, "'tune.maxaccept' expects -1 or a positive integer argument."),
                },
                None => return d.alert(span, "'tune.maxaccept' expects an integer argument."),
            };
            if no_more(d, 2) {
                g.model.maxaccept = n;
            }
        }
        "server-state-file" | "server-state-base" => {
            let Some(path) = arg1 else {
                let what = if kw == "server-state-file" {
                    "'server-state-file' expect one argument: a file path."
                } else {
                    "'server-state-base' expects one argument: a directory path."
                };
                return d.alert(span, what);
            };
            let slot = if kw == "server-state-file" {
                &mut g.model.server_state_file
            } else {
                &mut g.model.server_state_base
            };
            if slot.is_some() {
                return already(d, span, kw);
            }
            *slot = Some(path.into());
        }
        "master-worker" => match arg1 {
            None | Some("no-exit-on-failure") => g.model.master_worker = true,
            Some(_) => d.alert(span, "'master-worker' only supports 'no-exit-on-failure' option."),
        },
        "daemon" => {
            if no_more(d, 1) {
                g.model.daemon = true;
            }
        }
        "nosplice" => {
            if no_more(d, 1) {
                g.model.nosplice = true;
            }
        }
        "pp2-never-send-local" => {
            if no_more(d, 1) {
                g.model.pp2_never_send_local = true;
            }
        }
        "log" => match crate::config::log::parse_log(words) {
            Ok(crate::config::log::LogLine::Target(t)) => {
                let mut v = g.model.log.targets.to_vec();
                v.push(t);
                g.model.log.targets = v.into();
            }
            // HAProxy 2.6 takes `log global` in the global section as a target named "global".
            Ok(crate::config::log::LogLine::Global) => {
                d.alert(span, "log : unknown log facility ''");
            }
            Err(e) => d.alert(span, format!("log : {e}")),
        },
        "log-tag" => match arg1 {
            Some(t) => g.model.log.tag = Some(t.to_string()),
            None => d.alert(span, "'log-tag' expects a tag for use in syslog."),
        },
        "log-send-hostname" => {
            g.model.log.send_hostname = Some(arg1.unwrap_or_default().to_string());
        }
        "stats" => match arg1 {
            Some("socket" | "timeout" | "maxconn") => {
                g.model.stats_sockets.push(raw());
                parse_stats(&mut g.model, words, span, d);
            }
            Some("bind-process") => d.alert(span, unsupported("stats bind-process")),
            other => d.alert(
                span,
                format!(
                    "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{}')",
                    other.unwrap_or_default()
                ),
            ),
        },
        "nbproc" => d.alert(
            span,
            "nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available.",
        ),
        _ if keywords::is_global(kw) => d.alert(span, unsupported(kw)),
        _ => d.alert(
            span,
            format!("unknown keyword '{kw}' in 'global' section{}", did_you_mean(keywords::suggest_global(kw))),
        ),
    }
}

/// A parsed thread set: the numbers and whether they were written explicitly.
struct ThreadSet {
    ids: Vec<u16>,
    explicit_max: Option<u16>,
}

/// HAProxy's `parse_process_number()`: `all`, `odd`, `even`, `N`, `N-M` or `N-` in 1..=64.
fn parse_id_set(s: &str) -> Option<ThreadSet> {
    let all: Vec<u16> = (1..=MAX_THREADS).collect();
    let ids: Vec<u16> = match s {
        "all" => all,
        "odd" => all.into_iter().filter(|n| n % 2 == 1).collect(),
        "even" => all.into_iter().filter(|n| n % 2 == 0).collect(),
        _ => {
            let (lo, hi, explicit) = match s.split_once('-') {
                Some((lo, "")) => (parse_u32(lo)?, u32::from(MAX_THREADS), false),
                Some((lo, hi)) => (parse_u32(lo)?, parse_u32(hi)?, true),
                None => {
                    let n = parse_u32(s)?;
                    (n, n, true)
                }
            };
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let lo = u16::try_from(lo)
                .ok()
                .filter(|n| (1..=MAX_THREADS).contains(n))?;
            let hi = u16::try_from(hi)
                .ok()
                .filter(|n| (1..=MAX_THREADS).contains(n))?;
            return Some(ThreadSet {
                ids: (lo..=hi).collect(),
                explicit_max: Some(hi).filter(|_| explicit),
            });
        }
    };
    Some(ThreadSet {
        ids,
        explicit_max: None,
    })
}

/// Parses the CPU arguments: `N`, `N-M`, `N-`, and (unlike HAProxy 2.6, which silently keeps
/// only the first number) comma-separated lists of those.
fn parse_cpus(args: &[String]) -> Result<Vec<u16>, String> {
    let mut cpus = Vec::new();
    for arg in args {
        for part in arg.split(',') {
            if !part.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("cpu-map : '{arg}' is not a CPU range."));
            }
            let (lo, hi) = match part.split_once('-') {
                Some((lo, "")) => (lo, None),
                Some((lo, hi)) => (lo, Some(hi)),
                None => (part, Some(part)),
            };
            let num = |s: &str| {
                parse_u32(s).ok_or_else(|| format!("cpu-map : '{arg}' is not a CPU range."))
            };
            let lo = num(lo)?;
            let hi = match hi {
                Some(h) => num(h)?,
                None => 63,
            };
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            if hi > u32::from(MAX_CPU) {
                return Err(format!(
                    "cpu-map : supports CPU numbers from 0 to {MAX_CPU}."
                ));
            }
            for c in lo..=hi {
                let c = u16::try_from(c)
                    .map_err(|_| format!("cpu-map : '{arg}' is not a CPU range."))?;
                if !cpus.contains(&c) {
                    cpus.push(c);
                }
            }
        }
    }
    cpus.sort_unstable();
    Ok(cpus)
}

/// `cpu-map [auto:]<process>[/<threads>] <cpu-set>...` (section 3.1 of the manual).
fn parse_cpu_map(words: &[String], span: &Span, d: &mut Diagnostics) -> Option<CpuMapLine> {
    let (Some(spec), Some(_)) = (words.get(1), words.get(2)) else {
        d.alert(
            span,
            "cpu-map expects a process number  ('all', 'odd', 'even', a number from 1 to 64 or a range),  followed by a list of CPU ranges with numbers from 0 to 63.",
        );
        return None;
    };
    let (auto, spec) = match spec.strip_prefix("auto:") {
        Some(rest) => (true, rest),
        None => (false, spec.as_str()),
    };
    let (proc_s, thread_s) = match spec.split_once('/') {
        Some((p, t)) => (p, Some(t)),
        None => (spec, None),
    };
    let bad = |d: &mut Diagnostics, s: &str| {
        d.alert(
            span,
            format!(
                "cpu-map : '{s}' is not a valid number/range. It supports numbers from 1 to 64."
            ),
        );
    };
    let Some(procs) = parse_id_set(proc_s) else {
        bad(d, proc_s);
        return None;
    };
    let threads = match thread_s {
        Some(t) => match parse_id_set(t) {
            Some(t) => t,
            None => {
                bad(d, t);
                return None;
            }
        },
        // A lone process number is strictly "N/all".
        None => parse_id_set("all")?,
    };
    let cpus = match parse_cpus(words.get(2..).unwrap_or_default()) {
        Ok(c) => c,
        Err(e) => {
            d.alert(span, e);
            return None;
        }
    };
    if auto {
        let auto_len = if procs.ids.len() > 1 {
            procs.ids.len()
        } else {
            threads.ids.len()
        };
        if auto_len != cpus.len() {
            d.alert(span, "cpu-map : PROC/THREAD range and CPU sets must have the same size to be automatically bound");
            return None;
        }
    }
    // Only process 1 exists since HAProxy 2.5; lines for other processes are ignored.
    if !procs.ids.contains(&1) {
        return None;
    }
    let entries = if auto && procs.ids.len() <= 1 {
        threads
            .ids
            .iter()
            .zip(cpus.iter())
            .map(|(&t, &c)| (t, vec![c]))
            .collect()
    } else {
        threads.ids.iter().map(|&t| (t, cpus.clone())).collect()
    };
    Some(CpuMapLine {
        span: span.clone(),
        entries,
        explicit_max: threads.explicit_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> (GlobalConf, Vec<String>) {
        let mut g = GlobalConf::default();
        let mut d = Diagnostics::default();
        for (i, l) in lines.iter().enumerate() {
            let words: Vec<String> = l.split_whitespace().map(String::from).collect();
            parse_global(
                &mut g,
                &words,
                &Span::new("g.cfg", u32::try_from(i + 1).unwrap_or(0)),
                &mut d,
            );
        }
        (g, d.items.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn basic_keywords() {
        let (g, e) = parse(&[
            "maxconn 1000",
            "nbthread 4",
            "pidfile /run/r.pid",
            "hard-stop-after 30s",
            "tune.bufsize 32k",
            "tune.maxaccept -1",
            "tune.pipesize 1m",
            "daemon",
            "nosplice",
            "pp2-never-send-local",
            "log stdout format raw local0",
            "stats socket /tmp/s level admin",
            "stats timeout 10s",
        ]);
        assert_eq!(e, Vec::<String>::new());
        let m = &g.model;
        assert_eq!(m.maxconn, Some(1000));
        assert_eq!(m.nbthread, Some(4));
        assert!(m.pp2_never_send_local);
        assert_eq!(m.pidfile, Some("/run/r.pid".into()));
        assert_eq!(m.hard_stop_after, Some(std::time::Duration::from_secs(30)));
        assert_eq!(m.bufsize, 32768);
        assert_eq!(m.maxaccept, u32::MAX);
        assert_eq!(m.pipesize, Some(1 << 20));
        assert!(m.daemon && m.nosplice);
        assert_eq!(m.log.targets.len(), 1);
        assert_eq!(m.stats_sockets.len(), 2);
    }

    #[test]
    fn stats_socket_lines() {
        let (g, e) = parse(&[
            "stats socket /tmp/a.sock mode 600 level admin expose-fd listeners uid 0 gid 0",
            "stats socket ipv4@127.0.0.1:9999 level user",
            "stats socket unix@/tmp/b.sock",
            "stats timeout 2m",
            "stats maxconn 3",
        ]);
        assert_eq!(e, Vec::<String>::new());
        let st = &g.model.stats;
        assert_eq!(st.timeout, std::time::Duration::from_secs(120));
        assert_eq!(st.maxconn, 3);
        let a = &st.sockets[0];
        assert_eq!(a.addr, CliAddr::Unix("/tmp/a.sock".into()));
        assert_eq!(
            (a.mode, a.level, a.expose_fd, a.uid, a.gid),
            (Some(0o600), CliLevel::Admin, true, Some(0), Some(0))
        );
        assert_eq!(
            st.sockets[1].addr,
            CliAddr::Inet("127.0.0.1:9999".parse().unwrap())
        );
        assert_eq!(st.sockets[1].level, CliLevel::User);
        assert_eq!(
            st.sockets[2].level,
            CliLevel::Operator,
            "HAProxy's default level"
        );
        let (_, e) = parse(&[
            "stats socket",
            "stats socket /tmp/z mode",
            "stats socket /tmp/z mode abc",
            "stats socket /tmp/z level foo",
            "stats socket /tmp/z level",
            "stats socket /tmp/z expose-fd",
            "stats socket /tmp/z expose-fd foo",
            "stats socket /tmp/z user nosuchuser",
            "stats socket ipv4@127.0.0.1",
            "stats timeout 0",
            "stats timeout 1x",
            "stats maxconn 0",
            "stats socket /tmp/z group nosuchgroup",
        ]);
        assert_eq!(
            e,
            vec![
                "parsing [g.cfg:1] : 'stats socket' in global section expects an address or a path to a UNIX socket",
                "parsing [g.cfg:2] : 'stats socket' : ''mode' : missing or invalid mode '' (octal integer expected)'",
                "parsing [g.cfg:3] : 'stats socket' : ''mode' : missing or invalid mode 'abc' (octal integer expected)'",
                "parsing [g.cfg:4] : 'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got 'foo')'",
                "parsing [g.cfg:5] : 'stats socket' : ''level' : missing level'",
                "parsing [g.cfg:6] : 'stats socket' : ''expose-fd' : missing fd type'",
                "parsing [g.cfg:7] : 'stats socket' : ''expose-fd' only supports 'listeners' (got 'foo')'",
                "parsing [g.cfg:8] : 'stats socket' : ''user' : unknown user name 'nosuchuser''",
                "parsing [g.cfg:9] : parsing [g.cfg:9] : 'stats socket' : missing port specification in 'ipv4@127.0.0.1'",
                "parsing [g.cfg:10] : 'stats timeout' expects a positive value",
                "parsing [g.cfg:11] : 'stats timeout' : unexpected character 'x'",
                "parsing [g.cfg:12] : 'stats maxconn' expects a positive value",
                "parsing [g.cfg:13] : 'stats socket' : ''group' : unknown group name 'nosuchgroup''",
            ]
        );
    }

    #[test]
    fn errors_match_haproxy() {
        let (_, e) = parse(&[
            "nbthread 100",
            "nbthread abc",
            "maxconn",
            "hard-stop-after 10q",
            "hard-stop-after",
            "pidfile",
            "daemon x",
            "stats bogus",
            "nbproc 2",
            "nbthred 2",
            "lua-load /x.lua",
            "tune.maxaccept 4",
            "tune.maxaccept 5",
        ]);
        assert_eq!(
            e,
            vec![
                "parsing [g.cfg:1] : 'nbthread' value must be between 1 and 64 (was 100)",
                "parsing [g.cfg:2] : 'nbthread' passed a missing or unparsable integer value in 'abc'",
                "parsing [g.cfg:3] : 'maxconn' expects an integer argument.",
                "parsing [g.cfg:4] : unexpected character 'q' in argument to <hard-stop-after>.",
                "parsing [g.cfg:5] : 'hard-stop-after' expects <time> as argument.",
                "parsing [g.cfg:6] : 'pidfile' expects a file name as an argument.",
                "parsing [g.cfg:7] : 'daemon' cannot handle unexpected argument 'x'.",
                "parsing [g.cfg:8] : 'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got 'bogus')",
                "parsing [g.cfg:9] : nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available.",
                "parsing [g.cfg:10] : unknown keyword 'nbthred' in 'global' section; did you mean 'nbthread' maybe ?",
                "parsing [g.cfg:11] : 'lua-load' is a HAProxy keyword that Ravelin does not support yet.",
            ]
        );
        let (_, e) = parse(&[
            "tune.maxaccept 4",
            "tune.maxaccept 5",
            "tune.bufsize 1x",
            "maxconn abc",
        ]);
        assert_eq!(e.len(), 2, "{e:?}");
    }

    fn cpu(line: &str) -> Result<Vec<(u16, Vec<u16>)>, String> {
        let (g, e) = parse(&[line]);
        match e.first() {
            Some(e) => Err(e.clone()),
            None => Ok(g.cpu_maps.into_iter().flat_map(|l| l.entries).collect()),
        }
    }

    #[test]
    fn cpu_map_forms() {
        assert_eq!(cpu("cpu-map 1/1 0"), Ok(vec![(1, vec![0])]));
        assert_eq!(
            cpu("cpu-map auto:1/1-4 0-3"),
            Ok(vec![(1, vec![0]), (2, vec![1]), (3, vec![2]), (4, vec![3])])
        );
        assert_eq!(
            cpu("cpu-map auto:1/1-4 3 2 1 0"),
            Ok(vec![(1, vec![0]), (2, vec![1]), (3, vec![2]), (4, vec![3])])
        );
        assert_eq!(
            cpu("cpu-map 1/1-2 0-1"),
            Ok(vec![(1, vec![0, 1]), (2, vec![0, 1])])
        );
        assert_eq!(cpu("cpu-map 1/2 0,2,4-5"), Ok(vec![(2, vec![0, 2, 4, 5])]));
        assert_eq!(cpu("cpu-map 1/3 3-1"), Ok(vec![(3, vec![1, 2, 3])]));
        assert_eq!(cpu("cpu-map 2/1 0"), Ok(vec![]));
        let all = cpu("cpu-map 1/all 0-3").unwrap_or_default();
        assert_eq!(all.len(), 64);
        assert_eq!(all.first(), Some(&(1, vec![0, 1, 2, 3])));
        assert_eq!(cpu("cpu-map 1 0").map(|v| v.len()), Ok(64));
        let odd = cpu("cpu-map 1/odd 0").unwrap_or_default();
        assert_eq!(
            odd.iter().map(|e| e.0).take(3).collect::<Vec<_>>(),
            vec![1, 3, 5]
        );
        assert_eq!(
            cpu("cpu-map auto:1/all 0-63").map(|v| v.last().cloned()),
            Ok(Some((64, vec![63])))
        );
    }

    #[test]
    fn cpu_map_errors_match_haproxy() {
        let e = |l| cpu(l).err().unwrap_or_default();
        assert_eq!(
            e("cpu-map auto:1/1-4 0-1"),
            "parsing [g.cfg:1] : cpu-map : PROC/THREAD range and CPU sets must have the same size to be automatically bound"
        );
        assert_eq!(
            e("cpu-map 1/1 5000"),
            "parsing [g.cfg:1] : cpu-map : supports CPU numbers from 0 to 1023."
        );
        assert!(e("cpu-map 1/1").contains("cpu-map expects a process number  ('all'"));
        assert_eq!(
            e("cpu-map 1/0 1"),
            "parsing [g.cfg:1] : cpu-map : '0' is not a valid number/range. It supports numbers from 1 to 64."
        );
        assert_eq!(
            e("cpu-map 1/1 abc"),
            "parsing [g.cfg:1] : cpu-map : 'abc' is not a CPU range."
        );
        assert!(!e("cpu-map 1/65 1").is_empty());
    }

    #[test]
    fn cpu_map_explicit_max() {
        let (g, _) = parse(&["cpu-map 1/3-8 0", "cpu-map 1/all 0", "cpu-map 1/2- 0"]);
        let maxes: Vec<Option<u16>> = g.cpu_maps.iter().map(|l| l.explicit_max).collect();
        assert_eq!(maxes, vec![Some(8), None, None]);
    }
}
