//! From [`Parsed`] to the runtime [`Model`]: cross-checks, name resolution, hostname lookups.
//!
//! Runs after every file is parsed, even when parsing reported alerts, so one run shows every
//! problem. Checks follow HAProxy's `check_config_validity()` in order and wording (backend
//! lookups, mode compatibility, missing `bind`, missing timeouts, server address resolution),
//! plus Ravelin's own rules: a frontend needs somewhere to send connections, and `cpu-map`
//! threads must exist.

use std::collections::BTreeMap;

use crate::config::addr::{self, Host, ServerSpec};
use crate::config::error::{ConfigError, Diagnostics, Head, Severity};
use crate::config::errors;
use crate::config::global::{GlobalConf, MAX_THREADS};
use crate::config::parser::Parsed;
use crate::config::proxy::{Kind, ProxyConf};
use crate::rules::UseBackend;

use crate::model::{
    Backend, BackendId, CpuMap, Frontend, Global, Mode, Model, Origin, Server, ServerAddr,
};

/// Builds the model, reporting every problem into `d`.
pub(crate) fn build(parsed: Parsed, d: &mut Diagnostics) -> Model {
    let global = build_global(parsed.global, d);
    let http_errors = parsed.http_errors;
    let mut proxies: Vec<ProxyConf> = parsed.proxies.into_iter().filter(|p| !p.discard).collect();
    for p in &mut proxies {
        crate::config::stats::check_mode(p, d);
    }
    let proxies = proxies;
    // Backend ids in declaration order, listens included.
    let backend_ids: Vec<(usize, BackendId)> = proxies
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.kind, Kind::Backend | Kind::Listen))
        .enumerate()
        .map(|(id, (idx, _))| (idx, BackendId(u32::try_from(id).unwrap_or(u32::MAX))))
        .collect();
    let find_backend = |name: &str| {
        backend_ids
            .iter()
            .find(|(idx, _)| proxies.get(*idx).is_some_and(|p| p.name == name))
            .copied()
    };
    let mut model = Model {
        global,
        frontends: Vec::new(),
        backends: Vec::new(),
    };
    let mut unresolved = false;
    for (idx, p) in proxies.iter().enumerate() {
        if p.kind.has_frontend() {
            let route = |name: &str, what: &str, d: &mut Diagnostics| -> Option<BackendId> {
                let Some((bidx, id)) = find_backend(name) else {
                    d.push(ConfigError::bare_alert(format!(
                        "Proxy '{}': unable to find required {what}: '{name}'.",
                        p.name
                    )));
                    return None;
                };
                let be = proxies.get(bidx)?;
                if bidx == idx {
                    d.push(ConfigError::bare_alert(format!(
                        "Proxy '{}': loop detected for {what}: '{name}'.",
                        p.name
                    )));
                    return None;
                }
                let rule = if what == "default_backend" {
                    "as its default backend".to_string()
                } else {
                    "in a 'use_backend' rule".to_string()
                };
                check_modes(p, be, &rule, d);
                Some(id)
            };
            let default_backend = p
                .default_backend
                .as_ref()
                .and_then(|(n, _)| route(n, "default_backend", d));
            let use_backends: Vec<UseBackend> = p
                .use_backends
                .iter()
                .filter_map(|(n, _, cond)| {
                    route(n, "use_backend", d).map(|backend| UseBackend {
                        backend,
                        cond: cond.clone(),
                    })
                })
                .collect();
            if p.binds.is_empty() {
                let msg = format!(
                    "{} '{}' has no 'bind' directive. Please declare it as a backend if this was intended.",
                    p.kind.type_str(),
                    p.name
                );
                // HAProxy only warns; a Ravelin frontend without a listener is an error, but the
                // frontend half of a listen section can still serve as a backend.
                if p.kind == Kind::Frontend {
                    d.push(ConfigError::bare_alert(msg));
                } else {
                    d.push(ConfigError::bare_warning(msg));
                }
            }
            // A frontend without any backend is valid, as in HAProxy: a stats page, an exporter
            // or `http-request return` may answer everything, and other requests get a 503
            // (TCP connections are closed).
            let listen_backend = if p.kind == Kind::Listen {
                backend_ids
                    .iter()
                    .find(|(i, _)| *i == idx)
                    .map(|(_, id)| *id)
            } else {
                None
            };
            model.frontends.push(Frontend {
                name: p.name.clone(),
                origin: Origin {
                    file: p.span.file.clone(),
                    line: p.span.line,
                },
                mode: p.mode,
                binds: tls_binds(p, &model.global, d),
                maxconn: p.maxconn,
                use_backends,
                default_backend,
                timeouts: p.timeouts,
                splice: p.splice,
                listen_backend,
                http: p.http.settings.clone(),
                monitor_uri: p.http.monitor_uri.clone(),
                rules: p.http.rules.clone(),
                errors: errors::resolve(&p.name, &p.http.errors, &http_errors, d),
                captures: p.http.captures.clone(),
                unique_id_header: p.http.unique_id_header.clone(),
                restrict_req_hdr_names: p.http.restrict,
                idle_close_on_response: p.idle_close_on_response,
                log: proxy_log(p, &model.global, true, d),
                stats: p.http.stats.clone().map(std::sync::Arc::new),
            });
        }
        missing_timeouts(p, d);
        if p.kind.has_backend() {
            let mut servers = Vec::new();
            // HAProxy gives servers without an `id` the lowest unused ids, from 1, in order.
            let mut taken: Vec<u32> = p.servers.iter().filter_map(|s| s.id).collect();
            let mut next_id = 1;
            for s in &p.servers {
                let id = match s.id {
                    Some(id) => id,
                    None => {
                        while taken.contains(&next_id) {
                            next_id += 1;
                        }
                        taken.push(next_id);
                        next_id
                    }
                };
                let addr = match &s.spec {
                    ServerSpec::Unix(path) => ServerAddr::Unix(path.clone()),
                    ServerSpec::Inet {
                        host: Host::Ip(ip),
                        port,
                    } => ServerAddr::Inet {
                        ip: *ip,
                        port: *port,
                    },
                    ServerSpec::Inet {
                        host: Host::Name(name, fam),
                        port,
                    } => match addr::resolve(name, *fam) {
                        Some(ip) => ServerAddr::Inet { ip, port: *port },
                        None => {
                            unresolved = true;
                            d.push(ConfigError::with_head(
                                Severity::Alert,
                                Head::Bracket,
                                &s.span,
                                format!(
                                    "'server {}/{}' : could not resolve address '{name}'.",
                                    p.name, s.name
                                ),
                            ));
                            continue;
                        }
                    },
                };
                servers.push(Server {
                    name: s.name.clone(),
                    origin: Origin {
                        file: s.span.file.clone(),
                        line: s.span.line,
                    },
                    addr,
                    weight: s.weight,
                    maxconn: s.maxconn,
                    minconn: s.minconn,
                    maxqueue: s.maxqueue,
                    slowstart: s.slowstart,
                    cookie: s.cookie.clone(),
                    id,
                    backup: s.backup,
                    disabled: s.disabled,
                    check: s.check.clone(),
                    passive: s.passive,
                    pool_max_conn: s.pool_max_conn,
                    pool_purge_delay: s.pool_purge_delay,
                    send_proxy: s.send_proxy(),
                    tls: server_tls(p, s, d),
                });
            }
            model.backends.push(Backend {
                log: proxy_log(p, &model.global, false, d),
                name: p.name.clone(),
                origin: Origin {
                    file: p.span.file.clone(),
                    line: p.span.line,
                },
                mode: p.mode,
                balance: p.balance.clone(),
                servers,
                timeouts: p.timeouts,
                retries: p.retries,
                // "only valid when mode is set to http and is silently ignored otherwise"
                retry_on: if p.mode == Mode::Http {
                    p.retry_on
                } else {
                    crate::model::RetryOn::default()
                },
                redispatch: p.redispatch,
                allbackups: p.allbackups,
                cookie: p.cookie.clone(),
                persist: p.persist,
                splice: p.splice,
                http: p.http.settings.clone(),
                http_reuse: p.http.reuse,
                rules: if p.kind == Kind::Listen {
                    // A listen's rules run once, in its frontend half.
                    Default::default()
                } else {
                    p.http.rules.clone()
                },
                errors: if p.kind == Kind::Listen {
                    Default::default()
                } else {
                    errors::resolve(&p.name, &p.http.errors, &http_errors, d)
                },
                dispatch: p.http.dispatch,
                restrict_req_hdr_names: p.http.restrict,
                hash_type: p.hash_type,
                hash_balance_factor: p.hash_balance_factor,
                fullconn: (p.fullconn > 0).then_some(p.fullconn),
                health_check: build_health_check(p, idx, &model.global, d),
                load_server_state: p.load_server_state,
                server_state_file_name: p.server_state_file_name.clone(),
                stats: if p.kind == Kind::Listen {
                    // Served by the listen's frontend half.
                    None
                } else {
                    p.http.stats.clone().map(std::sync::Arc::new)
                },
            });
        }
    }
    if unresolved {
        d.push(ConfigError::bare_alert(
            "Failed to initialize server(s) addr.",
        ));
    }
    model
}

