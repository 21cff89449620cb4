//! The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's
//! `doc/proxy-protocol.txt` specifies it: parsing a received header from the bytes a socket
//! holds (without consuming them: the caller peeks, parses, then reads exactly
//! [`Header::len`] bytes), and building the header sent first on a server connection.
//!
//! No socket here: the pre-stream state that peeks and reads lives in `conn::handshake`, the
//! senders in `conn::http` / `conn::tcp` / `check`.
//!
//! Parsing is strict where the specification is (exact spaces and CRLF, canonical numbers,
//! known families, TLVs ending exactly at the announced length, a valid CRC32C) and tolerant
//! of a header that arrives in several segments (the specification's recommendation):
//! [`Parse::Incomplete`] asks for more bytes as long as what came so far can still start a
//! valid header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest version 1 line, CRLF included (section 2.1: `PROXY UNKNOWN` with two full
/// IPv6 addresses and ports).
pub(crate) const V1_MAX: usize = 107;

/// The version 2 signature (section 2.2).
pub(crate) const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Signature, version/command, family/transport, length.
const V2_FIXED: usize = 16;

/// `PROXY ` opens every version 1 line.
const V1_PREFIX: &[u8] = b"PROXY ";

/// Address block sizes (section 2.2).
const V2_ADDR_INET: usize = 12;
const V2_ADDR_INET6: usize = 36;
/// The same lengths as the header's length byte.
const V2_ADDR_INET_U8: u8 = 12;
const V2_ADDR_INET6_U8: u8 = 36;
const _: () = assert!(V2_ADDR_INET_U8 as usize == V2_ADDR_INET);
const _: () = assert!(V2_ADDR_INET6_U8 as usize == V2_ADDR_INET6);
const V2_ADDR_UNIX: usize = 216;

/// TLV types HAProxy checks (section 2.2.x): the CRC32C of the header, the authority (SNI)
/// and the unique id, with HAProxy's bounds (`HA_PP2_AUTHORITY_MAX`, `UNIQUEID_LEN`).
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_CRC32C: u8 = 0x03;
const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
const AUTHORITY_MAX: usize = 255;
const UNIQUE_ID_MAX: usize = 128;

/// Which version a header used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A complete, valid header at the start of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Bytes the header takes: exactly these are consumed, the rest is the client's data.
    pub len: usize,
    pub(crate) version: Version,
    /// The original client (`src`) and the address it reached (`dst`). `None` for a LOCAL
    /// command, `UNKNOWN`, or a family Ravelin does not use (UNSPEC, UDP, UNIX): the real
    /// connection's addresses stay.
    pub(crate) addrs: Option<(SocketAddr, SocketAddr)>,
}

/// What the bytes received so far amount to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    /// A valid beginning: more bytes are needed.
    Incomplete,
    Done(Header),
}

/// Why a PROXY handshake failed: HAProxy's `CO_ER_PRX_*` codes, each with the text its log
/// line carries (`conn_err_code_str()`, checked against haproxy 2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The client closed before sending anything.
    Empty,
    /// A socket error (reset) before the header was complete.
    Abort,
    /// `timeout client` passed first.
    Timeout,
    /// The client closed in the middle of a header.
    Truncated,
    /// Neither `PROXY ` nor the version 2 signature (or another version 2 version).
    NotHeader,
    /// A malformed header.
    BadHeader,
    /// `PROXY` followed by something other than `TCP4`, `TCP6` or `UNKNOWN`.
    BadProto,
}

impl Failure {
    /// The text HAProxy logs after `client:port [date] frontend/listener: `.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Failure::Empty => "Connection closed while waiting for PROXY protocol header",
            Failure::Abort => "Connection error while waiting for PROXY protocol header",
            Failure::Timeout => "Timeout while waiting for PROXY protocol header",
            Failure::Truncated => "Truncated PROXY protocol header received",
            Failure::NotHeader => {
                "Received something which does not look like a PROXY protocol header"
            }
            Failure::BadHeader => "Received an invalid PROXY protocol header",
            Failure::BadProto => "Received an unhandled protocol in the PROXY protocol header",
        }
    }
}

