//! Master-worker mode, up to the supervision loop (`reload::master::run`): daemonize if asked,
//! catch the signals, write the pidfile (the master's PID, as HAProxy does), derive the
//! workers' arguments from the command line.

use std::process::ExitCode;

use crate::log::console::alert;
use crate::model::Model;
use crate::reload;
use crate::supervise::{Options, write_pidfile};
use crate::sys::process::{self, Fork};

pub(super) fn run(opts: &Options, model: &Model) -> ExitCode {
    if opts.daemon(model) {
        match process::daemonize() {
            Ok(Fork::Parent(_)) => return ExitCode::SUCCESS,
            Ok(Fork::Child) => {}
            Err(e) => {
                alert(&format!("[{}] Cannot fork: {e}", std::process::id()));
                return ExitCode::from(1);
            }
        }
    }
    let signals = match reload::master::signals() {
        Ok(s) => s,
        Err(e) => {
            alert(&format!("cannot install signal handlers: {e}"));
            return ExitCode::from(1);
        }
    };
    // In master-worker mode the pidfile holds the master's PID (HAProxy).
    if let Some(path) = opts.pidfile(model) {
        if write_pidfile(&path).is_err() {
            return ExitCode::from(1);
        }
    }
    let margs =
        reload::master::MasterArgs::from_command_line(&opts.args, opts.files.clone(), opts.systemd);
    reload::master::run(&margs, signals)
}
