//! Fixed-size byte buffers and the per-reactor pools that lend them (and splice pipes) to
//! connections only while they hold data. An idle connection holds neither.
//!
//! A pool never grows past its limit: when it is exhausted the caller waits for a release (the
//! reactor keeps a list of waiting connections) instead of allocating silently.

use std::io;

/// A byte buffer with a read cursor: bytes `start..end` are pending.
#[derive(Debug)]
pub(crate) struct Buffer {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Buffer {
    fn new(size: usize) -> Buffer {
        Buffer {
            data: vec![0; size].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Pending bytes.
    pub(crate) fn pending(&self) -> &[u8] {
        self.data.get(self.start..self.end).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Free space after the pending bytes (compacts first when that gains room).
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.end == self.data.len() {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.data.get_mut(self.end..).unwrap_or(&mut [])
    }

    /// Marks `n` bytes of [`spare`](Self::spare) as filled.
    pub(crate) fn filled(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.data.len());
        self.end = (self.end + n).min(self.data.len());
    }

    /// Drops `n` pending bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.start == 0 && self.end == self.data.len()
    }
}

/// A pool of equally sized buffers, allocated lazily up to `limit`.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Vec<Buffer>,
    size: usize,
    out: usize,
    limit: usize,
}

impl BufferPool {
    pub(crate) fn new(size: usize, limit: usize) -> BufferPool {
        BufferPool {
            free: Vec::new(),
            size,
            out: 0,
            limit,
        }
    }

    /// Lends a buffer, or `None` when `limit` buffers are already out.
    pub(crate) fn get(&mut self) -> Option<Buffer> {
        if let Some(b) = self.free.pop() {
            self.out += 1;
            return Some(b);
        }
        if self.out >= self.limit {
            return None;
        }
        self.out += 1;
        Some(Buffer::new(self.size))
    }

    /// Takes a buffer back (its content is discarded).
    pub(crate) fn put(&mut self, mut b: Buffer) {
        b.start = 0;
        b.end = 0;
        self.out = self.out.saturating_sub(1);
        // Keep at most a few spare buffers around; memory goes back when traffic drops.
        if self.free.len() < 256 {
            self.free.push(b);
        }
    }

    /// Buffers currently lent out.
    #[cfg(test)]
    pub(crate) fn lent(&self) -> usize {
        self.out
    }

    /// Whether [`get`](Self::get) would succeed.
    pub(crate) fn has_room(&self) -> bool {
        self.out < self.limit
    }
}

/// A pool of splice pipes. A pipe is only returned when empty, so it can be reused as is.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub(crate) struct PipePool {
    free: Vec<crate::sys::splice::Pipe>,
    size: Option<u32>,
    out: usize,
    limit: usize,
}

#[cfg(target_os = "linux")]
impl PipePool {
    pub(crate) fn new(size: Option<u32>, limit: usize) -> PipePool {
        PipePool {
            free: Vec::new(),
            size,
            out: 0,
            limit,
        }
    }

    /// Lends a pipe; `None` when the limit is reached or the kernel refuses a new one (the
    /// caller falls back to copying, as HAProxy does when it runs out of pipes).
    pub(crate) fn get(&mut self) -> Option<crate::sys::splice::Pipe> {
        if let Some(p) = self.free.pop() {
            self.out += 1;
            return Some(p);
        }
        if self.out >= self.limit {
            return None;
        }
        let pipe: io::Result<_> = crate::sys::splice::Pipe::new(self.size);
        let p = pipe.ok()?;
        self.out += 1;
        Some(p)
    }

    /// Takes back an empty pipe. A pipe that may still hold bytes must be dropped instead.
    pub(crate) fn put(&mut self, p: crate::sys::splice::Pipe) {
        self.out = self.out.saturating_sub(1);
        if self.free.len() < 64 {
            self.free.push(p);
        }
    }

    /// Forgets a pipe that was dropped because it was not empty.
    pub(crate) fn discard(&mut self) {
        self.out = self.out.saturating_sub(1);
    }

    #[cfg(test)]
    pub(crate) fn lent(&self) -> usize {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_fill_consume_compact() {
        let mut pool = BufferPool::new(8, 2);
        let mut b = pool.get().unwrap();
        b.spare()[..6].copy_from_slice(b"abcdef");
        b.filled(6);
        b.consume(4);
        assert_eq!(b.pending(), b"ef");
        assert_eq!(b.spare().len(), 2);
        b.spare()[..2].copy_from_slice(b"gh");
        b.filled(2);
        // Full at the end: spare() compacts to make room.
        assert_eq!(b.spare().len(), 4);
        assert_eq!(b.pending(), b"efgh");
        pool.put(b);
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn pool_respects_limit() {
        let mut pool = BufferPool::new(16, 2);
        let a = pool.get().unwrap();
        let _b = pool.get().unwrap();
        assert!(pool.get().is_none());
        pool.put(a);
        assert!(pool.get().is_some());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pipe_pool_reuses() {
        let mut pool = PipePool::new(None, 1);
        let p = pool.get().unwrap();
        assert!(pool.get().is_none());
        pool.put(p);
        assert!(pool.get().is_some());
        assert_eq!(pool.lent(), 1);
    }
}
