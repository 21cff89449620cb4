//! The messages about servers that cross reactors: health notes (passive-health error counts,
//! session shutdowns, runtime-API changes for the reactor owning a server's probes) and the
//! runtime operations they carry. Plain values; who sends and who applies them is above.

use crate::ids::{BackendId, ServerId};
use crate::model::Model;
use crate::server::Admin;
use crate::status::{Change, Seen};
use crate::term::Cause;

/// A message to one reactor about server health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HealthNote {
    /// `error-limit` consecutive errors on a server: for the reactor owning its check.
    Errors {
        backend: BackendId,
        server: ServerId,
        last: Seen,
        count: u32,
    },
    /// Close every stream holding a slot of `server` (or, when `None`, of any backup server
    /// of the backend), ending them with `cause` (`D` or `U`).
    Shutdown {
        backend: BackendId,
        server: Option<ServerId>,
        cause: Cause,
    },
    /// A runtime-API change, for the reactor owning the server's probes (reactor 0 when it
    /// has none).
    Runtime {
        backend: BackendId,
        server: ServerId,
        op: RuntimeOp,
    },
}

/// What the runtime API asks for one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuntimeOp {
    /// `set server ... state ready|drain|maint`, `enable|disable server`.
    Admin(Admin),
    /// `set server ... health up|down|stopping`.
    Health(Change),
    /// `set server ... agent up|down`.
    Agent(Change),
}

/// The reactor owning the probes (check, agent) of server `si` of backend `bi`: the k-th
/// server of the model with a check or an agent belongs to reactor `k % reactors`. `None`:
/// the server has neither.
pub(crate) fn owner_of(model: &Model, reactors: usize, bi: usize, si: usize) -> Option<usize> {
    let probed = |s: &crate::model::Server| s.check.enabled || s.check.agent;
    let backend = model.backends.get(bi)?;
    let target = backend.servers.get(si)?;
    if !probed(target) {
        return None;
    }
    let before: usize = model
        .backends
        .iter()
        .take(bi)
        .map(|b| b.servers.iter().filter(|s| probed(s)).count())
        .sum();
    let k = before
        + backend
            .servers
            .iter()
            .take(si)
            .filter(|s| probed(s))
            .count();
    Some(k % reactors.max(1))
}
