//! `option external-check`: the command runs off the reactor. Each reactor that owns external
//! checks has one helper thread (`Runner`), fed job by job through a crossbeam channel; the
//! helper spawns the command (`std::process::Command`, environment cleared then set as the
//! manual lists it), polls its children, kills one that outlives its deadline (`SIGKILL` to
//! that child's own PID, `Child::kill`) and reaps every child it started. Results go back
//! through a second channel, and the reactor's `mio::Waker` is woken
//! (`SharedState::wake_reactor`). When the reactor drops its `Runner`, the helper kills and
//! reaps whatever still runs and exits; the drop joins it, so no child outlives the proxy.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::model::{Backend, BindAddr, Mode, PortRule, Server, ServerAddr};
use crate::server::SharedState;

/// How often the helper looks at its running children while any runs.
const POLL: Duration = Duration::from_millis(5);

/// What never changes between two runs of a server's command: built once.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) command: std::path::PathBuf,
    /// `<proxy_address> <proxy_port> <server_address> <server_port>`.
    pub(crate) args: [String; 4],
    /// Every variable but `HAPROXY_SERVER_CURCONN`.
    pub(crate) env: Vec<(&'static str, String)>,
}

impl Spec {
    /// The command, arguments and environment of `srv`'s check (section 4.2
    /// `external-check command`; values compared with what haproxy 2.6 passes).
    pub(crate) fn new(be: &Backend, srv: &Server, ext: &crate::model::ExternalCheck) -> Spec {
        let (paddr, pport) = match &ext.bind {
            Some(BindAddr::Inet(a)) => (a.ip().to_string(), a.port().to_string()),
            Some(BindAddr::Unix(p)) => (p.display().to_string(), String::new()),
            Some(BindAddr::Fd(_)) | None => (String::new(), String::new()),
        };
        let (saddr, sport) = match &srv.addr {
            ServerAddr::Inet { ip, port } => (
                ip.to_string(),
                match (srv.check.port, port) {
                    (_, PortRule::Fixed(p)) => p.to_string(),
                    (Some(p), _) => p.to_string(),
                    (None, PortRule::Offset(_) | PortRule::Same) => String::new(),
                },
            ),
            ServerAddr::Unix(p) => (p.display().to_string(), String::new()),
        };
        let not_used = |s: &str| {
            if s.is_empty() {
                "NOT_USED".to_string()
            } else {
                s.to_string()
            }
        };
        let args = [
            not_used(&paddr),
            not_used(&pport),
            saddr.clone(),
            sport.clone(),
        ];
        let env = vec![
            ("HAPROXY_PROXY_ADDR", paddr),
            ("HAPROXY_PROXY_ID", ext.proxy_id.to_string()),
            ("HAPROXY_PROXY_NAME", be.name.clone()),
            ("HAPROXY_PROXY_PORT", pport),
            ("HAPROXY_SERVER_ADDR", saddr),
            ("HAPROXY_SERVER_ID", srv.id.to_string()),
            ("HAPROXY_SERVER_MAXCONN", srv.maxconn.to_string()),
            ("HAPROXY_SERVER_NAME", srv.name.clone()),
            ("HAPROXY_SERVER_PORT", sport),
            ("HAPROXY_SERVER_SSL", "0".to_string()),
            (
                "HAPROXY_SERVER_PROTO",
                match be.mode {
                    Mode::Tcp => "tcp".to_string(),
                    Mode::Http => "h1".to_string(),
                },
            ),
            ("PATH", ext.path.clone()),
        ];
        Spec {
            command: ext.command.clone(),
            args,
            env,
        }
    }
}

/// One run to start.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) spec: Arc<Spec>,
    /// The probe (`Checks` slot) and its generation, echoed back.
    pub(crate) slot: usize,
    pub(crate) generation: u32,
    pub(crate) curconn: u32,
    pub(crate) timeout: Duration,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The exit status (255 when the command could not be started, as HAProxy's child
    /// `exit(-1)`; 128 + N when a signal other than ours ended it).
    Exited(i32),
    /// Killed at the deadline.
    TimedOut,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Done {
    pub(crate) slot: usize,
    pub(crate) generation: u32,
    pub(crate) outcome: Outcome,
    pub(crate) duration: Duration,
}

/// A reactor's helper thread and its two channels.
#[derive(Debug)]
pub(crate) struct Runner {
    jobs: Option<Sender<Job>>,
    pub(crate) results: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
}

impl Runner {
    /// Starts the helper of reactor `reactor`.
    pub(crate) fn start(reactor: usize, shared: Arc<SharedState>) -> std::io::Result<Runner> {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
        let thread = std::thread::Builder::new()
            .name(format!("ravelin-extchk-{reactor}"))
            .spawn(move || helper(&jobs_rx, &done_tx, || shared.wake_reactor(reactor)))?;
        Ok(Runner {
            jobs: Some(jobs_tx),
            results: done_rx,
            thread: Some(thread),
        })
    }

    /// Hands a run to the helper; false when the helper is gone.
    pub(crate) fn submit(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Disconnecting the job channel tells the helper to kill, reap and exit.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Running {
    child: Child,
    slot: usize,
    generation: u32,
    started: Instant,
    deadline: Instant,
}

fn helper(jobs: &Receiver<Job>, done: &Sender<Done>, wake: impl Fn()) {
    let mut running: Vec<Running> = Vec::new();
    let pid = std::process::id();
    loop {
        let wait = if running.is_empty() {
            Duration::from_millis(200)
        } else {
            POLL
        };
        match jobs.recv_timeout(wait) {
            Ok(job) => {
                let started = Instant::now();
                let mut cmd = Command::new(&job.spec.command);
                cmd.args(&job.spec.args)
                    .env_clear()
                    .envs(job.spec.env.iter().map(|(k, v)| (k, v)))
                    .env("HAPROXY_SERVER_CURCONN", job.curconn.to_string())
                    .stdin(Stdio::null());
                match cmd.spawn() {
                    Ok(child) => running.push(Running {
                        child,
                        slot: job.slot,
                        generation: job.generation,
                        started,
                        deadline: started + job.timeout,
                    }),
                    Err(e) => {
                        let mut m = String::new();
                        super::set_err(&mut m, &e);
                        eprintln!(
                            "[ALERT]    ({pid}) : Failed to exec process for external health check: {m}. Aborting."
                        );
                        let _ = done.send(Done {
                            slot: job.slot,
                            generation: job.generation,
                            outcome: Outcome::Exited(255),
                            duration: started.elapsed(),
                        });
                        wake();
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                for mut r in running.drain(..) {
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                }
                return;
            }
        }
        let now = Instant::now();
        let mut i = 0;
        while let Some(r) = running.get_mut(i) {
            let outcome = match r.child.try_wait() {
                Ok(Some(st)) => Some(Outcome::Exited(exit_code(st))),
                Ok(None) if now >= r.deadline => {
                    // HAProxy 2.6 prints this before its kill().
                    eprintln!("[WARNING]  ({pid}) : kill {}", r.child.id());
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                    Some(Outcome::TimedOut)
                }
                Ok(None) => None,
                Err(_) => {
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                    Some(Outcome::Exited(255))
                }
            };
            match outcome {
                Some(outcome) => {
                    let r = running.swap_remove(i);
                    let _ = done.send(Done {
                        slot: r.slot,
                        generation: r.generation,
                        outcome,
                        duration: r.started.elapsed(),
                    });
                    wake();
                }
                None => i += 1,
            }
        }
    }
}

fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}