/// A proxy's logging: its targets (own lines, plus the global ones with `log global`), its
/// compiled traffic line (frontends), its tag and options.
fn proxy_log(
    p: &ProxyConf,
    global: &crate::model::Global,
    frontend: bool,
    d: &mut Diagnostics,
) -> crate::log::ProxyLog {
    use crate::config::log::LineKind;
    use crate::log::{CLFLOG, HTTPLOG, TCPLOG, format};
    let mut targets = p.log.targets.clone();
    if p.log.global {
        targets.extend(global.log.targets.iter().cloned());
    }
    let span = p.log.kind_line.clone().unwrap_or_else(|| p.span.clone());
    let text: Option<&str> = match &p.log.kind {
        LineKind::Legacy => None,
        LineKind::Tcp => Some(TCPLOG),
        LineKind::Http | LineKind::Clf if p.mode != Mode::Http => {
            if frontend {
                d.warning(
                    &span,
                    format!(
                        "'option httplog' not usable with {} '{}' (needs 'mode http'). Falling back to 'option tcplog'.",
                        p.kind.type_str(),
                        p.name
                    ),
                );
            }
            Some(TCPLOG)
        }
        LineKind::Http => Some(HTTPLOG),
        LineKind::Clf => Some(CLFLOG),
        LineKind::Custom(s) => Some(s.as_str()),
    };
    let compile = |s: &str, what: &str, d: &mut Diagnostics| match format::compile(s) {
        Ok(f) => Some(std::sync::Arc::new(f)),
        Err(e) => {
            d.push(ConfigError::with_head(
                Severity::Alert,
                Head::ParsingCapital,
                &span,
                format!("failed to parse {what} : {e}"),
            ));
            None
        }
    };
    let fmt = if frontend {
        text.and_then(|t| compile(t, "log-format", d))
    } else {
        None
    };
    let unique_id = if frontend {
        p.http
            .unique_id_format
            .as_deref()
            .and_then(|t| compile(t, "unique-id-format", d))
    } else {
        None
    };
    crate::log::ProxyLog {
        targets: targets.into(),
        format: fmt,
        tag: p.log.tag.as_deref().map(std::sync::Arc::from),
        dontlognull: p.log.dontlognull,
        separate_errors: p.log.separate_errors,
        dontlog_normal: p.log.dontlog_normal,
        unique_id,
    }
}

