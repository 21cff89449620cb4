//! The command dispatcher: levels, arguments and HAProxy 2.6's answers, byte for byte where
//! Ravelin has the feature.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::Ctx;
use super::help;
use super::state;
use crate::reactor::Query;
use crate::server::notes::HealthNote;
use crate::server::notes::RuntimeOp;
use crate::status::Change;
use crate::term::Cause;

use crate::model::{BackendId, CliLevel, PortRule, ServerAddr, ServerId};
use crate::server::{Admin, ServerConf, ServerState};

/// One connection's CLI state.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) level: CliLevel,
    pub(crate) prompt: bool,
    pub(crate) expose_fd: bool,
    /// The payload of the current command (`cmd <<` then lines up to an empty one).
    pub(crate) payload: Option<String>,
}

/// What the connection does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// `quit`.
    Quit,
    /// `_getsocks` on an `expose-fd listeners` socket: the fd-passing protocol takes over.
    GetSocks,
}

pub(crate) use crate::stats::{StatFilter, StatForm};

/// `show stat` / `show info` flags besides the form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatFlags {
    pub(crate) desc: bool,
    pub(crate) up: bool,
    pub(crate) no_maint: bool,
}

/// `show stat`: the rows of `crate::stats`, `up` keeping only servers that are UP and
/// `no-maint` dropping servers in maintenance (`desc` is accepted; Ravelin has no
/// descriptions to add).
pub(crate) fn render_stat(
    ctx: &Ctx,
    form: StatForm,
    filter: &StatFilter,
    flags: StatFlags,
    out: &mut String,
) {
    let mut filter = filter.clone();
    filter.up_only = flags.up;
    filter.no_maint = flags.no_maint;
    crate::stats::show_stat(&ctx.shared, form, &filter, out);
}

/// `show info [typed|json]`.
pub(crate) fn render_info(ctx: &Ctx, form: StatForm, out: &mut String) {
    let mut info = crate::stats::ProcessInfo::current(&ctx.shared);
    info.start_unix = ctx
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(info.start_unix, |d| d.as_secs());
    info.hard_maxconn = ctx.hard_maxconn;
    let mut plain = String::new();
    crate::stats::show_info(&ctx.shared, &info, &mut plain);
    crate::stats::info_form(&plain, form, out);
}

const DENIED: &str = "Permission denied\n";

