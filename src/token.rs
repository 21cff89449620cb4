//! mio `Token` layout. Stream tokens carry the slab key and which socket of the stream fired;
//! HTTP server connections carry their slot in the reactor's server-connection slab (so they
//! keep one token while they move between streams and the idle pool); health-check sockets
//! carry their task index. The top of the token space is reserved for the waker and the
//! listeners.
//!
//! ```text
//!   bit  63 62 | 61 ............. 38 | 37 ................. 2 | 1 0
//!         0  0 | generation (24 bits) | key (36 bits)          | tag
//! ```
//!
//! (a 32-bit `usize` has the same order with 8 generation bits and 20 key bits)
//!
//! | tag | socket | key | generation |
//! |---|---|---|---|
//! | 0, 1 | a stream's client / server socket | the stream's slab key in the reactor | that slab slot's generation |
//! | 2 | an HTTP server connection | its slot in `conn::idle::IdlePool` | that slot's generation, new for each socket put in the slot |
//! | 3 | a health-check probe's socket | `2 × task + probe` in `check::Checks` | 0 |
//!
//! The generation is the low bits of the slot's own `u32` generation, a number no other
//! occupant of the same key had recently. A slot freed and reused inside one event batch (one
//! `poll` result) gets a new generation, so an event still queued in that batch for the old
//! socket names the old generation and is dropped instead of reaching the new socket's owner
//! (`same_generation`). Events cannot outlive their batch: deregistering (or closing) a socket
//! removes its pending readiness from epoll, and epoll reports a socket at most once per batch.
//! So a socket replaced while its own event is handled (a stream's connect retried under the
//! same token) has no other event left in the batch. Probe slots are fixed per task and a
//! probe's socket is only replaced by a timer (before `poll`) or while its own event is
//! handled, so check tokens need no generation. (kqueue reports reading and writing as two
//! events: there the last two cases would need a generation per socket too.)
//!
//! The two top bits of a slot token are always zero: slot tokens stay below the listener
//! range, which counts down from `usize::MAX - 1`, and the waker, `usize::MAX`.

use mio::Token;

use crate::term::Side;

/// The reactor's waker (cross-thread commands, listener resume).
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Listener tokens count down from just below the waker.
const LISTENER_TOP: usize = usize::MAX - 1;
/// At most this many listeners per reactor.
pub(crate) const MAX_LISTENERS: usize = 1 << 20;
const LISTENER_BOTTOM: usize = LISTENER_TOP - MAX_LISTENERS;

const TAG_BITS: u32 = 2;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;
/// Generation bits kept in a slot token.
pub(crate) const GEN_BITS: u32 = if usize::BITS >= 64 { 24 } else { 8 };
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
/// Key bits: what is left once the tag, the generation and two zero bits are set aside.
const KEY_BITS: u32 = usize::BITS - TAG_BITS - GEN_BITS - 2;
const KEY_MASK: usize = (1 << KEY_BITS) - 1;
const GEN_SHIFT: u32 = TAG_BITS + KEY_BITS;

// Every slot token (top two bits zero) is below the listener range.
const _: () = assert!(usize::MAX >> 2 < LISTENER_BOTTOM);

const TAG_CLIENT: usize = 0;
const TAG_SERVER: usize = 1;
const TAG_SERVER_CONN: usize = 2;
const TAG_CHECK: usize = 3;

/// What a token refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Waker,
    Listener(usize),
    /// A stream's socket: its slab key, the low `GEN_BITS` of the slot's generation, the side.
    Conn {
        key: usize,
        generation: u32,
        side: Side,
    },
    /// An HTTP server connection: its slot in `conn::idle::IdlePool` and the low `GEN_BITS`
    /// of that slot's generation.
    ServerConn {
        key: usize,
        generation: u32,
    },
    /// A health check's socket (its task index in the reactor's `check::Checks`).
    Check(usize),
}

/// True when `generation` (a slot's full generation) is the one a decoded token names.
#[inline]
pub(crate) fn same_generation(generation: u32, from_token: u32) -> bool {
    generation & GEN_MASK == from_token
}

#[inline]
fn slot_token(key: usize, generation: u32, tag: usize) -> Token {
    debug_assert!(key <= KEY_MASK, "slot key {key} does not fit a token");
    let generation = (generation & GEN_MASK) as usize;
    Token(generation << GEN_SHIFT | (key & KEY_MASK) << TAG_BITS | tag)
}

