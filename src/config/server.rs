//! `server` and `bind` lines: the address, then keyword parameters (sections 5.1 and 5.2).
//!
//! Server hostnames stay unresolved here ([`ServerSpec`]); the build step resolves them once.
//! A parameter HAProxy knows but Ravelin does not support ends the line with an explicit
//! alert, because its arity is unknown and guessing would report nonsense after it.

use std::time::Duration;

use crate::config::addr::{self, ServerSpec};
use crate::config::error::unsupported;
use crate::config::error::{ConfigError, Diagnostics, Head, Severity, Span};
use crate::config::keywords::{self, did_you_mean};
use crate::config::section::Section;
use crate::config::units::{TimeError, parse_i64, parse_time, parse_u32};
use crate::model::{Bind, CheckParams, InitState, Mode, OnError, Origin, Passive};
use crate::status::Observe;

/// HAProxy's `SRV_UWGHT_MAX`.
const MAX_WEIGHT: i64 = 256;

/// A `server` line as written.
#[derive(Clone, Debug)]
pub(crate) struct ServerConf {
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) spec: ServerSpec,
    pub(crate) weight: u32,
    pub(crate) maxconn: u32,
    pub(crate) backup: bool,
    pub(crate) disabled: bool,
    pub(crate) check: CheckParams,
    pub(crate) passive: Passive,
    /// `pool-max-conn`; `None` = unlimited (-1, the default).
    pub(crate) pool_max_conn: Option<u32>,
    /// `pool-purge-delay`, default 5 s.
    pub(crate) pool_purge_delay: Duration,
    pub(crate) minconn: u32,
    pub(crate) maxqueue: u32,
    pub(crate) slowstart: Duration,
    pub(crate) cookie: Option<String>,
    /// `id` as written (only on `server` lines).
    pub(crate) id: Option<u32>,
    /// `send-proxy` / `send-proxy-v2` (each reset by its `no-` form, as HAProxy's `pp_opts`
    /// bits).
    pub(crate) proxy_v1: bool,
    pub(crate) proxy_v2: bool,
    /// `ssl`, `verify`, `ca-file`, `sni`, `crt`, `alpn` as written.
    pub(crate) tls: crate::tls::ServerOpts,
    fastinter_set: bool,
    downinter_set: bool,
}

impl ServerConf {
    /// HAProxy's defaults for every server parameter: what a proxy's `default-server`
    /// template starts from.
    pub(crate) fn template() -> ServerConf {
        ServerConf {
            name: String::new(),
            span: Span::default(),
            spec: ServerSpec::Unix(std::path::PathBuf::new()),
            weight: 1,
            maxconn: 0,
            backup: false,
            disabled: false,
            check: CheckParams::default(),
            passive: Passive::default(),
            pool_max_conn: None,
            pool_purge_delay: Duration::from_secs(5),
            minconn: 0,
            maxqueue: 0,
            slowstart: Duration::ZERO,
            cookie: None,
            id: None,
            proxy_v1: false,
            proxy_v2: false,
            tls: crate::tls::ServerOpts::default(),
            fastinter_set: false,
            downinter_set: false,
        }
    }

    /// The PROXY header version sent to the server: v2 when `send-proxy-v2` is set, even
    /// with `send-proxy` (HAProxy's `make_proxy_line()` tests the v2 bit first).
    pub(crate) fn send_proxy(&self) -> Option<crate::proxyproto::Version> {
        use crate::proxyproto::Version;
        match (self.proxy_v1, self.proxy_v2) {
            (_, true) => Some(Version::V2),
            (true, false) => Some(Version::V1),
            (false, false) => None,
        }
    }
}

fn origin(span: &Span) -> Origin {
    Origin {
        file: span.file.clone(),
        line: span.line,
    }
}

