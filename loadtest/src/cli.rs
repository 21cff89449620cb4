//! Command-line parsing into plain option structs, hand-written to keep the build small.
//! No sockets and no processes here: `main` turns the parsed `Command` into runs. Every
//! address is checked to be loopback, because this tool must never load anything else.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::backend::{Fault, TcpMode};
use crate::http_client::ConnMode;
use crate::tcp_client::{Direction, TcpKind};

pub const USAGE: &str = "\
ravelin-load: load generator, test backends and proxy comparison (loopback only)

USAGE:
  ravelin-load http    --target ADDR [-c CONNS] [-t THREADS] [-d DUR] [-n REQS] [--rate RPS]
                       [--close] [--method M] [--path P] [-H 'Name: value']... [--body-size N]
                       [--timeout DUR] [--connect-timeout DUR] [--timeline] [OUTPUT]
  ravelin-load tcp bulk     --target ADDR [-s STREAMS] [--direction up|down|both] [-t N] [-d DUR] [OUTPUT]
  ravelin-load tcp connrate --target ADDR [-c CONC] [-t N] [-d DUR] [-n CONNS] [--payload N] [OUTPUT]
  ravelin-load hold N  --target ADDR [-t N] [-d DUR] [--ready-file PATH] [OUTPUT]
  ravelin-load backend http --listen ADDR [-t N] [--body-size N] [--status CODE] [--delay DUR]
                            [--name NAME] [--fault none|reset|close|hang]
  ravelin-load backend tcp  --listen ADDR [-t N] [--mode auto|echo|sink|source|both]
  ravelin-load compare --scenario NAME|all [--rounds 3] [--duration 10s] [--out DIR]
                       [--ravelin PATH] [--nbthread 1|2] [--only ravelin,haproxy,nginx,direct]
                       [--kill-at DUR] [--restart-at DUR] [--reloads N]
  ravelin-load list    (scenarios)

OUTPUT: [--json FILE] [--quiet]   (summary on stdout; progress on stderr when it is a tty)
DUR: 10s, 500ms, 2m or plain seconds. Defaults: -c 50, -t 1, -d 10s, --timeout 5s.
";

