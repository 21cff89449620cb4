use super::*;
use crate::model::Model;
use crate::model::{
    Backend, Balance, CheckParams, Mode, Origin, PortRule, Server, ServerAddr, SpliceOptions,
    Timeouts,
};
use crate::server::SharedState;
use std::sync::Arc;

fn backend(algo: Balance, servers: &[(u32, bool)]) -> Backend {
    Backend {
        name: "be".into(),
        origin: Origin::default(),
        mode: Mode::Tcp,
        balance: algo,
        servers: servers
            .iter()
            .enumerate()
            .map(|(i, &(weight, backup))| Server {
                name: format!("s{i}"),
                origin: Origin::default(),
                addr: ServerAddr::Inet {
                    ip: [127, 0, 0, 1].into(),
                    port: PortRule::Fixed(8000 + i as u16),
                },
                weight,
                maxconn: 0,
                backup,
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

fn state(be: &Backend) -> SharedState {
    let model = Model {
        backends: vec![be.clone()],
        ..Model::default()
    };
    SharedState::new(Arc::new(model), 0, 1)
}

fn picks(algo: Balance, servers: &[(u32, bool)], n: usize) -> Vec<usize> {
    let be = backend(algo, servers);
    let st = state(&be);
    let mut b = Balancer::new(&be);
    (0..n)
        .map(|_| {
            b.pick(&be, &st.backends[0], PickKey::default(), None)
                .unwrap()
                .0 as usize
        })
        .collect()
}

#[test]
fn smooth_wrr_5_1_1_has_no_bursts() {
    let seq = picks(
        Balance::RoundRobin,
        &[(5, false), (1, false), (1, false)],
        7,
    );
    assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn roundrobin_ratios_within_one_percent() {
    let seq = picks(
        Balance::RoundRobin,
        &[(3, false), (2, false), (1, false)],
        10_000,
    );
    let count = |s| seq.iter().filter(|&&x| x == s).count() as f64 / 10_000.0;
    assert!((count(0) - 0.5).abs() < 0.01);
    assert!((count(1) - 1.0 / 3.0).abs() < 0.01);
    assert!((count(2) - 1.0 / 6.0).abs() < 0.01);
}

#[test]
fn weight_zero_gets_nothing() {
    let seq = picks(Balance::RoundRobin, &[(1, false), (0, false)], 100);
    assert!(seq.iter().all(|&s| s == 0));
}

#[test]
fn backup_only_when_no_active_usable() {
    let be = backend(Balance::RoundRobin, &[(1, false), (1, true), (1, true)]);
    let st = state(&be);
    let mut b = Balancer::new(&be);
    let bs = &st.backends[0];
    assert_eq!(b.pick(&be, bs, PickKey::default(), None), Some(ServerId(0)));
    bs.servers[0].set_up(false);
    // First backup alone.
    for _ in 0..10 {
        assert_eq!(b.pick(&be, bs, PickKey::default(), None), Some(ServerId(1)));
    }
    let mut all = be.clone();
    all.allbackups = true;
    let seq: Vec<_> = (0..10)
        .map(|_| b.pick(&all, bs, PickKey::default(), None).unwrap().0)
        .collect();
    assert!(seq.contains(&1) && seq.contains(&2));
    bs.servers[0].set_up(true);
    assert_eq!(b.pick(&be, bs, PickKey::default(), None), Some(ServerId(0)));
}

#[test]
fn leastconn_prefers_least_loaded_and_rotates_ties() {
    let be = backend(Balance::LeastConn, &[(1, false), (1, false), (1, false)]);
    let st = state(&be);
    let bs = &st.backends[0];
    let mut b = Balancer::new(&be);
    bs.servers[0].conns.acquire();
    bs.servers[0].conns.acquire();
    bs.servers[1].conns.acquire();
    assert_eq!(b.pick(&be, bs, PickKey::default(), None), Some(ServerId(2)));
    bs.servers[2].conns.acquire();
    // 1 and 2 tie at one connection each: both get turns.
    let seq: Vec<_> = (0..4)
        .map(|_| b.pick(&be, bs, PickKey::default(), None).unwrap().0)
        .collect();
    assert!(
        seq.contains(&1) && seq.contains(&2) && !seq.contains(&0),
        "{seq:?}"
    );
}

#[test]
fn first_fills_in_order() {
    let mut be = backend(Balance::First, &[(1, false), (1, false)]);
    be.servers[0].maxconn = 2;
    let st = state(&be);
    let bs = &st.backends[0];
    let mut b = Balancer::new(&be);
    assert_eq!(b.pick(&be, bs, PickKey::default(), None), Some(ServerId(0)));
    bs.servers[0].conns.acquire();
    bs.servers[0].conns.acquire();
    assert_eq!(b.pick(&be, bs, PickKey::default(), None), Some(ServerId(1)));
}

#[test]
fn source_is_stable_per_client() {
    let be = backend(Balance::Source, &[(1, false), (1, false), (1, false)]);
    let st = state(&be);
    let bs = &st.backends[0];
    let mut b = Balancer::new(&be);
    let mut seen = [0usize; 3];
    for i in 0..300u32 {
        let key = PickKey {
            hash: Some(source_hash(std::net::IpAddr::from(i.to_be_bytes()))),
        };
        let s1 = b.pick(&be, bs, key, None).unwrap();
        let s2 = b.pick(&be, bs, key, None).unwrap();
        assert_eq!(s1, s2);
        seen[s1.0 as usize] += 1;
    }
    assert!(seen.iter().all(|&c| c > 50), "{seen:?}");
}

#[test]
fn avoid_is_used_only_as_last_resort() {
    let be = backend(Balance::RoundRobin, &[(1, false), (1, false)]);
    let st = state(&be);
    let bs = &st.backends[0];
    let mut b = Balancer::new(&be);
    for _ in 0..5 {
        assert_eq!(
            b.pick(&be, bs, PickKey::default(), Some(ServerId(0))),
            Some(ServerId(1))
        );
    }
    bs.servers[1].set_admin(crate::server::Admin::Maint);
    assert_eq!(
        b.pick(&be, bs, PickKey::default(), Some(ServerId(0))),
        Some(ServerId(0))
    );
}

#[test]
fn full_servers_are_skipped() {
    let mut be = backend(Balance::RoundRobin, &[(1, false), (1, false)]);
    be.servers[0].maxconn = 1;
    let st = state(&be);
    let bs = &st.backends[0];
    assert!(bs.servers[0].conns.try_acquire());
    let mut b = Balancer::new(&be);
    for _ in 0..4 {
        assert_eq!(b.pick(&be, bs, PickKey::default(), None), Some(ServerId(1)));
    }
}
