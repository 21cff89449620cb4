//! `server-state-file` / `load-server-state-from-file`: servers' states saved before a reload
//! with `show servers state` (format version 1, management guide §9.3) are read at start-up
//! and applied before any traffic, as HAProxy's `apply_server_state()` does: operational state,
//! administrative state (maintenance, drain) and weight, where the new configuration does not
//! say otherwise.
//!
//! Parsing is pure (`parse_file`, `parse_line`, `Record::parse`); `apply` writes the shared
//! atomics and returns HAProxy's warnings for the caller to print.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use crate::model::{Backend, LoadServerState, Model};
use crate::server::{Admin, SharedState};

/// Version 1 lines: 20 fields, up to 25 with the optional ones (HAProxy's
/// `SRV_STATE_FILE_{MIN,MAX}_FIELDS_VERSION_1`).
const MIN_FIELDS: usize = 20;
const MAX_FIELDS: usize = 25;

/// `SRV_UWGHT_MAX`.
const MAX_WEIGHT: u32 = 256;

// Administrative flags (`SRV_ADMF_*`).
const FMAINT: u32 = 0x01;
const IMAINT: u32 = 0x02;
const CMAINT: u32 = 0x04;
const FDRAIN: u32 = 0x08;
const IDRAIN: u32 = 0x10;
const RMAINT: u32 = 0x20;
const FQDN_CHANGED: u32 = 0x40;

/// Operational states (`SRV_ST_*`).
const ST_STOPPED: u32 = 0;
const ST_STARTING: u32 = 1;
const ST_RUNNING: u32 = 2;
const ST_STOPPING: u32 = 3;

/// Check state flags (`CHK_ST_*`) a file may carry.
const CHK_ST_ALL: u32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x10;

/// `HCHK_STATUS_SIZE` in 2.6: check status codes are below it.
const CHECK_STATUS_SIZE: u32 = 25;

/// One data line of a state file, split into words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) be_id: String,
    pub(crate) be_name: String,
    pub(crate) srv_id: String,
    pub(crate) srv_name: String,
    /// `srv_addr` and the fields after it.
    pub(crate) params: Vec<String>,
}

/// What one line of the file is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Blank or a comment.
    Ignore,
    Data(Line),
    /// Wrong number of fields: HAProxy drops the whole file.
    Corrupt,
}

/// Splits one line (HAProxy's `srv_state_parse_line()`).
pub(crate) fn parse_line(line: &str) -> Parsed {
    let t = line.trim_start_matches([' ', '\t']);
    if t.is_empty() || t.starts_with('#') {
        return Parsed::Ignore;
    }
    let words: Vec<&str> = t.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    if !(MIN_FIELDS..=MAX_FIELDS).contains(&words.len()) {
        return Parsed::Corrupt;
    }
    let w = |i: usize| words.get(i).map_or(String::new(), |s| (*s).to_string());
    Parsed::Data(Line {
        be_id: w(0),
        be_name: w(1),
        srv_id: w(2),
        srv_name: w(3),
        params: words.iter().skip(4).map(|s| (*s).to_string()).collect(),
    })
}

/// Why a file gave nothing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileError {
    /// First line missing, not a number or not version 1.
    NoVersion,
    /// A data line with the wrong number of fields (line number as HAProxy counts: the line
    /// after the version is 1).
    Corrupt(usize),
}

/// Parses a whole file: version line, then data lines keyed by (backend, server) names; a
/// duplicate key keeps the first line (HAProxy drops later duplicates).
pub(crate) fn parse_file(text: &str) -> Result<HashMap<(String, String), Line>, FileError> {
    let mut lines = text.split_inclusive('\n');
    let version = lines.next().ok_or(FileError::NoVersion)?;
    let Some(v) = version.strip_suffix('\n') else {
        return Err(FileError::NoVersion);
    };
    if v.trim_start().parse::<i64>().ok() != Some(1) {
        return Err(FileError::NoVersion);
    }
    let mut out = HashMap::new();
    for (i, raw) in lines.enumerate() {
        // A last line without its newline is truncated (HAProxy needs the '\n').
        if !raw.ends_with('\n') {
            return Err(FileError::Corrupt(i + 1));
        }
        match parse_line(raw.trim_end_matches('\n')) {
            Parsed::Ignore => {}
            Parsed::Corrupt => return Err(FileError::Corrupt(i + 1)),
            Parsed::Data(l) => {
                out.entry((l.be_name.clone(), l.srv_name.clone()))
                    .or_insert(l);
            }
        }
    }
    Ok(out)
}

