//! Addresses on `bind` and `server` lines, following HAProxy's `str2sa_range()`.
//!
//! Bind addresses: `ADDR:PORT[-END]` (`*`, empty or `0.0.0.0` = IPv4 any, `::` = IPv6 any,
//! `[v6]:port` or `v6:port` with the last colon as separator), comma-separated lists,
//! `unix@/path` or `/path`, `fd@N`, and the `ipv4@`/`ipv6@` prefixes. Server addresses take
//! the same forms plus port offsets (`:+N`, `:-N`) and no port at all. Server hostnames are
//! returned unresolved (resolution happens once, in the build step, with HAProxy's message);
//! bind hostnames are resolved here because HAProxy reports them as invalid addresses.
//! Errors are the text HAProxy prints after `'bind' : ` or `'server be/s' : `.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::model::{BindAddr, PortRule};

/// `sizeof(sun_path) - 1`: the longest path a server's UNIX socket may have.
const MAX_UNIX_PATH: usize = 107;
/// A bind socket is created under a temporary name `PATH.PID.tmp` first, so HAProxy keeps
/// ten bytes of margin (its message says "max 97").
const MAX_BIND_UNIX_PATH: usize = MAX_UNIX_PATH - 10;

/// Address family forced by an `ipv4@`/`ipv6@` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Any,
    V4,
    V6,
}

/// A server address as written, before hostname resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServerSpec {
    Inet { host: Host, port: PortRule },
    Unix(PathBuf),
}

/// A host part: a literal address or a name to resolve with the given family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    Name(String, Family),
}

/// Prefixes HAProxy accepts and Ravelin does not (datagram, QUIC, abstract sockets...).
const UNSUPPORTED_PREFIXES: &[&str] = &[
    "abns@",
    "sockpair@",
    "udp@",
    "udp4@",
    "udp6@",
    "quic4@",
    "quic6@",
    "uxdg@",
    "uxst@",
    "rhttp@",
];

/// What a prefix turned the rest of the address into.
enum Prefixed<'a> {
    Inet(Family, &'a str),
    Unix(&'a str),
    Fd(&'a str),
}

fn split_prefix(s: &str) -> Result<Prefixed<'_>, String> {
    for p in UNSUPPORTED_PREFIXES {
        if s.starts_with(p) {
            return Err(format!(
                "address family '{p}' in '{s}' is a HAProxy feature that Ravelin does not support yet"
            ));
        }
    }
    let pairs: [(&str, Family); 6] = [
        ("ipv4@", Family::V4),
        ("ipv6@", Family::V6),
        ("tcp4@", Family::V4),
        ("tcp6@", Family::V6),
        ("tcp@", Family::Any),
        ("ip@", Family::Any),
    ];
    for (p, fam) in pairs {
        if let Some(rest) = s.strip_prefix(p) {
            return Ok(Prefixed::Inet(fam, rest));
        }
    }
    if let Some(rest) = s.strip_prefix("unix@") {
        return Ok(Prefixed::Unix(rest));
    }
    if let Some(rest) = s.strip_prefix("fd@") {
        return Ok(Prefixed::Fd(rest));
    }
    if s.starts_with('/') {
        return Ok(Prefixed::Unix(s));
    }
    Ok(Prefixed::Inet(Family::Any, s))
}

/// Splits `host:port`, `[v6]:port` or `[v6]` / `host` (no port: `None`).
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), ()> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']').ok_or(())?;
        let host = rest.get(..close).ok_or(())?;
        let after = rest.get(close + 1..).ok_or(())?;
        if after.is_empty() {
            return Ok((host, None));
        }
        return after.strip_prefix(':').map(|p| (host, Some(p))).ok_or(());
    }
    match s.rfind(':') {
        Some(i) => Ok((s.get(..i).ok_or(())?, s.get(i + 1..))),
        None => Ok((s, None)),
    }
}

/// Parses a port number the way HAProxy reports errors on it.
fn parse_port(p: &str, whole: &str) -> Result<u16, String> {
    if let Some(c) = p.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!(
            "invalid character '{c}' in port number '{p}' in '{whole}'"
        ));
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => {
            u16::try_from(n).map_err(|_| format!("invalid port '{p}'"))
        }
        _ => Err(format!("invalid port '{p}'")),
    }
}