/// Parses the header at the start of `input` (everything the socket holds, possibly followed
/// by the client's data). `limit` bounds a version 2 header's total length (the caller's
/// buffer: HAProxy's is `tune.bufsize`); a longer one is invalid.
pub fn parse(input: &[u8], limit: usize) -> Result<Parse, Failure> {
    if starts_like(input, V1_PREFIX) {
        if input.len() < V1_PREFIX.len() {
            return Ok(Parse::Incomplete);
        }
        return parse_v1(input);
    }
    if starts_like(input, &V2_SIG) {
        if input.len() < V2_FIXED {
            return Ok(Parse::Incomplete);
        }
        return parse_v2(input, limit);
    }
    Err(Failure::NotHeader)
}

/// `input` and `prefix` agree on their common length (an empty input agrees with anything).
fn starts_like(input: &[u8], prefix: &[u8]) -> bool {
    let n = input.len().min(prefix.len());
    input.get(..n) == prefix.get(..n)
}

/// Version 1: `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN[ anything]\r\n`,
/// at most 107 bytes.
fn parse_v1(input: &[u8]) -> Result<Parse, Failure> {
    let window = input.get(..input.len().min(V1_MAX)).unwrap_or(input);
    let after = window.get(V1_PREFIX.len()..).unwrap_or(&[]);
    // The protocol word can be judged before the end of the line.
    let proto_ok = [&b"TCP4 "[..], b"TCP6 ", b"UNKNOWN"]
        .iter()
        .any(|p| starts_like(after, p));
    if !proto_ok {
        return Err(Failure::BadProto);
    }
    // A lone CR or LF never ends the line (section 2.1).
    let Some(eol) = window.iter().position(|&c| c == b'\r' || c == b'\n') else {
        return if input.len() >= V1_MAX {
            Err(Failure::BadHeader)
        } else {
            Ok(Parse::Incomplete)
        };
    };
    if window.get(eol) == Some(&b'\n') {
        return Err(Failure::BadHeader);
    }
    match window.get(eol + 1) {
        Some(b'\n') => {}
        Some(_) => return Err(Failure::BadHeader),
        // The CR is the 107th byte: no room left for the LF.
        None if input.len() >= V1_MAX => return Err(Failure::BadHeader),
        None => return Ok(Parse::Incomplete),
    }
    let line = input.get(V1_PREFIX.len()..eol).unwrap_or(&[]);
    let len = eol + 2;
    if let Some(rest) = line.strip_prefix(b"UNKNOWN") {
        // The sender may omit the rest; the receiver ignores whatever is there.
        if rest.is_empty() || rest.first() == Some(&b' ') {
            return Ok(Parse::Done(Header {
                len,
                version: Version::V1,
                addrs: None,
            }));
        }
        return Err(Failure::BadProto);
    }
    let (v6, fields) = match (line.strip_prefix(b"TCP4 "), line.strip_prefix(b"TCP6 ")) {
        (Some(f), _) => (false, f),
        (None, Some(f)) => (true, f),
        (None, None) => return Err(Failure::BadProto),
    };
    let mut parts = fields.split(|&c| c == b' ');
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(Failure::BadHeader);
    };
    let ip = |text: &[u8]| -> Result<IpAddr, Failure> {
        let s = std::str::from_utf8(text).map_err(|_| Failure::BadHeader)?;
        // Rust's parsers reject heading zeroes in IPv4 parts, as the specification asks.
        if v6 {
            s.parse::<Ipv6Addr>().map(IpAddr::V6)
        } else {
            s.parse::<Ipv4Addr>().map(IpAddr::V4)
        }
        .map_err(|_| Failure::BadHeader)
    };
    let src = SocketAddr::new(ip(src)?, port(sport)?);
    let dst = SocketAddr::new(ip(dst)?, port(dport)?);
    Ok(Parse::Done(Header {
        len,
        version: Version::V1,
        addrs: Some((src, dst)),
    }))
}