/// The validated fields of a line that Ravelin applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) op_state: u32,
    /// Admin flags without the inherited ones (recomputed, as HAProxy does).
    pub(crate) admin: u32,
    pub(crate) uweight: u32,
    pub(crate) iweight: u32,
    pub(crate) check_health: u32,
}

impl Record {
    /// Validates `params` (from `srv_addr` on) as `srv_state_srv_update()` does; the error is
    /// HAProxy's list of `, invalid <field> value '<v>'`.
    pub(crate) fn parse(params: &[String]) -> Result<Record, String> {
        let mut msg = String::new();
        let get = |i: usize| params.get(i).map_or("", String::as_str);
        let num = |i: usize| -> Option<i64> { strtol(get(i)) };
        let mut bad = |name: &str, i: usize| {
            msg.push_str(&format!(", invalid {name} value '{}'", get(i)));
        };
        let op_state = num(1)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v <= ST_STOPPING);
        if op_state.is_none() {
            bad("srv_op_state", 1);
        }
        let admin = num(2)
            .and_then(|v| u32::try_from(v).ok())
            .map(|a| a & !(IDRAIN | IMAINT | RMAINT | FQDN_CHANGED))
            .filter(|a| [0, FMAINT, CMAINT, CMAINT | FMAINT, CMAINT | FDRAIN, FDRAIN].contains(a));
        if admin.is_none() {
            bad("srv_admin_state", 2);
        }
        let weight = |i: usize| {
            num(i)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|w| *w <= MAX_WEIGHT)
        };
        let uweight = weight(3);
        if uweight.is_none() {
            bad("srv_uweight", 3);
        }
        let iweight = weight(4);
        if iweight.is_none() {
            bad("srv_iweight", 4);
        }
        if num(5).is_none() {
            bad("srv_last_time_change", 5);
        }
        if num(6)
            .and_then(|v| u32::try_from(v).ok())
            .is_none_or(|v| v >= CHECK_STATUS_SIZE)
        {
            bad("srv_check_status", 6);
        }
        if num(7).is_none_or(|v| !(0..=4).contains(&v)) {
            bad("srv_check_result", 7);
        }
        let health = num(8);
        if health.is_none() {
            bad("srv_check_health", 8);
        }
        for (name, i) in [("srv_check_state", 9), ("srv_agent_state", 10)] {
            if num(i)
                .and_then(|v| u32::try_from(v).ok())
                .is_none_or(|v| v & !CHK_ST_ALL != 0)
            {
                bad(name, i);
            }
        }
        for (name, i) in [("bk_f_forced_id", 11), ("srv_f_forced_id", 12)] {
            if !matches!(num(i), Some(0 | 1)) {
                bad(name, i);
            }
        }
        match (op_state, admin, uweight, iweight, health) {
            (Some(op_state), Some(admin), Some(uweight), Some(iweight), Some(h))
                if msg.is_empty() =>
            {
                Ok(Record {
                    op_state,
                    admin,
                    uweight,
                    iweight,
                    check_health: u32::try_from(h.max(0)).unwrap_or(u32::MAX),
                })
            }
            _ => Err(msg),
        }
    }
}

