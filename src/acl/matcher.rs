//! Comparing one sample with the patterns of an ACL line, without allocating.
//!
//! Samples of another type than the matcher expects are converted as HAProxy does: integers
//! and addresses matched as text are formatted into a stack buffer, text matched as an integer
//! or an address is parsed in place. A sample that cannot be converted does not match.

use std::io::Write;
use std::net::{IpAddr, Ipv6Addr};

use super::{Expr, Matcher, Patterns, Sample};

/// An integer pattern: `N`, `N:M`, `:M`, `N:` or `eq|ge|gt|le|lt N`, as an inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntRange {
    pub(crate) min: i64,
    pub(crate) max: i64,
}

impl IntRange {
    pub(crate) fn contains(&self, v: i64) -> bool {
        self.min <= v && v <= self.max
    }
}

/// An address pattern with its prefix length (IPv4 patterns are stored as IPv4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpNet {
    pub(crate) addr: IpAddr,
    pub(crate) prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses match IPv4 networks and
    /// IPv4 addresses match `::ffff:a.b.c.d` networks, as HAProxy converts between families.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix.min(32)))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => v6_in(net, self.prefix, ip),
            (IpAddr::V6(net), IpAddr::V4(ip)) => v6_in(net, self.prefix, ip.to_ipv6_mapped()),
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

fn v6_in(net: Ipv6Addr, prefix: u8, ip: Ipv6Addr) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0);
    u128::from(net) & mask == u128::from(ip) & mask
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// A small stack buffer for formatting integers and addresses.
struct Stack {
    buf: [u8; 48],
    len: usize,
}

impl Stack {
    fn format(args: std::fmt::Arguments<'_>) -> Stack {
        let mut buf = [0u8; 48];
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        let len = match cur.write_fmt(args) {
            Ok(()) => usize::try_from(cur.position()).unwrap_or(0),
            Err(_) => 0,
        };
        Stack { buf, len }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// Whether `s` matches the patterns of `e`.
pub(crate) fn matches(e: &Expr, s: Sample<'_>) -> bool {
    match e.matcher {
        Matcher::Found => true,
        Matcher::Bool => match s {
            Sample::Bool(b) => b,
            Sample::Int(n) => n != 0,
            Sample::Bytes(b) => parse_int(b).is_some_and(|n| n != 0),
            Sample::Ip(_) => true,
        },
        Matcher::Int | Matcher::Len => {
            let v = match (e.matcher, s) {
                (Matcher::Len, Sample::Bytes(b)) => i64::try_from(b.len()).ok(),
                (Matcher::Len, Sample::Int(n)) => {
                    i64::try_from(Stack::format(format_args!("{n}")).len).ok()
                }
                (Matcher::Len, Sample::Ip(ip)) => {
                    i64::try_from(Stack::format(format_args!("{ip}")).len).ok()
                }
                (_, Sample::Int(n)) => Some(n),
                (_, Sample::Bool(b)) => Some(i64::from(b)),
                (_, Sample::Bytes(b)) => parse_int(b),
                (_, Sample::Ip(_)) => None,
            };
            let Some(v) = v else { return false };
            match &e.patterns {
                Patterns::Ints(r) => r.iter().any(|r| r.contains(v)),
                _ => false,
            }
        }
        Matcher::Ip => {
            let ip = match s {
                Sample::Ip(ip) => ip,
                Sample::Bytes(b) => {
                    match std::str::from_utf8(b).ok().and_then(|t| t.parse().ok()) {
                        Some(ip) => ip,
                        None => return false,
                    }
                }
                Sample::Int(_) | Sample::Bool(_) => return false,
            };
            match &e.patterns {
                Patterns::Ips(nets) => nets.iter().any(|n| n.contains(ip)),
                _ => false,
            }
        }
        Matcher::Str
        | Matcher::Beg
        | Matcher::End
        | Matcher::Sub
        | Matcher::Dir
        | Matcher::Dom
        | Matcher::Reg => {
            let tmp;
            let bytes = match s {
                Sample::Bytes(b) => b,
                Sample::Int(n) => {
                    tmp = Stack::format(format_args!("{n}"));
                    tmp.bytes()
                }
                Sample::Ip(ip) => {
                    tmp = Stack::format(format_args!("{ip}"));
                    tmp.bytes()
                }
                Sample::Bool(b) => {
                    if b {
                        b"1"
                    } else {
                        b"0"
                    }
                }
            };
            match &e.patterns {
                Patterns::Regex(res) => res.iter().any(|r| r.is_match(bytes)),
                Patterns::Bytes(pats) => pats
                    .iter()
                    .any(|p| text_matches(e.matcher, e.icase, bytes, p)),
                _ => false,
            }
        }
    }
}

fn eq(a: &[u8], b: &[u8], icase: bool) -> bool {
    if icase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// Text matchers on one pattern.
pub(crate) fn text_matches(m: Matcher, icase: bool, s: &[u8], p: &[u8]) -> bool {
    match m {
        Matcher::Str => eq(s, p, icase),
        Matcher::Beg => s.get(..p.len()).is_some_and(|h| eq(h, p, icase)),
        Matcher::End => s
            .len()
            .checked_sub(p.len())
            .and_then(|i| s.get(i..))
            .is_some_and(|t| eq(t, p, icase)),
        Matcher::Sub => p.is_empty() || s.windows(p.len()).any(|w| eq(w, p, icase)),
        Matcher::Dir => match_word(s, p, icase, b"/?"),
        Matcher::Dom => match_word(s, p, icase, b"/?.:"),
        _ => false,
    }
}

/// HAProxy's `match_word()`: `p` (without its own leading/trailing delimiters) appears in `s`
/// between delimiters or the ends of `s`.
fn match_word(s: &[u8], p: &[u8], icase: bool, delims: &[u8]) -> bool {
    let is_delim = |b: &u8| delims.contains(b);
    let start = p.iter().position(|b| !is_delim(b)).unwrap_or(p.len());
    let end = p
        .iter()
        .rposition(|b| !is_delim(b))
        .map_or(start, |e| e + 1);
    let p = p.get(start..end).unwrap_or(&[]);
    if p.is_empty() {
        return false;
    }
    let n = p.len();
    (0..s.len().saturating_sub(n - 1)).any(|i| {
        let before_ok = i == 0 || s.get(i - 1).is_some_and(is_delim);
        let after_ok = s.get(i + n).is_none_or(is_delim);
        before_ok && after_ok && s.get(i..i + n).is_some_and(|w| eq(w, p, icase))
    })
}

/// An integer at the start of `b` (optional sign, digits); `None` without digits.
pub(crate) fn parse_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, b.get(1..)?),
        Some(b'+') => (false, b.get(1..)?),
        _ => (false, b),
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.get(..n)? {
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -v } else { v })
}
