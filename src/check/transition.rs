//! Applying a server state change, whatever decided it (an active check, an agent, passive
//! observation of traffic): the server's atomics, the queues (HAProxy's
//! `pendconn_redistribute()` when it goes down, `pendconn_grab_from_px()` when it comes up),
//! and HAProxy's `[WARNING]` / `[ALERT]` lines (`srv_update_status()`).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::health::Change;
use super::passive::HealthNote;
use super::report::{self, Status, Transition};
use crate::conn::Cause;
use crate::model::{BackendId, ServerId};
use crate::server::SharedState;

/// What a state-change line gives as its reason.
#[derive(Clone, Copy, Debug)]
pub struct Why<'a> {
    pub status: Status,
    pub code: u16,
    /// The `info: "..."` text (empty: none).
    pub info: &'a [u8],
    pub duration_ms: u64,
}

/// Applies `change` to server `srv` of backend `be` and prints HAProxy's line for it into
/// `line` (reused) and stderr.
pub fn apply(
    shared: &SharedState,
    be_id: BackendId,
    srv_id: ServerId,
    change: Change,
    why: &Why<'_>,
    now: Instant,
    line: &mut String,
) {
    let (Some(be), Some(bs)) = (
        shared.model.backends.get(be_id.0 as usize),
        shared.backend(be_id),
    ) else {
        return;
    };
    let (Some(srv), Some(st)) = (
        be.servers.get(srv_id.0 as usize),
        bs.servers.get(srv_id.0 as usize),
    ) else {
        return;
    };
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
            requeued = crate::conn::connect::dispatch_from(shared, be_id, now);
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
        },
    );
    let pid = std::process::id();
    eprintln!("[WARNING]  ({pid}) : {line}");
    if usable_before.0 + usable_before.1 > 0 && active + backups == 0 {
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
    }
}

/// Usable (new-traffic) active and backup servers of a backend, as HAProxy's
/// `srv_act`/`srv_bck`.
pub fn usable_counts(be: &crate::model::Backend, bs: &crate::server::BackendState) -> (u32, u32) {
    let mut n = (0, 0);
    for (s, x) in be.servers.iter().zip(bs.servers.iter()) {
        if x.is_usable() {
            if s.backup {
                n.1 += 1;
            } else {
                n.0 += 1;
            }
        }
    }
    n
}
