//! Mock backends on 127.0.0.1: each runs an accept thread and one thread per connection, and
//! stops (listener closed) when dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a backend does with each connection.
pub type Behaviour = Arc<dyn Fn(TcpStream) + Send + Sync>;

pub struct Backend {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    /// Connections open right now, and the most seen at once.
    pub active: Arc<AtomicUsize>,
    pub peak: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    pub fn start(behaviour: Behaviour) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (acc, act, pk, st) = (accepted.clone(), active.clone(), peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                acc.fetch_add(1, Ordering::SeqCst);
                let now = act.fetch_add(1, Ordering::SeqCst) + 1;
                pk.fetch_max(now, Ordering::SeqCst);
                let (b, act) = (behaviour.clone(), act.clone());
                std::thread::spawn(move || {
                    b(conn);
                    act.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Backend {
            addr,
            accepted,
            active,
            peak,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Echoes everything back; half-closes after the client's FIN.
    pub fn echo() -> Backend {
        Backend::start(Arc::new(|mut s: TcpStream| {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = s.shutdown(Shutdown::Write);
        }))
    }

    /// Writes `tag` then closes: tells the client which server it reached.
    pub fn tagged(tag: u8) -> Backend {
        Backend::start(Arc::new(move |mut s: TcpStream| {
            let _ = s.write_all(&[tag]);
            let _ = s.shutdown(Shutdown::Write);
            let mut sink = [0u8; 64];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read(&mut sink);
        }))
    }

    /// Holds the connection for `hold`, then writes `tag` and closes.
    pub fn slow(tag: u8, hold: Duration) -> Backend {
        Backend::start(Arc::new(move |mut s: TcpStream| {
            std::thread::sleep(hold);
            let _ = s.write_all(&[tag]);
            let _ = s.shutdown(Shutdown::Write);
        }))
    }

    /// Accepts and never sends anything; keeps the socket until the peer closes.
    pub fn silent() -> Backend {
        Backend::start(Arc::new(|mut s: TcpStream| {
            let mut buf = [0u8; 1024];
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }))
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