/// Runs one command.
pub(crate) fn execute(ctx: &Ctx, sess: &mut Session, args: &[&str], out: &mut String) -> Flow {
    match args.first().copied() {
        Some("help") => {
            help::usage(args, out);
            return Flow::Continue;
        }
        Some("prompt") => {
            sess.prompt = !sess.prompt;
            return Flow::Continue;
        }
        Some("quit") => return Flow::Quit,
        _ => {}
    }
    let Some(kw) = help::find(args) else {
        help::usage(args, out);
        return Flow::Continue;
    };
    if sess.level < kw.level {
        out.push_str(DENIED);
        return Flow::Continue;
    }
    let rest = args.get(kw.words.len()..).unwrap_or_default();
    let arg = |i: usize| rest.get(i).copied().unwrap_or_default();
    match kw.words {
        ["user"] => sess.level = CliLevel::User,
        ["operator"] => {
            if sess.level < CliLevel::Operator {
                out.push_str(DENIED);
            } else {
                sess.level = CliLevel::Operator;
            }
        }
        ["_getsocks"] => {
            // HAProxy: refused without a word on a socket lacking `expose-fd listeners`.
            return if sess.expose_fd {
                Flow::GetSocks
            } else {
                Flow::Quit
            };
        }
        ["show", "cli", "level"] => out.push_str(match sess.level {
            CliLevel::Admin => "admin\n",
            CliLevel::Operator => "operator\n",
            CliLevel::User => "user\n",
        }),
        ["show", "backend"] => state::backends(&ctx.shared.model, out),
        ["show", "servers", "state"] => {
            let only = rest.first().copied().filter(|s| !s.is_empty());
            let mut body = String::new();
            match state::servers_state(&ctx.shared, only, &mut body) {
                Ok(()) => out.push_str(&body),
                Err(e) => out.push_str(e),
            }
        }
        ["show", "info"] => {
            let (form, _) = stat_form(rest);
            render_info(ctx, form, out);
        }
        ["show", "stat"] => show_stat(ctx, rest, out),
        ["show", "sess"] => show_sess(ctx, arg(0), out),
        ["show", "errors"] => super::errors::show(&ctx.shared, ctx.started, rest, out),
        ["get", "weight"] => {
            if let Some((_, _, st, conf)) = server_arg(ctx, arg(0), out) {
                let _ = writeln!(out, "{} (initial {})", st.weight(), conf.weight);
            }
        }
        ["set", "weight"] => {
            if let Some((b, _, st, conf)) = server_arg(ctx, arg(0), out) {
                set_weight(ctx, b, st, conf.weight, arg(1), out);
            }
        }
        ["set", "server"] => set_server(ctx, rest, out),
        ["enable" | "disable", "server"] => {
            if let Some((b, s, st, _)) = server_arg(ctx, arg(0), out) {
                let a = if kw.words.first() == Some(&"enable") {
                    Admin::Ready
                } else {
                    Admin::Maint
                };
                set_admin(ctx, b, s, st, a);
            }
        }
        [verb @ ("enable" | "disable"), probe @ ("health" | "agent")] => {
            if let Some((_, _, st, conf)) = server_arg(ctx, arg(0), out) {
                let enable = *verb == "enable";
                let (configured, flag, what) = if *probe == "health" {
                    (conf.check.enabled, &st.check.disabled, "Health check")
                } else {
                    (conf.check.agent, &st.check.agent_disabled, "Agent")
                };
                if enable && !configured {
                    let _ = writeln!(
                        out,
                        "{what} was not configured on this server, cannot enable."
                    );
                } else if configured {
                    flag.store(!enable, Relaxed);
                }
            }
        }
        ["set", "maxconn", "global"] => set_maxconn_global(ctx, arg(0), out),
        ["set", "maxconn", "frontend"] => set_maxconn_frontend(ctx, arg(0), arg(1), out),
        ["set", "maxconn", "server"] => {
            if let Some((b, _, st, _)) = server_arg(ctx, arg(0), out) {
                let v = arg(1);
                if v.is_empty() {
                    out.push_str("Require <maxconn>.\n");
                } else {
                    match v.parse::<u32>() {
                        Ok(n) => {
                            st.set_maxconn(n);
                            // Waiting streams may take the new slots.
                            crate::server::queue::dispatch_from(&ctx.shared, b, Instant::now());
                        }
                        Err(_) => out.push_str("maxconn string empty or preceded by garbage"),
                    }
                }
            }
        }
        ["clear", "counters"] => {
            let all = arg(0) == "all";
            if all && sess.level < CliLevel::Admin {
                out.push_str(DENIED);
            } else {
                ctx.shared.clear_counters(all);
                if all {
                    crate::server::errors::clear(&ctx.shared);
                }
            }
        }
        ["shutdown", "session"] => shutdown_session(ctx, arg(0), out),
        ["shutdown", "sessions", "server"] => {
            if let Some((b, s, _, _)) = server_arg(ctx, arg(0), out) {
                ctx.shared.broadcast_note(HealthNote::Shutdown {
                    backend: b,
                    server: Some(s),
                    cause: Cause::Killed,
                });
            }
        }
        ["add", "server"] => add_server(ctx, rest, out),
        ["set", "ssl", "cert"] => super::tls::set_cert(ctx, arg(0), sess.payload.take(), out),
        ["commit", "ssl", "cert"] => super::tls::commit_cert(ctx, arg(0), out),
        ["abort", "ssl", "cert"] => super::tls::abort_cert(ctx, arg(0), out),
        ["del", "server"] => del_server(ctx, arg(0), out),
        _ => help::usage(args, out),
    }
    Flow::Continue
}

