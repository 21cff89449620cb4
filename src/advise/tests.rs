//! Unit tests of the advisor: formulas on plain values, then whole configurations.

use super::report::{bound, param};
use super::*;
use crate::config;

/// The reference configurations (docs/examples), one copy each.
const CONFIG_A: &str = include_str!("../../docs/examples/failover-a.cfg");
const CONFIG_B: &str = include_str!("../../docs/examples/failover-b.cfg");

fn model(text: &str) -> Model {
    match config::load_str("t.cfg", text) {
        Ok(l) => l.model,
        Err(e) => panic!("invalid test config: {:?}\n{text}", e.alerts),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A one-backend config: `defaults` lines, `backend` lines, server lines.
fn cfg(defaults: &str, backend: &str, servers: &str) -> String {
    format!(
        "defaults\n{defaults}\nfrontend fe\n    bind 127.0.0.1:8080\n    default_backend be\n\
         backend be\n{backend}\n{servers}\n"
    )
}

fn advice_of<'a>(m: &'a Model, opts: &Options) -> BackendAdvice<'a> {
    let Some(a) = advise(m, opts).into_iter().next() else {
        panic!("no backend")
    };
    a
}

fn params(inter: u64, fastinter: u64, downinter: u64, rise: u32, fall: u32) -> CheckParams {
    CheckParams {
        enabled: true,
        inter: ms(inter),
        fastinter: ms(fastinter),
        downinter: ms(downinter),
        rise,
        fall,
        ..CheckParams::default()
    }
}

#[test]
fn formulas_on_plain_values() {
    let p = params(2000, 500, 4000, 3, 3);
    assert_eq!(dead_out(&p, 0), ms(2000 + 2 * 500));
    assert_eq!(hung_out(&p, ms(300), 0), ms(2000 + 300 + 2 * (500 + 300)));
    assert_eq!(back_in(&p, 0), ms(4000 + 2 * 500));
    // fall 1 / rise 1: the first failed (passed) check decides.
    let p1 = params(1000, 100, 3000, 1, 1);
    assert_eq!(dead_out(&p1, 0), ms(1000));
    assert_eq!(hung_out(&p1, ms(250), 0), ms(1250));
    assert_eq!(back_in(&p1, 0), ms(3000));
    // spread-checks: every interval at its longest (+10 %).
    assert_eq!(dead_out(&p, 10), ms(2200 + 2 * 550));
    assert_eq!(back_in(&p, 10), ms(4400 + 2 * 550));
    assert_eq!(requests_at_risk(0.25, 400, ms(3000)), 300.0);
}

#[test]
fn hostile_values_do_not_panic() {
    let mut p = params(2_147_483_647, 2_147_483_647, 2_147_483_647, 0, 0);
    assert_eq!(dead_out(&p, 50), longest(p.inter, 50));
    p.rise = u32::MAX;
    p.fall = u32::MAX;
    assert!(dead_out(&p, 50) >= p.inter);
    assert!(hung_out(&p, Duration::MAX, 50) >= p.inter);
    assert!(back_in(&p, 50) >= p.downinter);
    assert!(!bound(Duration::MAX).is_empty());
}

#[test]
fn check_timeout_is_timeout_check_else_inter() {
    let m = model(&cfg(
        "    mode http\n    timeout check 300ms",
        "    option httpchk",
        "    server s1 127.0.0.1:1 check inter 1s",
    ));
    let be = &m.backends[0];
    assert_eq!(
        check_timeout(be, &be.servers[0].check),
        CheckTimeout::Check(ms(300))
    );
    let m = model(&cfg(
        "    mode http",
        "    option httpchk",
        "    server s1 127.0.0.1:1 check inter 2s fastinter 500 fall 3",
    ));
    let be = &m.backends[0];
    assert_eq!(
        check_timeout(be, &be.servers[0].check),
        CheckTimeout::Inter(ms(2000))
    );
    // Without `timeout check`, each failing check of a hung server lasts `inter`.
    let a = server_advice(be, &be.servers[0], 0);
    assert_eq!(a.hung, Detection::After(ms(2000 + 2000 + 2 * (500 + 2000))));
    assert!(check_is_layer7(be));
}

