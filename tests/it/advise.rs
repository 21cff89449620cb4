//! `ravelin -c --advise`: the failover advisor, through the real binary.

use crate::util::bin::{TempDir, run};

/// What users start from (docs/examples/failover-a.cfg): must be flagged.
const CONFIG_A: &str = include_str!("../../docs/examples/failover-a.cfg");
/// Tuned for failover (docs/examples/failover-b.cfg): must not be flagged.
const CONFIG_B: &str = include_str!("../../docs/examples/failover-b.cfg");

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn ravelin(args: &[&str]) -> Out {
    let out = run(args);
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `[ALERT]    (PID) : text` → `text`, so two runs can be compared.
fn without_pids(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(|l| l.split_once(") : ").map_or(l, |(_, t)| t).to_string())
        .collect()
}

#[test]
fn config_a_is_flagged_with_exit_status_2() {
    let d = TempDir::new("advise-a");
    let f = d.file("a.cfg", CONFIG_A);
    let o = ravelin(&["-c", "--advise", "-f", f.to_str().unwrap()]);
    assert_eq!(o.code, Some(2), "{}{}", o.stdout, o.stderr);
    let out = &o.stdout;
    assert!(out.starts_with("Configuration file is valid\n"), "{out}");
    assert!(
        out.contains("backend app (http, roundrobin, 3 servers, 3 checked)"),
        "{out}"
    );
    assert!(
        out.contains(
            "dead server (connection refused): out of rotation after at most 6.0s \
             (inter 2s + 2 × fastinter 2s), back after at most 6.0s (downinter 2s + 2 × fastinter 2s)"
        ),
        "{out}"
    );
    assert!(
        out.contains("hung server (accepts, never answers): never detected: connect-only check"),
        "{out}"
    );
    assert!(
        out.contains(
            "at 500 req/s: ~1000 requests sent to a dead server before it leaves rotation, \
             retried: no (retries 3 without option redispatch)"
        ),
        "{out}"
    );
    let risks: Vec<&str> = out.lines().filter(|l| l.contains("[RISK]")).collect();
    assert_eq!(risks.len(), 3, "{out}");
    for (line, start) in risks.iter().zip([
        "  [RISK] retries without 'option redispatch': a retry goes back to the same dead server",
        "  [RISK] connect-only check on an HTTP backend: a hung server passes it",
        "  [RISK] timeout server 30s >= client patience 5s: requests caught by a hung server fail at the client first",
    ]) {
        assert!(line.starts_with(start), "{line:?} should start with {start:?}");
    }
    assert!(out.ends_with("1 of 1 backends flagged (at 500 req/s, client patience 5s)\n"));
}

#[test]
fn config_b_is_not_flagged_and_fails_over_in_about_a_second() {
    let d = TempDir::new("advise-b");
    let f = d.file("b.cfg", CONFIG_B);
    let o = ravelin(&["-c", "--advise", "-f", f.to_str().unwrap()]);
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    let out = &o.stdout;
    assert!(!out.contains("[RISK]"), "{out}");
    for needle in [
        "dead server (connection refused): out of rotation after at most 1.1s (inter 1s + 1 × fastinter 100ms), \
         back after at most 1.2s (downinter 1s + 2 × fastinter 100ms)",
        "hung server (accepts, never answers): out of rotation after at most 1.7s",
        "~183 requests sent to a dead server before it leaves rotation, retried: yes",
        "~283 requests sent to a hung server before it leaves rotation, retried: yes",
        "  no risk found\n",
        "no backend flagged (at 500 req/s, client patience 5s)\n",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn rate_and_patience_change_the_advice() {
    let d = TempDir::new("advise-rate");
    let f = d.file("b.cfg", CONFIG_B);
    let f = f.to_str().unwrap();
    let o = ravelin(&[
        "-c",
        "--advise",
        "--rate",
        "1000",
        "--patience",
        "800ms",
        "-f",
        f,
    ]);
    // timeout server 1s is now past the client's patience.
    assert_eq!(o.code, Some(2), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("at 1000 req/s: ~367 requests sent to a dead server"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("[RISK] timeout server 1s >= client patience 800ms"),
        "{}",
        o.stdout
    );
    for bad in [
        ["--rate", "0"],
        ["--rate", "fast"],
        ["--patience", "5x"],
        ["--patience", "0"],
    ] {
        let o = ravelin(&["-c", "--advise", bad[0], bad[1], "-f", f]);
        assert_eq!(o.code, Some(1), "{bad:?}: {}", o.stderr);
        assert!(o.stderr.contains(bad[0]), "{bad:?}: {}", o.stderr);
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn plain_check_mode_is_unchanged() {
    let d = TempDir::new("advise-plain");
    for (name, cfg) in [("a.cfg", CONFIG_A), ("b.cfg", CONFIG_B)] {
        let f = d.file(name, cfg);
        let o = ravelin(&["-c", "-f", f.to_str().unwrap()]);
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        assert_eq!(o.stdout, "Configuration file is valid\n");
        assert!(o.stderr.is_empty(), "{}", o.stderr);
    }
}

#[test]
fn advise_needs_check_mode() {
    let d = TempDir::new("advise-noc");
    let f = d.file("a.cfg", CONFIG_A);
    let f = f.to_str().unwrap();
    let o = ravelin(&["--advise", "-f", f]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("[ALERT]")
            && o.stderr
                .contains("'--advise' only works in check mode: use '-c --advise -f <cfgfile>'"),
        "{}",
        o.stderr
    );
    assert!(o.stdout.is_empty());
    let o = ravelin(&["-c", "--rate", "100", "-f", f]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr
            .contains("'--rate' and '--patience' only apply to '-c --advise'"),
        "{}",
        o.stderr
    );
}

#[test]
fn invalid_config_gives_the_check_mode_alerts_and_exit_1() {
    let d = TempDir::new("advise-bad");
    let f = d.file("bad.cfg", &CONFIG_A.replace("retries 3", "retries three"));
    let f = f.to_str().unwrap();
    let check = ravelin(&["-c", "-f", f]);
    let advise = ravelin(&["-c", "--advise", "-f", f]);
    assert_eq!(check.code, Some(1));
    assert_eq!(advise.code, Some(1));
    assert!(advise.stdout.is_empty(), "{}", advise.stdout);
    assert!(check.stderr.contains("[ALERT]"), "{}", check.stderr);
    assert_eq!(without_pids(&advise.stderr), without_pids(&check.stderr));
}
