//! `log` lines and the per-proxy logging keywords, with HAProxy 2.6's messages.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::log::{Dest, FACILITIES, Header, LEVELS, Target};

/// What a `log` line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LogLine {
    /// `log global`: use the global section's targets.
    Global,
    Target(Target),
}

/// Which traffic line a proxy writes (the last of `option tcplog`, `option httplog [clf]`
/// and `log-format` wins, as in HAProxy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// The legacy "Connect from" line at accept.
    #[default]
    Legacy,
    Tcp,
    Http,
    Clf,
    Custom(String),
}

/// The logging keywords of one proxy section as written (inherited from defaults).
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyLogConf {
    pub(crate) targets: Vec<Target>,
    pub(crate) global: bool,
    pub(crate) kind: LineKind,
    /// Line of the `log-format`/`option` that set `kind` (for post-parse errors).
    pub(crate) kind_line: Option<super::error::Span>,
    pub(crate) tag: Option<String>,
    pub(crate) dontlognull: bool,
    pub(crate) separate_errors: bool,
    pub(crate) dontlog_normal: bool,
}

pub(crate) fn facility(s: &str) -> Option<u8> {
    FACILITIES
        .iter()
        .position(|f| *f == s)
        .and_then(|i| u8::try_from(i).ok())
}

pub(crate) fn level(s: &str) -> Option<u8> {
    LEVELS
        .iter()
        .position(|l| *l == s)
        .and_then(|i| u8::try_from(i).ok())
}

/// Parses `log <address> [len <length>] [format <format>] [sample <r>:<s>] <facility>
/// [<level> [<minlevel>]]` or `log global`. The error is HAProxy's text after "log : ".
pub(crate) fn parse_log(words: &[String]) -> Result<LogLine, String> {
    let arg = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    if arg(1) == "global" && arg(2).is_empty() {
        return Ok(LogLine::Global);
    }
    if arg(1).is_empty() || arg(2).is_empty() {
        return Err("expects <address> and <facility>  as arguments".into());
    }
    let mut i = 2;
    let mut len = 1024usize;
    let mut header = Header::Local;
    if arg(i) == "len" {
        let v = arg(i + 1);
        match v.parse::<usize>() {
            Ok(n) if (80..=65535).contains(&n) => len = n,
            _ => {
                return Err(format!(
                    "invalid log length '{v}', must be between 80 and 65535"
                ));
            }
        }
        i += 2;
    }
    if arg(i) == "format" {
        let v = arg(i + 1);
        header = Header::parse(v).ok_or_else(|| format!("unknown log format '{v}'"))?;
        i += 2;
    }
    if arg(i) == "sample" {
        return Err(
            "'sample' ranges are a HAProxy feature that Ravelin does not support yet".into(),
        );
    }
    let fac = facility(arg(i)).ok_or_else(|| format!("unknown log facility '{}'", arg(i)))?;
    i += 1;
    let mut max_level = 7;
    if !arg(i).is_empty() {
        max_level =
            level(arg(i)).ok_or_else(|| format!("unknown optional log level '{}'", arg(i)))?;
        i += 1;
    }
    let mut min_level = 0;
    if !arg(i).is_empty() {
        min_level = level(arg(i))
            .ok_or_else(|| format!("unknown optional minimum log level '{}'", arg(i)))?;
        i += 1;
    }
    if !arg(i).is_empty() {
        return Err(format!("cannot handle unexpected argument '{}'", arg(i)));
    }
    let dest = parse_dest(arg(1))?;
    Ok(LogLine::Target(Target {
        dest,
        header,
        len,
        facility: fac,
        max_level,
        min_level,
    }))
}

fn parse_dest(a: &str) -> Result<Dest, String> {
    match a {
        "stdout" => return Ok(Dest::Fd(1)),
        "stderr" => return Ok(Dest::Fd(2)),
        "fd@1" => return Ok(Dest::Fd(1)),
        "fd@2" => return Ok(Dest::Fd(2)),
        _ => {}
    }
    if a.starts_with("fd@") || a.starts_with("ring@") {
        return Err(format!(
            "log target '{a}' is a HAProxy feature that Ravelin does not support yet (use stdout, stderr, a unix socket path or a UDP address)"
        ));
    }
    if let Some(p) = a.strip_prefix("unix@") {
        return Ok(Dest::Unix(p.into()));
    }
    if a.starts_with('/') {
        if a.len() > 107 {
            return Err(format!("Socket path '{a}' too long (max 107)"));
        }
        return Ok(Dest::Unix(a.into()));
    }
    let a = a
        .strip_prefix("udp@")
        .or_else(|| a.strip_prefix("udp4@"))
        .or_else(|| a.strip_prefix("udp6@"))
        .or_else(|| a.strip_prefix("ipv4@"))
        .or_else(|| a.strip_prefix("ipv6@"))
        .unwrap_or(a);
    if let Ok(ip) = a.parse::<IpAddr>() {
        return Ok(Dest::Udp(SocketAddr::new(ip, 514)));
    }
    if let Ok(sa) = a.parse::<SocketAddr>() {
        return Ok(Dest::Udp(sa));
    }
    let with_port = if a
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        a.to_string()
    } else {
        format!("{a}:514")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .map(Dest::Udp)
        .ok_or_else(|| format!("unknown host in '{a}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn log_lines() {
        assert_eq!(parse_log(&w("log global")), Ok(LogLine::Global));
        let Ok(LogLine::Target(t)) =
            parse_log(&w("log 127.0.0.1:5140 len 2000 format raw local0 info err"))
        else {
            panic!("parsed");
        };
        assert_eq!(t.dest, Dest::Udp("127.0.0.1:5140".parse().unwrap()));
        assert_eq!(
            (t.len, t.header, t.facility, t.max_level, t.min_level),
            (2000, Header::Raw, 16, 6, 3)
        );
        let Ok(LogLine::Target(t)) = parse_log(&w("log /dev/log daemon")) else {
            panic!("parsed");
        };
        assert_eq!(t.dest, Dest::Unix("/dev/log".into()));
        let Ok(LogLine::Target(t)) = parse_log(&w("log 10.0.0.1 local7")) else {
            panic!("parsed");
        };
        assert_eq!(t.dest, Dest::Udp("10.0.0.1:514".parse().unwrap()));
    }

    #[test]
    fn haproxy_messages() {
        let e = |s: &str| parse_log(&w(s)).err().unwrap_or_default();
        assert_eq!(
            e("log 127.0.0.1 len 10 local0"),
            "invalid log length '10', must be between 80 and 65535"
        );
        assert_eq!(
            e("log 127.0.0.1 format foo local0"),
            "unknown log format 'foo'"
        );
        assert_eq!(e("log 127.0.0.1 local9"), "unknown log facility 'local9'");
        assert_eq!(
            e("log 127.0.0.1 local0 infoo"),
            "unknown optional log level 'infoo'"
        );
        assert_eq!(
            e("log 127.0.0.1 local0 info foo"),
            "unknown optional minimum log level 'foo'"
        );
        assert_eq!(
            e("log 127.0.0.1 local0 info err extra"),
            "cannot handle unexpected argument 'extra'"
        );
        assert_eq!(e("log"), "expects <address> and <facility>  as arguments");
        assert_eq!(e("log global extra"), "unknown log facility 'extra'");
    }
}
