//! `tcp-check ...` rules and `external-check command|path` of a proxy (section 4.2), with
//! HAProxy 2.6's messages (compared with `haproxy -c`). Rules are kept as written; the
//! implicit first `connect` is added when the backend is built (`CheckConf::build`).
//!
//! `send-lf`, `send-binary-lf`, `expect string-lf|binary-lf`, `set-var`/`unset-var`,
//! `connect ssl|sni|alpn|send-proxy|via-socks4|proto`, `expect on-success|on-error|
//! status-code` need log-format or TLS machinery Ravelin does not have: explicit alerts.

use crate::config::error::unsupported;
use crate::config::error::{Diagnostics, Span};
use crate::config::proxy::ProxyConf;
use crate::status::Status;

use crate::model::{TcpAction, TcpExpect, TcpPattern, TcpRule};

/// `tcp-check ...` (the caller checked the backend capability).
pub(crate) fn parse_tcp_check(
    p: &mut ProxyConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let sub = words.get(1).map(String::as_str).unwrap_or_default();
    let args = words.get(2..).unwrap_or_default();
    let c = &mut p.check;
    if c.tcp_inherited {
        // A proxy's own rules replace the ones of its defaults section.
        c.tcp_rules.clear();
        c.tcp_inherited = false;
    }
    let step = u32::try_from(c.tcp_rules.len() + 1).unwrap_or(u32::MAX);
    // A `tcp-check comment` rule gives its text to the rule after it.
    let prev_comment = match c.tcp_rules.last() {
        Some(TcpRule {
            action: TcpAction::Comment,
            comment,
            ..
        }) => comment.clone(),
        _ => None,
    };
    let parsed = match sub {
        "comment" => match args.first() {
            Some(t) => Ok((TcpAction::Comment, Some(t.clone()))),
            None => Err("'tcp-check comment' : expects a string as argument.".to_string()),
        },
        "connect" => {
            // With a connect anywhere, the first rule (past comments) must be a connect.
            let first = c
                .tcp_rules
                .iter()
                .find(|r| !matches!(r.action, TcpAction::Comment));
            if first.is_some_and(|r| !matches!(r.action, TcpAction::Connect { .. })) {
                Err("'tcp-check connect' : first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset.".to_string())
            } else {
                parse_connect(args)
            }
        }
        "send" | "send-binary" => parse_send(sub, args),
        "expect" => parse_expect(args),
        "send-lf" | "send-binary-lf" => {
            return d.alert(span, unsupported(&format!("tcp-check {sub}")));
        }
        s if s.starts_with("set-var(")
            || s.starts_with("set-var-fmt(")
            || s.starts_with("unset-var(") =>
        {
            return d.alert(span, unsupported("tcp-check set-var"));
        }
        _ => Err(format!(
            "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '{sub}'"
        )),
    };
    match parsed {
        Ok((action, comment)) => {
            let comment = comment.or(prev_comment);
            c.tcp_rules.push(TcpRule {
                step,
                action,
                comment,
            });
        }
        Err(m) => d.alert(span, m),
    }
}

/// An option HAProxy has and Ravelin does not run.
fn not_yet(what: &str) -> String {
    unsupported(what)
}

type Parsed = Result<(TcpAction, Option<String>), String>;

/// `connect [default] [port N] [addr A] [comment C] [linger]`.
fn parse_connect(args: &[String]) -> Parsed {
    let (mut port, mut addr, mut comment) = (None, None, None);
    let mut i = 0;
    while let Some(w) = args.get(i).map(String::as_str) {
        let val = args.get(i + 1);
        match w {
            "default" | "linger" => i += 1,
            "port" => {
                let Some(v) = val else {
                    return Err("'tcp-check connect' : 'port' expects a port number or a sample expression as argument..".into());
                };
                match v.parse::<u16>() {
                    Ok(n) if n > 0 => port = Some(n),
                    _ => return Err(format!("'tcp-check connect' : invalid port '{v}'.")),
                }
                i += 2;
            }
            "addr" => {
                let Some(v) = val else {
                    return Err(
                        "'tcp-check connect' : 'addr' expects an address as argument..".into(),
                    );
                };
                match crate::config::addr::parse_check_addr(v) {
                    Some(ip) => addr = Some(ip),
                    None => {
                        return Err(format!("'tcp-check connect' : invalid address '{v}'."));
                    }
                }
                i += 2;
            }
            "comment" => {
                let Some(v) = val else {
                    return Err(
                        "'tcp-check connect' : 'comment' expects a string as argument..".into(),
                    );
                };
                comment = Some(v.clone());
                i += 2;
            }
            "send-proxy" | "via-socks4" | "ssl" | "sni" | "alpn" | "proto" => {
                return Err(not_yet(&format!("tcp-check connect {w}")));
            }
            _ => {
                return Err(format!(
                    "'tcp-check connect' : expects 'comment', 'port', 'addr', 'send-proxy', 'ssl', 'sni', 'alpn' or 'via-socks4', 'linger', 'default' but got '{w}' as argument.."
                ));
            }
        }
    }
    Ok((TcpAction::Connect { port, addr }, comment))
}

