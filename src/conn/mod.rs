//! Connections as the reactor sees them: one slab entry per stream, one state machine per
//! protocol, and the readiness bookkeeping they share. Sides and terminations are `crate::term`;
//! the socket type is `crate::net::Sock`.

pub mod connect;
pub mod ctx;
pub mod duplex;
pub mod handshake;
pub mod http;
pub mod idle;
pub mod logline;
pub mod pump;
pub mod tcp;

pub(crate) use ctx::Ctx;

/// One socket of a stream with its readiness: what the state machines read and write through
/// (the client of a TCP or HTTP stream, a server connection, both ends of a tunnel).
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) sock: crate::net::Sock,
    pub(crate) ready: Readiness,
}

impl Peer {
    /// A socket not yet heard from.
    pub(crate) fn new(sock: crate::net::Sock) -> Peer {
        Peer {
            sock,
            ready: Readiness::default(),
        }
    }

    /// A client socket's event: readiness noted, and TLS records held back by a full socket
    /// sent on its next writable event.
    pub(crate) fn on_client_event(&mut self, ev: &mio::event::Event) -> std::io::Result<()> {
        self.ready.absorb(ev);
        if self.ready.writable && self.sock.tls_pending() {
            self.sock.flush_tls()?;
        }
        Ok(())
    }

    /// A server socket's event: readiness noted; over TLS the handshake moves on reads as
    /// well as writes, so a write is tried again on any event and held records leave.
    pub(crate) fn on_server_event(&mut self, ev: &mio::event::Event) -> std::io::Result<()> {
        self.ready.absorb(ev);
        if let crate::net::Sock::Tls(_) = self.sock {
            self.ready.writable = true;
            self.sock.flush_tls()?;
        }
        Ok(())
    }
}

/// Edge-triggered readiness bookkeeping for one socket: set by events, cleared by WouldBlock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Readiness {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// EPOLLERR was reported: for a connecting socket, the connection failed.
    pub(crate) error: bool,
    /// The peer's FIN (or an error) was reported: read until EOF, not just until a short read.
    pub(crate) closing: bool,
}

impl Readiness {
    pub(crate) fn absorb(&mut self, ev: &mio::event::Event) {
        self.error |= ev.is_error();
        self.closing |= ev.is_read_closed() || ev.is_error();
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.readable = true;
        }
        if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
            self.writable = true;
        }
    }

    /// After a read of `n` bytes into `room`: a short read drained the socket (edge-triggered
    /// epoll reports any later arrival as a new event), so skip the read that would only
    /// return EAGAIN — unless EOF is pending, which only a further read reports.
    pub(crate) fn after_read(&mut self, n: usize, room: usize) {
        if n < room && !self.closing {
            self.readable = false;
        }
    }
}