/// `server NAME ADDR [params...]` in section `sec`, added to `servers` over the section's
/// `default-server` `template` (the caller checked the capability).
pub(crate) fn parse_server_line(
    sec: Section<'_>,
    servers: &mut Vec<ServerConf>,
    template: &ServerConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let bracket = |d: &mut Diagnostics, m: String| {
        d.push(ConfigError::with_head(
            Severity::Alert,
            Head::Bracket,
            span,
            m,
        ));
    };
    let (Some(name), Some(addr)) = (words.get(1), words.get(2)) else {
        return bracket(
            d,
            "'server' expects <name> and <addr>[:<port>] as arguments.".into(),
        );
    };
    let who = format!("'server {}/{name}'", sec.name);
    let spec = match addr::parse_server(addr) {
        Ok(s) => s,
        Err(e) => return bracket(d, format!("{who} : {e}")),
    };
    let mut srv = ServerConf {
        name: name.clone(),
        span: span.clone(),
        spec,
        ..template.clone()
    };
    if !parse_params(&mut srv, words, 3, &who, sec.mode, span, d) {
        return;
    }
    if srv.check.agent && srv.check.agent_port.is_none() {
        return bracket(
            d,
            format!(
                "{who} : server {name} does not have agent port. Agent check has been disabled."
            ),
        );
    }
    if let Some(prev) = servers.iter().find(|s| s.name == srv.name) {
        let msg = format!(
            "{} '{}', another server named '{}' was already defined at line {}, please use distinct names.",
            sec.kind.type_str(),
            sec.name,
            srv.name,
            prev.span.line
        );
        return d.alert(span, msg);
    }
    if let Some(id) = srv.id {
        if let Some(prev) = servers.iter().find(|s| s.id == Some(id)) {
            return bracket(
                d,
                format!(
                    "{who} : 'id' : custom id {id} already used at {}:{} ('server {}').",
                    prev.span.file, prev.span.line, prev.name
                ),
            );
        }
    }
    servers.push(srv);
}

/// `default-server [params...]`: updates the proxy's template for the servers after it.
pub(crate) fn parse_default_server_line(
    sec: Section<'_>,
    template: &mut ServerConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let mut fresh = template.clone();
    if parse_params(&mut fresh, words, 1, "'default-server'", sec.mode, span, d) {
        *template = fresh;
    }
}

