//! The `ravelin` command: HAProxy's command line, so scripts written for `haproxy` run unchanged.
//! Parses the command line, loads the configuration, picks the mode (check, serve, or master of
//! workers) and runs it; running and supervising the process is `ravelin::supervise`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ravelin::log::console;
use ravelin::supervise::{self, Mode, OldSignal};
use ravelin::sys::process::SingleThreaded;
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

fn alert(msg: &str) {
    console::alert(msg);
}

fn main() -> ExitCode {
    // Before anything can spawn a thread: the proof `daemon` needs to fork.
    let single = SingleThreaded::at_start();
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
    if let Some(done) = before_config(&cli, &prog) {
        return done;
    }
    let Some(loaded) = load_config(&cli) else {
        return ExitCode::from(1);
    };
    if cli.check {
        return check(&cli, loaded);
    }
    let model = Arc::new(loaded.model);
    let mode = Mode::pick(cli.master_worker, &model);
    supervise::run(mode, &options(cli, args), model, single)
}

/// `-h`, `-v`/`-vv`, `-C DIR` and a missing `-f`: what happens before any configuration is
/// read. `Some` is the exit status when the command ends there.
fn before_config(cli: &Cli, prog: &str) -> Option<ExitCode> {
    if cli.help {
        eprint!("{}", usage(prog));
        return Some(ExitCode::from(1));
    }
    if cli.version > 0 {
        print_version(cli.version);
        return Some(ExitCode::SUCCESS);
    }
    if let Some(dir) = &cli.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            alert(&format!("Cannot chdir to {} : {e}", dir.display()));
            return Some(ExitCode::from(1));
        }
    }
    if cli.files.is_empty() {
        eprint!("{}", usage(prog));
        alert("No configuration file specified");
        return Some(ExitCode::from(1));
    }
    None
}

/// `-v`, and with `-vv` the build options.
fn print_version(level: u8) {
    println!("Ravelin version {VERSION} - a load balancer reading haproxy.cfg");
    if level > 1 {
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
}

/// Loads the `-f` files; prints HAProxy's warnings, and its alerts when they do not load.
fn load_config(cli: &Cli) -> Option<config::Loaded> {
    let loaded = match config::load(&cli.files) {
        Ok(l) => l,
        Err(errs) => {
            print_notices(cli);
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
            return None;
        }
    };
    if !loaded.warnings.is_empty() && !cli.quiet {
        print_notices(cli);
        for w in &loaded.warnings {
            warning(w);
        }
    }
    Some(loaded)
}

/// `-c`: the configuration loaded; HAProxy reads the server-state files in check mode too and
/// warns the same way. With `--advise`, the failover report.
fn check(cli: &Cli, loaded: config::Loaded) -> ExitCode {
    let state = ravelin::server::SharedState::new(Arc::new(loaded.model.clone()), 1, 1);
    let state_warnings = reload::state::apply(&loaded.model, &state, 0);
    if !cli.quiet && !state_warnings.is_empty() {
        if loaded.warnings.is_empty() {
            print_notices(cli);
        }
        for w in &state_warnings {
            warning(w);
        }
    }
    println!("Configuration file is valid");
    if cli.advise {
        return print_advice(cli, &loaded.model);
    }
    ExitCode::SUCCESS
}

/// What the command line says about running the process.
fn options(cli: Cli, args: Vec<String>) -> supervise::Options {
    supervise::Options {
        args,
        files: cli.files,
        pidfile: cli.pidfile,
        daemon: cli.daemon,
        foreground: cli.foreground,
        debug: cli.debug,
        quiet: cli.quiet,
        nosplice: cli.nosplice,
        old_socket: cli.old_socket,
        old_pids: cli.old_pids,
        old_signal: cli.old_signal,
        systemd: cli.systemd,
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
    console::notice(&format!("ravelin version is {VERSION}"));
    if let Ok(exe) = std::env::current_exe() {
        console::notice(&format!("path to executable is {}", exe.display()));
    }
}

/// A configuration warning.
fn warning(msg: &str) {
    console::warning(&format!("config : {msg}"));
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
}
