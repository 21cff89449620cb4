//! HAProxy's messages on standard error, outside of any log target: `[ALERT]    (pid) : ...`,
//! `[WARNING]  (pid) : ...`, `[NOTICE]   (pid) : ...`, padded as HAProxy 2.6 prints them. The
//! process id is read for each message: it changes when the process daemonizes.

/// `[ALERT]    (pid) : msg`.
pub fn alert(msg: &str) {
    eprintln!("[ALERT]    ({}) : {msg}", std::process::id());
}

/// `[WARNING]  (pid) : msg`.
pub fn warning(msg: &str) {
    eprintln!("[WARNING]  ({}) : {msg}", std::process::id());
}

/// `[NOTICE]   (pid) : msg`.
pub fn notice(msg: &str) {
    eprintln!("[NOTICE]   ({}) : {msg}", std::process::id());
}
