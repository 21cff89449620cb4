//! The `ravelin` command: HAProxy's command line, so scripts written for `haproxy` run unchanged.
//! Parses flags, loads the configuration, binds, optionally daemonizes, starts the reactors and
//! turns signals into stop commands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ravelin::sys::process::{self, Fork};
use ravelin::{ReactorOptions, worker};
use ravelin::{advise, config, reload};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the command line asked for.
#[derive(Debug, Default)]
struct Cli {
    files: Vec<PathBuf>,
    check: bool,
    pidfile: Option<PathBuf>,
    version: u8,
    debug: bool,
    foreground: bool,
    daemon: bool,
    quiet: bool,
    nosplice: bool,
    help: bool,
    chdir: Option<PathBuf>,
    /// `--advise` (with `-c`): print the failover advice and exit 0, or 2 if a backend is
    /// flagged (`advise.rs`). Ravelin's own flag; HAProxy has no such option.
    advise: bool,
    /// `--rate N`, `--patience TIME`: what the advice is computed for.
    rate: Option<u32>,
    patience: Option<Duration>,
    /// `-x SOCKET`: take the listening sockets of the old process from its stats socket.
    old_socket: Option<PathBuf>,
    /// `-sf PID...` / `-st PID...`: old processes told to finish (SIGUSR1) or terminate
    /// (SIGTERM) once this one serves.
    old_pids: Vec<u32>,
    old_signal: OldSignal,
    /// `-W` / `-Ws`: master-worker mode (`-Ws`: with systemd notifications).
    master_worker: bool,
    systemd: bool,
}

/// What `-sf` / `-st` send to the old processes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum OldSignal {
    /// `-sf`: SIGUSR1, soft stop.
    #[default]
    Finish,
    /// `-st`: SIGTERM.
    Terminate,
}

fn usage(prog: &str) -> String {
    format!(
        "Ravelin version {VERSION}\n\
Usage : {prog} [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -p <pidfile> ] [ -C <dir> ] [-- <cfgfile>*]\n\
        -v displays version ; -vv shows known build options.\n\
        -d enters debug mode ; -db only disables background mode.\n\
        -V enters verbose mode (disables quiet mode)\n\
        -D goes daemon ; -C changes to <dir> before loading files.\n\
        -W master-worker mode.\n\
        -Ws master-worker mode with systemd notify support.\n\
        -q quiet mode : don't display messages\n\
        -c check mode : only check config files and exit\n\
        -p writes pids of all children to this file\n\
        -dS disables splice usage (broken on old kernels)\n\
        -sf/-st [pid ]* finishes/terminates old pids.\n\
        -x <unix_socket> get listening sockets from a unix socket\n\
        --advise [--rate N] [--patience T] with -c: failover advice per backend\n"
    )
}

