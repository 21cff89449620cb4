//! `tcp-check` rules on plain bytes: the verdict of an `expect` on what was received, and the
//! `info:` texts HAProxy 2.6 reports for a failing step (`tcpcheck_eval_expect()`,
//! `tcpcheck_expect_onerror_message()`, `chk_report_conn_err()`; every text was compared
//! with the real binary). No socket here: the check task in `mod.rs` runs the sequence.

use std::fmt::Write;

use crate::status::Status;

use crate::model::{TcpAction, TcpExpect, TcpPattern, TcpRule};

/// What an `expect` concluded from the bytes received so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Not conclusive yet: wait for more bytes.
    Wait,
    /// As expected: the next rule.
    Next,
    /// A definitive mismatch. `matched`: the pattern was found (an inverted rule).
    Fail { matched: bool },
    /// The server closed without sending anything.
    Empty,
}

/// Judges `input` against `e`. `last_read`: the server closed or the buffer is full, so no
/// more bytes will come (HAProxy's `last_read`). `hex`: scratch for `rbinary`, reused.
pub(crate) fn expect(e: &TcpExpect, input: &[u8], last_read: bool, hex: &mut Vec<u8>) -> Expect {
    if input.is_empty() && last_read {
        return Expect::Empty;
    }
    if !last_read {
        if let TcpPattern::Bytes(p, _) = &e.pattern {
            if input.len() < p.len() {
                return Expect::Wait;
            }
        }
        if e.min_recv > 0 && (input.len() as i64) < e.min_recv {
            return Expect::Wait;
        }
    }
    let matched = match &e.pattern {
        TcpPattern::Bytes(p, _) => {
            p.is_empty() || input.windows(p.len()).any(|w| w == p.as_slice())
        }
        TcpPattern::Regex(r) => r.is_match(input),
        TcpPattern::RBinary(r) => {
            hex.clear();
            for b in input {
                let _ = write!(HexOut(hex), "{b:02X}");
            }
            r.is_match(hex)
        }
    };
    // HAProxy waits for more bytes on a mismatch unless `min-recv` was set.
    if !matched && !last_read && e.min_recv == -1 {
        return Expect::Wait;
    }
    if matched != e.invert {
        Expect::Next
    } else {
        Expect::Fail { matched }
    }
}

/// `write!` into a byte vector.
struct HexOut<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for HexOut<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `TCPCHK did not match content '+PONG' at step 2 comment: x` (a definitive mismatch) or
/// `TCPCHK got an empty response at step 2 comment: 'x'`, into `out` (cleared).
pub(crate) fn expect_failure(out: &mut String, rule: &TcpRule, e: &TcpExpect, outcome: Expect) {
    out.clear();
    let step = rule.step;
    if outcome == Expect::Empty {
        let _ = write!(out, "TCPCHK got an empty response at step {step}");
        if let Some(c) = &rule.comment {
            let _ = write!(out, " comment: '{c}'");
        }
        return;
    }
    let matched = matches!(outcome, Expect::Fail { matched: true });
    out.push_str(if matched {
        "TCPCHK matched unwanted content"
    } else {
        "TCPCHK did not match content"
    });
    let _ = match &e.pattern {
        TcpPattern::Bytes(p, false) => {
            write!(out, " '{}' at step {step}", String::from_utf8_lossy(p))
        }
        TcpPattern::Bytes(_, true) => write!(out, " (binary) at step {step}"),
        TcpPattern::Regex(_) => write!(out, " (regex) at step {step}"),
        TcpPattern::RBinary(_) => write!(out, " (binary regex) at step {step}"),
    };
    if let Some(c) = &rule.comment {
        let _ = write!(out, " comment: {c}");
    }
}

/// The suffix HAProxy's `chk_report_conn_err()` appends to an error (or alone, for a
/// timeout): ` at step 2 of tcp-check (expect string '+PONG') comment: 'x'`.
pub(crate) fn step_suffix(out: &mut String, rule: Option<&TcpRule>) {
    let Some(rule) = rule else { return };
    if rule.step == 0 {
        out.push_str(" at initial connection step of tcp-check");
        return;
    }
    let _ = write!(out, " at step {} of tcp-check", rule.step);
    match &rule.action {
        TcpAction::Connect { port: Some(p), .. } => {
            let _ = write!(out, " (connect port {p})");
        }
        TcpAction::Connect { port: None, .. } => out.push_str(" (connect)"),
        TcpAction::Send(_) => out.push_str(" (send)"),
        TcpAction::Expect(e) => match &e.pattern {
            TcpPattern::Bytes(p, false) => {
                let _ = write!(out, " (expect string '{}')", String::from_utf8_lossy(p));
            }
            TcpPattern::Bytes(p, true) => {
                out.push_str(" (expect binary '");
                dump_binary(out, p);
                out.push_str("')");
            }
            TcpPattern::Regex(_) => out.push_str(" (expect regex)"),
            TcpPattern::RBinary(_) => out.push_str(" (expect binary regex)"),
        },
        TcpAction::Comment => {}
    }
    if let Some(c) = &rule.comment {
        let _ = write!(out, " comment: '{c}'");
    }
}

/// HAProxy's `dump_binary()`: printable bytes as is, `\t \n \r \e \\` escaped, others `\xHH`.
fn dump_binary(out: &mut String, bytes: &[u8]) {
    for &c in bytes {
        match c {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x1b => out.push_str("\\e"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(c)),
            _ => {
                let _ = write!(out, "\\x{c:02X}");
            }
        }
    }
}