/// The server of `b` named `srv` (or `#id`).
fn find_server<'a>(ctx: &'a Ctx, b: BackendId, srv: &str) -> Option<(usize, ServerConf<'a>)> {
    let id = srv.strip_prefix('#').and_then(|n| n.parse::<u32>().ok());
    ctx.shared
        .servers_of(b)
        .into_iter()
        .find(|(_, s)| match id {
            Some(id) => s.id == id,
            None => s.name == srv,
        })
}

/// `BE/SRV` to its ids, state and configuration, or HAProxy's message in `out`.
fn server_arg<'a>(
    ctx: &'a Ctx,
    spec: &str,
    out: &mut String,
) -> Option<(BackendId, ServerId, &'a ServerState, ServerConf<'a>)> {
    let Some((be, srv)) = spec.split_once('/') else {
        out.push_str("Require 'backend/server'.\n");
        return None;
    };
    let Some(b) = state::find_backend(&ctx.shared.model, be) else {
        out.push_str("No such backend.\n");
        return None;
    };
    let Some((i, conf)) = find_server(ctx, b, srv) else {
        out.push_str("No such server.\n");
        return None;
    };
    let s = ServerId::from_index(i);
    Some((b, s, ctx.shared.server(b, s)?, conf))
}

/// `add server BE/SRV ADDR[:PORT] [weight N] [maxconn N] [id N] [disabled]`: fills a spare
/// slot, in maintenance (HAProxy 2.6 inherits no `default-server` setting either).
fn add_server(ctx: &Ctx, rest: &[&str], out: &mut String) {
    let arg = |i: usize| rest.get(i).copied().unwrap_or_default();
    // HAProxy answers these two without a final newline.
    let Some((be, name)) = arg(0).split_once('/') else {
        out.push_str("Require 'backend/server'.");
        return;
    };
    let model = &ctx.shared.model;
    let Some(b) = state::find_backend(model, be) else {
        out.push_str("No such backend.");
        return;
    };
    let (Some(bs), Some(bconf)) = (ctx.shared.backend(b), model.backend(b)) else {
        return;
    };
    if arg(1).is_empty() {
        out.push_str("'server' expects <name> and <addr>[:<port>] as arguments.\n");
        return;
    }
    if !bs.dynamic_weights {
        out.push_str("Backend must use a dynamic load balancing to support dynamic servers.\n");
        return;
    }
    if find_server(ctx, b, name).is_some() {
        out.push_str("Already exists a server with the same name in backend.\n");
        return;
    }
    let addr = match arg(1).parse::<std::net::SocketAddr>() {
        Ok(a) => a,
        Err(_) => match arg(1).parse::<IpAddr>() {
            // No port: the port the client connected to (shown as 0).
            Ok(ip) => std::net::SocketAddr::new(ip, 0),
            Err(_) => {
                let _ = writeln!(out, "Invalid address '{}'.", arg(1));
                return;
            }
        },
    };
    let mut conf = crate::model::Server::placeholder();
    conf.name = name.to_string();
    conf.disabled = false;
    conf.addr = ServerAddr::Inet {
        ip: addr.ip(),
        port: if addr.port() == 0 {
            PortRule::Same
        } else {
            PortRule::Fixed(addr.port())
        },
    };
    let taken: Vec<u32> = ctx.shared.servers_of(b).iter().map(|(_, s)| s.id).collect();
    conf.id = taken.iter().copied().max().unwrap_or(0) + 1;
    let mut i = 2;
    while let Some(kw) = rest.get(i).copied() {
        let val = arg(i + 1);
        match kw {
            "weight" => match val.parse::<i64>().map(u32::try_from) {
                Ok(Ok(w)) if w <= 256 => conf.weight = w,
                _ => {
                    let _ = writeln!(
                        out,
                        "weight of server {name} is not within 0 and 256 ({val}).."
                    );
                    return;
                }
            },
            "maxconn" => match val.parse::<u32>() {
                Ok(n) => conf.maxconn = n,
                Err(_) => {
                    out.push_str("'maxconn' expects an integer argument.\n");
                    return;
                }
            },
            "id" => match val.parse::<u32>() {
                Ok(n) if n > 0 && !taken.contains(&n) => conf.id = n,
                _ => {
                    let _ = writeln!(out, "'id' : custom id {val} invalid or already used.");
                    return;
                }
            },
            // Added servers start in maintenance anyway.
            "disabled" => {
                i += 1;
                continue;
            }
            "cookie" => {
                out.push_str("'cookie' option is not accepted for dynamic server\n");
                return;
            }
            "backup" => {
                conf.backup = true;
                i += 1;
                continue;
            }
            "check" | "agent-check" | "track" | "slowstart" | "ssl" | "addr" | "port"
            | "agent-port" | "agent-addr" | "agent-inter" | "agent-send" | "inter" | "rise"
            | "fall" | "maxqueue" | "minconn" => {
                let _ = writeln!(
                    out,
                    "'{kw}' option is not supported by Ravelin for dynamic servers."
                );
                return;
            }
            _ => {
                let _ = writeln!(out, "unknown keyword '{kw}'.");
                return;
            }
        }
        i += 2;
    }
    let first = bconf.servers.len();
    let slot = bs
        .servers
        .iter()
        .enumerate()
        .skip(first)
        .find(|(_, st)| st.dynamic().is_none())
        .map(|(k, _)| k);
    let Some(k) = slot else {
        let _ = writeln!(
            out,
            "No free slot: Ravelin takes at most {} added servers per backend.",
            crate::server::SPARE_SERVERS
        );
        return;
    };
    let now_ms = ctx.shared.ms(Instant::now());
    let srv_name = conf.name.clone();
    if !bs
        .servers
        .get(k)
        .is_some_and(|st| st.fill(conf, addr, now_ms))
    {
        out.push_str("Server slot taken at the same time, try again.\n");
        return;
    }
    // Picks now look at this slot too.
    bs.spares_used
        .fetch_max(k - first + 1, std::sync::atomic::Ordering::Release);
    eprintln!(
        "[NOTICE]   ({}) : CLI : 'server {}/{srv_name}' : New server registered.",
        std::process::id(),
        bconf.name
    );
    out.push_str("New server registered.\n");
}