fn parse_args(args: &[String]) -> Result<Cli, String> {
    let mut cli = Cli::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("'{flag}' requires an argument"))
        };
        match a.as_str() {
            "-f" => cli.files.push(value("-f")?.into()),
            "-p" => cli.pidfile = Some(value("-p")?.into()),
            "-C" => cli.chdir = Some(value("-C")?.into()),
            "-c" => cli.check = true,
            "-v" => cli.version = cli.version.max(1),
            "-vv" => cli.version = 2,
            "-d" => cli.debug = true,
            "-db" => cli.foreground = true,
            "-D" => cli.daemon = true,
            "-q" => cli.quiet = true,
            "-V" => cli.quiet = false,
            "-dS" => cli.nosplice = true,
            "-h" | "--help" => cli.help = true,
            "--advise" => cli.advise = true,
            "--rate" => {
                let v = value("--rate")?;
                match v.parse::<u32>() {
                    Ok(n) if n > 0 => cli.rate = Some(n),
                    _ => {
                        return Err(format!(
                            "'--rate' expects a number of requests per second above 0, got '{v}'"
                        ));
                    }
                }
            }
            "--patience" => {
                let v = value("--patience")?;
                match config::units::parse_time(&v) {
                    Ok(d) if !d.is_zero() => cli.patience = Some(d),
                    _ => {
                        return Err(format!(
                            "'--patience' expects a time above 0 such as '5s' or '300ms', got '{v}'"
                        ));
                    }
                }
            }
            "-x" => cli.old_socket = Some(value("-x")?.into()),
            "-W" => cli.master_worker = true,
            "-Ws" => {
                cli.master_worker = true;
                cli.systemd = true;
            }
            "-sf" | "-st" => {
                cli.old_signal = if a == "-sf" {
                    OldSignal::Finish
                } else {
                    OldSignal::Terminate
                };
                // HAProxy: the list ends on any argument starting with '-'; it may be empty.
                while let Some(next) = it.as_slice().first() {
                    if next.starts_with('-') {
                        break;
                    }
                    match next.parse::<u32>() {
                        Ok(p) if p > 0 => cli.old_pids.push(p),
                        _ => return Err(format!("'{a}' expects process ids, got '{next}'")),
                    }
                    it.next();
                }
            }
            "--" => {
                cli.files.extend(it.by_ref().map(PathBuf::from));
                break;
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    if cli.advise && !cli.check {
        return Err("'--advise' only works in check mode: use '-c --advise -f <cfgfile>'".into());
    }
    if (cli.rate.is_some() || cli.patience.is_some()) && !cli.advise {
        return Err("'--rate' and '--patience' only apply to '-c --advise'".into());
    }
    Ok(cli)
}

fn pid() -> u32 {
    std::process::id()
}

fn alert(msg: &str) {
    eprintln!("[ALERT]    ({}) : {msg}", pid());
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let prog = args
        .first()
        .map_or("ravelin", |s| s.rsplit('/').next().unwrap_or(s))
        .to_string();
    let cli = match parse_args(args.get(1..).unwrap_or(&[])) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", usage(&prog));
            alert(&e);
            return ExitCode::from(1);
        }
    };
    if cli.help {
        eprint!("{}", usage(&prog));
        return ExitCode::from(1);
    }
    if cli.version > 0 {
        println!("Ravelin version {VERSION} - a load balancer reading haproxy.cfg");
        if cli.version > 1 {
            println!("Build options :");
            println!(
                "  splice: {}",
                if cfg!(target_os = "linux") {
                    "yes (Linux)"
                } else {
                    "no (copy only)"
                }
            );
            println!(
                "  pollers: {}",
                if cfg!(target_os = "linux") {
                    "epoll (mio)"
                } else {
                    "kqueue/poll (mio)"
                }
            );
            println!(
                "  profile: {}",
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &cli.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            alert(&format!("Cannot chdir to {} : {e}", dir.display()));
            return ExitCode::from(1);
        }
    }
    if cli.files.is_empty() {
        eprint!("{}", usage(&prog));
        alert("No configuration file specified");
        return ExitCode::from(1);
    }

    let loaded = match config::load(&cli.files) {
        Ok(l) => l,
        Err(errs) => {
            print_notices(&cli);
            for w in &errs.warnings {
                warning(w);
            }
            for a in &errs.alerts {
                alert(&format!("config : {a}"));
            }
            for f in &errs.files {
                alert(&format!(
                    "config : Error(s) found in configuration file : {f}"
                ));
            }
            alert("config : Fatal errors found in configuration.");
            return ExitCode::from(1);
        }
    };
    if !loaded.warnings.is_empty() && !cli.quiet {
        print_notices(&cli);
        for w in &loaded.warnings {
            warning(w);
        }
    }
    if cli.check {
        // HAProxy reads the server-state files in check mode too and warns the same way.
        let state = ravelin::server::SharedState::new(Arc::new(loaded.model.clone()), 1, 1);
        let state_warnings = reload::state::apply(&loaded.model, &state, 0);
        if !cli.quiet && !state_warnings.is_empty() {
            if loaded.warnings.is_empty() {
                print_notices(&cli);
            }
            for w in &state_warnings {
                warning(w);
            }
        }
        println!("Configuration file is valid");
        if cli.advise {
            return print_advice(&cli, &loaded.model);
        }
        return ExitCode::SUCCESS;
    }
    let model = Arc::new(loaded.model);
    let is_worker = std::env::var_os(reload::master::MASTER_FD_ENV).is_some();
    if !is_worker && (cli.master_worker || model.global.master_worker) {
        return run_master(&cli, &args, &model);
    }
    run(cli, model)
}