/// The status of a sequence that ran to its end: the last expect's `ok-status`, `L4OK`
/// after a connect, `L7OK` otherwise (info `(tcp-check)`).
pub(crate) fn success_status(rules: &[TcpRule]) -> Status {
    match rules
        .iter()
        .rev()
        .find(|r| !matches!(r.action, TcpAction::Comment))
        .map(|r| &r.action)
    {
        Some(TcpAction::Expect(e)) => Status::from_u8(e.ok_status),
        Some(TcpAction::Connect { .. }) => Status::L4Ok,
        Some(TcpAction::Send(_) | TcpAction::Comment) | None => Status::L7Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(pattern: TcpPattern, invert: bool, min_recv: i64) -> TcpExpect {
        TcpExpect {
            invert,
            pattern,
            min_recv,
            ok_status: Status::L7Ok as u8,
            error_status: Status::L7Rsp as u8,
            tout_status: Status::L7Tout as u8,
        }
    }

    fn rule(step: u32, action: TcpAction, comment: Option<&str>) -> TcpRule {
        TcpRule {
            step,
            action,
            comment: comment.map(String::from),
        }
    }

    #[test]
    fn string_waits_then_decides() {
        let mut hex = Vec::new();
        let e = ex(TcpPattern::Bytes(b"+PONG".to_vec(), false), false, -1);
        assert_eq!(expect(&e, b"+PO", false, &mut hex), Expect::Wait);
        assert_eq!(expect(&e, b"garbage\r\n", false, &mut hex), Expect::Wait);
        assert_eq!(expect(&e, b"x +PONG\r\n", false, &mut hex), Expect::Next);
        assert_eq!(
            expect(&e, b"garbage", true, &mut hex),
            Expect::Fail { matched: false }
        );
        assert_eq!(expect(&e, b"", true, &mut hex), Expect::Empty);
        // min-recv makes a mismatch conclusive.
        let e = ex(TcpPattern::Bytes(b"OK".to_vec(), false), false, 3);
        assert_eq!(expect(&e, b"NO", false, &mut hex), Expect::Wait);
        assert_eq!(
            expect(&e, b"NOPE", false, &mut hex),
            Expect::Fail { matched: false }
        );
    }

    #[test]
    fn inverted_and_regexes() {
        let mut hex = Vec::new();
        let e = ex(TcpPattern::Bytes(b"foo".to_vec(), false), true, -1);
        assert_eq!(
            expect(&e, b"foo", false, &mut hex),
            Expect::Fail { matched: true }
        );
        assert_eq!(expect(&e, b"bar", false, &mut hex), Expect::Wait);
        assert_eq!(expect(&e, b"bar", true, &mut hex), Expect::Next);
        let re = |s: &str| regex::bytes::Regex::new(s).unwrap_or_else(|_| unreachable!());
        let e = ex(TcpPattern::RBinary(re("^2B4F")), false, -1);
        assert_eq!(
            expect(&e, b"+OK\r\n", false, &mut hex),
            Expect::Next,
            "upper-case hex"
        );
        let e = ex(TcpPattern::Regex(re("^\\+OK")), false, -1);
        assert_eq!(
            expect(&e, b"\xff\x00+OK", true, &mut hex),
            Expect::Fail { matched: false }
        );
    }

    #[test]
    fn texts_as_haproxy_prints_them() {
        let e = ex(TcpPattern::Bytes(b"+PONG".to_vec(), false), false, -1);
        let r = rule(2, TcpAction::Expect(e.clone()), None);
        let mut s = String::new();
        expect_failure(&mut s, &r, &e, Expect::Fail { matched: false });
        assert_eq!(s, "TCPCHK did not match content '+PONG' at step 2");
        s.clear();
        step_suffix(&mut s, Some(&r));
        assert_eq!(s, " at step 2 of tcp-check (expect string '+PONG')");
        let e = ex(
            TcpPattern::RBinary(regex::bytes::Regex::new("x").unwrap_or_else(|_| unreachable!())),
            false,
            -1,
        );
        let r = rule(4, TcpAction::Expect(e.clone()), Some("second"));
        expect_failure(&mut s, &r, &e, Expect::Fail { matched: false });
        assert_eq!(
            s,
            "TCPCHK did not match content (binary regex) at step 4 comment: second"
        );
        expect_failure(&mut s, &r, &e, Expect::Empty);
        assert_eq!(
            s,
            "TCPCHK got an empty response at step 4 comment: 'second'"
        );
        let e = ex(TcpPattern::Bytes(b"foo".to_vec(), false), true, -1);
        let r = rule(1, TcpAction::Expect(e.clone()), None);
        expect_failure(&mut s, &r, &e, Expect::Fail { matched: true });
        assert_eq!(s, "TCPCHK matched unwanted content 'foo' at step 1");
        s.clear();
        let c = rule(
            2,
            TcpAction::Connect {
                port: Some(19009),
                addr: None,
            },
            Some("second port"),
        );
        step_suffix(&mut s, Some(&c));
        assert_eq!(
            s,
            " at step 2 of tcp-check (connect port 19009) comment: 'second port'"
        );
        s.clear();
        step_suffix(
            &mut s,
            Some(&rule(
                0,
                TcpAction::Connect {
                    port: None,
                    addr: None,
                },
                None,
            )),
        );
        assert_eq!(s, " at initial connection step of tcp-check");
        s.clear();
        let b = ex(TcpPattern::Bytes(b"+PONG\r\x01".to_vec(), true), false, -1);
        step_suffix(&mut s, Some(&rule(5, TcpAction::Expect(b), None)));
        assert_eq!(s, " at step 5 of tcp-check (expect binary '+PONG\\r\\x01')");
    }
}
