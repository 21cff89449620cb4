//! Log-format strings: compiled once at start-up, rendered per line without allocating.
//!
//! The grammar is HAProxy's (section 8.2.6): text, `%%`, `%VAR` (longest name first), flags
//! in braces before the name (`%{+Q}r`, `%{-Q}ci`, `%{+Q,+E}o`), `%o` to set flags for every
//! later variable, and runs of spaces that become one separator. A separator is written only
//! after something that was not itself a separator, and a variable that writes nothing (no
//! header captures) writes no separator either, so fields never double up — HAProxy's
//! `last_isspace` rule.

use std::net::SocketAddr;

use super::record::Record;
use crate::civil as time;

/// A variable of the log-format language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Var {
    ClientIp,
    ClientPort,
    FrontendIp,
    FrontendPort,
    BackendSrcIp,
    BackendSrcPort,
    ServerIp,
    ServerPort,
    /// `%t`: accept date, local time, milliseconds.
    AcceptDate,
    /// `%tr`: request date.
    RequestDate,
    /// `%trg`: request date, GMT, CLF style.
    RequestDateGmt,
    /// `%trl`: request date, local, CLF style.
    RequestDateLocal,
    /// `%T`: accept date GMT, CLF style.
    GmtDate,
    /// `%Tl`: accept date local, CLF style.
    LocalDate,
    /// `%Ts`: accept timestamp (seconds).
    Timestamp,
    /// `%ms`: accept date milliseconds.
    AcceptMs,
    TermState,
    TermStateCookie,
    FrontendTransport,
    Frontend,
    Backend,
    Server,
    Th,
    Ti,
    TR,
    Tw,
    Tc,
    Tr,
    Td,
    Ta,
    Tt,
    Tq,
    Tu,
    Status,
    BytesOut,
    BytesIn,
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BeQueue,
    CapReqHeaders,
    CapResHeaders,
    CapReqHeadersList,
    CapResHeadersList,
    CapReqCookie,
    CapResCookie,
    RequestLine,
    Method,
    Uri,
    Path,
    PathOnly,
    Query,
    Version,
    UniqueId,
    Pid,
    Hostname,
    /// `%rt`: the request counter.
    ReqCounter,
}

/// Names, longest first where one is a prefix of another (`%Tr` before `%T`).
const VARS: &[(&str, Var)] = &[
    ("HPO", Var::PathOnly),
    ("hrl", Var::CapReqHeadersList),
    ("hsl", Var::CapResHeadersList),
    ("pid", Var::Pid),
    ("rt", Var::ReqCounter),
    ("trg", Var::RequestDateGmt),
    ("trl", Var::RequestDateLocal),
    ("tsc", Var::TermStateCookie),
    ("CC", Var::CapReqCookie),
    ("CS", Var::CapResCookie),
    ("HM", Var::Method),
    ("HP", Var::Path),
    ("HQ", Var::Query),
    ("HU", Var::Uri),
    ("HV", Var::Version),
    ("ID", Var::UniqueId),
    ("ST", Var::Status),
    ("Ta", Var::Ta),
    ("Tc", Var::Tc),
    ("Td", Var::Td),
    ("Th", Var::Th),
    ("Ti", Var::Ti),
    ("Tl", Var::LocalDate),
    ("Tq", Var::Tq),
    ("TR", Var::TR),
    ("Tr", Var::Tr),
    ("Ts", Var::Timestamp),
    ("Tt", Var::Tt),
    ("Tu", Var::Tu),
    ("Tw", Var::Tw),
    ("ac", Var::ActConn),
    ("bc", Var::BeConn),
    ("bi", Var::BackendSrcIp),
    ("bp", Var::BackendSrcPort),
    ("bq", Var::BeQueue),
    ("ci", Var::ClientIp),
    ("cp", Var::ClientPort),
    ("fc", Var::FeConn),
    ("fi", Var::FrontendIp),
    ("fp", Var::FrontendPort),
    ("ft", Var::FrontendTransport),
    ("hr", Var::CapReqHeaders),
    ("hs", Var::CapResHeaders),
    ("ms", Var::AcceptMs),
    ("rc", Var::Retries),
    ("sc", Var::SrvConn),
    ("si", Var::ServerIp),
    ("sp", Var::ServerPort),
    ("sq", Var::SrvQueue),
    ("tr", Var::RequestDate),
    ("ts", Var::TermState),
    ("B", Var::BytesOut),
    ("H", Var::Hostname),
    ("T", Var::GmtDate),
    ("U", Var::BytesIn),
    ("b", Var::Backend),
    ("f", Var::Frontend),
    ("r", Var::RequestLine),
    ("s", Var::Server),
    ("t", Var::AcceptDate),
];

