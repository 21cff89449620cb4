//! The worker's side of master-worker mode: its control channel to the master (inherited fd
//! `RAVELIN_MASTER_FD`), on which it says `READY` once serving and answers `_getsocks` with
//! its listening sockets; and the fd it fetches its listeners from on a reload
//! (`RAVELIN_SOCKS_FD`). See `reload::master`.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use crate::reload::getsocks::ExposedListeners;
use crate::reload::getsocks::{self, InheritedSock};
use crate::reload::master::{MASTER_FD_ENV, SOCKS_FD_ENV};
use crate::sys::socket;

/// Takes the fd named by `var`, if the master set it. Each variable is read once, at
/// start-up on the main thread (`socket::inherit_stream`'s contract); the number it names is
/// close-on-exec from then on, so a child of the worker inheriting the variable gets no fd.
fn inherited(var: &str) -> Option<io::Result<UnixStream>> {
    let n: i32 = std::env::var(var).ok()?.parse().ok()?;
    Some(socket::inherit_stream(n))
}

/// The worker's control channel, when started by a master.
pub(crate) fn master_channel() -> Option<io::Result<UnixStream>> {
    inherited(MASTER_FD_ENV)
}

/// The listeners the master hands over on a reload, when any.
pub(crate) fn fetch_from_master() -> Option<io::Result<Vec<InheritedSock>>> {
    let s = inherited(SOCKS_FD_ENV)?;
    Some(s.and_then(|s| getsocks::fetch_on(&s)))
}

/// Says `READY`, then answers `_getsocks` requests until the master goes away; `gone` is
/// called then (the worker soft-stops), on the thread that serves the channel.
pub(crate) fn serve_master(
    chan: UnixStream,
    exposed: Arc<ExposedListeners>,
    gone: impl FnOnce() + Send + 'static,
) {
    std::thread::spawn(move || {
        if (&chan).write_all(b"READY\n").is_err() {
            gone();
            return;
        }
        loop {
            let mut cmd = [0u8; 10];
            match (&chan).read_exact(&mut cmd) {
                Ok(()) if cmd == *getsocks::COMMAND => {
                    let _ = exposed.serve(&chan);
                }
                Ok(()) => {}
                Err(_) => {
                    gone();
                    return;
                }
            }
        }
    });
}
