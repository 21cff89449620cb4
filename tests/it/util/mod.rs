//! Shared helpers for the integration tests: an in-process proxy started from a cfg string,
//! mock backends, blocking clients with timeouts, and the real binary for CLI/signal tests.
#![allow(dead_code)]

pub mod backend;
pub mod bin;
pub mod client;
pub mod http_backend;
pub mod proxy;

use std::time::{Duration, Instant};

/// Polls `f` until it returns true or `timeout` passes; returns the last result.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A port on 127.0.0.1 where nothing listens (bound then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Deterministic pseudo-random bytes (xorshift), so transfers can be checked end to end.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// FNV-1a 64 over a byte stream, fed in chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum(pub u64, pub u64);

impl Checksum {
    pub fn new() -> Checksum {
        Checksum(0xcbf2_9ce4_8422_2325, 0)
    }
    pub fn feed(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
        self.1 += data.len() as u64;
    }
}
