//! Check statuses (HAProxy's `HCHK_STATUS_*`, their codes and descriptions from
//! `check_statuses[]`) and the state-change lines HAProxy prints (`srv_update_status()`,
//! `srv_append_status()`), formatted into a reused `String`.

use std::fmt::Write;

use crate::status::{Change, Verdict};
use crate::status::{Probe, Status};

/// The facts a state-change line reports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transition<'a> {
    pub(crate) change: Change,
    pub(crate) backup: bool,
    pub(crate) backend: &'a str,
    pub(crate) server: &'a str,
    pub(crate) status: Status,
    pub(crate) code: u16,
    /// The `info: "..."` text (empty: none).
    pub(crate) info: &'a [u8],
    pub(crate) duration_ms: u64,
    /// Usable active and backup servers of the backend after the change.
    pub(crate) active: u32,
    pub(crate) backups: u32,
    /// Streams on the server now, and waiting in its queue.
    pub(crate) sessions: u32,
    /// Streams sent back to load balancing from the server's queue (a DOWN).
    pub(crate) requeued: u32,
    pub(crate) queued: u32,
    /// Leave the reason out (`option log-health-checks` logged it already, as HAProxy's
    /// `srv_update_status()` does).
    pub(crate) no_reason: bool,
}

/// `Server be/s1 is DOWN, reason: ..., check duration: 0ms. 1 active and 0 backup servers
/// left. 0 sessions active, 0 requeued, 0 remaining in queue.` — the text of HAProxy 2.6's
/// `[WARNING]` line (checked against the real binary), without the `[WARNING]` prefix.
pub(crate) fn transition_line(out: &mut String, t: &Transition<'_>) {
    out.clear();
    let what = match t.change {
        Change::Down => "DOWN",
        Change::Up => "UP",
        Change::Stopping => "stopping",
    };
    let backup = if t.backup { "Backup " } else { "" };
    let _ = write!(out, "{backup}Server {}/{} is {what}", t.backend, t.server);
    if !t.no_reason {
        reason(out, t.status, t.code, t.info, t.duration_ms);
    }
    let on_backup = if t.backups > 0 && t.active == 0 {
        " Running on backup."
    } else {
        ""
    };
    let _ = match t.change {
        Change::Down => write!(
            out,
            ". {} active and {} backup servers left.{on_backup} {} sessions active, {} requeued, {} remaining in queue.",
            t.active, t.backups, t.sessions, t.requeued, t.queued
        ),
        Change::Up | Change::Stopping => write!(
            out,
            ". {} active and {} backup servers online.{on_backup} {} sessions requeued, {} total in queue.",
            t.active, t.backups, t.requeued, t.queued
        ),
    };
}

/// `, reason: ..., code: N, info: "...", check duration: Nms` (HAProxy's
/// `srv_append_status()` with a check).
fn reason(out: &mut String, status: Status, code: u16, info: &[u8], duration_ms: u64) {
    let _ = write!(out, ", reason: {}", status.description());
    if status.has_code() {
        let _ = write!(out, ", code: {code}");
    }
    if !info.is_empty() {
        out.push_str(", info: \"");
        ascii_encode(out, info);
        out.push('"');
    }
    let _ = write!(out, ", check duration: {duration_ms}ms");
}

/// The health of a probe for `option log-health-checks`' `status:` field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HealthNow {
    pub(crate) health: u32,
    pub(crate) rise: u32,
    pub(crate) fall: u32,
    /// The server's configured weight is not 0 (else `DRAIN` instead of `UP`).
    pub(crate) weighted: bool,
}

/// `Health check for server be/s1 failed, reason: ..., check duration: 0ms, status: 0/2
/// DOWN` — HAProxy 2.6's `option log-health-checks` line from `set_server_check_status()`
/// (texts compared with the real binary), without the `[WARNING]` prefix and final dot.
pub(crate) fn health_line(
    out: &mut String,
    probe: Probe,
    backup: bool,
    names: (&str, &str),
    verdict: Verdict,
    why: (Status, u16, &[u8], u64),
    h: HealthNow,
) {
    out.clear();
    let _ = write!(
        out,
        "{} check for {}server {}/{} {}{}",
        match probe {
            Probe::Check => "Health",
            Probe::Agent => "Agent",
        },
        if backup { "backup " } else { "" },
        names.0,
        names.1,
        if verdict == Verdict::CondPassed {
            "conditionally "
        } else {
            ""
        },
        if verdict == Verdict::Failed {
            "failed"
        } else {
            "succeeded"
        }
    );
    reason(out, why.0, why.1, why.2, why.3);
    let up = h.health >= h.rise;
    let _ = write!(
        out,
        ", status: {}/{} {}",
        if up { h.health - h.rise + 1 } else { h.health },
        if up { h.fall } else { h.rise },
        match (up, h.weighted) {
            (true, true) => "UP",
            (true, false) => "DRAIN",
            (false, _) => "DOWN",
        }
    );
}

/// HAProxy's `chunk_asciiencode(.., '"')`: printable ASCII as is, `"` and the rest as `\xHH`.
fn ascii_encode(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'"' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t: Transition<'_>) -> String {
        let mut s = String::from("stale");
        transition_line(&mut s, &t);
        s
    }

    fn base() -> Transition<'static> {
        Transition {
            change: Change::Down,
            backup: false,
            backend: "be",
            server: "s1",
            status: Status::L4Con,
            code: 0,
            info: b"Connection refused",
            duration_ms: 0,
            active: 1,
            backups: 0,
            sessions: 0,
            requeued: 0,
            queued: 0,
            no_reason: false,
        }
    }

    #[test]
    fn lines_as_haproxy_prints_them() {
        // Every expected text below was printed by haproxy 2.6.12 in the same situation.
        assert_eq!(
            line(base()),
            "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            line(Transition {
                status: Status::L7Sts,
                code: 500,
                info: b"Internal Server Error",
                backup: true,
                backend: "b",
                server: "b3",
                active: 1,
                backups: 1,
                ..base()
            }),
            "Backup Server b/b3 is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal Server Error\", check duration: 0ms. 1 active and 1 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            line(Transition {
                server: "a",
                backend: "a",
                active: 0,
                backups: 1,
                ..base()
            }),
            "Server a/a is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            line(Transition {
                change: Change::Up,
                status: Status::L7Ok,
                code: 200,
                info: b"",
                server: "a",
                backend: "a",
                ..base()
            }),
            "Server a/a is UP, reason: Layer7 check passed, code: 200, check duration: 0ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
        assert_eq!(
            line(Transition {
                change: Change::Stopping,
                status: Status::L7OkC,
                code: 404,
                info: b"",
                duration_ms: 1,
                backend: "b404",
                server: "n1",
                ..base()
            }),
            "Server b404/n1 is stopping, reason: Layer7 check conditionally passed, code: 404, check duration: 1ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
        assert_eq!(
            line(Transition {
                status: Status::L7Tout,
                info: b"",
                duration_ms: 702,
                active: 0,
                ..base()
            }),
            "Server be/s1 is DOWN, reason: Layer7 timeout, check duration: 702ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
    }

    #[test]
    fn info_is_ascii_encoded() {
        let s = line(Transition {
            info: b"a\"b\r\xff",
            ..base()
        });
        assert!(s.contains("info: \"a\\x22b\\x0d\\xff\""), "{s}");
    }

    #[test]
    fn status_numbers_round_trip() {
        for n in 0..=16u8 {
            assert_eq!(Status::from_u8(n) as u8, n);
        }
        assert_eq!(Status::from_u8(200), Status::Ini);
    }
}