/// The backend's checks, with HAProxy's post-parse checks of `option external-check`.
fn build_health_check(
    p: &ProxyConf,
    idx: usize,
    global: &crate::model::Global,
    d: &mut Diagnostics,
) -> crate::model::HealthCheck {
    let mut hc = p.check.build();
    if let Some(ext) = &mut hc.external {
        let alert = |d: &mut Diagnostics, what: &str| {
            d.push(ConfigError::bare_alert(format!(
                "Proxy '{}' : 'option external-check' unable to find required '{what}'.",
                p.name
            )));
        };
        if !global.external_check {
            alert(d, "global.external-check");
        }
        if p.check.ext_command.is_none() {
            alert(d, "external-check command");
        }
        if !global.insecure_fork_wanted {
            d.push(ConfigError::bare_warning(format!(
                "Proxy '{}' : 'insecure-fork-wanted' not enabled in the global section, 'option external-check' will likely fail.",
                p.name
            )));
        }
        // HAProxy numbers proxies from 1 in declaration order; a `listen` has a listener.
        ext.proxy_id = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        ext.bind = p.binds.first().map(|b| b.addr.clone());
    }
    hc
}

fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Tcp => "tcp",
        Mode::Http => "http",
    }
}

/// HAProxy refuses an http frontend in front of a tcp backend; it upgrades a tcp frontend to
/// an http backend, which Ravelin does not do yet.
fn check_modes(fe: &ProxyConf, be: &ProxyConf, rule: &str, d: &mut Diagnostics) {
    let head = format!(
        "{} {} '{}' ({}:{}) tries to use",
        mode_str(fe.mode),
        fe.kind.type_str(),
        fe.name,
        fe.span.file,
        fe.span.line
    );
    let target = format!(
        "{} {} '{}' ({}:{}) {rule}",
        mode_str(be.mode),
        be.kind.type_str(),
        be.name,
        be.span.file,
        be.span.line
    );
    match (fe.mode, be.mode) {
        (Mode::Http, Mode::Tcp) => {
            d.push(ConfigError::bare_alert(format!("{head} incompatible {target} (see 'mode').")));
        }
        (Mode::Tcp, Mode::Http) => d.push(ConfigError::bare_alert(format!(
            "{head} {target}: upgrading a tcp stream to http is a HAProxy feature that Ravelin does not support yet."
        ))),
        (Mode::Tcp, Mode::Tcp) | (Mode::Http, Mode::Http) => {}
    }
}