/// A decimal port in `0..=65535` without heading zeroes.
fn port(text: &[u8]) -> Result<u16, Failure> {
    let canonical = match text {
        [] => false,
        [b'0'] => true,
        [first, ..] => *first != b'0' && text.len() <= 5,
    };
    if !canonical || !text.iter().all(u8::is_ascii_digit) {
        return Err(Failure::BadHeader);
    }
    let n = text.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).map_err(|_| Failure::BadHeader)
}

/// Version 2: the fixed 16 bytes, the address block of the family, then TLVs up to exactly
/// the announced length.
fn parse_v2(input: &[u8], limit: usize) -> Result<Parse, Failure> {
    let byte = |i: usize| input.get(i).copied().unwrap_or(0);
    let ver_cmd = byte(12);
    if ver_cmd >> 4 != 2 {
        return Err(Failure::NotHeader);
    }
    let fam = byte(13);
    let body = usize::from(u16::from_be_bytes([byte(14), byte(15)]));
    let len = V2_FIXED + body;
    if len > limit {
        return Err(Failure::BadHeader);
    }
    let Some(header) = input.get(..len) else {
        return Ok(Parse::Incomplete);
    };
    let done = |addrs| {
        Ok(Parse::Done(Header {
            len,
            version: Version::V2,
            addrs,
        }))
    };
    match ver_cmd & 0x0f {
        // LOCAL: the family and whatever follows are ignored (section 2.2).
        0x0 => return done(None),
        0x1 => {}
        _ => return Err(Failure::BadHeader),
    }
    let (addr_len, used) = match fam {
        0x11 => (V2_ADDR_INET, true),
        0x21 => (V2_ADDR_INET6, true),
        // Valid combinations Ravelin does not use fall back to UNSPEC: real addresses.
        0x12 => (V2_ADDR_INET, false),
        0x22 => (V2_ADDR_INET6, false),
        0x31 | 0x32 => (V2_ADDR_UNIX, false),
        // UNSPEC: the length only says how much to skip; nothing in it is interpreted.
        0x00 => return done(None),
        _ => return Err(Failure::BadHeader),
    };
    if body < addr_len {
        return Err(Failure::BadHeader);
    }
    let block = header.get(V2_FIXED..V2_FIXED + addr_len).unwrap_or(&[]);
    let addrs = if !used {
        None
    } else if fam == 0x11 {
        let a = |i: usize| block.get(i).copied().unwrap_or(0);
        let src = Ipv4Addr::new(a(0), a(1), a(2), a(3));
        let dst = Ipv4Addr::new(a(4), a(5), a(6), a(7));
        let sport = u16::from_be_bytes([a(8), a(9)]);
        let dport = u16::from_be_bytes([a(10), a(11)]);
        Some((
            SocketAddr::new(src.into(), sport),
            SocketAddr::new(dst.into(), dport),
        ))
    } else {
        let ip6 = |at: usize| {
            let mut o = [0u8; 16];
            if let Some(s) = block.get(at..at + 16) {
                o.copy_from_slice(s);
            }
            Ipv6Addr::from(o)
        };
        let a = |i: usize| block.get(i).copied().unwrap_or(0);
        let sport = u16::from_be_bytes([a(32), a(33)]);
        let dport = u16::from_be_bytes([a(34), a(35)]);
        Some((
            SocketAddr::new(ip6(0).into(), sport),
            SocketAddr::new(ip6(16).into(), dport),
        ))
    };
    check_tlvs(header, V2_FIXED + addr_len)?;
    done(addrs)
}

