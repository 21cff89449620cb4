//! Applying a server state change, whatever decided it (an active check, an agent, passive
//! observation of traffic): the server's atomics, the queues (HAProxy's
//! `pendconn_redistribute()` when it goes down, `pendconn_grab_from_px()` when it comes up),
//! and HAProxy's `[WARNING]` / `[ALERT]` lines (`srv_update_status()`).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use std::fmt::Write as _;

use super::health::Monitor;
use super::report::{self, Transition};
use crate::server::notes::HealthNote;
use crate::status::Change;
use crate::status::Status;
use crate::term::Cause;

use crate::model::{BackendId, ServerId};
use crate::server::{Admin, SharedState};

/// What a state-change line gives as its reason.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Why<'a> {
    pub(crate) status: Status,
    pub(crate) code: u16,
    /// The `info: "..."` text (empty: none).
    pub(crate) info: &'a [u8],
    pub(crate) duration_ms: u64,
    /// `option log-health-checks` logged the reason already: leave it out.
    pub(crate) no_reason: bool,
    /// Changed by the runtime API: `, changed from CLI` instead of a check's reason.
    pub(crate) cli: bool,
}

impl Why<'_> {
    /// A change made with `set server ... health|agent` on the runtime API.
    pub(crate) fn cli() -> Why<'static> {
        Why {
            status: Status::Ini,
            code: 0,
            info: b"",
            duration_ms: 0,
            no_reason: true,
            cli: true,
        }
    }
}

/// Applies `change` to server `srv` of backend `be` and prints HAProxy's line for it into
/// `line` (reused) and stderr.
pub(crate) fn apply(
    shared: &SharedState,
    be_id: BackendId,
    srv_id: ServerId,
    change: Change,
    why: &Why<'_>,
    now: Instant,
    line: &mut String,
) {
    let (Some(be), Some(bs)) = (shared.model.backend(be_id), shared.backend(be_id)) else {
        return;
    };
    let Some(st) = bs.server(srv_id) else {
        return;
    };
    // A configured server, or one added at run time (its configuration in its spare slot).
    let Some(conf) = shared.server_conf(be_id, srv_id) else {
        return;
    };
    let srv = &*conf;
    let usable_before = usable_counts(be, bs);
    let now_ms = shared.ms(now);
    let mut requeued = 0;
    match change {
        Change::Down => {
            st.set_nolb(false);
            st.set_up(false, now_ms);
            st.check.down_transitions.fetch_add(1, Relaxed);
            // HAProxy's `pendconn_redistribute()`: with `option redispatch` (and not `option
            // persist`), streams waiting for this server go back to load balancing.
            if be.redispatch.is_some() && !be.persist {
                requeued = st
                    .queue
                    .redistribute(|t| shared.wake_stream(t.reactor, t.owner));
            }
            if srv.passive.shutdown_on_down {
                shared.broadcast_note(HealthNote::Shutdown {
                    backend: be_id,
                    server: Some(srv_id),
                    cause: Cause::Down,
                });
            }
        }
        Change::Up => {
            st.set_nolb(false);
            st.set_up(true, now_ms);
            // Streams waiting for any server may take this one now.
            requeued = crate::server::queue::dispatch_from(shared, be_id, now);
            // HAProxy: only for an active server that takes traffic (weight > 0).
            if srv.passive.shutdown_backups_on_up && !srv.backup && srv.weight > 0 {
                shared.broadcast_note(HealthNote::Shutdown {
                    backend: be_id,
                    server: None,
                    cause: Cause::Up,
                });
            }
        }
        Change::Stopping => st.set_nolb(true),
    }
    st.check.last_change_ms.store(now_ms, Relaxed);
    let (active, backups) = usable_counts(be, bs);
    bs.note_usable(active + backups > 0, now_ms);
    report::transition_line(
        line,
        &Transition {
            change,
            backup: srv.backup,
            backend: &be.name,
            server: &srv.name,
            status: why.status,
            code: why.code,
            info: why.info,
            duration_ms: why.duration_ms,
            active,
            backups,
            sessions: st.conns.cur(),
            requeued,
            queued: st.queue.len(),
            no_reason: why.no_reason,
        },
    );
    if why.cli {
        // HAProxy's `srv_update_status()` says where a forced change came from.
        let what = match change {
            Change::Down => " is DOWN",
            Change::Up => " is UP",
            Change::Stopping => " is stopping",
        };
        if let Some(at) = line.find(what) {
            line.insert_str(at + what.len(), ", changed from CLI");
        }
    }
    eprintln!("[WARNING]  ({}) : {line}", std::process::id());
    let level = if matches!(change, Change::Up) {
        crate::log::LOG_NOTICE
    } else {
        crate::log::LOG_ALERT
    };
    shared
        .logs
        .event(crate::log::sink::Source::Backend(be_id.0), level, line);
    alert_if_none_left(shared, be_id, usable_before, (active, backups));
}

