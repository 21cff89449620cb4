//! The only place in the crate with `unsafe`: thin, safe wrappers over the few syscalls that
//! neither `std`, `mio` nor `socket2` expose (splice, pipes, fork/setsid, rlimits, taking
//! ownership of an inherited fd).
//!
//! Safety contract for the whole module: every function takes and returns owned or borrowed
//! file descriptors (`OwnedFd`, `BorrowedFd`, `AsFd`), never raw integers the caller must close,
//! and every pointer handed to the kernel points into a live Rust value of the stated length.
#![allow(unsafe_code)]

pub mod clock;
pub mod fdpass;
pub mod process;
pub mod socket;
#[cfg(target_os = "linux")]
pub mod splice;

/// Calls a libc function and turns `-1` into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)* ) ) => {{
        #[allow(unused_unsafe)]
        // SAFETY: each call site documents why its arguments are valid for `$fn`.
        let res = unsafe { libc::$fn($($arg, )*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;
