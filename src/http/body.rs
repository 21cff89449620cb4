//! Body framing: finding where a message body ends, without copying it.
//!
//! [`BodyState`] is fed the bytes that follow a head as they arrive (in any split, down to one
//! byte at a time) and says how many belong to the current message. For chunked bodies it
//! validates the framing (RFC 9112 §7.1): chunk-size lines (hex digits, optional whitespace and
//! `;ext`, CRLF), the CRLF after each chunk's data, the last chunk and the trailer section up to
//! its empty line. It keeps a few integers of state; nothing is allocated.
//!
//! What this module leaves to others: forwarding the bytes (`conn::http`) and mapping a framing
//! error to the status sent (400 for requests, 502 for responses; errors here always say 400).

use super::{Framing, HttpError};

/// Where a message body stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyState {
    /// No body left: it was empty or has been fully seen.
    Done,
    /// `Content-Length` body with this many bytes still to come.
    Length(u64),
    /// Response body delimited by the server closing the connection.
    UntilClose,
    /// Chunked body, in the given phase.
    Chunked(Chunk),
}

/// Position inside a chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Reading the hex digits of a chunk size; `size` so far and whether a digit was seen.
    Size { size: u64, digits: bool },
    /// After the digits: optional SP/HTAB before `;` or CR.
    SizeWs { size: u64 },
    /// Inside a chunk extension, up to CR.
    Ext { size: u64 },
    /// CR of a chunk-size line seen; LF must follow.
    SizeLf { size: u64 },
    /// Chunk data, this many bytes left.
    Data(u64),
    /// After chunk data: CR expected.
    DataCr,
    /// After chunk data and CR: LF expected.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// CR of a trailer line seen; LF must follow.
    TrailerLf,
    /// CR of the final empty line seen; LF must follow.
    LastLf,
}

/// A byte in the wrong place in a chunked body (the caller answers 400 or 502).
const BAD_CHUNK_SIZE: HttpError = HttpError::new(400, "invalid chunk size line");
const CHUNK_TOO_BIG: HttpError = HttpError::new(400, "chunk size overflow");
const BAD_CHUNK_END: HttpError = HttpError::new(400, "missing CRLF after chunk data");
const BAD_TRAILER: HttpError = HttpError::new(400, "invalid trailer section");

impl BodyState {
    /// The state at the start of a body framed as `framing`.
    pub(crate) fn new(framing: Framing) -> BodyState {
        match framing {
            Framing::None | Framing::Length(0) => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(Chunk::Size {
                size: 0,
                digits: false,
            }),
            Framing::UntilClose => BodyState::UntilClose,
        }
    }

    /// Looks at bytes following the head (as they arrive, possibly one byte at a time) and
    /// returns how many of them belong to this message; never copies. The rest (if any) is the
    /// next message. After an error the state must not be used further.
    pub(crate) fn advance(&mut self, data: &[u8]) -> Result<usize, HttpError> {
        match self {
            BodyState::Done => Ok(0),
            BodyState::UntilClose => Ok(data.len()),
            BodyState::Length(left) => {
                let take = clamp(*left, data.len());
                *left -= take as u64;
                if *left == 0 {
                    *self = BodyState::Done;
                }
                Ok(take)
            }
            BodyState::Chunked(chunk) => {
                let mut chunk = *chunk;
                let used = advance_chunked(&mut chunk, data)?;
                *self = match used.done {
                    true => BodyState::Done,
                    false => BodyState::Chunked(chunk),
                };
                Ok(used.len)
            }
        }
    }

    /// The whole body has been seen.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, BodyState::Done)
    }

    /// For UntilClose: the message ends at end of stream.
    pub(crate) fn until_close(&self) -> bool {
        matches!(self, BodyState::UntilClose)
    }
}

/// `min(left, avail)` as a usize, without a lossy cast.
fn clamp(left: u64, avail: usize) -> usize {
    match usize::try_from(left) {
        Ok(l) => l.min(avail),
        Err(_) => avail,
    }
}

struct Used {
    len: usize,
    done: bool,
}

