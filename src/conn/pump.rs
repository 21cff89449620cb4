//! One direction of a tunnel: bytes from a source socket to a destination socket, through a
//! splice pipe (Linux) or a user-space buffer, each borrowed from the reactor's pools only while
//! it holds bytes. End of stream on the source is forwarded as a FIN once everything before it
//! has been written.

use std::io;

use super::Readiness;
#[cfg(target_os = "linux")]
use crate::buffer::PipePool;
use crate::buffer::{Buffer, BufferPool};
use crate::net::Sock;
#[cfg(target_os = "linux")]
use crate::sys::splice::Pipe;

/// The reactor's pools, lent to a pump for one run.
#[derive(Debug)]
pub(crate) struct Pools {
    pub(crate) bufs: BufferPool,
    #[cfg(target_os = "linux")]
    pub(crate) pipes: PipePool,
}

/// Where the bytes in flight are.
#[derive(Debug, Default)]
enum Hold {
    #[default]
    Empty,
    #[cfg(target_os = "linux")]
    Pipe(Pipe, usize),
    Buf(Buffer),
}

/// How a pump moves bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Always through a pipe (`option splice-request|splice-response`).
    Splice,
    /// Through a buffer until the stream shows it is a bulk transfer (reads keep filling the
    /// whole buffer), then through a pipe for the rest of the stream. HAProxy's `splice-auto`
    /// heuristic and Ravelin's default: a pipe costs two splices plus an EAGAIN per chunk,
    /// which only pays off for large transfers.
    Auto,
    /// Never splice (`no option splice-*`, `nosplice`, `-dS`, non-Linux).
    Copy,
}

/// Consecutive buffer-filling reads after which an `Auto` pump switches to splicing.
const FULL_READS_TO_SPLICE: u8 = 2;

/// A socket of the pump failed.
#[derive(Debug)]
pub(crate) enum Fault {
    Source(io::Error),
    Destination(io::Error),
}

/// What a run did, for timeouts and scheduling.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Flow {
    /// Read from the source (data or end of stream).
    pub(crate) read: bool,
    /// Wrote to the destination (data or FIN).
    pub(crate) wrote: bool,
    /// Wanted a buffer and the pool was empty: run again when one is released.
    pub(crate) starved: bool,
    /// Stopped on its budget while it could still move bytes: run again next turn.
    pub(crate) more: bool,
}

/// Fill/flush rounds a pump may do per run: bounds the time one busy stream holds the reactor
/// (about 1 MiB with default pipes), so other streams and timers are served in between.
const ROUNDS_PER_RUN: u32 = 16;

/// Length asked of each splice into a pipe (HAProxy's `MAX_SPLICE_AT_ONCE`).
#[cfg(target_os = "linux")]
const SPLICE_AT_ONCE: usize = 1 << 30;

#[derive(Debug)]
pub(crate) struct Pump {
    hold: Hold,
    via: Via,
    /// Consecutive reads that filled the buffer (for `Via::Auto`).
    full_reads: u8,
    /// The source sent its FIN.
    pub(crate) eof: bool,
    /// The FIN was forwarded (`shutdown(Write)` on the destination).
    pub(crate) shut: bool,
    /// Bytes written to the destination.
    pub(crate) bytes: u64,
}

impl Pump {
    pub(crate) fn new(via: Via) -> Pump {
        Pump {
            hold: Hold::Empty,
            via,
            full_reads: 0,
            eof: false,
            shut: false,
            bytes: 0,
        }
    }

    /// A pump starting with bytes already read (e.g. what followed an HTTP 101 head).
    pub(crate) fn with_buffer(via: Via, buf: Buffer) -> Pump {
        let mut p = Pump::new(via);
        p.hold = Hold::Buf(buf);
        p
    }

    /// Finished: end of stream seen, everything forwarded, FIN sent.
    pub(crate) fn is_done(&self) -> bool {
        self.shut
    }