pub(crate) fn listener(i: usize) -> Token {
    debug_assert!(i < MAX_LISTENERS);
    Token(LISTENER_TOP - i)
}

/// The token of one socket of the stream at slab key `key`, whose slot has `generation`.
pub(crate) fn conn(key: usize, generation: u32, side: Side) -> Token {
    let tag = match side {
        Side::Client => TAG_CLIENT,
        Side::Server => TAG_SERVER,
    };
    slot_token(key, generation, tag)
}

/// The token of the HTTP server connection in `IdlePool` slot `key`, of `generation`.
pub(crate) fn server_conn(key: usize, generation: u32) -> Token {
    slot_token(key, generation, TAG_SERVER_CONN)
}

pub(crate) fn check(i: usize) -> Token {
    slot_token(i, 0, TAG_CHECK)
}

pub(crate) fn decode(t: Token) -> Target {
    match t.0 {
        usize::MAX => Target::Waker,
        n if n > LISTENER_BOTTOM => Target::Listener(LISTENER_TOP - n),
        n => {
            let key = (n >> TAG_BITS) & KEY_MASK;
            // Masked to GEN_BITS (at most 24) bits: the cast keeps every bit.
            #[allow(clippy::cast_possible_truncation)]
            let generation = (n >> GEN_SHIFT) as u32 & GEN_MASK;
            match n & TAG_MASK {
                TAG_CLIENT => Target::Conn {
                    key,
                    generation,
                    side: Side::Client,
                },
                TAG_SERVER => Target::Conn {
                    key,
                    generation,
                    side: Side::Server,
                },
                TAG_SERVER_CONN => Target::ServerConn { key, generation },
                _ => Target::Check(key),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn_target(key: usize, generation: u32, side: Side) -> Target {
        Target::Conn {
            key,
            generation,
            side,
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(WAKER), Target::Waker);
        assert_eq!(decode(listener(0)), Target::Listener(0));
        assert_eq!(decode(listener(77)), Target::Listener(77));
        assert_eq!(
            decode(listener(MAX_LISTENERS - 1)),
            Target::Listener(MAX_LISTENERS - 1)
        );
        assert_eq!(
            decode(conn(0, 1, Side::Client)),
            conn_target(0, 1, Side::Client)
        );
        assert_eq!(
            decode(conn(123_456, 7, Side::Server)),
            conn_target(123_456, 7, Side::Server)
        );
        assert_eq!(
            decode(server_conn(9, 3)),
            Target::ServerConn {
                key: 9,
                generation: 3
            }
        );
        assert_eq!(decode(check(0)), Target::Check(0));
        assert_eq!(decode(check(41)), Target::Check(41));
    }

    #[test]
    fn generations_round_trip_in_their_low_bits() {
        let max_key = KEY_MASK;
        for generation in [0, 1, GEN_MASK - 1, GEN_MASK, GEN_MASK + 1, u32::MAX] {
            for key in [0, 1, 4095, max_key] {
                for side in [Side::Client, Side::Server] {
                    let Target::Conn {
                        key: k,
                        generation: g,
                        side: s,
                    } = decode(conn(key, generation, side))
                    else {
                        panic!("not a stream token: key {key} generation {generation}");
                    };
                    assert_eq!((k, s), (key, side));
                    assert_eq!(g, generation & GEN_MASK);
                    assert!(same_generation(generation, g));
                }
                let t = server_conn(key, generation);
                assert!(t.0 < LISTENER_BOTTOM, "slot token in the listener range");
                let Target::ServerConn {
                    key: k,
                    generation: g,
                } = decode(t)
                else {
                    panic!("not a server connection token");
                };
                assert_eq!(k, key);
                assert!(same_generation(generation, g));
            }
        }
    }

    #[test]
    fn a_reused_slot_gets_a_different_token() {
        // The same key with the next generation: an event queued for the old token no
        // longer matches the slot.
        let (old, new) = (server_conn(5, 41), server_conn(5, 42));
        assert_ne!(old, new);
        let Target::ServerConn { generation, .. } = decode(old) else {
            panic!("not a server connection token");
        };
        assert!(!same_generation(42, generation));
        assert!(same_generation(41, generation));
        assert_ne!(conn(5, 41, Side::Server), conn(5, 42, Side::Server));
    }
}