/// `[ALERT] ... backend 'be' has no server available!` when the last usable server went.
fn alert_if_none_left(
    shared: &SharedState,
    be_id: BackendId,
    before: (u32, u32),
    after: (u32, u32),
) {
    let Some(be) = shared.model.backend(be_id) else {
        return;
    };
    let pid = std::process::id();
    if before.0 + before.1 > 0 && after.0 + after.1 == 0 {
        let kind = if shared
            .model
            .frontends
            .iter()
            .any(|f| f.listen_backend == Some(be_id))
        {
            "proxy"
        } else {
            "backend"
        };
        eprintln!(
            "[ALERT]    ({pid}) : {kind} '{}' has no server available!",
            be.name
        );
        shared.logs.event(
            crate::log::sink::Source::Backend(be_id.0),
            0,
            &format!("{kind} {} has no server available!", be.name),
        );
    }
}

/// Applies an administrative state an agent asked for (`ready`, `drain`, `maint`) and prints
/// haproxy 2.6's line for it (`srv_update_status()`; texts compared with the real binary):
/// `Server be/s1 is going DOWN for maintenance. ...`, `... was DOWN and now enters
/// maintenance.`, `... is UP/READY (leaving forced maintenance).`, `... enters drain state.
/// ...`, `... is UP (leaving forced drain).`
pub(crate) fn apply_admin(
    shared: &SharedState,
    be_id: BackendId,
    srv_id: ServerId,
    admin: Admin,
    monitor: &mut Monitor,
    now: Instant,
    line: &mut String,
) {
    let (Some(be), Some(bs)) = (shared.model.backend(be_id), shared.backend(be_id)) else {
        return;
    };
    let Some(st) = bs.server(srv_id) else {
        return;
    };
    // A configured server, or one added at run time (its configuration in its spare slot).
    let Some(conf) = shared.server_conf(be_id, srv_id) else {
        return;
    };
    let srv = &*conf;
    let old = st.admin();
    if old == admin {
        return;
    }
    let before = usable_counts(be, bs);
    let now_ms = shared.ms(now);
    let backup = if srv.backup { "Backup " } else { "" };
    let who = format!("{backup}Server {}/{}", be.name, srv.name);
    line.clear();
    let redistribute = || {
        if be.redispatch.is_some() && !be.persist {
            st.queue
                .redistribute(|t| shared.wake_stream(t.reactor, t.owner))
        } else {
            0
        }
    };
    match (old, admin) {
        (_, Admin::Maint) => {
            let was_up = st.is_up();
            monitor.enter_maint();
            st.set_admin(Admin::Maint, now_ms);
            st.set_up(false, now_ms);
            st.check.last_change_ms.store(now_ms, Relaxed);
            if was_up {
                st.check.down_transitions.fetch_add(1, Relaxed);
                let requeued = redistribute();
                let (a, b) = usable_counts(be, bs);
                let _ = write!(
                    line,
                    "{who} is going DOWN for maintenance. {a} active and {b} backup servers left.{} {} sessions active, {requeued} requeued, {} remaining in queue.",
                    running_on_backup(a, b),
                    st.conns.cur(),
                    st.queue.len()
                );
            } else {
                let _ = write!(line, "{who} was DOWN and now enters maintenance.");
            }
        }
        (Admin::Maint, _) => {
            let up = monitor.leave_maint();
            st.set_admin(admin, now_ms);
            st.set_up(up, now_ms);
            st.check.last_change_ms.store(now_ms, Relaxed);
            let _ = write!(
                line,
                "{who} is {}/{} (leaving forced maintenance).",
                if up { "UP" } else { "DOWN" },
                if admin == Admin::Drain {
                    "DRAIN"
                } else {
                    "READY"
                }
            );
            if up {
                crate::server::queue::dispatch_from(shared, be_id, now);
            }
        }
        (_, Admin::Drain) => {
            st.set_admin(Admin::Drain, now_ms);
            let requeued = redistribute();
            let (a, b) = usable_counts(be, bs);
            let _ = write!(
                line,
                "{who} enters drain state. {a} active and {b} backup servers online.{} {requeued} sessions requeued, {} total in queue.",
                running_on_backup(a, b),
                st.queue.len()
            );
        }
        (_, Admin::Ready) => {
            st.set_admin(Admin::Ready, now_ms);
            let _ = write!(
                line,
                "{who} is {} (leaving forced drain).",
                if st.is_up() { "UP" } else { "DOWN" }
            );
            if st.is_up() {
                crate::server::queue::dispatch_from(shared, be_id, now);
            }
        }
    }
    eprintln!("[WARNING]  ({}) : {line}", std::process::id());
    shared.logs.event(
        crate::log::sink::Source::Backend(be_id.0),
        crate::log::LOG_NOTICE,
        line,
    );
    let after = usable_counts(be, bs);
    bs.note_usable(after.0 + after.1 > 0, now_ms);
    alert_if_none_left(shared, be_id, before, after);
}

fn running_on_backup(active: u32, backups: u32) -> &'static str {
    if backups > 0 && active == 0 {
        " Running on backup."
    } else {
        ""
    }
}

/// Usable (new-traffic) active and backup servers of a backend, as HAProxy's
/// `srv_act`/`srv_bck`.
pub(crate) fn usable_counts(
    be: &crate::model::Backend,
    bs: &crate::server::BackendState,
) -> (u32, u32) {
    let mut n = (0, 0);
    for (i, x) in bs.servers.iter().enumerate() {
        if x.is_usable() {
            if crate::server::ServerState::is_backup(be, bs, i) {
                n.1 += 1;
            } else {
                n.0 += 1;
            }
        }
    }
    n
}