/// Variables HAProxy has that Ravelin cannot fill yet.
const UNSUPPORTED: &[&str] = &["sslc", "sslv", "lc"];

/// `Q`, `X`, `E` flags of a variable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub(crate) quote: bool,
    pub(crate) hex: bool,
    pub(crate) escape: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Text(Box<[u8]>),
    Sep,
    Var(Var, Flags),
}

/// A compiled log-format string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Format {
    pub(crate) items: Vec<Item>,
}

impl Format {}

/// Compiles `s`; the error is HAProxy's text after "failed to parse log-format : ".
pub(crate) fn compile(s: &str) -> Result<Format, String> {
    let b = s.as_bytes();
    let mut items: Vec<Item> = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let mut defaults = Flags::default();
    let flush = |text: &mut Vec<u8>, items: &mut Vec<Item>| {
        if !text.is_empty() {
            items.push(Item::Text(std::mem::take(text).into_boxed_slice()));
        }
    };
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b' ' => {
                flush(&mut text, &mut items);
                if items.last() != Some(&Item::Sep) {
                    items.push(Item::Sep);
                }
                while b.get(i) == Some(&b' ') {
                    i += 1;
                }
            }
            b'\\' if b.get(i + 1).is_some() => {
                // An escaped character (`\ ` is a literal space, `\"` a quote).
                text.extend_from_slice(b.get(i + 1..i + 2).unwrap_or_default());
                i += 2;
            }
            b'%' if b.get(i + 1) == Some(&b'%') => {
                text.push(b'%');
                i += 2;
            }
            b'%' => {
                i += 1;
                let mut flags = defaults;
                if b.get(i) == Some(&b'{') {
                    let rest = s.get(i + 1..).unwrap_or_default();
                    let Some(end) = rest.find('}') else {
                        return Err("missing '}' after '%{'.".into());
                    };
                    for f in rest.get(..end).unwrap_or_default().split(',') {
                        let (on, name) = match f.as_bytes().first() {
                            Some(b'+') => (true, f.get(1..).unwrap_or_default()),
                            Some(b'-') => (false, f.get(1..).unwrap_or_default()),
                            _ => (true, f),
                        };
                        match name {
                            "Q" => flags.quote = on,
                            "X" => flags.hex = on,
                            "E" => flags.escape = on,
                            "" => {}
                            _ => return Err(format!("unknown format flag '{name}'.")),
                        }
                    }
                    i += end + 2;
                }
                if b.get(i) == Some(&b'[') {
                    let rest = s.get(i + 1..).unwrap_or_default();
                    let expr = rest.split(']').next().unwrap_or_default();
                    return Err(format!(
                        "failed to parse sample expression <{rest}> : sample fetches in traffic log formats are not supported yet by Ravelin ('{expr}')."
                    ));
                }
                let rest = s.get(i..).unwrap_or_default();
                if rest.starts_with('o')
                    && !rest
                        .get(1..)
                        .unwrap_or_default()
                        .starts_with(char::is_alphabetic)
                {
                    defaults = flags;
                    i += 1;
                    continue;
                }
                let name_len = rest
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let name = rest.get(..name_len).unwrap_or_default();
                if UNSUPPORTED.contains(&name) {
                    return Err(format!(
                        "format variable '{name}' is a HAProxy feature that Ravelin does not support yet."
                    ));
                }
                // HAProxy reads the whole alphanumeric word as the name.
                let Some((_, var)) = VARS.iter().find(|(n, _)| *n == name) else {
                    return Err(format!(
                        "no such format variable '{name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'."
                    ));
                };
                flush(&mut text, &mut items);
                items.push(Item::Var(*var, flags));
                i += name_len;
            }
            _ => {
                text.push(c);
                i += 1;
            }
        }
    }
    flush(&mut text, &mut items);
    // Trailing separators are dropped, as HAProxy trims the line.
    while items.last() == Some(&Item::Sep) {
        items.pop();
    }
    Ok(Format { items })
}