/// Walks the TLVs of `header` from `at`: each must fit, the last must end exactly at the
/// header's end, and the ones HAProxy checks must be valid.
fn check_tlvs(header: &[u8], mut at: usize) -> Result<(), Failure> {
    while at < header.len() {
        let Some(&[kind, hi, lo]) = header.get(at..at + 3) else {
            return Err(Failure::BadHeader);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let value_at = at + 3;
        let Some(value) = header.get(value_at..value_at + len) else {
            return Err(Failure::BadHeader);
        };
        match kind {
            PP2_TYPE_CRC32C => {
                let Ok(sent) = <[u8; 4]>::try_from(value) else {
                    return Err(Failure::BadHeader);
                };
                if crc32c_zeroed(header, value_at) != u32::from_be_bytes(sent) {
                    return Err(Failure::BadHeader);
                }
            }
            PP2_TYPE_AUTHORITY if len > AUTHORITY_MAX => return Err(Failure::BadHeader),
            PP2_TYPE_UNIQUE_ID if len > UNIQUE_ID_MAX => return Err(Failure::BadHeader),
            _ => {}
        }
        at = value_at + len;
    }
    Ok(())
}

/// CRC32C (Castagnoli, reflected 0x82F63B78) lookup table.
// Evaluated at compile time: an index out of range would fail the build, not run; `i` is
// below 256, so `i as u32` keeps every bit.
#[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn crc32c_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        let i = usize::from((crc & 0xFF) as u8 ^ b);
        crc = CRC32C_TABLE.get(i).copied().unwrap_or(0) ^ (crc >> 8);
    }
    crc
}

/// The CRC32C of `header` with the 4 bytes at `at` (the checksum's value) taken as zeroes.
fn crc32c_zeroed(header: &[u8], at: usize) -> u32 {
    let before = header.get(..at).unwrap_or(&[]);
    let after = header.get(at + 4..).unwrap_or(&[]);
    let crc = crc32c_update(!0, before);
    let crc = crc32c_update(crc, &[0; 4]);
    !crc32c_update(crc, after)
}

/// A header to send, built without allocation: at most 104 bytes in version 1 (a `TCP6`
/// line), 52 in version 2 (IPv6 addresses, no TLV). Keeps how much was sent, for a socket
/// that takes it in several writes.
#[derive(Clone, Copy)]
pub(crate) struct Line {
    bytes: [u8; V1_MAX],
    len: usize,
    sent: usize,
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Line({:?})", self.as_bytes())
    }
}

impl Line {
    fn new() -> Line {
        Line {
            bytes: [0; V1_MAX],
            len: 0,
            sent: 0,
        }
    }

    /// The header in `version` for a stream from `addrs.0` to `addrs.1` (`None`: unknown).
    pub(crate) fn build(version: Version, addrs: Option<(SocketAddr, SocketAddr)>) -> Line {
        match version {
            Version::V1 => v1(addrs),
            Version::V2 => v2(addrs),
        }
    }

    /// What is left to send.
    pub(crate) fn pending(&self) -> &[u8] {
        self.bytes.get(self.sent..self.len).unwrap_or(&[])
    }

    /// Notes `n` more bytes sent; returns how many of them were the header's (the rest of a
    /// vectored write belongs to what followed it).
    pub(crate) fn consume(&mut self, n: usize) -> usize {
        let used = n.min(self.len - self.sent);
        self.sent += used;
        used
    }

    pub(crate) fn is_sent(&self) -> bool {
        self.sent >= self.len
    }

