//! Cost of `Balancer::pick` per algorithm and server count. Run with `cargo bench --bench balance`.

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up may stop

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use ravelin::balance::{Balancer, PickKey};
use ravelin::model::*;
use ravelin::server::SharedState;

fn backend(algo: Balance, n: usize) -> Backend {
    Backend {
        name: "be".into(),
        origin: Origin::default(),
        mode: Mode::Tcp,
        balance: algo,
        servers: (0..n)
            .map(|i| Server {
                name: format!("s{i}"),
                origin: Origin::default(),
                addr: ServerAddr::Inet {
                    ip: [127, 0, 0, 1].into(),
                    port: PortRule::Fixed(1000 + i as u16),
                },
                weight: 1 + (i % 4) as u32,
                maxconn: 0,
                backup: false,
                disabled: false,
                check: CheckParams::default(),
                pool_max_conn: None,
                pool_purge_delay: std::time::Duration::from_secs(5),
            })
            .collect(),
        timeouts: Timeouts::default(),
        retries: 3,
        redispatch: None,
        allbackups: false,
        splice: SpliceOptions::default(),
        http: Default::default(),
        http_reuse: Default::default(),
        rules: Default::default(),
        errors: Default::default(),
        dispatch: None,
        restrict_req_hdr_names: Default::default(),
    }
}

fn main() {
    for algo in [
        Balance::RoundRobin,
        Balance::StaticRr,
        Balance::LeastConn,
        Balance::First,
        Balance::Source,
    ] {
        for n in [4usize, 64, 1024] {
            let be = backend(algo.clone(), n);
            let st = SharedState::new(
                Arc::new(Model {
                    backends: vec![be.clone()],
                    ..Model::default()
                }),
                0,
                1,
            );
            let mut b = Balancer::new(&be);
            let iters = if n >= 1024 { 20_000 } else { 200_000 };
            let start = Instant::now();
            for i in 0..iters {
                let key = PickKey {
                    hash: Some((i as u32).wrapping_mul(2_654_435_761)),
                };
                black_box(b.pick(&be, &st.backends[0], key, None));
            }
            let ns = start.elapsed().as_nanos() as f64 / iters as f64;
            println!("pick/{algo:?}/{n:<5} {ns:>9.1} ns");
        }
    }
}
