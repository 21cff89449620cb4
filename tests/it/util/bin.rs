//! The real `ravelin` binary, for behaviour users see: CLI, exit codes, signals.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

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
        let child = Command::new(exe())
            .args(args)
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

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
