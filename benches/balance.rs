//! Cost of `Balancer::pick` per algorithm and server count. Run with `cargo bench --bench balance`.

#![allow(clippy::unwrap_used)]
// a benchmark that cannot set up may stop
// The lints on indexes and narrowing casts are for the proxy's code.
#![allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use ravelin::balance::{Balancer, HashFunction, HashMethod, HashType, PickKey};
use ravelin::model::*;
use ravelin::server::SharedState;

fn backend(algo: Balance, n: usize) -> Backend {
    let servers = (0..n)
        .map(|i| Server {
            weight: 1 + (i % 4) as u32,
            ..Server::new(
                &format!("s{i}"),
                ServerAddr::Inet {
                    ip: [127, 0, 0, 1].into(),
                    port: PortRule::Fixed(1000 + i as u16),
                },
            )
        })
        .collect();
    Backend::new("be", algo, servers)
}

fn main() {
    let consistent = HashType {
        method: HashMethod::Consistent,
        function: HashFunction::Sdbm,
        avalanche: true,
    };
    let cases = [
        ("roundrobin", Balance::RoundRobin, HashType::default()),
        ("static-rr", Balance::StaticRr, HashType::default()),
        ("leastconn", Balance::LeastConn, HashType::default()),
        ("first", Balance::First, HashType::default()),
        ("source", Balance::Source, HashType::default()),
        ("random", Balance::Random { draws: 2 }, HashType::default()),
        ("consistent", Balance::Source, consistent),
    ];
    for (name, algo, hash_type) in cases {
        for n in [4usize, 64, 1024] {
            let mut be = backend(algo.clone(), n);
            be.hash_type = hash_type;
            let st = shared(&be);
            let mut b = Balancer::new(&be);
            // The first pick builds the map or ring: keep it out of the figure.
            black_box(b.pick(&be, &st.backends[0], PickKey::default(), None, 0));
            let iters = if n >= 1024 { 20_000 } else { 200_000 };
            let start = Instant::now();
            for i in 0..iters {
                let key = PickKey {
                    hash: Some((i as u32).wrapping_mul(2_654_435_761)),
                };
                black_box(b.pick(&be, &st.backends[0], key, None, 0));
            }
            let ns = start.elapsed().as_nanos() as f64 / iters as f64;
            println!("pick/{name:<10}/{n:<5} {ns:>9.1} ns");
        }
    }
    // Worst case for the lazily rebuilt tables: a server changes state before every pick.
    for (name, algo, hash_type) in [
        ("source", Balance::Source, HashType::default()),
        ("consistent", Balance::Source, consistent),
    ] {
        for n in [64usize, 1024] {
            let mut be = backend(algo.clone(), n);
            be.hash_type = hash_type;
            let st = shared(&be);
            let mut b = Balancer::new(&be);
            let iters = if n >= 1024 { 50 } else { 2_000 };
            let start = Instant::now();
            for i in 0..iters {
                st.backends[0].servers[0].set_up(i % 2 == 0, 0);
                let key = PickKey {
                    hash: Some((i as u32).wrapping_mul(2_654_435_761)),
                };
                black_box(b.pick(&be, &st.backends[0], key, None, 0));
            }
            let us = start.elapsed().as_nanos() as f64 / iters as f64 / 1000.0;
            println!("rebuild+pick/{name:<10}/{n:<5} {us:>9.1} us");
        }
    }
}

fn shared(be: &Backend) -> SharedState {
    SharedState::new(
        Arc::new(Model {
            backends: vec![be.clone()],
            ..Model::default()
        }),
        0,
        1,
    )
}
