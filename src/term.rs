//! How a stream ends, in HAProxy's words: which side, what went wrong (the first termination
//! letter), where the stream was (the second), and what a state machine tells the reactor after
//! each call. A leaf: every layer from checks to logs speaks it.

/// The two sockets of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client = 0,
    Server = 1,
}

/// Why a stream ended: HAProxy's first termination letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// `-`: normal end.
    Normal,
    /// `C`: the client aborted (reset or error).
    ClientAbort,
    /// `S`: the server aborted or refused the connection.
    ServerAbort,
    /// `c`: client-side timeout.
    ClientTimeout,
    /// `s`: server-side timeout.
    ServerTimeout,
    /// `P`: internal problem or resource shortage (e.g. no buffer).
    Proxy,
    /// `L`: answered locally (`http-request return`, `redirect`, stats).
    Local,
    /// `K`: killed by the process stopping.
    Killed,
    /// Killed because its server went down (`on-marked-down shutdown-sessions`): `D`.
    Down,
    /// Killed because an active server came up (`on-marked-up shutdown-backup-sessions`): `U`.
    Up,
}

/// Where the stream was: HAProxy's second termination letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `R`: waiting for a complete, valid request (HTTP).
    Request,
    /// `Q`: waiting in a queue for a server slot.
    Queue,
    /// `C`: waiting for the server connection.
    Connect,
    /// `H`: waiting for a complete, valid response head (HTTP).
    Headers,
    /// `D`: transferring data.
    Data,
    /// `-`: normal end.
    End,
}

/// How a stream ended, printed as HAProxy's two-letter termination state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Termination {
    pub(crate) cause: Cause,
    pub(crate) stage: Stage,
}

impl Termination {
    pub(crate) const NORMAL: Termination = Termination {
        cause: Cause::Normal,
        stage: Stage::End,
    };

    pub(crate) fn new(cause: Cause, stage: Stage) -> Termination {
        Termination { cause, stage }
    }

    /// The two letters, e.g. `--`, `CD`, `sC`, `SC`.
    pub(crate) fn code(&self) -> [u8; 2] {
        let first = match self.cause {
            Cause::Normal => b'-',
            Cause::ClientAbort => b'C',
            Cause::ServerAbort => b'S',
            Cause::ClientTimeout => b'c',
            Cause::ServerTimeout => b's',
            Cause::Proxy => b'P',
            Cause::Local => b'L',
            Cause::Killed => b'K',
            Cause::Down => b'D',
            Cause::Up => b'U',
        };
        let second = match self.stage {
            Stage::Request => b'R',
            Stage::Queue => b'Q',
            Stage::Connect => b'C',
            Stage::Headers => b'H',
            Stage::Data => b'D',
            Stage::End => b'-',
        };
        [first, second]
    }
}

/// What the reactor does with a connection after calling into it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Continue,
    Close(Termination),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_codes() {
        assert_eq!(&Termination::NORMAL.code(), b"--");
        assert_eq!(
            &Termination::new(Cause::ClientAbort, Stage::Data).code(),
            b"CD"
        );
        assert_eq!(
            &Termination::new(Cause::ServerTimeout, Stage::Connect).code(),
            b"sC"
        );
        assert_eq!(
            &Termination::new(Cause::ServerAbort, Stage::Connect).code(),
            b"SC"
        );
    }
}
