//! `show errors`: the last invalid request of each frontend and the last invalid response of
//! each backend, captured only on the HTTP parsers' error paths (nothing is copied while
//! messages are valid), printed in HAProxy 2.6's layout.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::model::{BackendId, FrontendId, ServerId};
use crate::server::SharedState;

/// One captured message.
#[derive(Clone, Debug)]
struct Capture {
    when: SystemTime,
    /// For a response: the frontend the request came through.
    frontend: Option<FrontendId>,
    /// For a response: the server.
    server: Option<ServerId>,
    event: u32,
    src: Option<SocketAddr>,
    bytes: Vec<u8>,
    error_at: usize,
}

#[derive(Debug, Default)]
struct Inner {
    requests: Vec<Option<Capture>>,
    responses: Vec<Option<Capture>>,
    events: u32,
}

/// The captures of one process, behind a mutex taken only on an error path or by the CLI.
#[derive(Debug, Default)]
pub struct Captures {
    inner: Mutex<Inner>,
}

/// At most this many bytes of a message are kept (HAProxy keeps a buffer's worth).
const MAX_CAPTURE: usize = 16384;

/// Where the message stops being valid: the first control byte other than CR/LF/HT, or a CR
/// not followed by LF (else the end).
fn error_position(b: &[u8]) -> usize {
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
pub fn capture_request(
    shared: &SharedState,
    fe: FrontendId,
    src: Option<SocketAddr>,
    bytes: &[u8],
) {
    let bytes = bytes
        .get(..bytes.len().min(MAX_CAPTURE))
        .unwrap_or_default();
    store(
        shared,
        true,
        fe.0 as usize,
        Capture {
            when: SystemTime::now(),
            frontend: None,
            server: None,
            event: 0,
            src,
            error_at: error_position(bytes),
            bytes: bytes.to_vec(),
        },
    );
}

/// An invalid response from server `srv` of backend `be`, for a request through `fe`.
pub fn capture_response(
    shared: &SharedState,
    be: BackendId,
    srv: Option<ServerId>,
    fe: FrontendId,
    src: Option<SocketAddr>,
    bytes: &[u8],
) {
    let bytes = bytes
        .get(..bytes.len().min(MAX_CAPTURE))
        .unwrap_or_default();
    store(
        shared,
        false,
        be.0 as usize,
        Capture {
            when: SystemTime::now(),
            frontend: Some(fe),
            server: srv,
            event: 0,
            src,
            error_at: error_position(bytes),
            bytes: bytes.to_vec(),
        },
    );
}

/// `clear counters all` forgets the captures too (HAProxy clears the error snapshots).
pub fn clear(shared: &SharedState) {
    let mut g = shared
        .errors
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    *g = Inner::default();
}

/// `[21/Nov/2026:14:39:05.690]` (UTC).
pub fn date(t: SystemTime, out: &mut String) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS.get((month - 1) as usize).copied().unwrap_or("Jan");
    let _ = write!(
        out,
        "[{day:02}/{mon}/{year}:{:02}:{:02}:{:02}.{:03}]",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        d.subsec_millis()
    );
}

/// HAProxy's `dump_text_line()` layout: `  00000  GET / HTTP/1.1\r\n`, a line per LF, bytes
/// outside printable ASCII as `\xHH`.
fn dump(bytes: &[u8], out: &mut String) {
    let mut start = 0;
    while start < bytes.len() {
        let _ = write!(out, "  {start:05}  ");
        let mut i = start;
        let mut width = 0;
        while let Some(&c) = bytes.get(i) {
            i += 1;
            match c {
                b'\r' => out.push_str("\\r"),
                b'\n' => {
                    out.push_str("\\n");
                    break;
                }
                b'\t' => out.push_str("\\t"),
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(char::from(c)),
                _ => {
                    let _ = write!(out, "\\x{c:02x}");
                }
            }
            width += 1;
            if width >= 72 {
                break;
            }
        }
        out.push('\n');
        start = i;
    }
}

