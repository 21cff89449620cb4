//! `ravelin-load`: the load generator, built-in backends and proxy comparison runner used
//! to benchmark Ravelin against HAProxy and nginx. This file only dispatches commands and
//! prints; the measuring lives in `http_client`/`tcp_client`, the servers in `backend`,
//! the side-by-side runs in `compare`. Everything talks to loopback addresses only.
#![deny(unsafe_code)]

mod backend;
mod cli;
mod compare;
mod http_client;
mod http_parse;
mod proc;
mod report;
mod scenario;
mod stats;
mod sys;
mod tcp_client;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use backend::{Backend, BackendKind, HttpBackend};
use cli::{BackendOpts, Command, HttpOpts, Output, TcpOpts};
use stats::{Live, RunReport};
use tcp_client::{Direction, TcpKind};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match cli::parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ravelin-load: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("ravelin-load: cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cmd {
        Command::Help => {
            print!("{}", cli::USAGE);
            Ok(())
        }
        Command::List => {
            for s in scenario::all() {
                println!("{:<22} {}", s.name, s.about);
            }
            Ok(())
        }
        Command::Http(o) => run_http(&o, &stop),
        Command::Tcp(o) => run_tcp(&o, &stop),
        Command::Backend(o) => run_backend(o, stop),
        Command::Compare(o) => compare::run(&o, &stop),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ravelin-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

/// Runs `work` while a progress line (tty only) and, for `hold`, the ready-file watcher run
/// beside it.
fn with_progress<R>(
    live: &Live,
    out: &Output,
    ready: Option<(u64, &std::path::Path)>,
    work: impl FnOnce() -> R,
) -> R {
    let show = !out.quiet && std::io::stderr().is_terminal();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            let mut last = (0u64, start);
            let mut ready_written = false;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if let Some((n, path)) = ready
                    && !ready_written
                    && live.done.load(Ordering::Relaxed) >= n
                {
                    ready_written = true;
                    let held = live.held.load(Ordering::Relaxed);
                    if let Err(e) = std::fs::write(path, format!("{held}\n")) {
                        eprintln!("ravelin-load: cannot write {}: {e}", path.display());
                    }
                }
                if show && last.1.elapsed() >= Duration::from_secs(1) {
                    let now = Instant::now();
                    let d = live.done.load(Ordering::Relaxed);
                    let rate = (d - last.0) as f64 / now.duration_since(last.1).as_secs_f64();
                    last = (d, now);
                    let mut line = format!(
                        "\r[{:6.1}s] {d} done ({rate:.0}/s), {} errors, {}",
                        start.elapsed().as_secs_f64(),
                        live.errors.load(Ordering::Relaxed),
                        stats::human_bytes(live.bytes.load(Ordering::Relaxed) as f64)
                    );
                    if ready.is_some() {
                        line += &format!(", {} held", live.held.load(Ordering::Relaxed));
                    }
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "{line}   ");
                    let _ = err.flush();
                }
            }
            if show {
                eprintln!();
            }
        });
        let r = work();
        done.store(true, Ordering::Relaxed);
        r
    })
}

fn emit(report: &RunReport, out: &Output) -> Result<(), String> {
    if let Some(path) = &out.json {
        let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if !out.quiet {
        print!("{}", report.summary());
    }
    Ok(())
}

fn run_http(o: &HttpOpts, stop: &AtomicBool) -> Result<(), String> {
    let request = http_client::build_request(
        &o.method,
        &o.path,
        &o.target.to_string(),
        &o.headers,
        o.body_size,
        o.conn_mode,
    );
    let load = http_client::HttpLoad {
        target: o.target,
        connections: o.connections,
        threads: o.threads,
        duration: o.duration,
        requests: o.requests,
        rate: o.rate,
        conn_mode: o.conn_mode,
        request: request.into(),
        head_request: o.method.eq_ignore_ascii_case("HEAD"),
        timeout: o.timeout,
        connect_timeout: o.connect_timeout,
        timeline: o.timeline,
    };
    let live = Live::default();
    let started = unix_ms();
    let (stats, elapsed) =
        with_progress(&live, &o.out, None, || http_client::run(&load, stop, &live))
            .map_err(|e| e.to_string())?;
    let report = RunReport::from_stats(
        "http",
        &o.target.to_string(),
        o.threads,
        o.connections,
        started,
        elapsed,
        &stats,
    );
    emit(&report, &o.out)
}

fn run_tcp(o: &TcpOpts, stop: &AtomicBool) -> Result<(), String> {
    let load = tcp_client::TcpLoad {
        target: o.target,
        threads: o.threads,
        connections: o.connections,
        duration: o.duration,
        requests: o.requests,
        direction: o.direction,
        payload: o.payload,
        connect_timeout: o.connect_timeout,
        timeout: o.timeout,
    };
    let live = Live::default();
    let started = unix_ms();
    let ready = o.ready_file.as_deref().map(|p| (o.connections as u64, p));
    if let Some(p) = &o.ready_file {
        let _ = std::fs::remove_file(p);
    }
    let (stats, elapsed) = with_progress(&live, &o.out, ready, || {
        tcp_client::run(o.kind, &load, stop, &live)
    })
    .map_err(|e| e.to_string())?;
    let mode = match o.kind {
        TcpKind::Bulk => "tcp-bulk",
        TcpKind::ConnRate => "tcp-connrate",
        TcpKind::Hold => "hold",
    };
    let mut report = RunReport::from_stats(
        mode,
        &o.target.to_string(),
        o.threads,
        o.connections,
        started,
        elapsed,
        &stats,
    );
    match o.kind {
        TcpKind::Bulk => {
            let bytes = match o.direction {
                Direction::Up => stats.bytes_written,
                Direction::Down => stats.bytes_read,
                Direction::Both => stats.bytes_read + stats.bytes_written,
            };
            report.gbit_per_s = bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e9;
        }
        TcpKind::Hold => report.held = Some(live.held.load(Ordering::Relaxed)),
        TcpKind::ConnRate => {}
    }
    emit(&report, &o.out)
}

fn run_backend(o: BackendOpts, stop: Arc<AtomicBool>) -> Result<(), String> {
    let (listen, threads, kind) = match o {
        BackendOpts::Http {
            listen,
            threads,
            status,
            body_size,
            delay,
            name,
            fault,
        } => (
            listen,
            threads,
            BackendKind::Http(HttpBackend {
                status,
                body_size,
                delay,
                name,
                fault,
            }),
        ),
        BackendOpts::Tcp {
            listen,
            threads,
            mode,
        } => (listen, threads, BackendKind::Tcp(mode)),
    };
    let b = Backend::start(listen, threads, kind, stop)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!(
        "ravelin-load backend listening on {} ({threads} threads)",
        b.addr
    );
    b.wait();
    Ok(())
}