/// `send DATA [comment C]` / `send-binary HEX [comment C]`.
fn parse_send(sub: &str, args: &[String]) -> Parsed {
    let Some(data) = args.first() else {
        return Err(format!(
            "'tcp-check {sub}' : '{}' expects a {} as argument.",
            if sub == "send" {
                "string"
            } else {
                "binary string"
            },
            if sub == "send" {
                "send"
            } else {
                "binary string"
            }
        ));
    };
    let mut comment = None;
    let mut i = 1;
    while let Some(w) = args.get(i).map(String::as_str) {
        match (w, args.get(i + 1)) {
            ("comment", Some(v)) => comment = Some(v.clone()),
            ("comment", None) => {
                return Err(format!(
                    "'tcp-check {sub}' : 'comment' expects a string as argument.."
                ));
            }
            _ => {
                return Err(format!(
                    "'tcp-check {sub}' : expects 'comment' but got '{w}' as argument.."
                ));
            }
        }
        i += 2;
    }
    let bytes = if sub == "send" {
        data.as_bytes().to_vec()
    } else {
        parse_hex(data)
            .map_err(|e| format!("'tcp-check {sub}' : '{data}' invalid binary string ({e}).\n."))?
    };
    Ok((TcpAction::Send(bytes), comment))
}

/// An even number of hex digits → bytes; the error is HAProxy's `parse_binary()` text.
pub(crate) fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err("an even number of hex digit is expected".into());
    }
    let digit = |c: u8| -> Result<u8, String> {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or_else(|| format!("an hex digit is expected (found '{}')", char::from(c)))
    };
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [h, l] => Ok(digit(*h)? << 4 | digit(*l)?),
            _ => Err("an even number of hex digit is expected".into()),
        })
        .collect()
}

const EXPECT_SUPPORTS: &str = "'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment";

