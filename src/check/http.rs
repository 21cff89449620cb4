//! HTTP checks on plain bytes: the request as HAProxy 2.6 writes it, and the verdict on a
//! response (`http-check expect`, the implicit 2xx/3xx rule, `disable-on-404`).
//!
//! The request bytes were compared with what haproxy 2.6 sends: `OPTIONS / HTTP/1.0` and an
//! empty line by default (no `Connection` header in HTTP/1.0, which implies close), header
//! names lowercased, `content-length` with a body, and `connection: close` for other versions
//! unless a `Connection` header was configured.

use std::ops::Range;

use crate::status::Status;

use crate::model::{ExpectKind, HttpCheck};

/// Response headers parsed per check response (a stack array, as elsewhere).
const MAX_HEADERS: usize = 64;

/// Writes the check request into `out` (cleared first). `state`: the value of the
/// `x-haproxy-server-state` header (`http-check send-state`).
pub(crate) fn write_request(out: &mut Vec<u8>, h: &HttpCheck, state: Option<&str>) {
    out.clear();
    for part in [h.method.as_str(), " ", &h.uri, " ", &h.version, "\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    let mut has_connection = false;
    for (name, value) in &h.headers {
        has_connection |= name.eq_ignore_ascii_case("connection");
        // HAProxy drops framing headers given here and writes its own.
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        header(out, name, value);
    }
    if let Some(s) = state {
        header(out, "x-haproxy-server-state", s);
    }
    if !h.body.is_empty() {
        let mut n = itoa(h.body.len());
        header(out, "content-length", n.as_str());
        n.clear();
    }
    if !has_connection && !h.version.eq_ignore_ascii_case("HTTP/1.0") {
        header(out, "connection", "close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(h.body.as_bytes());
}

fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    for b in name.bytes() {
        out.push(b.to_ascii_lowercase());
    }
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A decimal number in a small stack string (no allocation).
fn itoa(mut n: usize) -> SmallNum {
    let mut s = SmallNum {
        buf: [0; 20],
        len: 0,
    };
    let mut tmp = [0u8; 20];
    let mut i = 0;
    loop {
        if let Some(slot) = tmp.get_mut(i) {
            *slot = b'0' + u8::try_from(n % 10).unwrap_or(0);
        }
        i += 1;
        n /= 10;
        if n == 0 || i >= tmp.len() {
            break;
        }
    }
    for (dst, src) in s.buf.iter_mut().zip(tmp.iter().take(i).rev()) {
        *dst = *src;
    }
    s.len = i;
    s
}

struct SmallNum {
    buf: [u8; 20],
    len: usize,
}

impl SmallNum {
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or("0")
    }
    fn clear(&mut self) {
        self.len = 0;
    }
}

/// What a check concluded from the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Eval {
    /// More bytes are needed.
    Wait,
    Done {
        status: Status,
        /// The response status (0 when there was no valid status line).
        code: u16,
        info: Info,
    },
}

/// The `info:` text of a result, without copying the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Info {
    None,
    /// The reason phrase, as a range of the response buffer.
    Reason(Range<usize>),
    Text(&'static str),
}

/// Judges `resp` (everything received, up to the buffer size). `complete`: no more bytes
/// will come (end of stream, or the buffer is full). `running`: the server is not down
/// (a 404 means NOLB only for such a server).
pub(crate) fn evaluate(
    resp: &[u8],
    complete: bool,
    h: &HttpCheck,
    disable_on_404: bool,
    running: bool,
) -> Eval {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let head_len = match r.parse(resp) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if !complete => return Eval::Wait,
        Ok(httparse::Status::Partial) | Err(_) => {
            return Eval::Done {
                status: Status::L7Rsp,
                code: 0,
                info: Info::None,
            };
        }
    };
    let code = r.code.unwrap_or(0);
    let reason = r.reason.map_or(Info::None, |s| {
        let start = (s.as_ptr() as usize).saturating_sub(resp.as_ptr() as usize);
        if s.is_empty() {
            Info::None
        } else {
            Info::Reason(start..start + s.len())
        }
    });
    let content_length = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let body = resp.get(head_len..).unwrap_or_default();
    let body_done = complete || content_length.is_some_and(|n| body.len() >= n);
    if disable_on_404 && running && code == 404 {
        return Eval::Done {
            status: Status::L7OkC,
            code,
            info: Info::None,
        };
    }
    let sts = |pass: bool| Eval::Done {
        status: if pass { Status::L7Ok } else { Status::L7Sts },
        code,
        info: if pass { Info::None } else { reason.clone() },
    };
    let Some(expect) = &h.expect else {
        return sts((200..400).contains(&code));
    };
    let inv = expect.invert;
    match &expect.kind {
        ExpectKind::Status(ranges) => {
            sts(ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code)) != inv)
        }
        ExpectKind::RStatus(re) => {
            let digits = itoa(usize::from(code));
            sts(re.is_match(digits.as_str()) != inv)
        }
        ExpectKind::String(_) | ExpectKind::RString(_) => {
            if body.is_empty() && !body_done {
                return Eval::Wait;
            }
            if body.is_empty() && !inv {
                return Eval::Done {
                    status: Status::L7Rsp,
                    code,
                    info: Info::Text("HTTP content check could not find a response body"),
                };
            }
            let found = match &expect.kind {
                ExpectKind::String(s) => contains(body, s.as_bytes()),
                ExpectKind::RString(re) => re.is_match(body),
                ExpectKind::Status(_) | ExpectKind::RStatus(_) => false,
            };
            // A miss may still turn into a match with more bytes.
            if !found && !body_done {
                return Eval::Wait;
            }
            if found != inv {
                Eval::Done {
                    status: Status::L7Ok,
                    code,
                    info: Info::None,
                }
            } else {
                Eval::Done {
                    status: Status::L7Rsp,
                    code,
                    info: Info::Text(if inv {
                        "HTTP check matched unwanted content"
                    } else {
                        "HTTP content check did not match"
                    }),
                }
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HttpExpect;

    fn req(h: &HttpCheck, state: Option<&str>) -> String {
        let mut out = b"stale".to_vec();
        write_request(&mut out, h, state);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn requests_as_haproxy_writes_them() {
        // Bytes captured from haproxy 2.6.12 with the same settings.
        assert_eq!(
            req(&HttpCheck::default(), None),
            "OPTIONS / HTTP/1.0\r\n\r\n"
        );
        assert_eq!(
            req(
                &HttpCheck::default(),
                Some(
                    "UP 1/3; address=127.0.0.1; port=9101; name=be/s2; node=vm; weight=1/2; scur=0/0; qcur=0"
                )
            ),
            "OPTIONS / HTTP/1.0\r\nx-haproxy-server-state: UP 1/3; address=127.0.0.1; port=9101; name=be/s2; node=vm; weight=1/2; scur=0/0; qcur=0\r\n\r\n"
        );
        let h = HttpCheck {
            method: "GET".into(),
            uri: "/x".into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                ("Host".into(), "www.example.com".into()),
                ("X-Foo".into(), "bar baz".into()),
            ],
            body: "hello".into(),
            expect: None,
        };
        assert_eq!(
            req(&h, None),
            "GET /x HTTP/1.1\r\nhost: www.example.com\r\nx-foo: bar baz\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
        );
    }

    fn with(expect: Option<HttpExpect>) -> HttpCheck {
        HttpCheck {
            expect,
            ..HttpCheck::default()
        }
    }

    fn done(e: &Eval) -> (Status, u16) {
        match e {
            Eval::Done { status, code, .. } => (*status, *code),
            Eval::Wait => (Status::Ini, 0),
        }
    }

    #[test]
    fn default_rule_and_reasons() {
        let h = with(None);
        let r = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n";
        let e = evaluate(r, false, &h, false, true);
        assert_eq!(done(&e), (Status::L7Sts, 500));
        if let Eval::Done {
            info: Info::Reason(range),
            ..
        } = e
        {
            assert_eq!(r.get(range), Some(&b"Internal Server Error"[..]));
        } else {
            panic!("no reason");
        }
        let ok = b"HTTP/1.0 302 Found\r\n\r\n";
        assert_eq!(
            done(&evaluate(ok, false, &h, false, true)),
            (Status::L7Ok, 302)
        );
        assert_eq!(
            evaluate(b"HTTP/1.1 200 O", false, &h, false, true),
            Eval::Wait
        );
        assert_eq!(done(&evaluate(b"", true, &h, false, true)).0, Status::L7Rsp);
        assert_eq!(
            done(&evaluate(b"hello world\r\n\r\n", true, &h, false, true)).0,
            Status::L7Rsp
        );
    }

    #[test]
    fn expect_rules() {
        let status = |codes, invert| {
            with(Some(HttpExpect {
                invert,
                kind: ExpectKind::Status(codes),
            }))
        };
        let r200 = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nall good here";
        let r500 = b"HTTP/1.1 500 Oops\r\n\r\n";
        let h = status(vec![(200, 200)], false);
        assert_eq!(
            done(&evaluate(r200, false, &h, false, true)).0,
            Status::L7Ok
        );
        assert_eq!(
            done(&evaluate(r500, false, &h, false, true)).0,
            Status::L7Sts
        );
        let h = status(vec![(500, 599)], true);
        assert_eq!(
            done(&evaluate(r500, false, &h, false, true)).0,
            Status::L7Sts
        );
        let re = |p: &str, invert| {
            with(Some(HttpExpect {
                invert,
                kind: ExpectKind::RStatus(regex::Regex::new(p).unwrap_or_else(|_| unreachable!())),
            }))
        };
        assert_eq!(
            done(&evaluate(r200, false, &re("^3", false), false, true)).0,
            Status::L7Sts
        );
        assert_eq!(
            done(&evaluate(r200, false, &re("^5", true), false, true)).0,
            Status::L7Ok
        );
        let s = |t: &str, invert| {
            with(Some(HttpExpect {
                invert,
                kind: ExpectKind::String(t.into()),
            }))
        };
        assert_eq!(
            done(&evaluate(r200, false, &s("good", false), false, true)).0,
            Status::L7Ok
        );
        let miss = evaluate(r200, false, &s("nothere", false), false, true);
        assert_eq!(
            miss,
            Eval::Done {
                status: Status::L7Rsp,
                code: 200,
                info: Info::Text("HTTP content check did not match")
            },
            "content-length reached: conclusive"
        );
        let unwanted = evaluate(r200, false, &s("good", true), false, true);
        assert_eq!(
            unwanted,
            Eval::Done {
                status: Status::L7Rsp,
                code: 200,
                info: Info::Text("HTTP check matched unwanted content")
            }
        );
        // Without a length, a miss waits for the end of the stream.
        let open = b"HTTP/1.0 200 OK\r\n\r\nall go";
        assert_eq!(
            evaluate(open, false, &s("good", false), false, true),
            Eval::Wait
        );
        assert_eq!(
            done(&evaluate(open, true, &s("good", false), false, true)).0,
            Status::L7Rsp
        );
    }

    #[test]
    fn disable_on_404_only_for_running_servers() {
        let h = with(Some(HttpExpect {
            invert: false,
            kind: ExpectKind::Status(vec![(200, 200)]),
        }));
        let r = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert_eq!(
            done(&evaluate(r, false, &h, true, true)),
            (Status::L7OkC, 404)
        );
        assert_eq!(
            done(&evaluate(r, false, &h, true, false)),
            (Status::L7Sts, 404)
        );
        assert_eq!(
            done(&evaluate(r, false, &h, false, true)),
            (Status::L7Sts, 404)
        );
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        let h = with(None);
        for input in [
            &b"\0\0\0\r\n\r\n"[..],
            b"HTTP/1.1 999999 X\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\xff\xfe: x\r\n\r\n",
        ] {
            let _ = evaluate(input, true, &h, true, true);
            let _ = evaluate(input, false, &h, true, true);
        }
        assert_eq!(itoa(0).as_str(), "0");
        assert_eq!(itoa(12345).as_str(), "12345");
        assert_eq!(itoa(usize::MAX).as_str(), usize::MAX.to_string());
    }
}