/// `del server BE/SRV`: a server added at run time, in maintenance, with no stream and no
/// queue (HAProxy's rules; its answers have no final newline).
fn del_server(ctx: &Ctx, spec: &str, out: &mut String) {
    let Some((be, name)) = spec.split_once('/') else {
        out.push_str("Require 'backend/server'.");
        return;
    };
    let Some(b) = state::find_backend(&ctx.shared.model, be) else {
        out.push_str("No such backend.");
        return;
    };
    let Some((i, conf)) = find_server(ctx, b, name) else {
        out.push_str("No such server.");
        return;
    };
    let Some(st) = ctx.shared.server(b, ServerId::from_index(i)) else {
        return;
    };
    if st.admin() != Admin::Maint {
        out.push_str("Only servers in maintenance mode can be deleted.");
        return;
    }
    if !matches!(conf, ServerConf::Added(_)) {
        out.push_str("Only servers added at run time can be deleted by Ravelin.");
        return;
    }
    if st.conns.cur() > 0 || !st.queue.is_empty() {
        out.push_str("Server still has connections attached to it, cannot remove it.");
        return;
    }
    st.free();
    eprintln!(
        "[NOTICE]   ({}) : CLI : Server deleted.",
        std::process::id()
    );
    out.push_str("Server deleted.");
}

/// Sends an admin change to the server's reactor and waits (bounded) until it shows.
fn set_admin(ctx: &Ctx, b: BackendId, s: ServerId, st: &ServerState, a: Admin) {
    if st.admin() == a {
        return;
    }
    ctx.send_runtime(b, s, RuntimeOp::Admin(a));
    super::wait_for(|| st.admin() == a);
}