/// Where results go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub json: Option<PathBuf>,
    pub quiet: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpOpts {
    pub target: SocketAddr,
    pub connections: usize,
    pub threads: usize,
    pub duration: Duration,
    pub requests: Option<u64>,
    pub rate: Option<f64>,
    pub conn_mode: ConnMode,
    pub method: String,
    pub path: String,
    pub headers: Vec<String>,
    pub body_size: usize,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub timeline: bool,
    pub out: Output,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TcpOpts {
    pub kind: TcpKind,
    pub target: SocketAddr,
    pub connections: usize,
    pub threads: usize,
    pub duration: Duration,
    pub requests: Option<u64>,
    pub direction: Direction,
    pub payload: usize,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub ready_file: Option<PathBuf>,
    pub out: Output,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BackendOpts {
    Http {
        listen: SocketAddr,
        threads: usize,
        status: u16,
        body_size: usize,
        delay: Duration,
        name: String,
        fault: Fault,
    },
    Tcp {
        listen: SocketAddr,
        threads: usize,
        mode: TcpMode,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompareOpts {
    pub scenario: String,
    pub rounds: usize,
    pub duration: Duration,
    pub out: Option<PathBuf>,
    pub ravelin: PathBuf,
    pub nbthread: usize,
    pub only: Vec<String>,
    pub kill_at: Duration,
    pub restart_at: Duration,
    /// `--reloads N`: reloads in reload-under-load (default: the scenario's 20).
    pub reloads: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Http(HttpOpts),
    Tcp(TcpOpts),
    Backend(BackendOpts),
    Compare(CompareOpts),
    List,
    Help,
}

/// Parses `10s`, `250ms`, `2m`, `1.5` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(v) = s.strip_suffix("ms") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| format!("bad duration '{s}'"))?;
    if !(0.0..=86_400.0 * 7.0).contains(&(v * mult)) {
        return Err(format!("duration '{s}' out of range"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// Resolves `host:port` and insists on a loopback address.
pub fn parse_loopback(s: &str) -> Result<SocketAddr, String> {
    let addr = s
        .to_socket_addrs()
        .map_err(|e| format!("bad address '{s}': {e}"))?
        .next()
        .ok_or_else(|| format!("address '{s}' resolves to nothing"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; ravelin-load only talks to 127.0.0.0/8 and ::1"
        ));
    }
    Ok(addr)
}

struct Args {
    items: Vec<String>,
    pos: usize,
}

impl Args {
    fn next(&mut self) -> Option<String> {
        let v = self.items.get(self.pos).cloned();
        self.pos += 1;
        v
    }

    fn value(&mut self, flag: &str) -> Result<String, String> {
        self.next().ok_or_else(|| format!("{flag} needs a value"))
    }

    fn num<T: std::str::FromStr>(&mut self, flag: &str) -> Result<T, String> {
        let v = self.value(flag)?;
        v.parse().map_err(|_| format!("{flag}: bad number '{v}'"))
    }

    fn dur(&mut self, flag: &str) -> Result<Duration, String> {
        parse_duration(&self.value(flag)?)
    }
}

/// Parses the arguments after the program name.
pub fn parse(argv: &[String]) -> Result<Command, String> {
    let mut a = Args {
        items: argv.to_vec(),
        pos: 0,
    };
    let Some(cmd) = a.next() else {
        return Ok(Command::Help);
    };
    match cmd.as_str() {
        "http" => parse_http(&mut a).map(Command::Http),
        "tcp" => {
            let kind = match a.next().as_deref() {
                Some("bulk") => TcpKind::Bulk,
                Some("connrate") => TcpKind::ConnRate,
                other => return Err(format!("tcp: expected bulk or connrate, got {other:?}")),
            };
            parse_tcp(&mut a, kind, None).map(Command::Tcp)
        }
        "hold" => {
            let n: usize = a.num("hold")?;
            parse_tcp(&mut a, TcpKind::Hold, Some(n)).map(Command::Tcp)
        }
        "backend" => parse_backend(&mut a).map(Command::Backend),
        "compare" => parse_compare(&mut a).map(Command::Compare),
        "list" => Ok(Command::List),
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(format!("unknown command '{other}'")),
    }
}

fn output_flag(a: &mut Args, flag: &str, out: &mut Output) -> Result<bool, String> {
    match flag {
        "--json" => out.json = Some(PathBuf::from(a.value(flag)?)),
        "-q" | "--quiet" => out.quiet = true,
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_http(a: &mut Args) -> Result<HttpOpts, String> {
    let mut o = HttpOpts {
        target: SocketAddr::from(([127, 0, 0, 1], 0)),
        connections: 50,
        threads: 1,
        duration: Duration::from_secs(10),
        requests: None,
        rate: None,
        conn_mode: ConnMode::KeepAlive,
        method: "GET".into(),
        path: "/".into(),
        headers: Vec::new(),
        body_size: 0,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        timeline: false,
        out: Output::default(),
    };
    let mut target = None;
    let mut duration_set = false;
    while let Some(f) = a.next() {
        if output_flag(a, &f, &mut o.out)? {
            continue;
        }
        match f.as_str() {
            "--target" => target = Some(parse_loopback(&a.value(&f)?)?),
            "-c" | "--connections" => o.connections = a.num(&f)?,
            "-t" | "--threads" => o.threads = a.num(&f)?,
            "-d" | "--duration" => {
                o.duration = a.dur(&f)?;
                duration_set = true;
            }
            "-n" | "--requests" => o.requests = Some(a.num(&f)?),
            "--rate" => o.rate = Some(a.num(&f)?),
            "--close" => o.conn_mode = ConnMode::Close,
            "--method" => o.method = a.value(&f)?,
            "--path" => o.path = a.value(&f)?,
            "-H" | "--header" => o.headers.push(a.value(&f)?),
            "--body-size" => o.body_size = a.num(&f)?,
            "--timeout" => o.timeout = a.dur(&f)?,
            "--connect-timeout" => o.connect_timeout = a.dur(&f)?,
            "--timeline" => o.timeline = true,
            other => return Err(format!("http: unknown flag '{other}'")),
        }
    }
    o.target = target.ok_or("http: --target is required")?;
    if o.connections == 0 {
        return Err("http: -c must be at least 1".into());
    }
    if o.requests.is_some() && !duration_set {
        o.duration = Duration::from_secs(600); // a cap, not a goal, when counting requests
    }
    if o.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err("http: --rate must be positive".into());
    }
    Ok(o)
}

fn parse_tcp(a: &mut Args, kind: TcpKind, count: Option<usize>) -> Result<TcpOpts, String> {
    let mut o = TcpOpts {
        kind,
        target: SocketAddr::from(([127, 0, 0, 1], 0)),
        connections: count.unwrap_or(match kind {
            TcpKind::Bulk => 1,
            TcpKind::ConnRate | TcpKind::Hold => 50,
        }),
        threads: 1,
        duration: Duration::from_secs(if kind == TcpKind::Hold { 30 } else { 10 }),
        requests: None,
        direction: Direction::Both,
        payload: 64,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ready_file: None,
        out: Output::default(),
    };
    let mut target = None;
    while let Some(f) = a.next() {
        if output_flag(a, &f, &mut o.out)? {
            continue;
        }
        match f.as_str() {
            "--target" => target = Some(parse_loopback(&a.value(&f)?)?),
            "-s" | "--streams" | "-c" | "--connections" if kind != TcpKind::Hold => {
                o.connections = a.num(&f)?
            }
            "-t" | "--threads" => o.threads = a.num(&f)?,
            "-d" | "--duration" => o.duration = a.dur(&f)?,
            "-n" | "--requests" if kind == TcpKind::ConnRate => o.requests = Some(a.num(&f)?),
            "--direction" => {
                o.direction = match a.value(&f)?.as_str() {
                    "up" | "upload" => Direction::Up,
                    "down" | "download" => Direction::Down,
                    "both" => Direction::Both,
                    other => {
                        return Err(format!(
                            "--direction: expected up, down or both, got '{other}'"
                        ));
                    }
                }
            }
            "--payload" => o.payload = a.num(&f)?,
            "--timeout" => o.timeout = a.dur(&f)?,
            "--connect-timeout" => o.connect_timeout = a.dur(&f)?,
            "--ready-file" if kind == TcpKind::Hold => {
                o.ready_file = Some(PathBuf::from(a.value(&f)?))
            }
            other => return Err(format!("unknown flag '{other}'")),
        }
    }
    o.target = target.ok_or("--target is required")?;
    if o.connections == 0 {
        return Err("need at least one connection".into());
    }
    Ok(o)
}

fn parse_backend(a: &mut Args) -> Result<BackendOpts, String> {
    let kind = a.next().ok_or("backend: expected http or tcp")?;
    let mut listen = None;
    let mut threads = 1;
    let (mut status, mut body_size, mut delay, mut name, mut fault) = (
        200u16,
        100usize,
        Duration::ZERO,
        String::from("b1"),
        Fault::None,
    );
    let mut mode = TcpMode::Auto;
    while let Some(f) = a.next() {
        match (kind.as_str(), f.as_str()) {
            (_, "--listen") => listen = Some(parse_loopback(&a.value(&f)?)?),
            (_, "-t" | "--threads") => threads = a.num(&f)?,
            ("http", "--status") => status = a.num(&f)?,
            ("http", "--body-size") => body_size = a.num(&f)?,
            ("http", "--delay") => delay = a.dur(&f)?,
            ("http", "--name") => name = a.value(&f)?,
            ("http", "--fault") => {
                fault = match a.value(&f)?.as_str() {
                    "none" => Fault::None,
                    "reset" => Fault::Reset,
                    "close" => Fault::Close,
                    "hang" => Fault::Hang,
                    other => return Err(format!("--fault: unknown '{other}'")),
                }
            }
            ("tcp", "--mode") => {
                mode = match a.value(&f)?.as_str() {
                    "auto" => TcpMode::Auto,
                    "echo" => TcpMode::Echo,
                    "sink" => TcpMode::Sink,
                    "source" => TcpMode::Source,
                    "both" => TcpMode::Both,
                    other => return Err(format!("--mode: unknown '{other}'")),
                }
            }
            (k, other) => return Err(format!("backend {k}: unknown flag '{other}'")),
        }
    }
    let listen = listen.ok_or("backend: --listen is required")?;
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("--name must be printable ASCII without spaces".into());
    }
    match kind.as_str() {
        "http" => Ok(BackendOpts::Http {
            listen,
            threads,
            status,
            body_size,
            delay,
            name,
            fault,
        }),
        "tcp" => Ok(BackendOpts::Tcp {
            listen,
            threads,
            mode,
        }),
        other => Err(format!("backend: expected http or tcp, got '{other}'")),
    }
}

fn parse_compare(a: &mut Args) -> Result<CompareOpts, String> {
    let mut o = CompareOpts {
        scenario: String::new(),
        rounds: 3,
        duration: Duration::from_secs(10),
        out: None,
        ravelin: PathBuf::from("target/release/ravelin"),
        nbthread: 1,
        only: Vec::new(),
        kill_at: Duration::from_secs(5),
        reloads: None,
        restart_at: Duration::from_secs(12),
    };
    while let Some(f) = a.next() {
        match f.as_str() {
            "--scenario" => o.scenario = a.value(&f)?,
            "--rounds" => o.rounds = a.num(&f)?,
            "--duration" | "-d" => o.duration = a.dur(&f)?,
            "--out" => o.out = Some(PathBuf::from(a.value(&f)?)),
            "--ravelin" => o.ravelin = PathBuf::from(a.value(&f)?),
            "--nbthread" => o.nbthread = a.num(&f)?,
            "--only" => {
                o.only = a
                    .value(&f)?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "--kill-at" => o.kill_at = a.dur(&f)?,
            "--restart-at" => o.restart_at = a.dur(&f)?,
            "--reloads" => o.reloads = Some(a.num(&f)?),
            other => return Err(format!("compare: unknown flag '{other}'")),
        }
    }
    if o.scenario.is_empty() {
        return Err("compare: --scenario is required (see `ravelin-load list`)".into());
    }
    if o.rounds == 0 || !(1..=2).contains(&o.nbthread) {
        return Err("compare: --rounds must be >= 1 and --nbthread 1 or 2".into());
    }
    if o.restart_at <= o.kill_at {
        return Err("compare: --restart-at must be after --kill-at".into());
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn loopback_only() {
        assert!(parse_loopback("127.0.0.1:80").is_ok());
        assert!(parse_loopback("[::1]:80").is_ok());
        assert!(parse_loopback("10.0.0.1:80").is_err());
        assert!(parse_loopback("8.8.8.8:53").is_err());
    }

    #[test]
    fn http_flags() {
        let Ok(Command::Http(o)) = parse(&args(
            "http --target 127.0.0.1:8080 -c 10 -n 500 --close -H X-A:1 --json out.json",
        )) else {
            panic!("parse failed")
        };
        assert_eq!(
            (o.connections, o.requests, o.conn_mode),
            (10, Some(500), ConnMode::Close)
        );
        assert_eq!(o.headers, vec!["X-A:1".to_string()]);
        assert_eq!(o.out.json, Some(PathBuf::from("out.json")));
        assert!(parse(&args("http -c 10")).is_err());
        assert!(parse(&args("http --target 127.0.0.1:1 --bogus")).is_err());
        assert!(parse(&args("http --target 127.0.0.1:1 -c")).is_err());
    }

    #[test]
    fn other_commands() {
        assert!(matches!(
            parse(&args("tcp bulk --target 127.0.0.1:1 -s 4 --direction up")),
            Ok(Command::Tcp(TcpOpts {
                connections: 4,
                direction: Direction::Up,
                ..
            }))
        ));
        assert!(matches!(
            parse(&args("hold 9000 --target 127.0.0.1:1")),
            Ok(Command::Tcp(TcpOpts {
                connections: 9000,
                kind: TcpKind::Hold,
                ..
            }))
        ));
        assert!(matches!(
            parse(&args("backend http --listen 127.0.0.1:0 --status 503")),
            Ok(Command::Backend(BackendOpts::Http { status: 503, .. }))
        ));
        assert!(matches!(
            parse(&args("backend tcp --listen 127.0.0.1:0 --mode sink")),
            Ok(Command::Backend(BackendOpts::Tcp {
                mode: TcpMode::Sink,
                ..
            }))
        ));
        assert!(matches!(
            parse(&args("compare --scenario tcp-bulk --rounds 1")),
            Ok(Command::Compare(CompareOpts { rounds: 1, .. }))
        ));
        assert!(parse(&args("compare")).is_err());
        assert_eq!(parse(&[]), Ok(Command::Help));
    }
}