    /// Bytes waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        match &self.hold {
            Hold::Empty => 0,
            #[cfg(target_os = "linux")]
            Hold::Pipe(_, n) => *n,
            Hold::Buf(b) => b.len(),
        }
    }

    /// Moves as much as the sockets allow, until both would block or nothing is left to do.
    pub(crate) fn run(
        &mut self,
        src: &mut Sock,
        sr: &mut Readiness,
        dst: &mut Sock,
        dr: &mut Readiness,
        pools: &mut Pools,
    ) -> Result<Flow, Fault> {
        let mut flow = Flow::default();
        let mut rounds = 0;
        loop {
            rounds += 1;
            let mut progressed = false;
            if dr.writable && self.pending() > 0 {
                match self.flush(dst) {
                    Ok(n) => {
                        self.bytes += n as u64;
                        flow.wrote = true;
                        progressed = n > 0;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => dr.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => progressed = true,
                    Err(e) => return Err(Fault::Destination(e)),
                }
            }
            self.release_if_empty(pools);
            if self.eof && !self.shut && self.pending() == 0 {
                let _ = dst.flush_tls();
            }
            if self.eof && !self.shut && self.pending() == 0 && !dst.tls_pending() {
                // ENOTCONN here means the peer is already gone; the read side will report it.
                let _ = dst.shutdown_write();
                self.shut = true;
                flow.wrote = true;
            }
            if !self.eof && sr.readable {
                match self.fill(src, pools) {
                    Fill::Bytes(n) => {
                        flow.read |= n > 0;
                        // Also after EINTR or a switch to copying: try again right away.
                        progressed = true;
                    }
                    Fill::Eof => {
                        self.eof = true;
                        flow.read = true;
                        progressed = true;
                    }
                    Fill::Empty => sr.readable = false,
                    Fill::NoRoom => {}
                    Fill::Starved => flow.starved = true,
                    Fill::Failed(e) => return Err(Fault::Source(e)),
                }
            }
            if !progressed {
                break;
            }
            if rounds >= ROUNDS_PER_RUN {
                flow.more = true;
                break;
            }
        }
        self.release_if_empty(pools);
        Ok(flow)
    }

    fn flush(&mut self, dst: &mut Sock) -> io::Result<usize> {
        match &mut self.hold {
            Hold::Empty => Ok(0),
            #[cfg(target_os = "linux")]
            Hold::Pipe(p, n) => {
                let k = p.drain_to(&*dst, *n)?;
                *n -= k.min(*n);
                Ok(k)
            }
            Hold::Buf(b) => {
                let k = dst.write(b.pending())?;
                b.consume(k);
                Ok(k)
            }
        }
    }

    fn fill(&mut self, src: &mut Sock, pools: &mut Pools) -> Fill {
        if matches!(self.hold, Hold::Empty) {
            #[cfg(target_os = "linux")]
            if self.via == Via::Splice {
                if let Some(p) = pools.pipes.get() {
                    self.hold = Hold::Pipe(p, 0);
                }
            }
            if matches!(self.hold, Hold::Empty) {
                match pools.bufs.get() {
                    Some(b) => self.hold = Hold::Buf(b),
                    None => return Fill::Starved,
                }
            }
        }
        match &mut self.hold {
            Hold::Empty => Fill::Starved,
            #[cfg(target_os = "linux")]
            Hold::Pipe(p, n) => {
                // Refill only an empty pipe: with bytes still inside, EAGAIN could not tell "pipe
                // full" from "socket empty", and the flush comes first anyway.
                if *n > 0 {
                    return Fill::NoRoom;
                }
                // Ask for much more than the pipe's nominal size: a pipe holds 16 slots, and a
                // slot spliced from TCP can carry a whole skb fragment (far more than a page on
                // loopback), so the kernel decides how much fits. HAProxy does the same.
                match p.fill_from(&*src, SPLICE_AT_ONCE) {
                    Ok(0) => Fill::Eof,
                    Ok(k) => {
                        *n += k;
                        Fill::Bytes(k)
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Fill::Empty,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => Fill::Bytes(0),
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) && *n == 0 => {
                        // This socket pair cannot splice: copy from now on.
                        self.via = Via::Copy;
                        let hold = std::mem::take(&mut self.hold);
                        if let Hold::Pipe(p, _) = hold {
                            pools.pipes.put(p);
                        }
                        Fill::Bytes(0)
                    }
                    Err(e) => Fill::Failed(e),
                }
            }
            Hold::Buf(b) => {
                let spare = b.spare();
                if spare.is_empty() {
                    return Fill::NoRoom;
                }
                let room = spare.len();
                match src.read(spare) {
                    Ok(0) => Fill::Eof,
                    Ok(k) => {
                        b.filled(k);
                        if k == room {
                            self.full_reads = self.full_reads.saturating_add(1);
                            if self.via == Via::Auto && self.full_reads >= FULL_READS_TO_SPLICE {
                                // Takes effect when the buffer has drained (a pipe is only
                                // taken by an empty pump, which keeps the byte order).
                                self.via = Via::Splice;
                            }
                        } else {
                            self.full_reads = 0;
                        }
                        Fill::Bytes(k)
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Fill::Empty,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => Fill::Bytes(0),
                    Err(e) => Fill::Failed(e),
                }
            }
        }
    }

    fn release_if_empty(&mut self, pools: &mut Pools) {
        if self.pending() == 0 {
            self.release(pools);
        }
    }

    /// Returns what the pump holds to the pools (a pipe still holding bytes is closed instead).
    pub(crate) fn release(&mut self, pools: &mut Pools) {
        match std::mem::take(&mut self.hold) {
            Hold::Empty => {}
            #[cfg(target_os = "linux")]
            Hold::Pipe(p, 0) => pools.pipes.put(p),
            #[cfg(target_os = "linux")]
            Hold::Pipe(p, _) => {
                drop(p);
                pools.pipes.discard();
            }
            Hold::Buf(b) => pools.bufs.put(b),
        }
    }
}

enum Fill {
    Bytes(usize),
    Eof,
    /// The source has nothing to read now.
    Empty,
    /// Our side is full; the source may still have data.
    NoRoom,
    Starved,
    Failed(io::Error),
}