/// `set server BE/SRV ...`.
fn set_server(ctx: &Ctx, rest: &[&str], out: &mut String) {
    let arg = |i: usize| rest.get(i).copied().unwrap_or_default();
    let Some((b, s, st, conf)) = server_arg(ctx, arg(0), out) else {
        return;
    };
    match arg(1) {
        "state" => match arg(2) {
            "ready" => set_admin(ctx, b, s, st, Admin::Ready),
            "drain" => set_admin(ctx, b, s, st, Admin::Drain),
            "maint" => set_admin(ctx, b, s, st, Admin::Maint),
            _ => out.push_str("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"),
        },
        "weight" => set_weight(ctx, b, st, conf.weight, arg(2), out),
        "health" => {
            let change = match arg(2) {
                "up" => Change::Up,
                "down" => Change::Down,
                "stopping" => Change::Stopping,
                _ => {
                    out.push_str("'set server <srv> health' expects 'up', 'stopping', or 'down'.\n");
                    return;
                }
            };
            ctx.send_runtime(b, s, RuntimeOp::Health(change));
            wait_health(st, change);
        }
        "agent" => {
            if !conf.check.agent || st.check.agent_disabled.load(Relaxed) {
                out.push_str("agent checks are not enabled on this server.\n");
                return;
            }
            let change = match arg(2) {
                "up" => Change::Up,
                "down" => Change::Down,
                _ => {
                    out.push_str("'set server <srv> agent' expects 'up' or 'down'.\n");
                    return;
                }
            };
            ctx.send_runtime(b, s, RuntimeOp::Agent(change));
            wait_health(st, change);
        }
        "addr" => set_addr(st, &conf, arg(2), arg(3), arg(4), out),
        "" => out.push_str("usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n"),
        other => {
            let _ = writeln!(out, "'set server <srv> {other}' is not supported by Ravelin.");
        }
    }
}

/// Waits (bounded) for a health change a reactor applies (nothing shows in maintenance).
fn wait_health(st: &ServerState, change: Change) {
    if st.admin() == Admin::Maint {
        return;
    }
    super::wait_for(|| match change {
        Change::Up => st.is_up() && !st.is_nolb(),
        Change::Down => !st.is_up(),
        Change::Stopping => st.is_nolb() || !st.is_up(),
    });
}

/// HAProxy's `server_parse_weight_change_request()`.
fn set_weight(ctx: &Ctx, b: BackendId, st: &ServerState, iweight: u32, w: &str, out: &mut String) {
    if w.is_empty() {
        out.push_str("Require <weight> or <weight%>.\n");
        return;
    }
    let digits_end = w
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+'))))
        .map_or(w.len(), |(i, _)| i);
    let (num, suffix) = w.split_at(digits_end);
    let n: i64 = num.parse().unwrap_or(0);
    let new = if suffix.starts_with('%') {
        if n < 0 {
            out.push_str("Relative weight must be positive.\n");
            return;
        }
        (i64::from(iweight) * n.min(25600) / 100).min(256)
    } else if !(0..=256).contains(&n) {
        out.push_str("Absolute weight can only be between 0 and 256 inclusive.\n");
        return;
    } else {
        n
    };
    // 0..=256 on both paths above.
    let new = u32::try_from(new.clamp(0, 256)).unwrap_or(0);
    let dynamic = ctx.shared.backend(b).is_some_and(|bs| bs.dynamic_weights);
    if new != 0 && new != iweight && !dynamic {
        out.push_str(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
        );
        return;
    }
    st.set_weight(new);
    if new > 0 {
        // A server given weight again takes waiting streams.
        crate::server::queue::dispatch_from(&ctx.shared, b, Instant::now());
    }
}

