//! A read-only view of a parsed request for ACLs, rules and balancing keys.

use std::net::SocketAddr;

use super::RequestHead;

/// A request as ACLs see it: the head, the buffer it points into, and the connection's
/// addresses. Borrowed for the time of one decision; nothing is copied.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReqView<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) head: &'a RequestHead,
    /// Client address (`src`).
    pub(crate) src: SocketAddr,
    /// Address the client connected to (`dst`, `dst_port`).
    pub(crate) dst: SocketAddr,
    /// The client connection's TLS (`ssl_fc*`), `None` in clear.
    pub(crate) tls: Option<&'a crate::tls::TlsInfo>,
}

impl<'a> ReqView<'a> {
    pub(crate) fn method_bytes(&self) -> &'a [u8] {
        self.head.method_span.get(self.buf)
    }

    /// The request target as sent (`/a/b?x=1`, or an absolute URI).
    pub(crate) fn uri(&self) -> &'a [u8] {
        self.head.target.get(self.buf)
    }

    /// The path: the target up to `?`, without scheme and authority for absolute URIs.
    pub(crate) fn path(&self) -> &'a [u8] {
        let uri = self.uri();
        let uri = strip_authority(uri);
        match uri.iter().position(|&b| b == b'?') {
            Some(q) => uri.get(..q).unwrap_or(uri),
            None => uri,
        }
    }

    /// The query string after `?` (empty when none).
    pub(crate) fn query(&self) -> &'a [u8] {
        let uri = self.uri();
        match uri.iter().position(|&b| b == b'?') {
            Some(q) => uri.get(q + 1..).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Values of every header called `name` (case-insensitive), in order.
    pub(crate) fn headers(&self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.head
            .headers
            .iter()
            .filter(move |h| h.name.get(buf).eq_ignore_ascii_case(name))
            .map(move |h| h.value.get(buf))
    }

    /// The last value of header `name` (HAProxy's `hdr(name)` uses the last occurrence).
    pub(crate) fn header(&self, name: &'a [u8]) -> Option<&'a [u8]> {
        self.headers(name).last()
    }

    /// Value of query parameter `name` (`url_param`), first occurrence.
    pub(crate) fn url_param(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.query().split(|&b| b == b'&').find_map(|kv| {
            let eq = kv.iter().position(|&b| b == b'=');
            let (k, v) = match eq {
                Some(i) => (kv.get(..i)?, kv.get(i + 1..)?),
                None => (kv, &[][..]),
            };
            (k == name).then_some(v)
        })
    }
}

/// `http://host:port/path?q` → `/path?q`; origin-form targets are returned as they are.
fn strip_authority(uri: &[u8]) -> &[u8] {
    let Some(scheme_end) = uri.windows(3).position(|w| w == b"://") else {
        return uri;
    };
    let rest = uri.get(scheme_end + 3..).unwrap_or(&[]);
    match rest.iter().position(|&b| b == b'/') {
        Some(p) => rest.get(p..).unwrap_or(b"/"),
        None => b"/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HeaderSpan, Span};

    #[test]
    fn path_query_params_headers() {
        let buf = b"GET http://x.example:80/a/b?k=1&z&k=2 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
        let head = RequestHead {
            target: Span::new(4, 37),
            headers: vec![
                HeaderSpan {
                    name: Span::new(48, 52),
                    value: Span::new(54, 55),
                },
                HeaderSpan {
                    name: Span::new(57, 60),
                    value: Span::new(62, 63),
                },
                HeaderSpan {
                    name: Span::new(65, 68),
                    value: Span::new(70, 71),
                },
            ],
            ..RequestHead::default()
        };
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let v = ReqView {
            buf,
            head: &head,
            src: a,
            dst: a,
            tls: None,
        };
        assert_eq!(v.uri(), b"http://x.example:80/a/b?k=1&z&k=2");
        assert_eq!(v.path(), b"/a/b");
        assert_eq!(v.query(), b"k=1&z&k=2");
        assert_eq!(v.url_param(b"k"), Some(&b"1"[..]));
        assert_eq!(v.url_param(b"z"), Some(&b""[..]));
        assert_eq!(v.url_param(b"q"), None);
        assert_eq!(v.header(b"x-a"), Some(&b"2"[..]));
        assert_eq!(v.headers(b"X-A").count(), 2);
    }
}