/// The keyword parameters of a `server` (from `words[start]`) or `default-server` line,
/// applied over `srv`. False when a parameter was in error (alerted).
fn parse_params(
    srv: &mut ServerConf,
    words: &[String],
    start: usize,
    who: &str,
    mode: Mode,
    span: &Span,
    d: &mut Diagnostics,
) -> bool {
    let is_default = start == 1;
    let name = srv.name.clone();
    let bracket = |d: &mut Diagnostics, m: String| {
        d.push(ConfigError::with_head(
            Severity::Alert,
            Head::Bracket,
            span,
            m,
        ));
    };
    let (mut fastinter, mut downinter) = (None, None);
    let mut i = start;
    let mut ok = true;
    while let Some(kw) = words.get(i).map(String::as_str) {
        let arg = words.get(i + 1).map(String::as_str);
        if is_default && kw == "id" {
            bracket(
                d,
                "'id' option is not accepted in default-server sections".into(),
            );
            ok = false;
            i += 2;
            continue;
        }
        let mut err = |m: String| {
            bracket(d, format!("{who} : {m}"));
            ok = false;
        };
        let int_arg = |what: &str| {
            arg.and_then(parse_u32)
                .ok_or_else(|| format!("'{what}' expects an integer argument.."))
        };
        let time_arg = |what: &str| -> Result<Duration, String> {
            let a = arg.ok_or_else(|| format!("'{what}' expects a delay as argument.."))?;
            match parse_time(a) {
                Ok(t) if t.is_zero() => Err(format!(
                    "invalid value 0 for argument '{what}' of server {name}.."
                )),
                Ok(t) => Ok(t),
                Err(TimeError::Unexpected(c)) => Err(format!(
                    "unexpected character '{c}' in '{what}' argument of server {name}.."
                )),
                Err(TimeError::Empty) => Err(format!("'{what}' expects a delay as argument..")),
                Err(TimeError::Overflow) => Err(format!(
                    "timer overflow in argument <{a}> to <{what}> of server {name}, maximum value is 2147483647 ms (~24.8 days).."
                )),
                Err(TimeError::Underflow) => Err(format!(
                    "timer underflow in argument <{a}> to <{what}> of server {name}, minimum non-null value is 1 ms.."
                )),
            }
        };
        let mut used = 2;
        match kw {
            "backup" => {
                srv.backup = true;
                used = 1;
            }
            "disabled" => {
                srv.disabled = true;
                used = 1;
            }
            "enabled" => {
                srv.disabled = false;
                used = 1;
            }
            "check" => {
                srv.check.enabled = true;
                used = 1;
            }
            "no-check" => {
                srv.check.enabled = false;
                used = 1;
            }
            "no-backup" => {
                srv.backup = false;
                used = 1;
            }
            "send-proxy" | "no-send-proxy" => {
                srv.proxy_v1 = kw == "send-proxy";
                used = 1;
            }
            "send-proxy-v2" | "no-send-proxy-v2" => {
                srv.proxy_v2 = kw == "send-proxy-v2";
                used = 1;
            }
            "check-send-proxy" => {
                srv.check.send_proxy = true;
                used = 1;
            }
            "ssl" | "no-ssl" => {
                srv.tls.ssl = kw == "ssl";
                used = 1;
            }
            "verify" => match arg {
                Some("none") => srv.tls.verify = Some(crate::tls::Verify::None),
                Some("required") => srv.tls.verify = Some(crate::tls::Verify::Required),
                _ => err("'verify' : missing verify method".into()),
            },
            "sni" => match arg.and_then(|a| a.strip_prefix("str(")?.strip_suffix(')')) {
                Some(name) if !name.is_empty() => srv.tls.sni = Some(name.to_string()),
                _ => err(format!(
                    "'sni' : only 'str(NAME)' is supported yet by Ravelin (got '{}')",
                    arg.unwrap_or("")
                )),
            },
            "ca-file" => match arg {
                Some(p) => match crate::tls::certs::load_ca(std::path::Path::new(p)) {
                    Ok(c) => srv.tls.ca_file = Some((p.into(), c)),
                    Err(e) => err(format!("{e}\n'ca-file' : unable to load {p}.")),
                },
                None => err("'ca-file' : missing CAfile path".into()),
            },
            "crt" => match arg {
                Some(p) => match crate::tls::certs::load_file(std::path::Path::new(p)) {
                    Ok(c) => srv.tls.crt = Some(c),
                    Err(e) => err(e),
                },
                None => err("'crt' : missing certificate file path".into()),
            },
            "alpn" => match arg {
                Some(a) if !a.is_empty() => {
                    srv.tls.alpn = a.split(',').map(|p| p.as_bytes().to_vec()).collect();
                }
                _ => err("'alpn' : missing the comma-delimited ALPN protocol suite".into()),
            },
            "weight" => match arg.and_then(parse_i64) {
                Some(w) if (0..=MAX_WEIGHT).contains(&w) => {
                    srv.weight = u32::try_from(w).unwrap_or(1)
                }
                Some(w) => err(format!(
                    "weight of server {name} is not within 0 and {MAX_WEIGHT} ({w}).."
                )),
                None => err("'weight' expects an integer argument..".into()),
            },
            "maxconn" => match int_arg(kw) {
                Ok(n) => srv.maxconn = n,
                Err(e) => err(e),
            },
            "rise" | "fall" => match arg.and_then(parse_i64) {
                Some(n) if n > 0 => {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    if kw == "rise" {
                        srv.check.rise = n;
                    } else {
                        srv.check.fall = n;
                    }
                }
                Some(_) => err(format!("'{kw}' has to be > 0..")),
                None => err(format!("'{kw}' expects an integer argument..")),
            },
            "inter" | "fastinter" | "downinter" => match time_arg(kw) {
                Ok(t) => match kw {
                    "inter" => srv.check.inter = t,
                    "fastinter" => fastinter = Some(t),
                    _ => downinter = Some(t),
                },
                Err(e) => err(e),
            },
            "port" => match arg
                .and_then(parse_u32)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|&n| n > 0)
            {
                Some(n) => srv.check.port = Some(n),
                None => err("'port' expects a port number as argument..".into()),
            },
            "addr" => match arg {
                None => err("'addr' expects <ipv4|ipv6> as argument..".into()),
                Some(a) => match addr::parse_check_addr(a) {
                    Some(ip) => srv.check.addr = Some(ip),
                    None => err(format!("'addr' : invalid address: '{a}' in '{a}'.")),
                },
            },
            "agent-check" | "no-agent-check" => {
                srv.check.agent = kw == "agent-check";
                used = 1;
            }
            // HAProxy takes any number here (atol()); a port outside 1..65535 disables nothing
            // there either, it just never connects.
            "agent-port" => match arg.and_then(parse_i64) {
                Some(n) => srv.check.agent_port = u16::try_from(n).ok().filter(|&p| p > 0),
                None => err("'agent-port' expects a port number as argument..".into()),
            },
            "agent-inter" => match time_arg(kw) {
                Ok(t) => srv.check.agent_inter = t,
                Err(e) => err(e),
            },
            "agent-addr" => match arg {
                None => err("'agent-addr' expects an address as argument..".into()),
                Some(a) => match addr::parse_check_addr(a) {
                    Some(ip) => srv.check.agent_addr = Some(ip),
                    None => err(format!(
                        "parsing agent-addr failed. Check if '{a}' is correct address.."
                    )),
                },
            },
            "agent-send" => match arg {
                None => err("'agent-send' expects a string as argument..".into()),
                Some(a) => srv.check.agent_send = a.to_string(),
            },
            // HAProxy reads these with atol() (a word is 0); Ravelin names the mistake.
            "minconn" | "maxqueue" => match int_arg(kw) {
                Ok(n) if kw == "minconn" => srv.minconn = n,
                Ok(n) => srv.maxqueue = n,
                Err(e) => err(e),
            },
            "slowstart" => match arg.map(|a| (a, parse_time(a))) {
                None => err("'slowstart' expects a delay as argument..".into()),
                Some((_, Ok(t))) => srv.slowstart = t,
                Some((_, Err(TimeError::Unexpected(c)))) => err(format!(
                    "unexpected character '{c}' in 'slowstart' argument of server {name}.."
                )),
                Some((a, Err(e))) => err(e.message(a, "slowstart")),
            },
            "cookie" => match arg {
                Some(v) if !v.is_empty() => srv.cookie = Some(v.to_string()),
                _ => err("'cookie' expects <value> as argument..".into()),
            },
            "id" => match arg.and_then(parse_i64) {
                Some(n) if n > 0 => srv.id = u32::try_from(n).ok(),
                _ => err("'id' : custom id has to be > 0.".into()),
            },
            "init-state" => match arg {
                Some("fully-up") => srv.check.init_state = InitState::FullyUp,
                Some("up") => srv.check.init_state = InitState::Up,
                Some("down") => srv.check.init_state = InitState::Down,
                Some("fully-down") => srv.check.init_state = InitState::FullyDown,
                _ => err(
                    "'init-state' expects one of 'fully-up', 'up', 'down', or 'fully-down'.."
                        .into(),
                ),
            },
            "observe" => match arg {
                Some("none") => srv.passive.observe = Observe::None,
                Some("layer4") => srv.passive.observe = Observe::Layer4,
                Some("layer7") if mode == Mode::Http => srv.passive.observe = Observe::Layer7,
                Some("layer7") => err("'layer7' can only be used in http proxies..".into()),
                Some(o) => err(format!(
                    "'observe' expects one of 'none', 'layer4', 'layer7' but got '{o}'.."
                )),
                None => err("'observe' expects <mode> as argument..".into()),
            },
            "error-limit" => match arg.map(parse_i64) {
                None => err("'error-limit' expects an integer argument..".into()),
                // HAProxy reads it with atoi(): a word is 0.
                Some(n) => match n.and_then(|n| u32::try_from(n).ok()).filter(|&n| n > 0) {
                    Some(n) => srv.passive.error_limit = n,
                    None => err("error-limit has to be > 0..".into()),
                },
            },
            "on-error" => match arg.unwrap_or("") {
                "fastinter" => srv.passive.on_error = OnError::FastInter,
                "fail-check" => srv.passive.on_error = OnError::FailCheck,
                "sudden-death" => srv.passive.on_error = OnError::SuddenDeath,
                "mark-down" => srv.passive.on_error = OnError::MarkDown,
                o => err(format!(
                    "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '{o}'.."
                )),
            },
            "on-marked-down" => match arg.unwrap_or("") {
                "shutdown-sessions" => srv.passive.shutdown_on_down = true,
                o => err(format!(
                    "'on-marked-down' expects 'shutdown-sessions' but got '{o}'.."
                )),
            },
            "on-marked-up" => match arg.unwrap_or("") {
                "shutdown-backup-sessions" => srv.passive.shutdown_backups_on_up = true,
                o => err(format!(
                    "'on-marked-up' expects 'shutdown-backup-sessions' but got '{o}'.."
                )),
            },
            "pool-max-conn" => match arg.filter(|a| !a.is_empty()).map(|a| (a, parse_i64(a))) {
                None => err("'pool-max-conn' expects <value> as argument..".into()),
                // Stricter than HAProxy, which reads a non-number as 0 (atol).
                Some((a, None)) => err(format!(
                    "'pool-max-conn' expects an integer argument (got '{a}').."
                )),
                Some((_, Some(n))) if n < -1 => err("'pool-max-conn' must be >= -1.".into()),
                Some((_, Some(n))) => {
                    srv.pool_max_conn = u32::try_from(n).ok();
                }
            },
            "pool-purge-delay" => match arg.map(|a| (a, parse_time(a))) {
                None => err("'pool-purge-delay' expects <value> as argument..".into()),
                Some((_, Ok(t))) => srv.pool_purge_delay = t,
                Some((_, Err(TimeError::Unexpected(c)))) => err(format!(
                    "unexpected character '{c}' in argument to <pool-purge-delay>.."
                )),
                Some((a, Err(e))) => err(e.message(a, "pool-purge-delay")),
            },
            _ if keywords::is_server(kw) => {
                err(unsupported(kw));
                break;
            }
            _ => {
                let s = keywords::suggest_server(kw);
                err(match s {
                    Some(_) => format!("unknown keyword '{kw}'{}", did_you_mean(s)),
                    None => format!("unknown keyword '{kw}'."),
                });
                break;
            }
        }
        i += used;
    }
    // `fastinter` and `downinter` default to `inter`, wherever each was set.
    if let Some(t) = fastinter {
        srv.fastinter_set = true;
        srv.check.fastinter = t;
    }
    if let Some(t) = downinter {
        srv.downinter_set = true;
        srv.check.downinter = t;
    }
    if !srv.fastinter_set {
        srv.check.fastinter = srv.check.inter;
    }
    if !srv.downinter_set {
        srv.check.downinter = srv.check.inter;
    }
    ok
}

