//! splice(2) through pipes: socket → pipe → socket without copying through user space.
//!
//! A [`Pipe`] owns both ends as `OwnedFd` (closed on drop). The reactor keeps a pool of them and
//! only lends one to a direction of a tunnel while it holds bytes.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::syscall;

/// A non-blocking pipe used as a kernel-side buffer for splice.
#[derive(Debug)]
pub(crate) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Capacity in bytes as reported by the kernel (`F_GETPIPE_SZ`).
    #[cfg_attr(not(test), allow(dead_code))] // read by tests only
    capacity: usize,
}

/// Flags for every splice call: move pages when possible, never block (the reactor relies on
/// readiness, not on blocking calls).
const SPLICE_FLAGS: libc::c_uint = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;

impl Pipe {
    /// Creates a pipe with `O_NONBLOCK | O_CLOEXEC`, optionally resized to `size` bytes
    /// (`tune.pipesize`). A refused resize keeps the default size.
    pub(crate) fn new(size: Option<u32>) -> io::Result<Pipe> {
        let mut fds = [-1 as libc::c_int; 2];
        // SAFETY: `fds` is a valid, writable array of two c_ints, as pipe2 requires.
        syscall!(pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC))?;
        // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else; wrapping them
        // in OwnedFd makes this value their only owner.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        if let Some(size) = size {
            // Best effort: the kernel may refuse sizes above /proc/sys/fs/pipe-max-size.
            // SAFETY: `write` is an open pipe fd owned by this function; F_SETPIPE_SZ takes an int.
            let _ = syscall!(fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                size as libc::c_int
            ));
        }
        // SAFETY: `write` is an open pipe fd; F_GETPIPE_SZ takes no argument.
        let capacity = syscall!(fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ))? as usize;
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }

    /// The pipe's capacity in bytes.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Moves up to `len` bytes from the socket `from` into the pipe. `Ok(0)` is end of stream.
    /// `WouldBlock` means the socket has nothing to read *or* the pipe is full.
    pub(crate) fn fill_from(&self, from: impl AsFd, len: usize) -> io::Result<usize> {
        // SAFETY: both fds are borrowed from live owners for the duration of the call; null
        // offsets are required for pipes and streaming sockets.
        let n = syscall!(splice(
            from.as_fd().as_raw_fd(),
            std::ptr::null_mut(),
            self.write.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            SPLICE_FLAGS,
        ))?;
        Ok(n as usize)
    }

    /// Moves up to `len` bytes from the pipe into the socket `to`.
    pub(crate) fn drain_to(&self, to: impl AsFd, len: usize) -> io::Result<usize> {
        // SAFETY: as in `fill_from`: borrowed, open fds and null offsets.
        let n = syscall!(splice(
            self.read.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_fd().as_raw_fd(),
            std::ptr::null_mut(),
            len,
            SPLICE_FLAGS,
        ))?;
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn moves_bytes_between_sockets() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (c, mut d) = UnixStream::pair().unwrap();
        let pipe = Pipe::new(None).unwrap();
        assert!(pipe.capacity() >= 4096);
        a.write_all(b"hello splice").unwrap();
        let n = pipe.fill_from(&b, 1 << 16).unwrap();
        assert_eq!(n, 12);
        assert_eq!(pipe.drain_to(&c, n).unwrap(), 12);
        let mut got = [0u8; 12];
        d.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello splice");
        drop(a);
        assert_eq!(pipe.fill_from(&b, 1 << 16).unwrap(), 0, "EOF is Ok(0)");
    }

    #[test]
    fn empty_socket_would_block() {
        let (_a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let pipe = Pipe::new(Some(1 << 20)).unwrap();
        let err = pipe.fill_from(&b, 4096).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
