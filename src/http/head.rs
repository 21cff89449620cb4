//! Writing outgoing HTTP/1.1 heads into a caller-provided buffer.
//!
//! [`HeadWriter`] appends a start line, header lines and the final empty line to a slice (the
//! connection's pooled buffer). It never allocates and never writes past the slice: once
//! something does not fit, every further write is ignored and [`HeadWriter::finish`] returns
//! `None`, and the caller answers 500 (request side) or 502 (response side) as HAProxy does
//! when a rewritten head does not fit its buffer.
//!
//! What this module leaves to others: which headers to write (`conn::http`, `crate::rules`) and
//! the built-in error pages (`http::errors`).

use super::Version;

/// Writes one outgoing head into `out`. Invariant: `pos <= out.len()`.
#[derive(Debug)]
pub(crate) struct HeadWriter<'a> {
    out: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'a> HeadWriter<'a> {
    pub(crate) fn new(out: &'a mut [u8]) -> Self {
        HeadWriter {
            out,
            pos: 0,
            overflow: false,
        }
    }

    /// `METHOD SP target SP HTTP/1.x CRLF`.
    pub(crate) fn request_line(&mut self, method: &[u8], target: &[u8], version: Version) {
        self.put(method);
        self.put(b" ");
        self.put(target);
        self.put(b" ");
        self.put(version.as_bytes());
        self.put(b"\r\n");
    }

    /// `HTTP/1.x SP status SP reason CRLF`. The status is written in decimal as given (callers
    /// pass 100..=999).
    pub(crate) fn status_line(&mut self, version: Version, status: u16, reason: &[u8]) {
        let mut digits = [0u8; 20];
        self.put(version.as_bytes());
        self.put(b" ");
        self.put(write_u64(u64::from(status), &mut digits));
        self.put(b" ");
        self.put(reason);
        self.put(b"\r\n");
    }

    /// `name: value CRLF`. Name and value are written as given; they come from a parsed head
    /// or from validated configuration.
    pub(crate) fn header(&mut self, name: &[u8], value: &[u8]) {
        self.put(name);
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
    }

    /// A header whose value is a number (`content-length`), formatted without allocating.
    #[cfg(test)]
    pub(crate) fn header_u64(&mut self, name: &[u8], value: u64) {
        let mut digits = [0u8; 20];
        let digits = write_u64(value, &mut digits);
        self.header(name, digits);
    }

    /// Bytes written so far (the head is not finished).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pos
    }

    /// Writes the empty line; returns the head length, or None if it did not fit (then the
    /// caller answers 500/502 as HAProxy does).
    pub(crate) fn finish(mut self) -> Option<usize> {
        self.put(b"\r\n");
        (!self.overflow).then_some(self.pos)
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        let end = match self.pos.checked_add(bytes.len()) {
            Some(end) => end,
            None => {
                self.overflow = true;
                return;
            }
        };
        match self.out.get_mut(self.pos..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos = end;
            }
            None => self.overflow = true,
        }
    }
}

/// Formats `n` in decimal into `buf` (20 bytes hold `u64::MAX`) and returns the digits.
pub(crate) fn write_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        // `n % 10` is a single digit: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (n % 10) as u8;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + digit;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_request_head() {
        let mut buf = [0u8; 128];
        let mut w = HeadWriter::new(&mut buf);
        w.request_line(b"GET", b"/a?b", Version::Http11);
        w.header(b"host", b"example.com");
        w.header_u64(b"content-length", 1234);
        let n = w.finish().unwrap();
        assert_eq!(
            &buf[..n],
            b"GET /a?b HTTP/1.1\r\nhost: example.com\r\ncontent-length: 1234\r\n\r\n"
        );
    }

    #[test]
    fn writes_status_line() {
        let mut buf = [0u8; 64];
        let mut w = HeadWriter::new(&mut buf);
        w.status_line(Version::Http10, 404, b"Not Found");
        let n = w.finish().unwrap();
        assert_eq!(&buf[..n], b"HTTP/1.0 404 Not Found\r\n\r\n");
    }

    #[test]
    fn overflow_at_every_size() {
        let mut full = [0u8; 128];
        let mut w = HeadWriter::new(&mut full);
        w.status_line(Version::Http11, 200, b"OK");
        w.header(b"x", b"y");
        let need = w.finish().unwrap();
        for size in 0..need + 3 {
            let mut buf = vec![0u8; size];
            let mut w = HeadWriter::new(&mut buf);
            w.status_line(Version::Http11, 200, b"OK");
            w.header(b"x", b"y");
            assert!(w.len() <= size);
            let got = w.finish();
            if size >= need {
                assert_eq!(got, Some(need));
                assert_eq!(&buf[..need], &full[..need]);
            } else {
                assert_eq!(got, None, "size {size}");
            }
        }
    }

    #[test]
    fn u64_formatting() {
        let mut d = [0u8; 20];
        assert_eq!(write_u64(0, &mut d), b"0");
        assert_eq!(write_u64(7, &mut d), b"7");
        assert_eq!(write_u64(10, &mut d), b"10");
        assert_eq!(write_u64(90, &mut d), b"90");
        assert_eq!(write_u64(u64::MAX, &mut d), b"18446744073709551615");
        for n in [1u64, 9, 99, 100, 12345, 1 << 40] {
            assert_eq!(write_u64(n, &mut d), n.to_string().as_bytes());
        }
    }
}
