//! Read-only dumps: `show servers state` (HAProxy's version-1 format, read back by
//! `server-state-file`), `show backend`, `get weight`, and the proxy ids HAProxy numbers
//! proxies with.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use crate::status::Status;

use crate::model::{BackendId, Model, PortRule, ServerAddr};
use crate::server::{Admin, SharedState};

/// The header of `show servers state`, version 1.
pub(crate) const SERVERS_STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

/// HAProxy's proxy ids (`uuid`): every frontend, listen and backend in declaration order,
/// from 2 (haproxy 2.6 numbers the first user proxy 2). A listen's backend has its id.
pub(crate) fn backend_uid(model: &Model, be: BackendId) -> u32 {
    let mut proxies: Vec<(&str, u32, Option<usize>)> = Vec::new();
    for fe in &model.frontends {
        proxies.push((
            &fe.origin.file,
            fe.origin.line,
            fe.listen_backend.map(|b| b.0 as usize),
        ));
    }
    for (i, b) in model.backends.iter().enumerate() {
        if !model
            .frontends
            .iter()
            .any(|f| f.listen_backend == Some(BackendId::from_index(i)))
        {
            proxies.push((&b.origin.file, b.origin.line, Some(i)));
        }
    }
    proxies.sort_by_key(|(f, l, _)| (*f, *l));
    proxies
        .iter()
        .position(|(_, _, b)| *b == Some(be.0 as usize))
        .map_or(0, |p| {
            u32::try_from(p).map_or(u32::MAX, |n| n.saturating_add(2))
        })
}

/// A backend by name or `#id`.
pub(crate) fn find_backend(model: &Model, name: &str) -> Option<BackendId> {
    if let Some(id) = name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok()) {
        return (0..model.backends.len())
            .map(BackendId::from_index)
            .find(|b| backend_uid(model, *b) == id);
    }
    model
        .backends
        .iter()
        .position(|b| b.name == name)
        .map(BackendId::from_index)
}

/// HAProxy's `HCHK_STATUS_*` number of a check status.
fn haproxy_status(s: Status) -> u32 {
    match s {
        Status::Ini => 1,
        Status::Checked => 3,
        Status::Hana => 4,
        Status::SockErr => 5,
        Status::L4Ok => 6,
        Status::L4Tout => 7,
        Status::L4Con => 8,
        Status::L6Ok => 9,
        Status::L6Tout => 10,
        Status::L6Rsp => 11,
        Status::L7Tout => 12,
        Status::L7Rsp => 13,
        Status::L7Ok => 14,
        Status::L7OkC => 15,
        Status::L7Sts => 16,
        Status::ProcErr => 17,
        Status::ProcTout => 18,
        Status::ProcOk => 19,
    }
}

/// HAProxy's `CHK_RES_*` of a status.
fn haproxy_result(s: Status) -> u32 {
    use crate::status::Verdict;
    match (s, s.verdict()) {
        (Status::Ini, _) => 0,
        (_, Verdict::Neutral) => 1,
        (_, Verdict::Failed) => 2,
        (_, Verdict::Passed) => 3,
        (_, Verdict::CondPassed) => 4,
    }
}

/// `show servers state [BACKEND]`; `Err` with HAProxy's message for an unknown backend.
pub(crate) fn servers_state(
    shared: &SharedState,
    only: Option<&str>,
    out: &mut String,
) -> Result<(), &'static str> {
    let model = &shared.model;
    let only = match only {
        Some(name) => Some(find_backend(model, name).ok_or("Can't find backend.\n")?),
        None => None,
    };
    out.push_str(SERVERS_STATE_HEADER);
    let now_ms = shared.ms(std::time::Instant::now());
    for (bi, be) in model.backends.iter().enumerate() {
        let bid = BackendId::from_index(bi);
        if only.is_some_and(|o| o != bid) {
            continue;
        }
        let Some(bs) = shared.backend(bid) else {
            continue;
        };
        let uid = backend_uid(model, bid);
        for (i, srv) in shared.servers_of(bid) {
            let Some(st) = bs.servers.get(i) else {
                continue;
            };
            let (ip, port) = match &srv.addr {
                ServerAddr::Inet { ip, port } => (
                    ip.to_string(),
                    match port {
                        PortRule::Fixed(p) => *p,
                        _ => 0,
                    },
                ),
                ServerAddr::Unix(p) => (p.display().to_string(), 0),
            };
            let (ip, port) = match st.runtime_addr() {
                Some((a, p)) => (a.to_string(), p.unwrap_or(port)),
                None => (ip, port),
            };
            let op = if !st.is_running() {
                0
            } else if st.is_nolb() {
                3
            } else {
                2
            };
            let admin = match st.admin() {
                Admin::Ready => 0,
                Admin::Drain => 8,
                Admin::Maint if srv.disabled && st.config_maint() => 5,
                Admin::Maint => 1,
            };
            let checked = srv.check.enabled;
            let status = Status::from_u8(st.check.status.load(Relaxed));
            let (chk_status, chk_result) = if checked {
                (haproxy_status(status), haproxy_result(status))
            } else {
                (1, 0)
            };
            let health = if checked {
                st.check.health.load(Relaxed)
            } else if st.is_running() {
                srv.check.rise.max(1)
            } else {
                0
            };
            let paused = if srv.disabled && st.admin() == Admin::Maint && st.config_maint() {
                8
            } else {
                0
            };
            let chk_state = if checked {
                2 | if st.check.disabled.load(Relaxed) {
                    0
                } else {
                    4
                } | paused
            } else {
                paused
            };
            let agent_state = if srv.check.agent {
                0x12 | if st.check.agent_disabled.load(Relaxed) {
                    0
                } else {
                    4
                }
            } else {
                0
            };
            let since = now_ms.saturating_sub(st.check.last_change_ms.load(Relaxed)) / 1000;
            let opt_ip = |a: Option<std::net::IpAddr>| a.map_or("-".to_string(), |a| a.to_string());
            let _ = writeln!(
                out,
                "{uid} {} {} {} {ip} {op} {admin} {} {} {since} {chk_status} {chk_result} {health} {chk_state} {agent_state} 0 0 - {port} - 0 {} {} {} {}",
                be.name,
                srv.id,
                srv.name,
                st.weight(),
                srv.weight,
                srv.check.port.unwrap_or(0),
                opt_ip(srv.check.addr),
                opt_ip(srv.check.agent_addr),
                srv.check.agent_port.unwrap_or(0),
            );
        }
    }
    Ok(())
}

/// `show backend`.
pub(crate) fn backends(model: &Model, out: &mut String) {
    out.push_str("# name\n");
    for be in &model.backends {
        out.push_str(&be.name);
        out.push('\n');
    }
}