/// The arguments a master starts its workers with: its own, without what only the master
/// does (`-W`, `-Ws`, `-D`, `-p`, `-C` — the worker inherits the directory). The first
/// worker keeps `-x` and `-sf`/`-st` (they name a process running before the master, e.g. a
/// standalone Ravelin being replaced); workers started by a reload drop them.
fn worker_args(args: &[String], first: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter().skip(1).peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-W" | "-Ws" | "-D" => {}
            "-p" | "-C" => {
                it.next();
            }
            "-x" if !first => {
                it.next();
            }
            "-sf" | "-st" if !first => {
                while it.peek().is_some_and(|n| !n.starts_with('-')) {
                    it.next();
                }
            }
            _ => out.push(a.clone()),
        }
    }
    out
}

/// Master-worker mode: this process supervises workers (`reload::master`).
fn run_master(cli: &Cli, args: &[String], model: &ravelin::model::Model) -> ExitCode {
    let daemon = (cli.daemon || model.global.daemon) && !cli.foreground && !cli.debug;
    if daemon {
        match process::daemonize() {
            Ok(Fork::Parent(_)) => return ExitCode::SUCCESS,
            Ok(Fork::Child) => {}
            Err(e) => {
                alert(&format!("[{}] Cannot fork: {e}", pid()));
                return ExitCode::from(1);
            }
        }
    }
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGUSR1,
        signal_hook::consts::SIGUSR2,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(s) => s,
        Err(e) => {
            alert(&format!("cannot install signal handlers: {e}"));
            return ExitCode::from(1);
        }
    };
    // In master-worker mode the pidfile holds the master's PID (HAProxy).
    let pidfile = cli.pidfile.clone().or_else(|| model.global.pidfile.clone());
    if let Some(path) = &pidfile {
        let written = std::fs::File::create(path).and_then(|mut f| writeln!(f, "{}", pid()));
        if let Err(e) = written {
            alert(&format!(
                "[{}] Cannot create pidfile {} : {e}",
                pid(),
                path.display()
            ));
            return ExitCode::from(1);
        }
    }
    let margs = reload::master::MasterArgs {
        first_args: worker_args(args, true),
        worker_args: worker_args(args, false),
        files: cli.files.clone(),
        systemd: cli.systemd,
    };
    reload::master::run(&margs, &mut signals)
}

/// `-sf`/`-st`: the new process serves; the old ones finish (SIGUSR1) or stop (SIGTERM).
fn tell_old_pids(cli: &Cli) {
    let sig = match cli.old_signal {
        OldSignal::Finish => libc::SIGUSR1,
        OldSignal::Terminate => libc::SIGTERM,
    };
    for &p in &cli.old_pids {
        // A PID that is gone already is fine: HAProxy ignores kill() errors here too.
        let _ = process::signal(p, sig);
    }
}