/// `set server BE/SRV addr A [port P]` with HAProxy's `srv_update_addr_port()` answers.
fn set_addr(
    st: &ServerState,
    conf: &crate::model::Server,
    a: &str,
    kw: &str,
    p: &str,
    out: &mut String,
) {
    let by = " by 'stats socket command'\n";
    let Ok(ip) = a.parse::<IpAddr>() else {
        let _ = write!(out, "Invalid addr '{a}'{by}");
        return;
    };
    let (old_ip, old_port) = match (st.runtime_addr(), &conf.addr) {
        (Some((ip, p)), ServerAddr::Inet { port, .. }) => (
            Some(ip),
            p.or(match port {
                PortRule::Fixed(p) => Some(*p),
                _ => None,
            }),
        ),
        (None, ServerAddr::Inet { ip, port }) => (
            Some(*ip),
            match port {
                PortRule::Fixed(p) => Some(*p),
                _ => None,
            },
        ),
        (_, ServerAddr::Unix(_)) => (None, None),
    };
    let mut msg = String::new();
    let mut new_ip = old_ip;
    if old_ip == Some(ip) {
        msg.push_str("no need to change the addr");
    } else {
        let _ = write!(
            msg,
            "IP changed from '{}' to '{ip}'",
            old_ip.map_or("(none)".to_string(), |i| i.to_string())
        );
        new_ip = Some(ip);
    }
    let mut new_port = None;
    if kw == "port" {
        match p.parse::<u16>() {
            Ok(port) => {
                let _ = write!(
                    msg,
                    ", port changed from '{}' to '{port}'",
                    old_port.unwrap_or(0)
                );
                new_port = Some(port);
            }
            Err(_) => {
                let _ = write!(msg, ", problem converting port '{p}' to an int");
            }
        }
    }
    msg.push_str(by);
    if let Some(ip) = new_ip {
        if new_ip != old_ip || new_port.is_some() {
            st.set_runtime_addr(ip, new_port.or(st.runtime_addr().and_then(|(_, p)| p)));
        }
    }
    out.push_str(&msg);
}

fn set_maxconn_global(ctx: &Ctx, v: &str, out: &mut String) {
    if v.is_empty() {
        out.push_str("Expects an integer value.\n");
        return;
    }
    let n = atoi(v);
    if n > i64::from(ctx.hard_maxconn) {
        out.push_str("Value out of range.\n");
        return;
    }
    // 1..=hard_maxconn here.
    let n = u32::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(ctx.hard_maxconn);
    ctx.shared.global.set_limit(n);
    // Paused listeners may accept again.
    (0..ctx.reactors()).for_each(|r| ctx.shared.wake_reactor(r));
}

fn set_maxconn_frontend(ctx: &Ctx, name: &str, v: &str, out: &mut String) {
    if name.is_empty() {
        out.push_str("A frontend name is expected.\n");
        return;
    }
    let Some(i) = ctx
        .shared
        .model
        .frontends
        .iter()
        .position(|f| f.name == name)
    else {
        out.push_str("No such frontend.\n");
        return;
    };
    if v.is_empty() {
        out.push_str("Integer value expected.\n");
        return;
    }
    let n = atoi(v).max(0);
    if let Some(f) = ctx.shared.frontends.get(i) {
        f.conns.set_limit(u32::try_from(n).unwrap_or(u32::MAX));
    }
    (0..ctx.reactors()).for_each(|r| ctx.shared.wake_reactor(r));
}

/// C's `atoi()`: leading digits, 0 when none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let d: String = t
        .chars()
        .take_while(char::is_ascii_digit)
        .take(18)
        .collect();
    let n = d.parse::<i64>().unwrap_or(0);
    if neg { -n } else { n }
}

/// `show stat [{<iid>|<proxy>} <type> <sid>] [typed|json] [desc] [up|no-maint]`.
fn show_stat(ctx: &Ctx, rest: &[&str], out: &mut String) {
    let (form, filter, flags) = stat_args(rest);
    render_stat(ctx, form, &filter, flags, out);
}