/// `expect [min-recv N] [comment C] [ok-status S] [error-status S] [tout-status S] [!] MATCH P`.
fn parse_expect(args: &[String]) -> Parsed {
    let head = "'tcp-check expect'";
    if args.is_empty() {
        return Err(format!(
            "{head} : expects at least a matching pattern as arguments."
        ));
    }
    let mut e = TcpExpect {
        invert: false,
        pattern: TcpPattern::Bytes(Vec::new(), false),
        min_recv: -1,
        ok_status: Status::L7Ok as u8,
        error_status: Status::L7Rsp as u8,
        tout_status: Status::L7Tout as u8,
    };
    let mut comment = None;
    let mut have_pattern = false;
    let mut i = 0;
    while let Some(w) = args.get(i).map(String::as_str) {
        let val = args.get(i + 1).map(String::as_str);
        let (neg, word) = match w.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, w),
        };
        match word {
            "" if neg => {
                e.invert = true;
                i += 1;
                continue;
            }
            "string" | "binary" | "rstring" | "rbinary" if !have_pattern => {
                e.invert |= neg;
                let Some(pat) = val else {
                    return Err(format!(
                        "{head} : '{word}' expects a <pattern> as argument."
                    ));
                };
                let bad_regex = |err: regex::Error| {
                    format!(
                        "{head} : regex '{pat}' is invalid (error={}).",
                        regex_error(&err)
                    )
                };
                e.pattern = match word {
                    "string" => TcpPattern::Bytes(pat.as_bytes().to_vec(), false),
                    "binary" => TcpPattern::Bytes(
                        parse_hex(pat)
                            .map_err(|err| format!("{head} : invalid binary string ({err})."))?,
                        true,
                    ),
                    "rstring" => {
                        TcpPattern::Regex(regex::bytes::Regex::new(pat).map_err(bad_regex)?)
                    }
                    _ => TcpPattern::RBinary(regex::bytes::Regex::new(pat).map_err(bad_regex)?),
                };
                have_pattern = true;
            }
            "min-recv" => {
                let Some(v) = val else {
                    return Err(format!("{head} : '{word}' expects a integer as argument."));
                };
                // HAProxy reads it with atol(): a word is 0.
                e.min_recv = crate::config::units::parse_i64(v).unwrap_or(0);
            }
            "comment" => {
                let Some(v) = val else {
                    return Err(format!("{head} : '{word}' expects a string as argument."));
                };
                comment = Some(v.to_string());
            }
            "ok-status" | "error-status" | "tout-status" => {
                let allowed: &[(&str, Status)] = match word {
                    "ok-status" => &[
                        ("L7OK", Status::L7Ok),
                        ("L7OKC", Status::L7OkC),
                        ("L6OK", Status::L6Ok),
                        ("L4OK", Status::L4Ok),
                    ],
                    "error-status" => &[
                        ("L7RSP", Status::L7Rsp),
                        ("L7STS", Status::L7Sts),
                        ("L7OKC", Status::L7OkC),
                        ("L6RSP", Status::L6Rsp),
                        ("L4CON", Status::L4Con),
                    ],
                    _ => &[
                        ("L7TOUT", Status::L7Tout),
                        ("L6TOUT", Status::L6Tout),
                        ("L4TOUT", Status::L4Tout),
                    ],
                };
                let list = match word {
                    "ok-status" => "'L4OK', 'L6OK', 'L7OK' or 'L7OKC'",
                    "error-status" => "'L4CON', 'L6RSP', 'L7RSP' or 'L7STS'",
                    _ => "'L4TOUT', 'L6TOUT', or 'L7TOUT'",
                };
                let Some(v) = val else {
                    return Err(format!("{head} : '{word}' expects a string as argument."));
                };
                let Some((_, st)) = allowed.iter().find(|(n, _)| n.eq_ignore_ascii_case(v)) else {
                    return Err(format!(
                        "{head} : '{word}' only supports {list} status (got '{v}').."
                    ));
                };
                let st = *st as u8;
                match word {
                    "ok-status" => e.ok_status = st,
                    "error-status" => e.error_status = st,
                    _ => e.tout_status = st,
                }
            }
            "on-success" | "on-error" | "status-code" | "string-lf" | "binary-lf" => {
                return Err(not_yet(&format!("tcp-check expect {word}")));
            }
            _ => {
                return Err(format!(
                    "{head} : {EXPECT_SUPPORTS} but got '{w}' as argument.."
                ));
            }
        }
        i += 2;
    }
    if !have_pattern {
        return Err(format!(
            "{head} : expects at least a matching pattern as arguments."
        ));
    }
    Ok((TcpAction::Expect(e), comment))
}

