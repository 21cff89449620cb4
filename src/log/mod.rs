//! Traffic and event logs, as HAProxy writes them.
//!
//! * `format`: log-format strings compiled once (`%ci`, `%Tt`, `%{+Q}r`, ...) and rendered
//!   from a [`record::Record`] — the values of one stream or request — into a byte buffer.
//! * `record`: what a stream gathers while it runs (timers, counts, names) to fill a record.
//! * `sink`: per-reactor line buffers handed in batches to one logger thread that adds the
//!   syslog header and writes to the targets; a slow or dead target makes lines drop (and be
//!   counted), never a reactor wait.
//! * `console`: HAProxy's `[ALERT]`/`[WARNING]`/`[NOTICE]` messages on standard error.
//! * `config`: the `log`, `log-format`, `log-tag`, `option tcplog|httplog|...` keywords.

pub mod console;
pub mod format;
pub mod record;
pub mod sink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `option tcplog`, as the manual defines it.
pub(crate) const TCPLOG: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
/// `option httplog`.
pub(crate) const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// `option httplog clf`.
pub(crate) const CLFLOG: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";

/// Where a `log` line sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dest {
    /// `stdout`, `stderr`, `fd@N`: one write per line.
    Fd(i32),
    /// A datagram unix socket (`/dev/log`, any path).
    Unix(PathBuf),
    /// UDP `ADDR[:PORT]` (514 by default).
    Udp(SocketAddr),
}

/// The syslog header format of a target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Header {
    /// rfc3164 without the hostname (HAProxy's default).
    #[default]
    Local,
    Rfc3164,
    Rfc5424,
    Priority,
    Short,
    Timed,
    Iso,
    Raw,
}

impl Header {
    pub(crate) fn parse(s: &str) -> Option<Header> {
        Some(match s {
            "local" => Header::Local,
            "rfc3164" => Header::Rfc3164,
            "rfc5424" => Header::Rfc5424,
            "priority" => Header::Priority,
            "short" => Header::Short,
            "timed" => Header::Timed,
            "iso" => Header::Iso,
            "raw" => Header::Raw,
            _ => return None,
        })
    }
}

/// Syslog levels, most severe first (the numeric value is the syslog one).
pub(crate) const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// The 24 facilities, in syslog order.
pub(crate) const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

pub(crate) const LOG_ALERT: u8 = 1;
pub(crate) const LOG_ERR: u8 = 3;
pub(crate) const LOG_NOTICE: u8 = 5;
pub(crate) const LOG_INFO: u8 = 6;

/// One `log` line: a destination and what it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) dest: Dest,
    pub(crate) header: Header,
    /// Maximum line length, header and newline included (`len`, 80..=65535, default 1024).
    pub(crate) len: usize,
    pub(crate) facility: u8,
    /// Lines more verbose than this are not sent (`<level>`, default debug: all).
    pub(crate) max_level: u8,
    /// Lines more severe than this are raised... HAProxy's `<minlevel>`: a line's level is
    /// clamped to at most this severity (default emerg: unchanged).
    pub(crate) min_level: u8,
}

/// How a frontend writes its traffic lines.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyLog {
    /// Targets (the proxy's own `log` lines, or the global ones with `log global`).
    pub(crate) targets: Arc<[Target]>,
    /// The compiled traffic line; `None`: the legacy "Connect from" line at accept.
    pub(crate) format: Option<Arc<format::Format>>,
    /// `log-tag` of the proxy (else the global one).
    pub(crate) tag: Option<Arc<str>>,
    /// `option dontlognull`.
    pub(crate) dontlognull: bool,
    /// `option log-separate-errors`.
    pub(crate) separate_errors: bool,
    /// `option dontlog-normal`.
    pub(crate) dontlog_normal: bool,
    /// The compiled `unique-id-format`.
    pub(crate) unique_id: Option<Arc<format::Format>>,
}

impl ProxyLog {
    /// Whether this proxy writes anything at all.
    pub(crate) fn enabled(&self) -> bool {
        !self.targets.is_empty()
    }
}

/// Process-wide logging settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct GlobalLog {
    pub(crate) targets: Arc<[Target]>,
    /// `log-tag` (default: the program name).
    pub(crate) tag: Option<String>,
    /// `log-send-hostname [NAME]`: `Some("")` means the system's hostname.
    pub(crate) send_hostname: Option<String>,
}
