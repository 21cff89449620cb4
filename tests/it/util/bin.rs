//! The real `ravelin` binary, for behaviour users see: CLI, exit codes, signals.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ravelin"))
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("ravelin-it-{}-{tag}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ravelin")
}

/// A running ravelin process, killed on drop (by its PID, which we started).
pub struct Running(pub Child);

impl Running {
    pub fn spawn(args: &[&str]) -> Running {
        Running::spawn_with_env(args, &[])
    }

    /// As `spawn`, with extra environment variables.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Running {
        let child = Command::new(exe())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ravelin");
        Running(child)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY-free: libc::kill on a pid we spawned and still own.
        let pid = self.0.id() as i32;
        #[allow(unsafe_code)]
        // SAFETY: kill(2) takes plain integers; `pid` is our own child, still unreaped.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Waits for exit up to `timeout`; returns the exit code.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<i32> {
        let end = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.0.try_wait() {
                return st.code();
            }
            if std::time::Instant::now() >= end {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Running {
    /// Starts collecting the process's stderr as it comes (a thread reads the pipe), for a
    /// test that waits for a message while the process runs.
    pub fn stderr_log(&mut self) -> StderrLog {
        let text = Arc::new(Mutex::new(String::new()));
        let pipe = self.0.stderr.take();
        let t = text.clone();
        let reader = std::thread::spawn(move || {
            let Some(mut pipe) = pipe else { return };
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                t.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        StderrLog {
            text,
            reader: Some(reader),
        }
    }
}

/// The stderr of a [`Running`] process, collected by a thread.
pub struct StderrLog {
    text: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl StderrLog {
    /// Waits until `needle` has been written `count` times or more, at most `timeout`; false
    /// when it was not.
    pub fn wait_for(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        super::wait_until(timeout, || {
            self.text.lock().unwrap().matches(needle).count() >= count
        })
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Everything written, once the process (and any child sharing its stderr) has closed it.
    pub fn finish(mut self) -> String {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.text.lock().unwrap().clone()
    }
}

/// One command on a runtime API socket (`stats socket`) of a running process; its answer, or
/// `None` when the socket does not answer (yet).
pub fn api(sock: &Path, cmd: &str) -> Option<String> {
    use std::io::Write;
    let mut c = std::os::unix::net::UnixStream::connect(sock).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    c.write_all(format!("{cmd}\n").as_bytes()).ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A field of `show info` (`CurrConns`, `CumReq`, ...) as a number, when the socket answers.
pub fn info_field(sock: &Path, name: &str) -> Option<u64> {
    let info = api(sock, "show info")?;
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .and_then(|v| v.trim().parse().ok())
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