    fn push(&mut self, data: &[u8]) {
        let end = (self.len + data.len()).min(self.bytes.len());
        let n = end - self.len;
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(self.len..end), data.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.len = end;
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl std::io::Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let before = self.len;
        self.push(buf);
        Ok(self.len - before)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Both addresses in one family: IPv6 when either is (an IPv4 one becomes IPv4-mapped, as
/// HAProxy's `make_proxy_line_v1/v2`).
fn same_family(src: SocketAddr, dst: SocketAddr) -> (IpAddr, IpAddr) {
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (s.into(), d.into()),
        (s, d) => (v6(s).into(), v6(d).into()),
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// The version 1 line for a stream from `src` to `dst`; `PROXY UNKNOWN\r\n` when either is
/// unknown (a unix-socket client), as HAProxy.
pub(crate) fn v1(addrs: Option<(SocketAddr, SocketAddr)>) -> Line {
    use std::io::Write;
    let mut out = Line::new();
    let Some((src, dst)) = addrs else {
        out.push(b"PROXY UNKNOWN\r\n");
        return out;
    };
    let (s, d) = same_family(src, dst);
    let proto = if s.is_ipv4() { "TCP4" } else { "TCP6" };
    let _ = write!(
        out,
        "PROXY {proto} {s} {d} {} {}\r\n",
        src.port(),
        dst.port()
    );
    out
}

/// The version 2 header: PROXY with the addresses, or LOCAL (family UNSPEC, no address) when
/// they are unknown or the connection is Ravelin's own (a health check), as HAProxy.
pub(crate) fn v2(addrs: Option<(SocketAddr, SocketAddr)>) -> Line {
    let mut out = Line::new();
    out.push(&V2_SIG);
    let Some((src, dst)) = addrs else {
        out.push(&[0x20, 0x00, 0, 0]);
        return out;
    };
    match same_family(src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(&[0x21, 0x11, 0, V2_ADDR_INET_U8]);
            out.push(&s.octets());
            out.push(&d.octets());
        }
        (s, d) => {
            out.push(&[0x21, 0x21, 0, V2_ADDR_INET6_U8]);
            out.push(&v6(s).octets());
            out.push(&v6(d).octets());
        }
    }
    out.push(&src.port().to_be_bytes());
    out.push(&dst.port().to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 16384;

    fn sa(s: &str) -> SocketAddr {
        s.parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn done(input: &[u8]) -> Header {
        let r = parse(input, LIMIT);
        assert!(matches!(r, Ok(Parse::Done(_))), "{input:?} → {r:?}");
        match r {
            Ok(Parse::Done(h)) => h,
            _ => Header {
                len: 0,
                version: Version::V1,
                addrs: None,
            },
        }
    }

    fn v2hdr(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut v = V2_SIG.to_vec();
        v.push(ver_cmd);
        v.push(fam);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn inet4_block() -> Vec<u8> {
        let mut b = vec![1, 2, 3, 4, 5, 6, 7, 8];
        b.extend_from_slice(&1111u16.to_be_bytes());
        b.extend_from_slice(&2222u16.to_be_bytes());
        b
    }

    #[test]
    fn v1_tcp4_with_data_after() {
        let line = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n";
        let mut input = line.to_vec();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let h = done(&input);
        assert_eq!(h.len, line.len());
        assert_eq!(h.version, Version::V1);
        assert_eq!(h.addrs, Some((sa("1.2.3.4:1111"), sa("5.6.7.8:2222"))));
    }

    #[test]
    fn v1_tcp6_and_unknown() {
        let h = done(b"PROXY TCP6 ::1 2001:db8::1 1 65535\r\nxyz");
        assert_eq!(h.addrs, Some((sa("[::1]:1"), sa("[2001:db8::1]:65535"))));
        assert_eq!(done(b"PROXY UNKNOWN\r\n").addrs, None);
        assert_eq!(done(b"PROXY UNKNOWN\r\n").len, 15);
        // The specification's worst case: 107 bytes, the rest of the line ignored.
        let ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let worst = format!("PROXY UNKNOWN {ff} {ff} 65535 65535\r\n");
        assert_eq!(worst.len(), V1_MAX);
        assert_eq!(done(worst.as_bytes()).len, V1_MAX);
        let full6 = format!("PROXY TCP6 {ff} {ff} 65535 65535\r\n");
        assert_eq!(done(full6.as_bytes()).len, 104);
    }

    #[test]
    fn v1_partial_waits_then_completes() {
        let line = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n";
        for cut in 0..line.len() {
            let part = line.get(..cut).unwrap_or(&[]);
            assert_eq!(parse(part, LIMIT), Ok(Parse::Incomplete), "cut at {cut}");
        }
        assert!(matches!(parse(line, LIMIT), Ok(Parse::Done(_))));
    }

    #[test]
    fn v1_errors_match_haproxy_messages() {
        let bad = |s: &[u8]| parse(s, LIMIT);
        assert_eq!(bad(b"GET / HTTP/1.1\r\n"), Err(Failure::NotHeader));
        assert_eq!(
            bad(b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
            Err(Failure::NotHeader)
        );
        assert_eq!(
            bad(b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"),
            Err(Failure::BadProto)
        );
        assert_eq!(
            bad(b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"),
            Err(Failure::BadProto)
        );
        assert_eq!(bad(b"PROXY UNKNOWNx\r\n"), Err(Failure::BadProto));
        assert_eq!(bad(b"PROXY \r\n"), Err(Failure::BadProto));
        assert_eq!(bad(b"PROXY TCP4\r\n"), Err(Failure::BadProto));
        // Judged before the end of the line.
        assert_eq!(bad(b"PROXY X"), Err(Failure::BadProto));
        for s in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 \r\n",
        ] {
            assert_eq!(
                bad(s),
                Err(Failure::BadHeader),
                "{}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn v1_without_crlf_in_107_bytes_is_invalid() {
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX, b'a');
        assert_eq!(parse(&long, LIMIT), Err(Failure::BadHeader));
        // The CR as the 107th byte leaves no room for the LF.
        let mut cr_last = b"PROXY UNKNOWN ".to_vec();
        cr_last.resize(V1_MAX - 1, b'a');
        cr_last.push(b'\r');
        assert_eq!(parse(&cr_last, LIMIT), Err(Failure::BadHeader));
        cr_last.truncate(V1_MAX - 2);
        cr_last.push(b'\r');
        assert_eq!(parse(&cr_last, LIMIT), Ok(Parse::Incomplete));
    }

    #[test]
    fn v2_inet_inet6_local_and_tlvs() {
        let mut input = v2hdr(0x21, 0x11, &inet4_block());
        let len = input.len();
        input.extend_from_slice(b"hello");
        let h = done(&input);
        assert_eq!((h.len, h.version), (len, Version::V2));
        assert_eq!(h.addrs, Some((sa("1.2.3.4:1111"), sa("5.6.7.8:2222"))));

        let mut b6 = Vec::new();
        b6.extend_from_slice(
            &"::1"
                .parse::<Ipv6Addr>()
                .map(|a| a.octets())
                .unwrap_or([0; 16]),
        );
        b6.extend_from_slice(
            &"2001:db8::1"
                .parse::<Ipv6Addr>()
                .map(|a| a.octets())
                .unwrap_or([0; 16]),
        );
        b6.extend_from_slice(&[0, 1, 0, 2]);
        let h = done(&v2hdr(0x21, 0x21, &b6));
        assert_eq!(h.addrs, Some((sa("[::1]:1"), sa("[2001:db8::1]:2"))));

        // LOCAL: addresses ignored, whatever the family and length.
        let h = done(&v2hdr(0x20, 0x11, &inet4_block()));
        assert_eq!((h.addrs, h.len), (None, 28));
        assert_eq!(done(&v2hdr(0x20, 0x00, &[])).len, 16);

        // TLVs are skipped when they end exactly at the announced length.
        let mut body = inet4_block();
        body.extend_from_slice(&[0x04, 0x00, 0x02, b'a', b'b', 0xEA, 0x00, 0x00]);
        let h = done(&v2hdr(0x21, 0x11, &body));
        assert_eq!(h.len, 16 + body.len());
    }

    #[test]
    fn v2_fallback_families_keep_the_real_addresses() {
        assert_eq!(done(&v2hdr(0x21, 0x00, b"junkjunk")).addrs, None);
        assert_eq!(done(&v2hdr(0x21, 0x12, &inet4_block())).addrs, None);
        assert_eq!(done(&v2hdr(0x21, 0x31, &[b'a'; 216])).addrs, None);
        assert_eq!(done(&v2hdr(0x21, 0x32, &[0; 216])).addrs, None);
    }

    #[test]
    fn v2_errors() {
        let e = |v: &[u8]| parse(v, LIMIT);
        // Another version: not a header HAProxy recognises.
        assert_eq!(
            e(&v2hdr(0x11, 0x11, &inet4_block())),
            Err(Failure::NotHeader)
        );
        assert_eq!(
            e(&v2hdr(0x22, 0x11, &inet4_block())),
            Err(Failure::BadHeader)
        );
        for fam in [0x41, 0x13, 0x10, 0x01, 0x33, 0xff] {
            assert_eq!(
                e(&v2hdr(0x21, fam, &inet4_block())),
                Err(Failure::BadHeader)
            );
        }
        // Address block shorter than the family's.
        assert_eq!(
            e(&v2hdr(0x21, 0x11, inet4_block().get(..8).unwrap_or(&[]))),
            Err(Failure::BadHeader)
        );
        assert_eq!(e(&v2hdr(0x21, 0x12, b"x")), Err(Failure::BadHeader));
        assert_eq!(
            e(&v2hdr(0x21, 0x21, &inet4_block())),
            Err(Failure::BadHeader)
        );
        // A TLV running past the end, a partial TLV header.
        let mut over = inet4_block();
        over.extend_from_slice(&[0x04, 0x00, 0x05, b'a', b'b']);
        assert_eq!(e(&v2hdr(0x21, 0x11, &over)), Err(Failure::BadHeader));
        let mut partial = inet4_block();
        partial.extend_from_slice(&[0x04, 0x00]);
        assert_eq!(e(&v2hdr(0x21, 0x11, &partial)), Err(Failure::BadHeader));
        // Oversized authority and unique id.
        let mut auth = inet4_block();
        auth.extend_from_slice(&[PP2_TYPE_AUTHORITY, 0x01, 0x00]);
        auth.extend_from_slice(&[b'a'; 256]);
        assert_eq!(e(&v2hdr(0x21, 0x11, &auth)), Err(Failure::BadHeader));
        let mut uid = inet4_block();
        uid.extend_from_slice(&[PP2_TYPE_UNIQUE_ID, 0x00, 129]);
        uid.extend_from_slice(&[b'u'; 129]);
        assert_eq!(e(&v2hdr(0x21, 0x11, &uid)), Err(Failure::BadHeader));
        // Longer than the caller's buffer.
        assert_eq!(
            parse(&v2hdr(0x21, 0x11, &inet4_block()), 20),
            Err(Failure::BadHeader)
        );
    }

    #[test]
    fn v2_crc32c_is_checked() {
        // CRC32C("123456789") = 0xE3069283 (RFC 3720's check value).
        assert_eq!(!crc32c_update(!0, b"123456789"), 0xE306_9283);
        let mut body = inet4_block();
        body.extend_from_slice(&[PP2_TYPE_CRC32C, 0x00, 0x04, 0, 0, 0, 0]);
        let mut good = v2hdr(0x21, 0x11, &body);
        let at = good.len() - 4;
        let crc = crc32c_zeroed(&good, at);
        if let Some(s) = good.get_mut(at..) {
            s.copy_from_slice(&crc.to_be_bytes());
        }
        assert!(matches!(parse(&good, LIMIT), Ok(Parse::Done(_))));
        if let Some(b) = good.last_mut() {
            *b ^= 1;
        }
        assert_eq!(parse(&good, LIMIT), Err(Failure::BadHeader));
        let mut short = inet4_block();
        short.extend_from_slice(&[PP2_TYPE_CRC32C, 0x00, 0x02, 0, 0]);
        assert_eq!(
            parse(&v2hdr(0x21, 0x11, &short), LIMIT),
            Err(Failure::BadHeader)
        );
    }

    #[test]
    fn v2_partial_waits() {
        let full = v2hdr(0x21, 0x11, &inet4_block());
        for cut in 0..full.len() {
            let part = full.get(..cut).unwrap_or(&[]);
            assert_eq!(parse(part, LIMIT), Ok(Parse::Incomplete), "cut at {cut}");
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        // Every prefix and every single-byte corruption of valid headers, plus a pseudo-random
        // stream: the parser answers without panicking and never claims more than it got.
        let structured: Vec<Vec<u8>> = vec![
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nDATA".to_vec(),
            b"PROXY TCP6 ::1 ::2 1 2\r\n".to_vec(),
            b"PROXY UNKNOWN\r\n".to_vec(),
            v2hdr(0x21, 0x11, &inet4_block()),
            v2hdr(0x20, 0x00, &[]),
            v2hdr(0x21, 0x31, &[7; 216]),
        ];
        for s in &structured {
            for cut in 0..=s.len() {
                let part = s.get(..cut).unwrap_or(&[]);
                for i in 0..part.len() {
                    let mut m = part.to_vec();
                    if let Some(b) = m.get_mut(i) {
                        *b = b.wrapping_add(0x55);
                    }
                    check_sane(&m);
                }
            }
        }
        let mut seeds = structured;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200 {
            let mut v = Vec::new();
            for _ in 0..(x % 300) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            seeds.push(v.clone());
            let mut sig = V2_SIG.to_vec();
            sig.extend_from_slice(&v);
            seeds.push(sig);
            let mut p = b"PROXY ".to_vec();
            p.extend_from_slice(&v);
            seeds.push(p);
        }
        for s in &seeds {
            for cut in 0..=s.len() {
                check_sane(s.get(..cut).unwrap_or(&[]));
            }
        }
    }

    fn check_sane(input: &[u8]) {
        for limit in [0, 16, 40, LIMIT] {
            if let Ok(Parse::Done(h)) = parse(input, limit) {
                assert!(h.len <= input.len());
                assert!(h.len <= limit.max(V1_MAX));
            }
        }
    }

    #[test]
    fn sent_headers_match_haproxy() {
        // Bytes captured from haproxy 2.6 (send-proxy / send-proxy-v2).
        let a = Some((sa("1.2.3.4:1111"), sa("5.6.7.8:2222")));
        assert_eq!(
            v1(a).as_bytes(),
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"
        );
        assert_eq!(v1(None).as_bytes(), b"PROXY UNKNOWN\r\n");
        let mut want = v2hdr(0x21, 0x11, &inet4_block());
        assert_eq!(v2(a).as_bytes(), &want[..]);
        want = v2hdr(0x20, 0x00, &[]);
        assert_eq!(v2(None).as_bytes(), &want[..]);
        let six = Some((sa("[::1]:1"), sa("[2001:db8::1]:2")));
        assert_eq!(v1(six).as_bytes(), b"PROXY TCP6 ::1 2001:db8::1 1 2\r\n");
        let h = done(v2(six).as_bytes());
        assert_eq!(h.addrs, six);
        // Mixed families: the IPv4 side becomes IPv4-mapped.
        let mixed = Some((sa("1.2.3.4:1"), sa("[::1]:2")));
        assert_eq!(
            v1(mixed).as_bytes(),
            b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"
        );
        assert_eq!(v2(mixed).as_bytes().len(), 52);
        // Every header built parses back to itself.
        for a in [a, six, None] {
            assert_eq!(done(v1(a).as_bytes()).addrs, a);
        }
        let ff = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
        let longest = v1(Some((sa(ff), sa(ff))));
        assert_eq!(longest.as_bytes().len(), 104);
    }

    #[test]
    fn line_is_sent_in_pieces() {
        let mut l = Line::build(Version::V1, None);
        assert_eq!(l.pending(), b"PROXY UNKNOWN\r\n");
        assert_eq!(l.consume(6), 6);
        assert_eq!(l.pending(), b"UNKNOWN\r\n");
        assert!(!l.is_sent());
        // A vectored write that also carried 5 bytes of what follows.
        assert_eq!(l.consume(9 + 5), 9);
        assert!(l.is_sent() && l.pending().is_empty());
        assert_eq!(l.consume(3), 0);
    }
}