/// `bind ADDR[,ADDR...] [params...]` in a frontend or listen section named `section`.
pub(crate) fn parse_bind_line(
    binds: &mut Vec<Bind>,
    section: &str,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let Some(spec) = words.get(1) else {
        return d.alert(
            span,
            "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.",
        );
    };
    let addrs = match addr::parse_bind(spec) {
        Ok(a) => a,
        Err(e) => return d.alert(span, format!("'bind' : {e}")),
    };
    let who = format!("'bind {spec}' in section '{section}'");
    let mut template = Bind {
        origin: origin(span),
        addr: crate::model::BindAddr::Fd(-1),
        name: None,
        backlog: None,
        maxconn: None,
        v6only: None,
        ssl: None,
        tls: None,
        accept_proxy: false,
    };
    let mut tls = crate::tls::BindOpts::default();
    let mut i = 2;
    while let Some(kw) = words.get(i).map(String::as_str) {
        let arg = words.get(i + 1).map(String::as_str);
        match super::tls::bind_keyword(&mut tls, kw, arg) {
            Some(Ok(n)) => {
                i += n;
                continue;
            }
            Some(Err(e)) => {
                // HAProxy reports a CA file it cannot open in two alerts.
                match e.split_once('\n') {
                    Some((bare, rest)) => {
                        d.push(super::error::ConfigError::bare_alert(bare.to_string()));
                        d.alert(span, format!("{who} : {rest}"));
                    }
                    None => d.alert(span, format!("{who} : {e}")),
                }
                return;
            }
            None => {}
        }
        let mut used = 2;
        let value = |min: i64, rel: &str| -> Result<u32, String> {
            let a = arg.ok_or_else(|| format!("'{kw}' : missing value"))?;
            match parse_i64(a) {
                Some(n) if n >= min => u32::try_from(n)
                    .map_err(|_| format!("'{kw}' : invalid value {n}, must be {rel}")),
                Some(n) => Err(format!("'{kw}' : invalid value {n}, must be {rel}")),
                None => Err(format!(
                    "'{kw}' : invalid value '{a}', must be an integer {rel}"
                )),
            }
        };
        let res: Result<(), String> = match kw {
            "name" => match arg {
                Some(n) => {
                    template.name = Some(n.to_string());
                    Ok(())
                }
                None => Err("'name' : missing name".into()),
            },
            "backlog" => value(1, "> 0").map(|n| template.backlog = Some(n)),
            "maxconn" => value(0, ">= 0").map(|n| template.maxconn = Some(n)),
            "v4v6" => {
                used = 1;
                template.v6only = Some(false);
                Ok(())
            }
            "v6only" => {
                used = 1;
                template.v6only = Some(true);
                Ok(())
            }
            "accept-proxy" => {
                used = 1;
                template.accept_proxy = true;
                Ok(())
            }
            _ if keywords::is_bind(kw) => {
                d.alert(span, format!("{who} : {}", unsupported(kw)));
                return;
            }
            _ => {
                let s = keywords::suggest_bind(kw);
                let tail = if s.is_some() {
                    did_you_mean(s)
                } else {
                    ".".to_string()
                };
                d.alert(span, format!("{who}: unknown keyword '{kw}'{tail}"));
                return;
            }
        };
        if let Err(e) = res {
            return d.alert(span, format!("{who} : {e}"));
        }
        i += used;
    }
    if tls.ssl {
        template.ssl = Some(Box::new(tls));
    }
    for a in addrs {
        binds.push(Bind {
            addr: a,
            ..template.clone()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::addr::Host;

    use crate::model::{BindAddr, PortRule};

    fn words(l: &str) -> Vec<String> {
        l.split_whitespace().map(String::from).collect()
    }

    fn servers(lines: &[&str]) -> (Vec<ServerConf>, Vec<String>) {
        let mut d = Diagnostics::default();
        let mut p = crate::config::parser::tests_support::backend("be");
        let name = p.name.clone();
        let sec = Section {
            kind: p.kind,
            name: &name,
            mode: p.mode,
        };
        for (i, l) in lines.iter().enumerate() {
            parse_server_line(
                sec,
                &mut p.servers,
                &p.default_server,
                &words(l),
                &Span::new("s.cfg", u32::try_from(i + 1).unwrap_or(0)),
                &mut d,
            );
        }
        (p.servers, d.items.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn server_params() {
        let (s, e) = servers(&[
            "server s1 10.0.0.1:80 weight 10 maxconn 100 backup disabled check inter 5s rise 4 fall 5 port 8080 addr 10.0.0.2",
            "server s2 10.0.0.1 check inter 1s fastinter 500 downinter 3s",
            "server s3 10.0.0.1:80",
        ]);
        assert_eq!(e, Vec::<String>::new());
        let s1 = s.first().cloned();
        let Some(s1) = s1 else { return };
        assert_eq!(s1.weight, 10);
        assert_eq!(s1.maxconn, 100);
        assert!(s1.backup && s1.disabled && s1.check.enabled);
        assert_eq!(s1.check.inter, Duration::from_secs(5));
        assert_eq!(s1.check.fastinter, Duration::from_secs(5));
        assert_eq!(s1.check.downinter, Duration::from_secs(5));
        assert_eq!((s1.check.rise, s1.check.fall), (4, 5));
        assert_eq!(s1.check.port, Some(8080));
        assert_eq!(s1.check.addr, "10.0.0.2".parse().ok());
        assert_eq!(
            s1.spec,
            ServerSpec::Inet {
                host: Host::Ip([10, 0, 0, 1].into()),
                port: PortRule::Fixed(80)
            }
        );
        let s2 = s.get(1).map(|s| s.check.clone()).unwrap_or_default();
        assert_eq!(s2.fastinter, Duration::from_millis(500));
        assert_eq!(s2.downinter, Duration::from_secs(3));
        let s3 = s
            .get(2)
            .map(|s| (s.weight, s.check.clone()))
            .unwrap_or_default();
        assert_eq!(s3, (1, CheckParams::default()));
    }

    #[test]
    fn server_errors_match_haproxy() {
        let (_, e) = servers(&[
            "server s1 127.0.0.1:8000 weight 300",
            "server s2 127.0.0.1:8002 bogus",
            "server s3 1.2.3.4:80 wieght 3",
            "server s4 1.2.3.4:80 rise 0",
            "server s5 1.2.3.4:80 inter",
            "server s6 1.2.3.4:80 inter 0",
            "server s7 1.2.3.4:80 port",
            "server s8 1.2.3.4:80 addr",
            "server s9 1.2.3.4:80 addr foo.invalid",
            "server s10 1.2.3.4:99999",
            "server s11",
            "server s12 1.2.3.4:80 ssl verify none",
            "server s13 1.2.3.4:80 inter 1x",
            "server s14 1.2.3.4:80",
            "server s14 1.2.3.4:81",
        ]);
        assert_eq!(
            e,
            vec![
                "[s.cfg:1] : 'server be/s1' : weight of server s1 is not within 0 and 256 (300)..",
                "[s.cfg:2] : 'server be/s2' : unknown keyword 'bogus'.",
                "[s.cfg:3] : 'server be/s3' : unknown keyword 'wieght'; did you mean 'weight' maybe ?",
                "[s.cfg:4] : 'server be/s4' : 'rise' has to be > 0..",
                "[s.cfg:5] : 'server be/s5' : 'inter' expects a delay as argument..",
                "[s.cfg:6] : 'server be/s6' : invalid value 0 for argument 'inter' of server s6..",
                "[s.cfg:7] : 'server be/s7' : 'port' expects a port number as argument..",
                "[s.cfg:8] : 'server be/s8' : 'addr' expects <ipv4|ipv6> as argument..",
                "[s.cfg:9] : 'server be/s9' : 'addr' : invalid address: 'foo.invalid' in 'foo.invalid'.",
                "[s.cfg:10] : 'server be/s10' : invalid port '99999'",
                "[s.cfg:11] : 'server' expects <name> and <addr>[:<port>] as arguments.",
                "[s.cfg:13] : 'server be/s13' : unexpected character 'x' in 'inter' argument of server s13..",
                "parsing [s.cfg:15] : backend 'be', another server named 's14' was already defined at line 14, please use distinct names.",
            ]
        );
    }

    #[test]
    fn send_proxy_keywords() {
        use crate::proxyproto::Version;
        let mut d = Diagnostics::default();
        let mut p = crate::config::parser::tests_support::backend("be");
        let name = p.name.clone();
        let sec = Section {
            kind: p.kind,
            name: &name,
            mode: p.mode,
        };
        let span = Span::new("s.cfg", 1);
        parse_default_server_line(
            sec,
            &mut p.default_server,
            &words("default-server send-proxy"),
            &span,
            &mut d,
        );
        for l in [
            "server s1 10.0.0.1:80",
            "server s2 10.0.0.1:80 no-send-proxy",
            "server s3 10.0.0.1:80 send-proxy-v2",
            "server s4 10.0.0.1:80 no-send-proxy send-proxy-v2 no-send-proxy-v2",
            "server s5 10.0.0.1:80 check-send-proxy check port 81",
        ] {
            parse_server_line(
                sec,
                &mut p.servers,
                &p.default_server,
                &words(l),
                &span,
                &mut d,
            );
        }
        parse_default_server_line(
            sec,
            &mut p.default_server,
            &words("default-server no-send-proxy"),
            &span,
            &mut d,
        );
        parse_server_line(
            sec,
            &mut p.servers,
            &p.default_server,
            &words("server s6 10.0.0.1:80"),
            &span,
            &mut d,
        );
        assert!(d.items.is_empty(), "{:?}", d.items);
        let got: Vec<Option<Version>> = p.servers.iter().map(|s| s.send_proxy()).collect();
        assert_eq!(
            got,
            vec![
                Some(Version::V1),
                None,
                Some(Version::V2),
                None,
                Some(Version::V1),
                None
            ]
        );
        assert_eq!(
            p.servers.get(4).map(|s| s.check.send_proxy),
            Some(true),
            "check-send-proxy"
        );
    }

    fn binds(l: &str) -> (Vec<Bind>, Vec<String>) {
        let mut d = Diagnostics::default();
        let mut b = Vec::new();
        parse_bind_line(
            &mut b,
            "frontend",
            &words(l),
            &Span::new("b.cfg", 1),
            &mut d,
        );
        (b, d.items.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn bind_params() {
        let (b, e) = binds("bind 127.0.0.1:80-81,[::1]:90 name web backlog 10 maxconn 20 v6only");
        assert_eq!(e, Vec::<String>::new());
        assert_eq!(b.len(), 3);
        for x in &b {
            assert_eq!(x.name.as_deref(), Some("web"));
            assert_eq!(
                (x.backlog, x.maxconn, x.v6only),
                (Some(10), Some(20), Some(true))
            );
        }
        assert_eq!(
            b.get(2).map(|x| x.addr.clone()),
            Some(BindAddr::Inet(
                "[::1]:90"
                    .parse()
                    .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into())
            ))
        );
        let (b, _) = binds("bind :80 v4v6");
        assert_eq!(b.first().and_then(|x| x.v6only), Some(false));
        assert_eq!(b.first().map(|x| x.accept_proxy), Some(false));
        let (b, e) = binds("bind 127.0.0.1:80,127.0.0.1:81 accept-proxy name p");
        assert_eq!(e, Vec::<String>::new());
        assert!(b.len() == 2 && b.iter().all(|x| x.accept_proxy));
    }

    #[test]
    fn bind_errors_match_haproxy() {
        let e = |l: &str| binds(l).1.first().cloned().unwrap_or_default();
        assert_eq!(
            e("bind 127.0.0.1:99999"),
            "parsing [b.cfg:1] : 'bind' : invalid port '99999'"
        );
        assert_eq!(
            e("bind"),
            "parsing [b.cfg:1] : 'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments."
        );
        assert_eq!(
            e("bind 1.2.3.4:80 foo"),
            "parsing [b.cfg:1] : 'bind 1.2.3.4:80' in section 'frontend': unknown keyword 'foo'; did you mean 'tfo' maybe ?"
        );
        assert_eq!(
            e("bind 1.2.3.4:80 backlog"),
            "parsing [b.cfg:1] : 'bind 1.2.3.4:80' in section 'frontend' : 'backlog' : missing value"
        );
        assert_eq!(
            e("bind :80 name"),
            "parsing [b.cfg:1] : 'bind :80' in section 'frontend' : 'name' : missing name"
        );
        assert_eq!(
            e("bind 1.2.3.4:80 maxconn -1"),
            "parsing [b.cfg:1] : 'bind 1.2.3.4:80' in section 'frontend' : 'maxconn' : invalid value -1, must be >= 0"
        );
        assert_eq!(
            e("bind 1.2.3.4:80 backlog -3"),
            "parsing [b.cfg:1] : 'bind 1.2.3.4:80' in section 'frontend' : 'backlog' : invalid value -3, must be > 0"
        );
        // Checked against haproxy 2.6: a flag takes no argument.
        assert_eq!(
            e("bind 1.2.3.4:80 accept-proxy foo"),
            "parsing [b.cfg:1] : 'bind 1.2.3.4:80' in section 'frontend': unknown keyword 'foo'; did you mean 'tfo' maybe ?"
        );
        assert_eq!(
            e("bind :80 ssl crt /x"),
            "parsing [b.cfg:1] : 'bind :80' in section 'frontend' : unable to stat SSL certificate from file '/x' : No such file or directory."
        );
    }
}