fn advance_chunked(st: &mut Chunk, data: &[u8]) -> Result<Used, HttpError> {
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        match *st {
            Chunk::Data(left) => {
                // Skip the chunk's data in one step.
                let take = clamp(left, data.len() - i);
                i += take;
                let left = left - take as u64;
                *st = if left == 0 {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left)
                };
                continue;
            }
            Chunk::Size { size, digits } => {
                if let Some(d) = hex_value(b) {
                    // HAProxy refuses sizes that would overflow rather than counting digits, so
                    // leading zeros are fine.
                    if size > u64::MAX >> 4 {
                        return Err(CHUNK_TOO_BIG);
                    }
                    *st = Chunk::Size {
                        size: (size << 4) | d,
                        digits: true,
                    };
                } else if !digits {
                    return Err(BAD_CHUNK_SIZE);
                } else {
                    *st = size_line_byte(size, b)?;
                }
            }
            Chunk::SizeWs { size } => *st = size_line_byte(size, b)?,
            Chunk::Ext { size } => {
                *st = match b {
                    b'\r' => Chunk::SizeLf { size },
                    b'\t' => Chunk::Ext { size },
                    0..=0x1f | 0x7f => return Err(BAD_CHUNK_SIZE),
                    _ => Chunk::Ext { size },
                }
            }
            Chunk::SizeLf { size } => {
                if b != b'\n' {
                    return Err(BAD_CHUNK_SIZE);
                }
                *st = if size == 0 {
                    Chunk::TrailerStart
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::DataCr => {
                if b != b'\r' {
                    return Err(BAD_CHUNK_END);
                }
                *st = Chunk::DataLf;
            }
            Chunk::DataLf => {
                if b != b'\n' {
                    return Err(BAD_CHUNK_END);
                }
                *st = Chunk::Size {
                    size: 0,
                    digits: false,
                };
            }
            Chunk::TrailerStart => {
                *st = match b {
                    b'\r' => Chunk::LastLf,
                    // A trailer field starts with a name: no obs-fold, no empty name.
                    b if is_tchar(b) => Chunk::TrailerLine,
                    _ => return Err(BAD_TRAILER),
                }
            }
            Chunk::TrailerLine => {
                *st = match b {
                    b'\r' => Chunk::TrailerLf,
                    b'\t' => Chunk::TrailerLine,
                    0..=0x1f | 0x7f => return Err(BAD_TRAILER),
                    _ => Chunk::TrailerLine,
                }
            }
            Chunk::TrailerLf => {
                if b != b'\n' {
                    return Err(BAD_TRAILER);
                }
                *st = Chunk::TrailerStart;
            }
            Chunk::LastLf => {
                if b != b'\n' {
                    return Err(BAD_TRAILER);
                }
                return Ok(Used {
                    len: i + 1,
                    done: true,
                });
            }
        }
        i += 1;
    }
    Ok(Used {
        len: i,
        done: false,
    })
}

/// A byte after the chunk-size digits: whitespace (HAProxy allows SP/HTAB there), the start of
/// an extension, or the CR ending the line. A bare LF is refused.
fn size_line_byte(size: u64, b: u8) -> Result<Chunk, HttpError> {
    match b {
        b' ' | b'\t' => Ok(Chunk::SizeWs { size }),
        b';' => Ok(Chunk::Ext { size }),
        b'\r' => Ok(Chunk::SizeLf { size }),
        _ => Err(BAD_CHUNK_SIZE),
    }
}

