//! The comparison scenarios as plain data: which backends to start, which port the proxy
//! listens on (the same in `haproxy.cfg` and `nginx.conf` under
//! `loadtest/scenarios/<name>/`), and which load to run. `compare` executes them; the unit
//! tests here check the config files agree with this table.

use std::net::SocketAddr;
use std::time::Duration;

/// The load a scenario runs against the proxy (or directly against the backend).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Closed-loop HTTP with `conns` connections.
    Http {
        conns: usize,
        close: bool,
    },
    TcpBulk {
        streams: usize,
    },
    TcpConnRate {
        conc: usize,
    },
    /// Hold `count` idle connections and measure the proxy's memory.
    Hold {
        count: usize,
    },
    /// Open-loop HTTP at `rate`, one connection per request, while backend `b1` is
    /// disrupted.
    Failover {
        rate: f64,
        disrupt: Disrupt,
    },
    /// Two closed-loop HTTP groups at once, `keepalive` connections reusing theirs and
    /// `close` connections with one request each, while the proxy reloads `reloads` times,
    /// spread evenly over the run.
    Reload {
        keepalive: usize,
        close: usize,
        reloads: u32,
    },
}

/// The stats socket of the `reload-under-load` configuration (`expose-fd listeners`), which
/// HAProxy's new process takes the listeners from (`-x`).
pub const RELOAD_STATS_SOCKET: &str = "/tmp/ravelin-load-reload-under-load.sock";

/// What happens to backend `b1` during a failover scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disrupt {
    /// SIGKILL, later started again.
    Kill,
    /// SIGSTOP, later SIGCONT.
    Hang,
}

/// A built-in backend the scenario starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendSpec {
    Http {
        name: &'static str,
        port: u16,
        body: usize,
    },
    Tcp {
        port: u16,
    },
}

impl BackendSpec {
    pub fn port(&self) -> u16 {
        match self {
            BackendSpec::Http { port, .. } | BackendSpec::Tcp { port } => *port,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            BackendSpec::Http { name, .. } => name,
            BackendSpec::Tcp { .. } => "tcp",
        }
    }

    /// Arguments for `ravelin-load backend ...`.
    pub fn args(&self) -> Vec<String> {
        match self {
            BackendSpec::Http { name, port, body } => vec![
                "backend".into(),
                "http".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--body-size".into(),
                body.to_string(),
                "--name".into(),
                (*name).into(),
            ],
            BackendSpec::Tcp { port } => {
                vec![
                    "backend".into(),
                    "tcp".into(),
                    "--listen".into(),
                    format!("127.0.0.1:{port}"),
                    "--mode".into(),
                    "auto".into(),
                ]
            }
        }
    }
}

/// One comparison scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// Where every proxy listens, on 127.0.0.1.
    pub port: u16,
    pub backends: Vec<BackendSpec>,
    pub load: Load,
}

/// Headline metric of a scenario, for tables and bar charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    ReqPerS,
    ConnPerS,
    Gbits,
    /// Proxy RSS growth per held connection, bytes (lower is better).
    BytesPerConn,
    /// Failed requests during the disruption (lower is better).
    Failed,
}

impl Metric {
    pub fn label(self) -> &'static str {
        match self {
            Metric::ReqPerS => "req/s",
            Metric::ConnPerS => "conn/s",
            Metric::Gbits => "Gbit/s",
            Metric::BytesPerConn => "RSS bytes/conn",
            Metric::Failed => "failed requests",
        }
    }
}

impl Scenario {
    pub fn proxy_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Address for the "direct to backend" baseline (the first backend).
    pub fn direct_addr(&self) -> Option<SocketAddr> {
        match self.load {
            // No failover without a proxy; no proxy memory to measure when direct.
            Load::Failover { .. } | Load::Hold { .. } | Load::Reload { .. } => None,
            _ => self
                .backends
                .first()
                .map(|b| SocketAddr::from(([127, 0, 0, 1], b.port()))),
        }
    }

