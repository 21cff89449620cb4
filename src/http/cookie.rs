//! Cookie-based persistence (the backend `cookie` keyword) without sockets: which server a
//! request's `Cookie` headers designate, how those headers must be rewritten before the request
//! goes to a server, and what to do with the response's `Set-Cookie` headers (delete, rewrite,
//! prefix, insert a new one, add `Cache-control: private`).
//!
//! This follows HAProxy 2.6 byte for byte (`http_manage_client_side_cookies()`,
//! `http_manage_server_side_cookies()` and the insertion in `http_process_res_common()`),
//! including its quirks: spaces around `=` are removed from every cookie of a processed header
//! line, `$`-attributes follow the cookie before them, a removed cookie leaves a trailing
//! delimiter when it was the last one of a line, and dates are signed 32-bit values. The unit
//! tests hold bytes captured from the real haproxy 2.6.
//!
//! The module owns no state beyond one transaction. The connection code:
//! 1. before choosing a server, feeds every `Cookie` request line to [`RequestCookies::line`]
//!    and applies the returned [`LineEdit`], then calls [`RequestCookies::finish`];
//! 2. on the response, feeds every `Set-Cookie` line to [`ResponseCookies::line`], then calls
//!    [`ResponseCookies::finish`] and appends what it returns.
//!
//! Results are written into caller-provided scratch buffers and returned as ranges, so a
//! connection that reuses its buffers does not allocate here. Choosing among servers that share
//! a cookie value, server states and `option persist` stay with the caller (see
//! [`find_server`]); generating `dynamic` cookie values is not done here.

mod request;
mod response;

use std::ops::Range;
use std::time::Duration;

pub(crate) use request::{Persistence, RequestCookie, RequestCookies};
pub(crate) use response::{
    CACHE_CONTROL_PRIVATE, Cacheable, ResponseCookies, ResponseVerdict, Target, response_cacheable,
};

/// How the persistence cookie is produced (HAProxy's `rewrite`, `insert`, `prefix`, or none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum CookieMode {
    /// No mode keyword: the cookie is only read from requests (and, with `indirect`, removed
    /// from responses when not needed). HAProxy logs `--` for the cookie flags in this mode
    /// unless `indirect` is set.
    #[default]
    Passive,
    /// The proxy inserts `Set-Cookie: NAME=VALUE` itself.
    Insert,
    /// The server emits the cookie and the proxy replaces its value.
    Rewrite,
    /// The server's own cookie gets `VALUE~` in front of its value.
    Prefix,
}

/// One backend's `cookie` line, as parsed by `config::cookie`.
///
/// Invariants (enforced by the parser): `name` is not empty; `indirect` is not combined with
/// `Rewrite`; `preserve` implies `Insert` or `indirect`; durations are whole seconds below
/// 2^31 (zero is stored as `None`, as HAProxy treats 0 as "not set").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CookieConf {
    pub(crate) name: String,
    pub(crate) mode: CookieMode,
    pub(crate) indirect: bool,
    pub(crate) nocache: bool,
    pub(crate) postonly: bool,
    pub(crate) preserve: bool,
    pub(crate) httponly: bool,
    pub(crate) secure: bool,
    /// Every `domain`, in order; each becomes a `; domain=D` attribute.
    pub(crate) domains: Vec<String>,
    pub(crate) maxidle: Option<Duration>,
    pub(crate) maxlife: Option<Duration>,
    pub(crate) dynamic: bool,
    /// Every `attr`, in order; each is appended as `; VALUE`.
    pub(crate) attrs: Vec<String>,
}

impl CookieConf {
    /// A conf with this name and mode and every option off.
    pub(crate) fn new(name: &str, mode: CookieMode) -> CookieConf {
        CookieConf {
            name: name.to_string(),
            mode,
            ..CookieConf::default()
        }
    }

    /// Whether the log's `%tsc` shows the two cookie letters; HAProxy prints `--` unless one
    /// of `rewrite`, `insert`, `prefix` or `indirect` is set (`PR_CK_ANY`).
    pub(crate) fn logs_cookie_flags(&self) -> bool {
        self.mode != CookieMode::Passive || self.indirect
    }

    /// `maxidle` in seconds, 0 when unset.
    fn maxidle_secs(&self) -> i64 {
        self.maxidle
            .map_or(0, |d| d.as_secs().min(i32::MAX as u64) as i64)
    }

