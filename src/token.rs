//! mio `Token` layout. Connection tokens carry the slab key and the side; the top of the token
//! space is reserved for the waker and the listeners.

use mio::Token;

use crate::conn::Side;

/// The reactor's waker (cross-thread commands, listener resume).
pub const WAKER: Token = Token(usize::MAX);

/// Listener tokens count down from just below the waker.
const LISTENER_TOP: usize = usize::MAX - 1;
/// At most this many listeners per reactor.
pub const MAX_LISTENERS: usize = 1 << 20;
const LISTENER_BOTTOM: usize = LISTENER_TOP - MAX_LISTENERS;

/// What a token refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Waker,
    Listener(usize),
    Conn(usize, Side),
}

pub fn listener(i: usize) -> Token {
    debug_assert!(i < MAX_LISTENERS);
    Token(LISTENER_TOP - i)
}

pub fn conn(key: usize, side: Side) -> Token {
    Token(key << 1 | side as usize)
}

pub fn decode(t: Token) -> Target {
    match t.0 {
        usize::MAX => Target::Waker,
        n if n > LISTENER_BOTTOM => Target::Listener(LISTENER_TOP - n),
        n => Target::Conn(
            n >> 1,
            if n & 1 == 0 {
                Side::Client
            } else {
                Side::Server
            },
        ),
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
    }
}