#[test]
fn config_a_is_flagged() {
    let m = model(CONFIG_A);
    let opts = Options::default();
    let a = advice_of(&m, &opts);
    let w = a.worst.as_ref().unwrap();
    assert_eq!(w.dead, Detection::After(ms(6000)));
    assert_eq!(w.back, Some(ms(6000)));
    assert_eq!(w.hung, Detection::ConnectOnly);
    assert!((requests_at_risk(w.share, opts.rate, ms(6000)) - 1000.0).abs() < 1e-6);
    assert!(!a.servers_differ);
    assert_eq!(
        a.dead_replay,
        Replay::Lost(Lost::NoRedispatch { retries: 3 })
    );
    assert_eq!(a.hung_replay, Replay::Lost(Lost::NoResponseTimeout));
    assert_eq!(
        a.risks,
        vec![
            Risk::RetriesWithoutRedispatch { retries: 3 },
            Risk::ConnectOnlyCheck,
            Risk::ServerTimeoutPastPatience {
                server: Some(ms(30_000)),
                patience: ms(5000)
            },
        ]
    );
    assert!(a.flagged());
    let text = render_backend(&a, &opts, 0);
    assert!(
        text.contains("out of rotation after at most 6.0s (inter 2s + 2 × fastinter 2s)"),
        "{text}"
    );
    assert!(
        text.contains("~1000 requests sent to a dead server"),
        "{text}"
    );
    assert_eq!(text.matches("[RISK]").count(), 3, "{text}");
}

#[test]
fn config_b_is_not_flagged_and_fails_over_fast() {
    let m = model(CONFIG_B);
    let opts = Options::default();
    let a = advice_of(&m, &opts);
    let w = a.worst.as_ref().unwrap();
    assert_eq!(w.dead, Detection::After(ms(1100)));
    assert_eq!(w.hung, Detection::After(ms(1700)));
    assert_eq!(w.back, Some(ms(1200)));
    assert_eq!(
        a.dead_replay,
        Replay::Saved {
            on_retry: 1,
            wait: Duration::ZERO
        }
    );
    assert_eq!(
        a.hung_replay,
        Replay::Saved {
            on_retry: 1,
            wait: ms(1000)
        }
    );
    assert!(a.risks.is_empty(), "{:?}", a.risks);
    let text = render(&m, &[a], &opts);
    assert!(text.contains("at most 1.1s"), "{text}");
    assert!(text.contains("at most 1.7s"), "{text}");
    assert!(text.contains("back after at most 1.2s"), "{text}");
    assert!(text.contains("no backend flagged"), "{text}");
    assert!(!text.contains("[RISK]"), "{text}");
}

#[test]
fn patience_shorter_than_timeout_server_flags_config_b() {
    let m = model(CONFIG_B);
    let opts = Options {
        rate: 500,
        patience: ms(800),
    };
    let a = advice_of(&m, &opts);
    assert_eq!(
        a.hung_replay,
        Replay::Lost(Lost::PastPatience {
            wait: ms(1000),
            patience: ms(800)
        })
    );
    assert_eq!(
        a.risks,
        vec![Risk::ServerTimeoutPastPatience {
            server: Some(ms(1000)),
            patience: ms(800)
        }]
    );
}

#[test]
fn weights_pick_the_costliest_server() {
    let m = model(&cfg(
        "    mode tcp\n    timeout server 1s",
        "    option redispatch",
        "    server s1 127.0.0.1:1 check weight 1\n\
         server s2 127.0.0.1:2 check weight 2\n\
         server s3 127.0.0.1:3 check weight 1\n\
         server b1 127.0.0.1:4 check backup weight 100",
    ));
    let a = advice_of(&m, &Options::default());
    let w = a.worst.as_ref().unwrap();
    assert_eq!(w.server.name, "s2");
    assert_eq!(w.share, 0.5);
    assert!(a.servers_differ);
    // A backup gets nothing while the active servers are up.
    assert_eq!(share(&m.backends[0], &m.backends[0].servers[3]), 0.0);
    // TCP: no replay after send, and a connect-only check is not flagged.
    assert_eq!(a.hung_replay, Replay::Lost(Lost::TcpMode));
    assert!(a.risks.is_empty(), "{:?}", a.risks);
    let text = render_backend(&a, &Options::default(), 0);
    assert!(
        text.contains("3 servers") || text.contains("4 servers"),
        "{text}"
    );
    assert!(text.contains("figures for server s2"), "{text}");
}

