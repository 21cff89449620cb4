//! HAProxy's `_getsocks` exchange, both sides: the old process hands every listening socket to
//! the new one over its stats socket (`stats socket ... expose-fd listeners`), the new one
//! (`-x SOCKET`) takes them instead of binding, so no port is ever closed during a reload.
//!
//! Wire format (haproxy 2.6, `_getsocks` in src/cli.c and `sock_get_old_sockets()` in
//! src/sock.c), all integers in the host's byte order:
//! 1. the new process sends `_getsocks\n`;
//! 2. the old one answers a 4-byte count of sockets;
//! 3. then batches of at most 253 descriptors (`SCM_RIGHTS`), each batch's data being, per
//!    socket: 1 byte namespace length, the namespace name, 1 byte interface length, the
//!    interface name, 4 bytes of zero (listener options before 2.3);
//! 4. the receiver acknowledges each batch with a 4-byte integer; the sender waits for that
//!    acknowledgement only after a full batch, before sending the next.
//!
//! The socket's address, family, type and `IPV6_V6ONLY` are not sent: the receiver reads them
//! from the socket itself (`getsockname`), as HAProxy does.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use socket2::SockRef;

use crate::sys::fdpass::{self, MAX_FDS_PER_MSG};

/// HAProxy's timeout on both ends of the transfer (`SO_SNDTIMEO`/`SO_RCVTIMEO`, 1 s).
const XFER_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest namespace or interface name sent with a socket (one length byte).
const MAX_NAME: usize = 255;

/// Most sockets a transfer may announce (a process has far fewer listeners; a larger count
/// is a broken or hostile peer).
const MAX_SOCKETS: usize = 1 << 20;

/// Longest metadata of one socket: two length bytes, two names, four bytes of options.
const META_MAX: usize = 1 + MAX_NAME + 1 + MAX_NAME + 4;

/// The command the new process sends.
pub const COMMAND: &[u8] = b"_getsocks\n";

/// One listening socket the old process offers, borrowed from its owner for the transfer,
/// with what HAProxy sends alongside it.
#[derive(Debug, Clone, Copy)]
pub struct ExposedSock<'a> {
    pub(crate) fd: BorrowedFd<'a>,
    /// `namespace` of the bind line (empty: none). Ravelin has no namespaces; kept for HAProxy.
    pub(crate) namespace: &'a [u8],
    /// `interface` of the bind line (empty: none).
    pub(crate) interface: &'a [u8],
}

impl<'a> ExposedSock<'a> {
    pub fn new(fd: BorrowedFd<'a>) -> ExposedSock<'a> {
        ExposedSock {
            fd,
            namespace: b"",
            interface: b"",
        }
    }
}

/// Where an inherited socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockAddr {
    Inet(SocketAddr),
    Unix(PathBuf),
    /// A unix socket without a path (abstract or unnamed), or another family.
    Other,
}

/// A socket received from the old process, owned now by this one.
#[derive(Debug)]
pub struct InheritedSock {
    pub(crate) fd: OwnedFd,
    pub addr: SockAddr,
    pub(crate) namespace: String,
    pub(crate) interface: String,
    /// `SOCK_DGRAM` rather than a stream socket.
    pub(crate) dgram: bool,
    /// IPv6 socket with `IPV6_V6ONLY` set.
    pub(crate) v6only: bool,
    /// Still listening (`SO_ACCEPTCONN`).
    pub listening: bool,
}

/// Why a transfer failed; the text is HAProxy's warning where it has one.
fn fail(msg: &str) -> io::Error {
    io::Error::other(msg.to_string())
}