    pub fn metric(&self) -> Metric {
        match self.load {
            Load::Http { .. } => Metric::ReqPerS,
            Load::TcpBulk { .. } => Metric::Gbits,
            Load::TcpConnRate { .. } => Metric::ConnPerS,
            Load::Hold { .. } => Metric::BytesPerConn,
            Load::Failover { .. } | Load::Reload { .. } => Metric::Failed,
        }
    }

    /// How long one measured run lasts.
    pub fn run_time(&self, duration: Duration, restart_at: Duration) -> Duration {
        match self.load {
            Load::Failover { .. } => restart_at + Duration::from_secs(5),
            _ => duration,
        }
    }

    /// Arguments for one client group of a `Reload` load (`close`: the connection-per-request
    /// group), without `--json`.
    pub fn reload_group_args(
        &self,
        target: SocketAddr,
        duration: Duration,
        close: bool,
    ) -> Vec<String> {
        let conns = match self.load {
            Load::Reload {
                keepalive,
                close: c,
                ..
            } => {
                if close {
                    c
                } else {
                    keepalive
                }
            }
            _ => 0,
        };
        let mut a: Vec<String> = vec![
            "http".into(),
            "--target".into(),
            target.to_string(),
            "-c".into(),
            conns.to_string(),
            "--timeout".into(),
            "2s".into(),
            "--connect-timeout".into(),
            "1s".into(),
            "-d".into(),
            format!("{}ms", duration.as_millis()),
        ];
        if close {
            a.push("--close".into());
        }
        a.push("--quiet".into());
        a
    }

    /// Arguments for the load child (`ravelin-load ...`), without `--json`.
    pub fn load_args(&self, target: SocketAddr, duration: Duration) -> Vec<String> {
        let t = target.to_string();
        let d = format!("{}ms", duration.as_millis());
        let mut a: Vec<String> = match self.load {
            Load::Http { conns, close } => {
                let mut a = vec![
                    "http".into(),
                    "--target".into(),
                    t,
                    "-c".into(),
                    conns.to_string(),
                    "-d".into(),
                    d,
                ];
                if close {
                    a.push("--close".into());
                }
                a
            }
            Load::TcpBulk { streams } => {
                vec![
                    "tcp".into(),
                    "bulk".into(),
                    "--target".into(),
                    t,
                    "-s".into(),
                    streams.to_string(),
                    "--direction".into(),
                    "both".into(),
                    "-d".into(),
                    d,
                ]
            }
            Load::TcpConnRate { conc } => vec![
                "tcp".into(),
                "connrate".into(),
                "--target".into(),
                t,
                "-c".into(),
                conc.to_string(),
                "-d".into(),
                d,
            ],
            // Hold runs until the runner has read the memory and interrupts it.
            Load::Hold { count } => vec![
                "hold".into(),
                count.to_string(),
                "--target".into(),
                t,
                "-d".into(),
                "120s".into(),
                "--connect-timeout".into(),
                "5s".into(),
            ],
            Load::Failover { rate, .. } => vec![
                "http".into(),
                "--target".into(),
                t,
                "--rate".into(),
                rate.to_string(),
                "-c".into(),
                "200".into(),
                "--close".into(),
                "--timeout".into(),
                "2s".into(),
                "--connect-timeout".into(),
                "1s".into(),
                "--timeline".into(),
                "-d".into(),
                d,
            ],
            // Two groups: see `reload_group_args`; this is the keep-alive one.
            Load::Reload { .. } => {
                return self.reload_group_args(target, duration, false);
            }
        };
        a.push("--quiet".into());
        a
    }
}

fn http(name: &'static str, port: u16, body: usize) -> BackendSpec {
    BackendSpec::Http { name, port, body }
}

