//! The last invalid request of each frontend and the last invalid response of each backend,
//! captured only on the HTTP parsers' error paths (nothing is copied while messages are
//! valid); the runtime API's `show errors` (`api::errors`) prints them.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::model::{BackendId, FrontendId, ServerId};
use crate::server::SharedState;

/// One captured message.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    pub(crate) when: SystemTime,
    /// For a response: the frontend the request came through.
    pub(crate) frontend: Option<FrontendId>,
    /// For a response: the server.
    pub(crate) server: Option<ServerId>,
    pub(crate) event: u32,
    pub(crate) src: Option<SocketAddr>,
    pub(crate) bytes: Vec<u8>,
    pub(crate) error_at: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) requests: Vec<Option<Capture>>,
    pub(crate) responses: Vec<Option<Capture>>,
    pub(crate) events: u32,
}

/// The captures of one process, behind a mutex taken only on an error path or by the CLI.
#[derive(Debug, Default)]
pub(crate) struct Captures {
    inner: Mutex<Inner>,
}

impl Captures {
    /// The captures, locked (the CLI's `show errors` reads them).
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// At most this many bytes of a message are kept (HAProxy keeps a buffer's worth).
const MAX_CAPTURE: usize = 16384;

/// Where the message stops being valid: the first control byte other than CR/LF/HT, or a CR
/// not followed by LF (else the end).
pub(crate) fn error_position(b: &[u8]) -> usize {
    b.iter()
        .enumerate()
        .position(|(i, c)| {
            (*c < 0x20 && !matches!(c, b'\r' | b'\n' | b'\t'))
                || *c == 0x7f
                || (*c == b'\r' && b.get(i + 1).is_some_and(|n| *n != b'\n'))
        })
        .unwrap_or(b.len())
}

fn store(shared: &SharedState, request: bool, slot: usize, mut c: Capture) {
    let mut g = shared
        .errors
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    c.event = g.events;
    g.events = g.events.wrapping_add(1);
    let list = if request {
        &mut g.requests
    } else {
        &mut g.responses
    };
    if list.len() <= slot {
        list.resize(slot + 1, None);
    }
    if let Some(s) = list.get_mut(slot) {
        *s = Some(c);
    }
}

/// An invalid request received by frontend `fe`.
pub(crate) fn capture_request(
    shared: &SharedState,
    fe: FrontendId,
    src: Option<SocketAddr>,
    bytes: &[u8],
) {
    store(shared, true, fe.0 as usize, capture(None, None, src, bytes));
}

/// An invalid response from server `srv` of backend `be`, for a request through `fe`.
pub(crate) fn capture_response(
    shared: &SharedState,
    be: BackendId,
    srv: Option<ServerId>,
    fe: FrontendId,
    src: Option<SocketAddr>,
    bytes: &[u8],
) {
    store(
        shared,
        false,
        be.0 as usize,
        capture(Some(fe), srv, src, bytes),
    );
}

/// A capture of the first `MAX_CAPTURE` bytes of a message, taken now.
fn capture(
    frontend: Option<FrontendId>,
    server: Option<ServerId>,
    src: Option<SocketAddr>,
    bytes: &[u8],
) -> Capture {
    let bytes = bytes
        .get(..bytes.len().min(MAX_CAPTURE))
        .unwrap_or_default();
    Capture {
        when: SystemTime::now(),
        frontend,
        server,
        event: 0,
        src,
        error_at: error_position(bytes),
        bytes: bytes.to_vec(),
    }
}

/// `clear counters all` forgets the captures too (HAProxy clears the error snapshots).
pub(crate) fn clear(shared: &SharedState) {
    let mut g = shared
        .errors
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    *g = Inner::default();
}
