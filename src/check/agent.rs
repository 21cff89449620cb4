//! Agent replies on plain bytes (section 5.2 `agent-check`; HAProxy 2.6's
//! `tcpcheck_agent_expect_reply()`, `server_parse_weight_change_request()`,
//! `server_parse_maxconn_change_request()`): one line ended by the first `\r` or `\n`, words
//! separated by spaces, tabs or commas, in any order, the last of a kind winning, and an
//! optional description after `#`. Nothing here touches a server: the check task applies
//! the decoded reply.

use std::fmt::Write;

use crate::server::Admin;
use crate::status::Status;

/// The health word of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// `up`: the agent's health goes to the top.
    Up,
    /// `down`, `fail` or `stopped`: the agent's health goes to 0 (`L7STS`).
    Down,
}

/// A decoded reply line; the byte slices point into the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Reply<'a> {
    /// The health word as written, and what it means.
    pub(crate) health: Option<(&'a [u8], Health)>,
    pub(crate) admin: Option<Admin>,
    /// The last word that starts with a digit and holds a `%`.
    pub(crate) weight: Option<&'a [u8]>,
    /// What follows `maxconn:`.
    pub(crate) maxconn: Option<&'a [u8]>,
    /// The first word nobody knows.
    pub(crate) error: Option<&'a [u8]>,
    /// The text after `#`, leading blanks skipped.
    pub(crate) desc: &'a [u8],
}

/// Decodes the first line of `input`; `None` while no `\r`/`\n` arrived.
pub(crate) fn parse(input: &[u8]) -> Option<Reply<'_>> {
    let end = input.iter().position(|&b| b == b'\r' || b == b'\n')?;
    // HAProxy works on a C string: a NUL ends the line too.
    let line = input.get(..end).unwrap_or_default();
    let line = line
        .iter()
        .position(|&b| b == 0)
        .and_then(|n| line.get(..n))
        .unwrap_or(line);
    let mut r = Reply::default();
    let mut rest = line;
    loop {
        let skip = rest
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b','))
            .unwrap_or(rest.len());
        rest = rest.get(skip..).unwrap_or_default();
        let Some(&first) = rest.first() else { break };
        if first == b'#' {
            let d = rest.get(1..).unwrap_or_default();
            let s = d
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(d.len());
            r.desc = d.get(s..).unwrap_or_default();
            break;
        }
        let n = rest
            .iter()
            .position(|&b| matches!(b, b' ' | b'\t' | b','))
            .unwrap_or(rest.len());
        let word = rest.get(..n).unwrap_or_default();
        rest = rest.get(n..).unwrap_or_default();
        let is = |w: &str| word.eq_ignore_ascii_case(w.as_bytes());
        if is("up") {
            r.health = Some((word, Health::Up));
        } else if is("down") || is("stopped") || is("fail") {
            r.health = Some((word, Health::Down));
        } else if is("ready") {
            r.admin = Some(Admin::Ready);
        } else if is("drain") {
            r.admin = Some(Admin::Drain);
        } else if is("maint") {
            r.admin = Some(Admin::Maint);
        } else if first.is_ascii_digit() && word.contains(&b'%') {
            r.weight = Some(word);
        } else if word.len() >= 8
            && word
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"maxconn:"))
        {
            r.maxconn = word.get(8..);
        } else if r.error.is_none() {
            r.error = Some(word);
        }
    }
    Some(r)
}

/// C's `strtol()` on a word: the value and the rest after the digits (`None`: no digits).
fn strtol(word: &[u8]) -> Option<(i64, &[u8])> {
    let (neg, digits) = match word.first() {
        Some(b'-') => (true, word.get(1..).unwrap_or_default()),
        Some(b'+') => (false, word.get(1..).unwrap_or_default()),
        _ => (false, word),
    };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let v = digits
        .get(..n)
        .unwrap_or_default()
        .iter()
        .fold(0i64, |a, &d| {
            a.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    Some((
        if neg { -v } else { v },
        digits.get(n..).unwrap_or_default(),
    ))
}

/// The new weight a `N%` word asks for, relative to the configured weight `initial`
/// (HAProxy's `server_parse_weight_change_request()` and its messages). `dynamic`: the
/// algorithm accepts any weight (a static one only takes `0%` and `100%`).
pub(crate) fn weight_change(word: &[u8], initial: u32, dynamic: bool) -> Result<u32, &'static str> {
    let Some((w, end)) = strtol(word) else {
        return Err("Empty weight string empty or preceded by garbage");
    };
    let w = if end == b"%" {
        if w < 0 {
            return Err("Relative weight must be positive.\n");
        }
        (i64::from(initial) * w.min(25_600) / 100).min(256)
    } else if !(0..=256).contains(&w) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n");
    } else if !end.is_empty() {
        return Err("Trailing garbage in weight string");
    } else {
        w
    };
    let w = u32::try_from(w).unwrap_or(0);
    if w != 0 && w != initial && !dynamic {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
        );
    }
    Ok(w)
}

/// The `maxconn:N` value (HAProxy's `server_parse_maxconn_change_request()`).
pub(crate) fn maxconn_change(v: &[u8]) -> Result<u32, &'static str> {
    match strtol(v) {
        None => Err("maxconn string empty"),
        Some((_, end)) if !end.is_empty() => Err("Trailing garbage in maxconn string"),
        Some((n, _)) => Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
    }
}

