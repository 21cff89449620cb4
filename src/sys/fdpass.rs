//! Passing file descriptors over a unix stream socket (`SCM_RIGHTS`), as HAProxy's
//! `_getsocks` does to hand its listening sockets to the process that replaces it.
//!
//! Only the two syscalls live here; the protocol around them (counts, batches, acks, the
//! per-socket metadata) is in `reload::getsocks`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use super::syscall;

/// Most descriptors one message carries: HAProxy's `MAX_SEND_FD` (Linux refuses more than
/// `SCM_MAX_FD` = 253 per message).
pub(crate) const MAX_FDS_PER_MSG: usize = 253;

/// Bytes of control buffer needed for `n` descriptors.
fn cmsg_space(n: usize) -> usize {
    // At most MAX_FDS_PER_MSG (253) descriptors: 1012 bytes, a u32.
    let bytes = u32::try_from(n.min(MAX_FDS_PER_MSG) * std::mem::size_of::<RawFd>()).unwrap_or(0);
    // SAFETY: CMSG_SPACE is a pure computation on an integer.
    unsafe { libc::CMSG_SPACE(bytes) as usize }
}

/// Sends `data` with the descriptors `fds` attached (at most [`MAX_FDS_PER_MSG`]). Returns the
/// number of data bytes sent (the descriptors travel with the first byte).
pub(crate) fn send_with_fds(
    sock: &UnixStream,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    if fds.len() > MAX_FDS_PER_MSG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors for one message",
        ));
    }
    // u64 elements keep the control buffer aligned for `cmsghdr`.
    let mut control = vec![0u64; cmsg_space(MAX_FDS_PER_MSG).div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        // At most MAX_FDS_PER_MSG (checked above) descriptors: a u32.
        let len = u32::try_from(fds.len() * std::mem::size_of::<RawFd>())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"))?;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = cmsg_space(fds.len()) as _;
        // SAFETY: msg_control points to `control`, which is at least CMSG_SPACE(len) bytes
        // and aligned for cmsghdr, so CMSG_FIRSTHDR returns a valid, writable header pointer.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            if cmsg.is_null() {
                return Err(io::Error::other("no room for the control message"));
            }
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(len) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                // The data area may be unaligned for an int: write byte-wise.
                std::ptr::write_unaligned(data.add(i), fd.as_raw_fd());
            }
        }
    }
    // SAFETY: `msg` points to `iov` (valid for `data.len()` readable bytes) and, when set, to
    // `control` holding one SCM_RIGHTS header for descriptors borrowed from live owners for
    // the whole call; all live until sendmsg returns.
    let n = syscall!(sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL))?;
    Ok(n as usize)
}

/// Receives into `buf`, collecting the descriptors that came with the data into `fds`
/// (each becomes an `OwnedFd` with close-on-exec set). Returns the number of data bytes
/// (0: the peer closed).
pub(crate) fn recv_with_fds(
    sock: &UnixStream,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let mut control = vec![0u64; cmsg_space(MAX_FDS_PER_MSG).div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = (control.len() * 8) as _;
    // SAFETY: `msg` points to `iov` (valid for `buf.len()` writable bytes) and `control`
    // (valid, aligned, of the stated length); both outlive the call. MSG_CMSG_CLOEXEC makes
    // the received descriptors close-on-exec atomically.
    let n = syscall!(recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC))?;
    // SAFETY: after a successful recvmsg, the kernel filled `msg.msg_control` with
    // `msg_controllen` bytes of well-formed control messages inside `control`; the CMSG_*
    // macros walk only within that length. Each SCM_RIGHTS descriptor is a fresh descriptor
    // installed in this process for us alone, so wrapping it in an OwnedFd gives it one owner.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let total = ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..total / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other("descriptors were truncated (MSG_CTRUNC)"));
    }
    Ok(n as usize)
}

/// Whether `fd` is a listening socket (`SO_ACCEPTCONN`).
pub(crate) fn is_listening(fd: impl AsFd) -> bool {
    socket2::SockRef::from(&fd).is_listener().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_cross_a_socketpair() {
        let (a, b) = UnixStream::pair().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let n = send_with_fds(&a, b"xy", &[l.as_fd(), l.as_fd()]).unwrap();
        assert_eq!(n, 2);
        let mut buf = [0u8; 16];
        let mut fds = Vec::new();
        let got = recv_with_fds(&b, &mut buf, &mut fds).unwrap();
        assert_eq!(&buf[..got], b"xy");
        assert_eq!(fds.len(), 2);
        for fd in fds {
            let l2 = std::net::TcpListener::from(fd);
            assert_eq!(l2.local_addr().unwrap(), addr);
            assert!(is_listening(&l2));
        }
    }

    #[test]
    fn plain_data_brings_no_descriptor() {
        let (a, b) = UnixStream::pair().unwrap();
        send_with_fds(&a, b"abcd", &[]).unwrap();
        let mut buf = [0u8; 4];
        let mut fds = Vec::new();
        assert_eq!(recv_with_fds(&b, &mut buf, &mut fds).unwrap(), 4);
        assert!(fds.is_empty());
    }
}
