//! mio `Token` layout. Stream tokens carry the slab key and which socket of the stream fired;
//! HTTP server connections carry their slot in the reactor's server-connection slab (so they
//! keep one token while they move between streams and the idle pool); health-check sockets
//! carry their task index. The top of the token space is reserved for the waker and the
//! listeners.

use mio::Token;

use crate::term::Side;

/// The reactor's waker (cross-thread commands, listener resume).
pub const WAKER: Token = Token(usize::MAX);

/// Listener tokens count down from just below the waker.
const LISTENER_TOP: usize = usize::MAX - 1;
/// At most this many listeners per reactor.
pub const MAX_LISTENERS: usize = 1 << 20;
const LISTENER_BOTTOM: usize = LISTENER_TOP - MAX_LISTENERS;

const TAG_CLIENT: usize = 0;
const TAG_SERVER: usize = 1;
const TAG_SERVER_CONN: usize = 2;
const TAG_CHECK: usize = 3;

/// What a token refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Waker,
    Listener(usize),
    Conn(usize, Side),
    /// An HTTP server connection (its slot in `conn::idle::IdlePool`).
    ServerConn(usize),
    /// A health check's socket (its task index in the reactor's `check::Checks`).
    Check(usize),
}

pub fn listener(i: usize) -> Token {
    debug_assert!(i < MAX_LISTENERS);
    Token(LISTENER_TOP - i)
}

pub fn conn(key: usize, side: Side) -> Token {
    let tag = match side {
        Side::Client => TAG_CLIENT,
        Side::Server => TAG_SERVER,
    };
    Token(key << 2 | tag)
}

pub fn server_conn(key: usize) -> Token {
    Token(key << 2 | TAG_SERVER_CONN)
}

pub fn check(i: usize) -> Token {
    Token(i << 2 | TAG_CHECK)
}

pub fn decode(t: Token) -> Target {
    match t.0 {
        usize::MAX => Target::Waker,
        n if n > LISTENER_BOTTOM => Target::Listener(LISTENER_TOP - n),
        n => match n & 3 {
            TAG_CLIENT => Target::Conn(n >> 2, Side::Client),
            TAG_SERVER => Target::Conn(n >> 2, Side::Server),
            TAG_SERVER_CONN => Target::ServerConn(n >> 2),
            _ => Target::Check(n >> 2),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(decode(WAKER), Target::Waker);
        assert_eq!(decode(listener(0)), Target::Listener(0));
        assert_eq!(decode(listener(77)), Target::Listener(77));
        assert_eq!(decode(conn(0, Side::Client)), Target::Conn(0, Side::Client));
        assert_eq!(
            decode(conn(123_456, Side::Server)),
            Target::Conn(123_456, Side::Server)
        );
        assert_eq!(decode(server_conn(9)), Target::ServerConn(9));
        assert_eq!(decode(check(0)), Target::Check(0));
        assert_eq!(decode(check(41)), Target::Check(41));
    }
}
