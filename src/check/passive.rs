//! Passive health (HAProxy's `health_adjust()`): streams report what they saw of a server
//! (`observe layer4|layer7`); `error-limit` consecutive errors trigger `on-error` on the
//! reactor that owns the server's check (a failed check, a pre-fatal one, a mark-down, or only
//! `fastinter`). Also the cross-reactor notes that kill a server's streams when it goes down
//! (`on-marked-down shutdown-sessions`) or backups' when an active server comes up
//! (`on-marked-up shutdown-backup-sessions`).
//!
//! The stream side is one relaxed load on the fast path (observing off, or a success with no
//! error counted); the error counter is an atomic of the server shared by all reactors.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::transition::{self, Why};
use crate::model::{BackendId, Model, OnError, ServerId};
use crate::server::notes::HealthNote;
use crate::server::{Admin, SharedState};
use crate::status::Observe;
use crate::status::Probe;
use crate::status::Verdict;
use crate::status::{Seen, Status};

/// A stream's report about `server`: counts consecutive errors and, at `error-limit`, sends
/// the check's reactor an [`HealthNote::Errors`].
pub(crate) fn observe(shared: &SharedState, backend: BackendId, server: ServerId, seen: Seen) {
    let Some(srv) = shared.model.backend(backend).and_then(|b| b.server(server)) else {
        return;
    };
    if srv.passive.observe == Observe::None || !srv.check.enabled {
        return;
    }
    let Some(st) = shared.server(backend, server) else {
        return;
    };
    match seen.failed(srv.passive.observe) {
        None => {}
        // A success clears the count (a load first: no write to the shared line when clear).
        Some(false) if st.consecutive_errors.load(Relaxed) != 0 => {
            st.consecutive_errors.store(0, Relaxed);
        }
        Some(false) => {}
        Some(true) => {
            let n = st.consecutive_errors.fetch_add(1, Relaxed) + 1;
            // One reporter acts on reaching the limit; the count starts over (HAProxy resets
            // it after acting).
            if n < srv.passive.error_limit
                || st
                    .consecutive_errors
                    .compare_exchange(n, 0, Relaxed, Relaxed)
                    .is_err()
            {
                return;
            }
            st.failed_hana.fetch_add(1, Relaxed);
            if let Some(r) = check_owner(&shared.model, shared.reactors(), backend, server) {
                shared.send_note(
                    r,
                    HealthNote::Errors {
                        backend,
                        server,
                        last: seen,
                        count: n,
                    },
                );
            }
        }
    }
}

/// The reactor running the check of `server` (`None`: it has no check).
pub(crate) fn check_owner(
    model: &Model,
    reactors: usize,
    backend: BackendId,
    server: ServerId,
) -> Option<usize> {
    let s = model.backend(backend)?.server(server)?;
    if !s.check.enabled {
        return None;
    }
    crate::server::notes::owner_of(model, reactors, backend.0 as usize, server.0 as usize)
}