/// The arguments of `show stat`.
fn stat_args(rest: &[&str]) -> (StatForm, StatFilter, StatFlags) {
    let mut filter = StatFilter::default();
    let mut args = rest;
    let is_flag = |a: &str| matches!(a, "typed" | "json" | "desc" | "up" | "no-maint");
    if let (Some(px), Some(kind), Some(sid)) = (rest.first(), rest.get(1), rest.get(2)) {
        if !is_flag(px) {
            if *px != "-1" {
                filter.proxy = Some((*px).to_string());
            }
            // HAProxy's atoi() gives a C int: the low 32 bits of the number.
            #[allow(clippy::cast_possible_truncation)]
            let (kind_mask, sid) = (atoi(kind) as i32, atoi(sid) as i32);
            filter.kind_mask = kind_mask;
            filter.server = (sid != -1).then_some(sid);
            args = rest.get(3..).unwrap_or_default();
        }
    }
    let (form, flags) = stat_form(args);
    (form, filter, flags)
}

fn stat_form(args: &[&str]) -> (StatForm, StatFlags) {
    let mut form = StatForm::Csv;
    let mut flags = StatFlags::default();
    for a in args {
        match *a {
            "typed" => form = StatForm::Typed,
            "json" => form = StatForm::Json,
            "desc" => flags.desc = true,
            "up" => flags.up = true,
            "no-maint" => flags.no_maint = true,
            _ => {}
        }
    }
    (form, flags)
}

/// Every reactor's streams (`show sess`), or one (`show sess ID`).
fn show_sess(ctx: &Ctx, which: &str, out: &mut String) {
    let mut all = String::new();
    let (tx, rx) = crossbeam_channel::unbounded();
    ctx.ask_all(|| Query::Sessions(tx.clone()));
    drop(tx);
    let until = Instant::now() + super::REPLY_WAIT;
    for _ in 0..ctx.reactors() {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(part) => {
                for s in &part {
                    super::session_line(&ctx.shared, s, &mut all);
                }
            }
            Err(_) => break,
        }
    }
    if which.is_empty() || which == "all" {
        out.push_str(&all);
        return;
    }
    let id = parse_id(which);
    let found = all
        .lines()
        .find(|l| id.is_some_and(|id| l.starts_with(&format!("0x{id:x}:"))));
    match found {
        Some(l) => {
            out.push_str(l);
            out.push('\n');
        }
        None => out.push_str("Session not found.\n"),
    }
}

fn parse_id(s: &str) -> Option<u64> {
    let hex = s.strip_prefix("0x").unwrap_or(s);
    u64::from_str_radix(hex, 16).ok()
}

/// `shutdown session ID`.
fn shutdown_session(ctx: &Ctx, which: &str, out: &mut String) {
    if which.is_empty() {
        out.push_str("Session pointer expected (use 'show sess').\n");
        return;
    }
    let Some(id) = parse_id(which) else {
        out.push_str("No such session (use 'show sess').\n");
        return;
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    ctx.ask_all(|| Query::Kill(id, tx.clone()));
    drop(tx);
    let until = Instant::now() + super::REPLY_WAIT;
    let mut killed = false;
    for _ in 0..ctx.reactors() {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(k) => killed |= k,
            Err(_) => break,
        }
    }
    if !killed {
        out.push_str("No such session (use 'show sess').\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_stat_arguments() {
        let (form, filter, flags) = stat_args(&["be", "4", "-1", "typed", "up"]);
        assert_eq!(form, StatForm::Typed);
        assert_eq!(
            filter,
            StatFilter {
                proxy: Some("be".into()),
                kind_mask: 4,
                server: None,
                ..StatFilter::default()
            }
        );
        assert!(flags.up && !flags.desc);
        let (form, filter, flags) = stat_args(&["json", "desc"]);
        assert_eq!(form, StatForm::Json);
        assert_eq!(filter.proxy, None);
        assert_eq!(filter.kind_mask, -1);
        assert!(flags.desc);
        let (_, filter, _) = stat_args(&["-1", "2", "3"]);
        assert_eq!(
            (filter.proxy, filter.kind_mask, filter.server),
            (None, 2, Some(3))
        );
    }

    #[test]
    fn atoi_is_cs() {
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("-5"), -5);
    }
}