    /// `maxlife` in seconds, 0 when unset.
    fn maxlife_secs(&self) -> i64 {
        self.maxlife
            .map_or(0, |d| d.as_secs().min(i32::MAX as u64) as i64)
    }
}

/// What the client's persistence cookie said: the log's third `%tsc` character.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ClientCookie {
    /// `N`: no persistence cookie.
    #[default]
    None,
    /// `I`: the value matches no server (or is empty).
    Invalid,
    /// `D`: the value designates a server that is down.
    Down,
    /// `V`: valid; the request goes to that server.
    Valid,
    /// `E`: the last-seen date is older than `maxidle` (or more than a day ahead).
    Expired,
    /// `O`: the first-seen date is older than `maxlife` (or more than a day ahead).
    Old,
    /// `U`: present but not used because another mechanism chose (`use-server`) or
    /// `ignore-persist` matched.
    Unused,
}

impl ClientCookie {
    pub(crate) fn letter(self) -> u8 {
        match self {
            ClientCookie::None => b'N',
            ClientCookie::Invalid => b'I',
            ClientCookie::Down => b'D',
            ClientCookie::Valid => b'V',
            ClientCookie::Expired => b'E',
            ClientCookie::Old => b'O',
            ClientCookie::Unused => b'U',
        }
    }
}

/// What happened to the persistence cookie in the response: the log's fourth `%tsc` character.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SetCookie {
    /// `N`: the server sent none and none was inserted.
    #[default]
    None,
    /// `P`: the server sent one and it was passed as is.
    Provided,
    /// `D`: the server's cookie was deleted.
    Deleted,
    /// `I`: the proxy inserted one.
    Inserted,
    /// `R`: the server's cookie was rewritten (`rewrite` or `prefix`).
    Rewritten,
    /// `U`: the proxy re-sent the client's cookie to refresh its date.
    Updated,
}

impl SetCookie {
    pub(crate) fn letter(self) -> u8 {
        match self {
            SetCookie::None => b'N',
            SetCookie::Provided => b'P',
            SetCookie::Deleted => b'D',
            SetCookie::Inserted => b'I',
            SetCookie::Rewritten => b'R',
            SetCookie::Updated => b'U',
        }
    }
}

/// What to do with one header line that was fed to the cookie logic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LineEdit {
    /// Forward the line unchanged.
    Keep,
    /// Forward the line with this value instead (a range of the scratch buffer).
    Replace(Range<usize>),
    /// Drop the line.
    Remove,
}

/// The answer of the caller's server lookup for one cookie value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// No server has this cookie value.
    NoMatch,
    /// Use this server (index in the backend); it is up.
    Up(usize),
    /// Use this server although it is down (`option persist` or `force-persist`).
    DownPersist(usize),
    /// Only servers that are down have this value; redispatch.
    Down,
}

/// One server as [`find_server`] sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerCookie<'a> {
    pub(crate) index: usize,
    /// The server's `cookie` value, if it has one.
    pub(crate) cookie: Option<&'a [u8]>,
    /// Anything but stopped (`SRV_ST_STOPPED`: down or in maintenance).
    pub(crate) up: bool,
}

/// Whether a cookie naming a down server still sends the request there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DownServers {
    /// Default: look for another server with the same value, else redispatch.
    Redispatch,
    /// `option persist` or a matching `force-persist`.
    Persist,
}

/// HAProxy's server walk for a cookie value: servers in declaration order, the first whose
/// cookie equals `value` exactly and that is up (or any state with [`DownServers::Persist`])
/// wins; a match on a down server is remembered and the walk goes on, so backup servers can
/// share a value.
pub(crate) fn find_server<'a>(
    servers: impl IntoIterator<Item = ServerCookie<'a>>,
    value: &[u8],
    down: DownServers,
) -> Lookup {
    let mut saw_down = false;
    for s in servers {
        if s.cookie != Some(value) {
            continue;
        }
        match (s.up, down) {
            (true, _) => return Lookup::Up(s.index),
            (false, DownServers::Persist) => return Lookup::DownPersist(s.index),
            (false, DownServers::Redispatch) => saw_down = true,
        }
    }
    if saw_down {
        Lookup::Down
    } else {
        Lookup::NoMatch
    }
}

