//! Master-worker mode, up to the supervision loop (`reload::master::run`): daemonize if asked,
//! catch the signals, write the pidfile (the master's PID, as HAProxy does), derive the
//! workers' arguments from the command line.

use std::process::ExitCode;

use crate::log::console::alert;
use crate::model::Model;
use crate::reload;
use crate::supervise::{Options, daemonize, write_pidfile};
use crate::sys::process::SingleThreaded;

pub(super) fn run(opts: &Options, model: &Model, single: Option<SingleThreaded>) -> ExitCode {
    if opts.daemon(model) {
        match daemonize(single) {
            Ok(Some(parent)) => return parent,
            Ok(None) => {}
            Err(failed) => return failed,
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