/// The short text of a regex error (the `regex` crate's last line).
fn regex_error(e: &regex::Error) -> String {
    let s = e.to_string();
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// `external-check command CMD` / `external-check path PATH`.
pub(crate) fn parse_external_check(
    p: &mut ProxyConf,
    words: &[String],
    span: &Span,
    d: &mut Diagnostics,
) {
    let sub = words.get(1).map(String::as_str).unwrap_or_default();
    match sub {
        "command" | "path" => {
            let Some(v) = words.get(2) else {
                return d.alert(span, format!("missing argument after '{sub}'."));
            };
            if let Some(x) = words.get(3) {
                return d.alert(
                    span,
                    crate::config::error::too_many(&format!("external-check {sub}"), x),
                );
            }
            if sub == "command" {
                p.check.ext_command = Some(v.clone());
            } else {
                p.check.ext_path = Some(v.clone());
            }
        }
        _ => d.alert(
            span,
            format!("'external-check' only supports 'command' and 'path'. but got '{sub}'."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::tests_support::backend;

    fn run(lines: &[&str]) -> (ProxyConf, Vec<String>) {
        let mut p = backend("be");
        let mut d = Diagnostics::default();
        let span = Span::new("t.cfg", 1);
        for l in lines {
            let words: Vec<String> = l.split_whitespace().map(String::from).collect();
            if words.first().map(String::as_str) == Some("external-check") {
                parse_external_check(&mut p, &words, &span, &mut d);
            } else {
                parse_tcp_check(&mut p, &words, &span, &mut d);
            }
        }
        let msgs = d.items.iter().map(|e| e.message.clone()).collect();
        (p, msgs)
    }

    #[test]
    fn rules_steps_and_comments() {
        let (p, m) = run(&[
            "tcp-check comment banner",
            "tcp-check connect port 110 linger",
            "tcp-check expect rstring ^\\+OK comment POP",
            "tcp-check send-binary 50494e47",
            "tcp-check expect ! binary 2b504F4e47 min-recv 3",
            "tcp-check expect string x error-status L7STS ok-status L4OK tout-status L4TOUT",
        ]);
        assert!(m.is_empty(), "{m:?}");
        let r = &p.check.tcp_rules;
        assert_eq!(r.len(), 6);
        assert!(matches!(
            r[1].action,
            TcpAction::Connect {
                port: Some(110),
                addr: None
            }
        ));
        assert_eq!((r[1].step, r[1].comment.as_deref()), (2, Some("banner")));
        assert_eq!(r[2].comment.as_deref(), Some("POP"));
        assert!(matches!(&r[3].action, TcpAction::Send(b) if b == b"PING"));
        let TcpAction::Expect(e) = &r[4].action else {
            unreachable!()
        };
        assert!(e.invert && e.min_recv == 3);
        assert!(matches!(&e.pattern, TcpPattern::Bytes(b, true) if b == b"+PONG"));
        let TcpAction::Expect(e) = &r[5].action else {
            unreachable!()
        };
        assert_eq!(
            (e.ok_status, e.error_status, e.tout_status),
            (
                Status::L4Ok as u8,
                Status::L7Sts as u8,
                Status::L4Tout as u8
            )
        );
    }

    #[test]
    fn haproxy_alert_texts() {
        // Each text is what `haproxy -c` 2.6 printed for the same line.
        let cases = [
            (
                "tcp-check foo",
                "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got 'foo'",
            ),
            (
                "tcp-check send",
                "'tcp-check send' : 'string' expects a send as argument.",
            ),
            (
                "tcp-check send-binary 5g",
                "'tcp-check send-binary' : '5g' invalid binary string (an hex digit is expected (found 'g')).\n.",
            ),
            (
                "tcp-check send-binary 505",
                "'tcp-check send-binary' : '505' invalid binary string (an even number of hex digit is expected).\n.",
            ),
            (
                "tcp-check expect",
                "'tcp-check expect' : expects at least a matching pattern as arguments.",
            ),
            (
                "tcp-check expect string",
                "'tcp-check expect' : 'string' expects a <pattern> as argument.",
            ),
            (
                "tcp-check expect bogus x",
                "'tcp-check expect' : 'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got 'bogus' as argument..",
            ),
            (
                "tcp-check expect binary zz",
                "'tcp-check expect' : invalid binary string (an hex digit is expected (found 'z')).",
            ),
            (
                "tcp-check connect port",
                "'tcp-check connect' : 'port' expects a port number or a sample expression as argument..",
            ),
            (
                "tcp-check connect bogus",
                "'tcp-check connect' : expects 'comment', 'port', 'addr', 'send-proxy', 'ssl', 'sni', 'alpn' or 'via-socks4', 'linger', 'default' but got 'bogus' as argument..",
            ),
            (
                "tcp-check comment",
                "'tcp-check comment' : expects a string as argument.",
            ),
            (
                "tcp-check expect string a error-status FOO",
                "'tcp-check expect' : 'error-status' only supports 'L4CON', 'L6RSP', 'L7RSP' or 'L7STS' status (got 'FOO')..",
            ),
            (
                "tcp-check expect string a ok-status FOO",
                "'tcp-check expect' : 'ok-status' only supports 'L4OK', 'L6OK', 'L7OK' or 'L7OKC' status (got 'FOO')..",
            ),
            (
                "tcp-check connect ssl",
                "'tcp-check connect ssl' is a HAProxy keyword that Ravelin does not support yet.",
            ),
            (
                "external-check command",
                "missing argument after 'command'.",
            ),
            ("external-check path", "missing argument after 'path'."),
            (
                "external-check foo",
                "'external-check' only supports 'command' and 'path'. but got 'foo'.",
            ),
        ];
        for (line, want) in cases {
            let (_, m) = run(&[line]);
            assert_eq!(m, vec![want.to_string()], "{line}");
        }
        let (_, m) = run(&["tcp-check expect rstring ("]);
        assert!(m.first().is_some_and(|s| s.starts_with("'tcp-check expect' : regex '(' is invalid (error=")), "{m:?}");
        let (_, m) = run(&["tcp-check send x", "tcp-check connect port 80"]);
        assert_eq!(m, vec!["'tcp-check connect' : first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset.".to_string()]);
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("50494e470D0a"), Ok(b"PING\r\n".to_vec()));
        assert!(parse_hex("5").is_err());
        assert!(parse_hex("é1").is_err(), "non-ASCII must not panic");
    }
}