/// C's `strtol` as HAProxy uses it: leading blanks and digits; `None` when no digit.
fn strtol(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    let n: i64 = digits.get(..end)?.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// HAProxy's `srv_state_get_filepath()`: relative names go under `server-state-base`.
fn file_path(model: &Model, name: &str) -> PathBuf {
    match &model.global.server_state_base {
        Some(base) if !name.starts_with('/') => base.join(name),
        _ => PathBuf::from(name),
    }
}

fn load(path: &Path, who: &str) -> Result<HashMap<(String, String), Line>, String> {
    let text = std::fs::read(path).map_err(|e| {
        let reason = std::io::Error::from(e.kind()).to_string();
        let reason = e
            .raw_os_error()
            .map_or(reason, |c| std::io::Error::from_raw_os_error(c).to_string());
        let reason = reason
            .split(" (os error")
            .next()
            .unwrap_or_default()
            .to_string();
        if who.is_empty() {
            format!(
                "config: Can't open global server state file '{}': {reason}",
                path.display()
            )
        } else {
            format!(
                "Proxy '{who}': Can't open server state file '{}': {reason}.",
                path.display()
            )
        }
    })?;
    let text = String::from_utf8_lossy(&text);
    parse_file(&text).map_err(|e| match (e, who.is_empty()) {
        (FileError::NoVersion, true) => format!(
            "config: Can't get version of the global server state file '{}'.",
            path.display()
        ),
        (FileError::NoVersion, false) => format!(
            "Proxy '{who}': Can't get version of the server state file '{}'.",
            path.display()
        ),
        (FileError::Corrupt(n), true) => format!(
            "config: corrupted global server state file '{}' at line {n}.",
            path.display()
        ),
        (FileError::Corrupt(n), false) => format!(
            "Proxy '{who}': corrupted server state file '{}' at line {n}.",
            path.display()
        ),
    })
}

/// Reads the state files the model asks for and applies them to `shared`; returns the
/// warnings (HAProxy's texts, without the `[WARNING]` prefix). Called once, before the
/// reactors start.
pub fn apply(model: &Model, shared: &SharedState, now_ms: u64) -> Vec<String> {
    let mut warnings = Vec::new();
    let wants = |m: LoadServerState| {
        model
            .backends
            .iter()
            .any(|b| b.load_server_state == m && !b.servers.is_empty())
    };
    let global = match &model.global.server_state_file {
        Some(f) if wants(LoadServerState::Global) => {
            match load(&file_path(model, &f.to_string_lossy()), "") {
                Ok(t) => Some(t),
                Err(w) => {
                    warnings.push(w);
                    None
                }
            }
        }
        _ => None,
    };
    for (bi, be) in model.backends.iter().enumerate() {
        if be.servers.is_empty() {
            continue;
        }
        match be.load_server_state {
            LoadServerState::None => {}
            LoadServerState::Global => {
                if let Some(t) = &global {
                    apply_backend(be, bi, t, shared, now_ms, &mut warnings);
                }
            }
            LoadServerState::Local => {
                let name = be.server_state_file_name.as_deref().unwrap_or(&be.name);
                match load(&file_path(model, name), &be.name) {
                    Ok(t) => {
                        let t: HashMap<_, _> =
                            t.into_iter().filter(|((b, _), _)| *b == be.name).collect();
                        apply_backend(be, bi, &t, shared, now_ms, &mut warnings);
                        for (_, srv) in t.keys() {
                            if !be.servers.iter().any(|s| s.name == *srv) {
                                warnings.push(format!(
                                    "Proxy '{}': can't find server '{srv}' in backend '{}'",
                                    be.name, be.name
                                ));
                            }
                        }
                    }
                    Err(w) => warnings.push(w),
                }
            }
        }
    }
    warnings
}

fn apply_backend(
    be: &Backend,
    bi: usize,
    lines: &HashMap<(String, String), Line>,
    shared: &SharedState,
    now_ms: u64,
    warnings: &mut Vec<String>,
) {
    for (si, srv) in be.servers.iter().enumerate() {
        let Some(line) = lines.get(&(be.name.clone(), srv.name.clone())) else {
            continue;
        };
        let Some(st) = shared.server(
            crate::model::BackendId::from_index(bi),
            crate::model::ServerId::from_index(si),
        ) else {
            continue;
        };
        let rec = match Record::parse(&line.params) {
            Ok(r) => r,
            Err(msg) => {
                warnings.push(format!(
                    "server-state application failed for server '{}/{}'{msg}",
                    be.name, srv.name
                ));
                continue;
            }
        };
        let (rise, fall) = (srv.check.rise.max(1), srv.check.fall.max(1));
        let top = rise + fall - 1;
        // Operational state.
        let (up, nolb, health) = match rec.op_state {
            ST_STOPPED => (false, false, 0),
            ST_STARTING if rise == 1 => (true, false, top),
            ST_STARTING => {
                let h = rec.check_health;
                (true, false, if h < 1 || h >= rise { rise - 1 } else { h })
            }
            ST_STOPPING if fall == 1 => (false, false, 0),
            ST_STOPPING => {
                let h = if rec.check_health < rise || rec.check_health > top.saturating_sub(1) {
                    rise
                } else {
                    rec.check_health
                };
                (true, true, h)
            }
            ST_RUNNING => (true, false, top),
            _ => continue,
        };
        st.set_up(up, now_ms);
        st.set_nolb(nolb);
        st.check.health.store(health, Relaxed);
        st.check.restored.store(true, Relaxed);
        // Administrative state: a changed configuration wins, else the old running state.
        let cfg_cmaint = srv.disabled;
        let file_cmaint = rec.admin & CMAINT != 0;
        let file_fmaint = rec.admin & FMAINT != 0;
        let mut maint = st.admin() == Admin::Maint;
        if file_cmaint != cfg_cmaint {
            maint = cfg_cmaint;
        } else if file_fmaint && !cfg_cmaint {
            maint = true;
        } else if !file_fmaint && cfg_cmaint {
            maint = false;
        }
        let mut admin = if maint { Admin::Maint } else { Admin::Ready };
        // Drain kept unless it only came from a weight of 0 the new configuration raised.
        if !maint && rec.admin & FDRAIN != 0 && (rec.iweight > 0 || srv.weight == 0) {
            admin = Admin::Drain;
        }
        st.set_admin(admin, now_ms);
        // The runtime weight survives only if the configured one did not change.
        if rec.iweight == srv.weight {
            st.set_weight(rec.uweight);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

    fn line(be: &str, srv: &str, op: &str, admin: &str, uw: &str, iw: &str) -> String {
        format!(
            "3 {be} 1 {srv} 127.0.0.1 {op} {admin} {uw} {iw} 4 6 3 4 6 0 0 0 - 80 - 0 0 - - 0\n"
        )
    }

    #[test]
    fn parses_haproxys_output() {
        let text = format!(
            "1\n{HEADER}{}{}",
            line("be", "s1", "2", "1", "7", "10"),
            line("be", "s2", "0", "0", "1", "1")
        );
        let t = parse_file(&text).unwrap();
        assert_eq!(t.len(), 2);
        let l = &t[&("be".to_string(), "s1".to_string())];
        let r = Record::parse(&l.params).unwrap();
        assert_eq!((r.op_state, r.admin, r.uweight, r.iweight), (2, 1, 7, 10));
    }

    #[test]
    fn version_and_corruption() {
        assert_eq!(parse_file("").unwrap_err(), FileError::NoVersion);
        assert_eq!(parse_file("x\n").unwrap_err(), FileError::NoVersion);
        assert_eq!(parse_file("2\n").unwrap_err(), FileError::NoVersion);
        assert_eq!(parse_file("1").unwrap_err(), FileError::NoVersion);
        assert_eq!(
            parse_file("1\n3 be 1 s1 127.0.0.1 2 1\n").unwrap_err(),
            FileError::Corrupt(1)
        );
        let truncated = format!(
            "1\n{HEADER}{}",
            line("be", "s", "2", "0", "1", "1").trim_end()
        );
        assert_eq!(parse_file(&truncated).unwrap_err(), FileError::Corrupt(2));
        assert!(parse_file("1\n\n   \n# c\n").unwrap().is_empty());
    }

    #[test]
    fn invalid_values_are_haproxys_messages() {
        let l = parse_line(&line("be", "s", "9", "0", "300", "x")).into_data();
        let e = Record::parse(&l.params).unwrap_err();
        assert_eq!(
            e,
            ", invalid srv_op_state value '9', invalid srv_uweight value '300', invalid srv_iweight value 'x'"
        );
        // Inherited flags are ignored; a forced drain is kept.
        let l = parse_line(&line("be", "s", "2", "26", "1", "1")).into_data();
        assert_eq!(Record::parse(&l.params).unwrap().admin, FDRAIN);
    }

    #[test]
    fn hostile_input_never_panics() {
        for s in [
            "",
            " ",
            "\t#",
            "1 2 3",
            "- - - - - - - - - - - - - - - - - - - -",
            "\u{fffd} \u{0}",
        ] {
            if let Parsed::Data(l) = parse_line(s) {
                let _ = Record::parse(&l.params);
            }
        }
        let _ = parse_file("1\n\u{0}\n");
        assert_eq!(strtol("12abc"), Some(12));
        assert_eq!(strtol("abc"), None);
        assert_eq!(strtol("-3"), Some(-3));
    }

    impl Parsed {
        fn into_data(self) -> Line {
            match self {
                Parsed::Data(l) => l,
                other => panic!("not data: {other:?}"),
            }
        }
    }
}
