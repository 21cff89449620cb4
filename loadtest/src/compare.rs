//! `ravelin-load compare`: runs a scenario against Ravelin, HAProxy, nginx and directly
//! against the backend, alternating targets (A B C D A B C D ...) for several rounds, with
//! a fixed CPU plan, and hands the samples to `report`. This module owns process
//! orchestration: backends, proxies and load children are separate processes, each
//! started pinned through taskset, measured through `/proc`, and stopped by PID (also on
//! Ctrl-C, through `ProcSet`'s drop). A proxy that cannot start is "n/a", not a failure.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cli::CompareOpts;
use crate::proc::{self, Proc, ProcSet};
use crate::report::{self, Comparison, Sample};
use crate::scenario::{self, BackendSpec, Disrupt, Load, Scenario};
use crate::stats::RunReport;
use crate::sys::{self, Signal};

/// CPU for the proxy under test; load generator and backends share the other one.
const PROXY_CPU: usize = 1;
const LOAD_CPU: usize = 0;
const INSTALL_HINT: &str = "sudo apt-get update && sudo apt-get install -y haproxy nginx libnginx-mod-stream   (or: bash loadtest/setup.sh)";

/// The things a scenario is run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Ravelin,
    Haproxy,
    Nginx,
    Direct,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Ravelin => "ravelin",
            Target::Haproxy => "haproxy",
            Target::Nginx => "nginx",
            Target::Direct => "direct",
        }
    }
}