/// `show errors [<px>] [request|response]`.
pub fn show(shared: &SharedState, _started: SystemTime, rest: &[&str], out: &mut String) {
    let model = &shared.model;
    let mut args = rest;
    let mut only_fe: Option<Option<usize>> = None;
    let mut only_be: Option<Option<usize>> = None;
    if let Some(px) = args
        .first()
        .copied()
        .filter(|a| !matches!(*a, "request" | "response"))
    {
        args = args.get(1..).unwrap_or_default();
        if px != "-1" {
            let fe = model.frontends.iter().position(|f| f.name == px);
            let be = super::state::find_backend(model, px).map(|b| b.0 as usize);
            if fe.is_none() && be.is_none() {
                out.push_str("No such proxy.\n");
                return;
            }
            only_fe = Some(fe);
            only_be = Some(be);
        }
    }
    let (want_req, want_res) = match args.first().copied() {
        Some("request") => (true, false),
        Some("response") => (false, true),
        _ => (true, true),
    };
    let g = shared
        .errors
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    out.push_str("Total events captured on [");
    let mut now = String::new();
    date(SystemTime::now(), &mut now);
    out.push_str(now.trim_start_matches('[').trim_end_matches(']'));
    let _ = writeln!(out, "] : {}", g.events);
    let bufsize = model.global.bufsize as usize;
    let fe_uid = |f: usize| {
        model
            .frontends
            .get(f)
            .and_then(|fe| fe.listen_backend)
            .map_or_else(
                || frontend_uid(shared, f),
                |b| super::state::backend_uid(model, b),
            )
    };
    let header = |out: &mut String, c: &Capture| {
        let len = c.bytes.len();
        let _ = write!(
            out,
            ", event #{}, src {}\n  buffer starts at 0 (including 0 out), {} free,\n  len {len}, wraps at {}, error at position {}\n  H1 connection flags 0x00000000, H1 stream flags 0x00000000\n  H1 msg state MSG_RQBEFORE(0), H1 msg flags 0x00000000\n  H1 chunk len 0 bytes, H1 body len 0 bytes :\n  \n",
            c.event,
            c.src.map_or("unix".to_string(), |a| a.to_string()),
            bufsize.saturating_sub(len),
            bufsize.saturating_sub(48),
            c.error_at
        );
        dump(&c.bytes, out);
    };
    if want_req {
        for (f, c) in g.requests.iter().enumerate() {
            let Some(c) = c else { continue };
            if only_fe.is_some_and(|o| o != Some(f)) {
                continue;
            }
            let name = model.frontends.get(f).map_or("?", |x| x.name.as_str());
            out.push_str(" \n");
            date(c.when, out);
            let _ = write!(
                out,
                " frontend {name} (#{}): invalid request\n  backend <NONE> (#-1), server <NONE> (#-1)",
                fe_uid(f)
            );
            header(out, c);
        }
    }
    if want_res {
        for (b, c) in g.responses.iter().enumerate() {
            let Some(c) = c else { continue };
            if only_be.is_some_and(|o| o != Some(b)) {
                continue;
            }
            let be = model.backends.get(b);
            let name = be.map_or("?", |x| x.name.as_str());
            let uid = super::state::backend_uid(model, BackendId(b as u32));
            out.push_str(" \n");
            date(c.when, out);
            let fe = c.frontend.map(|f| f.0 as usize);
            let (srv, sid) = match (be, c.server) {
                (Some(be), Some(s)) => be
                    .servers
                    .get(s.0 as usize)
                    .map_or(("<NONE>", -1), |s| (s.name.as_str(), i64::from(s.id))),
                _ => ("<NONE>", -1),
            };
            let _ = write!(
                out,
                " backend {name} (#{uid}): invalid response\n  frontend {} (#{}), server {srv} (#{sid})",
                fe.and_then(|f| model.frontends.get(f))
                    .map_or("<NONE>", |f| f.name.as_str()),
                fe.map_or(-1, |f| i64::from(fe_uid(f))),
            );
            header(out, c);
        }
    }
}

/// A frontend's proxy id (see [`super::state::backend_uid`]).
fn frontend_uid(shared: &SharedState, f: usize) -> u32 {
    let model = &shared.model;
    let Some(fe) = model.frontends.get(f) else {
        return 0;
    };
    let key = (fe.origin.file.as_str(), fe.origin.line);
    let mut before = model
        .frontends
        .iter()
        .filter(|x| (x.origin.file.as_str(), x.origin.line) < key)
        .count();
    before += model
        .backends
        .iter()
        .enumerate()
        .filter(|(i, b)| {
            !model
                .frontends
                .iter()
                .any(|x| x.listen_backend == Some(BackendId(*i as u32)))
                && (b.origin.file.as_str(), b.origin.line) < key
        })
        .count();
    before as u32 + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_escapes_like_haproxy() {
        let mut out = String::new();
        dump(b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", &mut out);
        assert_eq!(
            out,
            "  00000  GET /a\\x01b HTTP/1.1\\r\\n\n  00019  Host: x\\r\\n\n  00028  \\r\\n\n"
        );
        assert_eq!(error_position(b"GET /a\x01b"), 6);
    }

    #[test]
    fn dates() {
        let mut out = String::new();
        date(
            SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_271_640_123),
            &mut out,
        );
        assert_eq!(out, "[21/Nov/2026:14:34:00.123]");
    }
}
