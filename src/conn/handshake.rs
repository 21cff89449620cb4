//! The pre-stream state of a connection accepted on a `bind ... accept-proxy`: it waits for
//! the PROXY protocol header (v1 or v2) before any HTTP or TCP processing, then hands its
//! socket to the reactor, which builds the stream with the header's addresses
//! (`reactor::accept::open_stream`, the same function as right after accept).
//!
//! ```text
//!   accept ─▶ Handshake ──header complete──▶ recv() exactly its bytes ─▶ stream (HTTP/TCP)
//!               │ bad header / closed / reset / `timeout client`
//!               ▼
//!             closed, "client:port [date] fe/listener: <reason>" logged
//! ```
//!
//! As HAProxy's `conn_recv_proxy()`: the bytes waiting in the socket are peeked
//! (`MSG_PEEK`), parsed by `proxyproto::parse`, and only the header's own bytes are then
//! read, so whatever the client sent after it stays in the socket for the stream. Unlike
//! haproxy 2.6, which fails a header not complete in its first read ("Truncated"), a header
//! arriving in several segments is waited for (the specification's recommendation), still
//! bounded by `timeout client`.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::Readiness;
use crate::conn::Ctx;
use crate::model::FrontendId;
use crate::net::Sock;
use crate::proxyproto::{self, Failure, Parse};
use crate::term::{Cause, Side, Stage, Termination};

/// Where and when a client connection came in, before any handshake changed its addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival {
    pub(crate) frontend: FrontendId,
    /// Index of the `Bind` in its frontend.
    pub(crate) bind: usize,
    /// The port the client reached (the listener's, or the PROXY header's destination port).
    pub(crate) port: u16,
    /// The client's address (`None`: a unix-socket client).
    pub(crate) src: Option<SocketAddr>,
    /// The address the client reached, when known without a syscall (a listener bound to a
    /// specific address, or the PROXY header); `None`: looked up on the socket when needed.
    pub(crate) dst: Option<SocketAddr>,
    pub(crate) accepted: Instant,
}

/// What a handshake step concluded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Waiting for more bytes (or the deadline).
    Wait,
    /// The handshake failed (the reason is kept for the log line): close the connection.
    Failed(Termination),
    /// The header was read; its addresses, if it carried usable ones.
    Done(Option<(SocketAddr, SocketAddr)>),
}

/// A client connection waiting for its PROXY header. Holds the frontend/bind/global slots
/// taken at accept; holds no buffer between events.
#[derive(Debug)]
pub(crate) struct Handshake {
    /// `None` only once handed to the stream (`take_client`).
    client: Option<Sock>,
    pub(crate) arrival: Arrival,
    ready: Readiness,
    /// `timeout client`, counted from the accept (HAProxy bounds the handshake with it).
    deadline: Option<Instant>,
    /// Some byte arrived (`option dontlognull` keeps quiet about silent connections).
    received: bool,
    failure: Option<Failure>,
}

impl Handshake {
    pub(crate) fn new(client: Sock, arrival: Arrival) -> Handshake {
        Handshake {
            client: Some(client),
            arrival,
            ready: Readiness::default(),
            deadline: None,
            received: false,
            failure: None,
        }
    }

