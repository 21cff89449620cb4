//! Listening sockets and socket options: `SO_REUSEPORT` groups, backlog, `IPV6_V6ONLY`,
//! inherited listeners (`fd@N`), and the abortive close used to propagate a reset.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use socket2::{Domain, SockRef, Socket, Type};

use super::syscall;

/// Opens a non-blocking TCP listener on `addr`. With `reuseport`, several sockets can bind the
/// same address and the kernel spreads new connections over them (one per reactor).
pub(crate) fn listen_inet(
    addr: SocketAddr,
    reuseport: bool,
    backlog: u32,
    v6only: Option<bool>,
) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    socket.set_reuse_address(true)?;
    if reuseport {
        socket.set_reuse_port(true)?;
    }
    if let (SocketAddr::V6(_), Some(only)) = (addr, v6only) {
        socket.set_only_v6(only)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog_arg(backlog))?;
    Ok(socket.into())
}

/// Opens a non-blocking unix stream listener at `path`, replacing a stale socket file.
pub(crate) fn listen_unix(
    path: &Path,
    backlog: u32,
) -> io::Result<std::os::unix::net::UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    socket.listen(backlog_arg(backlog))?;
    Ok(socket.into())
}

fn backlog_arg(backlog: u32) -> i32 {
    i32::try_from(backlog).unwrap_or(i32::MAX)
}

/// What an inherited listening socket is.
#[derive(Debug)]
pub(crate) enum Inherited {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Takes ownership of the listening socket `fd` handed over by the parent process
/// (`bind fd@N`), checks that it is a listening stream socket and makes it non-blocking.
///
/// Must be called at most once per fd number, at start-up, before any other code could have
/// opened or closed that number: the caller (the listener setup in `worker`) guarantees both by
/// taking each distinct `fd@N` once on the main thread.
pub(crate) fn inherit_listener(fd: RawFd) -> io::Result<Inherited> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // F_GETFD fails with EBADF on a number that is not an open descriptor.
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`; no memory is passed.
    syscall!(fcntl(fd, libc::F_GETFD))?;
    // SAFETY: `fd` is open (checked above) and, per this function's contract, owned by no other
    // value in this process, so the OwnedFd becomes its single owner.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let socket = Socket::from(owned);
    if !socket.is_listener()? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a listening socket",
        ));
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    if socket.local_addr()?.is_unix() {
        Ok(Inherited::Unix(socket.into()))
    } else {
        Ok(Inherited::Tcp(socket.into()))
    }
}

/// Duplicates a descriptor (same open file description): each reactor registers its own copy of
/// an inherited listener with its own epoll.
pub(crate) fn dup(fd: impl AsFd) -> io::Result<OwnedFd> {
    fd.as_fd().try_clone_to_owned()
}

/// Makes the next close of `sock` send a RST instead of a FIN (SO_LINGER with a zero timeout):
/// used to propagate a reset from the other side, as HAProxy does.
pub(crate) fn set_abortive_close(sock: impl AsFd) -> io::Result<()> {
    SockRef::from(&sock).set_linger(Some(std::time::Duration::ZERO))
}

/// Sends `bufs` on a TCP socket with `MSG_MORE` (Linux): more bytes of the same message follow
/// at once, so the kernel may coalesce them into fewer, larger segments, as HAProxy does while
/// forwarding a body. A later send without the flag (or `push`) flushes what is held.
pub(crate) fn send_more(sock: impl AsFd, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    let flags = libc::MSG_MORE | libc::MSG_NOSIGNAL;
    #[cfg(not(target_os = "linux"))]
    let flags = 0;
    SockRef::from(&sock).send_vectored_with_flags(bufs, flags)
}

/// Flushes bytes held by an earlier `send_more` (setting `TCP_NODELAY` pushes pending frames).
pub(crate) fn push(sock: impl AsFd) -> io::Result<()> {
    SockRef::from(&sock).set_tcp_nodelay(true)
}

/// Copies up to `buf.len()` bytes waiting on a stream socket (TCP or unix) into `buf`
/// without consuming them (`recv` with `MSG_PEEK`): a PROXY protocol header is judged on
/// what arrived, then exactly its bytes are read, leaving the client's data in the socket as
/// HAProxy's `conn_recv_proxy()` does. Returns 0 at the end of the stream; `WouldBlock` when
/// nothing is there yet.
pub(crate) fn peek(sock: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    let fd = sock.as_fd().as_raw_fd();
    // SAFETY: `fd` is borrowed from a live socket for the duration of the call; the kernel
    // writes at most `buf.len()` bytes into `buf`, a valid, exclusively borrowed buffer.
    let n = syscall!(recv(
        fd,
        buf.as_mut_ptr().cast::<libc::c_void>(),
        buf.len(),
        libc::MSG_PEEK
    ))?;
    // `recv` returns at most `buf.len()`, never a negative count on success.
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Disables Nagle on a TCP socket (no-op error on unix sockets is ignored by callers).
pub(crate) fn set_nodelay(sock: impl AsFd) -> io::Result<()> {
    SockRef::from(&sock).set_tcp_nodelay(true)
}

/// Takes ownership of the unix stream socket `fd` a master process handed to this worker
/// (its control channel, or the socket to fetch listeners from), and makes it close-on-exec.
///
/// Same contract as [`inherit_listener`]: at most once per fd number, at start-up, before any
/// other code could have opened or closed that number (the worker start-up in `main` reads
/// each number once from its environment).
pub(crate) fn inherit_stream(fd: RawFd) -> io::Result<std::os::unix::net::UnixStream> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`; no memory is passed.
    syscall!(fcntl(fd, libc::F_GETFD))?;
    // SAFETY: `fd` is open (checked above) and, per this function's contract, owned by no other
    // value in this process, so the OwnedFd becomes its single owner.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let socket = Socket::from(owned);
    if socket.r#type()? != Type::STREAM || !socket.local_addr()?.is_unix() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a unix stream socket",
        ));
    }
    socket.set_cloexec(true)?;
    Ok(socket.into())
}

/// Lets `sock` survive `exec` (clears close-on-exec), so a child process inherits it under
/// the same number; the caller closes its own copy once the child runs.
pub(crate) fn set_inheritable(sock: impl AsFd, inheritable: bool) -> io::Result<()> {
    SockRef::from(&sock).set_cloexec(!inheritable)
}
