//! The socket a stream or check talks through: plain TCP, a unix socket, or TLS over TCP. One
//! type so that every state machine reads, writes, registers and shuts down the same way.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};

use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

#[derive(Debug)]
pub(crate) enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// A client connection of a `bind ... ssl` listener (HTTP mode): TLS over TCP.
    Tls(Box<crate::tls::stream::TlsSock>),
}

impl Sock {
    /// The peer's address (a TCP socket), for the runtime API's `show sess`.
    pub(crate) fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Sock::Tcp(s) => s.peer_addr().ok(),
            Sock::Unix(_) => None,
            Sock::Tls(t) => t.tcp.peer_addr().ok(),
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Unix(s) => s.read(buf),
            Sock::Tls(t) => t.read(buf),
        }
    }

    /// Copies waiting bytes into `buf` without consuming them (`MSG_PEEK`).
    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        crate::sys::socket::peek(self, buf)
    }

    /// The socket's own address (TCP), for a wildcard listener's destination.
    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Sock::Tcp(s) => s.local_addr().ok(),
            Sock::Unix(_) => None,
            Sock::Tls(t) => t.tcp.local_addr().ok(),
        }
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write(buf),
            Sock::Unix(s) => s.write(buf),
            Sock::Tls(t) => t.write(buf),
        }
    }

    /// Writes several slices in one syscall (`writev`): an outgoing head plus body bytes.
    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write_vectored(bufs),
            Sock::Unix(s) => s.write_vectored(bufs),
            Sock::Tls(t) => t.write_vectored(bufs),
        }
    }

    /// Like `write_vectored`, telling the kernel more bytes follow at once (`MSG_MORE` on TCP).
    pub(crate) fn write_more(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => crate::sys::socket::send_more(&*s, bufs),
            Sock::Unix(s) => s.write_vectored(bufs),
            // Records are sent as they are sealed; nothing to hold back.
            Sock::Tls(t) => t.write_vectored(bufs),
        }
    }

    /// Sends what an earlier `write_more` left held in the kernel.
    pub(crate) fn push(&self) {
        if let Sock::Tcp(s) = self {
            let _ = crate::sys::socket::push(s);
        }
    }

    /// TLS: sends the ciphertext still held (on a writable event, before closing).
    pub(crate) fn flush_tls(&mut self) -> io::Result<()> {
        match self {
            Sock::Tls(t) => t.flush(),
            _ => Ok(()),
        }
    }

    /// TLS: ciphertext is held that the socket has not taken yet.
    pub(crate) fn tls_pending(&self) -> bool {
        matches!(self, Sock::Tls(t) if t.wants_write())
    }

    /// TLS: the handshake is not done yet.
    pub(crate) fn tls_handshaking(&self) -> bool {
        matches!(self, Sock::Tls(t) if t.handshaking())
    }

    /// TLS: sends `close_notify` (best effort, before the socket closes).
    pub(crate) fn tls_close(&mut self) {
        if let Sock::Tls(t) = self {
            t.close_notify();
        }
    }

    /// TLS: the handshake (or a record) failed.
    pub(crate) fn tls_failed(&self) -> bool {
        matches!(self, Sock::Tls(t) if t.failed())
    }

    /// TLS: what the finished handshake agreed (`None`: not TLS, or still handshaking).
    pub(crate) fn tls_info(&self) -> Option<crate::tls::TlsInfo> {
        match self {
            Sock::Tls(t) if !t.handshaking() => Some(t.info()),
            _ => None,
        }
    }

    /// Sends a FIN (half-close). A socket already reset reports ENOTCONN, which callers ignore.
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.shutdown(Shutdown::Write),
            Sock::Unix(s) => s.shutdown(Shutdown::Write),
            // `close_notify` and the records still held go before the FIN.
            Sock::Tls(t) => t.shutdown_write(),
        }
    }

    /// Registers for both directions, edge-triggered, once for the socket's life.
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let both = Interest::READABLE | Interest::WRITABLE;
        match self {
            Sock::Tcp(s) => registry.register(s, token, both),
            Sock::Unix(s) => registry.register(s, token, both),
            Sock::Tls(t) => registry.register(&mut t.tcp, token, both),
        }
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) {
        let _ = match self {
            Sock::Tcp(s) => registry.deregister(s),
            Sock::Unix(s) => registry.deregister(s),
            Sock::Tls(t) => registry.deregister(&mut t.tcp),
        };
    }

    /// The pending asynchronous error (`SO_ERROR`), used to learn how a connect ended.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Sock::Tcp(s) => s.take_error(),
            Sock::Unix(s) => s.take_error(),
            Sock::Tls(t) => t.tcp.take_error(),
        }
    }
}

impl AsFd for Sock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Sock::Tcp(s) => s.as_fd(),
            Sock::Unix(s) => s.as_fd(),
            Sock::Tls(t) => t.tcp.as_fd(),
        }
    }
}