#[test]
fn hashing_moves_a_retry_only_on_the_redispatch_interval() {
    let hashed = |redispatch: &str, retries: u32| {
        model(&cfg(
            &format!(
                "    mode http\n    timeout connect 300ms\n    timeout server 1s\n    retries {retries}\n    \
                 retry-on conn-failure response-timeout"
            ),
            &format!("    balance source\n    {redispatch}\n    option httpchk"),
            "    server s1 127.0.0.1:1 check\n    server s2 127.0.0.1:2 check",
        ))
    };
    // Default interval -1: the last retry moves, after a turn-around per retry.
    let m = hashed("option redispatch", 3);
    let be = &m.backends[0];
    assert_eq!(redispatch_retry(be), Ok(3));
    assert_eq!(
        dead_replay(be, ms(5000)),
        Replay::Saved {
            on_retry: 3,
            wait: ms(900)
        }
    );
    assert_eq!(
        dead_replay(be, ms(900)),
        Replay::Lost(Lost::PastPatience {
            wait: ms(900),
            patience: ms(900)
        })
    );
    assert_eq!(
        hung_replay(be, ms(5000)),
        Replay::Saved {
            on_retry: 3,
            wait: ms(3000)
        }
    );
    assert_eq!(
        hung_replay(be, ms(2000)),
        Replay::Lost(Lost::PastPatience {
            wait: ms(3000),
            patience: ms(2000)
        })
    );
    // Every second retry.
    let m = hashed("option redispatch 2", 3);
    assert_eq!(redispatch_retry(&m.backends[0]), Ok(2));
    // Beyond the retries: never.
    let m = hashed("option redispatch 5", 3);
    let lost = Lost::RedispatchNever {
        interval: 5,
        retries: 3,
    };
    assert_eq!(redispatch_retry(&m.backends[0]), Err(lost));
    let a = advice_of(&m, &Options::default());
    assert!(a.risks.contains(&Risk::RedispatchNever {
        interval: 5,
        retries: 3
    }));
    let m = hashed("option redispatch -4", 3);
    assert!(redispatch_retry(&m.backends[0]).is_err());
}

#[test]
fn non_roundrobin_waits_one_turn_around() {
    let m = model(&cfg(
        "    mode tcp\n    timeout connect 5s\n    timeout server 1s\n    option redispatch",
        "    balance leastconn",
        "    server s1 127.0.0.1:1 check\n    server s2 127.0.0.1:2 check",
    ));
    assert_eq!(
        dead_replay(&m.backends[0], ms(5000)),
        Replay::Saved {
            on_retry: 1,
            wait: ms(1000)
        }
    );
}

#[test]
fn retry_settings_that_replay_nothing_are_flagged() {
    let with = |extra: &str| {
        model(&cfg(
            &format!("    mode http\n    timeout server 1s\n    option redispatch\n{extra}"),
            "    option httpchk",
            "    server s1 127.0.0.1:1 check\n    server s2 127.0.0.1:2 check",
        ))
    };
    let m = with("    retries 0");
    let a = advice_of(&m, &Options::default());
    assert_eq!(a.risks, vec![Risk::NoRetries]);
    assert_eq!(a.dead_replay, Replay::Lost(Lost::NoRetries));
    let m = with("    retry-on none");
    let a = advice_of(&m, &Options::default());
    assert_eq!(a.risks, vec![Risk::RetryOnNone]);
    assert_eq!(a.dead_replay, Replay::Lost(Lost::RetryOnNone));
    assert_eq!(a.hung_replay, Replay::Lost(Lost::RetryOnNone));
    let m = with("    retry-on 503");
    let a = advice_of(&m, &Options::default());
    assert_eq!(a.risks, vec![Risk::RetryOnWithoutConnFailure]);
    assert_eq!(a.dead_replay, Replay::Lost(Lost::NoConnFailure));
}

