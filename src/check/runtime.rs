//! Runtime-API changes applied by the reactor owning a server's probes (reactor 0 for a
//! server without any), so the check's health counters and the server's state change
//! together: `set server ... state|health|agent`, `enable|disable server`, and a moved
//! address (`set server ... addr`) followed by the probes.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

use super::health::{Monitor, SrvState};
use super::transition::{self, Why};
use super::{CheckCtx, Kind, Target};
use crate::server::notes::RuntimeOp;
use crate::status::Change;

use crate::model::{BackendId, ServerId};
use crate::server::Admin;

impl super::Checks {
    /// Applies a runtime-API change to server `srv` of backend `be`.
    pub(crate) fn runtime(
        &mut self,
        be: BackendId,
        srv: ServerId,
        op: RuntimeOp,
        ctx: &mut CheckCtx<'_>,
    ) {
        let shared = ctx.shared;
        let Some(st) = shared.server(be, srv) else {
            return;
        };
        let configured = shared.model.backend(be).and_then(|b| b.server(srv));
        // A server added at run time has no probe: default check parameters.
        let params = configured.map(|c| c.check.clone()).unwrap_or_default();
        let mut spare = Monitor::new(&params);
        if self
            .tasks
            .iter()
            .all(|t| t.backend != be || t.server != srv)
        {
            // No probe: the state the atomics show.
            spare.state = if !st.is_up() {
                SrvState::Stopped
            } else if st.is_nolb() {
                SrvState::Stopping
            } else {
                SrvState::Running
            };
        }
        let monitor = match self
            .tasks
            .iter_mut()
            .find(|t| t.backend == be && t.server == srv)
        {
            Some(t) => &mut t.monitor,
            None => &mut spare,
        };
        let change = match op {
            RuntimeOp::Admin(a) => {
                return transition::apply_admin(
                    shared,
                    be,
                    srv,
                    a,
                    monitor,
                    ctx.now,
                    &mut self.line,
                );
            }
            RuntimeOp::Health(c) => {
                if let Some(h) = monitor.check.as_mut() {
                    h.health = if c == Change::Down { 0 } else { h.top() };
                    st.check.health.store(h.health, Relaxed);
                }
                c
            }
            RuntimeOp::Agent(c) => {
                if let Some(h) = monitor.agent.as_mut() {
                    h.health = if c == Change::Down { 0 } else { h.top() };
                }
                let check_up = monitor.check.is_none_or(|h| h.is_up());
                match c {
                    Change::Up if !check_up => return,
                    _ => c,
                }
            }
        };
        let target = match change {
            Change::Up => SrvState::Running,
            Change::Down => SrvState::Stopped,
            Change::Stopping => SrvState::Stopping,
        };
        if monitor.state == target || st.admin() == Admin::Maint {
            monitor.state = target;
            return;
        }
        monitor.state = target;
        transition::apply(
            shared,
            be,
            srv,
            change,
            &Why::cli(),
            ctx.now,
            &mut self.line,
        );
    }

    /// Before a probe runs: follows an address changed at run time, unless the probe has an
    /// address of its own (`addr`, `agent-addr`), as HAProxy moves its checks.
    pub(super) fn follow_addr(&mut self, slot: usize, ctx: &CheckCtx<'_>) {
        let Some(t) = self.tasks.get_mut(slot / 2) else {
            return;
        };
        let Some(st) = ctx.shared.server(t.backend, t.server) else {
            return;
        };
        let g = st.addr_generation();
        if g == t.addr_gen {
            return;
        }
        t.addr_gen = g;
        let (Some((ip, port)), Some(conf)) = (
            st.runtime_addr(),
            ctx.shared
                .model
                .backend(t.backend)
                .and_then(|b| b.server(t.server)),
        ) else {
            return;
        };
        if let Some(Some(r)) = t.runs.get_mut(0) {
            if conf.check.addr.is_none() && !matches!(r.kind, Kind::External(_)) {
                if let Target::Inet(old) = r.target {
                    let port = conf.check.port.or(port).unwrap_or(old.port());
                    r.target = Target::Inet(SocketAddr::new(ip, port));
                }
            }
        }
        if let Some(Some(r)) = t.runs.get_mut(1) {
            if conf.check.agent_addr.is_none() {
                if let Target::Inet(old) = r.target {
                    r.target = Target::Inet(SocketAddr::new(ip, old.port()));
                }
            }
        }
    }

    /// The probe in `slot` was disabled at run time (`disable health|agent`).
    pub(super) fn probe_disabled(&self, slot: usize, ctx: &CheckCtx<'_>) -> bool {
        let Some(t) = self.tasks.get(slot / 2) else {
            return false;
        };
        ctx.shared.server(t.backend, t.server).is_some_and(|st| {
            if slot % 2 == 0 {
                st.check.disabled.load(Relaxed)
            } else {
                st.check.agent_disabled.load(Relaxed)
            }
        })
    }
}