impl super::Checks {
    /// `error-limit` was reached on a server whose check this reactor runs: HAProxy's
    /// `on-error` actions, then `fastinter` for the next run.
    pub(crate) fn on_errors(
        &mut self,
        backend: BackendId,
        server: ServerId,
        last: Seen,
        count: u32,
        ctx: &mut super::CheckCtx<'_>,
    ) {
        let Some(i) = self
            .tasks
            .iter()
            .position(|t| t.backend == backend && t.server == server && t.runs[0].is_some())
        else {
            return;
        };
        let shared = ctx.shared;
        let (Some(be), Some(st), Some(t)) = (
            shared.model.backend(backend),
            shared.server(backend, server),
            self.tasks.get_mut(i),
        ) else {
            return;
        };
        let Some(srv) = be.server(server) else {
            return;
        };
        t.fast = true;
        let fail = match (srv.passive.on_error, t.monitor.check.as_mut()) {
            (OnError::FastInter, _) | (_, None) => false,
            (OnError::FailCheck, Some(_)) => true,
            (OnError::SuddenDeath, Some(h)) => {
                if h.health > h.rise {
                    h.health = h.rise + 1;
                }
                true
            }
            (OnError::MarkDown, Some(h)) => {
                h.health = h.rise;
                true
            }
        };
        if fail {
            let maint = st.admin() == Admin::Maint;
            let rec = t
                .monitor
                .record(Probe::Check, Verdict::Failed, false, maint);
            if rec.failed {
                st.check.failed.fetch_add(1, Relaxed);
            }
            st.check.status.store(Status::Hana as u8, Relaxed);
            if let Some(h) = t.monitor.check {
                st.check.health.store(h.health, Relaxed);
            }
            if let Some(c) = rec.change {
                let mut info = String::new();
                let _ = write!(
                    info,
                    "Detected {count} consecutive errors, last one was: {}",
                    last.description()
                );
                let why = Why {
                    status: Status::Hana,
                    code: 0,
                    info: info.as_bytes(),
                    duration_ms: u64::from(st.check.duration_ms.load(Relaxed)),
                    no_reason: false,
                    cli: false,
                };
                transition::apply(shared, backend, server, c, &why, ctx.now, &mut self.line);
            }
        }
        // Bring an idle check's next run forward to `fastinter`.
        let soon = ctx.now + srv.check.fastinter;
        let idle_later = t.runs[0].as_ref().is_some_and(|r| {
            matches!(r.phase, super::Phase::Idle) && r.next_at.is_some_and(|at| at > soon)
        });
        if idle_later {
            self.arm(i * 2, soon, ctx.timers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significance_follows_haproxys_table() {
        use Observe::*;
        assert_eq!(Seen::L4Ok.failed(Layer4), Some(false));
        assert_eq!(Seen::L4Err.failed(Layer4), Some(true));
        assert_eq!(Seen::HttpSts.failed(Layer4), Option::None);
        assert_eq!(Seen::L4Ok.failed(Layer7), Option::None);
        assert_eq!(Seen::L4Err.failed(Layer7), Some(true));
        assert_eq!(Seen::HttpOk.failed(Layer7), Some(false));
        for s in [
            Seen::HttpSts,
            Seen::HttpHdrRsp,
            Seen::HttpReadError,
            Seen::HttpReadTimeout,
            Seen::HttpBrokenPipe,
        ] {
            assert_eq!(s.failed(Layer7), Some(true), "{s:?}");
            assert_eq!(s.failed(None), Option::None);
        }
        for (code, ok) in [
            (200, true),
            (404, true),
            (500, false),
            (501, true),
            (502, false),
            (505, true),
            (599, false),
        ] {
            assert_eq!(Seen::of_status(code) == Seen::HttpOk, ok, "{code}");
        }
    }

    #[test]
    fn owners_follow_the_check_assignment() {
        let text = "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             backend a\n    server a1 127.0.0.1:1 check\n    server a2 127.0.0.1:2\n    server a3 127.0.0.1:3 check\n\
             backend b\n    server b1 127.0.0.1:4 check\n";
        let loaded = crate::config::load_str("t.cfg", text).expect("config");
        let m = &loaded.model;
        let own = |b, s| check_owner(m, 2, BackendId(b), ServerId(s));
        assert_eq!(own(0, 0), Some(0));
        assert_eq!(own(0, 1), None);
        assert_eq!(own(0, 2), Some(1));
        assert_eq!(own(1, 0), Some(0));
    }

    #[test]
    fn config_messages_match_haproxy() {
        // `haproxy -c` 2.6.12 on the same lines.
        let text = "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             backend t\n    mode tcp\n    server a 127.0.0.1:80 check observe layer7\n    \
             server b 127.0.0.1:80 check observe foo\n    server c 127.0.0.1:80 check observe\n    \
             server d 127.0.0.1:80 check error-limit 0\n    server e 127.0.0.1:80 check error-limit x\n    \
             server f 127.0.0.1:80 check on-error blah\n    server g 127.0.0.1:80 check on-marked-down blah\n    \
             server h 127.0.0.1:80 check on-marked-up blah\n    server i 127.0.0.1:80 observe layer4\n    \
             server j 127.0.0.1:80 check error-limit\n    server k 127.0.0.1:80 check on-error\n";
        let alerts = match crate::config::load_str("t.cfg", text) {
            Ok(_) => Vec::new(),
            Err(e) => e.alerts,
        };
        let want = [
            "[t.cfg:7] : 'server t/a' : 'layer7' can only be used in http proxies..",
            "[t.cfg:8] : 'server t/b' : 'observe' expects one of 'none', 'layer4', 'layer7' but got 'foo'..",
            "[t.cfg:9] : 'server t/c' : 'observe' expects <mode> as argument..",
            "[t.cfg:10] : 'server t/d' : error-limit has to be > 0..",
            "[t.cfg:11] : 'server t/e' : error-limit has to be > 0..",
            "[t.cfg:12] : 'server t/f' : 'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got 'blah'..",
            "[t.cfg:13] : 'server t/g' : 'on-marked-down' expects 'shutdown-sessions' but got 'blah'..",
            "[t.cfg:14] : 'server t/h' : 'on-marked-up' expects 'shutdown-backup-sessions' but got 'blah'..",
            "[t.cfg:16] : 'server t/j' : 'error-limit' expects an integer argument..",
            "[t.cfg:17] : 'server t/k' : 'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got ''..",
        ];
        for w in want {
            assert!(
                alerts.iter().any(|l| l.ends_with(w)),
                "missing {w:?} in {alerts:#?}"
            );
        }
        assert_eq!(alerts.len(), want.len(), "{alerts:#?}");
        let ok = crate::config::load_str(
            "t.cfg",
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             backend h\n    default-server observe layer7 error-limit 2\n    \
             server a 127.0.0.1:80 check on-error sudden-death on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions\n",
        );
        let ok = ok.ok().unwrap_or_else(|| unreachable!("valid"));
        let p = ok.model.backends[0].servers[0].passive;
        assert_eq!(p.observe, Observe::Layer7);
        assert_eq!((p.error_limit, p.on_error), (2, OnError::SuddenDeath));
        assert!(p.shutdown_on_down && p.shutdown_backups_on_up);
    }
}
