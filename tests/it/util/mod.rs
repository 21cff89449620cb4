//! Shared helpers for the integration tests: an in-process proxy started from a cfg string,
//! mock backends, blocking clients with timeouts, and the real binary for CLI/signal tests.
#![allow(dead_code)]

pub mod backend;
pub mod bin;
pub mod client;
pub mod http_backend;
pub mod proxy;
pub mod syslog;

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

/// Whether the tests run under CI (`CI=true`, as `.ci/run` sets it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A program a test needs from the machine (`tool`) is missing. Under CI (`CI=true`) the test
/// fails: `.ci/run` installs the tool, so missing it there is a broken CI, not a pass. Elsewhere
/// the test is skipped, with a line on stderr saying what was not checked. The caller returns
/// after this.
pub fn missing_tool(tool: &str, install: &str, not_checked: &str) {
    if in_ci() {
        panic!("{tool} is not installed, and CI=true: {not_checked} ({install}; .ci/run does)");
    }
    eprintln!("SKIP: {tool} not installed ({install}): {not_checked}");
}

/// A port on 127.0.0.1 where nothing listens now, for a server address that must refuse.
pub fn closed_port() -> u16 {
    free_port()
}

/// A port on 127.0.0.1 that nothing is bound to, for a listener a child process binds later.
///
/// Taken below the kernel's ephemeral range (32768 and up here): listeners bound to port 0 by
/// in-process proxies get ephemeral ports, and since Ravelin binds with `SO_REUSEPORT` two
/// listeners of the same user on one port would share its connections. A port handed out
/// here is never one the kernel hands out for port 0 in the meantime.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    const SPAN: u32 = 20_000;
    // Test binaries running at once start from different places.
    let base = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (base + n) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN)
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