/// Every scenario, in the order `compare --scenario all` runs them.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "http-keepalive-small",
            about: "HTTP/1.1 keep-alive, 50 connections, 100-byte body",
            port: 20010,
            backends: vec![http("b1", 21010, 100)],
            load: Load::Http {
                conns: 50,
                close: false,
            },
        },
        Scenario {
            name: "http-keepalive-log",
            about: "http-keepalive-small with one httplog line per request (to a file)",
            port: 20140,
            backends: vec![http("b1", 21140, 100)],
            load: Load::Http {
                conns: 50,
                close: false,
            },
        },
        Scenario {
            name: "http-close-small",
            about: "HTTP/1.1 Connection: close per request, 50 connections, 100-byte body",
            port: 20020,
            backends: vec![http("b1", 21020, 100)],
            load: Load::Http {
                conns: 50,
                close: true,
            },
        },
        Scenario {
            name: "http-64k",
            about: "HTTP/1.1 keep-alive, 50 connections, 64 KiB body",
            port: 20030,
            backends: vec![http("b1", 21030, 65_536)],
            load: Load::Http {
                conns: 50,
                close: false,
            },
        },
        Scenario {
            name: "http-1m",
            about: "HTTP/1.1 keep-alive, 10 connections, 1 MiB body",
            port: 20040,
            backends: vec![http("b1", 21040, 1_048_576)],
            load: Load::Http {
                conns: 10,
                close: false,
            },
        },
        Scenario {
            name: "tcp-bulk",
            about: "mode tcp, 4 streams each sending and receiving, Gbit/s",
            port: 20050,
            backends: vec![BackendSpec::Tcp { port: 21050 }],
            load: Load::TcpBulk { streams: 4 },
        },
        Scenario {
            name: "tcp-connrate",
            about: "mode tcp, 50 concurrent connect + 64-byte echo + close cycles",
            port: 20060,
            backends: vec![BackendSpec::Tcp { port: 21060 }],
            load: Load::TcpConnRate { conc: 50 },
        },
        Scenario {
            name: "idle-conns",
            about: "mode tcp, 9000 idle connections held, proxy RSS per connection",
            port: 20070,
            backends: vec![BackendSpec::Tcp { port: 21070 }],
            load: Load::Hold { count: 9000 },
        },
        Scenario {
            name: "failover-kill",
            about: "3 HTTP backends behind mode tcp, 1000 req/s, b1 SIGKILLed then restarted",
            port: 20080,
            backends: vec![
                http("b1", 21081, 100),
                http("b2", 21082, 100),
                http("b3", 21083, 100),
            ],
            load: Load::Failover {
                rate: 1000.0,
                disrupt: Disrupt::Kill,
            },
        },
        Scenario {
            name: "failover-hang",
            about: "3 HTTP backends behind mode tcp, 1000 req/s, b1 SIGSTOPped then SIGCONTed",
            port: 20090,
            backends: vec![
                http("b1", 21091, 100),
                http("b2", 21092, 100),
                http("b3", 21093, 100),
            ],
            load: Load::Failover {
                rate: 1000.0,
                disrupt: Disrupt::Hang,
            },
        },
        Scenario {
            name: "failover-kill-a",
            about: "issue 6 config A (connect checks, inter 2 s, no redispatch), mode http, 500 req/s, b1 SIGKILLed then restarted",
            port: 20100,
            backends: vec![
                http("b1", 21101, 100),
                http("b2", 21102, 100),
                http("b3", 21103, 100),
            ],
            load: Load::Failover {
                rate: 500.0,
                disrupt: Disrupt::Kill,
            },
        },
        Scenario {
            name: "failover-kill-b",
            about: "issue 6 config B (HTTP checks, fastinter 100, retries with redispatch and retry-on), mode http, 500 req/s, b1 SIGKILLed then restarted",
            port: 20110,
            backends: vec![
                http("b1", 21111, 100),
                http("b2", 21112, 100),
                http("b3", 21113, 100),
            ],
            load: Load::Failover {
                rate: 500.0,
                disrupt: Disrupt::Kill,
            },
        },
        Scenario {
            name: "failover-hang-a",
            about: "issue 6 config A, mode http, 500 req/s, b1 SIGSTOPped then SIGCONTed",
            port: 20130,
            backends: vec![
                http("b1", 21131, 100),
                http("b2", 21132, 100),
                http("b3", 21133, 100),
            ],
            load: Load::Failover {
                rate: 500.0,
                disrupt: Disrupt::Hang,
            },
        },
        Scenario {
            name: "failover-hang-b",
            about: "issue 6 config B + timeout check 300ms, timeout server 1s, mode http, 500 req/s, b1 SIGSTOPped then SIGCONTed",
            port: 20120,
            backends: vec![
                http("b1", 21121, 100),
                http("b2", 21122, 100),
                http("b3", 21123, 100),
            ],
            load: Load::Failover {
                rate: 500.0,
                disrupt: Disrupt::Hang,
            },
        },
        reload_under_load(),
    ]
}

