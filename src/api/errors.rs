//! `show errors`: the captures of `server::errors` printed in HAProxy 2.6's layout.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::model::BackendId;
use crate::server::SharedState;
use crate::server::errors::Capture;

/// `[21/Nov/2026:14:39:05.690]` (UTC).
pub(crate) fn date(t: SystemTime, out: &mut String) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (year, month, day, ..) = crate::civil::civil(i64::try_from(secs).unwrap_or(i64::MAX));
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = usize::try_from(month.saturating_sub(1))
        .ok()
        .and_then(|m| MONTHS.get(m))
        .copied()
        .unwrap_or("Jan");
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
pub(crate) fn show(shared: &SharedState, _started: SystemTime, rest: &[&str], out: &mut String) {
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
    let g = shared.errors.lock();
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
            let uid = super::state::backend_uid(model, BackendId::from_index(b));
            out.push_str(" \n");
            date(c.when, out);
            let fe = c.frontend.map(|f| f.0 as usize);
            let (srv, sid) = match (be, c.server) {
                (Some(be), Some(s)) => be
                    .server(s)
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
                .any(|x| x.listen_backend == Some(BackendId::from_index(*i)))
                && (b.origin.file.as_str(), b.origin.line) < key
        })
        .count();
    u32::try_from(before).map_or(u32::MAX, |n| n.saturating_add(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::errors::error_position;

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