/// Writes one line for `rec` into `out` (no newline). `max` bounds what is written.
pub fn render(fmt: &Format, rec: &Record<'_>, out: &mut Vec<u8>) {
    let mut last_space = true;
    for item in &fmt.items {
        match item {
            Item::Sep => {
                if !last_space {
                    out.push(b' ');
                    last_space = true;
                }
            }
            Item::Text(t) => {
                out.extend_from_slice(t);
                last_space = false;
            }
            Item::Var(v, f) => {
                let before = out.len();
                var(*v, *f, rec, out);
                if out.len() != before {
                    last_space = false;
                }
            }
        }
    }
}

fn var(v: Var, f: Flags, r: &Record<'_>, out: &mut Vec<u8>) {
    match v {
        Var::ClientIp => ip(r.client, f, out),
        Var::ClientPort => port(r.client, f, out),
        Var::FrontendIp => ip(r.frontend_addr, f, out),
        Var::FrontendPort => port(r.frontend_addr, f, out),
        Var::BackendSrcIp => ip(r.backend_src, f, out),
        Var::BackendSrcPort => port(r.backend_src, f, out),
        Var::ServerIp => ip(r.server_addr, f, out),
        Var::ServerPort => port(r.server_addr, f, out),
        Var::AcceptDate => quoted(f, out, |o| time::haproxy_date(r.accept_ms, true, o)),
        Var::RequestDate => quoted(f, out, |o| time::haproxy_date(r.request_ms, true, o)),
        Var::RequestDateGmt => quoted(f, out, |o| time::clf_date(r.request_ms, false, o)),
        Var::RequestDateLocal => quoted(f, out, |o| time::clf_date(r.request_ms, true, o)),
        Var::GmtDate => quoted(f, out, |o| time::clf_date(r.accept_ms, false, o)),
        Var::LocalDate => quoted(f, out, |o| time::clf_date(r.accept_ms, true, o)),
        Var::Timestamp => {
            let secs = r.accept_ms / 1000;
            if f.hex {
                let _ = write_fmt(out, format_args!("{secs:08X}"));
            } else {
                num(secs as i64, out)
            }
        }
        Var::AcceptMs => {
            let ms = r.accept_ms % 1000;
            if f.hex {
                let _ = write_fmt(out, format_args!("{ms:02X}"));
            } else {
                let _ = write_fmt(out, format_args!("{ms:03}"));
            }
        }
        Var::TermState => string(&r.term, f, out),
        Var::TermStateCookie => {
            let four = [r.term[0], r.term[1], r.cookie[0], r.cookie[1]];
            string(&four, f, out)
        }
        Var::FrontendTransport | Var::Frontend => string(r.frontend.as_bytes(), f, out),
        Var::Backend => string(r.backend.as_bytes(), f, out),
        Var::Server => string(r.server.as_bytes(), f, out),
        Var::Th => num(r.th, out),
        Var::Ti => num(r.ti, out),
        Var::TR => num(r.t_req, out),
        Var::Tw => num(r.tw, out),
        Var::Tc => num(r.tc, out),
        Var::Tr => num(r.tr, out),
        Var::Ta => num(r.ta, out),
        Var::Tt => num(r.tt, out),
        Var::Td => num(r.td(), out),
        Var::Tq => num(r.tq(), out),
        Var::Tu => num(r.tu(), out),
        Var::Status => num(r.status, out),
        Var::BytesOut => num(r.bytes_out as i64, out),
        Var::BytesIn => num(r.bytes_in as i64, out),
        Var::ActConn => num(r.actconn as i64, out),
        Var::FeConn => num(r.feconn as i64, out),
        Var::BeConn => num(r.beconn as i64, out),
        Var::SrvConn => num(r.srvconn as i64, out),
        Var::Retries => {
            if r.redispatched {
                out.push(b'+');
            }
            num(r.retries as i64, out)
        }
        Var::SrvQueue => num(r.srv_queue as i64, out),
        Var::BeQueue => num(r.be_queue as i64, out),
        Var::CapReqHeaders => captures(r.cap_req, r.cap_req_on, f, out),
        Var::CapResHeaders => captures(r.cap_res, r.cap_res_on, f, out),
        Var::CapReqHeadersList => capture_list(r.cap_req, r.cap_req_on, f, out),
        Var::CapResHeadersList => capture_list(r.cap_res, r.cap_res_on, f, out),
        Var::CapReqCookie | Var::CapResCookie => string(b"", f, out),
        Var::RequestLine => {
            let line = r.request_line.unwrap_or(b"<BADREQ>");
            quoted(f, out, |o| encode(line, o))
        }
        Var::Method => string(r.request_part(0).unwrap_or(b""), f, out),
        Var::Uri => string(r.request_part(1).unwrap_or(b""), f, out),
        Var::Path => {
            let uri = r.request_part(1).unwrap_or(b"");
            let end = uri.iter().position(|&c| c == b'?').unwrap_or(uri.len());
            string(uri.get(..end).unwrap_or(uri), f, out)
        }
        Var::PathOnly => string(r.path_only().unwrap_or(b""), f, out),
        Var::Query => {
            let uri = r.request_part(1).unwrap_or(b"");
            let q = uri
                .iter()
                .position(|&c| c == b'?')
                .and_then(|p| uri.get(p..))
                .unwrap_or(b"");
            string(q, f, out)
        }
        Var::Version => string(r.request_part(2).unwrap_or(b""), f, out),
        Var::UniqueId => string(r.unique_id, f, out),
        Var::Pid => {
            if f.hex {
                num_hex(u64::from(r.pid), out)
            } else {
                num(i64::from(r.pid), out)
            }
        }
        Var::Hostname => string(r.hostname.as_bytes(), f, out),
        Var::ReqCounter => {
            if f.hex {
                num_hex(r.req_counter, out)
            } else {
                num(r.req_counter as i64, out)
            }
        }
    }
}