/// `-c --advise`: the failover report on stdout; exit status 0 when no backend is flagged,
/// 2 when one is (1 stays "invalid configuration").
fn print_advice(cli: &Cli, model: &ravelin::model::Model) -> ExitCode {
    let opts = advise::Options {
        rate: cli.rate.unwrap_or(advise::DEFAULT_RATE),
        patience: cli.patience.unwrap_or(advise::DEFAULT_PATIENCE),
    };
    let advice = advise::advise(model, &opts);
    print!("\n{}", advise::render(model, &advice, &opts));
    if advice.iter().any(|a| a.flagged()) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_notices(cli: &Cli) {
    if cli.quiet {
        return;
    }
    eprintln!("[NOTICE]   ({}) : ravelin version is {VERSION}", pid());
    if let Ok(exe) = std::env::current_exe() {
        eprintln!(
            "[NOTICE]   ({}) : path to executable is {}",
            pid(),
            exe.display()
        );
    }
}

fn warning(msg: &str) {
    eprintln!("[WARNING]  ({}) : config : {msg}", pid());
}

fn run(cli: Cli, model: Arc<ravelin::model::Model>) -> ExitCode {
    // `-x`: the old process's listening sockets, used instead of binding (seamless reload).
    // Started by a master: its control channel, and on a reload the listeners it relays.
    let master = match reload::worker_link::master_channel() {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            alert(&format!("cannot use the master's channel: {e}"));
            return ExitCode::from(1);
        }
        None => None,
    };
    let from_master = match reload::worker_link::fetch_from_master() {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            eprintln!("[WARNING]  ({}) : {e}", pid());
            alert("Failed to get the sockets from the old process!");
            return ExitCode::from(1);
        }
        None => None,
    };
    let inherited = match (&cli.old_socket, from_master) {
        (_, Some(s)) => s,
        (None, None) => Vec::new(),
        (Some(path), None) => match reload::getsocks::fetch(path) {
            Ok(s) => s,
            Err(e) => {
                // HAProxy: its warning, then an alert and exit 1 (outside master-worker).
                eprintln!("[WARNING]  ({}) : {e}", pid());
                alert("Failed to get the sockets from the old process!");
                return ExitCode::from(1);
            }
        },
    };
    let bound = match worker::bind_with(model.clone(), inherited) {
        Ok(b) => b,
        Err(e) => {
            alert(&e.to_string());
            return ExitCode::from(1);
        }
    };
    let daemon =
        (cli.daemon || model.global.daemon) && !cli.foreground && !cli.debug && master.is_none();
    if daemon {
        match process::daemonize() {
            Ok(Fork::Parent(_)) => return ExitCode::SUCCESS,
            Ok(Fork::Child) => {}
            Err(e) => {
                alert(&format!("[{}] Cannot fork: {e}", pid()));
                return ExitCode::from(1);
            }
        }
    }
    // Signals are caught on this thread, reactors never see them. Installed before the
    // pidfile is written: whoever reads the pidfile may signal at once.
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGUSR1,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(s) => s,
        Err(e) => {
            alert(&format!("cannot install signal handlers: {e}"));
            return ExitCode::from(1);
        }
    };
    // A worker leaves the pidfile to its master.
    let pidfile = cli.pidfile.clone().or_else(|| model.global.pidfile.clone());
    if let Some(path) = pidfile.as_ref().filter(|_| master.is_none()) {
        let written = std::fs::File::create(path).and_then(|mut f| writeln!(f, "{}", pid()));
        if let Err(e) = written {
            alert(&format!(
                "[{}] Cannot create pidfile {} : {e}",
                pid(),
                path.display()
            ));
            return ExitCode::from(1);
        }
    }
    let opts = ReactorOptions {
        debug: cli.debug,
        nosplice: cli.nosplice,
        // Test only: makes one reactor panic at start (`ReactorOptions::test_panic_reactor`).
        test_panic_reactor: std::env::var(ravelin::reactor::TEST_PANIC_REACTOR_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok()),
    };
    let mut handle = match worker::launch(bound, opts) {
        Ok(h) => h,
        Err(e) => {
            alert(&e.to_string());
            return ExitCode::from(1);
        }
    };
    tell_old_pids(&cli);
    let master_gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(chan) = master {
        reload::worker_link::serve_master(chan, handle.exposed_listeners(), master_gone.clone());
    }
    let mut hard_deadline: Option<Instant> = None;
    let mut grace_until: Option<Instant> = None;
    let mut soft_stopped = false;
    let mut orphan = false;
    loop {
        // A reactor died (panic, or an error of its loop) while nothing asked it to stop: its
        // share of the connections would wait in a queue nobody accepts from. Stop the process
        // (a master sees its worker fail: HAProxy's exit-on-failure).
        if let Some(dead) = handle.dead_reactor() {
            alert(&format!(
                "Thread {} exited unexpectedly: {}; stopping.",
                dead.reactor + 1,
                dead.reason
            ));
            return stop_after_failure(handle);
        }
        // The master went away: finish like on SIGUSR1 rather than serve unsupervised.
        if !orphan && master_gone.load(std::sync::atomic::Ordering::SeqCst) {
            orphan = true;
            soft_stopped = true;
            handle.soft_stop();
            if hard_deadline.is_none() {
                hard_deadline = model.global.hard_stop_after.map(|d| Instant::now() + d);
            }
        }
        for sig in signals.pending() {
            match sig {
                signal_hook::consts::SIGUSR1 => {
                    // `grace`: listeners keep accepting for that long before the soft stop.
                    if grace_until.is_none() {
                        grace_until = Some(Instant::now() + model.global.grace.unwrap_or_default());
                    }
                    // HAProxy arms `hard-stop-after` when the signal comes, grace included.
                    if hard_deadline.is_none() {
                        hard_deadline = model.global.hard_stop_after.map(|d| Instant::now() + d);
                    }
                }
                signal_hook::consts::SIGHUP => {
                    // Standalone, HAProxy only logs server states here; reloading is the
                    // master's job (-W) or a new process's (-x, -sf).
                    if !cli.quiet {
                        eprintln!(
                            "[NOTICE]   ({}) : SIGHUP received; reload with a master process (-W) or with -x and -sf; ignored.",
                            pid()
                        );
                    }
                }
                _ => {
                    handle.hard_stop();
                    let _ = handle.join();
                    return ExitCode::SUCCESS;
                }
            }
        }
        if !soft_stopped && grace_until.is_some_and(|g| Instant::now() >= g) {
            soft_stopped = true;
            if !cli.quiet {
                eprintln!(
                    "[WARNING]  ({}) : Stopping frontends on SIGUSR1 (soft stop).",
                    pid()
                );
            }
            handle.soft_stop();
        }
        if hard_deadline.is_some_and(|d| Instant::now() >= d) {
            if !cli.quiet {
                eprintln!(
                    "[WARNING]  ({}) : hard-stop-after reached, closing remaining connections.",
                    pid()
                );
            }
            handle.hard_stop();
        }
        if handle.is_finished() {
            return match handle.join() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    alert(&format!("a reactor stopped: {e}"));
                    ExitCode::from(1)
                }
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long the other reactors get to close their streams after one died.
const DEAD_REACTOR_GRACE: Duration = Duration::from_secs(1);

/// Stops the process after a reactor died: the others close everything (hard stop), their
/// log lines are handed over, exit status 1. A reactor that does not end within
/// `DEAD_REACTOR_GRACE` does not hold the exit back.
fn stop_after_failure(handle: worker::Handle) -> ExitCode {
    handle.hard_stop();
    let end = Instant::now() + DEAD_REACTOR_GRACE;
    while !handle.is_finished() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    if handle.is_finished() {
        let _ = handle.join();
        return ExitCode::from(1);
    }
    // Dropping the handle would wait for the stuck reactor.
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn sf_st_take_the_following_pids() {
        let cli = parse_args(&v("-f a.cfg -x /s -sf 12 34 -q")).unwrap();
        assert_eq!(cli.old_pids, vec![12, 34]);
        assert_eq!(cli.old_signal, OldSignal::Finish);
        assert!(cli.quiet);
        assert_eq!(cli.old_socket, Some(PathBuf::from("/s")));
        let cli = parse_args(&v("-f a.cfg -st")).unwrap();
        assert!(cli.old_pids.is_empty());
        assert_eq!(cli.old_signal, OldSignal::Terminate);
        assert!(parse_args(&v("-f a.cfg -sf 12 x")).is_err());
        assert!(parse_args(&v("-f a.cfg -sf 0")).is_err());
        assert!(parse_args(&v("-f a.cfg -x")).is_err());
        let cli = parse_args(&v("-Ws -f a.cfg")).unwrap();
        assert!(cli.master_worker && cli.systemd);
    }

    #[test]
    fn workers_get_the_masters_arguments_minus_its_own() {
        let args = v("ravelin -W -D -p /run/r.pid -C /etc -f a.cfg -x /s -sf 1 2 -q");
        assert_eq!(worker_args(&args, true), v("-f a.cfg -x /s -sf 1 2 -q"));
        assert_eq!(worker_args(&args, false), v("-f a.cfg -q"));
    }
}
