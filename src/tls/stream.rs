//! A client connection that is TLS over a non-blocking TCP socket, with the socket-like
//! semantics the HTTP layer relies on under edge-triggered polling:
//! - `read` fills as much of the caller's buffer as it can; a short count (or `WouldBlock`)
//!   means the socket was read until `WouldBlock` and no decrypted byte is left inside, so
//!   waiting for the next readable event is right;
//! - `write` first sends any ciphertext still held from before: while some remains it
//!   accepts nothing (`WouldBlock`); then it encrypts and sends what it accepts. Ciphertext the
//!   socket would not take stays held ([`TlsSock::wants_write`]) until [`TlsSock::flush`],
//!   which the connection calls on each writable event and before it closes.
//!
//! Handshake records go out as they are produced, inside `read`.

use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;
use rustls::Connection;

use super::TlsInfo;

#[derive(Debug)]
pub(crate) struct TlsSock {
    pub(crate) tcp: TcpStream,
    /// The server side of a client's connection, or the client side to a server.
    conn: Connection,
    /// The handshake failed (a record error after it is not a handshake failure).
    failed: bool,
}

impl TlsSock {
    pub(crate) fn new(
        tcp: TcpStream,
        config: std::sync::Arc<rustls::ServerConfig>,
    ) -> io::Result<TlsSock> {
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsSock {
            tcp,
            conn: conn.into(),
            failed: false,
        })
    }

    /// TLS to a server (`server ... ssl`): the client hello leaves with the first write.
    pub(crate) fn client(
        tcp: TcpStream,
        config: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<TlsSock> {
        let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(TlsSock {
            tcp,
            conn: conn.into(),
            failed: false,
        })
    }

    /// While handshaking (client side: before the request can be written), moves the
    /// handshake on: sends what is due and takes what arrived, until the socket would block
    /// both ways. `Ok(true)`: done.
    fn drive_handshake(&mut self) -> io::Result<bool> {
        while self.conn.is_handshaking() {
            self.flush()?;
            if self.conn.wants_write() {
                return Ok(false);
            }
            match self.conn.read_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        let _ = self.flush();
                        self.failed = true;
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.flush()?;
        Ok(true)
    }

    /// Whether the handshake or a record failed (an invalid or refused client hello, a bad
    /// certificate, a corrupt record).
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    pub(crate) fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Ciphertext is held that the socket has not taken yet.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Sends held ciphertext until done or `WouldBlock` (then `Ok`: the rest waits for the
    /// next writable event).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A client hello (TLS to a server) or other held records go first: a server that
        // speaks first waits for the handshake.
        if self.conn.wants_write() {
            self.flush()?;
        }
        let mut filled = 0;
        // The last socket read was short: the socket is empty (a new arrival is a new edge),
        // so once the decrypted bytes are taken there is no need for a read that would only
        // say EAGAIN.
        let mut drained = false;
        loop {
            // Decrypted bytes first.
            if let Some(rest) = buf.get_mut(filled..) {
                if rest.is_empty() {
                    return Ok(filled);
                }
                match self.conn.reader().read(rest) {
                    Ok(0) => return Ok(filled), // close_notify received
                    Ok(n) => {
                        filled += n;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The peer closed without close_notify: an ordinary end for HTTP/1.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(filled),
                    Err(e) => return self.fail(filled, e),
                }
            }
            if drained {
                return if filled > 0 {
                    Ok(filled)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let mut src = ShortRead {
                tcp: &mut self.tcp,
                short: false,
            };
            let got = self.conn.read_tls(&mut src);
            drained = src.short;
            match got {
                Ok(0) => {
                    // Socket EOF: whatever was decrypted, then the end.
                    let _ = self.conn.process_new_packets();
                    if filled > 0 {
                        return Ok(filled);
                    }
                    return match self.conn.reader().read(buf) {
                        Ok(n) => Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                        Err(e) => Err(e),
                    };
                }
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        // Send the alert rustls queued, then fail.
                        let _ = self.flush();
                        return self.fail(filled, io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    // Handshake messages (and session tickets) leave at once.
                    if self.conn.wants_write() {
                        self.flush().or_else(|e| self.fail(filled, e).map(|_| ()))?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if filled > 0 { Ok(filled) } else { Err(e) };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(filled, e),
            }
        }
    }

    /// A fatal error: reported even when bytes were decrypted before it (the socket was not
    /// drained, so a short count would leave the connection waiting for an edge).
    fn fail(&mut self, _filled: usize, e: io::Error) -> io::Result<usize> {
        if self.conn.is_handshaking() {
            self.failed = true;
        }
        Err(e)
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.conn.is_handshaking() && !self.drive_handshake()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush()?;
        if self.conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut taken = 0;
        for b in bufs {
            let n = self.conn.writer().write(b)?;
            taken += n;
            if n < b.len() {
                break;
            }
        }
        if taken == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush()?;
        Ok(taken)
    }

    /// Sends `close_notify` with what is held, without waiting (the socket closes next).
    pub(crate) fn close_notify(&mut self) {
        if !self.failed {
            self.conn.send_close_notify();
            let _ = self.flush();
        }
    }

    /// Sends `close_notify` and what is held, then the FIN.
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        let _ = self.flush();
        self.tcp.shutdown(std::net::Shutdown::Write)
    }

    /// SNI, protocol and ALPN of the finished handshake.
    pub(crate) fn info(&self) -> TlsInfo {
        TlsInfo {
            sni: match &self.conn {
                Connection::Server(c) => c.server_name().map(Into::into),
                Connection::Client(_) => None,
            },
            protocol: match self.conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                _ => "",
            },
            alpn: self.conn.alpn_protocol().map(Into::into),
            resumed: self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

/// The socket as rustls reads it, noting whether the last read came back short.
struct ShortRead<'a> {
    tcp: &'a mut TcpStream,
    short: bool,
}

impl Read for ShortRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}