fn parse_literal(host: &str, fam: Family) -> Option<IpAddr> {
    let ip: IpAddr = host.parse().ok()?;
    match (fam, ip) {
        (Family::V4, IpAddr::V6(_)) | (Family::V6, IpAddr::V4(_)) => None,
        _ => Some(ip),
    }
}

/// Resolves a name once, keeping the first address of the wanted family.
pub(crate) fn resolve(name: &str, fam: Family) -> Option<IpAddr> {
    let addrs = (name, 0u16).to_socket_addrs().ok()?;
    addrs.map(|a| a.ip()).find(|ip| match fam {
        Family::Any => true,
        Family::V4 => ip.is_ipv4(),
        Family::V6 => ip.is_ipv6(),
    })
}

/// Parses the address argument of a `bind` line into one entry per address and port.
pub(crate) fn parse_bind(spec: &str) -> Result<Vec<BindAddr>, String> {
    let mut out = Vec::new();
    for item in spec.split(',') {
        match split_prefix(item)? {
            Prefixed::Unix(path) => {
                if path.len() > MAX_BIND_UNIX_PATH {
                    return Err(format!(
                        "socket path '{item}' too long (max {MAX_BIND_UNIX_PATH})"
                    ));
                }
                out.push(BindAddr::Unix(PathBuf::from(path)));
            }
            Prefixed::Fd(n) => match n.parse::<i32>() {
                Ok(fd) if fd >= 0 => out.push(BindAddr::Fd(fd)),
                _ => {
                    return Err(format!(
                        "file descriptor '{n}' is not a valid integer in '{item}'"
                    ));
                }
            },
            Prefixed::Inet(fam, rest) => {
                let invalid = |h: &str| format!("invalid address: '{h}' in '{item}'");
                let (host, port) = split_host_port(rest).map_err(|()| invalid(rest))?;
                let port = match port {
                    Some(p) if !p.is_empty() => p,
                    _ => return Err(format!("missing port specification in '{item}'")),
                };
                let ip = match host {
                    "" | "*" => match fam {
                        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        Family::V4 | Family::Any => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    },
                    h => parse_literal(h, fam)
                        .or_else(|| resolve(h, fam))
                        .ok_or_else(|| invalid(h))?,
                };
                let (low, high) = match port.split_once('-') {
                    Some((a, b)) => {
                        let low = parse_port(a, item)?;
                        let high = parse_port(b, item)?;
                        if high < low {
                            return Err(format!("invalid port range '{port}'"));
                        }
                        (low, high)
                    }
                    None => {
                        let p = parse_port(port, item)?;
                        (p, p)
                    }
                };
                for p in low..=high {
                    out.push(BindAddr::Inet(SocketAddr::new(ip, p)));
                }
            }
        }
    }
    Ok(out)
}

/// Parses the address argument of a `server` line.
pub(crate) fn parse_server(spec: &str) -> Result<ServerSpec, String> {
    match split_prefix(spec)? {
        Prefixed::Unix(path) => {
            if path.len() > MAX_UNIX_PATH {
                return Err(format!(
                    "socket path '{spec}' too long (max {MAX_UNIX_PATH})"
                ));
            }
            Ok(ServerSpec::Unix(PathBuf::from(path)))
        }
        Prefixed::Fd(_) => Err(format!(
            "a file descriptor is not acceptable here in '{spec}'"
        )),
        Prefixed::Inet(fam, rest) => {
            let (host, port) = split_host_port(rest)
                .map_err(|()| format!("invalid address: '{rest}' in '{spec}'"))?;
            let port = match port {
                None | Some("") => PortRule::Same,
                Some(p) => parse_server_port(p, spec)?,
            };
            let host = match parse_literal(host, fam) {
                Some(ip) => Host::Ip(ip),
                None => Host::Name(host.to_string(), fam),
            };
            Ok(ServerSpec::Inet { host, port })
        }
    }
}