/// HAProxy's "missing timeouts" warning, with its exact lines.
fn missing_timeouts(p: &ProxyConf, d: &mut Diagnostics) {
    let t = &p.timeouts;
    let fe = p.kind.has_frontend() && t.client.is_none();
    let be = p.kind.has_backend()
        && !p.servers.is_empty()
        && (t.connect.is_none()
            || (t.server.is_none() && (p.mode == Mode::Http || t.tunnel.is_none())));
    if fe || be {
        d.push(ConfigError::bare_warning(format!(
            "missing timeouts for {} '{}'.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
            p.kind.type_str(),
            p.name
        )));
    }
}

/// Copies the global settings and resolves `cpu-map` lines to one entry per thread.
fn build_global(g: GlobalConf, d: &mut Diagnostics) -> Global {
    let mut model = g.model;
    let limit = model.nbthread.unwrap_or(MAX_THREADS);
    let mut per_thread: BTreeMap<u16, Vec<u16>> = BTreeMap::new();
    for line in g.cpu_maps {
        if let (Some(max), Some(n)) = (line.explicit_max, model.nbthread) {
            if max > n {
                d.alert(
                    &line.span,
                    format!("cpu-map : thread {max} does not exist, 'nbthread' is {n}."),
                );
                continue;
            }
        }
        for (thread, cpus) in line.entries {
            if thread <= limit {
                per_thread.insert(thread, cpus);
            }
        }
    }
    model.cpu_map = per_thread
        .into_iter()
        .filter_map(|(t, cpus)| t.checked_sub(1).map(|thread| CpuMap { thread, cpus }))
        .collect();
    model
}

/// The proxy's binds with their TLS built (`bind ... ssl`), over the global
/// `ssl-default-bind-*` settings; problems in HAProxy's post-parse wording.
fn tls_binds(
    p: &ProxyConf,
    global: &crate::model::Global,
    d: &mut Diagnostics,
) -> Vec<crate::model::Bind> {
    let mut binds = p.binds.clone();
    for b in &mut binds {
        let Some(opts) = b.ssl.as_deref() else {
            continue;
        };
        let at = format!("{}:{}", b.origin.file, b.origin.line);
        let addr = match &b.addr {
            crate::model::BindAddr::Inet(a) => a.to_string(),
            crate::model::BindAddr::Unix(path) => path.display().to_string(),
            crate::model::BindAddr::Fd(n) => format!("fd@{n}"),
        };
        if !matches!(b.addr, crate::model::BindAddr::Inet(_)) {
            d.push(ConfigError::bare_alert(format!(
                "Proxy '{}': 'ssl' on bind '{addr}' at [{at}]: TLS on unix sockets and inherited fds is not supported yet by Ravelin.",
                p.name
            )));
            continue;
        }
        match crate::tls::build_bind(&opts.over(&global.ssl_default_bind), (&p.name, &addr, &at)) {
            Ok(t) => b.tls = Some(t),
            Err(e) => d.push(ConfigError::bare_alert(e)),
        }
    }
    binds
}

/// A server's TLS (`ssl` ...), or HAProxy's alert: verification is on by default and needs a
/// CA file; TLS to servers needs HTTP mode for now.
fn server_tls(
    p: &ProxyConf,
    s: &crate::config::server::ServerConf,
    d: &mut Diagnostics,
) -> Option<crate::tls::ServerTls> {
    if !s.tls.ssl {
        return None;
    }
    let at = format!(
        "[{}:{}] : 'server {}/{}'",
        s.span.file, s.span.line, p.name, s.name
    );
    if s.proxy_v1 || s.proxy_v2 {
        d.push(ConfigError::bare_alert(format!(
            "{at} : 'send-proxy' with 'ssl' is not supported yet by Ravelin (the PROXY header must precede the TLS handshake)."
        )));
        return None;
    }
    match crate::tls::build_server(&s.tls) {
        Ok(t) => Some(t),
        Err(e) => {
            d.push(ConfigError::bare_alert(format!("{at} : {e}")));
            None
        }
    }
}
