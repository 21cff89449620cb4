//! The process once its configuration is loaded: the mode it runs in, and the supervision of
//! that mode (what `main` hands over to after parsing the command line).
//!
//! - [`Mode::Serve`] (`serve`): the process serves, standalone or as the worker of a master.
//!   It takes its listeners (from the master, from `-x`, or binds them), daemonizes if asked,
//!   writes the pidfile, starts the reactors, tells the `-sf`/`-st` processes to go, then turns
//!   signals into soft and hard stops until the reactors are done.
//! - [`Mode::Master`] (`master`): master-worker mode (`-W`, `-Ws`, global `master-worker`).
//!   The process daemonizes if asked, writes the pidfile, then supervises workers
//!   (`reload::master`).
//!
//! Messages are HAProxy's, on standard error (`log::console`).

mod master;
mod serve;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::log::console::alert;
use crate::model::Model;
use crate::reload;
use crate::sys::process::{self, Fork, SingleThreaded};

/// How the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serve traffic: standalone, or as a worker started by a master.
    Serve,
    /// Supervise workers, serve nothing.
    Master,
}

impl Mode {
    /// A process started by a master is its worker, whatever its command line or
    /// configuration say; otherwise `-W`/`-Ws` (`master_worker`) or the global
    /// `master-worker` make a master.
    pub fn pick(master_worker: bool, model: &Model) -> Mode {
        let is_worker = std::env::var_os(reload::master::MASTER_FD_ENV).is_some();
        if !is_worker && (master_worker || model.global.master_worker) {
            Mode::Master
        } else {
            Mode::Serve
        }
    }
}

/// What `-sf` / `-st` send to the old processes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum OldSignal {
    /// `-sf`: SIGUSR1, soft stop.
    #[default]
    Finish,
    /// `-st`: SIGTERM.
    Terminate,
}

/// What the command line says about running (HAProxy's options).
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// The whole command line, program name first: a master starts its workers with it.
    pub args: Vec<String>,
    /// The configuration files (`-f`), re-read by a master on reload.
    pub files: Vec<PathBuf>,
    /// `-p FILE`.
    pub pidfile: Option<PathBuf>,
    /// `-D`.
    pub daemon: bool,
    /// `-db`: stay in the foreground whatever `daemon` says.
    pub foreground: bool,
    /// `-d`: debug mode (foreground, events on standard error).
    pub debug: bool,
    /// `-q`.
    pub quiet: bool,
    /// `-dS`: no splice.
    pub nosplice: bool,
    /// `-x SOCKET`: take the listening sockets of the old process from its stats socket.
    pub old_socket: Option<PathBuf>,
    /// `-sf PID...` / `-st PID...`: old processes told to finish (SIGUSR1) or terminate
    /// (SIGTERM) once this one serves.
    pub old_pids: Vec<u32>,
    pub old_signal: OldSignal,
    /// `-Ws`: notify systemd.
    pub systemd: bool,
}

impl Options {
    /// `-D` or the global `daemon`, unless `-db` or `-d` keep the process in the foreground.
    fn daemon(&self, model: &Model) -> bool {
        (self.daemon || model.global.daemon) && !self.foreground && !self.debug
    }

    /// `-p`, else the global `pidfile`.
    fn pidfile(&self, model: &Model) -> Option<PathBuf> {
        self.pidfile
            .clone()
            .or_else(|| model.global.pidfile.clone())
    }
}

/// Runs the process in `mode` until it is done; the exit status of the process. `single` is
/// `main`'s proof that no thread existed when it started, used up if the process daemonizes
/// (without it, `daemon` is refused).
pub fn run(
    mode: Mode,
    opts: &Options,
    model: Arc<Model>,
    single: Option<SingleThreaded>,
) -> ExitCode {
    match mode {
        Mode::Master => master::run(opts, &model, single),
        Mode::Serve => serve::run(opts, model, single),
    }
}

/// Daemonizes (`daemon`, `-D`): `Err` is HAProxy's alert, printed; `Ok(Some)` is the exit
/// status of the parent, which ends at once; `Ok(None)` the child, which goes on.
fn daemonize(single: Option<SingleThreaded>) -> Result<Option<ExitCode>, ExitCode> {
    let forked = match single {
        Some(single) => process::daemonize(single),
        None => Err(io::Error::other(
            "threads were running when the process started",
        )),
    };
    match forked {
        Ok(Fork::Parent(_)) => Ok(Some(ExitCode::SUCCESS)),
        Ok(Fork::Child) => Ok(None),
        Err(e) => {
            alert(&format!("[{}] Cannot fork: {e}", std::process::id()));
            Err(ExitCode::from(1))
        }
    }
}

/// Writes this process's id to `path`; on failure, HAProxy's alert.
fn write_pidfile(path: &Path) -> Result<(), ()> {
    let pid = std::process::id();
    let written = std::fs::File::create(path).and_then(|mut f| writeln!(f, "{pid}"));
    written.map_err(|e| {
        alert(&format!(
            "[{pid}] Cannot create pidfile {} : {e}",
            path.display()
        ));
    })
}