/// Separates the server value from the dates in `NAME=SRV|last|first` (`COOKIE_DELIM_DATE`).
const DATE_DELIM: u8 = b'|';
/// Separates the server value from the application's in prefix mode (`COOKIE_DELIM`).
const PREFIX_DELIM: u8 = b'~';
/// A date more than this far in the future makes the cookie expire (HAProxy: one day, so
/// admins can fix clock mistakes without keeping clients stuck).
const MAX_FUTURE_SECS: i32 = 86_400;

/// `HTTP_IS_SPHT`.
fn is_spht(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The byte at `i`, or 0 past the end (never a delimiter the parsers look for).
fn at(buf: &[u8], i: usize) -> u8 {
    buf.get(i).copied().unwrap_or(0)
}

/// `http_find_cookie_value_end()`: the first unquoted `,` or `;` at or after `s`, or `e`.
fn cookie_value_end(buf: &[u8], mut s: usize, e: usize) -> usize {
    let (mut quoted, mut qdpair) = (false, false);
    while s < e {
        let c = at(buf, s);
        if qdpair {
            qdpair = false;
        } else if quoted {
            if c == b'\\' {
                qdpair = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' || c == b';' {
            return s;
        }
        s += 1;
    }
    s
}

/// Moves `buf[src..end]` to start at `dst` (`memmove`), for `dst <= src <= end <= len`.
/// Anything else is a bug in the caller's index arithmetic; it is ignored rather than panic.
fn shift_left(buf: &mut [u8], dst: usize, src: usize, end: usize) {
    debug_assert!(dst <= src && src <= end && end <= buf.len());
    if dst <= src && src <= end && end <= buf.len() {
        buf.copy_within(src..end, dst);
    }
}

/// Offsets of one `name=value` inside the line being processed, as in the diagram of
/// HAProxy's `http_manage_client_side_cookies()`: `att_beg..att_end` is the name, `equal` the
/// `=` (or the delimiter/end when there is none), `val_beg..val_end` the value without
/// blanks, `next` the delimiter after the value or the line end.
struct Cookie {
    att_beg: usize,
    att_end: usize,
    equal: usize,
    val_beg: usize,
    val_end: usize,
    next: usize,
}

/// Removes blanks on both sides of `=`. HAProxy does it for every cookie of a line it
/// processes (captures and rewrites need it), so such lines are forwarded changed. Updates the
/// offsets and returns the new line end.
fn strip_equal_spaces(buf: &mut [u8], c: &mut Cookie, he: usize) -> usize {
    let mut he = he;
    if c.att_end < c.equal {
        let removed = c.equal - c.att_end;
        shift_left(buf, c.att_end, c.equal, he);
        c.equal = c.att_end;
        c.val_beg = c.val_beg.saturating_sub(removed);
        c.val_end = c.val_end.saturating_sub(removed);
        c.next = c.next.saturating_sub(removed);
        he = he.saturating_sub(removed);
    }
    if c.val_beg > c.equal + 1 {
        let removed = c.val_beg - (c.equal + 1);
        shift_left(buf, c.equal + 1, c.val_beg, he);
        c.val_beg = c.equal + 1;
        c.val_end = c.val_end.saturating_sub(removed);
        c.next = c.next.saturating_sub(removed);
        he = he.saturating_sub(removed);
    }
    he
}

/// `base64tab`, the alphabet of `s30tob64()`.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `s30tob64()`: the low 30 bits of `v` as five characters, most significant first.
fn push_date(v: i32, out: &mut Vec<u8>) {
    for i in 0..5 {
        let six = (v >> (24 - 6 * i)) & 0x3f;
        out.push(B64.get(six as usize).copied().unwrap_or(b'A'));
    }
}

/// `b64tos30()` on the first five bytes of `s`; `None` on a short input or any byte outside
/// the alphabet (including `=` padding).
fn parse_date(s: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in s.get(..5)? {
        let six = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        v = (v << 6) | u32::from(six);
    }
    Some(v)
}

/// A date as HAProxy stores it (`int`, seconds), from a decoded 30-bit value in 4-second units:
/// values from 2^29 on wrap negative, as `val << 2` does in C.
fn date_from_units(units: u32) -> i32 {
    (units << 2) as i32
}

/// The 4-second unit HAProxy emits for `now`, rounded up: `(now + 3) >> 2` as an `int`.
// The C `int` conversion is the point: keep the low 32 bits.
#[allow(clippy::cast_possible_truncation)]
fn units_from_now(now: i64) -> i32 {
    (now.wrapping_add(3) >> 2) as i32
}

#[cfg(test)]
mod tests;
