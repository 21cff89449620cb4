//! Timer wheel cost: arm, expire. Run with `cargo bench --bench timer`.

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up may stop

use std::hint::black_box;
use std::time::{Duration, Instant};

use ravelin::timer::{Owner, TimerWheel};

fn main() {
    let t0 = Instant::now();
    let mut w = TimerWheel::new(t0);
    let n = 1_000_000usize;
    let start = Instant::now();
    for i in 0..n {
        w.arm(
            t0 + Duration::from_millis((i % 30_000) as u64),
            Owner::stream(i, 1),
        );
    }
    let arm = start.elapsed();
    let mut due = Vec::with_capacity(n);
    let start = Instant::now();
    let mut ms = 0;
    while !w.is_empty() {
        ms += 7;
        w.expire(t0 + Duration::from_millis(ms), &mut due);
        due.clear();
    }
    let expire = start.elapsed();
    let start = Instant::now();
    let mut acc = Duration::ZERO;
    for i in 0..n {
        acc += w
            .next_timeout(t0 + Duration::from_millis(i as u64))
            .unwrap_or_default();
    }
    black_box(acc);
    let next = start.elapsed();
    println!(
        "timer/arm          {:>8.1} ns/op",
        arm.as_nanos() as f64 / n as f64
    );
    println!(
        "timer/expire       {:>8.1} ns/entry",
        expire.as_nanos() as f64 / n as f64
    );
    println!(
        "timer/next_timeout {:>8.1} ns/op (empty wheel)",
        next.as_nanos() as f64 / n as f64
    );
}