fn hex_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `data` in pieces of the given sizes (cycled); returns bytes consumed by the body,
    /// whether it finished, and the first error.
    fn feed(framing: Framing, data: &[u8], sizes: &[usize]) -> Result<(usize, bool), HttpError> {
        let mut st = BodyState::new(framing);
        let mut pos = 0;
        let mut k = 0;
        while pos < data.len() && !st.is_done() {
            let n = sizes.get(k % sizes.len()).copied().unwrap_or(1).max(1);
            k += 1;
            let end = (pos + n).min(data.len());
            let avail = end - pos;
            let used = st.advance(&data[pos..end])?;
            assert!(used <= avail);
            if used < avail {
                // Only a finished body leaves bytes of a piece unconsumed.
                assert!(st.is_done());
            }
            pos += used;
        }
        Ok((pos, st.is_done()))
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    /// Whole, byte by byte, and random chunkings must agree.
    fn all_splits(framing: Framing, data: &[u8]) -> Result<(usize, bool), HttpError> {
        let whole = feed(framing, data, &[data.len().max(1)]);
        assert_eq!(feed(framing, data, &[1]), whole, "byte by byte");
        let mut rng = Rng(data.len() as u64 * 7919 + 1);
        for _ in 0..50 {
            let sizes: Vec<usize> = (0..8).map(|_| (rng.next() % 7) as usize + 1).collect();
            assert_eq!(feed(framing, data, &sizes), whole, "sizes {sizes:?}");
        }
        whole
    }

    #[test]
    fn length_and_none() {
        assert_eq!(all_splits(Framing::Length(5), b"helloGET /"), Ok((5, true)));
        assert_eq!(all_splits(Framing::Length(5), b"hel"), Ok((3, false)));
        assert!(BodyState::new(Framing::None).is_done());
        assert!(BodyState::new(Framing::Length(0)).is_done());
        let mut st = BodyState::new(Framing::None);
        assert_eq!(st.advance(b"next"), Ok(0));
        let mut st = BodyState::new(Framing::Length(u64::MAX));
        assert_eq!(st.advance(b"abc"), Ok(3));
        assert_eq!(st, BodyState::Length(u64::MAX - 3));
    }

    #[test]
    fn until_close() {
        let mut st = BodyState::new(Framing::UntilClose);
        assert!(st.until_close() && !st.is_done());
        assert_eq!(st.advance(b"anything"), Ok(8));
        assert!(!BodyState::new(Framing::Chunked).until_close());
    }

    #[test]
    fn chunked_valid() {
        let body: &[u8] =
            b"5\r\nhello\r\n1A;name=val;x\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\nNEXT";
        assert_eq!(
            all_splits(Framing::Chunked, body),
            Ok((body.len() - 4, true))
        );
        let body: &[u8] = b"0\r\nX-Trailer: a\tb\r\nY: 2\r\n\r\nNEXT";
        assert_eq!(
            all_splits(Framing::Chunked, body),
            Ok((body.len() - 4, true))
        );
        let body: &[u8] = b"00000000000000000003 \t;ext\r\nabc\r\n000\r\n\r\n";
        assert_eq!(all_splits(Framing::Chunked, body), Ok((body.len(), true)));
        let body: &[u8] = b"ffffffffffffffff\r\nabc";
        assert_eq!(all_splits(Framing::Chunked, body), Ok((body.len(), false)));
        // Incomplete at every point: never done, never an error.
        let full: &[u8] = b"3;e\r\nabc\r\n0\r\nT: v\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(
                all_splits(Framing::Chunked, &full[..cut]),
                Ok((cut, false)),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn chunked_invalid() {
        let cases: &[&[u8]] = &[
            b"5\nhello\r\n0\r\n\r\n",
            b"\r\n",
            b";ext\r\n",
            b"g\r\n",
            b"0x5\r\nhello\r\n",
            b"-5\r\n",
            b"5 5\r\n",
            b"5\r\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\r",
            b"10000000000000000\r\n",
            b"fffffffffffffffff\r\n",
            b"1;a\x00b\r\n",
            b"1;a\nb\r\n",
            b"0\r\n\n",
            b"0\r\n folded\r\n\r\n",
            b"0\r\nT: v\n\r\n",
            b"0\r\nT: a\x00\r\n\r\n",
            b"0\r\n\rX",
        ];
        for body in cases {
            assert_eq!(
                all_splits(Framing::Chunked, body).map_err(|e| e.status),
                Err(400),
                "{}",
                String::from_utf8_lossy(body).escape_debug()
            );
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        let mut rng = Rng(42);
        let alphabet: &[u8] = b"0123456789abcdefABCDEF;\r\n \t:xZ\x00\xff";
        for _ in 0..5_000 {
            let len = (rng.next() % 64) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = all_splits(Framing::Chunked, &data);
        }
    }
}