/// The seamless-reload scenario, apart from `all()`'s throughput table because its headline
/// is a count of failures.
fn reload_under_load() -> Scenario {
    Scenario {
        name: "reload-under-load",
        about: "HTTP, 10 keep-alive + 10 connection-per-request clients, 20 reloads spread over the run (Ravelin: -W + SIGUSR2; HAProxy: -x stats socket + -sf; nginx: SIGHUP)",
        port: 20150,
        backends: vec![http("b1", 21151, 100), http("b2", 21152, 100)],
        load: Load::Reload {
            keepalive: 10,
            close: 10,
            reloads: 20,
        },
    }
}

pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn dir(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name)
    }

    #[test]
    fn configs_match_table() -> std::io::Result<()> {
        for s in all() {
            let hap = std::fs::read_to_string(dir(s.name).join("haproxy.cfg"))?;
            let ngx = std::fs::read_to_string(dir(s.name).join("nginx.conf"))?;
            let listen = format!("127.0.0.1:{}", s.port);
            assert!(
                hap.contains(&format!("bind {listen}")),
                "{}: haproxy bind",
                s.name
            );
            assert!(
                ngx.contains(&format!("listen {listen}")),
                "{}: nginx listen",
                s.name
            );
            for b in &s.backends {
                let addr = format!("127.0.0.1:{}", b.port());
                assert!(hap.contains(&addr), "{}: haproxy server {addr}", s.name);
                assert!(ngx.contains(&addr), "{}: nginx server {addr}", s.name);
            }
            assert!(
                hap.contains("nbthread 1"),
                "{}: nbthread line the 2-thread variant rewrites",
                s.name
            );
            assert!(
                ngx.contains("worker_processes 1;"),
                "{}: worker_processes line",
                s.name
            );
            let directive = |l: &str| {
                l.trim_start().starts_with("pid ") || l.trim_start().starts_with("daemon ")
            };
            assert!(
                !ngx.lines().any(directive),
                "{}: pid/daemon come from the runner",
                s.name
            );
            if let Load::Reload { .. } = s.load {
                assert!(
                    hap.contains(&format!(
                        "stats socket {RELOAD_STATS_SOCKET} level admin expose-fd listeners"
                    )),
                    "{}: the stats socket the reload takes listeners from",
                    s.name
                );
            }
            if !matches!(
                s.load,
                Load::Http { .. } | Load::Failover { .. } | Load::Reload { .. }
            ) {
                assert!(
                    hap.contains("mode tcp"),
                    "{}: TCP scenarios use mode tcp",
                    s.name
                );
            }
        }
        Ok(())
    }

    #[test]
    fn ports_unique() {
        let mut ports: Vec<u16> = all()
            .iter()
            .flat_map(|s| std::iter::once(s.port).chain(s.backends.iter().map(|b| b.port())))
            .collect();
        let n = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), n);
    }

    #[test]
    fn load_args_parse() {
        for s in all() {
            let mut args = s.load_args(s.proxy_addr(), Duration::from_secs(1));
            args.extend(["--json".to_string(), "/tmp/x.json".to_string()]);
            assert!(crate::cli::parse(&args).is_ok(), "{}: {args:?}", s.name);
            for b in &s.backends {
                assert!(
                    crate::cli::parse(&b.args()).is_ok(),
                    "{}: backend args",
                    s.name
                );
            }
        }
    }
}