    /// Registers the socket, arms `timeout client` and looks for a header at once (it
    /// usually comes with the connection's first segment).
    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_>) -> Progress {
        let token = ctx.stream_token(Side::Client);
        let registered = self
            .client
            .as_mut()
            .is_some_and(|c| c.register(ctx.registry, token).is_ok());
        if !registered {
            return Progress::Failed(Termination::new(Cause::Proxy, Stage::Request));
        }
        let t = ctx.frontend_timeouts(self.arrival.frontend).client;
        self.deadline = t.map(|t| self.arrival.accepted + t);
        if let Some(d) = self.deadline {
            ctx.timers.arm(d, ctx.owner);
        }
        self.ready.readable = true;
        self.advance(ctx)
    }

    pub(crate) fn on_event(&mut self, ev: &mio::event::Event, ctx: &mut Ctx<'_>) -> Progress {
        self.ready.absorb(ev);
        self.advance(ctx)
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>) -> Progress {
        if self.deadline.is_some_and(|d| d <= ctx.now) {
            return self.fail(Failure::Timeout);
        }
        // Not due yet (woken early): the deadline stays armed.
        if let Some(d) = self.deadline {
            ctx.timers.arm(d, ctx.owner);
        }
        self.advance(ctx)
    }

    fn fail(&mut self, f: Failure) -> Progress {
        self.failure = Some(f);
        let cause = match f {
            Failure::Timeout => Cause::ClientTimeout,
            Failure::Empty
            | Failure::Abort
            | Failure::Truncated
            | Failure::NotHeader
            | Failure::BadHeader
            | Failure::BadProto => Cause::ClientAbort,
        };
        Progress::Failed(Termination::new(cause, Stage::Request))
    }

    /// Peeks at what the socket holds; on a complete header reads exactly its bytes. The
    /// reactor's `handshake_buf` (`tune.bufsize` long) bounds how long a header may be, as
    /// HAProxy's buffer does.
    fn advance(&mut self, ctx: &mut Ctx<'_>) -> Progress {
        if !self.ready.readable {
            return Progress::Wait;
        }
        let Some(client) = self.client.as_mut() else {
            return Progress::Wait;
        };
        let buf = &mut *ctx.handshake_buf;
        let peeked = loop {
            match client.peek(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let n = match peeked {
            Ok(0) => return self.fail(Failure::Empty),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.ready.readable = false;
                return Progress::Wait;
            }
            Err(e) => {
                ctx.debug_event(format_args!("PROXY header: {e}"));
                return self.fail(Failure::Abort);
            }
        };
        let buf = &mut *ctx.handshake_buf;
        self.received = true;
        let seen = buf.get(..n).unwrap_or(&[]);
        let header = match proxyproto::parse(seen, buf.len()) {
            Ok(Parse::Done(h)) => h,
            Ok(Parse::Incomplete) => {
                // Peeking leaves the bytes in the socket: only a new segment (a new edge)
                // or the peer's FIN can change the answer.
                self.ready.readable = false;
                if self.ready.closing || n == buf.len() {
                    return self.fail(Failure::Truncated);
                }
                return Progress::Wait;
            }
            Err(f) => return self.fail(f),
        };
        // Consume exactly the header: the client's first bytes stay for the stream.
        let Some(dst) = buf.get_mut(..header.len) else {
            return self.fail(Failure::BadHeader);
        };
        let read = loop {
            match client.read(dst) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        match read {
            Ok(got) if got == header.len => {}
            // The bytes were there a moment ago: anything else is a broken socket, as
            // HAProxy's `recv_abort`.
            Ok(_) | Err(_) => return self.fail(Failure::Abort),
        }
        ctx.debug_event(format_args!(
            "PROXY {:?} header, {} bytes: {:?}",
            header.version, header.len, header.addrs
        ));
        Progress::Done(header.addrs)
    }

    /// Hands the socket over (deregistered: the stream registers it again under the same
    /// token, and epoll reports what is already waiting).
    pub(crate) fn take_client(&mut self, ctx: &Ctx<'_>) -> Option<Sock> {
        let mut sock = self.client.take()?;
        sock.deregister(ctx.registry);
        Some(sock)
    }

    /// Closes the connection: deregisters the socket and writes HAProxy's line for a failed
    /// handshake when the frontend logs.
    pub(crate) fn teardown(mut self, ctx: &mut Ctx<'_>) {
        if let Some(mut sock) = self.client.take() {
            sock.deregister(ctx.registry);
        }
        if let Some(f) = self.failure {
            super::logline::emit_handshake_failure(ctx, &self.arrival, f, self.received);
        }
    }
}