#[test]
fn missing_checks_and_timeouts_are_flagged() {
    let m = model(&cfg(
        "    mode http\n    option redispatch",
        "",
        "    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2",
    ));
    let a = advice_of(&m, &Options::default());
    assert_eq!(a.worst.as_ref().unwrap().dead, Detection::NoCheck);
    assert_eq!(
        a.risks,
        vec![
            Risk::NoCheck,
            Risk::ServerTimeoutPastPatience {
                server: None,
                patience: ms(5000)
            }
        ]
    );
    assert_eq!(a.hung_replay, Replay::Lost(Lost::NoResponseTimeout));
    let text = render_backend(&a, &Options::default(), 0);
    assert!(text.contains("never out of rotation: no check"), "{text}");
    assert!(
        text.contains("~250 requests/s sent to a dead server"),
        "{text}"
    );
    assert!(text.contains("timeout server not set (infinite)"), "{text}");

    let m = model(&cfg(
        "    mode http\n    option redispatch\n    timeout server 2s",
        "    option httpchk",
        "    server s1 127.0.0.1:1 check\n    server s2 127.0.0.1:2",
    ));
    let a = advice_of(&m, &Options::default());
    assert_eq!(a.risks, vec![Risk::UncheckedServers(vec!["s2".into()])]);
    assert_eq!(a.worst.as_ref().unwrap().server.name, "s2");
}

#[test]
fn slow_checks_cost_more_than_the_budget() {
    // One server takes all the traffic: 30 s of it lost with nothing to retry on.
    let m = model(&cfg(
        "    mode tcp\n    timeout server 1s",
        "",
        "    server s1 127.0.0.1:1 check inter 10s fall 3",
    ));
    let a = advice_of(&m, &Options::default());
    assert_eq!(a.dead_replay, Replay::Lost(Lost::NoOtherServer));
    assert!(
        matches!(a.risks.as_slice(), [Risk::SlowDetection { requests, budget }]
            if (requests - 15_000.0).abs() < 1e-6 && (budget - 5000.0).abs() < 1e-6),
        "{:?}",
        a.risks
    );
}

#[test]
fn listen_sections_and_empty_backends() {
    let m = model(
        "defaults\n    mode tcp\n    timeout server 1s\n\
         listen app\n    bind 127.0.0.1:8080\n    option redispatch\n\
         \x20   server s1 127.0.0.1:1 check\n    server s2 127.0.0.1:2 check\n\
         backend spare\n",
    );
    let all = advise(&m, &Options::default());
    assert_eq!(all.len(), 2);
    assert!(all[0].listen && !all[1].listen);
    let text = render(&m, &all, &Options::default());
    assert!(
        text.starts_with("listen app (tcp, roundrobin, 2 servers, 2 checked)"),
        "{text}"
    );
    assert!(
        text.contains(
            "backend spare (tcp, roundrobin, 0 servers, 0 checked)\n  no server in rotation"
        ),
        "{text}"
    );
    assert!(all[1].risks.is_empty());
}

#[test]
fn times_are_printed_as_users_write_them() {
    assert_eq!(param(ms(2000)), "2s");
    assert_eq!(param(ms(100)), "100ms");
    assert_eq!(param(ms(1500)), "1500ms");
    assert_eq!(bound(ms(6000)), "6.0s");
    assert_eq!(bound(ms(1100)), "1.1s");
    assert_eq!(bound(ms(1050)), "1.1s");
    assert_eq!(bound(ms(300)), "0.3s");
    assert_eq!(bound(ms(250)), "250ms");
}

#[test]
fn tcp_check_with_expect_counts_as_layer7() {
    let defaults =
        "    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 1s";
    let servers = "    server s1 127.0.0.1:8081 check\n    server s2 127.0.0.1:8082 check";
    let with = model(&cfg(
        defaults,
        "    option tcp-check\n    tcp-check send PING\\r\\n\n    tcp-check expect string +PONG",
        servers,
    ));
    let without = model(&cfg(
        defaults,
        "    option tcp-check\n    tcp-check send PING\\r\\n",
        servers,
    ));
    assert!(with.backends.first().is_some_and(check_is_layer7));
    assert!(!without.backends.first().is_some_and(check_is_layer7));
}
