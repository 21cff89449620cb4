//! Reactor threads ending, told to whoever waits for them (the process's supervisor,
//! `supervise::serve`) without that one polling: each reactor thread holds an [`ExitGuard`]
//! whose drop — the thread returning, or unwinding from a panic — counts the end and wakes the
//! registered `mio::Waker`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst, fence};
use std::sync::{Arc, OnceLock};

/// The reactor threads still running, and the waker to call when one ends.
#[derive(Debug, Default)]
pub(crate) struct ReactorExits {
    running: AtomicUsize,
    waker: OnceLock<Arc<mio::Waker>>,
}

impl ReactorExits {
    /// A guard for one reactor thread, taken before the thread is spawned and moved into it;
    /// the thread counts as running from here until the guard drops.
    pub(crate) fn guard(self: &Arc<Self>) -> ExitGuard {
        self.running.fetch_add(1, SeqCst);
        ExitGuard(self.clone())
    }

    /// From now on, `waker` is woken each time a reactor thread ends (set once; a later call
    /// is ignored). Check [`ReactorExits::running`] after setting it: a thread that ended
    /// before it could not wake it.
    pub(crate) fn notify(&self, waker: Arc<mio::Waker>) {
        let _ = self.waker.set(waker);
        // Pairs with the fence in `ExitGuard::drop`: either that thread sees the waker, or
        // the caller's next `running()` sees the thread gone.
        fence(SeqCst);
    }

    /// How many guarded threads have not ended yet (0: every reactor is done, and
    /// `Handle::join` returns at once).
    pub(crate) fn running(&self) -> usize {
        self.running.load(SeqCst)
    }
}

/// Held by a reactor thread; see [`ReactorExits::guard`].
#[derive(Debug)]
pub(crate) struct ExitGuard(Arc<ReactorExits>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, SeqCst);
        fence(SeqCst);
        if let Some(w) = self.0.waker.get() {
            // A failed wake only leaves the supervisor to its next wake-up.
            let _ = w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_and_wake() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(7)).unwrap());
        let exits = Arc::new(ReactorExits::default());
        let (a, b) = (exits.guard(), exits.guard());
        assert_eq!(exits.running(), 2);
        drop(a);
        exits.notify(waker);
        assert_eq!(exits.running(), 1);
        std::thread::spawn(move || drop(b)).join().unwrap();
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(std::time::Duration::from_secs(5)))
            .unwrap();
        assert!(events.iter().any(|e| e.token() == mio::Token(7)));
        assert_eq!(exits.running(), 0);
    }
}
