//! The advisor's text: one block per backend, then a summary line. Times are printed as
//! users write them in the configuration (`2s`, `100ms`), bounds in tenths of a second rounded
//! up (`6.0s`): the report says "at most".

use std::fmt::Write;
use std::time::Duration;

use super::{BackendAdvice, CheckTimeout, Detection, Options, Replay, requests_at_risk};

use crate::model::{Backend, CheckParams, Mode, Model};

/// A configured time as HAProxy users write it: `2s`, `100ms`.
pub(super) fn param(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A computed upper bound: tenths of a second rounded up (`6.0s`, `1.1s`), or milliseconds
/// below a second when they are not whole tenths.
pub(super) fn bound(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 && ms % 100 != 0 {
        return format!("{ms}ms");
    }
    let tenths = ms.div_ceil(100);
    format!("{}.{}s", tenths / 10, tenths % 10)
}

/// `(inter 2s + 2 × fastinter 2s)`.
fn dead_formula(p: &CheckParams) -> String {
    match p.fall.max(1) - 1 {
        0 => format!("inter {}", param(p.inter)),
        n => format!(
            "inter {} + {n} × fastinter {}",
            param(p.inter),
            param(p.fastinter)
        ),
    }
}

/// `(inter 1s + timeout check 300ms + 1 × (fastinter 100ms + 300ms))`.
fn hung_formula(p: &CheckParams, t: CheckTimeout) -> String {
    let (name, d) = match t {
        CheckTimeout::Check(d) => ("timeout check", d),
        CheckTimeout::Inter(d) => ("check bounded by inter", d),
    };
    let head = format!("inter {} + {name} {}", param(p.inter), param(d));
    match p.fall.max(1) - 1 {
        0 => head,
        n => format!(
            "{head} + {n} × (fastinter {} + {})",
            param(p.fastinter),
            param(d)
        ),
    }
}

/// `(downinter 2s + 2 × fastinter 2s)`.
fn back_formula(p: &CheckParams) -> String {
    match p.rise.max(1) - 1 {
        0 => format!("downinter {}", param(p.downinter)),
        n => format!(
            "downinter {} + {n} × fastinter {}",
            param(p.downinter),
            param(p.fastinter)
        ),
    }
}

fn dead_replay_text(be: &Backend, r: &Replay) -> String {
    match r {
        Replay::Saved { on_retry, wait } => {
            let when = if wait.is_zero() {
                "at once".to_string()
            } else {
                format!("after {} of turn-arounds", param(*wait))
            };
            format!(
                "yes (retries {} with option redispatch: retry {on_retry} goes to another \
                 server {when})",
                be.retries
            )
        }
        Replay::Lost(l) => format!("no ({l})"),
    }
}

fn hung_replay_text(r: &Replay, patience: Duration) -> String {
    match r {
        Replay::Saved { on_retry, wait } => format!(
            "yes (retry-on response-timeout with option redispatch: retry {on_retry} goes to \
             another server after {} < patience {})",
            param(*wait),
            param(patience)
        ),
        Replay::Lost(l) => format!("no ({l})"),
    }
}

/// The report of one backend, one line each, ending with a newline.
pub fn render_backend(a: &BackendAdvice<'_>, opts: &Options, spread: u32) -> String {
    let be = a.backend;
    let mut out = String::new();
    let mode = match be.mode {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
    };
    let backups = be.servers.iter().filter(|s| s.backup).count();
    let checked = be.servers.iter().filter(|s| s.check.enabled).count();
    let _ = write!(
        out,
        "{} {} ({mode}, {}, {} server{}",
        if a.listen { "listen" } else { "backend" },
        be.name,
        be.balance.keyword(),
        be.servers.len(),
        if be.servers.len() == 1 { "" } else { "s" },
    );
    if backups > 0 {
        let _ = write!(out, ", {backups} backup");
    }
    let _ = writeln!(out, ", {checked} checked)");
    let Some(w) = &a.worst else {
        let _ = writeln!(out, "  no server in rotation: nothing to fail over");
        return out;
    };
    if a.servers_differ {
        let _ = writeln!(
            out,
            "  figures for server {}, the costliest to lose (the servers differ)",
            w.server.name
        );
    }
    let p = &w.server.check;
    let jitter = if spread > 0 {
        format!(", each interval +{spread}% spread-checks")
    } else {
        String::new()
    };
    match (w.dead, w.back) {
        (Detection::After(d), Some(back)) => {
            let _ = writeln!(
                out,
                "  dead server (connection refused): out of rotation after at most {} ({}{jitter}), \
                 back after at most {} ({}{jitter})",
                bound(d),
                dead_formula(p),
                bound(back),
                back_formula(p)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  dead server (connection refused): never out of rotation: no check"
            );
        }
    }
    match w.hung {
        Detection::After(d) => {
            let _ = writeln!(
                out,
                "  hung server (accepts, never answers): out of rotation after at most {} ({}{jitter})",
                bound(d),
                hung_formula(p, w.timeout)
            );
        }
        Detection::ConnectOnly => {
            let _ = writeln!(
                out,
                "  hung server (accepts, never answers): never detected: connect-only check"
            );
        }
        Detection::NoCheck => {
            let _ = writeln!(
                out,
                "  hung server (accepts, never answers): never detected: no check"
            );
        }
    }
    let rate = opts.rate;
    let _ = match w.dead.time() {
        Some(t) => writeln!(
            out,
            "  at {rate} req/s: ~{:.0} requests sent to a dead server before it leaves rotation, \
             retried: {}",
            requests_at_risk(w.share, rate, t),
            dead_replay_text(be, &a.dead_replay)
        ),
        None => writeln!(
            out,
            "  at {rate} req/s: ~{:.0} requests/s sent to a dead server for as long as it is \
             dead, retried: {}",
            w.share * f64::from(rate),
            dead_replay_text(be, &a.dead_replay)
        ),
    };
    let _ = match w.hung.time() {
        Some(t) => writeln!(
            out,
            "  at {rate} req/s: ~{:.0} requests sent to a hung server before it leaves rotation, \
             retried: {}",
            requests_at_risk(w.share, rate, t),
            hung_replay_text(&a.hung_replay, opts.patience)
        ),
        None => writeln!(
            out,
            "  at {rate} req/s: ~{:.0} requests/s sent to a hung server for as long as it \
             hangs, retried: {}",
            w.share * f64::from(rate),
            hung_replay_text(&a.hung_replay, opts.patience)
        ),
    };
    for r in &a.risks {
        let _ = writeln!(out, "  [RISK] {r}");
    }
    if a.risks.is_empty() {
        let _ = writeln!(out, "  no risk found");
    }
    out
}

/// The whole report: every backend, a blank line between them, then a summary line.
pub fn render(model: &Model, advice: &[BackendAdvice<'_>], opts: &Options) -> String {
    let mut out = String::new();
    for a in advice {
        out.push_str(&render_backend(a, opts, model.global.spread_checks));
        out.push('\n');
    }
    let flagged = advice.iter().filter(|a| a.flagged()).count();
    if flagged == 0 {
        out.push_str(&format!(
            "no backend flagged (at {} req/s, client patience {})\n",
            opts.rate,
            param(opts.patience)
        ));
    } else {
        out.push_str(&format!(
            "{flagged} of {} backends flagged (at {} req/s, client patience {})\n",
            advice.len(),
            opts.rate,
            param(opts.patience)
        ));
    }
    out
}
