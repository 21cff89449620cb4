//! The words of health: HAProxy's check statuses (`HCHK_STATUS_*` with their codes and
//! descriptions), what a check concludes, the state changes it causes, which probe spoke, and
//! what a stream saw of a server for passive health (`HANA_STATUS_*`). Plain values: the
//! configuration, the shared state, the stats and the checks all name them.

/// The outcome of one check. The numbers are what `ServerState::check.status` stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Not checked yet (`INI`).
    Ini = 0,
    SockErr = 1,
    L4Ok = 2,
    L4Tout = 3,
    L4Con = 4,
    L7Tout = 5,
    L7Rsp = 6,
    L7Ok = 7,
    L7OkC = 8,
    L7Sts = 9,
    L6Ok = 10,
    L6Tout = 11,
    L6Rsp = 12,
    /// An agent reply that changes no health (`CHECKED`, "No status change").
    Checked = 13,
    /// An external check's command exited with a non-zero status (or could not run).
    ProcErr = 14,
    /// An external check's command was killed after the timeout.
    ProcTout = 15,
    ProcOk = 16,
    /// Passive health reached `error-limit` (`HANA`).
    Hana = 17,
}

impl Status {
    pub fn from_u8(n: u8) -> Status {
        match n {
            1 => Status::SockErr,
            2 => Status::L4Ok,
            3 => Status::L4Tout,
            4 => Status::L4Con,
            5 => Status::L7Tout,
            6 => Status::L7Rsp,
            7 => Status::L7Ok,
            8 => Status::L7OkC,
            9 => Status::L7Sts,
            10 => Status::L6Ok,
            11 => Status::L6Tout,
            12 => Status::L6Rsp,
            13 => Status::Checked,
            14 => Status::ProcErr,
            15 => Status::ProcTout,
            16 => Status::ProcOk,
            17 => Status::Hana,
            _ => Status::Ini,
        }
    }

    /// The short code of the stats page (`L4CON`, `L7OK`...).
    pub(crate) fn code(self) -> &'static str {
        match self {
            Status::Ini => "INI",
            Status::SockErr => "SOCKERR",
            Status::L4Ok => "L4OK",
            Status::L4Tout => "L4TOUT",
            Status::L4Con => "L4CON",
            Status::L7Tout => "L7TOUT",
            Status::L7Rsp => "L7RSP",
            Status::L7Ok => "L7OK",
            Status::L7OkC => "L7OKC",
            Status::L7Sts => "L7STS",
            Status::L6Ok => "L6OK",
            Status::L6Tout => "L6TOUT",
            Status::L6Rsp => "L6RSP",
            Status::Checked => "CHECKED",
            Status::ProcErr => "PROCERR",
            Status::ProcTout => "PROCTOUT",
            Status::ProcOk => "PROCOK",
            Status::Hana => "HANA",
        }
    }

    /// The description of the `reason:` of a log line.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Status::Ini => "Initializing",
            Status::SockErr => "Socket error",
            Status::L4Ok => "Layer4 check passed",
            Status::L4Tout => "Layer4 timeout",
            Status::L4Con => "Layer4 connection problem",
            Status::L7Tout => "Layer7 timeout",
            Status::L7Rsp => "Layer7 invalid response",
            Status::L7Ok => "Layer7 check passed",
            Status::L7OkC => "Layer7 check conditionally passed",
            Status::L7Sts => "Layer7 wrong status",
            Status::L6Ok => "Layer6 check passed",
            Status::L6Tout => "Layer6 timeout",
            Status::L6Rsp => "Layer6 invalid response",
            Status::Checked => "No status change",
            Status::ProcErr => "External check error",
            Status::ProcTout => "External check timeout",
            Status::ProcOk => "External check passed",
            Status::Hana => "Health analyze",
        }
    }

    /// HAProxy prints `code: N` for the statuses past `HCHK_STATUS_L57DATA` (an agent's
    /// `down` counts only because of this: `L7STS` is past it, a refused connect is not).
    pub(crate) fn has_code(self) -> bool {
        matches!(
            self,
            Status::L7Ok
                | Status::L7OkC
                | Status::L7Sts
                | Status::ProcErr
                | Status::ProcTout
                | Status::ProcOk
        )
    }

    pub(crate) fn verdict(self) -> Verdict {
        match self {
            Status::L4Ok | Status::L7Ok | Status::L6Ok | Status::ProcOk => Verdict::Passed,
            Status::L7OkC => Verdict::CondPassed,
            Status::Ini | Status::Checked => Verdict::Neutral,
            Status::SockErr
            | Status::L6Tout
            | Status::L6Rsp
            | Status::ProcErr
            | Status::ProcTout
            | Status::L4Tout
            | Status::L4Con
            | Status::L7Tout
            | Status::L7Rsp
            | Status::L7Sts
            | Status::Hana => Verdict::Failed,
        }
    }
}

/// What one check concluded (HAProxy's `CHK_RES_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Passed,
    /// Passed, but the server asks to stop receiving new traffic (a 404 with
    /// `disable-on-404`): NOLB.
    CondPassed,
    Failed,
    /// No health change (an agent reply with only a weight or an admin state).
    Neutral,
}

/// A state change a check result causes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Down,
    Up,
    /// Running → NOLB.
    Stopping,
}

/// Which probe a line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    Check,
    Agent,
}

/// `observe`: which traffic events count for passive health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Observe {
    #[default]
    None,
    /// Connection successes and failures.
    Layer4,
    /// Connection failures and HTTP responses (HTTP proxies only).
    Layer7,
}

/// What a stream saw of a server (HAProxy's `HANA_STATUS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    L4Ok,
    L4Err,
    /// A status in 100..=499, 501 or 505.
    HttpOk,
    /// Any other status.
    HttpSts,
    /// A response head that could not be parsed.
    HttpHdrRsp,
    HttpReadError,
    /// `timeout server` before the response.
    HttpReadTimeout,
    /// The server closed before a response.
    HttpBrokenPipe,
}

impl Seen {
    /// HAProxy's `analyze_statuses[].desc`.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Seen::L4Ok => "L4 successful connection",
            Seen::L4Err => "L4 unsuccessful connection",
            Seen::HttpOk => "Correct http response",
            Seen::HttpSts => "Wrong http response",
            Seen::HttpHdrRsp => "Invalid http response (headers)",
            Seen::HttpReadError => "Read error (http)",
            Seen::HttpReadTimeout => "Read timeout (http)",
            Seen::HttpBrokenPipe => "Close from server (http)",
        }
    }

    /// The status of an HTTP response, as HAProxy judges it for `observe layer7`.
    pub(crate) fn of_status(status: u16) -> Seen {
        if (100..500).contains(&status) || status == 501 || status == 505 {
            Seen::HttpOk
        } else {
            Seen::HttpSts
        }
    }

    /// `Some(true)`: an error; `Some(false)`: a success (clears the count); `None`: not
    /// significant in this mode (HAProxy's `analyze_statuses[].lr`).
    pub(crate) fn failed(self, mode: Observe) -> Option<bool> {
        match (mode, self) {
            (Observe::None, _) => None,
            (_, Seen::L4Err) => Some(true),
            (Observe::Layer4, Seen::L4Ok) => Some(false),
            (Observe::Layer4, _) => None,
            (Observe::Layer7, Seen::L4Ok) => None,
            (Observe::Layer7, Seen::HttpOk) => Some(false),
            (Observe::Layer7, _) => Some(true),
        }
    }
}