/// The old process's side: sends `socks` on `stream` (the connection that asked with
/// `_getsocks`). The stream is made blocking with a 1 s send timeout for the transfer and
/// restored afterwards.
pub fn serve(stream: &UnixStream, socks: &[ExposedSock<'_>]) -> io::Result<()> {
    let sref = SockRef::from(stream);
    let was_nonblocking = sref.nonblocking().unwrap_or(false);
    stream.set_nonblocking(false)?;
    let old_timeouts = (stream.write_timeout()?, stream.read_timeout()?);
    stream.set_write_timeout(Some(XFER_TIMEOUT))?;
    stream.set_read_timeout(Some(XFER_TIMEOUT))?;
    let result = send_all(stream, socks);
    let _ = stream.set_write_timeout(old_timeouts.0);
    let _ = stream.set_read_timeout(old_timeouts.1);
    let _ = stream.set_nonblocking(was_nonblocking);
    result
}

fn send_all(stream: &UnixStream, socks: &[ExposedSock<'_>]) -> io::Result<()> {
    let total = i32::try_from(socks.len()).map_err(|_| fail("too many sockets to send"))?;
    let count = total.to_ne_bytes();
    if fdpass::send_with_fds(stream, &count, &[]).ok() != Some(count.len()) {
        return Err(fail("Failed to send the number of sockets to send"));
    }
    let mut data = Vec::with_capacity(MAX_FDS_PER_MSG * 16);
    let mut fds = Vec::with_capacity(MAX_FDS_PER_MSG);
    for (i, s) in socks.iter().enumerate() {
        let ns = s
            .namespace
            .get(..s.namespace.len().min(MAX_NAME))
            .unwrap_or(b"");
        let ifname = s
            .interface
            .get(..s.interface.len().min(MAX_NAME))
            .unwrap_or(b"");
        // At most MAX_NAME (255) bytes each.
        data.push(u8::try_from(ns.len()).unwrap_or(u8::MAX));
        data.extend_from_slice(ns);
        data.push(u8::try_from(ifname.len()).unwrap_or(u8::MAX));
        data.extend_from_slice(ifname);
        data.extend_from_slice(&[0; 4]);
        fds.push(s.fd);
        let last = i + 1 == socks.len();
        if fds.len() == MAX_FDS_PER_MSG || last {
            send_batch(stream, &data, &fds)?;
            if fds.len() == MAX_FDS_PER_MSG && !last {
                // Wait for the receiver's acknowledgement before the next batch.
                let mut ack = [0u8; 4];
                let mut s = stream;
                if s.read(&mut ack).map_or(true, |n| n == 0) {
                    return Err(fail("Unexpected error while transferring sockets"));
                }
            }
            data.clear();
            fds.clear();
        }
    }
    Ok(())
}

/// Sends one batch: the descriptors ride with the first `sendmsg`; if the kernel takes only
/// part of the data, the rest follows as plain bytes.
fn send_batch(stream: &UnixStream, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let sent =
        fdpass::send_with_fds(stream, data, fds).map_err(|_| fail("Failed to transfer sockets"))?;
    let mut s = stream;
    s.write_all(data.get(sent..).unwrap_or(&[]))
        .map_err(|_| fail("Failed to transfer sockets"))
}

/// The new process's side (`-x SOCKET`): connects to the old process's stats socket, asks
/// for its listening sockets and receives them all. `/dev/null` means "none" (HAProxy).
pub fn fetch(path: &Path) -> io::Result<Vec<InheritedSock>> {
    if path == Path::new("/dev/null") {
        return Ok(Vec::new());
    }
    let stream = UnixStream::connect(path).map_err(|_| {
        fail(&format!(
            "Failed to connect to the old process socket '{}'",
            path.display()
        ))
    })?;
    fetch_on(&stream)
}

/// [`fetch`] on an already connected stream (a socketpair in tests or master-worker).
pub(crate) fn fetch_on(stream: &UnixStream) -> io::Result<Vec<InheritedSock>> {
    stream.set_read_timeout(Some(XFER_TIMEOUT))?;
    stream.set_write_timeout(Some(XFER_TIMEOUT))?;
    let mut s = stream;
    s.write_all(COMMAND)
        .map_err(|_| fail("Failed to get the number of sockets to be transferred !"))?;
    let mut count = [0u8; 4];
    s.read_exact(&mut count)
        .map_err(|_| fail("Failed to get the number of sockets to be transferred !"))?;
    let expected = i32::from_ne_bytes(count);
    let expected = usize::try_from(expected)
        .ok()
        .filter(|n| *n <= MAX_SOCKETS)
        .ok_or_else(|| fail("Failed to get the number of sockets to be transferred !"))?;
    // The metadata can be no longer than this: a peer sending more is not HAProxy's protocol.
    let max_data = expected.saturating_mul(META_MAX);
    if expected == 0 {
        return Ok(Vec::new());
    }
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut data = Vec::new();
    let mut chunk = vec![0u8; MAX_FDS_PER_MSG * META_MAX];
    while fds.len() < expected {
        let got_before = fds.len();
        let n = match fdpass::recv_with_fds(stream, &mut chunk, &mut fds) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        // Acknowledge, as HAProxy's receiver does after every message.
        let ack = i32::try_from(got_before).unwrap_or(i32::MAX).to_ne_bytes();
        let _ = s.write_all(&ack);
        data.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        if data.len() > max_data {
            return Err(fail("Inconsistency while transferring sockets"));
        }
        if fds.len() > expected {
            return Err(fail("Got to many sockets !"));
        }
    }
    if fds.len() != expected {
        return Err(fail(&format!(
            "We didn't get the expected number of sockets (expecting {expected} got {})",
            fds.len()
        )));
    }
    // A batch's data may still be arriving after its descriptors (a partial first sendmsg):
    // read on until every socket's metadata is there.
    let mut socks = Vec::with_capacity(fds.len());
    let mut off = 0usize;
    for fd in fds {
        let (ns, ifname) = loop {
            match parse_meta(&data, off) {
                Meta::Done { ns, ifname, next } => {
                    off = next;
                    break (ns, ifname);
                }
                Meta::Short => {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 || data.len() + n > max_data {
                        return Err(fail("Inconsistency while transferring sockets"));
                    }
                    data.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                }
            }
        };
        socks.push(describe(fd, ns, ifname));
    }
    Ok(socks)
}

enum Meta {
    Done {
        ns: String,
        ifname: String,
        next: usize,
    },
    Short,
}

/// Parses one socket's metadata at `off`: `<len> <ns> <len> <if> <4 bytes>`.
fn parse_meta(data: &[u8], off: usize) -> Meta {
    let name = |at: usize| -> Option<(String, usize)> {
        let len = usize::from(*data.get(at)?);
        let bytes = data.get(at + 1..at + 1 + len)?;
        Some((String::from_utf8_lossy(bytes).into_owned(), at + 1 + len))
    };
    let Some((ns, at)) = name(off) else {
        return Meta::Short;
    };
    let Some((ifname, at)) = name(at) else {
        return Meta::Short;
    };
    if data.len() < at + 4 {
        return Meta::Short;
    }
    Meta::Done {
        ns,
        ifname,
        next: at + 4,
    }
}

/// Reads what a received socket is from the socket itself.
fn describe(fd: OwnedFd, namespace: String, interface: String) -> InheritedSock {
    let sref = SockRef::from(&fd);
    let addr = match sref.local_addr() {
        Ok(a) => match a.as_socket() {
            Some(sa) => SockAddr::Inet(sa),
            None => match a.as_pathname() {
                Some(p) => SockAddr::Unix(p.to_path_buf()),
                None => SockAddr::Other,
            },
        },
        Err(_) => SockAddr::Other,
    };
    let dgram = sref.r#type().is_ok_and(|t| t == socket2::Type::DGRAM);
    let v6only =
        matches!(addr, SockAddr::Inet(SocketAddr::V6(_))) && sref.only_v6().unwrap_or(false);
    let listening = fdpass::is_listening(fd.as_fd());
    InheritedSock {
        fd,
        addr,
        namespace,
        interface,
        dgram,
        v6only,
        listening,
    }
}

/// Every listening socket of the running process, kept (one dup each) for `_getsocks`:
/// the runtime API hands them to the next process (`stats socket ... expose-fd listeners`).
/// Released on soft or hard stop, so a port the new configuration dropped closes once the
/// old process stopped accepting.
#[derive(Debug, Default)]
pub struct ExposedListeners {
    socks: std::sync::Mutex<Vec<OwnedFd>>,
}

impl ExposedListeners {
    pub(crate) fn new(socks: Vec<OwnedFd>) -> ExposedListeners {
        ExposedListeners {
            socks: std::sync::Mutex::new(socks),
        }
    }

    /// Sends every listening socket on `stream` (HAProxy's `_getsocks` answer); none once the
    /// process is stopping.
    pub fn serve(&self, stream: &std::os::unix::net::UnixStream) -> io::Result<()> {
        let socks = self.socks.lock().unwrap_or_else(|p| p.into_inner());
        let list: Vec<ExposedSock<'_>> =
            socks.iter().map(|s| ExposedSock::new(s.as_fd())).collect();
        serve(stream, &list)
    }

    /// How many sockets would be sent.
    pub fn len(&self) -> usize {
        self.socks.lock().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes them (the process is stopping).
    pub(crate) fn release(&self) {
        let mut socks = self.socks.lock().unwrap_or_else(|p| p.into_inner());
        socks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn serve_and_fetch_over_a_pair() {
        let ls: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let (a, b) = UnixStream::pair().unwrap();
        let addrs: Vec<SocketAddr> = ls.iter().map(|l| l.local_addr().unwrap()).collect();
        let t = std::thread::spawn(move || {
            let mut cmd = [0u8; 10];
            (&a).read_exact(&mut cmd).unwrap();
            assert_eq!(&cmd, COMMAND);
            let mut socks: Vec<ExposedSock<'_>> =
                ls.iter().map(|l| ExposedSock::new(l.as_fd())).collect();
            socks[1].interface = b"lo";
            serve(&a, &socks).unwrap();
        });
        let got = fetch_on(&b).unwrap();
        t.join().unwrap();
        assert_eq!(got.len(), 3);
        for (g, a) in got.iter().zip(&addrs) {
            assert_eq!(g.addr, SockAddr::Inet(*a));
            assert!(g.listening && !g.dgram);
        }
        assert_eq!(got[1].interface, "lo");
        assert_eq!(got[0].interface, "");
    }

    #[test]
    fn more_than_one_batch() {
        // 300 descriptors: two messages and one acknowledgement, over a real socket path.
        let dir = std::env::temp_dir().join(format!("ravelin-gs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let _ = std::fs::remove_file(&path);
        let server = UnixListener::bind(&path).unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (c, _) = server.accept().unwrap();
            let mut cmd = [0u8; 10];
            (&c).read_exact(&mut cmd).unwrap();
            let socks: Vec<ExposedSock<'_>> =
                (0..300).map(|_| ExposedSock::new(l.as_fd())).collect();
            serve(&c, &socks).unwrap();
        });
        let got = fetch(&path).unwrap();
        t.join().unwrap();
        assert_eq!(got.len(), 300);
        assert!(got.iter().all(|g| g.addr == SockAddr::Inet(addr)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn zero_sockets_and_dev_null() {
        assert!(fetch(Path::new("/dev/null")).unwrap().is_empty());
        let (a, b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut cmd = [0u8; 10];
            (&a).read_exact(&mut cmd).unwrap();
            serve(&a, &[]).unwrap();
        });
        assert!(fetch_on(&b).unwrap().is_empty());
        t.join().unwrap();
    }

    #[test]
    fn a_peer_that_closes_is_an_error_not_a_crash() {
        let (a, b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut cmd = [0u8; 10];
            (&a).read_exact(&mut cmd).unwrap();
            // Promise two sockets, send none.
            (&a).write_all(&2i32.to_ne_bytes()).unwrap();
        });
        let err = fetch_on(&b).unwrap_err();
        t.join().unwrap();
        assert!(
            err.to_string().contains("expected number of sockets"),
            "{err}"
        );
        // A negative count.
        let (a, b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut cmd = [0u8; 10];
            (&a).read_exact(&mut cmd).unwrap();
            (&a).write_all(&(-1i32).to_ne_bytes()).unwrap();
        });
        assert!(fetch_on(&b).is_err());
        t.join().unwrap();
        // An absurd count, and metadata far longer than any socket's.
        let (a, b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut cmd = [0u8; 10];
            (&a).read_exact(&mut cmd).unwrap();
            (&a).write_all(&i32::MAX.to_ne_bytes()).unwrap();
        });
        assert!(fetch_on(&b).is_err());
        t.join().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut cmd = [0u8; 10];
            (&a).read_exact(&mut cmd).unwrap();
            (&a).write_all(&1i32.to_ne_bytes()).unwrap();
            let _ = (&a).write_all(&[0u8; 4096]);
        });
        let err = fetch_on(&b).unwrap_err();
        assert!(err.to_string().contains("Inconsistency"), "{err}");
        t.join().unwrap();
        let missing = fetch(Path::new("/nonexistent/ravelin.sock")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("Failed to connect to the old process socket")
        );
    }

    #[test]
    fn metadata_parsing_is_bounded() {
        assert!(matches!(parse_meta(&[], 0), Meta::Short));
        assert!(matches!(parse_meta(&[5, b'a'], 0), Meta::Short));
        assert!(matches!(parse_meta(&[0, 0, 0, 0, 0], 0), Meta::Short));
        match parse_meta(&[1, b'n', 2, b'l', b'o', 0, 0, 0, 0], 0) {
            Meta::Done { ns, ifname, next } => {
                assert_eq!((ns.as_str(), ifname.as_str(), next), ("n", "lo", 9));
            }
            Meta::Short => panic!("complete metadata"),
        }
    }
}