fn write_fmt(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    out.write_fmt(args)
}

fn num(n: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa_buf(n).as_slice());
}

/// Decimal digits of `n` without going through `fmt` (hot: several per line).
struct Digits {
    buf: [u8; 24],
    start: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }
}

fn itoa_buf(n: i64) -> Digits {
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'-';
        }
    }
    Digits { buf, start: i }
}

/// HAProxy's `%04X` for counters and pids.
fn num_hex(n: u64, out: &mut Vec<u8>) {
    let _ = write_fmt(out, format_args!("{n:04X}"));
}

fn ip(a: Option<SocketAddr>, f: Flags, out: &mut Vec<u8>) {
    match a {
        None => string(b"", f, out),
        Some(SocketAddr::V4(v4)) if f.hex => {
            let _ = write_fmt(out, format_args!("{:08X}", u32::from(*v4.ip())));
        }
        Some(a) => quoted(f, out, |o| {
            let _ = write_fmt(o, format_args!("{}", a.ip()));
        }),
    }
}

fn port(a: Option<SocketAddr>, f: Flags, out: &mut Vec<u8>) {
    match a {
        None => string(b"", f, out),
        Some(a) if f.hex => {
            let _ = write_fmt(out, format_args!("{:04X}", a.port()));
        }
        Some(a) => num(i64::from(a.port()), out),
    }
}

/// A string field: `-` when empty, quotes with `Q`, `\` escapes with `E`.
fn string(s: &[u8], f: Flags, out: &mut Vec<u8>) {
    if s.is_empty() {
        if f.quote {
            out.extend_from_slice(b"\"\"");
        } else {
            out.push(b'-');
        }
        return;
    }
    quoted(f, out, |o| {
        if f.escape {
            for &c in s {
                if matches!(c, b'"' | b'\\' | b']') {
                    o.push(b'\\');
                }
                o.push(c);
            }
        } else {
            o.extend_from_slice(s);
        }
    });
}

fn quoted(f: Flags, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    if f.quote {
        out.push(b'"');
    }
    body(out);
    if f.quote {
        out.push(b'"');
    }
}

/// Non-printable characters and `"` become `#XX` (HAProxy's `http_encode_map` for %r).
fn encode(s: &[u8], out: &mut Vec<u8>) {
    for &c in s {
        if !(0x20..0x7f).contains(&c) || c == b'"' || c == b'#' {
            let _ = write_fmt(out, format_args!("#{c:02X}"));
        } else {
            out.push(c);
        }
    }
}