fn parse_server_port(p: &str, whole: &str) -> Result<PortRule, String> {
    if p.contains('-') && !p.starts_with('-') {
        return Err(format!("port range not permitted here in '{whole}'"));
    }
    let (sign, digits) = match p.as_bytes().first() {
        Some(b'+') => (1, p.get(1..).unwrap_or_default()),
        Some(b'-') => (-1, p.get(1..).unwrap_or_default()),
        _ => (0, p),
    };
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!(
            "invalid character '{c}' in port number '{p}' in '{whole}'"
        ));
    }
    let n: i32 = match digits.parse::<u32>() {
        Ok(n) if n <= 65535 => i32::try_from(n).map_err(|_| format!("invalid port '{p}'"))?,
        _ => return Err(format!("invalid port '{p}'")),
    };
    Ok(match sign {
        0 if n == 0 => PortRule::Same,
        0 => PortRule::Fixed(u16::try_from(n).map_err(|_| format!("invalid port '{p}'"))?),
        s => PortRule::Offset(s * n),
    })
}

/// Parses the argument of the `addr` server keyword (an address, or a name resolved now).
pub(crate) fn parse_check_addr(s: &str) -> Option<IpAddr> {
    let (fam, rest) = match split_prefix(s) {
        Ok(Prefixed::Inet(fam, rest)) => (fam, rest),
        _ => return None,
    };
    let host = match split_host_port(rest) {
        Ok((h, _)) if rest.starts_with('[') || rest.parse::<IpAddr>().is_err() => h,
        _ => rest,
    };
    parse_literal(host, fam).or_else(|| resolve(host, fam))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(s: &str) -> BindAddr {
        BindAddr::Inet(
            s.parse()
                .unwrap_or_else(|_| SocketAddr::from(([255, 255, 255, 255], 1))),
        )
    }

    #[test]
    fn bind_forms() {
        assert_eq!(parse_bind("127.0.0.1:80"), Ok(vec![inet("127.0.0.1:80")]));
        assert_eq!(parse_bind("*:80"), Ok(vec![inet("0.0.0.0:80")]));
        assert_eq!(parse_bind(":80"), Ok(vec![inet("0.0.0.0:80")]));
        assert_eq!(parse_bind("[::]:80"), Ok(vec![inet("[::]:80")]));
        assert_eq!(parse_bind(":::80"), Ok(vec![inet("[::]:80")]));
        assert_eq!(parse_bind("::1:80"), Ok(vec![inet("[::1]:80")]));
        assert_eq!(parse_bind("ipv6@:80"), Ok(vec![inet("[::]:80")]));
        assert_eq!(parse_bind("ipv4@1.2.3.4:80"), Ok(vec![inet("1.2.3.4:80")]));
        assert_eq!(
            parse_bind("unix@/tmp/s"),
            Ok(vec![BindAddr::Unix("/tmp/s".into())])
        );
        assert_eq!(
            parse_bind("/tmp/s"),
            Ok(vec![BindAddr::Unix("/tmp/s".into())])
        );
        assert_eq!(parse_bind("fd@3"), Ok(vec![BindAddr::Fd(3)]));
        assert_eq!(parse_bind("localhost:80"), Ok(vec![inet("127.0.0.1:80")]));
    }

    #[test]
    fn bind_ranges_and_lists() {
        assert_eq!(
            parse_bind("1.2.3.4:80,:81,1.1.1.1:90-92"),
            Ok(vec![
                inet("1.2.3.4:80"),
                inet("0.0.0.0:81"),
                inet("1.1.1.1:90"),
                inet("1.1.1.1:91"),
                inet("1.1.1.1:92")
            ])
        );
    }

    #[test]
    fn bind_errors_match_haproxy() {
        let e = |s: &str| parse_bind(s).err().unwrap_or_default();
        assert_eq!(e("127.0.0.1:99999"), "invalid port '99999'");
        assert_eq!(e("1.2.3.4"), "missing port specification in '1.2.3.4'");
        assert_eq!(e("1.2.3.4:"), "missing port specification in '1.2.3.4:'");
        assert_eq!(e("1.2.3.4:0"), "invalid port '0'");
        assert_eq!(e("1.2.3.4:80-70"), "invalid port range '80-70'");
        assert_eq!(e("1.2.3.4:80-"), "invalid port ''");
        assert_eq!(
            e("1.2.3.4:abc"),
            "invalid character 'a' in port number 'abc' in '1.2.3.4:abc'"
        );
        assert_eq!(e("[::1:80"), "invalid address: '[::1:80' in '[::1:80'");
        assert_eq!(
            e("300.1.1.1:80"),
            "invalid address: '300.1.1.1' in '300.1.1.1:80'"
        );
        assert_eq!(e("ipv4@::1:80"), "invalid address: '::1' in 'ipv4@::1:80'");
        assert_eq!(
            e("fd@"),
            "file descriptor '' is not a valid integer in 'fd@'"
        );
        assert_eq!(
            e("fd@abc"),
            "file descriptor 'abc' is not a valid integer in 'fd@abc'"
        );
        assert_eq!(e(":65536"), "invalid port '65536'");
        assert!(e("abns@foo").contains("does not support yet"));
        let long = format!("unix@/{}", "a".repeat(120));
        assert_eq!(e(&long), format!("socket path '{long}' too long (max 97)"));
    }

    #[test]
    fn server_forms() {
        let ip = |s: &str| Host::Ip(s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::BROADCAST)));
        let srv = |h, port| Ok(ServerSpec::Inet { host: h, port });
        assert_eq!(
            parse_server("1.2.3.4:80"),
            srv(ip("1.2.3.4"), PortRule::Fixed(80))
        );
        assert_eq!(parse_server("1.2.3.4"), srv(ip("1.2.3.4"), PortRule::Same));
        assert_eq!(
            parse_server("1.2.3.4:0"),
            srv(ip("1.2.3.4"), PortRule::Same)
        );
        assert_eq!(
            parse_server("1.2.3.4:+10"),
            srv(ip("1.2.3.4"), PortRule::Offset(10))
        );
        assert_eq!(
            parse_server("1.2.3.4:-10"),
            srv(ip("1.2.3.4"), PortRule::Offset(-10))
        );
        assert_eq!(
            parse_server("[::1]:80"),
            srv(ip("::1"), PortRule::Fixed(80))
        );
        assert_eq!(parse_server("::1:80"), srv(ip("::1"), PortRule::Fixed(80)));
        assert_eq!(parse_server("[::1]"), srv(ip("::1"), PortRule::Same));
        assert_eq!(
            parse_server("ipv6@localhost:80"),
            srv(
                Host::Name("localhost".into(), Family::V6),
                PortRule::Fixed(80)
            )
        );
        assert_eq!(
            parse_server("ipv4@::1:80"),
            srv(Host::Name("::1".into(), Family::V4), PortRule::Fixed(80))
        );
        assert_eq!(
            parse_server("unix@/tmp/x"),
            Ok(ServerSpec::Unix("/tmp/x".into()))
        );
        assert_eq!(
            parse_server("/tmp/y"),
            Ok(ServerSpec::Unix("/tmp/y".into()))
        );
    }

    #[test]
    fn server_errors_match_haproxy() {
        let e = |s: &str| parse_server(s).err().unwrap_or_default();
        assert_eq!(e("1.2.3.4:99999"), "invalid port '99999'");
        assert_eq!(
            e("1.2.3.4:80-90"),
            "port range not permitted here in '1.2.3.4:80-90'"
        );
        assert_eq!(
            e("fd@3"),
            "a file descriptor is not acceptable here in 'fd@3'"
        );
        assert_eq!(
            e("1.2.3.4:abc"),
            "invalid character 'a' in port number 'abc' in '1.2.3.4:abc'"
        );
        assert_eq!(e("1.2.3.4:+99999"), "invalid port '+99999'");
    }

    #[test]
    fn check_addr_and_resolution() {
        assert_eq!(
            parse_check_addr("10.0.0.1"),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            parse_check_addr("::1"),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(
            parse_check_addr("localhost"),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(parse_check_addr("nonexistent.invalid"), None);
        assert_eq!(
            resolve("localhost", Family::V4),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
    }

    #[test]
    fn hostile_addresses_do_not_panic() {
        for s in [
            "", ":", "[", "]", "[]:", "[:::", "::::::", "fd@-1", "-", ":-", ":+", "a:b:c-d",
        ] {
            let _ = parse_bind(s);
            let _ = parse_server(s);
            let _ = parse_check_addr(s);
        }
    }
}