/// Paths and settings fixed for one `compare` invocation.
struct Env<'a> {
    opts: &'a CompareOpts,
    me: PathBuf,
    scenarios_dir: PathBuf,
    tmp: PathBuf,
    stop: &'a AtomicBool,
    haproxy: Option<PathBuf>,
    nginx: Option<PathBuf>,
    ravelin: Option<PathBuf>,
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn timestamp() -> String {
    // UTC yyyymmdd-hhmmss without a date crate (days-from-civil inverse, Howard Hinnant).
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Finds `loadtest/scenarios` from the current directory, else next to the crate sources.
fn scenarios_dir() -> PathBuf {
    let here = PathBuf::from("loadtest/scenarios");
    if here.is_dir() {
        return here.canonicalize().unwrap_or(here);
    }
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        return local.canonicalize().unwrap_or(local);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

pub fn run(opts: &CompareOpts, stop: &AtomicBool) -> Result<(), String> {
    let list: Vec<Scenario> = if opts.scenario == "all" {
        scenario::all()
    } else {
        vec![scenario::find(&opts.scenario).ok_or_else(|| {
            format!(
                "unknown scenario '{}' (see `ravelin-load list`)",
                opts.scenario
            )
        })?]
    };
    let haproxy = proc::which("haproxy");
    let nginx = proc::which("nginx");
    if haproxy.is_none() || nginx.is_none() {
        eprintln!(
            "ravelin-load: haproxy and/or nginx not installed; they will be n/a. Install with:\n  {INSTALL_HINT}"
        );
    }
    if proc::which("taskset").is_none() {
        eprintln!("ravelin-load: taskset not found (util-linux); processes will NOT be pinned");
    }
    let ravelin = if opts.ravelin.is_file() {
        opts.ravelin.canonicalize().ok()
    } else {
        None
    };
    let tmp = std::env::temp_dir().join(format!("ravelin-load-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let env = Env {
        opts,
        me: std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?,
        scenarios_dir: scenarios_dir(),
        tmp: tmp.clone(),
        stop,
        haproxy,
        nginx,
        ravelin,
    };
    let stamp = timestamp();
    let mut result = Ok(());
    for s in &list {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let out = match (&opts.out, list.len()) {
            (Some(o), 1) => o.clone(),
            (Some(o), _) => o.join(s.name),
            (None, _) => PathBuf::from("loadtest/results").join(format!("{stamp}-{}", s.name)),
        };
        if let Err(e) = run_scenario(&env, s, &out) {
            eprintln!("ravelin-load: scenario {}: {e}", s.name);
            result = Err(format!("scenario {} failed", s.name));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if stop.load(Ordering::Relaxed) {
        return Err("interrupted; every process started was stopped".into());
    }
    result
}

fn cpu_plan(nbthread: usize) -> String {
    if nbthread == 2 {
        format!(
            "proxy on CPUs {LOAD_CPU},{PROXY_CPU} (nbthread 2 / worker_processes 2), load generator + backends on CPU {LOAD_CPU}"
        )
    } else {
        format!(
            "proxy on CPU {PROXY_CPU} (nbthread 1 / worker_processes 1), load generator + backends on CPU {LOAD_CPU}"
        )
    }
}

fn run_scenario(env: &Env<'_>, s: &Scenario, out: &Path) -> Result<(), String> {
    let opts = env.opts;
    let mut targets = vec![Target::Ravelin, Target::Haproxy, Target::Nginx];
    if s.direct_addr().is_some() {
        targets.push(Target::Direct);
    }
    if !opts.only.is_empty() {
        targets.retain(|t| opts.only.iter().any(|o| o == t.name()));
    }
    let mut na: BTreeMap<String, String> = BTreeMap::new();
    let cfg_dir = env.scenarios_dir.join(s.name);
    let (hap_cfg, ngx_cfg) = configs(&cfg_dir, &env.tmp.join(s.name), opts.nbthread)?;
    for t in &targets {
        let missing = match t {
            Target::Ravelin if env.ravelin.is_none() => {
                Some(format!("{} not built", opts.ravelin.display()))
            }
            Target::Haproxy if env.haproxy.is_none() => {
                Some(format!("haproxy not installed: {INSTALL_HINT}"))
            }
            Target::Nginx if env.nginx.is_none() => {
                Some(format!("nginx not installed: {INSTALL_HINT}"))
            }
            _ => None,
        };
        if let Some(why) = missing {
            na.insert(t.name().into(), why);
        }
    }
    let run_time = s.run_time(opts.duration, opts.restart_at);
    println!(
        "== {} — {} ({} rounds, {:.0} s per run; {})",
        s.name,
        s.about,
        opts.rounds,
        run_time.as_secs_f64(),
        cpu_plan(opts.nbthread)
    );
    let work = env.tmp.join(s.name);
    let mut procs = ProcSet::default();
    let mut backend_idx = Vec::new();
    for b in &s.backends {
        backend_idx.push(start_backend(env, &mut procs, b, &work)?);
    }
    let mut samples = Vec::new();
    'rounds: for round in 1..=opts.rounds {
        for t in &targets {
            if env.stop.load(Ordering::Relaxed) {
                break 'rounds;
            }
            if na.contains_key(t.name()) {
                continue;
            }
            match run_one(
                env,
                s,
                *t,
                round,
                &hap_cfg,
                &ngx_cfg,
                &work,
                &mut procs,
                &mut backend_idx,
            ) {
                Ok(sample) => {
                    println!("  round {round} {:<8} {}", t.name(), one_line(&sample, s));
                    samples.push(sample);
                }
                Err(why) => {
                    println!("  round {round} {:<8} n/a: {why}", t.name());
                    na.insert(t.name().into(), why);
                }
            }
        }
    }
    procs.stop_all();
    let cmp = Comparison {
        scenario: s.name.into(),
        about: s.about.into(),
        metric: s.metric().label().into(),
        cpu_plan: cpu_plan(opts.nbthread),
        nbthread: opts.nbthread,
        rounds: opts.rounds,
        duration_s: run_time.as_secs_f64(),
        command: command_line(s.name, opts),
        targets: targets.iter().map(|t| t.name().to_string()).collect(),
        samples,
        na,
    };
    let md = report::write_all(out, &cmp, s.metric())?;
    println!("\n{md}\nresults in {}", out.display());
    Ok(())
}

fn command_line(name: &str, o: &CompareOpts) -> String {
    let mut c = format!(
        "ravelin-load compare --scenario {name} --rounds {} --duration {}s",
        o.rounds,
        o.duration.as_secs_f64()
    );
    if o.nbthread != 1 {
        c += &format!(" --nbthread {}", o.nbthread);
    }
    if o.kill_at != Duration::from_secs(5) || o.restart_at != Duration::from_secs(12) {
        c += &format!(
            " --kill-at {}s --restart-at {}s",
            o.kill_at.as_secs_f64(),
            o.restart_at.as_secs_f64()
        );
    }
    if !o.only.is_empty() {
        c += &format!(" --only {}", o.only.join(","));
    }
    c
}

fn one_line(s: &Sample, sc: &Scenario) -> String {
    let r = &s.report;
    let head = report::headline(s, sc.metric())
        .map_or("-".into(), |v| format!("{v:.2} {}", sc.metric().label()));
    let cpu = s
        .cpu_us_per_req
        .map_or(String::new(), |c| format!(", proxy {c:.1} µs CPU/req"));
    format!(
        "{head}, p99 {}, {} errors{cpu}",
        crate::stats::human_us(r.latency_us.p99),
        r.errors.total
    )
}

/// Config paths to use: the originals, or rewritten copies for `--nbthread 2`.
fn configs(dir: &Path, work: &Path, nbthread: usize) -> Result<(PathBuf, PathBuf), String> {
    let hap = dir.join("haproxy.cfg");
    let ngx = dir.join("nginx.conf");
    if !hap.is_file() || !ngx.is_file() {
        return Err(format!("missing {} or {}", hap.display(), ngx.display()));
    }
    std::fs::create_dir_all(work).map_err(|e| e.to_string())?;
    if nbthread == 1 {
        return Ok((hap, ngx));
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let hap_text: String = read(&hap)?
        .lines()
        .filter(|l| !l.trim_start().starts_with("cpu-map"))
        .map(|l| {
            if l.trim() == "nbthread 1" {
                format!("    nbthread {nbthread}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let ngx_text = read(&ngx)?.replace(
        "worker_processes 1;",
        &format!("worker_processes {nbthread};"),
    );
    let (h2, n2) = (work.join("haproxy.cfg"), work.join("nginx.conf"));
    std::fs::write(&h2, hap_text + "\n").map_err(|e| e.to_string())?;
    std::fs::write(&n2, ngx_text).map_err(|e| e.to_string())?;
    Ok((h2, n2))
}

fn start_backend(
    env: &Env<'_>,
    procs: &mut ProcSet,
    b: &BackendSpec,
    work: &Path,
) -> Result<usize, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], b.port()));
    if proc::port_open(addr) {
        return Err(format!(
            "port {} already in use; is another comparison running?",
            b.port()
        ));
    }
    let log = work.join(format!("backend-{}.log", b.name()));
    let p = proc::spawn(
        &format!("backend {}", b.name()),
        &proc::cpus(&[LOAD_CPU]),
        &env.me,
        &b.args(),
        &log,
    )
    .map_err(|e| format!("cannot start backend: {e}"))?;
    let i = procs.add(p);
    proc::wait_port(addr, Duration::from_secs(5), procs.get_mut(i), env.stop)?;
    Ok(i)
}

fn start_proxy(
    env: &Env<'_>,
    t: Target,
    hap: &Path,
    ngx: &Path,
    work: &Path,
    master_worker: bool,
) -> Result<Option<Proc>, String> {
    let cpus = if env.opts.nbthread == 2 {
        proc::cpus(&[LOAD_CPU, PROXY_CPU])
    } else {
        proc::cpus(&[PROXY_CPU])
    };
    let log = work.join(format!("{}.log", t.name()));
    let path_str = |p: &Path| p.to_string_lossy().into_owned();
    let (prog, args) = match t {
        Target::Direct => return Ok(None),
        // reload-under-load reloads Ravelin as its master-worker mode does (SIGUSR2).
        Target::Ravelin if master_worker => (
            env.ravelin.clone(),
            vec!["-W".to_string(), "-db".into(), "-f".into(), path_str(hap)],
        ),
        Target::Ravelin => (
            env.ravelin.clone(),
            vec!["-db".to_string(), "-f".into(), path_str(hap)],
        ),
        Target::Haproxy => (
            env.haproxy.clone(),
            vec!["-db".to_string(), "-f".into(), path_str(hap)],
        ),
        Target::Nginx => {
            let prefix = work.join("nginx");
            std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
            let abs = ngx.canonicalize().unwrap_or_else(|_| ngx.to_path_buf());
            (
                env.nginx.clone(),
                vec![
                    "-p".to_string(),
                    path_str(&prefix),
                    "-e".into(),
                    path_str(&prefix.join("error.log")),
                    "-c".into(),
                    path_str(&abs),
                    "-g".into(),
                    format!("daemon off; pid {};", path_str(&prefix.join("nginx.pid"))),
                ],
            )
        }
    };
    let prog = prog.ok_or("binary not found")?;
    proc::spawn(t.name(), &cpus, &prog, &args, &log)
        .map(Some)
        .map_err(|e| format!("cannot start {}: {e}", prog.display()))
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
fn run_one(
    env: &Env<'_>,
    s: &Scenario,
    t: Target,
    round: usize,
    hap: &Path,
    ngx: &Path,
    work: &Path,
    procs: &mut ProcSet,
    backends: &mut [usize],
) -> Result<Sample, String> {
    let target_addr = match t {
        Target::Direct => s.direct_addr().ok_or("no direct target")?,
        _ => s.proxy_addr(),
    };
    if t != Target::Direct && proc::port_open(s.proxy_addr()) {
        return Err(format!(
            "port {} busy before start (leftover process?)",
            s.port
        ));
    }
    let reloading = matches!(s.load, Load::Reload { .. });
    let proxy_idx = start_proxy(env, t, hap, ngx, work, reloading)?.map(|p| procs.add(p));
    let log = work.join(format!("{}.log", t.name()));
    let ready = proc::wait_port(
        target_addr,
        Duration::from_secs(5),
        proxy_idx.and_then(|i| procs.get_mut(i)),
        env.stop,
    );
    if let Err(e) = ready {
        if let Some(i) = proxy_idx {
            procs.stop(i);
        }
        let tail = proc::log_tail(&log, 3);
        return Err(if tail.is_empty() {
            e
        } else {
            format!("{e}: {tail}")
        });
    }
    // Health checks need a moment to mark servers up after start.
    if matches!(s.load, Load::Failover { .. }) {
        std::thread::sleep(Duration::from_millis(1000));
    }
    let proxy_pid = proxy_idx.and_then(|i| procs.get_mut(i)).map(|p| p.pid);
    if reloading {
        let result = measure_reload(env, s, t, round, target_addr, proxy_pid, hap, work, procs);
        if let Some(i) = proxy_idx {
            procs.stop(i);
        }
        return result;
    }
    let result = measure(
        env,
        s,
        t,
        round,
        target_addr,
        proxy_pid,
        work,
        procs,
        backends,
    );
    if let Some(i) = proxy_idx {
        procs.stop(i);
    }
    result
}

#[allow(clippy::too_many_arguments)] // see run_one
fn measure(
    env: &Env<'_>,
    s: &Scenario,
    t: Target,
    round: usize,
    target: SocketAddr,
    proxy_pid: Option<u32>,
    work: &Path,
    procs: &mut ProcSet,
    backends: &mut [usize],
) -> Result<Sample, String> {
    let run_time = s.run_time(env.opts.duration, env.opts.restart_at);
    let json = work.join(format!("load-{}-{round}.json", t.name()));
    let _ = std::fs::remove_file(&json);
    let mut args = s.load_args(target, run_time);
    args.extend(["--json".to_string(), json.to_string_lossy().into_owned()]);
    let ready_file = work.join(format!("ready-{}-{round}", t.name()));
    let _ = std::fs::remove_file(&ready_file);
    if matches!(s.load, Load::Hold { .. }) {
        args.extend([
            "--ready-file".to_string(),
            ready_file.to_string_lossy().into_owned(),
        ]);
    }
    let rss_before = proxy_pid.map(proc::tree_rss_kb);
    let cpu_before = proxy_pid.map(proc::tree_cpu_s);
    let log = work.join(format!("load-{}.log", t.name()));
    let p = proc::spawn("load", &proc::cpus(&[LOAD_CPU]), &env.me, &args, &log)
        .map_err(|e| format!("cannot start load: {e}"))?;
    let load_started_ms = unix_ms();
    let li = procs.add(p);
    let mut rss_after = None;
    let mut cpu_after = None;
    let mut events_ms = (0.0, 0.0);
    match s.load {
        Load::Hold { .. } => {
            let deadline = Instant::now() + Duration::from_secs(90);
            while !ready_file.exists() {
                if env.stop.load(Ordering::Relaxed)
                    || Instant::now() > deadline
                    || procs.get_mut(li).is_none_or(|p| p.exited().is_some())
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Let the proxy settle (lazy buffer release, accept backlog) before reading.
            std::thread::sleep(Duration::from_millis(500));
            rss_after = proxy_pid.map(proc::tree_rss_kb);
            cpu_after = proxy_pid.map(proc::tree_cpu_s);
            if let Some(p) = procs.get_mut(li) {
                let _ = p.signal(Signal::Int);
            }
        }
        Load::Failover { disrupt, .. } => {
            let victim = backends.first().copied().ok_or("no backend to disrupt")?;
            let spec = s.backends.first().copied().ok_or("no backend spec")?;
            sleep_until(load_started_ms, env.opts.kill_at, env.stop);
            events_ms.0 = unix_ms();
            if let Some(v) = procs.get_mut(victim) {
                let _ = v.signal(if disrupt == Disrupt::Kill {
                    Signal::Kill
                } else {
                    Signal::Stop
                });
                if disrupt == Disrupt::Kill {
                    v.wait(Duration::from_secs(2), env.stop);
                }
            }
            sleep_until(load_started_ms, env.opts.restart_at, env.stop);
            events_ms.1 = unix_ms();
            match disrupt {
                Disrupt::Kill => {
                    let idx = start_backend(env, procs, &spec, work)?;
                    if let Some(slot) = backends.first_mut() {
                        *slot = idx;
                    }
                }
                Disrupt::Hang => {
                    if let Some(v) = procs.get_mut(victim) {
                        let _ = v.signal(Signal::Cont);
                    }
                }
            }
        }
        Load::Http { .. }
        | Load::TcpBulk { .. }
        | Load::TcpConnRate { .. }
        | Load::Reload { .. } => {}
    }
    let finished = procs
        .get_mut(li)
        .is_some_and(|p| p.wait(run_time + Duration::from_secs(30), env.stop));
    if cpu_after.is_none() {
        cpu_after = proxy_pid.map(proc::tree_cpu_s);
    }
    procs.stop(li);
    if env.stop.load(Ordering::Relaxed) {
        return Err("interrupted".into());
    }
    if !finished {
        return Err("load generator did not finish in time".into());
    }
    let text = std::fs::read_to_string(&json)
        .map_err(|e| format!("no load result ({e}): {}", proc::log_tail(&log, 3)))?;
    let report: RunReport =
        serde_json::from_str(&text).map_err(|e| format!("bad load result: {e}"))?;
    let proxy_cpu_s = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let done = report.requests.max(1) as f64;
    let cpu_us_per_req = if matches!(s.load, Load::Hold { .. } | Load::TcpBulk { .. }) {
        None
    } else {
        proxy_cpu_s.map(|c| c * 1e6 / done)
    };
    let bytes_per_conn = match (rss_before, rss_after, report.held) {
        (Some(a), Some(b), Some(h)) if h > 0 => {
            Some((b.saturating_sub(a) * 1024) as f64 / h as f64)
        }
        _ => None,
    };
    let failover = match s.load {
        Load::Failover { .. } => {
            let base = report.started_unix_ms as f64;
            Some(report::failover_metrics(
                &report,
                events_ms.0 - base,
                events_ms.1 - base,
                s.backends.first().map_or("b1", |b| b.name()),
            ))
        }
        _ => None,
    };
    Ok(Sample {
        target: t.name().into(),
        round,
        report,
        proxy_cpu_s,
        cpu_us_per_req,
        rss_before_kb: rss_before.filter(|_| rss_after.is_some()),
        rss_after_kb: rss_after,
        bytes_per_conn,
        failover,
        reload: None,
    })
}

/// reload-under-load: both client groups run while the proxy is reloaded `reloads` times,
/// evenly spread. Ravelin: SIGUSR2 to its master (`-W`); HAProxy: a new process with
/// `-x <stats socket> -sf <old pid>`, as its manual's seamless reload; nginx: SIGHUP.
#[allow(clippy::too_many_arguments)] // see run_one
fn measure_reload(
    env: &Env<'_>,
    s: &Scenario,
    t: Target,
    round: usize,
    target: SocketAddr,
    proxy_pid: Option<u32>,
    hap: &Path,
    work: &Path,
    procs: &mut ProcSet,
) -> Result<Sample, String> {
    let Load::Reload { reloads, .. } = s.load else {
        return Err("not a reload scenario".into());
    };
    let reloads = env.opts.reloads.unwrap_or(reloads);
    let pid = proxy_pid.ok_or("no proxy to reload")?;
    let run_time = s.run_time(env.opts.duration, env.opts.restart_at);
    let mut groups = Vec::new();
    for (tag, close) in [("keepalive", false), ("close", true)] {
        let json = work.join(format!("load-{}-{round}-{tag}.json", t.name()));
        let _ = std::fs::remove_file(&json);
        let mut args = s.reload_group_args(target, run_time, close);
        args.extend(["--json".to_string(), json.to_string_lossy().into_owned()]);
        let log = work.join(format!("load-{}-{tag}.log", t.name()));
        let p = proc::spawn("load", &proc::cpus(&[LOAD_CPU]), &env.me, &args, &log)
            .map_err(|e| format!("cannot start load: {e}"))?;
        groups.push((procs.add(p), json, log));
    }
    let started = unix_ms();
    let cpus = if env.opts.nbthread == 2 {
        proc::cpus(&[LOAD_CPU, PROXY_CPU])
    } else {
        proc::cpus(&[PROXY_CPU])
    };
    // HAProxy: the newest process, replaced at every reload; the runner stops the last one.
    let mut current_pid = pid;
    let mut extra = Vec::new();
    let mut done = 0u32;
    let step = run_time.as_secs_f64() / f64::from(reloads + 1);
    for k in 1..=reloads {
        sleep_until(
            started,
            Duration::from_secs_f64(step * f64::from(k)),
            env.stop,
        );
        if env.stop.load(Ordering::Relaxed) {
            break;
        }
        let ok = match t {
            Target::Ravelin => sys::kill(pid, Signal::Usr2).is_ok(),
            Target::Nginx => sys::kill(pid, Signal::Hup).is_ok(),
            Target::Haproxy => {
                let prog = env.haproxy.clone().ok_or("haproxy not found")?;
                let args = vec![
                    "-db".to_string(),
                    "-f".into(),
                    hap.to_string_lossy().into_owned(),
                    "-x".into(),
                    scenario::RELOAD_STATS_SOCKET.into(),
                    "-sf".into(),
                    current_pid.to_string(),
                ];
                let log = work.join(format!("{}.log", t.name()));
                match proc::spawn(t.name(), &cpus, &prog, &args, &log) {
                    Ok(p) => {
                        current_pid = p.pid;
                        extra.push(procs.add(p));
                        true
                    }
                    Err(_) => false,
                }
            }
            Target::Direct => false,
        };
        done += u32::from(ok);
    }
    let mut reports = Vec::new();
    for (li, json, log) in &groups {
        let finished = procs
            .get_mut(*li)
            .is_some_and(|p| p.wait(run_time + Duration::from_secs(30), env.stop));
        procs.stop(*li);
        if !finished {
            return Err("load generator did not finish in time".into());
        }
        let text = std::fs::read_to_string(json)
            .map_err(|e| format!("no load result ({e}): {}", proc::log_tail(log, 3)))?;
        let report: RunReport =
            serde_json::from_str(&text).map_err(|e| format!("bad load result: {e}"))?;
        reports.push(report);
    }
    // Count only reloads that took: a HAProxy process that exited with an error did not
    // replace its predecessor; Ravelin's master logs each new worker that serves.
    for i in extra {
        if let Some(p) = procs.get_mut(i)
            && p.exited().is_some_and(|st| !st.contains("exit status: 0"))
        {
            done = done.saturating_sub(1);
        }
        procs.stop(i);
    }
    if t == Target::Ravelin {
        let log =
            std::fs::read_to_string(work.join(format!("{}.log", t.name()))).unwrap_or_default();
        let loaded = log.matches("Loading success.").count().saturating_sub(1);
        done = done.min(u32::try_from(loaded).unwrap_or(u32::MAX));
    }
    if env.stop.load(Ordering::Relaxed) {
        return Err("interrupted".into());
    }
    let mut it = reports.into_iter();
    let (Some(ka), Some(cl)) = (it.next(), it.next()) else {
        return Err("missing load result".into());
    };
    let reload = report::ReloadMetrics {
        reloads: done,
        keepalive: report::GroupCounts::from_report(&ka),
        close: report::GroupCounts::from_report(&cl),
    };
    Ok(Sample {
        target: t.name().into(),
        round,
        // Throughput and latency columns show the keep-alive group.
        report: ka,
        proxy_cpu_s: None,
        cpu_us_per_req: None,
        rss_before_kb: None,
        rss_after_kb: None,
        bytes_per_conn: None,
        failover: None,
        reload: Some(reload),
    })
}

/// Sleeps until `offset` after `base_ms` (Unix ms), waking early on interrupt.
fn sleep_until(base_ms: f64, offset: Duration, stop: &AtomicBool) {
    let target = base_ms + offset.as_secs_f64() * 1000.0;
    while unix_ms() < target && !stop.load(Ordering::Relaxed) {
        let left = (target - unix_ms()).clamp(0.0, 20.0);
        std::thread::sleep(Duration::from_secs_f64(left / 1000.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 15);
        assert_eq!(t.as_bytes().get(8), Some(&b'-'));
        assert!(t.starts_with("20"));
    }

    #[test]
    fn nbthread_rewrite() -> Result<(), String> {
        let dir = scenarios_dir().join("tcp-bulk");
        let work = std::env::temp_dir().join(format!("ravelin-load-cfg-{}", std::process::id()));
        let (h, n) = configs(&dir, &work, 2)?;
        let h = std::fs::read_to_string(h).map_err(|e| e.to_string())?;
        let n = std::fs::read_to_string(n).map_err(|e| e.to_string())?;
        assert!(h.contains("nbthread 2") && !h.contains("cpu-map"));
        assert!(n.contains("worker_processes 2;"));
        let _ = std::fs::remove_dir_all(&work);
        Ok(())
    }
}