/// `{a|b}` when the frontend captures headers, nothing otherwise.
fn captures(values: &[Vec<u8>], on: bool, f: Flags, out: &mut Vec<u8>) {
    if !on {
        return;
    }
    quoted(f, out, |o| {
        o.push(b'{');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                o.push(b'|');
            }
            encode(v, o);
        }
        o.push(b'}');
    });
}

/// CLF style: each capture as its own quoted field.
fn capture_list(values: &[Vec<u8>], on: bool, f: Flags, out: &mut Vec<u8>) {
    if !on {
        return;
    }
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(v, f, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Record<'static> {
        Record {
            client: Some("10.0.1.2:33317".parse().unwrap_or_else(|_| unreachable!())),
            frontend_addr: Some("10.0.3.31:80".parse().unwrap_or_else(|_| unreachable!())),
            backend_src: None,
            server_addr: None,
            accept_ms: 1_234_012_454_655,
            request_ms: 1_234_012_454_655,
            frontend: "http-in",
            backend: "static",
            server: "srv1",
            th: 0,
            ti: 0,
            t_req: 10,
            tw: 0,
            tc: 30,
            tr: 69,
            ta: 109,
            tt: 109,
            http: true,
            status: 200,
            bytes_out: 2750,
            bytes_in: 80,
            actconn: 1,
            feconn: 1,
            beconn: 1,
            srvconn: 1,
            retries: 0,
            redispatched: false,
            srv_queue: 0,
            be_queue: 0,
            term: *b"--",
            cookie: *b"--",
            cap_req: &[],
            cap_req_on: false,
            cap_res: &[],
            cap_res_on: false,
            req_counter: 3,
            request_line: Some(b"GET /index.html HTTP/1.1"),
            unique_id: b"",
            pid: 14389,
            hostname: "h",
        }
    }

    fn line(fmt: &str, r: &Record<'_>) -> String {
        let f = compile(fmt).unwrap_or_default();
        let mut v = Vec::new();
        render(&f, r, &mut v);
        String::from_utf8_lossy(&v).into_owned()
    }

    #[test]
    fn the_manuals_httplog_example() {
        // Section 8.2.3, with the time zone left out (UTC here).
        let got = line(crate::log::HTTPLOG, &rec());
        assert_eq!(
            got,
            "10.0.1.2:33317 [07/Feb/2009:13:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 \"GET /index.html HTTP/1.1\""
                .replace("07/Feb/2009:13", &{
                    let mut d = Vec::new();
                    crate::civil::haproxy_date(1_234_012_454_655, true, &mut d);
                    String::from_utf8_lossy(&d[..14]).into_owned()
                })
        );
    }

    #[test]
    fn flags_separators_and_retries() {
        let mut r = rec();
        r.retries = 3;
        r.redispatched = true;
        assert_eq!(line("%rc", &r), "+3");
        assert_eq!(line("%{+Q}ci   %{+X}cp", &r), "\"10.0.1.2\" 8225");
        assert_eq!(line("%{+Q}o %b %{-Q}s", &r), "\"static\" srv1");
        assert_eq!(line("a %hr %hs b", &r), "a b");
        assert_eq!(
            line("%HM|%HU|%HP|%HV|%ID", &r),
            "GET|/index.html|/index.html|HTTP/1.1|-"
        );
        assert_eq!(line("100%% %ST\\ x", &r), "100% 200 x");
        r.request_line = None;
        assert_eq!(line("%{+Q}r %HM", &r), "\"<BADREQ>\" -");
        r.request_line = Some(b"GET /a\"b HTTP/1.1");
        assert_eq!(line("%r", &r), "GET /a#22b HTTP/1.1");
    }

    #[test]
    fn haproxy_errors() {
        assert_eq!(
            compile("%ci %zz"),
            Err("no such format variable 'zz'. If you wanted to emit the '%' character verbatim, you need to use '%%'.".into())
        );
        assert!(compile("%{+Z}ci").is_err());
        assert!(compile("%[src]").is_err());
        assert!(compile(crate::log::TCPLOG).is_ok() && compile(crate::log::CLFLOG).is_ok());
    }
}