/// The check status and `info:` text of a reply (into `out`, cleared), given the first
/// warning applying the weight or maxconn produced: `via agent : down (gone fishing)`,
/// `agent reports an error : bogus`, `agent warns : ...`.
pub(crate) fn outcome(out: &mut String, r: &Reply<'_>, warning: Option<&str>) -> Status {
    out.clear();
    let error = r.error.filter(|e| !e.is_empty());
    let warning = warning.filter(|w| !w.is_empty());
    if let Some((word, h)) = r.health {
        let status = match h {
            Health::Up => Status::L7Ok,
            Health::Down => Status::L7Sts,
        };
        out.push_str("via agent : ");
        push_lossy(out, word);
        let open = |out: &mut String| out.push_str(" (");
        if !r.desc.is_empty() && h == Health::Down {
            open(out);
            push_lossy(out, r.desc);
            out.push(')');
        } else if let Some(e) = error {
            open(out);
            push_lossy(out, e);
            out.push(')');
        } else if let Some(w) = warning {
            let _ = write!(out, " ({w})");
        } else if !r.desc.is_empty() {
            open(out);
            push_lossy(out, r.desc);
            out.push(')');
        }
        return status;
    }
    if let Some(e) = error {
        out.push_str("agent reports an error : ");
        push_lossy(out, e);
    } else if let Some(w) = warning {
        let _ = write!(out, "agent warns : {w}");
    }
    Status::Checked
}

/// Appends `bytes`, invalid UTF-8 replaced (no intermediate allocation).
fn push_lossy(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_in_any_order_last_wins() {
        assert_eq!(parse(b"up"), None, "no end of line yet");
        let r = parse(b"75% drain\n").unwrap_or_default();
        assert_eq!(
            (r.weight, r.admin, r.health),
            (Some(&b"75%"[..]), Some(Admin::Drain), None)
        );
        let r = parse(b"DOWN,maint\tready # gone  fishing\r\nignored").unwrap_or_default();
        assert_eq!(r.health, Some((&b"DOWN"[..], Health::Down)));
        assert_eq!(r.admin, Some(Admin::Ready));
        assert_eq!(r.desc, b"gone  fishing");
        let r = parse(b"bogus up other maxconn:30 10%x\n").unwrap_or_default();
        assert_eq!(r.error, Some(&b"bogus"[..]));
        assert_eq!(r.maxconn, Some(&b"30"[..]));
        assert_eq!(r.weight, Some(&b"10%x"[..]));
        assert_eq!(parse(b"\n"), Some(Reply::default()));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for input in [
            &b"\xff\xfe%\n"[..],
            b"#\n",
            b"maxconn:\n",
            b"9999999999999999999999%\n",
            b"\0up\n",
            b",,,\n",
        ] {
            if let Some(r) = parse(input) {
                if let Some(w) = r.weight {
                    let _ = weight_change(w, 256, true);
                }
                if let Some(m) = r.maxconn {
                    let _ = maxconn_change(m);
                }
                let mut s = String::new();
                let _ = outcome(&mut s, &r, None);
            }
        }
    }

    #[test]
    fn weights_like_haproxy() {
        assert_eq!(weight_change(b"50%", 10, true), Ok(5));
        assert_eq!(weight_change(b"0%", 10, false), Ok(0));
        assert_eq!(weight_change(b"100%", 10, false), Ok(10));
        assert_eq!(weight_change(b"99999%", 10, true), Ok(256));
        assert!(
            weight_change(b"50%", 10, false).is_err(),
            "static algorithm"
        );
        assert_eq!(
            weight_change(b"20%x", 10, true),
            Err("Trailing garbage in weight string")
        );
        assert_eq!(maxconn_change(b"30"), Ok(30));
        assert_eq!(maxconn_change(b"x"), Err("maxconn string empty"));
    }

    #[test]
    fn outcome_texts_as_haproxy_prints_them() {
        let mut s = String::new();
        let st = outcome(
            &mut s,
            &parse(b"down # gone fishing\n").unwrap_or_default(),
            None,
        );
        assert_eq!(
            (st, s.as_str()),
            (Status::L7Sts, "via agent : down (gone fishing)")
        );
        let st = outcome(&mut s, &parse(b"up\n").unwrap_or_default(), None);
        assert_eq!((st, s.as_str()), (Status::L7Ok, "via agent : up"));
        let st = outcome(&mut s, &parse(b"bogus 20%\n").unwrap_or_default(), None);
        assert_eq!(
            (st, s.as_str()),
            (Status::Checked, "agent reports an error : bogus")
        );
        let st = outcome(&mut s, &parse(b"50%\n").unwrap_or_default(), Some("w"));
        assert_eq!((st, s.as_str()), (Status::Checked, "agent warns : w"));
        let st = outcome(&mut s, &parse(b"up # fine\n").unwrap_or_default(), None);
        assert_eq!((st, s.as_str()), (Status::L7Ok, "via agent : up (fine)"));
        let st = outcome(&mut s, &parse(b"drain\n").unwrap_or_default(), None);
        assert_eq!((st, s.as_str()), (Status::Checked, ""));
    }
}
